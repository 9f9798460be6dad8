#include <fstream>

#include <fmt/format.h>

#include "report/report.h"

namespace bpfault::report {

Result<void> write_json(const std::filesystem::path& file, const std::vector<run::RunRecord>& records, double wall_ms) {
  Summary s = summarize(records, wall_ms);
  nlohmann::json j = {{"format", "bpfault-run-1"},
                      {"summary", {{"passed", s.passed}, {"failed", s.failed}, {"skipped", s.skipped}, {"errors", s.errors}, {"wall_ms", wall_ms}}},
                      {"exit_code", exit_code(records)},
                      {"scenarios", nlohmann::json::array()}};
  for (const auto& r : records) j["scenarios"].push_back(run::to_json(r));
  std::ofstream out(file);
  out << j.dump(2) << "\n";
  if (!out) return fail(ErrorKind::environment, file.string(), "cannot write the JSON report", "check the folder exists and is writable");
  return {};
}

}  // namespace bpfault::report
