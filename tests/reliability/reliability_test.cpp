// bpfault's failure behaviour on this host, through the executable, with read-only probes
// (label bpf: needs root): interrupted or killed mid-run it leaves no tracee, no BPF program,
// link or map, and no temp file; runs side by side on one binary see only their own tracee;
// tracee failures are diagnosed; lost events fail the run with their count; the tracee can run
// unprivileged; hostile binaries get clear errors end to end. The same in the VM, with writes:
// reliability_vm_test.cpp.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "record/record.h"
#include "support.h"
#include "support/fixtures.h"

namespace bpfault {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

using test::here;

class Reliability : public test::ScratchTest {
 protected:
  Reliability() : ScratchTest("reliability") {}

  // `bpfault ARGS` started in the background with TMPDIR in the scratch folder (so the test sees
  // any temp file it leaves), not waited for.
  Result<process::Child> start(const std::vector<std::string>& args) {
    fs::create_directories(dir_ / "tmp");
    process::Command cmd;
    cmd.argv = {BPFAULT_EXE};
    cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
    cmd.env = {{"TMPDIR", (dir_ / "tmp").string()}};
    cmd.timeout = 600s;
    return process::Child::spawn(cmd, false);
  }

  // The child of `parent` that has exec'd the fixture `name` (probes are attached before the
  // tracee execs), polled for up to `limit`; -1 if none.
  static pid_t tracee_of(pid_t parent, const std::string& name, std::chrono::milliseconds limit = 120s) {
    pid_t found = -1;
    test::poll_until(
        [&] {
          for (pid_t p : test::children_of(parent))
            if (fs::path(test::exe_of(p)).filename().string().starts_with(name + "-")) found = p;
          return found > 0;
        },
        limit);
    return found;
  }
};

// --- teardown -------------------------------------------------------------------------------

struct TeardownCase {
  int sig;
  const char* scenario;
};

void PrintTo(const TeardownCase& c, std::ostream* os) { *os << sigabbrev_np(c.sig) << " " << c.scenario; }

class Teardown : public Reliability, public ::testing::WithParamInterface<TeardownCase> {};

TEST_P(Teardown, NoTraceeNoProbeNoTempFileRemains) {
  const auto [sig, file] = GetParam();
  auto bpfault = start({"run", "--vm=never", here(file).string()});
  ASSERT_TRUE(bpfault) << bpfault.error().format();
  const pid_t tracee = tracee_of(bpfault->pid(), "hang");
  ASSERT_GT(tracee, 0) << "the tracee did not start";
  const test::BpfIds held = test::bpf_ids_of(bpfault->pid());
  ASSERT_FALSE(held.progs.empty()) << "bpfault holds no BPF program while its tracee runs";
  ASSERT_FALSE(held.links.empty()) << "bpfault holds no BPF link while its tracee runs";

  ASSERT_EQ(kill(bpfault->pid(), sig), 0);
  process::Outcome out = bpfault->wait();
  if (sig == SIGKILL)
    EXPECT_EQ(out.signal, sig) << out.describe() << "\n" << out.out << out.err;
  else
    EXPECT_EQ(out.exit_code, 128 + sig) << "bpfault should exit 128 + the signal it got; " << out.describe() << "\n"
                                        << out.out << out.err;

  EXPECT_TRUE(test::poll_until([&] { return !test::alive(tracee); }, 10s))
      << "tracee " << tracee << " outlived bpfault (" << strsignal(sig) << ")";
  if (test::alive(tracee)) kill(tracee, SIGKILL);
  for (const auto& [object, ids] :
       {std::pair{"link", held.links}, std::pair{"prog", held.progs}, std::pair{"map", held.maps}}) {
    std::set<uint32_t> left;
    bool gone = test::poll_until(
        [&, &ids = ids, &object = object] {
          auto now = test::bpftool_ids(object);
          if (!now) return false;
          left.clear();
          std::set_intersection(ids.begin(), ids.end(), now->begin(), now->end(), std::inserter(left, left.begin()));
          return left.empty();
        },
        10s);
    EXPECT_TRUE(gone) << "bpftool " << object << " list still shows " << left.size() << " of the " << ids.size()
                      << " bpfault held";
  }
  // uprobe_multi links leave nothing in tracefs; perf-event uprobes made through tracefs would
  if (std::ifstream events("/sys/kernel/tracing/uprobe_events"); events) {
    const std::string text((std::istreambuf_iterator<char>(events)), {});
    EXPECT_EQ(text.find("/hang-"), std::string::npos) << text;
  }
  EXPECT_TRUE(fs::is_empty(dir_ / "tmp")) << "bpfault left files in its TMPDIR";
}

INSTANTIATE_TEST_SUITE_P(
    Signals, Teardown,
    ::testing::Values(TeardownCase{SIGINT, "teardown/hang.json"}, TeardownCase{SIGTERM, "teardown/hang.json"},
                      TeardownCase{SIGHUP, "teardown/hang.json"}, TeardownCase{SIGKILL, "teardown/hang.json"},
                      // setuid clears the parent-death signal: it must have been set again
                      TeardownCase{SIGKILL, "teardown/hang-nobody.json"}),
    [](const auto& info) {
      return fmt::format("{}{}", sigabbrev_np(info.param.sig),
                         std::string(info.param.scenario).find("nobody") != std::string::npos ? "_AsNobody" : "");
    });

// Killed while `go build` runs: the build's work folder is under the build tree, not TMPDIR.
TEST_F(Reliability, KilledDuringAFixtureBuildLeavesNoTempFiles) {
  // A fixture whose sources no cache has seen: its build is certain to run.
  fs::create_directories(dir_ / "fixtures" / "fresh");
  fs::copy_file(test::fixture_dir("count") / "main.go", dir_ / "fixtures" / "fresh" / "main.go");
  std::ofstream(dir_ / "fixtures" / "fresh" / "go.mod") << "module fresh\n\ngo 1.19\n";
  std::ofstream(dir_ / "fixtures" / "fresh" / "salt.go")
      << fmt::format("package main\n\nconst salt = \"{}-{}\"\n", getpid(), time(nullptr));
  std::ofstream(dir_ / "fresh.json")
      << R"({"version": 1, "name": "fresh", "target": {"fixture": "fresh", "args": ["1"]}})";
  auto bpfault = start({"run", "--vm=never", (dir_ / "fresh.json").string()});
  ASSERT_TRUE(bpfault) << bpfault.error().format();
  pid_t go = -1;
  ASSERT_TRUE(test::poll_until(
      [&] {
        for (pid_t p : test::children_of(bpfault->pid()))
          if (fs::path(test::exe_of(p)).filename() == "go" &&
              test::slurp(fmt::format("/proc/{}/cmdline", p)).find(std::string("build\0", 6)) != std::string::npos)
            go = p;
        return go > 0 && !test::children_of(go).empty();  // compiling: its work folder exists
      },
      60s))
      << "go build did not start";
  ASSERT_EQ(kill(bpfault->pid(), SIGINT), 0);
  EXPECT_EQ(bpfault->wait().exit_code, 128 + SIGINT);
  EXPECT_TRUE(test::poll_until([&] { return !test::alive(go); }, 10s)) << "go build outlived bpfault";
  EXPECT_TRUE(test::poll_until([&] { return fs::is_empty(dir_ / "tmp"); }, 10s))
      << "a killed build left files in TMPDIR";
}

// --- interrupted: the reports of what finished ----------------------------------------------

// SIGINT, SIGTERM and SIGHUP alike, while a server-like tracee runs after a scenario that
// passed: the tracee is stopped at once (SIGKILL: no goroutine dump, which takes a Go program
// over a second), bpfault exits 128 + signal, and --json and --junit hold the finished
// scenario and mark the run interrupted.
class Interrupt : public Reliability, public ::testing::WithParamInterface<int> {};

TEST_P(Interrupt, StopsTheTraceeAtOnceAndReportsWhatFinished) {
  test::expect_interrupted_server_run(
      dir_, "never", GetParam(), [](pid_t bpfault, const fs::path&) { return tracee_of(bpfault, "server"); }, 1000ms,
      "native");
}

INSTANTIATE_TEST_SUITE_P(Signals, Interrupt, ::testing::Values(SIGINT, SIGTERM, SIGHUP),
                         [](const auto& info) { return std::string(sigabbrev_np(info.param)); });

// --- bytes, not text ------------------------------------------------------------------------

// The notutf8 fixture writes 0xFF and an escape sequence, and its recorded string's first 64
// bytes end inside "é": the run passes, its JSON is valid and gives back every byte.
TEST_F(Reliability, OutputAndStringsThatAreNotUtf8AreKeptAsBytes) {
  const fs::path rec = dir_ / "run.json";
  auto r = test::run_bpfault({"run", "--vm=never", here("bytes/not-utf8.json").string(), "--json", rec.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[  PASSED  ] 1"), std::string::npos) << r.out;
  const json doc = run_record(rec);
  ASSERT_EQ(doc.value("scenarios", json::array()).size(), 1u) << doc.dump(2);
  auto back = record::record_from_json(doc["scenarios"][0]);
  ASSERT_TRUE(back) << back.error().format();
  EXPECT_EQ(back->stdout_text, "out:\xff\nok\n");
  EXPECT_EQ(back->stderr_text, "err:\xfe\x1b[2J\n");
  EXPECT_EQ(doc["scenarios"][0]["stdout"], json({{"bytes_b64", "b3V0Ov8Kb2sK"}}))
      << "invalid UTF-8 is marked, in base64";
  ASSERT_EQ(back->probes.at(0).hits.size(), 1u);
  const json s = back->probes[0].hits[0].values.at("s");
  EXPECT_EQ(s.value("len", 0), 69) << s.dump();
  EXPECT_EQ(s.value("text", ""), std::string(63, 'a') + "\xc3") << "the first 64 bytes, cut inside \"é\"";
}

TEST_F(Reliability, TraceShowsBytesThatAreNotUtf8Escaped) {
  const fs::path bin = test::fixture("notutf8");
  ASSERT_FALSE(bin.empty());
  auto r = test::run_bpfault({"trace", bin.string(), "main.greet"});
  EXPECT_EQ(r.signal, 0) << r.describe() << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "out:\xff\nok\n") << "the program's own output is passed through unchanged";
  EXPECT_NE(
      r.err.find(fmt::format("main.greet(s={{\"len\":69,\"text\":\"{}\\xc3\"}}) goid=1 call=1", std::string(63, 'a'))),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("err:\xfe\x1b[2J"), std::string::npos) << "... and so is its stderr\n" << r.err;
}

// --- no silent limit ------------------------------------------------------------------------

// Recorded hits past the 10000 a probe keeps fail the scenario with the count; bare timings
// past it do not (the latency covers every call) but are counted in the record too.
TEST_F(Reliability, AProbePastItsHitLimitFailsWithTheCount) {
  const fs::path rec = dir_ / "run.json";
  auto r = test::run_bpfault({"run", "--vm=never", here("limits/hits-over-the-limit.json").string(),
                              here("limits/timings-over-the-limit.json").string(), "--json", rec.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(
      r.out.find(
          "  record limits\n    expected: every recorded hit kept (at most 10000 per probe), every write past it done, "
          "every call paired (at most 65536 in flight), every hit's goroutine read\n    actual:   main.tick: 50 "
          "recorded hits not kept"),
      std::string::npos)
      << r.out;
  const json recs = run_record(rec)["scenarios"];
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0]["status"], "failed");
  EXPECT_EQ(recs[0]["probes"][0]["hits"].size(), 10000u);
  EXPECT_EQ(recs[0]["probes"][0]["not_kept"],
            json({{"hits", 50}, {"injections", 0}, {"failed_writes", 0}, {"timings", 0}}));
  EXPECT_EQ(recs[1]["status"], "passed") << recs[1]["verdicts"].dump(2);
  EXPECT_EQ(recs[1]["probes"][0]["not_kept"]["timings"], 50);
  EXPECT_EQ(recs[1]["probes"][0]["latency"]["count"].get<uint64_t>(), 10050u)
      << "the latency covers every call, those past the limit too";
}

// --- reproducible probability ---------------------------------------------------------------

// The calls a 50% step fires on, per run of probability-50-off.json in `record`.
std::vector<std::vector<uint64_t>> fired_calls(const json& record) {
  std::vector<std::vector<uint64_t>> out;
  for (const auto& rec : record["scenarios"]) {
    out.emplace_back();
    for (const auto& h : rec["probes"][0]["hits"])
      if (!h["injection"].is_null()) out.back().push_back(h["call"]);
  }
  return out;
}

// --seed N: the same calls in every run with that seed (450-550 of 1000), others with another.
TEST_F(Reliability, ASeedChoosesTheSameCallsInEveryRun) {
  const std::string file = here("selection/probability-50-off.json").string();
  std::vector<std::vector<uint64_t>> fired;
  for (const char* seed : {"7", "8"}) {
    const fs::path rec = dir_ / fmt::format("seed-{}.json", seed);
    auto r = test::run_bpfault({"run", "--vm=never", "--seed", seed, file, file, "--json", rec.string()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    for (auto& calls : fired_calls(run_record(rec))) fired.push_back(std::move(calls));
  }
  ASSERT_EQ(fired.size(), 4u);
  for (const auto& calls : fired) {
    EXPECT_GE(calls.size(), 450u);
    EXPECT_LE(calls.size(), 550u);
  }
  EXPECT_EQ(fired[0], fired[1]) << "seed 7 twice";
  EXPECT_EQ(fired[2], fired[3]) << "seed 8 twice";
  EXPECT_NE(fired[0], fired[2]) << "seeds 7 and 8 chose the same calls";
}

// --- a suite with bad files -----------------------------------------------------------------

// Every malformed scenario of the corpus in one run with a good one: the good one still runs
// and passes, each bad one is reported as an error, bad input decides the exit code.
TEST_F(Reliability, BadFilesDoNotStopTheGoodOnes) {
  const fs::path corpus = here("bad-scenarios"), junit = dir_ / "junit.xml";
  size_t bad = 0;
  for (const auto& e : fs::directory_iterator(corpus)) bad += e.path().extension() == ".json";
  bad -= 1;  // missing-version.json: a JSON object without "version" is data, listed as skipped
  auto r = test::run_bpfault({"run", "--vm=never", corpus.string(),
                              (test::source_dir() / "scenarios" / "seed-trace-args.json").string(), "--junit",
                              junit.string()});
  EXPECT_EQ(r.signal, 0) << r.out;
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("[       OK ] seed: ebpfDemo is called once"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("[  ERROR   ] {}, listed below:", bad)), std::string::npos) << r.out;
  EXPECT_NE(
      test::slurp(junit).find(fmt::format("tests=\"{}\" failures=\"0\" errors=\"{}\" skipped=\"1\"", bad + 2, bad)),
      std::string::npos);
}

// --- isolation ------------------------------------------------------------------------------

// Five scenarios on the one count binary, each four times, two at a time: every run's counts
// are its own (a leaked event changes a count; a leaked SIGKILL kills a run that expects exit 0).
TEST_F(Reliability, ParallelRunsOnOneBinarySeeOnlyTheirOwnTracee) {
  std::vector<std::string> args = {"run", "--vm=never", "-j", "2", "--json", (dir_ / "runs.json").string()};
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(here("isolation"))) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (int round = 0; round < 4; ++round)
    for (const auto& f : files) args.push_back(f.string());
  auto r = test::run_bpfault(args);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(fmt::format("[  PASSED  ] {}", 4 * files.size())), std::string::npos) << r.out;
  // The runs really overlapped: two tracees' probe hits interleave in time.
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  const json runs = run_record(dir_ / "runs.json");
  for (const auto& rec : runs["scenarios"])
    for (const auto& p : rec["probes"])
      if (!p["hits"].empty()) spans.emplace_back(p["hits"].front()["time_ns"], p["hits"].back()["time_ns"]);
  size_t overlaps = 0;
  for (size_t i = 0; i < spans.size(); ++i)
    for (size_t j = i + 1; j < spans.size(); ++j)
      overlaps += spans[i].first < spans[j].second && spans[j].first < spans[i].second;
  EXPECT_GT(overlaps, 0u) << "no two of " << spans.size() << " runs overlapped in time: the test proved nothing";
  // and most ran on probe programs borrowed from earlier runs: each of the two workers loads each
  // set of programs (counting only; counting and killing) at most once, so most counts above
  // come from maps reset between runs, not fresh ones
  size_t loaded = 0;
  for (const auto& rec : runs["scenarios"]) loaded += !rec["phases"]["probes_reused"].get<bool>();
  EXPECT_GE(loaded, 1u);
  EXPECT_LE(loaded, 4u) << "of " << runs["scenarios"].size() << " runs";
}

// --- diagnosis ------------------------------------------------------------------------------

struct DiagnosisCase {
  const char* file;
  const char* kind;
  const char* summary;   // in the record's diagnosis.summary
  const char* location;  // in diagnosis.location
  const char* console;   // in the console report
};

void PrintTo(const DiagnosisCase& c, std::ostream* os) { *os << c.file; }

class Diagnosis : public Reliability, public ::testing::WithParamInterface<DiagnosisCase> {};

TEST_P(Diagnosis, RecordAndConsoleSayHowTheTraceeEnded) {
  const auto c = GetParam();
  const fs::path rec = dir_ / "record.json";
  auto r = test::run_bpfault({"run", "--vm=never", here(c.file).string(), "--json", rec.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find(c.console), std::string::npos) << r.out;
  const json d = run_record(rec)["scenarios"][0]["diagnosis"];
  ASSERT_TRUE(d.is_object()) << "no diagnosis in the record";
  EXPECT_EQ(d["kind"], c.kind);
  EXPECT_NE(d["summary"].get<std::string>().find(c.summary), std::string::npos) << d.dump(2);
  EXPECT_NE(d["location"].get<std::string>().find(c.location), std::string::npos) << d.dump(2);
  EXPECT_EQ(d["harness_caused"], false) << "the scenario injected nothing it did not ask for";
  EXPECT_FALSE(d["stderr_tail"].get<std::string>().empty() && std::string(c.kind) != "signal") << d.dump(2);
}

const DiagnosisCase kFailures[] = {
    {"must-fail/go-panic.json", "go_panic", "panic: boom", "main.main at ",
     "  diagnosis: panic: boom (in main.main at "},
    {"must-fail/go-fatal-error.json", "go_fatal_error", "fatal error: all goroutines are asleep - deadlock!",
     "main.main at ", "  diagnosis: fatal error: all goroutines are asleep - deadlock! (in main.main at "},
    {"must-fail/signal.json", "signal", "killed by SIGTERM", "", "  diagnosis: killed by SIGTERM"},
    {"must-fail/timeout.json", "timeout", "timed out after", "main.main at ",
     "SIGQUIT first got its goroutines dumped to stderr (in main.main at "},
    {"must-fail/asked-crash.json", "go_signal", "the Go runtime got SIGABRT", "main.use at ",
     "  diagnosis: the Go runtime got SIGABRT and dumped its goroutines (in main.use at "},
};

std::string failure_name(const ::testing::TestParamInfo<DiagnosisCase>& info) {
  std::string n = fs::path(info.param.file).stem().string();
  std::erase(n, '-');
  return n;
}

INSTANTIATE_TEST_SUITE_P(Failures, Diagnosis, ::testing::ValuesIn(kFailures), failure_name);

// --- expected values ------------------------------------------------------------------------

// Expected values that do not hold on a real run fail it, each verdict saying what was recorded
// and why it does not match (README, "Expected values"); the program itself did what it should.
TEST_F(Reliability, ExpectedValuesThatDoNotHoldFailWithWhy) {
  const fs::path rec = dir_ / "record.json";
  auto r =
      test::run_bpfault({"run", "--vm=never", here("must-fail/expect-values.json").string(), "--json", rec.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json doc = run_record(rec);
  ASSERT_EQ(doc.value("scenarios", json::array()).size(), 1u) << doc.dump(2);
  std::map<std::string, json> verdicts;
  for (const json& v : doc["scenarios"][0]["verdicts"]) verdicts[v["check"].get<std::string>()] = v;
  auto failed_with = [&](const std::string& check, const std::string& actual) {
    ASSERT_TRUE(verdicts.count(check)) << "no verdict " << check << "\n" << doc.dump(2);
    const json& v = verdicts[check];
    EXPECT_EQ(v["passed"], false) << v.dump(2);
    EXPECT_EQ(v["actual"], actual) << v.dump(2);
  };
  EXPECT_EQ(verdicts["stdout contains"]["passed"], true) << "the program read as it always does";
  EXPECT_EQ(verdicts["events os.ReadFile count"]["passed"], true);
  failed_with("events os.ReadFile args.name",
              R"("/nonexistent/bpfault-expect" at call 2: does not start with "/dev/")");
  const json cap = verdicts["events os.ReadFile call 3 results.r0"]["actual"];
  ASSERT_TRUE(cap.is_string());
  EXPECT_TRUE(cap.get<std::string>().ends_with(R"(,"first":[76,105,110,117,120,10],"len":6} at call 3: len is 6)"))
      << cap;
  failed_with("events os.ReadFile call 3 results.r0", cap.get<std::string>());
  failed_with("events os.ReadFile call 1 args.name", R"("/dev/null" at call 1: does not match /^/proc//)");
  // /dev/null is call 1, whose slice is empty: no call read /dev/null into 6 bytes
  const json some = verdicts["events os.ReadFile some call"];
  EXPECT_EQ(some["passed"], false) << some.dump(2);
  ASSERT_TRUE(some["actual"].is_string()) << some.dump(2);
  EXPECT_TRUE(some["actual"].get<std::string>().starts_with("none of the 3 recorded calls; call 1: results.r0 is {"))
      << some.dump(2);
  EXPECT_TRUE(some["actual"].get<std::string>().ends_with(" (len is 0)")) << some.dump(2);
  const json err = verdicts["events os.ReadFile call 2 results.r1"]["actual"];
  ASSERT_TRUE(err.is_string());
  EXPECT_NE(err.get<std::string>().find(
                "at call 2: an interface whose variable is unknown: bpfault knows an error is io/fs.ErrNotExist only "
                "where it wrote it"),
            std::string::npos)
      << err;
}

// --- lost events ----------------------------------------------------------------------------

// A consumer that falls behind (here: bpfault stopped while its tracee floods the ring buffer
// with stacks) loses events; the run must fail for that alone, saying how many.
TEST_F(Reliability, RingBufferOverflowFailsTheRunWithTheCount) {
  const fs::path rec = dir_ / "record.json";
  auto bpfault = start({"run", "--vm=never", here("lost-events/flood.json").string(), "--json", rec.string()});
  ASSERT_TRUE(bpfault) << bpfault.error().format();
  const pid_t tracee = tracee_of(bpfault->pid(), "flood");
  ASSERT_GT(tracee, 0) << "the tracee did not start";
  auto cpu_ms = [&] {  // utime + stime of the tracee
    std::ifstream stat(fmt::format("/proc/{}/stat", tracee));
    std::string line;
    std::getline(stat, line);
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string f;
    uint64_t ticks = 0;
    for (int i = 3; i <= 15 && rest >> f; ++i)
      if (i >= 14) ticks += std::stoull(f);
    return ticks * 1000 / sysconf(_SC_CLK_TCK);
  };
  ASSERT_EQ(kill(bpfault->pid(), SIGSTOP), 0);
  const uint64_t before = cpu_ms();
  // 2 s of the tracee's CPU time (or all of its 200 000 calls) is far more recorded stacks than
  // the ring holds (16 MiB: ~20 000 of them; 300 ms no longer overflowed it)
  const bool flooded = test::poll_until([&] { return !test::alive(tracee) || cpu_ms() >= before + 2000; }, 60s);
  ASSERT_EQ(kill(bpfault->pid(), SIGCONT), 0);
  ASSERT_TRUE(flooded);
  process::Outcome out = bpfault->wait();
  EXPECT_EQ(out.exit_code, 1) << out.out << out.err;
  EXPECT_NE(out.out.find("  no lost events\n    expected: 0 ring-buffer drops\n    actual:   "), std::string::npos)
      << out.out;
  const json r = run_record(rec)["scenarios"][0];
  EXPECT_GT(r["drops"].get<uint64_t>(), 0u);
  for (const auto& v : r["verdicts"]) {
    if (v["check"] == "no lost events") {
      EXPECT_FALSE(v["passed"].get<bool>());
      EXPECT_EQ(v["actual"], fmt::format("{} drops", r["drops"].get<uint64_t>()));
    } else if (v["check"] ==
               "record limits") {  // 200000 recorded calls: past the 10000 hits a probe keeps, and said so
      EXPECT_EQ(v["actual"], fmt::format("main.emit: {} recorded hits not kept",
                                         r["probes"][0]["not_kept"]["hits"].get<uint64_t>()));
    } else {
      EXPECT_TRUE(v["passed"].get<bool>())
          << v.dump() << ": only the lost events and the record's limit may fail the run (calls are counted exactly)";
    }
  }
}

// --- least privilege ------------------------------------------------------------------------

TEST_F(Reliability, TheTraceeRunsAsNobodyWhileBpfaultProbesIt) {
  auto r = test::run_bpfault({"run", "--vm=never", here("least-privilege/whoami-nobody.json").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // and as another user from the command line
  const fs::path rec = dir_ / "record.json";
  r = test::run_bpfault({"run", "--vm=never", "--user", "1234:4321",
                         (test::source_dir() / "scenarios" / "seed-trace-args.json").string(), "--json", rec.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(Reliability, AScenarioCannotRunAShellOrLeaveTheFixturesFolder) {
  // argv arrays only: "args" is never given to a shell, so shell syntax is just an argument
  std::ofstream(dir_ / "argv.json")
      << R"({"version": 1, "name": "argv", "target": {"fixture": "count", "args": ["3; touch pwned", "0"]},
    "expect": {"exit_code": 0, "stdout": {"contains": "ticks=0 sum=0"}}})";
  std::ofstream(dir_ / "shell.json")
      << R"({"version": 1, "name": "shell", "target": {"binary": "/bin/sh", "args": ["-c", "touch pwned"]}})";
  std::ofstream(dir_ / "escape.json") << R"({"version": 1, "name": "escape", "target": {"fixture": "../../count"}})";
  auto r = test::run_bpfault(
      {"run", "--vm=never", "--fixtures", (test::source_dir() / "fixtures").string(), (dir_ / "argv.json").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = test::run_bpfault({"run", "--vm=never", (dir_ / "shell.json").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("shell.json:/target/binary: error: /usr/bin/dash: not a Go program"), std::string::npos)
      << r.out;
  r = test::run_bpfault({"run", "--vm=never", (dir_ / "escape.json").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("escape.json:/target/fixture: error: expected a string matching"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "pwned") || fs::exists(fs::current_path() / "pwned"));
}

// --- hostile binaries, end to end -----------------------------------------------------------

class HostileBinary : public Reliability {
 protected:
  void SetUp() override {
    Reliability::SetUp();
    if (IsSkipped()) return;
    demo_ = test::fixture("demo");
    ASSERT_FALSE(demo_.empty());
  }
  std::string bytes_of(const fs::path& p) { return test::slurp(p); }
  fs::path put(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    fs::permissions(dir_ / name, fs::perms::owner_all);
    return dir_ / name;
  }
  // A scenario probing main.ebpfDemo of `binary`, run; and `bpfault list` of it.
  process::Outcome run(const fs::path& binary,
                       const std::string& probe = R"({"function": "main.ebpfDemo", "record": ["a1"]})",
                       const std::string& expect = R"({"exit_code": 0})") {
    const fs::path s = dir_ / (binary.filename().string() + ".json");
    std::ofstream(s) << fmt::format(
        R"({{"version": 1, "name": "{}", "target": {{"binary": "{}"}}, "probes": [{}], "expect": {}}})",
        binary.filename().string(), binary.string(), probe, expect);
    return test::run_bpfault({"run", "--vm=never", s.string()});
  }
  process::Outcome list(const fs::path& binary) { return test::run_bpfault({"list", "-v", binary.string(), "main.*"}); }
  void refused(const fs::path& binary, const std::string& message) {
    SCOPED_TRACE(binary.filename().string());
    auto r = run(binary);
    EXPECT_EQ(r.signal, 0) << "bpfault run crashed: " << r.out << r.err;
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.out.find(":/target/binary: error: " + binary.string() + ": " + message), std::string::npos) << r.out;
    auto l = list(binary);
    EXPECT_EQ(l.signal, 0) << "bpfault list crashed: " << l.out << l.err;
    EXPECT_EQ(l.exit_code, 2) << l.out << l.err;
    EXPECT_NE(l.err.find(binary.string() + ": error: " + message), std::string::npos) << l.err;
  }
  // The section's [offset, size) in the file, from readelf's view as bpfault's ElfFile sees it.
  std::pair<uint64_t, uint64_t> section(const fs::path& binary, const std::string& name) {
    process::Command cmd;
    cmd.argv = {"objdump", "-h", "-w", binary.string()};
    auto r = process::run(cmd);
    EXPECT_TRUE(r && r->ok());
    std::istringstream in(r ? r->out : "");
    for (std::string line; std::getline(in, line);) {
      std::istringstream f(line);
      std::string idx, n, size, vma, lma, off;
      if (f >> idx >> n >> size >> vma >> lma >> off && n == name)
        return {std::stoull(off, nullptr, 16), std::stoull(size, nullptr, 16)};
    }
    ADD_FAILURE() << "no section " << name << " in " << binary;
    return {0, 0};
  }
  process::Outcome objcopy(const std::vector<std::string>& args) {
    process::Command cmd;
    cmd.argv = {"objcopy"};
    cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
    auto r = process::run(cmd);
    EXPECT_TRUE(r && r->ok()) << (r ? r->err : r.error().format());
    return r ? *r : process::Outcome{};
  }
  fs::path demo_;
};

TEST_F(HostileBinary, TruncatedNotGoAndCorruptPclntabAreRefused) {
  const std::string bytes = bytes_of(demo_);
  refused(put("truncated", bytes.substr(0, bytes.size() / 2)), "truncated ELF file");
  refused(put("empty", ""), "not an ELF file (0 bytes)");
  refused(put("script", "#!/bin/sh\necho not a program\n"), "not an ELF file (no \\x7fELF magic)");
  fs::copy_file("/bin/true", dir_ / "c-program");
  refused(dir_ / "c-program", "not a Go program: no .gopclntab section");
  auto [at, size] = section(demo_, ".gopclntab");
  std::string bad = bytes;
  bad.replace(at, 4, "\xfa\xff\xff\xff");
  refused(put("bad-magic", bad), "unsupported .gopclntab magic 0xfffffffa");
  bad = bytes;
  bad.replace(at + 8, 8, std::string("\xff\xff\xff\x7f\0\0\0\0", 8));
  refused(put("bad-nfunc", bad), "corrupt .gopclntab: implausible function count");
}

// DWARF gone (objcopy --strip-debug keeps .symtab) or damaged: the functions are still found
// and probed; what needs signatures says why it cannot.
TEST_F(HostileBinary, WithoutOrWithDamagedDwarfFunctionsStillWork) {
  objcopy({"--strip-debug", demo_.string(), (dir_ / "no-dwarf").string()});
  objcopy({"--decompress-debug-sections", demo_.string(), (dir_ / "plain-dwarf").string()});
  std::string bad = bytes_of(dir_ / "plain-dwarf");
  auto [at, size] = section(dir_ / "plain-dwarf", ".debug_info");
  std::mt19937_64 rng(8);
  for (int k = 0; k < 4000; ++k)
    bad[at + 11 + rng() % (size - 11)] = static_cast<char>(rng());  // past the first unit's header
  put("bad-dwarf", bad);
  for (const char* name : {"no-dwarf", "bad-dwarf"}) {
    SCOPED_TRACE(name);
    const fs::path bin = dir_ / name;
    auto l = list(bin);
    EXPECT_EQ(l.exit_code, 0) << l.out << l.err;
    EXPECT_NE(l.out.find("no DWARF"), std::string::npos) << l.out;
    EXPECT_NE(l.out.find("main.ebpfDemo(?)"), std::string::npos) << l.out;
    auto r = run(bin);  // recording an argument by name needs its signature
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.out.find(":/probes/0/record"), std::string::npos) << r.out;
    // the program's own function: no standard library's DWARF can describe it
    EXPECT_NE(r.out.find("error: main.ebpfDemo is not in the standard library"), std::string::npos) << r.out;
    r = run(
        bin, R"({"function": "main.ebpfDemo", "stack": true})",  // counting and stacks need only .gopclntab
        R"({"exit_code": 0, "events": [{"function": "main.ebpfDemo", "count": 1, "stack": ["main.ebpfDemo", "main.main"]}]})");
    EXPECT_EQ(r.exit_code, 0) << r.out;
  }
}

}  // namespace
}  // namespace bpfault
