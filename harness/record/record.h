// What one scenario run produced: the tracee's outcome, what every probe saw, and the
// verdicts of the checks. The same record comes back from the VM (as JSON) as from a native
// run, so every report is built from this type alone.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/error.h"

namespace bpfault::record {

// One write of an injection, proven: what was there, what was asked, and what was read back
// after every write of the injection, decoded as the record shows values.
struct WriteProof {
  std::string target;     // "a1", "s.len", "p.X", "err", "return"
  bool attempted = true;  // false: the kernel did not get to it (`error` says so)
  nlohmann::json before, asked, after;
  std::string address;               // "0x..." where memory was written; "" for a register
  std::string variable;              // the package-level variable whose address or word it wrote ("io.EOF")
  std::optional<std::string> error;  // why it was not done and read back as asked; none: it was

  bool operator==(const WriteProof&) const = default;
};

// What an injection did at one hit: the step that fired, each write's proof, and the values
// around it (objects by name, as the scenario's expect.events names them).
struct Injection {
  uint32_t step = 0;      // the step's index in the probe's chain
  std::string action;     // "write", "return", "signal SIGABRT", "delay 50 ms", "off", "print"
  bool done = false;      // the action was carried out: not off or print, every write done and read back
  bool returned = false;  // the call returned early, without running its body
  std::vector<WriteProof> writes;
  std::optional<nlohmann::json> args_before, args_after;        // at a call (no "after" for an early return)
  std::optional<nlohmann::json> results_before, results_after;  // at a RET, or at the call of an early return
  std::optional<uint64_t> pending_ret_writes;                   // at a call: the writes its RET must still do
  std::optional<std::string> pending_error;                     // why the call could not be kept for them

  bool operator==(const Injection&) const = default;
};

struct Hit {             // one recorded probe hit, decoded
  std::string site;      // "call" (after the prologue) or "ret"
  uint64_t call = 0;     // the function's call number this hit belongs to (1 = first)
  uint64_t time_ns = 0;  // CLOCK_MONOTONIC
  uint32_t tid = 0;
  int64_t goid = -1;                                 // goroutine id, -1 when unknown
  nlohmann::json values = nlohmann::json::object();  // recorded argument or result -> value
  std::optional<Injection> injection;                // what an injection did at this hit
  // null, or the Go stack innermost first, inlined calls expanded: [{"function", "offset", "file",
  // "line"}, {"function", "file", "line", "inlined": true}, ...], and a last {"cut": why} when the
  // walk ended before runtime.goexit (a stack deeper than the probe copied)
  nlohmann::json stack;
  uint64_t duration_ns = 0;  // at a RET of a timed call
  std::string step;          // the lifecycle step it happened in ("" outside every step, or no steps)
  std::string inlined_into;  // a hit at an inlined copy's mark: the function it is inlined into
};

// Latency of a probe's calls (after the prologue to the RET, paired per goroutine).
struct Latency {
  uint64_t count = 0;
  double min_us = 0, p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
  std::vector<std::pair<uint64_t, uint64_t>>
      log2_us;  // bucket low bound (0, 1, 2, 4, ...) -> calls, as bpftrace's hist()

  static Latency of(std::vector<uint64_t> durations_ns);  // exact
};

// A probe's call durations in bounded memory (30 KB, whatever the number of calls: a run of
// 10^6 calls must not grow bpfault): exact count, min and max; percentiles and the log2
// histogram from buckets 1/64 of a power of two wide, so within 1.6 % of the exact values.
class Durations {
 public:
  void add(uint64_t ns);
  Latency latency() const;

