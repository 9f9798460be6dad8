#include "vm/vm.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <sstream>

#include <fmt/format.h>

#include "process/child.h"
#include "process/interrupt.h"
#include "vm/initramfs.h"

namespace bpfault::vm {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kTailLines = 40;   // of the console, when nothing crashed
constexpr size_t kCrashLines = 60;  // from the first line of a panic or an oops
constexpr size_t kKeptLines = 2000;
constexpr std::string_view kMarker = "bpfault-vm: ";  // written by /init on the console

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A pipe that qemu writes a serial port into: it opens /proc/<our pid>/fd/<write end> itself,
// so nothing is inherited (both ends are close-on-exec) and no file is left behind.
class SerialPipe {
 public:
  SerialPipe() {
    if (pipe2(fds_, O_CLOEXEC | O_NONBLOCK)) fds_[0] = fds_[1] = -1;
  }
  ~SerialPipe() {
    for (int fd : fds_)
      if (fd >= 0) close(fd);
  }
  SerialPipe(const SerialPipe&) = delete;
  SerialPipe& operator=(const SerialPipe&) = delete;

  bool ok() const { return fds_[0] >= 0; }
  std::string qemu_path() const { return fmt::format("file:/proc/{}/fd/{}", getpid(), fds_[1]); }

  // Everything readable now, split into lines; `partial` keeps an unfinished one.
  template <class F>
  void drain(F&& on_line) {
    char buf[65536];
    ssize_t n;
    while ((n = read(fds_[0], buf, sizeof buf)) > 0) {
      partial_.append(buf, static_cast<size_t>(n));
      size_t start = 0;
      for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1)
        on_line(trimmed(start, nl));
      partial_.erase(0, start);
    }
  }
  template <class F>
  void flush(F&& on_line) {
    if (!partial_.empty()) on_line(trimmed(0, partial_.size()));
    partial_.clear();
  }

 private:
  std::string_view trimmed(size_t start, size_t end) const {
    std::string_view line(partial_.data() + start, end - start);
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  }
  int fds_[2] = {-1, -1};
  std::string partial_;
};

// The lines that explain the end: from the first line of a kernel crash when there is one
// (the backtrace that follows pushes it out of a plain tail), else the last lines.
std::string console_tail(const std::deque<std::string>& lines) {
  size_t from = lines.size() > kTailLines ? lines.size() - kTailLines : 0, count = kTailLines;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.find("Kernel panic") != std::string::npos || l.find("Oops:") != std::string::npos ||
        l.find("BUG:") != std::string::npos || l.find("sysrq: Trigger a crash") != std::string::npos ||
        l.find("general protection fault") != std::string::npos) {
      from = i > 5 ? i - 5 : 0;  // with what the command said just before
      count = kCrashLines;
      break;
    }
  }
  std::string out;
  for (size_t i = from; i < lines.size() && i < from + count; ++i) out += lines[i] + "\n";
  return out;
}

