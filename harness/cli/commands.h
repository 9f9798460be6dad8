// One file per subcommand (run_command.cpp, list_command.cpp, ...). Each registers a function
// that adds its subcommand to the CLI11 app and returns what runs it. The runner returns how
// the command ended (an Outcome), or the Error that stopped it; main prints the error and turns
// either into the exit code (exit_code() in main.cpp, README "Exit codes"): no command picks a number.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>
#include "binary/binary_info.h"

#include "diag/error.h"
#include "record/record.h"
#include "report/report.h"
#include "vm/vm.h"

namespace bpfault::cli {

// How a command ended when no Error stopped it.
struct Outcome {
  enum class Kind {
    ok,            // done; every scenario passed (skipped ones aside)
    failed,        // a scenario failed (or did not finish within --timeout); a fetch of `setup` failed
    bad_input,     // a scenario or a record bpfault cannot accept, or nothing ran at all
    internal,      // a bug
    skipped,       // every scenario was skipped: a kernel capability is missing
    vm_timed_out,  // the VM's watchdog fired
    vm_broke,      // the VM did not boot, or its kernel died
    interrupted,   // SIGINT, SIGTERM or SIGHUP stopped it (`value`: the signal)
    program,       // trace: the traced program's own exit status (`value`)
  };
  Kind kind = Kind::ok;
  int value = 0;
};

// A suite's outcome from its records and how it ended: interrupted first, then the VM, then
// the records (bad input outranks a failure, a failure a skip; nothing at all is bad input).
Outcome suite_outcome(const std::vector<record::RunRecord>& records, int interrupted_by = 0,
                      std::optional<vm::Outcome::Status> vm_failure = std::nullopt);
// The exit code of an outcome: the one place bpfault chooses one (main.cpp). A command calls it
// only to write the code into a report (`--json`'s "exit_code").
int exit_code(const Outcome& outcome);

// A Go duration: "90s", "5m", "1h30m", "1.5s", "500ms" (run's --timeout, --for and --start-within,
// explore's --budget); 0 only where zero_allowed.
std::optional<std::chrono::nanoseconds> parse_duration(const std::string& text, bool zero_allowed = false);

using Runner = std::function<Result<Outcome>()>;
using AddCommand = Runner (*)(CLI::App& app);

struct CommandRegistration {
  CommandRegistration(int order, AddCommand add);  // order: position in --help
};

// What of a function BPF can read, by name: its arguments and (with `results`) its results,
// those not in XMM registers (trace and new record them).
std::vector<std::string> readable_values(const binary::Function& f, bool results);

// A command that starts a program (trace) registers itself here: `main` then hands everything
// after its first `--` to the program untouched (program_args()) instead of to CLI11, which
// would take those words for the command's own positionals and options.
void starts_a_program(const CLI::App* command);
const std::vector<std::string>& program_args();

// How this bpfault was started, for the reports: its argv and version, when and where.
struct Invocation {
  std::vector<std::string> argv;
  std::chrono::system_clock::time_point started;
  std::string hostname;
};
const Invocation& invocation();
// What a report says about how the run ended and where it came from (this invocation).
report::Ending report_ending(int exit_code, int interrupted_by, std::vector<std::string> notes);

}  // namespace bpfault::cli
