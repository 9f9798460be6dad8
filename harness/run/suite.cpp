#include "run/suite.h"

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "kernel/caps.h"
#include "plan/plan.h"
#include "process/interrupt.h"
#include "run/stdlib_signatures.h"
#include "vm/vm.h"

namespace bpfault::run {
namespace fs = std::filesystem;

using record::RunRecord;
using record::Status;

namespace {

constexpr double kVmTimeoutScale = 10;  // TCG runs exec, page faults and GC 13-20x slower

struct Entry {
  fs::path file;
  std::optional<scenario::Scenario> scenario;  // absent: the record already says why
  // Prepared on the host unless the whole suite goes to the VM (the guest prepares its own).
  std::optional<Preparation> prepared;
  bool in_vm = false;
  size_t occurrence = 0;  // which of the command line's files this run comes from
  bool started = false;   // it was running (natively or in the VM) when the suite stopped
};

// Whether another run may start: not after the first run that failed or erred (--fail-fast),
// nor once --start-within has passed. Shared by the worker threads and the VM's reader.
struct StartGate {
  bool fail_fast = false;
  std::optional<std::chrono::steady_clock::time_point> start_before;
  std::string start_within_text;  // "5m", as given
  std::mutex m;
  std::string first;  // the first failed run's name; empty while none has

  void saw(const RunRecord& r) {
    if (!fail_fast || (r.status != Status::failed && r.status != Status::error)) return;
    std::lock_guard lock(m);
    if (first.empty()) first = r.name;
  }
  bool closed() {
    if (start_before && std::chrono::steady_clock::now() >= *start_before) return true;
    if (!fail_fast) return false;
    std::lock_guard lock(m);
    return !first.empty();
  }
  // A run that did not start (closed() was true): skipped, saying why (RunRecord::not_started).
  void refuse(RunRecord& r) {
    {
      std::lock_guard lock(m);
      if (!first.empty()) {
        r.error->what = fmt::format("not run: --fail-fast, after \"{}\" failed", first);
        r.not_started = "fail_fast";
        return;
      }
    }
    r.error->what = fmt::format("not run: --start-within {} had passed", start_within_text);
    r.not_started = "start_within";
  }
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
  if (o.variants.empty())
    variants = {s.target.variants.front()};
  else if (o.variants == "all")
    variants = s.target.variants;
  else
    for (const auto& v : split(o.variants))
      if (std::find(s.target.variants.begin(), s.target.variants.end(), v) != s.target.variants.end())
        variants.push_back(v);
  const bool builds = s.target.builds();  // a fixture, build or test: bpfault builds it
  std::vector<std::string> toolchains = builds && !o.go_each.empty() ? o.go_each : std::vector<std::string>{""};
  if (!builds) variants = {s.target.variants.front()};
  std::vector<scenario::Scenario> out;
  for (const auto& go : toolchains)
    for (const auto& v : variants) {
      scenario::Scenario copy = s;
      // Emulation slows every call as it slows the whole run: upper latency limits scale like
      // timeouts (a lower one still holds).
      for (auto& ev : copy.expect.events)
        for (auto& [key, limit] : ev.latency)
          if (key != "min_us") limit *= o.run.timeout_scale;
      std::vector<std::string> tags;
      if (!go.empty()) copy.target.go = go, tags.push_back("go" + go);
      if (!o.variants.empty() && builds) scenario::apply_variant(copy.target, v), tags.push_back(v);
      if (!tags.empty()) copy.name += fmt::format(" [{}]", fmt::join(tags, ", "));
      out.push_back(std::move(copy));
    }
  return out;
}

// Does this scenario need something the host kernel refuses? Preparation errors (a missing
// fixture, an unknown function) are left for execute() to report.
bool needs_vm(const Preparation& prepared) {
  return prepared && missing_capability(prepared->plan, kernel::capabilities()).has_value();
}

void run_native(std::vector<Entry>& entries, std::vector<RunRecord>& records, const SuiteOptions& o, StartGate& gate,
                const std::function<void(const RunRecord&)>& on_done) {
  std::vector<size_t> todo;
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].scenario && !entries[i].in_vm && entries[i].prepared) todo.push_back(i);
  std::atomic<size_t> next{0};
  std::mutex report;
  auto worker = [&] {
    for (size_t k; !process::interrupted() && !gate.closed() && (k = next++) < todo.size();) {
      size_t i = todo[k];
      entries[i].started = true;
      RunRecord r = execute(*entries[i].scenario, *entries[i].prepared, o.run);
      // its tracee was stopped: not a result (run_suite says so); but an attachment ends there
      if (process::interrupted() && !entries[i].scenario->target.attaches()) return;
      records[i] = std::move(r);
      gate.saw(records[i]);
      std::lock_guard lock(report);
      on_done(records[i]);
    }
  };
  std::vector<std::thread> threads;
  for (int j = 1; j < o.jobs && static_cast<size_t>(j) < todo.size(); ++j) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
}

