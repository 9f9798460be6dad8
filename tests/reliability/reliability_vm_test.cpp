// bpfault's failure behaviour with writes, in its VM (label vm): interrupted or killed during a
// VM run no qemu survives and no temp file remains; parallel runs with injections on one binary
// see only their own; a crash an injection caused where none was asked for is called
// harness-caused; the tracee runs as nobody in the guest too.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "record/record.h"
#include "support.h"
#include "support/fixtures.h"
#include "vm/vm.h"

namespace bpfault {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

using test::here;

class VmReliability : public test::ScratchTest {
 protected:
  VmReliability() : ScratchTest("reliability-vm") {}
  void SetUp() override {
    ScratchTest::SetUp();
    if (IsSkipped()) return;
    if (auto q = vm::find_qemu(); !q) GTEST_SKIP() << q.error().format();
    if (auto k = vm::find_kernel(""); !k) GTEST_SKIP() << "no VM kernel: " << k.error().format();
  }
  json records(const fs::path& file) { return run_record(file).value("scenarios", json::array()); }
};

// --- teardown: no qemu outlives bpfault -----------------------------------------------------

class VmTeardown : public VmReliability, public ::testing::WithParamInterface<int> {};

TEST_P(VmTeardown, NoQemuNoTempFileRemains) {
  const int sig = GetParam();
  // As a subreaper this test inherits the qemu that bpfault's death orphans, and can see it go.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  fs::create_directories(dir_ / "tmp");
  process::Command cmd;
  cmd.argv = {BPFAULT_EXE, "run", "--vm=always", here("teardown/hang.json").string()};
  cmd.env = {{"TMPDIR", (dir_ / "tmp").string()}};
  cmd.timeout = 600s;
  auto bpfault = process::Child::spawn(cmd, false);
  ASSERT_TRUE(bpfault) << bpfault.error().format();
  pid_t qemu = -1;
  ASSERT_TRUE(test::poll_until(
      [&] {
        for (pid_t p : test::children_of(bpfault->pid()))
          if (fs::path(test::exe_of(p)).filename().string().starts_with("qemu-system")) qemu = p;
        return qemu > 0;
      },
      120s))
      << "qemu did not start";
  // Let the guest boot and start the tracee (TCG keeps one host CPU busy: its CPU time is its progress).
  auto cpu_s = [&] {
    std::ifstream stat(fmt::format("/proc/{}/stat", qemu));
    std::string line;
    std::getline(stat, line);
    if (line.empty()) return 0.0;
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string f;
    double ticks = 0;
    for (int i = 3; i <= 15 && rest >> f; ++i)
      if (i >= 14) ticks += std::stod(f);
    return ticks / sysconf(_SC_CLK_TCK);
  };
  test::poll_until([&] { return cpu_s() >= 4 || !test::alive(qemu); }, 60s);
  ASSERT_TRUE(test::alive(qemu)) << "the VM ended on its own";

  ASSERT_EQ(kill(bpfault->pid(), sig), 0);
  process::Outcome out = bpfault->wait();
  if (sig == SIGKILL)
    EXPECT_EQ(out.signal, sig) << out.describe() << "\n" << out.out << out.err;
  else
    EXPECT_EQ(out.exit_code, 128 + sig) << out.describe() << "\n" << out.out << out.err;
  bool gone = test::poll_until([&] { return waitpid(qemu, nullptr, WNOHANG) == qemu || !test::alive(qemu); }, 10s);
  EXPECT_TRUE(gone) << "qemu " << qemu << " outlived bpfault killed by " << strsignal(sig);
  if (!gone) kill(qemu, SIGKILL), waitpid(qemu, nullptr, 0);
  EXPECT_TRUE(fs::is_empty(dir_ / "tmp")) << "bpfault left files in its TMPDIR";
}

INSTANTIATE_TEST_SUITE_P(Signals, VmTeardown, ::testing::Values(SIGINT, SIGTERM, SIGKILL),
                         [](const auto& info) { return std::string(sigabbrev_np(info.param)); });

// --- interrupted during a VM run: the reports of what finished -------------------------------

// The quick scenario streams back, then the signal comes while the guest serves: qemu is
// stopped at once, bpfault exits 128 + signal, and the reports hold the finished scenario.
class VmInterrupt : public VmReliability, public ::testing::WithParamInterface<int> {};

TEST_P(VmInterrupt, StopsTheVmAndReportsWhatFinished) {
  test::expect_interrupted_server_run(
      dir_, "always", GetParam(),
      [](pid_t bpfault, const fs::path& log) {
        if (!test::poll_until(
                [&] {
                  return test::slurp(log).find("[       OK ] interrupt: a scenario that finishes") != std::string::npos;
                },
                300s))
          return pid_t{-1};  // the first scenario never came back from the VM
        for (pid_t p : test::children_of(bpfault))
          if (fs::path(test::exe_of(p)).filename().string().starts_with("qemu-system")) return p;
        return pid_t{-1};
      },
      2000ms, "vm");
}

INSTANTIATE_TEST_SUITE_P(Signals, VmInterrupt, ::testing::Values(SIGINT, SIGTERM, SIGHUP),
                         [](const auto& info) { return std::string(sigabbrev_np(info.param)); });

// --- bytes, not text, through the VM's stream -----------------------------------------------

// Output and a cut string that are not UTF-8 come back from the guest intact, and the next
// scenario of the same boot still runs.
TEST_F(VmReliability, BytesThatAreNotUtf8ComeBackFromTheGuestAndTheBootGoesOn) {
  const fs::path rec = dir_ / "run.json";
  auto r =
      test::run_bpfault({"run", "--vm=always", here("bytes/not-utf8.json").string(),
                         (test::source_dir() / "scenarios" / "seed-trace-args.json").string(), "--json", rec.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[  PASSED  ] 2"), std::string::npos) << r.out;
  const json recs = records(rec);
  ASSERT_EQ(recs.size(), 2u);
  auto back = record::record_from_json(recs[0]);
  ASSERT_TRUE(back) << back.error().format();
  EXPECT_EQ(back->where, "vm");
  EXPECT_EQ(back->stdout_text, "out:\xff\nok\n");
  ASSERT_EQ(back->probes.at(0).hits.size(), 1u);
  EXPECT_EQ(back->probes[0].hits[0].values.at("s").value("text", ""), std::string(63, 'a') + "\xc3");
  EXPECT_EQ(recs[1]["status"], "passed") << recs[1].dump(2);
}

// --- a guest crash is never hidden ----------------------------------------------------------

// The tracee panics the guest kernel (sysrq 'c'; the fixture refuses outside bpfault's VM): a
// crash of the kind bpfault's probes could cause, at a point the test controls. The run fails
// with 125 and the panic from the console, at once: a retry could pass and hide it.
TEST_F(VmReliability, AGuestPanicDuringTheSuiteFailsTheRunWithTheConsole) {
  const fs::path rec = dir_ / "run.json";
  auto r = test::run_bpfault({"run", "--vm=always", here("interrupt/quick.json").string(),
                              here("guest-crash/sysrq.json").string(), "--json", rec.string()});
  EXPECT_EQ(r.exit_code, 125) << r.out << r.err;
  EXPECT_NE(r.out.find("Kernel panic - not syncing: sysrq triggered crash"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("booted it once more"), std::string::npos) << "a crash while scenarios run is not retried\n"
                                                                  << r.out;
  const json doc = run_record(rec);
  EXPECT_EQ(doc.value("exit_code", 0), 125);
  const json notes = doc.value("notes", json::array());  // only which accelerator ran: no retry
  ASSERT_EQ(notes.size(), 1u) << notes.dump();
  EXPECT_NE(notes[0].get<std::string>().find("the VM ran under "), std::string::npos) << notes.dump();
  const json recs = records(rec);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0]["status"], "passed") << "what finished before the crash is kept";
  EXPECT_EQ(recs[1]["status"], "error");
  EXPECT_NE(recs[1]["error"].value("what", "").find("the VM crashed before this scenario finished"), std::string::npos)
      << recs[1].dump(2);
  EXPECT_NE(recs[1]["error"].value("hint", "").find("sysrq triggered crash"), std::string::npos) << recs[1].dump(2);
}

// A VM that never reaches /init (here: a "kernel" qemu cannot boot) is booted once more, and
// the reports say so.
TEST_F(VmReliability, ABootFailureIsRetriedOnceAndTheReportSaysSo) {
  const fs::path rec = dir_ / "run.json";
  auto r = test::run_bpfault({"run", "--vm=always", "--kernel", "/bin/busybox", here("interrupt/quick.json").string(),
                              "--json", rec.string()});
  EXPECT_EQ(r.exit_code, 125) << r.out << r.err;
  const json notes = run_record(rec).value("notes", json::array());
  ASSERT_EQ(notes.size(), 2u) << notes.dump();  // the retry, then which accelerator ran
  EXPECT_NE(notes[0].get<std::string>().find("booted it once more, before any scenario ran"), std::string::npos)
      << notes.dump();
  EXPECT_NE(notes[1].get<std::string>().find("the VM ran under "), std::string::npos) << notes.dump();
  EXPECT_NE(r.out.find("booted it once more"), std::string::npos) << r.out;
}

// --- selection and must-fail expectations, with writes --------------------------------------

// One boot: every, times and goroutine: <id> inject into exactly the calls they name (each
// scenario checks the tracee's own output); probability 50 % with the scenario's seed 7 injects
// into 450-550 of 1000 calls, the same ones in two runs, and the tracee's sum shows exactly those; a write
// into a string literal fails with EFAULT; latency limits that are not met fail, with every
// call timed.
TEST_F(VmReliability, SelectionInjectsIntoTheCallsItNamesAndUnmetExpectationsFail) {
  const fs::path rec = dir_ / "run.json";
  const std::string probability = here("selection/probability-50.json").string();
  auto r = test::run_bpfault({"run", "--vm=always", here("selection/every-10.json").string(),
                              here("selection/times-3.json").string(), here("selection/goroutine-1.json").string(),
                              probability, probability, here("must-fail/efault-literal.json").string(),
                              here("must-fail/latency-max.json").string(), here("must-fail/latency-min.json").string(),
                              "--json", rec.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json recs = records(rec);
  ASSERT_EQ(recs.size(), 8u) << r.out;
  for (size_t i = 0; i < 5; ++i)
    EXPECT_EQ(recs[i]["status"], "passed") << recs[i]["name"] << "\n" << recs[i]["verdicts"].dump(2);
  std::vector<uint64_t> chosen[2];
  for (size_t run = 0; run < 2; ++run) {
    const json& p = recs[3 + run]["probes"][0];
    uint64_t sum = 0;
    for (const auto& h : p["hits"])
      if (!h["injection"].is_null())
        chosen[run].push_back(h["call"]), sum += h["call"].get<uint64_t>();  // i == the call number
    EXPECT_GE(p["injected"].get<uint64_t>(), 450u);
    EXPECT_LE(p["injected"].get<uint64_t>(), 550u);
    EXPECT_EQ(chosen[run].size(), p["injected"].get<uint64_t>());
    EXPECT_NE(recs[3 + run]["stdout"].get<std::string>().find(fmt::format("ticks=1000 sum={}\n", 500500 - sum)),
              std::string::npos)
        << "the tracee's sum must show exactly the recorded injections";
  }
  EXPECT_EQ(chosen[0], chosen[1]) << "the same seed must choose the same calls";
  auto failed = [](const json& rec, const std::string& check) {
    for (const auto& v : rec["verdicts"])
      if (v["check"] == check && v["passed"] == false) return v["actual"].get<std::string>();
    return std::string("(no failed verdict \"" + check + "\")");
  };
  EXPECT_EQ(recs[5]["status"], "failed");
  EXPECT_NE(failed(recs[5], "injected writes").find("main.shout s at call 1: EFAULT"), std::string::npos)
      << recs[5]["verdicts"].dump(2);
  EXPECT_NE(recs[5]["stdout"].get<std::string>().find("shout: \"constant\" (8)"), std::string::npos)
      << "the literal is unchanged";
  for (size_t i : {6, 7}) {
    EXPECT_EQ(recs[i]["status"], "failed") << recs[i]["name"];
    EXPECT_EQ(recs[i]["probes"][0]["latency"]["count"], 1000) << "every call timed";
  }
  EXPECT_NE(failed(recs[6], "events main.work latency max_us").find("over 1000 calls"), std::string::npos)
      << recs[6]["verdicts"].dump(2);
  EXPECT_NE(failed(recs[7], "events main.work latency min_us").find("over 1000 calls"), std::string::npos)
      << recs[7]["verdicts"].dump(2);
}

// --- isolation with writes ------------------------------------------------------------------

TEST_F(VmReliability, ParallelInjectingRunsOnOneBinaryTouchOnlyTheirOwnTracee) {
  std::vector<std::string> args = {"run", "--vm=always", "-j", "2", "--json", (dir_ / "runs.json").string()};
  size_t n = 0;  // each file once: the VM runs a file named twice only once
  for (const char* folder : {"isolation", "isolation-vm"})
    for (const auto& e : fs::directory_iterator(here(folder))) args.push_back(e.path().string()), ++n;
  auto r = test::run_bpfault(args);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const json recs = records(dir_ / "runs.json");
  EXPECT_EQ(recs.size(), n);
  size_t reused = 0;  // runs on probe programs an earlier run of the guest's bpfault loaded
  for (const auto& rec : recs) {
    EXPECT_EQ(rec["status"], "passed") << rec["name"];
    EXPECT_EQ(rec["where"], "vm") << rec["name"];
    reused += rec["phases"]["probes_reused"].get<bool>();
    // the host analysed the binary and sent its analysis with it: the guest analysed nothing
    EXPECT_TRUE(rec["phases"]["analysis_kept"].get<bool>()) << rec["name"];
  }
  EXPECT_GT(reused, 0u) << "no run borrowed loaded probe programs: the isolation of reused ones was not tested";
}

// --- a crash the injection caused -----------------------------------------------------------

TEST_F(VmReliability, ACrashAfterAnUnaskedInjectionIsHarnessCaused) {
  const fs::path rec = dir_ / "record.json";
  auto r = test::run_bpfault({"run", here("must-fail/harness-caused-crash.json").string(), "--json", rec.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(
      r.out.find(
          "  diagnosis: panic: runtime error: invalid memory address or nil pointer dereference (in main.use at "),
      std::string::npos)
      << r.out;
  EXPECT_NE(
      r.out.find(
          "  harness-caused: the tracee crashed after bpfault injected into main.use (1 injection, first at call 1), "
          "and the scenario asked for no crash"),
      std::string::npos)
      << r.out;
  const json recs = records(rec);
  ASSERT_EQ(recs.size(), 1u);
  const json& d = recs[0]["diagnosis"];
  ASSERT_TRUE(d.is_object()) << recs[0].dump(2);
  EXPECT_EQ(d["kind"], "go_panic");
  EXPECT_EQ(d["harness_caused"], true);
  EXPECT_EQ(d["injections"], "main.use (1 injection, first at call 1)");
  EXPECT_NE(d["stderr_tail"].get<std::string>().find("[signal SIGSEGV: segmentation violation"), std::string::npos)
      << d.dump(2);
}

// --- least privilege in the guest (no /etc/passwd there: nobody is the overflow uid) ---------

TEST_F(VmReliability, TheTraceeRunsAsNobodyInTheGuest) {
  auto r = test::run_bpfault({"run", "--vm=always", here("least-privilege/whoami-nobody.json").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[       OK ] least privilege: the tracee runs as nobody, bpfault probes it"), std::string::npos)
      << r.out;
}

// --- the suite controls when the guest runs the scenarios (README, "Commands") ---------------

// --run and --count reach the guest: exactly the selected scenarios, each N times, named as
// natively, all in the VM.
TEST_F(VmReliability, RunAndCountSelectAndRepeatInTheGuest) {
  const fs::path rec = dir_ / "run.json";
  auto r = test::run_bpfault({"run", "--vm=always", "--run", "first 3|every 10th", "--count", "2", "--json",
                              rec.string(), here("selection").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::vector<std::string> names;
  for (const auto& s : records(rec)) {
    names.push_back(s["name"]);
    EXPECT_EQ(s["status"], "passed") << s.dump(2);
    EXPECT_EQ(s["where"], "vm") << s.dump(2);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"selection: every 10th of 40 calls gets i=0",
                                             "selection: every 10th of 40 calls gets i=0 #2",
                                             "selection: the first 3 of 40 calls get i=0, then none",
                                             "selection: the first 3 of 40 calls get i=0, then none #2"}));
}

// --fail-fast in the guest: after the first failure nothing new starts there, and the rest are
// reported as skipped naming it.
TEST_F(VmReliability, FailFastStopsTheGuestsSuite) {
  const fs::path rec = dir_ / "run.json";
  auto r = test::run_bpfault({"run", "--vm=always", "--fail-fast", "--json", rec.string(),
                              here("must-fail/efault-literal.json").string(), here("selection/times-3.json").string(),
                              here("selection/every-10.json").string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const json recs = records(rec);
  ASSERT_EQ(recs.size(), 3u) << r.out;
  EXPECT_EQ(recs[0]["status"], "failed") << recs[0].dump(2);
  for (size_t i : {1u, 2u}) {
    EXPECT_EQ(recs[i]["status"], "skipped") << recs[i].dump(2);
    EXPECT_NE(recs[i]["error"].value("what", "").find("not run: --fail-fast, after \"must fail: writing into a string"),
              std::string::npos)
        << recs[i].dump(2);
    EXPECT_EQ(recs[i]["not_started"], "fail_fast");  // streamed back from the guest
  }
}

// --timeout for the whole run stops a guest's tracee that would run for 300 s: it fails as
// timed out, the reports are written, and the run ends long before the tracee's own timeout.
TEST_F(VmReliability, TheWholeRunsTimeoutStopsTheGuest) {
  const fs::path rec = dir_ / "run.json";
  ASSERT_FALSE(test::fixture("hang").empty());  // built before the clock runs
  const auto start = std::chrono::steady_clock::now();
  auto r = test::run_bpfault(
      {"run", "--vm=always", "--timeout", "40s", "--json", rec.string(), here("teardown/hang.json").string()});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_LT(s, 120) << "the hang's own timeout is 300 s";
  const json recs = records(rec);
  ASSERT_EQ(recs.size(), 1u) << r.out;
  EXPECT_EQ(recs[0]["status"], "failed") << recs[0].dump(2);
  EXPECT_EQ(recs[0]["timed_out"], true) << recs[0].dump(2);
  EXPECT_NE(recs[0]["error"].value("what", "").find("--timeout 40s"), std::string::npos) << recs[0].dump(2);
}

}  // namespace
}  // namespace bpfault
