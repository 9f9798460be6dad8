// What one scenario run produced: the tracee's outcome, what every probe saw, and the
// verdicts of the checks. The same record comes back from the VM (as JSON) as from a native
// run, so every report is built from this type alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/error.h"

namespace bpfault::run {

struct Hit {              // one recorded probe hit, decoded
  std::string site;       // "call" (after the prologue) or "ret"
  uint64_t call = 0;      // the function's call number this hit belongs to (1 = first)
  uint64_t time_ns = 0;   // CLOCK_MONOTONIC
  uint32_t tid = 0;
  int64_t goid = -1;      // goroutine id, -1 when unknown
  nlohmann::json values = nlohmann::json::object();  // recorded argument or result -> value
  // null, or what an injection did at this hit: {"step": 0, "before": {arg: v}, "after": {arg: v},
  // "writes": [{"target": "a1", "before": 100, "after": 2021, "error": null}], "returned": false}
  nlohmann::json injection;
  nlohmann::json stack;     // null, or frames innermost first: [{"function", "offset", "file", "line"}]
  uint64_t duration_ns = 0; // at a RET of a timed call
};

// Latency of a probe's calls (after the prologue to the RET, paired per goroutine).
struct Latency {
  uint64_t count = 0;
  double min_us = 0, p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
  std::vector<std::pair<uint64_t, uint64_t>> log2_us;  // bucket low bound (0, 1, 2, 4, ...) -> calls, as bpftrace's hist()

  static Latency of(std::vector<uint64_t> durations_ns);
};

struct ProbeRecord {
  std::string function;
  uint64_t calls = 0;     // exact: counted after the stack-check prologue
  uint64_t returns = 0;   // hits of the RET sites
  uint64_t injected = 0;  // calls a step fired on
  std::vector<Hit> hits;  // recorded hits, in order
  std::optional<Latency> latency;
};

struct Verdict {
  std::string check;      // "exit_code", "stdout contains", "events main.f count"
  bool passed = false;
  std::string expected, actual;
  std::string pointer;    // where the expectation is in the scenario file
};

// How the tracee ended when it ended badly, read from its outcome and its stderr: a Go panic
// or fatal error (with where it happened), a signal Go turned into a crash dump, a signal death,
// a timeout (with the goroutine dump SIGQUIT got out of it first).
struct Diagnosis {
  std::string kind;         // "go_panic", "go_fatal_error", "go_signal", "signal", "timeout"
  std::string summary;      // "panic: boom", "fatal error: all goroutines are asleep - deadlock!", "killed by SIGTERM"
  std::string location;     // "main.use at /src/main.go:25": the first frame of the failing goroutine, when Go printed one
  // It crashed after bpfault injected, and the scenario asked for no crash (no crash or kill
  // step, no expected signal or this exit code): the injection, not the program, is the suspect.
  bool harness_caused = false;
  std::string injections;   // "main.use (1 injection, first at call 1)"
  std::string stderr_tail;  // the last lines of its stderr
};

enum class Status { passed, failed, skipped, error };
std::string_view status_name(Status s);

struct RunRecord {
  std::string file;       // the scenario file
  std::string name;
  Status status = Status::error;
  std::string where = "native";  // "native" or "vm"
  std::string kernel;     // uname -r of the kernel that ran it
  std::string binary;     // the Go executable that ran
  std::string go_version;
  std::optional<int> exit_code;
  std::optional<int> signal;
  bool timed_out = false;
  std::string stdout_text, stderr_text;
  double tracee_ms = 0;   // the tracee's wall time
  double duration_ms = 0; // the whole scenario: build, analysis, load, attach, run, detach
  std::vector<ProbeRecord> probes;
  uint64_t drops = 0;     // events the ring buffer lost: a run with drops fails
  uint64_t goid_misses = 0;  // hits whose goroutine id was unreadable (goroutine conditions skipped them)
  std::vector<Verdict> verdicts;
  std::optional<Diagnosis> diagnosis;  // set when the tracee crashed, was killed or timed out
  std::optional<Error> error;  // why it is an error (bad input) or skipped (a missing capability)
};

nlohmann::json to_json(const RunRecord& r);
Result<RunRecord> record_from_json(const nlohmann::json& j);  // a record streamed back from the VM
nlohmann::json to_json(const Error& e);
Error error_from_json(const nlohmann::json& j);

}  // namespace bpfault::run
