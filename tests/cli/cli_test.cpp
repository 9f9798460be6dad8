// Runs build/bpfault as a user would and checks exit codes, messages and report files.
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process/child.h"
#include "support/fixtures.h"
#include "support/schema.h"

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
  EXPECT_NE(r.out.find(here("typo.json") + ":/probes/0/fucntion: error: unknown key \"fucntion\""), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("did you mean \"function\"?"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[  ERROR   ]"), std::string::npos) << r.out;
}

TEST(CliUsage, UnknownOptionIsUsageError) {
  auto r = bpfault({"run", "--no-such-option", "x.json"});
  EXPECT_EQ(r.exit_code, 2);
}

// `--json -`: the record alone on stdout (it parses), the console report on stderr.
TEST(CliUsage, JsonDashWritesTheRecordToStdoutAndTheConsoleToStderr) {
  auto r = bpfault({"run", "--json", "-", here("typo.json")});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["exit_code"], 2);
  EXPECT_EQ(j["summary"]["errors"], 1);
  EXPECT_NE(r.err.find("unknown key \"fucntion\""), std::string::npos) << r.err;
  auto both = bpfault({"run", "--json", "-", "--junit", "-", here("typo.json")});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("would both write to stdout"), std::string::npos) << both.err;
}

// --list names every run the options select and nothing else; --run selects by name.
TEST(CliUsage, ListNamesTheRunsAndRunSelectsThemByName) {
  const std::string dir = (test::source_dir() / "scenarios").string();
  auto all = bpfault({"run", "--list", dir});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_GT(count(all.out, "\n"), 20u) << all.out;
  EXPECT_EQ(all.err, "");
  auto one =
      bpfault({"run", "--list", "--run", "takes the other branch", "--go", "1.19,newest", "--variants", "all", dir});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out,
            "check() returns false instead of true: the program takes the other branch [go1.19, amd64]\n"
            "check() returns false instead of true: the program takes the other branch [go1.19, 386]\n"
            "check() returns false instead of true: the program takes the other branch [gonewest, amd64]\n"
            "check() returns false instead of true: the program takes the other branch [gonewest, 386]\n");
  auto none = bpfault({"run", "--run", "no scenario is called this", dir});
  EXPECT_EQ(none.exit_code, 2) << none.out;
  EXPECT_NE(none.err.find("--run matched no name"), std::string::npos) << none.err;
  auto bad = bpfault({"run", "--run", "(", dir});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("not a regular expression"), std::string::npos) << bad.err << bad.out;
}

