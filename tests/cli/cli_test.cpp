// Runs build/bpfault as a user would and checks exit codes, messages and report files.
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "process/child.h"
#include "support/fixtures.h"

namespace bpfault {
namespace {
namespace fs = std::filesystem;

process::Outcome bpfault(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  process::Command cmd;
  cmd.env = std::move(env);
  cmd.argv = {BPFAULT_EXE};
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  cmd.timeout = std::chrono::seconds(120);
  auto r = process::run(cmd);
  EXPECT_TRUE(r) << (r ? "" : r.error().format());
  return r ? *r : process::Outcome{};
}

std::string here(const std::string& f) { return (test::source_dir() / "tests" / "cli" / f).string(); }
std::string scenario(const std::string& f) { return (test::source_dir() / "scenarios" / f).string(); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::can_load_bpf()) GTEST_SKIP() << "needs root to load BPF programs (CAP_BPF, CAP_PERFMON)";
  }
};

TEST(CliUsage, TypoExitsTwoNamingFilePointerAndKey) {
  auto r = bpfault({"run", here("typo.json")});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.out.find(here("typo.json") + ":/probes/0/fucntion: error: unknown key \"fucntion\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did you mean \"function\"?"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[  ERROR   ]"), std::string::npos) << r.out;
}

TEST(CliUsage, UnknownOptionIsUsageError) {
  auto r = bpfault({"run", "--no-such-option", "x.json"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(CliUsage, MissingFileIsBadInput) {
  auto r = bpfault({"run", "/nonexistent/scenario.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("/nonexistent/scenario.json: error: no such file"), std::string::npos) << r.out;
}

TEST_F(Cli, SeedPassesAndWritesJUnit) {
  fs::path junit = fs::temp_directory_path() / fmt::format("bpfault-junit-{}.xml", getpid());
  fs::path json = fs::temp_directory_path() / fmt::format("bpfault-run-{}.json", getpid());
  auto r = bpfault({"run", scenario("seed-trace-args.json"), "--junit", junit.string(), "--json", json.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[       OK ] seed: ebpfDemo is called once"), std::string::npos) << r.out;
  std::string xml = slurp(junit);
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u) << xml;
  EXPECT_NE(xml.find("<testsuites name=\"bpfault\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\""), std::string::npos) << xml;
  EXPECT_EQ(count(xml, "<testcase "), 1u);
  EXPECT_EQ(count(xml, "</testcase>"), 1u);
  EXPECT_EQ(count(xml, "<failure"), 0u);
  std::string record = slurp(json);
  EXPECT_NE(record.find("\"a1\": 100"), std::string::npos) << record;
  EXPECT_NE(record.find("\"a2\": true"), std::string::npos) << record;
  fs::remove(junit);
  fs::remove(json);
}

TEST_F(Cli, WrongExpectedValueFailsWithDiff) {
  auto r = bpfault({"run", here("must-fail/wrong-arg-value.json")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find(":/expect/events/0/args/a1: Failure"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("events main.ebpfDemo args.a1\n    expected: 2021\n    actual:   100 at call 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[  FAILED  ]"), std::string::npos);
}

TEST_F(Cli, WrongStdoutAndCountFailWithBoth) {
  auto r = bpfault({"run", here("must-fail/wrong-stdout.json")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("stdout contains\n    expected: a1=2021\n    actual:   ebpfDemo:: a1=100"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("events main.ebpfDemo count\n    expected: 2\n    actual:   1"), std::string::npos) << r.out;
}

TEST_F(Cli, OneBadFileDoesNotStopTheSuite) {
  fs::path junit = fs::temp_directory_path() / fmt::format("bpfault-suite-{}.xml", getpid());
  auto r = bpfault({"run", here("typo.json"), scenario("seed-trace-args.json"), here("must-fail/wrong-arg-value.json"), "--junit", junit.string()});
  EXPECT_EQ(r.exit_code, 2) << r.out;  // bad input outranks a failure
  EXPECT_NE(r.out.find("[       OK ] seed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[  FAILED  ] must fail"), std::string::npos) << r.out;
  std::string xml = slurp(junit);
  EXPECT_NE(xml.find("tests=\"3\" failures=\"1\" errors=\"1\" skipped=\"0\""), std::string::npos) << xml;
  fs::remove(junit);
}

}  // namespace
}  // namespace bpfault

namespace bpfault {
namespace {

TEST_F(Cli, TracePrintsArgumentsAndTheFourFrames) {
  fs::path demo = test::fixture("demo");
  auto r = bpfault({"trace", demo.string(), "main.ebpfDemo", "--stack", "--ret", "--hist"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ebpfDemo:: a1=100, a2=true a3=66.88"), std::string::npos) << r.out;  // the program's own output
  EXPECT_NE(r.err.find("main.ebpfDemo(a1=100, a2=true) goid=1 call=1"), std::string::npos) << r.err;
  size_t at = r.err.find("    main.ebpfDemo+0x");
  ASSERT_NE(at, std::string::npos) << r.err;
  for (const char* f : {"\n    main.main+0x", "\n    runtime.main+0x", "\n    runtime.goexit+0x"}) {
    at = r.err.find(f, at);
    EXPECT_NE(at, std::string::npos) << f << " missing or out of order in\n" << r.err;
  }
  EXPECT_NE(r.err.find("main.ebpfDemo returned r1=100, r2=200, r3=\"test for ebpf\" in "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("main.ebpfDemo: 1 calls, 1 returns"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("@usecs[main.ebpfDemo]"), std::string::npos) << r.err;
}

TEST_F(Cli, TraceExitStatusIsTheTracees) {
  fs::path crash = test::fixture("crash");
  auto r = bpfault({"trace", crash.string(), "main.work", "--count"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("main.work: 5 calls"), std::string::npos) << r.err;
  fs::path readfile = test::fixture("readfile");
  r = bpfault({"trace", readfile.string(), "os.ReadFile", "--count"});  // no arguments: usage error of the program
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("usage: readfile COUNT PATH"), std::string::npos) << r.err;
}

// A second process reads the first one's analysis from $BPFAULT_CACHE/analysis and prints
// exactly the same; BPFAULT_NO_ANALYSIS_CACHE=1 writes nothing.
TEST(CliCache, AnalysesAreKeptForTheNextProcess) {
  const fs::path bin = test::fixture("sigs");
  ASSERT_FALSE(bin.empty());
  const fs::path cache = fs::path(BPFAULT_BINARY_DIR) / "test-tmp" / fmt::format("cli-cache-{}", getpid());
  fs::remove_all(cache);
  const std::map<std::string, std::string> env{{"BPFAULT_CACHE", cache.string()}};

  auto off = bpfault({"list", "-v", bin.string()}, {{"BPFAULT_CACHE", cache.string()}, {"BPFAULT_NO_ANALYSIS_CACHE", "1"}});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_FALSE(fs::exists(cache / "analysis"));

  auto first = bpfault({"list", "-v", bin.string()}, env);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_TRUE(fs::exists(cache / "analysis"));
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(cache / "analysis")) files += e.path().extension() == ".bin";
  EXPECT_EQ(files, 1u);
  const auto written = fs::last_write_time(*fs::directory_iterator(cache / "analysis"));

  auto second = bpfault({"list", "-v", bin.string()}, env);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, first.out);
  EXPECT_EQ(second.out, off.out);
  EXPECT_EQ(fs::last_write_time(*fs::directory_iterator(cache / "analysis")), written) << "a hit must not rewrite the file";
  fs::remove_all(cache);
}

TEST(CliUsage, TraceUnknownFunctionIsBadInput) {
  auto r = bpfault({"trace", test::fixture("demo").string(), "main.ebpfDem"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean main.ebpfDemo?"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bpfault
