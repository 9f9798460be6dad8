#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "report/report.h"

namespace bpfault::report {

Summary summarize(const std::vector<record::RunRecord>& records, double wall_ms) {
  Summary s;
  s.wall_ms = wall_ms;
  for (const auto& r : records) switch (r.status) {
      case record::Status::passed:
        ++s.passed;
        break;
      case record::Status::failed:
        ++s.failed;
        break;
      case record::Status::skipped:
        ++s.skipped;
        break;
      case record::Status::error:
        ++s.errors;
        break;
    }
  return s;
}

std::string utc_timestamp(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t s = ms / 1000;
  std::tm tm{};
  gmtime_r(&s, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

}  // namespace bpfault::report
