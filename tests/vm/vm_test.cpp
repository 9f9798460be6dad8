// The VM runner on real Debian kernels (label vm): the capability matrix in the guest, the
// exit code, the output stream, a guest panic, the watchdog, and no qemu left behind when the
// harness dies. Each boot takes 2-4 s under TCG.
#include "vm/vm.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process/interrupt.h"
#include "support/fixtures.h"

namespace bpfault::vm {
namespace {
namespace fs = std::filesystem;

const fs::path harness = fs::path(BPFAULT_BINARY_DIR) / "bpfault";

// Skips only for what the test command installs (ci/setup --vm): qemu and the kernel images.
#define REQUIRE_VM(kernel_name, out)                                                                          \
  if (auto q = vm::find_qemu(); !q) GTEST_SKIP() << q.error().format();                                       \
  auto out##_found = find_kernel(kernel_name);                                                                \
  if (!out##_found) GTEST_SKIP() << "no VM kernel '" << kernel_name << "': " << out##_found.error().format(); \
  const Kernel out = *out##_found;                                                                            \
  ASSERT_TRUE(fs::is_regular_file(harness)) << harness << " is not built"

struct GuestRun {
  Outcome outcome;
  std::vector<std::string> lines;
};

GuestRun run_vm(const Kernel& k, const std::vector<std::string>& argv, Options opts = {},
                const std::vector<File>& files = {}) {
  opts.harness = harness;
  if (opts.timeout == std::chrono::seconds(600)) opts.timeout = std::chrono::seconds(120);
  GuestRun r;
  auto out = run(
      k, files, argv, [&](std::string_view l) { r.lines.emplace_back(l); }, opts);
  EXPECT_TRUE(out) << (out ? "" : out.error().format());
  if (out) r.outcome = *out;
  // The accelerator that ran, and why: on a host without a usable /dev/kvm, TCG with that reason.
  EXPECT_FALSE(r.outcome.accel_why.empty());
  if (auto no_kvm = kvm_unusable(); no_kvm && !opts.accel) {
    EXPECT_EQ(r.outcome.accel, Accel::tcg);
    EXPECT_EQ(r.outcome.accel_why, *no_kvm);
  }
  ::testing::Test::RecordProperty("accel", std::string(accel_name(r.outcome.accel)));
  ::testing::Test::RecordProperty("boot_s", std::to_string(r.outcome.boot_s));
  ::testing::Test::RecordProperty("first_line_s", std::to_string(r.outcome.first_line_s));
  ::testing::Test::RecordProperty("wall_s", std::to_string(r.outcome.wall_s));
  ::testing::Test::RecordProperty("pack_s", std::to_string(r.outcome.pack_s));
  ::testing::Test::RecordProperty("initramfs_bytes", std::to_string(r.outcome.initramfs_bytes));
  return r;
}

// `bpfault caps --json` in the guest -> capability name -> {available, reason}
nlohmann::json guest_caps(const Kernel& k) {
  GuestRun r = run_vm(k, {"bpfault", "caps", "--json"});
  EXPECT_EQ(r.outcome.status, Outcome::Status::completed) << r.outcome.console_tail;
  EXPECT_EQ(r.outcome.guest_exit, 0) << r.outcome.console_tail;
  EXPECT_EQ(r.outcome.kernel_release, k.release);
  EXPECT_EQ(r.lines.size(), 1u) << "one JSON line on the stream";
  nlohmann::json by_name = nlohmann::json::object();
  if (r.lines.empty()) return by_name;
  auto doc = nlohmann::json::parse(r.lines.back(), nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << r.lines.back();
  if (doc.is_discarded()) return by_name;
  EXPECT_EQ(doc["kernel"], k.release);
  EXPECT_EQ(doc["lockdown"], "none");  // Debian kernels booted without EFI secure boot
  for (const auto& c : doc["caps"]) by_name[c["name"].get<std::string>()] = c;
  return by_name;
}

TEST(VmTest, DefaultKernelHasEveryWrite) {
  REQUIRE_VM("", k);
  nlohmann::json caps = guest_caps(k);
  for (const char* name : {"uprobe", "uprobe_multi", "ringbuf", "write_user", "write_regs", "write_ip", "send_signal"})
    EXPECT_EQ(caps[name]["available"], true) << name << ": " << caps[name].dump();
}

TEST(VmTest, Bookworm61HasMemoryWritesOnly) {
  REQUIRE_VM("bookworm", k);
  nlohmann::json caps = guest_caps(k);
  EXPECT_EQ(caps["write_user"]["available"], true) << caps["write_user"].dump();
  EXPECT_EQ(caps["send_signal"]["available"], true) << caps["send_signal"].dump();
  EXPECT_EQ(caps["uprobe_multi"]["available"], false) << "uprobe_multi came with 6.6";
  for (const char* name : {"write_regs", "write_ip"}) {
    EXPECT_EQ(caps[name]["available"], false) << name;
    EXPECT_NE(caps[name].value("reason", "").find("invalid bpf_context access"), std::string::npos)
        << caps[name].dump();
  }
}

TEST(VmTest, StreamsStdoutAndReturnsTheExitCode) {
  REQUIRE_VM("", k);
  auto dir = fs::temp_directory_path() / ("bpfault-vm-test-" + std::to_string(getpid()));
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "hello.txt") << "hello from the host\n";
  std::ofstream(dir / "sub" / "tool") << "#!/bin/sh\necho tool ran\n";
  fs::permissions(dir / "sub" / "tool", fs::perms::owner_all);
  GuestRun r =
      run_vm(k, {"sh", "-c", "cat /data/hello.txt; /data/sub/tool; echo 'it''s quoted'; echo oops >&2; exit 3"}, {},
             {{dir, "/data"}});
  fs::remove_all(dir);
  EXPECT_EQ(r.outcome.status, Outcome::Status::completed) << r.outcome.console_tail;
  EXPECT_EQ(r.outcome.guest_exit, 3);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"hello from the host", "tool ran", "its quoted"}));
  EXPECT_NE(r.outcome.console_tail.find("oops"), std::string::npos) << "stderr goes to the console";
  EXPECT_EQ(r.outcome.attempts, 1);
  EXPECT_GT(r.outcome.boot_s, 0);
  EXPECT_GE(r.outcome.first_line_s, r.outcome.boot_s);
}