// The VM's boot, started as soon as the suite has a scenario for it: the guest boots while the
// other scenarios are built and prepared and the native ones run (its /init waits for its files).
struct VmBoot {
  Result<vm::Kernel> kernel;
  Result<vm::Boot> boot = fail(ErrorKind::internal, "vm", "not started");
};

void start_vm(std::optional<VmBoot>& vm_boot, const SuiteOptions& o, std::vector<std::string>& notes,
              const std::function<void(const std::string&)>& on_note) {
  if (vm_boot) return;
  vm_boot.emplace(VmBoot{vm::find_kernel(o.kernel)});
  if (!vm_boot->kernel) return;
  vm::Options vo;
  vo.verbose = o.verbose;
  vo.accel = o.vm_accel;
  vo.on_retry = [&notes, &on_note](std::string_view why) {
    notes.push_back(fmt::format("the VM failed to boot ({}): booted it once more, before any scenario ran", why));
    on_note(notes.back());
  };
  vm_boot->boot = vm::Boot::start(*vm_boot->kernel, vo);
}

// One boot for every VM scenario: the fixtures are built here and packed at the same paths,
// the guest runs `bpfault run --stream` over the scenario files and prints one record per line.
std::optional<vm::Outcome::Status> run_in_vm(std::vector<Entry>& entries, std::vector<RunRecord>& records,
                                             std::vector<std::string>& notes, const SuiteOptions& o, StartGate& gate,
                                             std::optional<VmBoot>& vm_boot,
                                             const std::function<void(const RunRecord&)>& on_done,
                                             const std::function<void(const std::string&)>& on_note) {
  std::vector<size_t> todo;
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].scenario && entries[i].in_vm) todo.push_back(i);
  if (todo.empty() || process::interrupted() || gate.closed()) return std::nullopt;
  auto vm_error = [&](size_t i, const Error& e) {
    records[i] = load_error_record(entries[i].file, e);
    records[i].name = entries[i].scenario->name;
    records[i].where = "vm";
    on_done(records[i]);
  };
  start_vm(vm_boot, o, notes, on_note);  // if no scenario started it before
  const auto& kernel = vm_boot->kernel;
  if (!kernel) {
    for (size_t i : todo) vm_error(i, kernel.error());
    return std::nullopt;
  }
  std::vector<vm::File> files;
  std::vector<std::string> argv = {"bpfault", "run", "--vm=never", "--stream",
                                   fmt::format("--timeout-scale={}", kVmTimeoutScale)};
  if (!o.run.go.empty()) argv.push_back("--go=" + o.run.go);
  if (!o.go_each.empty()) argv.push_back(fmt::format("--go={}", fmt::join(o.go_each, ",")));
  if (!o.variants.empty()) argv.push_back("--variants=" + o.variants);
  if (!o.run.user.empty()) argv.push_back("--user=" + o.run.user);
  if (o.run.seed) argv.push_back(fmt::format("--seed={}", o.run.seed));
  if (o.count > 1) argv.push_back(fmt::format("--count={}", o.count));  // the guest names the repeats alike
  if (o.fail_fast) argv.push_back("--fail-fast");
  if (o.jobs > 1) argv.push_back(fmt::format("--jobs={}", o.jobs));  // the guest runs its scenarios side by side too
  std::map<std::string, fs::path> prebuilt;
  std::vector<size_t> sent;
  auto send_file = [&](const fs::path& f) {
    if (std::none_of(files.begin(), files.end(), [&](const vm::File& x) { return x.host == f; }))
      files.push_back({f, f.string()});
  };
  // A binary's analysis, made here (natively: 20-30x faster than under TCG, where it was most
  // of a scenario's time) and kept on disk, goes where the guest's bpfault, the same build, finds
  // it in its cache (<cache>/analysis, cli/main.cpp). Not when analyses are not kept here.
  auto send_analyses = [&](const fs::path& binary) {
    if (!binary::analyse(binary)) return;  // the guest says why
    for (const fs::path& kept : binary::kept_analyses(binary))
      if (std::none_of(files.begin(), files.end(), [&](const vm::File& x) { return x.host == kept; }))
        files.push_back({kept, (fs::path(vm::kGuestCacheRoot) / "analysis" / kept.filename()).string()});
  };
  // A scenario's program and what the guest needs to run it as prepared here (`prepared`, when
  // it was): the guest builds nothing.
  std::function<Result<void>(const scenario::Scenario&, const Prepared*)> send =
      [&](const scenario::Scenario& sc, const Prepared* prepared) -> Result<void> {
    auto target = prepared ? Result<target::ResolvedTarget>(prepared->target) : target::resolve(sc, o.run);
    if (!target) return tl::unexpected(target.error());
    // A build it will want without inlining (a probed function is inlined everywhere) goes with
    // the build it resolves first.
    std::vector<target::ResolvedTarget> builds = {*target};
    std::vector<std::string> pkgs;
    if (prepared)
      pkgs = prepared->no_inline;  // and target is already the rebuild
    else if (sc.target.builds())
      if (auto info = binary::analyse(target->binary)) pkgs = packages_to_build_without_inlining(sc, **info);
    if (!pkgs.empty()) {
      builds.clear();
      for (const auto& want : {std::vector<std::string>{}, pkgs})
        if (auto t = target::resolve(sc, o.run, want)) builds.push_back(*t);
    }
    for (const auto& t : builds) {
      if (!t.key.empty() && prebuilt.emplace(t.key, t.binary).second)
        argv.push_back(fmt::format("--prebuilt={}={}", t.key, t.binary.string()));
      send_file(t.binary);
      send_analyses(t.binary);
    }
    // and the program that gave a stripped binary its standard-library signatures (found here
    // as prepare() finds it when nothing was prepared on the host: --vm=always)
    std::optional<StdlibDonor> donor;
    if (prepared)
      donor = prepared->stdlib_donor;
    else if (auto info = binary::analyse(builds.back().binary);
             info && !(*info)->has_dwarf && !plan::make_plan(sc, *info))
      donor = add_stdlib_signatures(*info, o.run).donor;
    if (const auto& d = donor) {
      if (prebuilt.emplace(d->key, d->binary).second)
        argv.push_back(fmt::format("--prebuilt={}={}", d->key, d->binary.string()));
      send_file(d->binary);
      send_analyses(d->binary);
    }
    send_file(fs::absolute(sc.file));
    for (const fs::path& f : sc.files) send_file(f);  // what the program reads beside its scenario: at the same path
    for (size_t k = 0; k < sc.steps.size(); ++k)      // and each program step's program, likewise
      if (const auto& program = sc.steps[k].program) {
        const Prepared* its =
            prepared && k < prepared->programs.size() && prepared->programs[k] ? &**prepared->programs[k] : nullptr;
        if (auto ok = send(*program, its); !ok) return ok;
      }
    return {};
  };
  for (size_t i : todo) {
    const bool prepared = entries[i].prepared && *entries[i].prepared;
    if (auto ok = send(*entries[i].scenario, prepared ? &**entries[i].prepared : nullptr); !ok) {
      vm_error(i, ok.error());
      continue;
    }
    sent.push_back(i);
  }
  if (sent.empty()) return std::nullopt;
  // Exactly the runs chosen here (--run, --shard, --rerun-failed): the guest expands the same
  // files and keeps these names.
  std::set<std::string> names;
  for (size_t i : sent)
    if (names.insert(entries[i].scenario->name).second) argv.push_back("--select=" + entries[i].scenario->name);
  if (o.start_before) {  // what is left of it now; the guest counts it from its boot (run_command)
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(*o.start_before - std::chrono::steady_clock::now());
    argv.push_back(fmt::format("--start-within={}ms", std::max<int64_t>(left.count(), 0)));
  }
  argv.push_back("--");          // the files: not more values of a repeated option
  std::set<size_t> occurrences;  // one file may stand for several runs: the guest expands it the same way
  for (size_t i : sent)
    if (occurrences.insert(entries[i].occurrence).second) argv.push_back(fs::absolute(entries[i].file).string());

  for (size_t i : sent) entries[i].started = true;  // from the boot on, stopping the VM stops them
  on_note(fmt::format("booting {} ({}) for {} scenario{}", kernel->name, kernel->release, sent.size(),
                      sent.size() == 1 ? "" : "s"));
  // file and name -> the runs it stands for, in order (a file given twice is run twice)
  std::map<std::string, std::vector<size_t>> by_file;
  for (size_t i : sent) by_file[fs::absolute(entries[i].file).string() + "\n" + entries[i].scenario->name].push_back(i);
  std::vector<bool> got(entries.size(), false);
  std::vector<const scenario::Scenario*> runs;
  for (size_t i : sent) runs.push_back(&*entries[i].scenario);
  const std::chrono::seconds watchdog = vm_watchdog(runs);
  // each record the guest streams back, as its scenario finishes
  auto on_line = [&](std::string_view line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    auto rec = j.is_object() && j.contains("file") ? record::record_from_json(j) : tl::unexpected(Error{});
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
    entries[*slot].started = true;
    records[*slot] = std::move(*rec);
    gate.saw(records[*slot]);
    on_done(records[*slot]);
  };
  auto& boot = vm_boot->boot;
  Result<vm::Outcome> outcome = boot ? boot->run(files, argv, on_line, watchdog) : tl::unexpected(boot.error());
  if (process::interrupted()) return std::nullopt;  // qemu was stopped: what it did not report, run_suite marks
  if (outcome) {
    notes.push_back(
        fmt::format("the VM ran under {} ({}): booted in {:.1f} s{}", vm::accel_name(outcome->accel),
                    outcome->accel_why, outcome->boot_s,
                    outcome->waited_s >= 0.1
                        ? fmt::format(" while its files were built, then waited {:.1f} s for them", outcome->waited_s)
                        : ""));
    on_note(notes.back());
  }
  if (!outcome) {
    for (size_t i : sent)
      if (!got[i]) vm_error(i, outcome.error());
    return std::nullopt;
  }
  if (outcome->status == vm::Outcome::Status::completed) {
    for (size_t i : sent)
      if (!got[i])
        vm_error(
            i,
            Error{
                ErrorKind::internal, "", "the VM finished without reporting this scenario", outcome->console_tail, {}});
    return std::nullopt;
  }
  for (size_t i : sent)
    if (!got[i])
      vm_error(i, Error{ErrorKind::environment,
                        fmt::format("vm {}", kernel->release),
                        outcome->status == vm::Outcome::Status::timed_out
                            ? fmt::format("the VM timed out before this scenario finished (the host's watchdog: "
                                          "{} s for the boot and its {} run{})",
                                          watchdog.count(), sent.size(), sent.size() == 1 ? "" : "s")
                            : fmt::format("the VM {} before this scenario finished", vm::status_name(outcome->status)),
                        "the console's last lines:\n" + outcome->console_tail,
                        {}});
  return outcome->status;
}

