// A scenario file, parsed and validated: the JSON is checked against the versioned schema
// (scenario-v1.schema.json, shipped inside bpfault) and then by the semantic rules below.
// Every error names the file and the JSON pointer, what was expected, what was found, and a hint.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/error.h"

namespace bpfault::scenario {

inline constexpr int kVersion = 1;

// "build" and "test": a package of the user's module that bpfault builds (offline).
struct GoBuild {
  std::filesystem::path module;  // the folder with go.mod (absolute, resolved against the scenario file)
  std::string package = ".";     // relative to the module: "./cmd/server"
  std::vector<std::string> tags;
  std::string ldflags, gcflags;
  std::map<std::string, std::string> env;
  bool test = false;      // `go test -c`: the package's test binary
  std::string run;        // test only: -test.run
  std::string buildmode;  // "pie", "exe"; "": Go's default
};

// --- a service's lifecycle (README, "Testing a service") ---

// What "ready" means for a target that serves: checked every 20 ms from its start until one
// holds or `timeout` passes (then the scenario fails, naming what was awaited).
struct Ready {
  std::string tcp;          // "127.0.0.1:8080": a TCP connection is accepted
  std::string unix_socket;  // a path (relative to the scenario's folder): a unix stream connection is accepted
  std::string http;         // "http://127.0.0.1:8080/health": a GET answers `http_status`
  int http_status = 200;
  std::string stdout_matches, stderr_matches;  // a line of its output matches (ECMAScript)
  std::string hit;                             // a probed function was called
  std::chrono::milliseconds timeout{10000};
  std::string describe() const;  // "a TCP connection to 127.0.0.1:8080"
};

// How a served target is stopped after the last step: a signal, then SIGKILL when it is still
// there after the grace period (a stop that needs the kill fails the scenario).
struct Stop {
  int signal = 15;  // SIGTERM
  std::chrono::milliseconds grace{5000};
};

struct Target {
  std::string fixture;           // a folder under fixtures/ that bpfault builds, or
  std::filesystem::path binary;  // a Go executable (absolute, resolved against the scenario file), or
  std::optional<GoBuild> build;  // a package (or its tests) of the user's module
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string stdin_data;
  std::chrono::milliseconds timeout{10000};
  std::string go;                // toolchain for the fixture: "" (default), "1.24", "newest"
  std::string goarch = "amd64";  // "386": the stack ABI
  bool stripped = false;
  std::string user;  // run as this user ("nobody", "65534:65534"); "": as bpfault's
  // A process that is already running (target.pid, or `bpfault run --pid`): bpfault attaches to
  // its executable for the run, starts and stops nothing (README, "Attaching to a running process").
  int pid = 0;
  bool builds() const { return !fixture.empty() || build.has_value(); }  // --go and variants apply
  bool attaches() const { return pid > 0; }
  std::vector<std::string> variants;  // the builds it applies to: "amd64", "386", "amd64-stripped", "386-stripped"
  std::optional<Ready> ready;         // a service: wait for it, then run the scenario's steps
  std::optional<Stop> stop;           // set (default SIGTERM, 5 s) whenever the scenario has steps or ready
  // The keys the file sets that only make sense for a program bpfault starts, each with its JSON
  // pointer, why, and what to do instead: a scenario that attaches refuses them (check_attach).
  struct LaunchOnly {
    std::string pointer, why, hint;
  };
  std::vector<LaunchOnly> launch_only;
};

// A value a scenario writes: an integer, true/false, nil, a package-level variable's name
// ("io.EOF", "main.config"), a new length ({"len": 3}) or bytes ({"bytes": "HI"}).
struct Assigned {
  nlohmann::json value;  // the scalar, the variable name, or null
  std::optional<uint64_t> len;
  std::optional<std::string> bytes;
  std::optional<std::string> errno_name;  // {"errno": "ENOSPC"}: a syscall.Errno error
};

// One step of a probe's injection: what it does, and which matching calls it takes.
struct Step {
  // print: off, and the call is recorded; panic: a Go panic raised at the call (recover() sees it)
  enum class Action { off, print, write, signal, delay, panic };
  Action action = Action::off;
  std::map<std::string, Assigned> set_args;     // at the call
  std::map<std::string, Assigned> set_results;  // at the return of the same call
  bool early_return = false;                    // return at once; set_results are the results
  int signal = 0;
  uint32_t delay_ms = 0;
  uint64_t nth = 0, every = 0, times = 0;  // 0: unset
  double probability = 100;                // percent
  std::string pointer;                     // "/probes/0" or "/probes/0/term"
  // The body never runs: the call leaves at its call site, by an early return or a panic
  // raised there (the argument registers then hold its results, or gopanic's argument).
  bool leaves_at_call() const { return early_return || action == Action::panic; }
};

// A condition on an argument: {"name": {"prefix": "/etc/"}}.
struct Predicate {
  std::string arg;
  std::string op;  // eq ne lt le gt ge prefix equals
  nlohmann::json value;
  std::string pointer;
};

struct Probe {
  std::string function;
  std::vector<std::string> record;    // argument and result names
  std::string pointer;                // "/probes/0": where it is in the file, for errors
  std::vector<Predicate> conditions;  // when.args
  std::string caller;                 // when.caller
  bool goroutine_first = false;       // when.goroutine = "first"
  std::optional<int64_t> goroutine;   // when.goroutine = id
  std::vector<Step> steps;            // empty: the probe only observes
  std::vector<std::string> during;    // lifecycle steps the rule is armed in (empty: always armed)
  bool stack = false;                 // record the Go stack at every call
  bool latency = false;               // time every call

