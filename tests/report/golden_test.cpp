// The three reports of one fixed suite (a pass with an injection and a latency histogram, a
// failure with a Go panic the injection caused, a skip, a bad file, one scenario run in the VM)
// compared byte for byte with tests/report/golden/. After an intended change of a report:
// BPFAULT_UPDATE_GOLDEN=1 ctest -R Golden, then read the diff before committing it.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "report/report.h"

namespace bpfault::report {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

}  // namespace

std::vector<record::RunRecord> golden_suite() {
  std::vector<record::RunRecord> out;

  record::RunRecord pass;
  pass.file = "scenarios/set-args.json";
  pass.name = "an argument set at the call";
  pass.status = record::Status::passed;
  pass.kernel = "7.3.0-1-amd64";
  pass.binary = "/cache/demo-amd64@1.19";
  pass.go_version = "go1.19.8";
  pass.exit_code = 0;
  pass.stdout_text = "sum 2021\n";
  pass.tracee_ms = 12.5;
  pass.duration_ms = 140;
  record::ProbeRecord p;
  p.function = "main.add";
  p.calls = 3;
  p.returns = 3;
  p.injected = 1;
  record::Injection inj{.step = 0, .action = "write", .done = true};
  inj.writes.push_back({.target = "a", .before = 100, .asked = 2021, .after = 2021, .address = "", .variable = ""});
  inj.args_before = json{{"a", 100}, {"b", 0}};
  inj.args_after = json{{"a", 2021}, {"b", 0}};
  p.hits.push_back(
      {.site = "call", .call = 1, .time_ns = 1000, .tid = 7, .goid = 1, .values = {{"a", 2021}}, .injection = inj});
  p.latency = record::Latency::of({1000, 2000, 4000});
  pass.probes.push_back(p);
  pass.verdicts = {{"exit_code", true, "exit 0", "exit 0", ""},
                   {"stdout contains", true, "sum 2021", "", "/expect/stdout/contains/0"},
                   {"events main.add injected", true, "1", "1", "/expect/events/0/injected"}};
  out.push_back(pass);

  record::RunRecord crash = pass;
  crash.file = "scenarios/crash.json";
  crash.name = "an injection that crashes the program";
  crash.status = record::Status::failed;
  crash.exit_code = 2;
  crash.stdout_text = "";
  crash.stderr_text =
      "panic: runtime error: index out of range [2021] with length 3\n\ngoroutine 1 [running]:\nmain.use(...)\n";
  crash.verdicts = {{"exit_code", false, "exit 0", "exit 2", ""},
                    {"stdout contains", false, "sum 2021", "", "/expect/stdout/contains/0"}};
  crash.diagnosis = record::Diagnosis{"go_panic",
                                      "panic: runtime error: index out of range [2021] with length 3",
                                      "main.use at /src/main.go:25",
                                      true,
                                      "main.add (1 injection, first at call 1)",
                                      crash.stderr_text};
  out.push_back(crash);

  record::RunRecord vm = pass;
  vm.file = "scenarios/set-regs.json";
  vm.name = "a register written [go1.24]";
  vm.where = "vm";
  out.push_back(vm);

  record::RunRecord skip;
  skip.file = "scenarios/return-early.json";
  skip.name = "an early return";
  skip.status = record::Status::skipped;
  skip.kernel = "6.18.0";
  skip.error = Error{ErrorKind::unsupported,
                     "",
                     "needs write_ip, which this kernel (6.18.0) refuses: lockdown",
                     "`bpfault run --vm=always`",
                     {}};
  out.push_back(skip);

  record::RunRecord bad;
  bad.file = "scenarios/typo.json";
  bad.name = "typo";
  bad.status = record::Status::error;
  bad.error = Error{ErrorKind::bad_input,
                    "scenarios/typo.json:/probes/0/function",
                    "no function main.ad in the binary",
                    "did you mean main.add?",
                    {}};
  out.push_back(bad);
  return out;
}

namespace {
std::vector<record::RunRecord> suite() { return golden_suite(); }

const fs::path kGolden = fs::path(BPFAULT_SOURCE_DIR) / "tests" / "report" / "golden";

void expect_golden(const std::string& name, const std::string& actual) {
  const fs::path file = kGolden / name;
  if (const char* update = std::getenv("BPFAULT_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::ofstream(file, std::ios::binary) << actual;
    return;
  }
  std::ifstream in(file, std::ios::binary);
  ASSERT_TRUE(in) << file << " is missing: BPFAULT_UPDATE_GOLDEN=1 writes it";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(actual, expected.str()) << "the report differs from " << file << " (BPFAULT_UPDATE_GOLDEN=1 rewrites it)";
}

const Ending kEnding = [] {
  Ending e{1, 0, {"the VM ran under TCG (no /dev/kvm): booted in 9.0 s"}};
  e.started_at = "2026-12-05T07:31:02.118Z";
  e.hostname = "ci-runner-7";
  e.version = "0.1.0";
  e.argv = {"bpfault", "run", "--junit", "out.xml", "scenarios"};
  return e;
}();

TEST(Golden, Console) {
  set_color_mode(ColorMode::never);
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&buf, &size);
  {
    Console console(out, /*verbose=*/true);
    const auto records = suite();
    console.suite_start(records.size(), "native, or in a VM where this kernel lacks a capability");
    for (const auto& r : records) console.scenario_end(r);
    console.suite_end(records, 1234);
  }
  std::fclose(out);
  const std::string text(buf, size);
  std::free(buf);
  expect_golden("console.txt", text);
}

TEST(Golden, Junit) { expect_golden("junit.xml", junit_document(suite(), 1234, kEnding)); }

TEST(Golden, Json) { expect_golden("report.json", json::parse(json_document(suite(), 1234, kEnding)).dump(2) + "\n"); }

}  // namespace
}  // namespace bpfault::report