// A suite's VM boots while its files are built: a file made only once the guest waits at /init
// reaches it (it cannot have been in the initramfs qemu booted), and the guest says it waited.
TEST(VmTest, ABootStartedBeforeItsFilesRunsThemOnceHandedOver) {
  REQUIRE_VM("", k);
  Options opts;
  opts.harness = harness;
  auto boot = Boot::start(k, opts);
  ASSERT_TRUE(boot) << boot.error().format();
  // a liveness bound, not a timing: TCG boots in 2-4 s
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!boot->at_init() && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(boot->at_init()) << "the guest never reached /init";

  auto dir = fs::temp_directory_path() / ("bpfault-vm-late-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "built-late.txt") << "made after the boot\n";
  std::vector<std::string> lines;
  auto out = boot->run(
      {{dir / "built-late.txt", "/data/built-late.txt"}}, {"sh", "-c", "cat /data/built-late.txt"},
      [&](std::string_view l) { lines.emplace_back(l); }, std::chrono::seconds(120));
  fs::remove_all(dir);
  ASSERT_TRUE(out) << out.error().format();
  EXPECT_EQ(out->status, Outcome::Status::completed) << out->console_tail;
  EXPECT_EQ(out->guest_exit, 0);
  EXPECT_EQ(lines, (std::vector<std::string>{"made after the boot"}));
  EXPECT_GT(out->boot_s, 0);
  EXPECT_GT(out->waited_s, 0) << "the guest reached /init before its files were handed over";
  EXPECT_EQ(out->attempts, 1);
}

// A boot given no files is stopped with its Boot: no qemu is left waiting at /init.
TEST(VmTest, ABootNeverGivenItsFilesLeavesNoQemu) {
  REQUIRE_VM("", k);
  Options opts;
  opts.harness = harness;
  pid_t qemu = 0;
  {
    auto boot = Boot::start(k, opts);
    ASSERT_TRUE(boot) << boot.error().format();
    qemu = boot->qemu_pid();
    ASSERT_GT(qemu, 0);
    EXPECT_EQ(kill(qemu, 0), 0) << "qemu runs while the Boot lives";
  }
  // the Child reaped it: the pid is gone (or, at worst, recycled by an unrelated process)
  std::ifstream stat("/proc/" + std::to_string(qemu) + "/cmdline");
  std::string cmdline((std::istreambuf_iterator<char>(stat)), {});
  EXPECT_EQ(cmdline.find("qemu-system"), std::string::npos) << "qemu " << qemu << " still runs";
}

// A panic while the command runs may be bpfault's doing: reported at once, never retried away.
TEST(VmTest, GuestPanicWhileTheCommandRunsIsReportedNotRetried) {
  REQUIRE_VM("", k);
  Options opts;
  int retries = 0;
  opts.on_retry = [&](std::string_view) { ++retries; };
  GuestRun r = run_vm(k, {"sh", "-c", "echo before; echo c >/proc/sysrq-trigger; echo after"}, opts);
  EXPECT_EQ(r.outcome.status, Outcome::Status::crashed);
  EXPECT_EQ(r.outcome.attempts, 1);
  EXPECT_EQ(retries, 0);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"before"}));
  EXPECT_NE(r.outcome.console_tail.find("Kernel panic - not syncing: sysrq triggered crash"), std::string::npos)
      << r.outcome.console_tail;
}