  bool injects() const { return !steps.empty(); }
};

struct TextExpect {  // stdout or stderr
  std::vector<std::string> contains, not_contains, matches;
  std::optional<std::string> equals;
  std::string pointer;

  bool empty() const { return contains.empty() && not_contains.empty() && matches.empty() && !equals; }
};

// A value an expectation compares with a recorded one (args, results, args_before, ...):
// a scalar, null or array compares exactly; an object is partial: the keys it names must match
// (recursively), the others are ignored ({"len": 44} holds for any slice or string of length
// 44; a complete string is seen as {"text": ..., "len": N}); a string naming a variable
// ("io.EOF") holds where the value is known to be that variable's (bpfault wrote it). An
// object whose keys start with `$` is an operator on a string (Go names cannot start with `$`,
// so it is never a struct): {"$prefix": "/etc/"}, {"$matches": "^/proc/[0-9]+$"} (ECMAScript).
inline constexpr std::string_view kValueOperators[] = {"$prefix", "$matches"};

struct EventExpect {
  std::string function;
  // which calls the values (args, results, args_before, ...) are checked on: by default every
  // recorded call; `"call": N` only the Nth call; `"call": "some"`: at least one call carries
  // all of them together
  std::optional<uint64_t> call;
  bool some_call = false;
  std::optional<uint64_t> count, min_count, max_count;
  std::optional<uint64_t> injected;                               // exact number of injections
  std::map<std::string, nlohmann::json> args_before, args_after;  // on every injected call
  // on every injection that set results (at the RET, or at the call of an early return):
  // before the writes and read back after them; unnamed results are r0, r1, ...
  std::map<std::string, nlohmann::json> results_before, results_after;
  std::vector<std::string> stack;                 // every recorded stack starts with these functions
  std::map<std::string, double> latency;          // "p99_max_us" -> 500
  std::map<std::string, nlohmann::json> args;     // every recorded call must carry these values
  std::map<std::string, nlohmann::json> results;  // every recorded return must carry these
  std::string step;  // only the hits during this lifecycle step count (count, min_count, max_count, injected)
  std::string pointer;
};

struct Expect {
  std::optional<int> exit_code;
  std::optional<int> signal;  // the tracee must die from this signal
  // The tracee must still be running when target.timeout_ms passes (bpfault then stops it, as
  // any run that times out): a hang kept as a regression test (bpfault explore's reproducers).
  bool hangs = false;
  TextExpect stdout_text, stderr_text;
  std::vector<EventExpect> events;
  std::map<std::string, std::string> tests;  // test targets: Go test name -> "pass", "fail", "skip"
};

// One step of a service's lifecycle (the JSON's "steps"; not a fault step, which is `Step`):
// a command, never through a shell, or a built-in HTTP request, with what it must give.
struct HttpRequest {
  std::string method = "GET", url, body;
  std::map<std::string, std::string> headers;
};

struct Scenario;

struct LifecycleStep {
  std::string name;
  std::vector<std::string> run;  // argv (argv[0] found in PATH, or relative to the scenario's folder)
  std::optional<HttpRequest> http;
  // A Go program run under bpfault in this step, with probes and expect of its own: a scenario
  // in the same file, every pointer of it under "/steps/N/program" (README, "Several programs
  // under bpfault"). It has no steps of its own.
  std::shared_ptr<const Scenario> program;
  std::map<std::string, std::string> env;
  std::string stdin_data;
  std::chrono::milliseconds timeout{10000};
  struct Expect {
    std::optional<int> exit_code;  // a command: 0 unless given
    TextExpect stdout_text, stderr_text;
    std::optional<int> status;  // an HTTP request: 200 unless given
    TextExpect body;
  } expect;
  std::string pointer;  // "/steps/0"
};

struct Scenario {
  std::filesystem::path file;
  std::string name;
  std::string description;
  uint64_t seed = 0;  // probability decisions reproducible from this seed (0: random); --seed overrides
  Target target;
  std::vector<Probe> probes;
  std::vector<LifecycleStep> steps;  // a service's steps, run in order once it is ready
  // Files and folders the program or its steps read (absolute, resolved against the scenario's
  // folder): the VM gets them at the same paths.
  std::vector<std::filesystem::path> files;
  Expect expect;
  bool serves() const { return target.stop.has_value(); }  // a service: ready, steps, stop
};

// A scenario that attaches to a running process (target.pid, `bpfault run --pid`) has no use for
// what starts, stops or watches the output of a program bpfault launches: each such key of the
// file (Target::launch_only) is an error naming its JSON pointer, the first with the others in
// `also`. `how` names what attaches in the message ("--pid 4242", "\"pid\"").
Result<void> check_attach(const Scenario& s, const std::string& how);

// Reads, parses and validates one scenario file; errors carry kind bad_input.
Result<Scenario> load(const std::filesystem::path& file);
Result<Scenario> parse(const std::string& text, const std::filesystem::path& file);

// The scenario files named on a command line: files as given, folders as their *.json files
// (sorted; *.schema.json excluded), and DIR/... as every scenario under DIR (as go's ./...:
// folders named testdata or vendor, or starting with . or _, left out; and JSON files that are
// objects without a "version" key, which are data, not scenarios).
// A JSON object without "version" found in a folder (DIR or DIR/...) is data beside the
// scenarios, not a scenario: it goes to `data_files` (the suite lists it as skipped, saying so),
// never into the result. A file named on the command line is always a scenario.
Result<std::vector<std::filesystem::path>> expand(const std::vector<std::string>& args,
                                                  std::vector<std::filesystem::path>* data_files = nullptr);

// A variant's name ("386-stripped") from a build, and back.
std::string variant_name(const std::string& goarch, bool stripped);
void apply_variant(Target& t, const std::string& variant);

// "SIGKILL" -> 9; nullopt for an unknown name.
std::optional<int> signal_number(std::string_view name);
std::string signal_name(int sig);

// failpoint's term grammar: `[P%][N*]action` chained with `->`; actions off, return(v, ...),
// sleep(ms), delay(ms), panic (a Go panic at the call), crash(SIGNAL), kill (SIGKILL), print
// (records the call).
// A step whose probability roll fails hands the call to the next step. Return values are
// positional; the caller maps them to the function's results.
Result<std::vector<Step>> parse_term(const std::string& term, const std::string& where);

// The schema, as shipped (the text of scenario-v1.schema.json).
const std::string& schema_text();

}  // namespace bpfault::scenario
