// bpfault merge OUT.json IN.json... [--junit FILE]: the records of a sharded suite (`bpfault run
// --shard I/N --json` in N jobs) joined into one report, as if one process had run them all.
#include <algorithm>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "report/report.h"
#include "scenario/scenario.h"

namespace {
namespace fs = std::filesystem;
using namespace bpfault;

struct MergeArgs {
  std::vector<std::string> files;  // OUT.json IN.json...
  std::string junit;
};

struct Merged {
  std::vector<record::RunRecord> records;
  double wall_ms = 0;  // the longest input's: shards run side by side
  int interrupted_by = 0;
  std::optional<vm::Outcome::Status> vm_failure;
  std::vector<std::string> notes;
  std::string started_at;  // the earliest input's
};

Result<void> read_into(const std::string& file, Merged& m) {
  std::ifstream in(file);
  if (!in) return fail(ErrorKind::bad_input, file, "cannot read the record", "a file `bpfault run --json FILE` wrote");
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "bpfault-run-1" || !j.contains("scenarios") ||
      !j["scenarios"].is_array())
    return fail(ErrorKind::bad_input, file,
                "not a run record: expected a JSON object with \"format\": \"bpfault-run-1\" and \"scenarios\"",
                "a file `bpfault run --json FILE` wrote");
  for (size_t i = 0; i < j["scenarios"].size(); ++i) {
    auto r = record::record_from_json(j["scenarios"][i]);
    if (!r) return fail(ErrorKind::bad_input, fmt::format("{}:/scenarios/{}", file, i), r.error().what, r.error().hint);
    m.records.push_back(std::move(*r));
  }
  if (j.contains("summary") && j["summary"].is_object())
    m.wall_ms = std::max(m.wall_ms, j["summary"].value("wall_ms", 0.0));
  if (j.contains("interrupted") && j["interrupted"].is_string() && !m.interrupted_by)
    m.interrupted_by = scenario::signal_number(j["interrupted"].get<std::string>()).value_or(0);
  // A VM that broke is known from the code it gave (the records it did not finish say more).
  const int code = j.contains("exit_code") && j["exit_code"].is_number_integer() ? j["exit_code"].get<int>() : 0;
  if (!m.vm_failure && (code == 124 || code == 125))
    m.vm_failure = code == 124 ? vm::Outcome::Status::timed_out : vm::Outcome::Status::crashed;
  if (j.contains("notes") && j["notes"].is_array())
    for (const auto& n : j["notes"])
      if (n.is_string()) m.notes.push_back(fmt::format("{}: {}", file, n.get<std::string>()));
  const std::string started =
      j.contains("started_at") && j["started_at"].is_string() ? j["started_at"].get<std::string>() : "";
  if (!started.empty() && (m.started_at.empty() || started < m.started_at)) m.started_at = started;
  return {};
}

Result<cli::Outcome> merge(const MergeArgs& a) {
  if (a.files.size() < 2)
    return fail(ErrorKind::bad_input, "", "bpfault merge needs the file to write and at least one record to read",
                "bpfault merge OUT.json IN.json... [--junit FILE]");
  const std::string& out = a.files.front();
  Merged m;
  for (size_t i = 1; i < a.files.size(); ++i) {
    if (fs::exists(out) && fs::equivalent(out, a.files[i]))
      return fail(ErrorKind::bad_input, out, "is also one of the records to read: it would be overwritten",
                  "write the merged record elsewhere");
    if (auto r = read_into(a.files[i], m); !r) return tl::unexpected(r.error());
  }
  const cli::Outcome outcome = cli::suite_outcome(m.records, m.interrupted_by, m.vm_failure);
  report::Ending ending = cli::report_ending(cli::exit_code(outcome), m.interrupted_by, m.notes);
  if (!m.started_at.empty()) ending.started_at = m.started_at;  // the suite's start, not the merge's
  ending.merged_from.assign(a.files.begin() + 1, a.files.end());
  if (out == "-")
    fmt::print("{}", report::json_document(m.records, m.wall_ms, ending));
  else if (auto w = report::write_json(out, m.records, m.wall_ms, ending); !w)
    return tl::unexpected(w.error());
  if (!a.junit.empty())
    if (auto w = report::write_junit(a.junit, m.records, m.wall_ms, ending); !w) return tl::unexpected(w.error());
  const report::Summary s = report::summarize(m.records, m.wall_ms);
  fmt::print(stderr, "merged {} record{} of {} run{}: {} passed, {} failed, {} skipped, {} errors\n",
             a.files.size() - 1, a.files.size() == 2 ? "" : "s", s.total(), s.total() == 1 ? "" : "s", s.passed,
             s.failed, s.skipped, s.errors);
  return outcome;
}

cli::Runner add_merge(CLI::App& app) {
  auto a = std::make_shared<MergeArgs>();
  auto* sub =
      app.add_subcommand("merge", "Join the --json records of shards (run --shard I/N) into one record, and JUnit");
  sub->add_option("files", a->files, "OUT.json (- : stdout) then the records to join, IN.json...")->required();
  sub->add_option("--junit", a->junit, "Also write JUnit XML of the joined record to FILE");
  sub->footer(
      "Exit status: as `bpfault run` would have exited for all the runs together (2 when a record cannot be read).");
  return [a] { return merge(*a); };
}

cli::CommandRegistration reg(12, add_merge);

}  // namespace
