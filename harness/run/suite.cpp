#include "run/suite.h"

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "binary/binary_info.h"
#include "kernel/caps.h"
#include "run/plan.h"
#include "vm/vm.h"

namespace bpfault::run {
namespace fs = std::filesystem;
namespace {

constexpr double kVmTimeoutScale = 10;  // TCG runs exec, page faults and GC 13-20x slower

struct Entry {
  fs::path file;
  std::optional<scenario::Scenario> scenario;  // absent: the record already says why
  bool in_vm = false;
  size_t occurrence = 0;  // which of the command line's files this run comes from
};

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos <= list.size();) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    if (comma > pos) out.push_back(list.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

// The runs of one scenario the options ask for: per toolchain (--go a,b) and per build it
// declares (--variants), each named after what it varies.
std::vector<scenario::Scenario> expand_runs(const scenario::Scenario& s, const SuiteOptions& o) {
  std::vector<std::string> variants;
  if (o.variants.empty()) variants = {s.target.variants.front()};
  else if (o.variants == "all") variants = s.target.variants;
  else
    for (const auto& v : split(o.variants))
      if (std::find(s.target.variants.begin(), s.target.variants.end(), v) != s.target.variants.end()) variants.push_back(v);
  const bool fixture = !s.target.fixture.empty();
  std::vector<std::string> toolchains = fixture && !o.go_each.empty() ? o.go_each : std::vector<std::string>{""};
  if (!fixture) variants = {s.target.variants.front()};
  std::vector<scenario::Scenario> out;
  for (const auto& go : toolchains)
    for (const auto& v : variants) {
      scenario::Scenario copy = s;
      std::vector<std::string> tags;
      if (!go.empty()) copy.target.go = go, tags.push_back("go" + go);
      if (!o.variants.empty() && fixture) scenario::apply_variant(copy.target, v), tags.push_back(v);
      if (!tags.empty()) copy.name += fmt::format(" [{}]", fmt::join(tags, ", "));
      out.push_back(std::move(copy));
    }
  return out;
}

// Does this scenario need something the host kernel refuses? Preparation errors (a missing
// fixture, an unknown function) are left for execute() to report.
bool needs_vm(const scenario::Scenario& s, const Options& o) {
  auto target = resolve_target(s, o);
  if (!target) return false;
  auto info = binary::analyse(target->binary);
  if (!info) return false;
  auto plan = make_plan(s, *info);
  return plan && missing_capability(*plan, kernel::capabilities()).has_value();
}

void run_native(std::vector<Entry>& entries, std::vector<RunRecord>& records, const SuiteOptions& o,
                const std::function<void(const RunRecord&)>& on_done) {
  std::vector<size_t> todo;
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].scenario && !entries[i].in_vm) todo.push_back(i);
  std::atomic<size_t> next{0};
  std::mutex report;
  auto worker = [&] {
    for (size_t k; (k = next++) < todo.size();) {
      size_t i = todo[k];
      records[i] = execute(*entries[i].scenario, o.run);
      std::lock_guard lock(report);
      on_done(records[i]);
    }
  };
  std::vector<std::thread> threads;
  for (int j = 1; j < o.jobs && static_cast<size_t>(j) < todo.size(); ++j) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
}