// A record for a run that never got its own, saying why.
RunRecord unfinished_record(const Entry& e, Status status, std::string why) {
  RunRecord r = load_error_record(e.file, Error{ErrorKind::environment, "", std::move(why), "", {}});
  r.name = e.scenario->name;
  r.status = status;
  return r;
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

std::string without_repeat(const std::string& name) {
  size_t hash = name.rfind(" #");
  if (hash == std::string::npos || hash + 2 == name.size()) return name;
  for (size_t i = hash + 2; i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return name;
  return name.substr(0, hash);
}

std::chrono::seconds vm_watchdog(const std::vector<const scenario::Scenario*>& runs) {
  using std::chrono::milliseconds, std::chrono::seconds;
  milliseconds budget = seconds(120);
  for (const scenario::Scenario* s : runs) {
    milliseconds run = s->target.timeout;
    if (s->target.ready) run += s->target.ready->timeout;
    if (s->target.stop) run += s->target.stop->grace;
    for (const auto& step : s->steps) run += step.program ? step.program->target.timeout : step.timeout;
    budget += std::chrono::duration_cast<milliseconds>(run * kVmTimeoutScale) + seconds(60);
  }
  return std::chrono::duration_cast<seconds>(budget);
}

SuiteResult run_suite(const std::vector<fs::path>& files, const SuiteOptions& o,
                      const std::function<void(const RunRecord&)>& on_done,
                      const std::function<void(const std::string&)>& on_note) {
  SuiteResult result;
  StartGate gate;
  gate.fail_fast = o.fail_fast;
  gate.start_before = o.start_before;
  gate.start_within_text = o.start_within_text;
  // --timeout: a watcher stops everything at the deadline, unless the suite ends first.
  std::mutex watch_mutex;
  std::condition_variable watch_wake;
  bool suite_over = false;
  std::thread watcher;
  if (o.deadline && !o.list_only)
    watcher = std::thread([&] {
      std::unique_lock lock(watch_mutex);
      if (!watch_wake.wait_until(lock, *o.deadline, [&] { return suite_over; })) process::stop_at_deadline();
    });

  size_t position = 0;  // of the runs the filters keep: --shard takes every N-th
  auto in_this_shard = [&] { return !o.shard || position++ % o.shard->total == o.shard->index; };
  std::vector<Entry> entries;
  std::optional<VmBoot> vm_boot;
  auto refused = [&](const fs::path& file, RunRecord record) {  // a file that stands for no run
    if (!in_this_shard()) return;
    entries.push_back({file, std::nullopt, std::nullopt, false});
    result.records.push_back(std::move(record));
    gate.saw(result.records.back());
    on_done(result.records.back());
  };
  if (!o.run_filter && !o.rerun && !o.exact_names && !o.list_only && !o.shard)
    for (const fs::path& data : o.data_files)
      refused(data, load_error_record(
                        data, Error{ErrorKind::unsupported,
                                    data.string(),
                                    "not a scenario: a JSON object without \"version\" (data beside the scenarios)",
                                    "a scenario starts with \"version\": 1; data files in a scenario folder are "
                                    "listed as skipped, never run",
                                    {}}));
  for (size_t occurrence = 0; occurrence < files.size(); ++occurrence) {
    const fs::path& file = files[occurrence];
    auto s = scenario::load(file);
    if (!s) {
      refused(file, load_error_record(file, s.error()));
      continue;
    }
    if (o.pid) {  // the running process replaces the target, whatever it was
      s->target.pid = o.pid;
      s->target.fixture.clear();
      s->target.binary.clear();
      s->target.build.reset();
      if (auto attach = scenario::check_attach(*s, fmt::format("--pid {}", o.pid)); !attach) {
        RunRecord r = load_error_record(file, attach.error());
        r.name = s->name;
        refused(file, std::move(r));
        continue;
      }
    }
    const std::string go = o.go_each.empty() ? o.run.go : fmt::format("{}", fmt::join(o.go_each, ","));
    if (auto checked = target::check_build_choices(*s, go, o.variants); !checked) {
      RunRecord r = load_error_record(file, checked.error());
      r.name = s->name;
      refused(file, std::move(r));
      continue;
    }
    for (auto& once : expand_runs(*s, o)) {
      if (o.run_filter && !std::regex_search(once.name, *o.run_filter)) continue;
      if (o.rerun && !o.rerun->contains(once.name)) continue;
      for (int repeat = 1; repeat <= o.count; ++repeat) {
        scenario::Scenario run = once;
        if (repeat > 1) run.name += fmt::format(" #{}", repeat);
        if (o.exact_names && !o.exact_names->contains(run.name)) continue;
        if (!in_this_shard()) continue;
        if (o.list_only) {
          result.listed.push_back(run.name);
          continue;
        }
        Entry e{file, std::move(run), std::nullopt, false, occurrence};
        // Nothing new is built once the suite stops; such a run is reported as not finished.
        const bool stopping = process::interrupted() || gate.closed();
        // A process running on this host is attached to here or not at all: never in the VM
        // (execute() skips it, saying so, when this kernel lacks a capability it needs).
        const bool attaches = e.scenario->target.attaches();
        if (attaches && o.vm == VmMode::always && !stopping) {
          RunRecord r = load_error_record(
              file,
              Error{ErrorKind::bad_input,
                    "--vm=always",
                    fmt::format("pid {} runs on this host, not in the VM: bpfault attaches to it here or not at all",
                                e.scenario->target.pid),
                    "drop --vm=always",
                    {}});
          r.name = e.scenario->name;
          entries.push_back({file, std::nullopt, std::nullopt, false, occurrence});
          result.records.push_back(std::move(r));
          gate.saw(result.records.back());
          on_done(result.records.back());
          continue;
        }
        if ((o.vm != VmMode::always || attaches) && !stopping) e.prepared = prepare(*e.scenario, o.run);
        e.in_vm =
            !attaches && (o.vm == VmMode::always || (o.vm == VmMode::auto_ && e.prepared && needs_vm(*e.prepared)));
        if (stopping) e.in_vm = false, e.prepared.reset();
        if (e.in_vm) start_vm(vm_boot, o, result.notes, on_note);  // it boots while the others are prepared
        entries.push_back(std::move(e));
        result.records.emplace_back();
      }
    }
  }
  run_native(entries, result.records, o, gate, on_done);
  result.vm_failure = run_in_vm(entries, result.records, result.notes, o, gate, vm_boot, on_done, on_note);
  vm_boot.reset();  // a boot that ran nothing: qemu stopped
  {
    std::lock_guard lock(watch_mutex);
    suite_over = true;
  }
  watch_wake.notify_all();
  if (watcher.joinable()) watcher.join();

  // Every run the options chose has a record: those that did not finish say why.
  result.timed_out = process::deadline_passed();
  result.interrupted_by = process::interrupt_signal();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].scenario || !result.records[i].file.empty()) continue;
    RunRecord& r = result.records[i];
    if (result.interrupted_by) {  // it was running, or never started
      r = unfinished_record(
          entries[i], Status::error,
          fmt::format("not finished: bpfault was interrupted by SIG{}", sigabbrev_np(result.interrupted_by)));
      r.interrupted = true;
    } else if (result.timed_out) {
      r = unfinished_record(
          entries[i], Status::failed,
          entries[i].started
              ? fmt::format("timed out: still running when the whole run's --timeout {} passed", o.timeout_text)
              : fmt::format("timed out: not started before the whole run's --timeout {} passed", o.timeout_text));
      r.timed_out = true;
      r.verdicts.push_back({"whole run finished in time", false, fmt::format("within --timeout {}", o.timeout_text),
                            entries[i].started ? "still running" : "not started", ""});
      on_done(r);
    } else if (gate.closed()) {
      r = unfinished_record(entries[i], Status::skipped, "");
      gate.refuse(r);
      on_done(r);
    }
  }
  return result;
}

}  // namespace bpfault::run
