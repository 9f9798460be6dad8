// Reports of a suite, all built from RunRecords: the console in GoogleTest's spirit, a JSON
// run record (--json), JUnit XML (--junit) for CI systems, an HTML page (--html) and a Chrome
// trace (--trace-json) for people who would rather look than read. Records come in as scenarios
// finish (natively or streamed back from the VM), so the console prints as it goes.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "diag/error.h"
#include "record/record.h"

namespace bpfault::report {

struct Summary {
  size_t passed = 0, failed = 0, skipped = 0, errors = 0;
  double wall_ms = 0;

  size_t total() const { return passed + failed + skipped + errors; }
};
Summary summarize(const std::vector<record::RunRecord>& records, double wall_ms);

// Colour on the console: `--color auto|always|never`; auto means a terminal, without NO_COLOR
// (no-color.org) and with a TERM other than "dumb".
enum class ColorMode { auto_, always, never };
void set_color_mode(ColorMode mode);
bool use_color(std::FILE* out);

// How the run as a whole ended, beyond its records.
struct Ending {
  int exit_code = 0;               // what bpfault exits with (chosen by cli/main.cpp)
  int interrupted_by = 0;          // the signal that stopped the run early, 0 when none
  std::vector<std::string> notes;  // about the run as a whole: a VM boot retried
  // Where the run came from, for whoever reads the report later (JSON; JUnit: timestamp, hostname).
  std::string started_at;  // UTC, ISO 8601 with milliseconds: "2026-12-05T07:31:02.118Z"
  std::string hostname;
  std::string version;                   // bpfault's
  std::vector<std::string> argv;         // bpfault's command line
  std::vector<std::string> merged_from;  // `bpfault merge`: the records it joined
};

// Now as Ending::started_at writes it.
std::string utc_timestamp(std::chrono::system_clock::time_point t);

class Console {
 public:
  explicit Console(std::FILE* out, bool verbose = false);
  void suite_start(size_t scenarios, const std::string& where);
  void scenario_start(const std::string& name);
  void scenario_end(const record::RunRecord& r);
  void suite_end(const std::vector<record::RunRecord>& records, double wall_ms, int interrupted_by = 0);
  void note(const std::string& line);  // progress: a fixture build, a VM boot

 private:
  void print_service(const record::RunRecord& r);
  std::FILE* out_;
  bool verbose_, color_;
  std::string open_;  // the scenario whose [ RUN ] line is printed
};

// A latency histogram (µs) in bpftrace's log2 hist() layout, each line prefixed by `indent`.
std::string histogram(const record::Latency& latency, const std::string& indent = "");

// The documents --json and --junit write (valid JSON and well-formed UTF-8 XML, whatever bytes
// the records hold), and writing them.
// An interrupted run is marked: "interrupted": "SIGTERM" in the JSON, an <error> test case in
// JUnit; notes go into "notes" and the JUnit <testsuites>' properties.
std::string json_document(const std::vector<record::RunRecord>& records, double wall_ms, const Ending& end = {});
std::string junit_document(const std::vector<record::RunRecord>& records, double wall_ms, const Ending& end = {});
Result<void> write_json(const std::filesystem::path& file, const std::vector<record::RunRecord>& records,
                        double wall_ms, const Ending& end = {});
Result<void> write_junit(const std::filesystem::path& file, const std::vector<record::RunRecord>& records,
                         double wall_ms, const Ending& end = {});
// "SIGTERM"
std::string signal_name(int sig);

// The zero of a scenario's timeline (CLOCK_MONOTONIC ns): when its tracee was let go, or, when
// the record does not say (a record of an older bpfault, `trace -p`), its earliest event.
uint64_t timeline_zero_ns(const record::RunRecord& r);

// --html: one self-contained page (inline CSS and SVG, no script, nothing fetched) showing every
// scenario's verdicts, its hits and injections on a timeline from the tracee's start, its latency
// histograms as bar charts, and the tracee's output; every byte from the record escaped.
std::string html_document(const std::vector<record::RunRecord>& records, double wall_ms, const Ending& end = {});
Result<void> write_html(const std::filesystem::path& file, const std::vector<record::RunRecord>& records,
                        double wall_ms, const Ending& end = {});

// --trace-json: the records' events in Chrome's trace-event format, which Perfetto and
// chrome://tracing open: one process per scenario run, one thread per goroutine, µs from the
// tracee's start; timed calls as complete ("X") events, other hits and injections as instants.
std::string trace_json_document(const std::vector<record::RunRecord>& records, double wall_ms = 0,
                                const Ending& end = {});
Result<void> write_trace_json(const std::filesystem::path& file, const std::vector<record::RunRecord>& records,
                              double wall_ms, const Ending& end = {});

}  // namespace bpfault::report