Result<Outcome> boot_once(const fs::path& qemu, const Kernel& kernel, const Initramfs& initramfs, Accel accel,
                          const std::function<void(std::string_view)>& on_line, const Options& opts) {
  SerialPipe console, stream;
  if (!console.ok() || !stream.ok()) return fail(ErrorKind::internal, "vm", fmt::format("pipe: {}", strerror(errno)));
  // The recipe of notes/vm-kernels.md: q35 + the PVH vmlinux (no decompressor, no real mode),
  // one TCG thread (multi-threaded TCG crashed guests with "Oops: int3" while the kernel
  // live-patched its text), and a kernel that stops qemu at once when it panics. `-cpu max` is
  // valid under both accelerators (under KVM: the host's features).
  // transparent_hugepage=never: khugepaged collapsing the tracee's heap clears its page table
  // entries for a moment, and a probe reading g then misses it (the run fails: README,
  // 'Goroutines'). Debian's kernels default to THP "always".
  process::Command cmd;
  cmd.argv = {qemu.string(),
              "-machine",
              "q35",
              "-accel",
              accel == Accel::kvm ? "kvm" : "tcg,thread=single",
              "-cpu",
              "max",
              "-smp",
              "2",
              "-m",
              std::to_string(opts.memory_mb),
              "-nodefaults",
              "-no-user-config",
              "-display",
              "none",
              "-no-reboot",
              "-kernel",
              kernel.vmlinux.string(),
              "-initrd",
              initramfs.path(),
              "-append",
              "console=ttyS0 quiet panic=-1 oops=panic cryptomgr.notests=1 transparent_hugepage=never",
              "-serial",
              console.qemu_path(),
              "-serial",
              stream.qemu_path(),
              "-device",
              "isa-debug-exit,iobase=0xf4,iosize=0x04"};
  cmd.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(opts.timeout);
  if (opts.verbose) {
    std::string line;
    for (const auto& a : cmd.argv) line += (line.empty() ? "" : " ") + a;
    fmt::print(stderr, "vm: {}\n", line);
  }

  Outcome out;
  std::deque<std::string> tail;
  bool init_seen = false, done_seen = false;
  const auto t0 = Clock::now();
  auto on_console = [&](std::string_view line) {
    if (opts.verbose) fmt::print(stderr, "{}\n", line);
    if (line.starts_with(kMarker)) {
      std::istringstream words{std::string(line.substr(kMarker.size()))};
      std::string what;
      words >> what;
      if (what == "init" && !init_seen) {
        init_seen = true;
        out.boot_s = seconds_since(t0);
        words >> out.kernel_release;
      } else if (what == "done" && (words >> out.guest_exit)) {
        done_seen = true;
      }
    }
    tail.emplace_back(line);
    if (tail.size() > kKeptLines) tail.pop_front();
  };
  auto on_stream = [&](std::string_view line) {
    if (out.first_line_s == 0) out.first_line_s = seconds_since(t0);
    if (on_line) on_line(line);
  };

  auto child = process::Child::spawn(cmd, false);
  if (!child) return tl::unexpected(child.error());
  bool lifeless = false;  // a KVM guest that did not reach /init within the bound: stopped here
  process::Outcome q = child->wait(
      [&] {
        console.drain(on_console);
        stream.drain(on_stream);
        if (accel == Accel::kvm && !init_seen && !lifeless && seconds_since(t0) > opts.kvm_life_bound.count()) {
          lifeless = true;
          kill(-child->pid(), SIGKILL);  // qemu leads its own process group
        }
      },
      std::chrono::milliseconds(10));
  console.drain(on_console);
  stream.drain(on_stream);
  console.flush(on_console);
  stream.flush(on_stream);
  out.wall_s = seconds_since(t0);

  out.console_tail = console_tail(tail);
  if (!q.err.empty()) out.console_tail += "qemu: " + q.err;
  if (lifeless)
    out.console_tail += fmt::format("bpfault: no sign of life from the guest under KVM after {} s: qemu stopped\n",
                                    opts.kvm_life_bound.count());
  // isa-debug-exit makes qemu exit with (code << 1) | 1; a panic with -no-reboot exits 0
  const bool exit_device = q.signal == 0 && !q.timed_out && (q.exit_code & 1);
  if (done_seen && exit_device)
    out.status = Outcome::Status::completed;
  else if (q.timed_out)
    out.status = Outcome::Status::timed_out;
  else if (!init_seen)
    out.status = Outcome::Status::boot_failed;
  else
    out.status = Outcome::Status::crashed;
  if (out.status != Outcome::Status::completed) out.guest_exit = -1;
  return out;
}

std::string last_line(std::string_view text) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  auto nl = text.rfind('\n');
  return std::string(nl == std::string_view::npos ? text : text.substr(nl + 1));
}

}  // namespace

