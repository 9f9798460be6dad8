// A scenario file, parsed and validated: the JSON is checked against the versioned schema
// (scenario-v1.schema.json, shipped inside bpfault) and then by the semantic rules below.
// Every error names the file and the JSON pointer, what was expected, what was found, and a hint.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/error.h"

namespace bpfault::scenario {

inline constexpr int kVersion = 1;

struct Target {
  std::string fixture;               // a folder under fixtures/ that bpfault builds, or
  std::filesystem::path binary;      // a Go executable (absolute, resolved against the scenario file)
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string stdin_data;
  std::chrono::milliseconds timeout{10000};
  std::string go;                    // toolchain for the fixture: "" (default), "1.24", "newest"
  std::string goarch = "amd64";      // "386": the stack ABI
  bool stripped = false;
  std::string user;                  // run as this user ("nobody", "65534:65534"); "": as bpfault's
  std::vector<std::string> variants; // the builds it applies to: "amd64", "386", "amd64-stripped", "386-stripped"
};

// A value a scenario writes: an integer, true/false, nil, a package-level variable's name
// ("io.EOF", "main.config"), a new length ({"len": 3}) or bytes ({"bytes": "HI"}).
struct Assigned {
  nlohmann::json value;  // the scalar, the variable name, or null
  std::optional<uint64_t> len;
  std::optional<std::string> bytes;
};

// One step of a probe's injection: what it does, and which matching calls it takes.
struct Step {
  enum class Action { off, write, signal, pause };
  Action action = Action::off;
  std::map<std::string, Assigned> set_args;     // at the call
  std::map<std::string, Assigned> set_results;  // at the return of the same call
  bool early_return = false;                    // return at once; set_results are the results
  int signal = 0;
  uint32_t pause_ms = 0;
  uint64_t nth = 0, every = 0, times = 0;       // 0: unset
  double probability = 100;                     // percent
  std::string pointer;                          // "/probes/0" or "/probes/0/term"
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
  std::vector<std::string> record;   // argument and result names
  std::string pointer;               // "/probes/0": where it is in the file, for errors
  std::vector<Predicate> conditions; // when.args
  std::string caller;                // when.caller
  bool goroutine_first = false;      // when.goroutine = "first"
  std::optional<int64_t> goroutine;  // when.goroutine = id
  std::vector<Step> steps;           // empty: the probe only observes
  bool stack = false;                // record the Go stack at every call
  bool latency = false;              // time every call

  bool injects() const { return !steps.empty(); }
};

struct TextExpect {                  // stdout or stderr
  std::vector<std::string> contains, not_contains, matches;
  std::optional<std::string> equals;
  std::string pointer;

  bool empty() const { return contains.empty() && not_contains.empty() && matches.empty() && !equals; }
};

struct EventExpect {
  std::string function;
  std::optional<uint64_t> count, min_count, max_count;
  std::optional<uint64_t> injected;               // exact number of injections
  std::map<std::string, nlohmann::json> args_before, args_after;  // on every injected call
  std::vector<std::string> stack;                 // every recorded stack starts with these functions
  std::map<std::string, double> latency;          // "p99_max_us" -> 500
  std::map<std::string, nlohmann::json> args;     // every recorded call must carry these values
  std::map<std::string, nlohmann::json> results;  // every recorded return must carry these
  std::string pointer;
};

struct Expect {
  std::optional<int> exit_code;
  std::optional<int> signal;         // the tracee must die from this signal
  TextExpect stdout_text, stderr_text;
  std::vector<EventExpect> events;
};

struct Scenario {
  std::filesystem::path file;
  std::string name;
  std::string description;
  Target target;
  std::vector<Probe> probes;
  Expect expect;
};

// Reads, parses and validates one scenario file; errors carry kind bad_input.
Result<Scenario> load(const std::filesystem::path& file);
Result<Scenario> parse(const std::string& text, const std::filesystem::path& file);

// The scenario files named on a command line: files as given, folders as their *.json files
// (sorted; *.schema.json excluded).
Result<std::vector<std::filesystem::path>> expand(const std::vector<std::string>& args);

// A variant's name ("386-stripped") from a build, and back.
std::string variant_name(const std::string& goarch, bool stripped);
void apply_variant(Target& t, const std::string& variant);

// "SIGKILL" -> 9; nullopt for an unknown name.
std::optional<int> signal_number(std::string_view name);
std::string signal_name(int sig);

// failpoint's term grammar: `[P%][N*]action` chained with `->`; actions off, return(v, ...),
// sleep(ms), delay(ms), panic (SIGABRT), crash(SIGNAL), kill (SIGKILL). Return values are
// positional; the caller maps them to the function's results.
Result<std::vector<Step>> parse_term(const std::string& term, const std::string& where);

// The schema, as shipped (the text of scenario-v1.schema.json).
const std::string& schema_text();

}  // namespace bpfault::scenario