 private:
  static constexpr size_t kSub = 64;  // buckets per power of two
  std::vector<uint64_t> buckets_ = std::vector<uint64_t>(kSub * 60);
  uint64_t count_ = 0, min_ = UINT64_MAX, max_ = 0;
};

// Limits of a record (README, "Limits"): reaching one is a failed verdict with the count.
constexpr size_t kMaxHitsPerProbe = 10000;   // hits a probe keeps in the record
constexpr size_t kMaxCallsInFlight = 65536;  // calls awaiting their RET (bpf/probe.bpf.c in_flight)

struct ProbeRecord {
  std::string function;
  uint64_t calls = 0;     // exact: counted after the stack-check prologue
  uint64_t returns = 0;   // hits of the RET sites
  uint64_t injected = 0;  // calls a step fired on
  std::vector<Hit> hits;  // recorded hits, in order
  std::optional<Latency> latency;
  // A stripped binary's function whose signature came from elsewhere: "the Go 1.24.4 standard
  // library" (binary/stdlib_signatures.h); empty when the binary's own DWARF gave it.
  std::string signature_from;
  // Beyond kMaxHitsPerProbe, not in `hits`: recorded hits (values, a stack: a failed verdict,
  // they are lost); injections (counted in `injected`; those with a failed write fail the run,
  // the others only lose their before/after); bare timings (`latency` covers every call).
  uint64_t hits_not_kept = 0, injections_not_kept = 0, failed_writes_not_kept = 0, timings_not_kept = 0;
};

struct Verdict {
  std::string check;  // "exit_code", "stdout contains", "events main.f count"
  bool passed = false;
  std::string expected, actual;
  std::string pointer;  // where the expectation is in the scenario file
  std::string step;     // the lifecycle step it judges ("" for the scenario as a whole)
};

// --- a service's lifecycle (README, "Testing a service") ---

// What one lifecycle step did: a command's outcome or an HTTP exchange, and when (the
// monotonic clock of the hits, so that hits and injections are placed in their step).
struct RunRecord;

struct StepResult {
  std::string name;
  std::string kind;  // "run", "http" or "program"
  uint64_t started_ns = 0, ended_ns = 0;
  double ms = 0;
  std::optional<int> exit_code, signal;  // run
  bool timed_out = false;
  std::string stdout_text, stderr_text;
  std::optional<int> status;  // http
  std::string body;
  std::string error;                      // why it got no result: exec failed, connection refused, no answer in time
  std::vector<std::string> armed;         // the probes whose rule was armed during it ("main.store")
  std::map<std::string, uint64_t> calls;  // probed function -> its calls during the step (exact)
  std::shared_ptr<RunRecord> program;     // a program step: its own run under bpfault, checked
};

// How a served target went through its lifecycle: ready (or why not) and how it was stopped.
struct ServiceRun {
  std::string awaited;             // "a TCP connection to 127.0.0.1:8080"; "" without target.ready
  std::optional<double> ready_ms;  // from its start; none: it never became ready
  std::string not_ready;           // why not: "not ready after 5 s: ..." with the last lines of stderr
  std::string stop_signal;         // "SIGTERM"; "" when it ended before it was stopped
  double stop_ms = 0;              // from the signal to its exit
  bool killed = false;             // still there after the grace period: SIGKILL
  uint64_t grace_ms = 0;
};

// A process bpfault attached to instead of starting one (target.pid, `bpfault run --pid`):
// which, for how long, and what ended the attachment. bpfault neither starts nor stops it.
struct Attached {
  int pid = 0;
  std::string executable;  // what /proc/PID/exe named when bpfault attached
  std::string until;       // what was to end it: "the steps", "--for 30s", "the steps and --for 30s", "Ctrl-C"
  std::string ended;       // what did: "the steps were done", "--for 30s passed", "SIGINT", "the process exited"
  bool exited = false;     // the process ended while bpfault was attached
  double ms = 0;           // from the attach to the detach
};
// Attached::until when nothing but an interrupt or the process's exit was to end the attachment
// (no steps, no --for): its exit is then an end like another, not a failure.
inline constexpr std::string_view kUntilInterrupt = "Ctrl-C";

// How the tracee ended when it ended badly, read from its outcome and its stderr: a Go panic
// or fatal error (with where it happened), a signal Go turned into a crash dump, a signal death,
// a timeout (with the goroutine dump SIGQUIT got out of it first).
struct Diagnosis {
  std::string kind;      // "go_panic", "go_fatal_error", "go_signal", "signal", "timeout"
  std::string summary;   // "panic: boom", "fatal error: all goroutines are asleep - deadlock!", "killed by SIGTERM"
  std::string location;  // "main.use at /src/main.go:25": the first frame of the failing goroutine, when Go printed one
  // It crashed after bpfault injected, and the scenario asked for no crash (no crash or kill
  // step, no expected signal or this exit code): the injection, not the program, is the suspect.
  bool harness_caused = false;
  std::string injections;   // "main.use (1 injection, first at call 1)"
  std::string stderr_tail;  // the last lines of its stderr
};

// One Go test of a test target (`go test -c` binary run with -test.v), as its output reports it.
struct GoTest {
  std::string name;    // "TestWrite", "TestWrite/sub"
  std::string result;  // "pass", "fail", "skip"; "unfinished" when it started and never reported
  double seconds = 0;
};

enum class Status { passed, failed, skipped, error };
std::string_view status_name(Status s);

struct RunRecord {
  std::string file;  // the scenario file
  std::string name;
  Status status = Status::error;
  std::string where = "native";  // "native" or "vm"
  std::string kernel;            // uname -r of the kernel that ran it
  std::string binary;            // the Go executable that ran
  std::string go_version;
  std::vector<std::string>
      inlining_off;  // packages bpfault built with inlining off (a probed function was inlined everywhere)
  std::optional<int> exit_code;
  std::optional<int> signal;
  bool timed_out = false;
  std::string stdout_text, stderr_text;
  double tracee_ms = 0;     // the tracee's wall time, from its release (exec included) to its exit
  uint64_t started_ns = 0;  // CLOCK_MONOTONIC at its release, the clock of the hits' time_ns; 0: unknown
  double duration_ms = 0;   // the whole scenario: build, analysis, load, attach, run, detach
  // Where duration_ms went, phase by phase (tracee_ms is the run itself); none for a run that
  // never reached its tracee.
  struct Phases {
    double prepare_ms = 0;  // build, analysis, plan
    bool analysis_kept =
        false;           // the binary's analysis was read from disk (an earlier process's, or the host's for a VM)
    double load_ms = 0;  // the probe programs loaded, or an earlier run's borrowed and reset
    bool probes_reused = false;  // an earlier run of this process loaded them
    double start_ms = 0;         // from the fork to the tracee's release: attach, the stop at exec
    double finish_ms = 0;        // after its exit: the last events, detach, checks
  };
  std::optional<Phases> phases;
  std::vector<ProbeRecord> probes;
  std::vector<GoTest> tests;  // a test target's Go tests, in the order they finished
  uint64_t drops = 0;         // events the ring buffer lost: a run with drops fails
  uint64_t goid_misses = 0;   // hits whose goroutine id was unreadable (goroutine conditions skipped them)
  uint64_t unpaired = 0;  // calls whose RET could not be paired: kMaxCallsInFlight reached, or no memory for an entry
                          // (a failed verdict)
  std::optional<ServiceRun> service;  // a target with ready, steps or stop
  std::optional<Attached> attached;   // a process bpfault attached to (it started none)
  std::vector<StepResult> steps;      // the lifecycle steps that ran, in order
  std::vector<Verdict> verdicts;
  std::optional<Diagnosis> diagnosis;  // set when the tracee crashed, was killed or timed out
  std::optional<Error> error;          // why it is an error (bad input) or skipped (a missing capability)
  bool interrupted = false;            // bpfault was interrupted before this scenario finished (status error)
  // The suite did not start it (status skipped): "fail_fast" (a run before it failed) or
  // "start_within" (--start-within had passed; explore's --budget); "" when it was started.
  std::string not_started;
};

// What the tracee produced is bytes, not text: its output, recorded strings, the bytes an
// injection found. In a record's JSON a string that is valid UTF-8 stays a JSON string, and any
// other becomes {"bytes_b64": "<the exact bytes, base64>"} (README, "The run record"), so the
// JSON is always valid and nothing is lost. to_json encodes, record_from_json decodes.
bool valid_utf8(std::string_view s);
nlohmann::json encode_bytes(nlohmann::json j);
nlohmann::json decode_bytes(nlohmann::json j);
// JSON text that never throws: strings encoded as above, and an object key that is not UTF-8
// (a name from a hostile binary) with U+FFFD for its bad bytes.
std::string dump(const nlohmann::json& j, int indent = -1);
// For a terminal or XML: bytes that are not UTF-8, and control characters other than \n and
// \t, as \xNN (no escape sequence of the tracee reaches the terminal).
std::string printable(std::string_view bytes);
// printable() for HTML and XML text and attributes: & < > " ' as character references.
std::string markup(std::string_view bytes);
// A value as JSON-like text for the console ("s": "ab\xff"), whatever bytes its strings hold.
std::string printable_value(const nlohmann::json& value);

// The verdict on the record's limits: every hit kept (kMaxHitsPerProbe), every call paired
// with its RET (kMaxCallsInFlight); the actual names each probe over a limit, with the counts.
Verdict limits_verdict(const RunRecord& r);

nlohmann::json to_json(const Injection& inj);
Injection injection_from_json(const nlohmann::json& j);
nlohmann::json to_json(const RunRecord& r);
Result<RunRecord> record_from_json(const nlohmann::json& j);  // a record streamed back from the VM
nlohmann::json to_json(const Error& e);
Error error_from_json(const nlohmann::json& j);

}  // namespace bpfault::record