TEST_F(Cli, RunRunsOnlyWhatRunSelects) {
  auto r = bpfault(
      {"run", "--vm=never", "--run", "^seed: ebpfDemo is called once", (test::source_dir() / "scenarios").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[==========] 1 scenario ran"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seed: ebpfDemo is called once with a1=100, a2=true"), std::string::npos) << r.out;
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
  EXPECT_NE(xml.find("<testsuites name=\"bpfault\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\""),
            std::string::npos)
      << xml;
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
  EXPECT_NE(r.out.find("events main.ebpfDemo args.a1\n    expected: 2021\n    actual:   100 at call 1"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[  FAILED  ]"), std::string::npos);
}

TEST_F(Cli, WrongStdoutAndCountFailWithBoth) {
  auto r = bpfault({"run", here("must-fail/wrong-stdout.json")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("stdout contains\n    expected: a1=2021\n    actual:   ebpfDemo:: a1=100"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("events main.ebpfDemo count\n    expected: 2\n    actual:   1"), std::string::npos) << r.out;
}

TEST_F(Cli, OneBadFileDoesNotStopTheSuite) {
  fs::path junit = fs::temp_directory_path() / fmt::format("bpfault-suite-{}.xml", getpid());
  auto r = bpfault({"run", here("typo.json"), scenario("seed-trace-args.json"), here("must-fail/wrong-arg-value.json"),
                    "--junit", junit.string()});
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

// A function without a RET is traced at its call; --ret says it has nothing to show for it.
TEST_F(Cli, TraceRetOfAFunctionWithoutARetSaysWhy) {
  auto r = bpfault({"trace", test::fixture("sigs").string(), "main.fPanic", "--ret"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("main.fPanic(n=13) goid=1 call=1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("main.fPanic has no RET: it never returns to its caller (it panics, exits or loops); --ret "
                       "prints no results for it"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("main.fPanic: 1 calls\n"), std::string::npos) << r.err;
}

// --stack prints Go's traceback: io.ReadFull, inlined into main.fill, is a frame of its own,
// marked, between io.ReadAtLeast and main.fill.
TEST_F(Cli, TraceStackShowsInlinedFramesInOrder) {
  auto r = bpfault({"trace", test::fixture("tracebacks").string(), "main.(*slowReader).Read", "--stack"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  size_t at = r.err.find("    main.(*slowReader).Read+0x");
  ASSERT_NE(at, std::string::npos) << r.err;
  for (const char* f :
       {"\n    io.ReadAtLeast+0x", "\n    io.ReadFull /", "\n    main.fill+0x", "\n    main.readFile+0x",
        "\n    main.main+0x", "\n    runtime.main+0x", "\n    runtime.goexit+0x"}) {
    at = r.err.find(f, at);
    EXPECT_NE(at, std::string::npos) << f << " missing or out of order in\n" << r.err;
  }
  EXPECT_NE(r.err.find("/io/io.go:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" (inlined)\n    main.fill+0x"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("cut:"), std::string::npos) << r.err;
}

// trace's lines with --time, as (time, call or RET, goid, call number); stack frames left out.
struct TraceLine {
  double t;
  bool ret;
  int64_t goid;
  uint64_t call;  // 0 on a RET that does not name its call
  std::string text;
};
// trace's summary at the end (the whole output can be tens of thousands of lines).
std::string summary(const std::string& err) {
  const size_t at = err.rfind("\n--- ");
  return at == std::string::npos ? err.substr(err.size() > 2000 ? err.size() - 2000 : 0) : err.substr(at);
}
std::vector<TraceLine> trace_lines(const std::string& err, const std::string& function) {
  const std::regex call("^([0-9]+\\.[0-9]{6}) " + function + "\\(.*\\) goid=([0-9]+) call=([0-9]+)$");
  const std::regex ret("^([0-9]+\\.[0-9]{6}) " + function + " returned .* goid=([0-9]+)(?: call=([0-9]+))?$");
  std::vector<TraceLine> out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    const bool is_call = std::regex_match(line, m, call);
    if (!is_call && !std::regex_match(line, m, ret)) continue;
    out.push_back({std::stod(m[1]), !is_call, std::stoll(m[2]), m[3].matched ? std::stoull(m[3]) : 0, line});
  }
  return out;
}

// Issue 15: with --ret, lines come in time order and a RET's line after its own call's. The
// recursion with --stack is what used to print every RET first (a drain's hits with stacks
// were printed after those without); --hist makes each RET name its call, paired by goroutine
// and depth, so the RETs must close the calls innermost first.
TEST_F(Cli, TraceRetLinesFollowTheirCallsInTimeOrderInARecursion) {
  for (bool hist : {true, false}) {
    std::vector<std::string> args = {"trace", test::fixture("deep").string(), "main.descend", "--ret", "--stack",
                                     "--time"};
    if (hist) args.push_back("--hist");
    args.insert(args.end(), {"--", "300"});
    auto r = bpfault(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("calls=301 bottom=1"), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find("out of time order"), std::string::npos) << summary(r.err);
    const auto lines = trace_lines(r.err, "main\\.descend");
    ASSERT_EQ(lines.size(), 602u) << summary(r.err);
    std::vector<uint64_t> open;  // calls not returned from yet, innermost last
    uint64_t calls = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      const TraceLine& l = lines[i];
      SCOPED_TRACE(fmt::format("--hist {}, line {}: {}", hist, i, l.text));
      if (i) {
        ASSERT_GE(l.t, lines[i - 1].t) << "time went back after: " << lines[i - 1].text;
      }
      if (!l.ret) {
        ASSERT_EQ(l.call, ++calls);  // numbered as they happen
        open.push_back(l.call);
        continue;
      }
      ASSERT_FALSE(open.empty()) << "a RET before any open call";
      if (hist) {
        ASSERT_EQ(l.call, open.back()) << "a RET that is not the innermost open call's";
      }
      open.pop_back();
    }
    EXPECT_TRUE(open.empty());
  }
}

// The same across goroutines on several threads: 8 goroutines recurse and yield at the bottom
// (they resume on other threads). Time never goes back, and every RET comes after the call it
// names, on the same goroutine (--stack: a call and its RET come as different kinds of record).
TEST_F(Cli, TraceRetLinesFollowTheirCallsInTimeOrderAcrossGoroutines) {
  auto r = bpfault({"trace", test::fixture("stress").string(), "main.descend", "--ret", "--hist", "--stack", "--time",
                    "--", "8", "5", "30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ok calls=1240/1240"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("out of time order"), std::string::npos) << summary(r.err);
  const auto lines = trace_lines(r.err, "main\\.descend");
  ASSERT_EQ(lines.size(), 2480u) << summary(r.err);
  std::map<uint64_t, int64_t> open;  // call -> goid
  std::set<int64_t> goroutines;
  for (size_t i = 0; i < lines.size(); ++i) {
    const TraceLine& l = lines[i];
    SCOPED_TRACE(fmt::format("line {}: {}", i, l.text));
    if (i) {
      ASSERT_GE(l.t, lines[i - 1].t) << "time went back after: " << lines[i - 1].text;
    }
    goroutines.insert(l.goid);
    if (!l.ret) {
      ASSERT_TRUE(open.emplace(l.call, l.goid).second);
      continue;
    }
    auto c = open.find(l.call);
    ASSERT_NE(c, open.end()) << "a RET before its call";
    ASSERT_EQ(c->second, l.goid);
    open.erase(c);
  }
  EXPECT_TRUE(open.empty());
  EXPECT_EQ(goroutines.size(), 8u);
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

// Words after `--` are the program's, options included; bpfault's stdin reaches its stdin.
TEST_F(Cli, TraceGivesTheProgramItsArgumentsAndStdin) {
  process::Command cmd;
  cmd.argv = {BPFAULT_EXE,  "trace", test::fixture("readfile").string(), "os.ReadFile", "--count", "--", "2",
              "/dev/stdin", "--ret"};
  cmd.stdin_data = "seventeen bytes!\n";
  cmd.timeout = std::chrono::seconds(120);
  auto r = process::run(cmd);
  ASSERT_TRUE(r) << r.error().format();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  // The first read takes stdin whole; the second finds it at EOF; "--ret" is a path the program
  // was given (not bpfault's flag: no returns are traced), and does not exist.
  EXPECT_NE(r->out.find("read /dev/stdin: ok 17 bytes\nread --ret: not exist\nread /dev/stdin: ok 0 bytes\n"),
            std::string::npos)
      << r->out;
  EXPECT_NE(r->err.find("os.ReadFile: 4 calls\n"), std::string::npos) << r->err;
}

// `bpfault new`: one run becomes a scenario whose expectations are what the program did, and
// that scenario passes when run as written.
TEST_F(Cli, NewWritesAScenarioThatPassesOnTheProgramItCameFrom) {
  const fs::path out = fs::path(BPFAULT_BINARY_DIR) / "test-tmp" / fmt::format("new-{}", getpid()) / "demo.json";
  fs::create_directories(out.parent_path());
  const std::string fixtures = (test::source_dir() / "fixtures").string();
  auto r = bpfault({"new", fixtures + "/demo", "main.ebpfDemo", "-o", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(slurp(out), nullptr, false);
  ASSERT_TRUE(j.is_object()) << slurp(out);
  EXPECT_EQ(j["target"]["fixture"], "demo");
  EXPECT_EQ(j["probes"][0]["function"], "main.ebpfDemo");
  const auto& ev = j["expect"]["events"][0];
  EXPECT_EQ(ev["count"], 1);
  EXPECT_EQ(ev["args"], nlohmann::json({{"a1", 100}, {"a2", true}}));
  EXPECT_EQ(ev["results"]["r3"], "test for ebpf");
  EXPECT_EQ(j["expect"]["exit_code"], 0);
  EXPECT_EQ(j["expect"]["stdout"]["contains"][0], "ebpfDemo:: a1=100, a2=true a3=66.88");
  EXPECT_TRUE(fs::exists(out.parent_path() / fs::path(j["$schema"].get<std::string>()))) << j["$schema"];
  auto again = bpfault({"run", out.string(), "--fixtures", fixtures});
  EXPECT_EQ(again.exit_code, 0) << again.out;

  // Program arguments after --; values that differ between calls are named, not expected.
  auto counted = bpfault({"new", test::fixture("count").string(), "main.tick", "--", "4"});
  ASSERT_EQ(counted.exit_code, 0) << counted.err;
  auto c = nlohmann::json::parse(counted.out, nullptr, false);
  ASSERT_TRUE(c.is_object()) << counted.out;
  EXPECT_EQ(c["target"]["args"], nlohmann::json({"4"}));
  EXPECT_EQ(c["expect"]["events"][0]["count"], 4);
  EXPECT_FALSE(c["expect"]["events"][0].contains("args"));
  EXPECT_NE(c["description"].get<std::string>().find(
                "main.tick: i, ~r0 differed between calls or are not text (first seen: i=1, ~r0=1)"),
            std::string::npos);
  fs::remove_all(out.parent_path());

  // Output and a recorded string that are not UTF-8 (a scenario file cannot hold them) are
  // left out of the expectations, not mangled, and do not abort bpfault.
  auto bytes = bpfault({"new", fixtures + "/notutf8", "main.greet"});
  ASSERT_EQ(bytes.exit_code, 0) << bytes.err;
  auto b = nlohmann::json::parse(bytes.out, nullptr, false);
  ASSERT_TRUE(b.is_object()) << bytes.out;
  EXPECT_EQ(b["expect"]["stdout"]["contains"], nlohmann::json({"ok"}));
  EXPECT_FALSE(b["expect"]["events"][0].contains("args")) << b.dump(2);
  EXPECT_EQ(b["expect"]["events"][0]["results"]["~r0"], 69);
}

// A second process reads the first one's analysis from $BPFAULT_CACHE/analysis and prints
// exactly the same; BPFAULT_NO_ANALYSIS_CACHE=1 writes nothing.
TEST(CliCache, AnalysesAreKeptForTheNextProcess) {
  const fs::path bin = test::fixture("sigs");
  ASSERT_FALSE(bin.empty());
  const fs::path cache = fs::path(BPFAULT_BINARY_DIR) / "test-tmp" / fmt::format("cli-cache-{}", getpid());
  fs::remove_all(cache);
  const std::map<std::string, std::string> env{{"BPFAULT_CACHE", cache.string()}};

  auto off =
      bpfault({"list", "-v", bin.string()}, {{"BPFAULT_CACHE", cache.string()}, {"BPFAULT_NO_ANALYSIS_CACHE", "1"}});
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
  EXPECT_EQ(fs::last_write_time(*fs::directory_iterator(cache / "analysis")), written)
      << "a hit must not rewrite the file";
  fs::remove_all(cache);
}

// `list GLOB` analyses what GLOB names, kept under that focus; the whole analysis, once made,
// answers every later focus without another file.
TEST(CliCache, AGlobIsAnalysedAloneUntilTheWholeBinaryIs) {
  const fs::path bin = test::fixture("sigs");
  ASSERT_FALSE(bin.empty());
  const fs::path cache = fs::path(BPFAULT_BINARY_DIR) / "test-tmp" / fmt::format("cli-focus-{}", getpid());
  fs::remove_all(cache);
  const std::map<std::string, std::string> env{{"BPFAULT_CACHE", cache.string()}};
  auto kept = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(cache / "analysis"))
      if (e.path().extension() == ".bin") names.push_back(e.path().filename().string());
    std::ranges::sort(names);
    return names;
  };
  auto one = bpfault({"list", "-v", bin.string(), "main.fInts"}, env);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("main.fInts("), std::string::npos) << one.out;
  EXPECT_EQ(one.out.find("main.fBool"), std::string::npos) << one.out;
  ASSERT_EQ(kept().size(), 1u);
  EXPECT_NE(kept()[0].find("-full-focus-"), std::string::npos) << kept()[0];

  auto whole = bpfault({"list", "-v", bin.string()}, env);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  ASSERT_EQ(kept().size(), 2u);
  // the focused listing is the whole one's lines for that function
  const size_t at = whole.out.find("uprobe:" + bin.string() + ":main.fInts\n");
  ASSERT_NE(at, std::string::npos) << whole.out;
  const size_t block = one.out.find("uprobe:" + bin.string() + ":main.fInts\n");
  ASSERT_NE(block, std::string::npos) << one.out;
  EXPECT_EQ(whole.out.substr(at, one.out.size() - block), one.out.substr(block));

  auto other = bpfault({"list", "-v", bin.string(), "main.fBool"}, env);
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_NE(other.out.find("main.fBool("), std::string::npos) << other.out;
  EXPECT_EQ(kept().size(), 2u) << "the whole analysis answers it: nothing new is kept";
  fs::remove_all(cache);
}

TEST(CliUsage, TraceUnknownFunctionIsBadInput) {
  auto r = bpfault({"trace", test::fixture("demo").string(), "main.ebpfDem"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean main.ebpfDemo?"), std::string::npos) << r.err;
}

// --html - and --trace-json - own stdout as --json - does (the console goes to stderr); two
// reports cannot share it.
TEST(CliUsage, HtmlAndTraceJsonWriteToStdout) {
  auto html = bpfault({"run", "--html", "-", here("typo.json")});
  EXPECT_EQ(html.exit_code, 2) << html.out << html.err;
  EXPECT_EQ(html.out.rfind("<!DOCTYPE html>", 0), 0u) << html.out;
  EXPECT_NE(html.out.find("<span class=\"chip error\">1 error</span>"), std::string::npos) << html.out;
  EXPECT_NE(html.err.find("unknown key \"fucntion\""), std::string::npos) << html.err;
  auto trace = bpfault({"run", "--trace-json", "-", here("typo.json")});
  auto j = nlohmann::json::parse(trace.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << trace.out;
  EXPECT_EQ(j["otherData"]["exit_code"], 2);
  auto both = bpfault({"run", "--html", "-", "--trace-json", "-", here("typo.json")});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("--html - and --trace-json - would both write to stdout"), std::string::npos) << both.err;
}

}  // namespace
}  // namespace bpfault

// Suite controls (README, "Commands"): --count, --shard and the CI engines' variables, DIR/...,
// --fail-fast, --rerun-failed, --timeout, and `bpfault merge`.
namespace bpfault {
namespace {

// Every variable a CI engine sets to shard a test: none may leak in from whoever runs this test.
const std::vector<std::string> kShardVars = {"TEST_SHARD_INDEX",    "TEST_TOTAL_SHARDS",  "TEST_SHARD_STATUS_FILE",
                                             "GTEST_SHARD_INDEX",   "GTEST_TOTAL_SHARDS", "JOB_COMPLETION_INDEX",
                                             "BPFAULT_TOTAL_SHARDS"};

process::Outcome run_bpfault(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                             fs::path cwd = {}) {
  process::Command cmd;
  cmd.env = std::move(env);
  cmd.unset_env = kShardVars;
  for (const auto& [k, v] : cmd.env) std::erase(cmd.unset_env, k);
  cmd.cwd = std::move(cwd);
  cmd.argv = {BPFAULT_EXE};
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  cmd.timeout = std::chrono::seconds(300);
  auto r = process::run(cmd);
  EXPECT_TRUE(r) << (r ? "" : r.error().format());
  return r ? *r : process::Outcome{};
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::vector<std::string> names_in(const nlohmann::json& record) {
  std::vector<std::string> out;
  for (const auto& s : record["scenarios"]) out.push_back(s["name"]);
  return out;
}

nlohmann::json record_at(const fs::path& file) {
  auto j = nlohmann::json::parse(slurp(file), nullptr, false);
  EXPECT_TRUE(j.is_object()) << file;
  return j;
}

const nlohmann::json& record_schema() {
  static const nlohmann::json s =
      nlohmann::json::parse(slurp(test::source_dir() / "harness" / "record" / "run-record-v1.schema.json"));
  return s;
}

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::path(BPFAULT_BINARY_DIR) / "test-tmp" / fmt::format("{}-{}", name, getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

const std::string kSuite = here("suite");

TEST(CliUsage, SuiteControlsRefuseBadValuesWithExitTwo) {
  const std::string demo = here("suite/called-once.json");
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--shard", "3/2"}, {}, "--shard 3/2: error: shard 3 of 2 does not exist"},
      {{"--shard", "1/0"}, {}, "shard 1 of 0 does not exist"},
      {{"--shard", "a/b"}, {}, "shard a of b does not exist"},
      {{"--count", "0"}, {}, "--count 0: error: expected a positive number of times"},
      {{"--timeout", "5x"}, {}, "--timeout 5x: error: expected a Go duration"},
      {{"--timeout", "90"}, {}, "expected a Go duration"},
      {{"--rerun-failed", "/nonexistent/record.json"},
       {},
       "--rerun-failed /nonexistent/record.json: error: cannot read the record"},
      {{"--rerun-failed", demo}, {}, "not a run record"},
      {{}, {{"TEST_TOTAL_SHARDS", "2"}}, "TEST_TOTAL_SHARDS is set without TEST_SHARD_INDEX"},
      {{}, {{"GTEST_TOTAL_SHARDS", "2"}, {"GTEST_SHARD_INDEX", "2"}}, "shard 2 of 2 does not exist"},
      {{}, {{"BPFAULT_TOTAL_SHARDS", "2"}}, "a total of 2 shards, but no index"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"run", "--list"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.push_back(demo);
    auto r = run_bpfault(args, c.env);
    EXPECT_EQ(r.exit_code, 2) << fmt::format("{}", fmt::join(args, " ")) << r.out << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << fmt::format("{}", fmt::join(args, " ")) << "\n" << r.err;
    EXPECT_EQ(r.out, "");
  }
  auto not_a_folder = run_bpfault({"run", "--list", here("nowhere/...")});
  EXPECT_EQ(not_a_folder.exit_code, 2);
  EXPECT_NE(not_a_folder.err.find("is not a folder"), std::string::npos) << not_a_folder.err;
  auto merge_bad = run_bpfault({"merge", "/tmp/never-written.json", "/nonexistent/shard.json"});
  EXPECT_EQ(merge_bad.exit_code, 2);
  EXPECT_NE(merge_bad.err.find("/nonexistent/shard.json: error: cannot read the record"), std::string::npos)
      << merge_bad.err;
  auto trace_runs = run_bpfault({"trace", test::fixture("demo").string(), "main.ebpfDemo", "--runs", "0"});
  EXPECT_EQ(trace_runs.exit_code, 2);
  EXPECT_NE(trace_runs.err.find("--runs 0: error: expected a positive number of runs"), std::string::npos)
      << trace_runs.err;
}

// DIR is its *.json; DIR/... is every scenario under it, as go's ./... (not folders starting
// with _ or ., not data files without "version").
TEST(CliUsage, DirDotDotDotFindsTheScenariosOfSubfolders) {
  auto flat = run_bpfault({"run", "--list", kSuite});
  ASSERT_EQ(flat.exit_code, 0) << flat.err;
  EXPECT_EQ(lines(flat.out),
            (std::vector<std::string>{"suite: ebpfDemo gets a1=100, a2=true", "suite: ebpfDemo is called once"}));
  auto deep = run_bpfault({"run", "--list", kSuite + "/..."});
  ASSERT_EQ(deep.exit_code, 0) << deep.err;
  EXPECT_EQ(lines(deep.out),
            (std::vector<std::string>{"suite: ebpfDemo gets a1=100, a2=true", "suite: ebpfDemo is called once",
                                      "suite: main prints its results"}));
  auto from_here = run_bpfault({"run", "--list", "./..."}, {}, kSuite);
  EXPECT_EQ(from_here.out, deep.out) << from_here.err;
}

// --list shows what each shard runs: --count's repeats are runs of their own, every run is in
// exactly one shard whichever way the shard is given, and the option beats the environment.
TEST(CliUsage, ListShowsEachShardAndTheShardsPartitionTheRuns) {
  const std::string dir = (test::source_dir() / "scenarios").string();
  const std::vector<std::string> base = {"run", "--list", "--count", "2", "--variants", "all", dir};
  auto all = run_bpfault(base);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const auto every = lines(all.out);
  ASSERT_GT(every.size(), 40u);
  EXPECT_EQ(every[1], every[0] + " #2");
  const fs::path status = scratch("shard-status") / "status";
  for (size_t total : {1u, 3u, 7u}) {
    std::vector<std::string> joined;
    for (size_t index = 0; index < total; ++index) {
      auto with = [&](std::vector<std::string> extra, std::map<std::string, std::string> env = {}) {
        std::vector<std::string> args = base;
        args.insert(args.end() - 1, extra.begin(), extra.end());
        auto r = run_bpfault(args, env);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return lines(r.out);
      };
      const auto by_option = with({"--shard", fmt::format("{}/{}", index, total)});
      const std::string i = std::to_string(index), n = std::to_string(total);
      EXPECT_EQ(
          with({}, {{"TEST_SHARD_INDEX", i}, {"TEST_TOTAL_SHARDS", n}, {"TEST_SHARD_STATUS_FILE", status.string()}}),
          by_option);
      EXPECT_EQ(with({}, {{"GTEST_SHARD_INDEX", i}, {"GTEST_TOTAL_SHARDS", n}}), by_option);
      EXPECT_EQ(with({}, {{"JOB_COMPLETION_INDEX", i}, {"BPFAULT_TOTAL_SHARDS", n}}), by_option);
      EXPECT_EQ(with({"--shard", n}, {{"JOB_COMPLETION_INDEX", i}}), by_option);
      EXPECT_EQ(with({"--shard", fmt::format("{}/{}", index, total)},
                     {{"GTEST_SHARD_INDEX", "0"}, {"GTEST_TOTAL_SHARDS", "99"}}),
                by_option)
          << "--shard beats the environment";
      for (size_t k = 0; k < by_option.size(); ++k)  // position k of the whole list is in shard k % N
        EXPECT_EQ(by_option[k], every[index + k * total]);
      joined.insert(joined.end(), by_option.begin(), by_option.end());
    }
    std::vector<std::string> sorted_every = every;
    std::sort(joined.begin(), joined.end());
    std::sort(sorted_every.begin(), sorted_every.end());
    EXPECT_EQ(joined, sorted_every) << total << " shards";
  }
  EXPECT_TRUE(fs::exists(status)) << "Bazel's TEST_SHARD_STATUS_FILE is touched";
  fs::remove_all(status.parent_path());
}

// The shards' records, unioned by `bpfault merge`, are exactly the unsharded suite: every run
// once, with its verdicts; the merged record validates against the shipped schema.
TEST_F(Cli, ShardsRunEveryRunOnceAndMergeJoinsTheirRecords) {
  const fs::path dir = scratch("shards");
  const std::vector<std::string> base = {"run", "--count", "2", kSuite + "/..."};
  auto listed = run_bpfault({"run", "--list", "--count", "2", kSuite + "/..."});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  auto expected = lines(listed.out);
  ASSERT_EQ(expected.size(), 6u);
  std::vector<std::string> merge_args = {"merge", (dir / "all.json").string()};
  std::vector<std::string> union_of_shards;
  const std::vector<std::map<std::string, std::string>> envs = {
      {},
      {{"TEST_SHARD_INDEX", "1"}, {"TEST_TOTAL_SHARDS", "3"}},
      {{"JOB_COMPLETION_INDEX", "2"}, {"BPFAULT_TOTAL_SHARDS", "3"}}};
  for (size_t i = 0; i < 3; ++i) {
    const fs::path json = dir / fmt::format("shard-{}.json", i);
    std::vector<std::string> args = base;
    args.insert(args.begin() + 1, {"--json", json.string()});
    if (i == 0) args.insert(args.begin() + 1, {"--shard", "0/3"});
    auto r = run_bpfault(args, envs[i]);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    auto names = names_in(record_at(json));
    EXPECT_EQ(names.size(), 2u) << r.out;
    union_of_shards.insert(union_of_shards.end(), names.begin(), names.end());
    merge_args.push_back(json.string());
  }
  merge_args.insert(merge_args.end(), {"--junit", (dir / "all.xml").string()});
  auto merged = run_bpfault(merge_args);
  EXPECT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_NE(merged.err.find("merged 3 records of 6 runs: 6 passed, 0 failed, 0 skipped, 0 errors"), std::string::npos)
      << merged.err;
  auto all = record_at(dir / "all.json");
  auto merged_names = names_in(all);
  std::sort(expected.begin(), expected.end());
  std::sort(union_of_shards.begin(), union_of_shards.end());
  std::sort(merged_names.begin(), merged_names.end());
  EXPECT_EQ(union_of_shards, expected);
  EXPECT_EQ(merged_names, expected);
  EXPECT_EQ(all["summary"]["passed"], 6);
  EXPECT_EQ(all["exit_code"], 0);
  EXPECT_EQ(all["merged_from"].size(), 3u);
  EXPECT_EQ(test::schema_errors(record_schema(), all), std::vector<std::string>{});
  EXPECT_NE(slurp(dir / "all.xml").find("tests=\"6\" failures=\"0\""), std::string::npos) << slurp(dir / "all.xml");
  fs::remove_all(dir);
}

// --count N: each run N times, the repeats named NAME #2...; each one a test case of its own.
TEST_F(Cli, CountRunsEachRunNTimes) {
  const fs::path json = scratch("count") / "record.json";
  auto r = run_bpfault({"run", "--count", "3", "--json", json.string(), here("suite/called-once.json")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto rec = record_at(json);
  EXPECT_EQ(names_in(rec),
            (std::vector<std::string>{"suite: ebpfDemo is called once", "suite: ebpfDemo is called once #2",
                                      "suite: ebpfDemo is called once #3"}));
  EXPECT_EQ(rec["summary"]["passed"], 3);
  fs::remove_all(json.parent_path());
}

// --fail-fast: after the first failure nothing new starts; the rest are reported as skipped,
// naming the failure, never silently absent.
TEST_F(Cli, FailFastSkipsTheRestSayingWhy) {
  const fs::path json = scratch("fail-fast") / "record.json";
  auto r = run_bpfault({"run", "--fail-fast", "--json", json.string(), here("must-fail/wrong-arg-value.json"), kSuite});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto rec = record_at(json);
  ASSERT_EQ(rec["scenarios"].size(), 3u) << rec.dump(2);
  EXPECT_EQ(rec["scenarios"][0]["status"], "failed");
  for (size_t i : {1u, 2u}) {
    EXPECT_EQ(rec["scenarios"][i]["status"], "skipped");
    EXPECT_EQ(rec["scenarios"][i]["error"]["what"],
              "not run: --fail-fast, after \"must fail: a1 is expected to be 2021 but nothing rewrote it\" failed")
        << rec["scenarios"][i].dump(2);
    EXPECT_EQ(rec["scenarios"][i]["not_started"], "fail_fast");
  }
  EXPECT_FALSE(rec["scenarios"][0].contains("not_started"));
  EXPECT_NE(r.out.find("[  SKIPPED ] 2, listed below"), std::string::npos) << r.out;
  auto without = run_bpfault({"run", here("must-fail/wrong-arg-value.json"), kSuite});
  EXPECT_EQ(without.exit_code, 1);
  EXPECT_NE(without.out.find("[  PASSED  ] 2"), std::string::npos) << without.out;
  fs::remove_all(json.parent_path());
}

// --start-within: no run starts once it has passed; each left is skipped, saying why.
TEST_F(Cli, StartWithinSkipsWhatItDidNotStartSayingWhy) {
  const fs::path json = scratch("start-within") / "record.json";
  auto r = run_bpfault({"run", "--start-within", "0s", "--json", json.string(), kSuite});
  EXPECT_EQ(r.exit_code, 77) << r.out << r.err;
  auto rec = record_at(json);
  ASSERT_EQ(rec["scenarios"].size(), 2u) << rec.dump(2);
  for (const auto& sc : rec["scenarios"]) {
    EXPECT_EQ(sc["status"], "skipped");
    EXPECT_EQ(sc["error"]["what"], "not run: --start-within 0s had passed") << sc.dump(2);
    EXPECT_EQ(sc["not_started"], "start_within");  // what explore's --budget counts on
  }
  auto in_time = run_bpfault({"run", "--start-within", "10m", kSuite});
  EXPECT_EQ(in_time.exit_code, 0) << in_time.out << in_time.err;
  auto bad = run_bpfault({"run", "--start-within", "soon", kSuite});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--start-within soon"), std::string::npos) << bad.err;
  fs::remove_all(json.parent_path());
}

// "hangs": a program still running at its timeout passes, its probe's hits kept; one that ends fails.
TEST_F(Cli, AHangCanBeExpected) {
  const fs::path json = scratch("hangs") / "record.json";
  auto r = run_bpfault({"run", "--json", json.string(), here("expect-hangs.json")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto rec = record_at(json)["scenarios"][0];
  EXPECT_EQ(rec["timed_out"], true) << rec.dump(2);
  EXPECT_GE(rec["probes"][0]["calls"].get<int>(), 1) << rec.dump(2);
  EXPECT_NE(rec["stderr"].get<std::string>().find("goroutine"), std::string::npos) << "Go's goroutine dump";
  auto ends = run_bpfault({"run", here("must-fail/hangs-but-ends.json")});
  EXPECT_EQ(ends.exit_code, 1) << ends.out << ends.err;
  EXPECT_NE(ends.out.find("still running after 5000 ms"), std::string::npos) << ends.out;
  fs::remove_all(json.parent_path());
}

// --rerun-failed RECORD: exactly the runs that failed or erred there, by name.
TEST_F(Cli, RerunFailedRunsExactlyWhatFailed) {
  const fs::path dir = scratch("rerun");
  const std::vector<std::string> files = {here("must-fail/wrong-arg-value.json"), here("must-fail/wrong-stdout.json"),
                                          kSuite};
  std::vector<std::string> first = {"run", "--count", "2", "--json", (dir / "first.json").string()};
  first.insert(first.end(), files.begin(), files.end());
  auto r = run_bpfault(first);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  std::vector<std::string> again = {"run", "--rerun-failed", (dir / "first.json").string(), "--json",
                                    (dir / "again.json").string()};
  again.insert(again.end(), files.begin(), files.end());
  auto rerun = run_bpfault(again);
  EXPECT_EQ(rerun.exit_code, 1) << rerun.out << rerun.err;
  auto names = names_in(record_at(dir / "again.json"));
  std::sort(names.begin(), names.end());
  std::set<std::string> failed;  // a repeat that failed ("NAME #2") reruns its scenario: NAME
  size_t failures = 0;
  const auto first_record = record_at(dir / "first.json");
  for (const auto& s : first_record["scenarios"])
    if (s["status"] == "failed")
      ++failures, failed.insert(std::regex_replace(s["name"].get<std::string>(), std::regex(" #[0-9]+$"), ""));
  EXPECT_EQ(failures, 4u);
  EXPECT_EQ(names, std::vector<std::string>(failed.begin(), failed.end()));
  EXPECT_EQ(names.size(), 2u);
  // A record with nothing failed: nothing to rerun, and that is not a mistake.
  auto pass = run_bpfault({"run", "--json", (dir / "pass.json").string(), kSuite});
  ASSERT_EQ(pass.exit_code, 0) << pass.out;
  auto nothing = run_bpfault({"run", "--rerun-failed", (dir / "pass.json").string(), kSuite});
  EXPECT_EQ(nothing.exit_code, 0) << nothing.err;
  EXPECT_NE(nothing.err.find("nothing to rerun"), std::string::npos) << nothing.err;
  fs::remove_all(dir);
}

// --timeout for the whole run: the running tracee is stopped at the deadline, what had not
// started is not started, both fail as timed out (exit 1), and the reports are written.
TEST_F(Cli, TimeoutStopsTheWholeRunAndReportsWhatDidNotFinish) {
  const fs::path dir = scratch("timeout");
  ASSERT_FALSE(test::fixture("hang").empty());  // built before the clock runs: the deadline is for the runs
  ASSERT_FALSE(test::fixture("demo").empty());
  const auto start = std::chrono::steady_clock::now();
  auto r =
      run_bpfault({"run", "--timeout", "4s", "--json", (dir / "r.json").string(), "--junit", (dir / "r.xml").string(),
                   here("suite/called-once.json"), here("hangs.json"), here("suite/args-as-printed.json")});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_LT(s, 60) << "the hang's own timeout is 300 s";
  auto rec = record_at(dir / "r.json");
  ASSERT_EQ(rec["scenarios"].size(), 3u) << rec.dump(2);
  EXPECT_EQ(rec["scenarios"][0]["status"], "passed");
  EXPECT_EQ(rec["scenarios"][1]["status"], "failed");
  EXPECT_EQ(rec["scenarios"][1]["timed_out"], true);
  EXPECT_EQ(rec["scenarios"][1]["error"]["what"], "timed out: still running when the whole run's --timeout 4s passed");
  EXPECT_EQ(rec["scenarios"][2]["status"], "failed");
  EXPECT_EQ(rec["scenarios"][2]["error"]["what"], "timed out: not started before the whole run's --timeout 4s passed");
  EXPECT_EQ(rec["exit_code"], 1);
  EXPECT_EQ(count(slurp(dir / "r.xml"), "<failure "), 2u);
  fs::remove_all(dir);
}

// The report contracts (README, "The run record"): one <failure> per failed case holding every
// failed check, the file relative to the working folder, timestamp and hostname, a suite name
// without the kernel (a property holds it); the JSON record names bpfault's version, argv and
// start, and validates against the shipped schema.
TEST_F(Cli, ReportsKeepTheirContracts) {
  const fs::path dir = scratch("contracts");
  auto r = run_bpfault({"run", "--json", "r.json", "--junit", "r.xml", here("must-fail/wrong-stdout.json"),
                        here("suite/called-once.json")},
                       {}, dir);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const std::string xml = slurp(dir / "r.xml");
  EXPECT_EQ(count(xml, "<failure "), 1u) << xml;
  const size_t failure = xml.find("<failure ");
  ASSERT_NE(failure, std::string::npos);
  const std::string text = xml.substr(failure, xml.find("</failure>", failure) - failure);
  EXPECT_NE(text.find("stdout contains\nexpected: a1=2021"), std::string::npos) << text;
  EXPECT_NE(text.find("events main.ebpfDemo count\nexpected: 2\nactual:   1"), std::string::npos) << text;
  EXPECT_NE(text.find("(and 1 more failed check)"), std::string::npos) << text;
  EXPECT_NE(xml.find("file=\"" + fs::path(here("suite/called-once.json")).lexically_relative(dir).string() + "\""),
            std::string::npos)
      << xml;
  EXPECT_EQ(xml.find("file=\"/"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testsuite name=\"bpfault (native)\""), std::string::npos) << xml;
  EXPECT_TRUE(std::regex_search(
      xml, std::regex("timestamp=\"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\" hostname=\"[^\"]+\"")))
      << xml;
  EXPECT_NE(xml.find("<property name=\"kernel\" value=\""), std::string::npos);
  auto rec = record_at(dir / "r.json");
  EXPECT_EQ(test::schema_errors(record_schema(), rec), std::vector<std::string>{});
  EXPECT_EQ(rec["argv"][1], "run");
  EXPECT_EQ(rec["argv"].size(), 8u);
  EXPECT_FALSE(rec["bpfault_version"].get<std::string>().empty());
  EXPECT_TRUE(std::regex_match(rec["started_at"].get<std::string>(), std::regex("20[0-9-]{8}T[0-9:]{8}\\.[0-9]{3}Z")))
      << rec["started_at"];
  fs::remove_all(dir);
}

// trace --runs N: the program runs N times; the counts and the histogram are over all of them.
TEST_F(Cli, TraceRunsAddsUpEveryRun) {
  auto r = run_bpfault({"trace", test::fixture("crash").string(), "main.work", "--count", "--hist", "--runs", "3"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("main.work: 15 calls, 15 returns (5, 5, 5 in 3 runs)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("@usecs[main.work]: 15 calls timed"), std::string::npos) << r.err;
  EXPECT_EQ(count(r.err, "--- run "), 3u) << r.err;
  EXPECT_NE(r.err.find(" (3 runs)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bpfault

// Issue 20, item 4: mistakes are loud.
namespace bpfault {
namespace {

TEST(CliUsage, MistakesAreLoud) {
  const std::string seed = scenario("seed-trace-args.json");
  auto arm = bpfault({"run", "--variants", "arm64", seed});
  EXPECT_EQ(arm.exit_code, 2);
  EXPECT_NE(arm.err.find("--variants arm64: unknown build 'arm64'"), std::string::npos) << arm.err;
  auto go = bpfault({"run", "--go", "1.999", seed});
  EXPECT_EQ(go.exit_code, 2);
  EXPECT_NE(go.err.find("--go 1.999"), std::string::npos) << go.err;
  auto typo = bpfault({"rn", seed});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("unknown command 'rn'; did you mean 'run'?"), std::string::npos) << typo.err;
  auto help = bpfault({"help", "run"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* control :
       {"--run", "--list", "--count", "--fail-fast", "--timeout", "--rerun-failed", "--shard", "--seed", "--json",
        "--junit", "--variants", "--go", "TEST_TOTAL_SHARDS", "GTEST_TOTAL_SHARDS", "JOB_COMPLETION_INDEX", "DIR/..."})
    EXPECT_NE(help.out.find(control), std::string::npos) << control << " is not in `bpfault help run`:\n" << help.out;
  auto commands = bpfault({"help"});
  EXPECT_EQ(commands.exit_code, 0);
  EXPECT_NE(commands.out.find("merge"), std::string::npos) << commands.out;
  auto version = bpfault({"version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("bpfault ", 0), 0u) << version.out;
  auto colour = bpfault({"--color", "always", "run", here("typo.json")});
  EXPECT_EQ(colour.exit_code, 2);
  EXPECT_NE(colour.out.find("\x1b["), std::string::npos) << colour.out;
  auto plain = bpfault({"--color", "never", "run", here("typo.json")});
  EXPECT_EQ(plain.out.find("\x1b["), std::string::npos) << plain.out;
  auto no_color = bpfault({"run", here("typo.json")}, {{"NO_COLOR", "1"}});
  EXPECT_EQ(no_color.out.find("\x1b["), std::string::npos) << no_color.out;
}

// Everything skipped for a missing capability is 77, not a pass; nothing at all is 2.
TEST_F(Cli, AllSkippedIsSeventySevenAndNothingIsTwo) {
  auto skipped = bpfault({"run", "--vm=never", scenario("seed-mutate-a1.json")});
  if (skipped.exit_code == 0) GTEST_SKIP() << "this kernel writes registers: nothing to skip";
  EXPECT_EQ(skipped.exit_code, 77) << skipped.out << skipped.err;
  auto none = bpfault({"run", "--run", "matches nothing", scenario("seed-mutate-a1.json")});
  EXPECT_EQ(none.exit_code, 2);
}

}  // namespace
}  // namespace bpfault

namespace bpfault {
namespace {

// A stripped build: list -v prints the build info, and the standard-library functions'
// signatures from the same toolchain, each marked; the program's own stay unknown (?).
TEST(CliUsage, ListShowsStandardLibrarySignaturesOfAStrippedBuild) {
  const fs::path bin = test::fixture("readfile", "", process::FixtureVariant{"amd64", true});
  auto r = bpfault({"list", "-v", bin.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("#   build -ldflags=-s -w\n"), std::string::npos) << r.out.substr(0, 2000);
  EXPECT_NE(r.out.find("#   build GOARCH=amd64\n"), std::string::npos) << r.out.substr(0, 2000);
  const size_t at = r.out.find("\n    os.ReadFile(name string @");
  ASSERT_NE(at, std::string::npos) << r.out.substr(0, 2000);
  EXPECT_EQ(r.out.find("    signature from the Go 1.", at), r.out.find('\n', at + 1) + 1) << r.out.substr(at, 400);
  EXPECT_NE(r.out.find("\n    main.readAll(?)\n"), std::string::npos);
  EXPECT_NE(r.out.find(" function(s) have signatures from the Go 1."), std::string::npos);
}

// A scenario that records a stripped build's own function is refused with the reason.
TEST(CliUsage, RecordingAStrippedBuildsOwnFunctionNamesWhy) {
  const fs::path bin = test::fixture("readfile", "", process::FixtureVariant{"amd64", true});
  const fs::path dir = fs::temp_directory_path() / fmt::format("bpfault-stripped-own-{}", getpid());
  fs::create_directories(dir);
  std::ofstream(dir / "own.json") << fmt::format(
      R"({{"version": 1, "name": "own", "target": {{"binary": "{}", "args": ["1", "/dev/null"]}},
          "probes": [{{"function": "main.readAll", "record": ["count"]}}]}})",
      bin.string());
  auto r = bpfault({"run", "--vm=never", (dir / "own.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.out.find("main.readAll is not in the standard library: the stripped binary has no DWARF for it"),
            std::string::npos)
      << r.out;
  fs::remove_all(dir);
}

// A Go program from a Debian package, stripped (google-cloud-cli's gcloud-crc32c, built by
// go1.24.4 with cgo): trace names os.OpenFile's arguments (os.Open is inlined into it), from
// the Go 1.24 standard library.
TEST_F(Cli, TraceNamesOsOpenFilesArgumentsInAStrippedDebianProgram) {
  const fs::path prog = "/usr/bin/gcloud-crc32c";
  if (!fs::exists(prog)) GTEST_SKIP() << prog << " is not installed (Debian package google-cloud-cli)";
  bool have_124 = false;
  for (const auto& t : process::find_toolchains()) have_124 |= t.release == "1.24";
  if (!have_124) GTEST_SKIP() << "no Go 1.24 toolchain (bpfault setup --go 1.24)";
  auto r = bpfault({"trace", prog.string(), "os.OpenFile", "--", "/etc/hostname"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("os.OpenFile(flag=0, name=\"/etc/hostname\", perm=0) goid=1 call=1"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace bpfault
