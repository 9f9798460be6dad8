#include "run/suite.h"

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
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
};

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
    files.push_back({target->binary, target->binary.string()});
    files.push_back({fs::absolute(entries[i].file), fs::absolute(entries[i].file).string()});
    sent.push_back(i);
  }
  if (sent.empty()) return 0;
  argv.push_back("--");  // the files: not more values of a repeated option
  for (size_t i : sent) argv.push_back(fs::absolute(entries[i].file).string());

  on_note(fmt::format("booting {} ({}) for {} scenario{}", kernel->name, kernel->release, sent.size(), sent.size() == 1 ? "" : "s"));
  std::map<std::string, size_t> by_file;
  for (size_t i : sent) by_file[fs::absolute(entries[i].file).string()] = i;
  std::vector<bool> got(entries.size(), false);
  vm::Options vo;
  vo.verbose = o.verbose;
  vo.on_retry = [&](std::string_view why) { on_note(fmt::format("the VM died ({}); booting it once more", why)); };
  auto outcome = vm::run(*kernel, files, argv, [&](std::string_view line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("file")) return;  // not a record: ignore
    auto rec = record_from_json(j);
    if (!rec) return;
    auto it = by_file.find(rec->file);
    if (it == by_file.end() || got[it->second]) return;  // a retried boot repeats what was already reported
    rec->where = "vm";
    got[it->second] = true;
    records[it->second] = std::move(*rec);
    on_done(records[it->second]);
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
  result.records.resize(files.size());
  std::vector<Entry> entries;
  for (size_t i = 0; i < files.size(); ++i) {
    Entry e{files[i], std::nullopt, false};
    auto s = scenario::load(files[i]);
    if (!s) {
      result.records[i] = load_error_record(files[i], s.error());
      on_done(result.records[i]);
    } else {
      e.scenario = std::move(*s);
      e.in_vm = o.vm == VmMode::always || (o.vm == VmMode::auto_ && needs_vm(*e.scenario, o.run));
    }
    entries.push_back(std::move(e));
  }
  run_native(entries, result.records, o, on_done);
  result.vm_exit = run_in_vm(entries, result.records, o, on_done, on_note);
  return result;
}

}  // namespace bpfault::run
