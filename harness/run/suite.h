// A suite: scenario files, each loaded, executed and checked on its own, so one bad file is
// reported and the others still run. Scenarios whose plan needs a capability this kernel
// lacks go to one VM boot for all of them (--vm=auto), or are skipped naming it (--vm=never).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <vector>

#include "run/execute.h"
#include "vm/accel.h"
#include "vm/vm.h"

namespace bpfault::run {

enum class VmMode { auto_, always, never };

struct SuiteOptions {
  Options run;                       // run.go: one toolchain for every fixture (no expansion)
  std::vector<std::string> go_each;  // each scenario once per toolchain ("1.19", "1.27"), named [go1.27]
  std::string variants;              // "": each scenario's default build; "all": every build it declares;
                                     // "386,amd64-stripped": those of them it declares (named [386])
  int jobs = 1;                      // native scenarios at once
  VmMode vm = VmMode::auto_;
  std::string kernel;                     // --kernel: the VM's kernel ("" = default)
  std::optional<vm::AccelMode> vm_accel;  // --vm-accel; unset: BPFAULT_VM_ACCEL, else auto
  bool verbose = false;
  // --run: only the runs whose reported name ("seed: ... [go1.27, 386]") this matches, anywhere
  // in it (std::regex_search, ECMAScript), as `go test -run`; the text goes to the VM's guest.
  std::optional<std::regex> run_filter;
  std::string run_filter_text;
  // --rerun-failed: only the runs with these names (as --run sees them: without " #k").
  std::optional<std::set<std::string>> rerun;
  // The VM's guest: exactly the runs of these full names, which the host chose (--select).
  std::optional<std::set<std::string>> exact_names;
  int count = 1;  // --count: each selected run this many times, the repeats named "NAME #2", "NAME #3"...
  // --shard I/N: of the runs left after the filters above, in order (files, toolchains, builds,
  // repeats; a file that cannot be loaded is one run too), the k-th runs here iff k % N == I.
  struct Shard {
    size_t index = 0, total = 1;
  };
  std::optional<Shard> shard;
  bool fail_fast = false;  // --fail-fast: after the first failed or erroring run, start no other one
  // --start-within: start no run after this; those not started are skipped, saying why (a run
  // already started finishes). explore's --budget.
  std::optional<std::chrono::steady_clock::time_point> start_before;
  std::string start_within_text;
  // --timeout: when the whole run must be over. Then every tracee, build and VM is stopped, and
  // what did not finish fails as timed out (timeout_text, "90s", says which limit).
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::string timeout_text;
  // JSON files of the folders named that are data, not scenarios (scenario::expand): each is
  // listed as skipped, saying why, unless runs are selected (--run, --rerun-failed, --shard).
  std::vector<std::filesystem::path> data_files;
  bool list_only = false;  // --list: name the runs (SuiteResult::listed), run none
  // --pid: every scenario attaches to this running process instead of its target (README,
  // "Attaching to a running process"); what only a started program has a use for is refused.
  int pid = 0;
};

struct SuiteResult {
  std::vector<record::RunRecord> records;         // in file order (with list_only: the files that could not be loaded)
  std::vector<std::string> listed;                // list_only: the names of the runs asked for, in order
  std::optional<vm::Outcome::Status> vm_failure;  // the VM itself broke: it timed out, did not boot or died
  std::vector<std::string> notes;                 // what the reports must say beyond the records: a VM boot retried
  int interrupted_by = 0;  // SIGINT, SIGTERM, SIGHUP: the suite stopped early (process/interrupt.h);
                           // the records of the scenarios that did not finish say so. A scenario
                           // that attaches (target.pid) ends there as asked and has its record.
  bool timed_out = false;  // the --timeout deadline passed (those records fail, saying so)
};

// The record of a file that could not be loaded (status error, with the loader's error).
record::RunRecord load_error_record(const std::filesystem::path& file, const Error& e);

// A run's name without the " #k" of a --count repeat ("seed: x #3" -> "seed: x"): the name
// --run and --rerun-failed match, since a repeat is the same run again.
std::string without_repeat(const std::string& name);

// The host's watchdog for one VM boot that runs these scenarios: time to boot, then each run's
// own budget as the guest scales it (10x its timeouts: the program's, a service's readiness,
// steps and stop) and a minute for its analysis and attach. A guest that hangs (the emulator, a
// kernel lockup) ends there, each unfinished run reported with the console's last lines; a long
// suite is never cut short by a fixed bound, and a hang never waits for an outer timeout
// (ctest's) to kill it without a word.
std::chrono::seconds vm_watchdog(const std::vector<const scenario::Scenario*>& runs);

// on_done sees each record as it completes (serialized); on_note gets progress lines.
SuiteResult run_suite(const std::vector<std::filesystem::path>& files, const SuiteOptions& o,
                      const std::function<void(const record::RunRecord&)>& on_done,
                      const std::function<void(const std::string&)>& on_note);

}  // namespace bpfault::run
