// bpfault's failure behaviour with writes, in its VM (label vm): interrupted or killed during a
// VM run no qemu survives and no temp file remains; parallel runs with injections on one binary
// see only their own; a crash an injection caused where none was asked for is called
// harness-caused; the tracee runs as nobody in the guest too.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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
  ASSERT_TRUE(test::poll_until([&] {
    for (pid_t p : test::children_of(bpfault->pid()))
      if (fs::path(test::exe_of(p)).filename().string().starts_with("qemu-system")) qemu = p;
    return qemu > 0;
  }, 120s)) << "qemu did not start";
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
  EXPECT_EQ(out.signal, sig) << out.describe() << "\n" << out.out << out.err;
  bool gone = test::poll_until([&] { return waitpid(qemu, nullptr, WNOHANG) == qemu || !test::alive(qemu); }, 10s);
  EXPECT_TRUE(gone) << "qemu " << qemu << " outlived bpfault killed by " << strsignal(sig);
  if (!gone) kill(qemu, SIGKILL), waitpid(qemu, nullptr, 0);
  EXPECT_TRUE(fs::is_empty(dir_ / "tmp")) << "bpfault left files in its TMPDIR";
}

INSTANTIATE_TEST_SUITE_P(Signals, VmTeardown, ::testing::Values(SIGINT, SIGTERM, SIGKILL),
                         [](const auto& info) { return std::string(sigabbrev_np(info.param)); });

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
  for (const auto& rec : recs) {
    EXPECT_EQ(rec["status"], "passed") << rec["name"];
    EXPECT_EQ(rec["where"], "vm") << rec["name"];
  }
}

// --- a crash the injection caused -----------------------------------------------------------

TEST_F(VmReliability, ACrashAfterAnUnaskedInjectionIsHarnessCaused) {
  const fs::path rec = dir_ / "record.json";
  auto r = test::run_bpfault({"run", here("must-fail/harness-caused-crash.json").string(), "--json", rec.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("  diagnosis: panic: runtime error: invalid memory address or nil pointer dereference (in main.use at "),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  harness-caused: the tracee crashed after bpfault injected into main.use (1 injection, first at call 1), "
                       "and the scenario asked for no crash"),
            std::string::npos) << r.out;
  const json recs = records(rec);
  ASSERT_EQ(recs.size(), 1u);
  const json& d = recs[0]["diagnosis"];
  ASSERT_TRUE(d.is_object()) << recs[0].dump(2);
  EXPECT_EQ(d["kind"], "go_panic");
  EXPECT_EQ(d["harness_caused"], true);
  EXPECT_EQ(d["injections"], "main.use (1 injection, first at call 1)");
  EXPECT_NE(d["stderr_tail"].get<std::string>().find("[signal SIGSEGV: segmentation violation"), std::string::npos) << d.dump(2);
}

// --- least privilege in the guest (no /etc/passwd there: nobody is the overflow uid) ---------

TEST_F(VmReliability, TheTraceeRunsAsNobodyInTheGuest) {
  auto r = test::run_bpfault({"run", "--vm=always", here("least-privilege/whoami-nobody.json").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[       OK ] least privilege: the tracee runs as nobody, bpfault probes it"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace bpfault
