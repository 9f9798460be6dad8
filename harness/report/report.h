// Reports of a suite, all built from RunRecords: the console in GoogleTest's spirit, a JSON
// run record (--json), and JUnit XML (--junit) for CI systems. Records come in as scenarios
// finish (natively or streamed back from the VM), so the console prints as it goes.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "diag/error.h"
#include "run/record.h"

namespace bpfault::report {

struct Summary {
  size_t passed = 0, failed = 0, skipped = 0, errors = 0;
  double wall_ms = 0;

  size_t total() const { return passed + failed + skipped + errors; }
};
Summary summarize(const std::vector<run::RunRecord>& records, double wall_ms);

// 2 if any scenario was bad input, else 1 if any failed, else 77 if all were skipped, else 0.
int exit_code(const std::vector<run::RunRecord>& records);

class Console {
 public:
  explicit Console(std::FILE* out, bool verbose = false);
  void suite_start(size_t scenarios, const std::string& where);
  void scenario_start(const std::string& name);
  void scenario_end(const run::RunRecord& r);
  void suite_end(const std::vector<run::RunRecord>& records, double wall_ms);
  void note(const std::string& line);  // progress: a fixture build, a VM boot

 private:
  std::FILE* out_;
  bool verbose_, color_;
  std::string open_;  // the scenario whose [ RUN ] line is printed
};

// A latency histogram (µs) in bpftrace's log2 hist() layout, each line prefixed by `indent`.
std::string histogram(const run::Latency& latency, const std::string& indent = "");

Result<void> write_json(const std::filesystem::path& file, const std::vector<run::RunRecord>& records, double wall_ms);
Result<void> write_junit(const std::filesystem::path& file, const std::vector<run::RunRecord>& records, double wall_ms);

}  // namespace bpfault::report