Result<fs::path> find_qemu() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    fs::path p = fs::path(dir.empty() ? "." : dir) / "qemu-system-x86_64";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return fail(ErrorKind::environment, "vm", "qemu-system-x86_64 is not installed",
              "install qemu-system-x86 (ci/setup --vm)");
}

std::string_view status_name(Outcome::Status status) {
  switch (status) {
    case Outcome::Status::completed:
      return "completed";
    case Outcome::Status::boot_failed:
      return "boot failed";
    case Outcome::Status::crashed:
      return "crashed";
    case Outcome::Status::timed_out:
      return "timed out";
  }
  return "?";
}

Result<Outcome> run(const Kernel& kernel, const std::vector<File>& files, const std::vector<std::string>& guest_argv,
                    const std::function<void(std::string_view line)>& on_line, const Options& opts) {
  auto qemu = find_qemu();
  if (!qemu) return tl::unexpected(qemu.error());
  std::error_code ec;
  if (!fs::is_regular_file(kernel.vmlinux, ec))
    return fail(ErrorKind::environment, kernel.vmlinux.string(), fmt::format("VM kernel {} is missing", kernel.name),
                "run ci/kernels to download it");
  const auto t_pack = Clock::now();
  auto initramfs = Initramfs::pack(opts.harness, files, guest_argv);
  if (!initramfs) return tl::unexpected(initramfs.error());
  const double pack_s = seconds_since(t_pack);

  AccelMode mode = AccelMode::automatic;
  if (opts.accel) {
    mode = *opts.accel;
  } else if (const char* env = std::getenv("BPFAULT_VM_ACCEL"); env && *env) {
    auto parsed = parse_accel_mode(env);
    if (!parsed)
      return tl::unexpected(
          Error{parsed.error().kind, "BPFAULT_VM_ACCEL", parsed.error().what, parsed.error().hint, {}});
    mode = *parsed;
  }
  auto choice =
      choose_accel(mode, mode == AccelMode::tcg ? std::nullopt : kvm_unusable(), remembered_kvm_death(accel_memory()));
  if (!choice) return tl::unexpected(choice.error());

  for (int attempt = 1;; ++attempt) {
    auto out = boot_once(*qemu, kernel, *initramfs, choice->accel, on_line, opts);
    if (!out) return out;
    out->accel = choice->accel;
    out->accel_why = choice->why;
    // A KVM guest that never reached /init: KVM is what failed (an emulation failure, a hang),
    // not the kernel or the command. Remembered for this host boot; the same boot under TCG.
    if (out->status != Outcome::Status::completed && out->boot_s == 0 && choice->accel == Accel::kvm &&
        mode == AccelMode::automatic && !process::interrupted()) {
      std::string why = last_line(out->console_tail);
      remember_kvm_dead(accel_memory(), why);
      choice = AccelChoice{Accel::tcg, fmt::format("a KVM guest showed no sign of life ({})", why)};
      if (opts.on_retry)
        opts.on_retry(
            fmt::format("VM on {} under KVM showed no sign of life ({}); booting it under TCG", kernel.name, why));
      --attempt;  // not the kernel's retry
      continue;
    }
    out->attempts = attempt;
    out->pack_s = pack_s;
    out->initramfs_bytes = initramfs->bytes();
    out->base_from_cache = initramfs->base_from_cache();
    // Only a boot that never reached /init is retried (a TCG guest can die of the emulator
    // rather than of the command: notes/vm-kernels.md, "The MTTCG crash"). Once the command
    // runs, a death is the suite's (a panic or an oops bpfault's probes may have caused): never
    // hidden behind a second boot that happens to pass.
    if (out->status != Outcome::Status::boot_failed || attempt > opts.retries || process::interrupted()) return out;
    if (opts.on_retry)
      opts.on_retry(fmt::format("VM on {} {} ({}); booting it again", kernel.name, status_name(out->status),
                                last_line(out->console_tail)));
  }
}

}  // namespace bpfault::vm
