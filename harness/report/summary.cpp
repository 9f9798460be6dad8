#include "report/report.h"

namespace bpfault::report {

Summary summarize(const std::vector<run::RunRecord>& records, double wall_ms) {
  Summary s;
  s.wall_ms = wall_ms;
  for (const auto& r : records) switch (r.status) {
      case run::Status::passed: ++s.passed; break;
      case run::Status::failed: ++s.failed; break;
      case run::Status::skipped: ++s.skipped; break;
      case run::Status::error: ++s.errors; break;
    }
  return s;
}

int exit_code(const std::vector<run::RunRecord>& records) {
  Summary s = summarize(records, 0);
  if (s.errors) {
    for (const auto& r : records)
      if (r.status == run::Status::error && r.error && r.error->kind == ErrorKind::internal) return 3;
    return 2;
  }
  if (s.failed) return 1;
  if (s.total() && s.skipped == s.total()) return 77;
  return 0;
}

}  // namespace bpfault::report
