#include <fstream>

#include <fmt/format.h>

#include "report/report.h"

namespace bpfault::report {

std::string json_document(const std::vector<record::RunRecord>& records, double wall_ms, const Ending& end) {
  Summary s = summarize(records, wall_ms);
  nlohmann::json j = {
      {"format", "bpfault-run-1"},
      {"bpfault_version", end.version},
      {"started_at", end.started_at},
      {"hostname", end.hostname},
      {"argv", end.argv},
      {"summary",
       {{"passed", s.passed},
        {"failed", s.failed},
        {"skipped", s.skipped},
        {"errors", s.errors},
        {"wall_ms", wall_ms}}},
      {"exit_code", end.exit_code},
      {"interrupted", end.interrupted_by ? nlohmann::json(signal_name(end.interrupted_by)) : nlohmann::json(nullptr)},
      {"notes", end.notes},
      {"merged_from", end.merged_from},
      {"scenarios", nlohmann::json::array()}};
  for (const auto& r : records) j["scenarios"].push_back(record::to_json(r));
  return record::dump(j, 2) + "\n";
}

Result<void> write_json(const std::filesystem::path& file, const std::vector<record::RunRecord>& records,
                        double wall_ms, const Ending& end) {
  std::ofstream out(file);
  out << json_document(records, wall_ms, end);
  if (!out)
    return fail(ErrorKind::environment, file.string(), "cannot write the JSON report",
                "check the folder exists and is writable");
  return {};
}

}  // namespace bpfault::report
