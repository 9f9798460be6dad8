// The run record's contract: what `--json` writes validates against the shipped JSON Schema
// (harness/record/run-record-v1.schema.json), for every kind of record, and the schema refuses
// what breaks the contract. (tests/cli checks the record of a real run and of a merge too.)
#include <fstream>

#include <gtest/gtest.h>

#include "report/report.h"
#include "support/schema.h"

namespace bpfault::report {
std::vector<record::RunRecord> golden_suite();  // golden_test.cpp

namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

json load(const fs::path& file) {
  std::ifstream in(file);
  return json::parse(in);
}

const json& schema() {
  static const json s = load(fs::path(BPFAULT_SOURCE_DIR) / "harness" / "record" / "run-record-v1.schema.json");
  return s;
}

Ending ending() {
  Ending e{0, 0, {}};
  e.started_at = utc_timestamp(std::chrono::system_clock::now());
  e.hostname = "here";
  e.version = "0.1.0";
  e.argv = {"bpfault", "run", "x.json"};
  return e;
}

// Every kind of record: the golden suite (pass with an injection and latency, a crash with a
// diagnosis, a skip, a bad file, a VM run), and one that holds bytes that are not UTF-8, a test
// target's Go tests, an unread write and an interrupted run.
std::vector<record::RunRecord> every_kind() {
  auto records = golden_suite();
  record::RunRecord odd = records.front();
  odd.stdout_text = "caf\xc3";  // cut inside a character
  odd.probes[0].hits[0].values = {{"s", {{"text", "ab\xff"}, {"len", 3}}}};
  odd.probes[0].hits[0].injection->writes.push_back({.target = "r1", .attempted = false, .error = "ECANCELED"});
  odd.probes[0].hits[0].injection->results_before = json{{"r0", 1}};
  odd.probes[0].hits[0].stack =
      json::array({{{"function", "main.f"}, {"offset", "+0x1"}, {"file", "/m.go"}, {"line", 3}}});
  odd.tests = {{"TestWrite", "fail", 0.06}, {"TestRead/sub", "unfinished", 0}};
  odd.verdicts.push_back({"stdout equals", false, "x", "caf\xc3", "/expect/stdout/equals"});
  records.push_back(odd);
  record::RunRecord stopped;
  stopped.file = "/abs/s.json";
  stopped.name = "stopped [go1.24, 386] #2";
  stopped.status = record::Status::error;
  stopped.interrupted = true;
  stopped.error = Error{ErrorKind::environment, "", "not finished: bpfault was interrupted by SIGTERM", "", {}};
  records.push_back(stopped);
  return records;
}

TEST(RunRecordSchema, TheGoldenRecordValidates) {
  const json doc = load(fs::path(BPFAULT_SOURCE_DIR) / "tests" / "report" / "golden" / "report.json");
  EXPECT_EQ(test::schema_errors(schema(), doc), std::vector<std::string>{});
}

TEST(RunRecordSchema, EveryKindOfRecordValidates) {
  Ending end = ending();
  end.interrupted_by = 15;
  end.exit_code = 143;
  end.notes = {"the VM ran under tcg"};
  end.merged_from = {"shard-0.json", "shard-1.json"};
  const json doc = json::parse(json_document(every_kind(), 12.5, end));
  EXPECT_EQ(test::schema_errors(schema(), doc), std::vector<std::string>{}) << doc.dump(2);
  EXPECT_TRUE(doc["scenarios"][5]["stdout"].contains("bytes_b64")) << "the record under test holds bytes";
}

// The schema is a contract only if it refuses what breaks it.
TEST(RunRecordSchema, RefusesWhatBreaksTheContract) {
  const json good = json::parse(json_document(golden_suite(), 1, ending()));
  ASSERT_EQ(test::schema_errors(schema(), good), std::vector<std::string>{});
  auto broken = [&](auto change) {
    json doc = good;
    change(doc);
    return test::schema_errors(schema(), doc).size();
  };
  EXPECT_GT(broken([](json& d) { d["format"] = "bpfault-run-2"; }), 0u);
  EXPECT_GT(broken([](json& d) { d.erase("started_at"); }), 0u);
  EXPECT_GT(broken([](json& d) { d.erase("argv"); }), 0u);
  EXPECT_GT(broken([](json& d) { d["scenarios"][0]["status"] = "green"; }), 0u);
  EXPECT_GT(broken([](json& d) { d["scenarios"][0]["unknown_key"] = 1; }), 0u);
  EXPECT_GT(broken([](json& d) { d["scenarios"][0]["probes"][0]["hits"][0]["site"] = "entry"; }), 0u);
  EXPECT_GT(broken([](json& d) { d["scenarios"][0]["stdout"] = json{{"base64", "AA=="}}; }), 0u);
}

// The schema ships where bpfault's other schema does: the build tree's share/bpfault, as installed.
TEST(RunRecordSchema, IsCopiedIntoTheBuildTreeAsInstalled) {
  const fs::path copy = fs::path(BPFAULT_BINARY_DIR) / "share" / "bpfault" / "run-record-v1.schema.json";
  ASSERT_TRUE(fs::exists(copy)) << copy;
  EXPECT_EQ(load(copy), schema());
}

}  // namespace
}  // namespace bpfault::report