// One boot for every VM scenario: the fixtures are built here and packed at the same paths,
// the guest runs `bpfault run --stream` over the scenario files and prints one record per line.
int run_in_vm(std::vector<Entry>& entries, std::vector<RunRecord>& records, const SuiteOptions& o,
              const std::function<void(const RunRecord&)>& on_done, const std::function<void(const std::string&)>& on_note) {
  std::vector<size_t> todo;
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].scenario && entries[i].in_vm) todo.push_back(i);
  if (todo.empty()) return 0;
  auto vm_error = [&](size_t i, Error e) {
    records[i] = load_error_record(entries[i].file, e);
    records[i].name = entries[i].scenario->name;
    records[i].where = "vm";
    on_done(records[i]);
  };
  auto kernel = vm::find_kernel(o.kernel);
  if (!kernel) {
    for (size_t i : todo) vm_error(i, kernel.error());
    return 0;
  }
  std::vector<vm::File> files;
  std::vector<std::string> argv = {"bpfault", "run", "--vm=never", "--stream", fmt::format("--timeout-scale={}", kVmTimeoutScale)};
  if (!o.run.go.empty()) argv.push_back("--go=" + o.run.go);
  if (!o.go_each.empty()) argv.push_back(fmt::format("--go={}", fmt::join(o.go_each, ",")));
  if (!o.variants.empty()) argv.push_back("--variants=" + o.variants);
  if (!o.run.user.empty()) argv.push_back("--user=" + o.run.user);
  if (o.jobs > 1) argv.push_back(fmt::format("--jobs={}", o.jobs));  // the guest runs its scenarios side by side too
  std::map<std::string, fs::path> prebuilt;
  std::vector<size_t> sent;
  for (size_t i : todo) {
    auto target = resolve_target(*entries[i].scenario, o.run);
    if (!target) {
      vm_error(i, target.error());
      continue;
    }
    if (!target->key.empty() && prebuilt.emplace(target->key, target->binary).second)
      argv.push_back(fmt::format("--prebuilt={}={}", target->key, target->binary.string()));
    for (const fs::path& f : {target->binary, fs::absolute(entries[i].file)})
      if (std::none_of(files.begin(), files.end(), [&](const vm::File& x) { return x.host == f; })) files.push_back({f, f.string()});
    sent.push_back(i);
  }
  if (sent.empty()) return 0;
  argv.push_back("--");  // the files: not more values of a repeated option
  std::set<size_t> occurrences;  // one file may stand for several runs: the guest expands it the same way
  for (size_t i : sent)
    if (occurrences.insert(entries[i].occurrence).second) argv.push_back(fs::absolute(entries[i].file).string());

  on_note(fmt::format("booting {} ({}) for {} scenario{}", kernel->name, kernel->release, sent.size(), sent.size() == 1 ? "" : "s"));
  // file and name -> the runs it stands for, in order (a file given twice is run twice)
  std::map<std::string, std::vector<size_t>> by_file;
  for (size_t i : sent) by_file[fs::absolute(entries[i].file).string() + "\n" + entries[i].scenario->name].push_back(i);
  std::vector<bool> got(entries.size(), false);
  vm::Options vo;
  vo.verbose = o.verbose;
  vo.on_retry = [&](std::string_view why) { on_note(fmt::format("the VM died ({}); booting it once more", why)); };
  auto outcome = vm::run(*kernel, files, argv, [&](std::string_view line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    auto rec = j.is_object() && j.contains("file") ? record_from_json(j) : tl::unexpected(Error{});
    if (!rec) {  // not a record: the guest says something, pass it on
      on_note(fmt::format("vm: {}", line));
      return;
    }
    auto it = by_file.find(rec->file + "\n" + rec->name);
    if (it == by_file.end()) return;
    auto slot = std::find_if(it->second.begin(), it->second.end(), [&](size_t i) { return !got[i]; });
    if (slot == it->second.end()) return;  // a retried boot repeats what was already reported
    rec->where = "vm";
    got[*slot] = true;
    records[*slot] = std::move(*rec);
    on_done(records[*slot]);
  }, vo);
  if (!outcome) {
    for (size_t i : sent)
      if (!got[i]) vm_error(i, outcome.error());
    return 0;
  }
  if (outcome->status == vm::Outcome::Status::completed) {
    for (size_t i : sent)
      if (!got[i]) vm_error(i, Error{ErrorKind::internal, "", "the VM finished without reporting this scenario", outcome->console_tail, {}});
    return 0;
  }
  for (size_t i : sent)
    if (!got[i])
      vm_error(i, Error{ErrorKind::environment, fmt::format("vm {}", kernel->release),
                        fmt::format("the VM {} before this scenario finished", vm::status_name(outcome->status)),
                        "the console's last lines:\n" + outcome->console_tail, {}});
  return vm::exit_code(*outcome);
}

}  // namespace

RunRecord load_error_record(const fs::path& file, const Error& e) {
  RunRecord r;
  r.file = file.string();
  r.name = file.stem().string();
  r.status = e.kind == ErrorKind::unsupported ? Status::skipped : Status::error;
  r.error = e;
  return r;
}

SuiteResult run_suite(const std::vector<fs::path>& files, const SuiteOptions& o, const std::function<void(const RunRecord&)>& on_done,
                      const std::function<void(const std::string&)>& on_note) {
  SuiteResult result;
  std::vector<Entry> entries;
  for (size_t occurrence = 0; occurrence < files.size(); ++occurrence) {
    const fs::path& file = files[occurrence];
    auto s = scenario::load(file);
    if (!s) {
      entries.push_back({file, std::nullopt, false});
      result.records.push_back(load_error_record(file, s.error()));
      on_done(result.records.back());
      continue;
    }
    for (auto& run : expand_runs(*s, o)) {
      Entry e{file, std::move(run), false, occurrence};
      e.in_vm = o.vm == VmMode::always || (o.vm == VmMode::auto_ && needs_vm(*e.scenario, o.run));
      entries.push_back(std::move(e));
      result.records.emplace_back();
    }
  }
  run_native(entries, result.records, o, on_done);
  result.vm_exit = run_in_vm(entries, result.records, o, on_done, on_note);
  return result;
}

}  // namespace bpfault::run