TEST(VmTest, WatchdogStopsAHungGuest) {
  REQUIRE_VM("", k);
  Options opts;
  opts.timeout = std::chrono::seconds(8);
  auto start = std::chrono::steady_clock::now();
  GuestRun r = run_vm(k, {"sh", "-c", "echo waiting; sleep 600"}, opts);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.outcome.status, Outcome::Status::timed_out) << r.outcome.console_tail;
  EXPECT_EQ(r.outcome.attempts, 1) << "a timeout is not retried";
  EXPECT_EQ(r.lines, std::vector<std::string>{"waiting"});
  EXPECT_LT(s, 12);
}

TEST(VmTest, AKernelThatDoesNotBootIsBootFailed) {
  if (auto q = vm::find_qemu(); !q) GTEST_SKIP() << q.error().format();
  ASSERT_TRUE(fs::is_regular_file(harness)) << harness << " is not built";
  const Kernel not_a_kernel{"busybox", "", "/bin/busybox"};  // an ELF without the PVH entry note
  GuestRun r = run_vm(not_a_kernel, {"true"});
  EXPECT_EQ(r.outcome.status, Outcome::Status::boot_failed);
  EXPECT_EQ(r.outcome.attempts, 2);
  EXPECT_NE(r.outcome.console_tail.find("qemu: "), std::string::npos) << "qemu's own error is kept";
}

// A process of ours that runs a VM, killed with `sig` as soon as its qemu exists: PR_SET_PDEATHSIG
// (SIGKILL) or the interrupt handler (SIGTERM) must take qemu down with it. As a subreaper we
// inherit the orphaned qemu, so we can wait for it to die.
void kill_host_run(int sig) {
  REQUIRE_VM("", k);
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  pid_t host = fork();
  ASSERT_GE(host, 0);
  if (host == 0) {
    process::install_interrupt_handlers();
    Options opts;
    opts.harness = harness;
    auto r = run(k, {}, {"sleep", "600"}, {}, opts);
    _exit(r ? 0 : 2);
  }
  pid_t qemu = -1;
  for (int i = 0; i < 500 && qemu < 0; ++i) {  // up to 5 s: the initramfs is packed first
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (const auto& e : fs::directory_iterator("/proc")) {
      std::ifstream stat(e.path() / "stat");
      std::string pid, comm, state, ppid;
      if (stat >> pid >> comm >> state >> ppid && ppid == std::to_string(host) && comm.starts_with("(qemu-system"))
        qemu = std::stoi(pid);
    }
  }
  ASSERT_GT(qemu, 0) << "qemu did not start";
  ASSERT_EQ(kill(host, sig), 0);
  int status = 0;
  ASSERT_EQ(waitpid(host, &status, 0), host);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig);
  bool reaped = false;
  for (int i = 0; i < 500 && !reaped; ++i) {
    if (waitpid(qemu, nullptr, WNOHANG) == qemu || (kill(qemu, 0) != 0 && errno == ESRCH))
      reaped = true;
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(reaped) << "qemu " << qemu << " outlived the host run killed by " << strsignal(sig);
  if (!reaped) kill(qemu, SIGKILL);
}

TEST(VmTest, KillingTheHostRunKillsQemu) { kill_host_run(SIGKILL); }
TEST(VmTest, InterruptingTheHostRunKillsQemu) { kill_host_run(SIGTERM); }

}  // namespace
}  // namespace bpfault::vm
