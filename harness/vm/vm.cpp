#include "vm/vm.h"

#include <fcntl.h>
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
#include "vm/initramfs.h"

namespace bpfault::vm {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kTailLines = 40;    // of the console, when nothing crashed
constexpr size_t kCrashLines = 60;   // from the first line of a panic or an oops
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
      for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) on_line(trimmed(start, nl));
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

Result<Outcome> boot_once(const fs::path& qemu, const Kernel& kernel, const Initramfs& initramfs,
                          const std::function<void(std::string_view)>& on_line, const Options& opts) {
  SerialPipe console, stream;
  if (!console.ok() || !stream.ok()) return fail(ErrorKind::internal, "vm", fmt::format("pipe: {}", strerror(errno)));
  // The recipe of notes/vm-kernels.md: q35 + the PVH vmlinux (no decompressor, no real mode),
  // one TCG thread (multi-threaded TCG crashed guests with "Oops: int3" while the kernel
  // live-patched its text), and a kernel that stops qemu at once when it panics.
  process::Command cmd;
  cmd.argv = {qemu.string(), "-machine", "q35", "-accel", "tcg,thread=single", "-cpu", "max", "-smp", "2",
              "-m", std::to_string(opts.memory_mb), "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
              "-kernel", kernel.vmlinux.string(), "-initrd", initramfs.path(),
              "-append", "console=ttyS0 quiet panic=-1 oops=panic cryptomgr.notests=1",
              "-serial", console.qemu_path(), "-serial", stream.qemu_path(),
              "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"};
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
  process::Outcome q = child->wait(
      [&] {
        console.drain(on_console);
        stream.drain(on_stream);
      },
      std::chrono::milliseconds(10));
  console.drain(on_console);
  stream.drain(on_stream);
  console.flush(on_console);
  stream.flush(on_stream);
  out.wall_s = seconds_since(t0);

  out.console_tail = console_tail(tail);
  if (!q.err.empty()) out.console_tail += "qemu: " + q.err;
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

}  // namespace

Result<fs::path> find_qemu() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    fs::path p = fs::path(dir.empty() ? "." : dir) / "qemu-system-x86_64";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return fail(ErrorKind::environment, "vm", "qemu-system-x86_64 is not installed", "install qemu-system-x86 (ci/setup --vm)");
}

std::string_view status_name(Outcome::Status status) {
  switch (status) {
    case Outcome::Status::completed: return "completed";
    case Outcome::Status::boot_failed: return "boot failed";
    case Outcome::Status::crashed: return "crashed";
    case Outcome::Status::timed_out: return "timed out";
  }
  return "?";
}

int exit_code(const Outcome& outcome) {
  switch (outcome.status) {
    case Outcome::Status::completed: return outcome.guest_exit;
    case Outcome::Status::timed_out: return 124;
    case Outcome::Status::boot_failed:
    case Outcome::Status::crashed: return 125;
  }
  return 125;
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

  for (int attempt = 1;; ++attempt) {
    auto out = boot_once(*qemu, kernel, *initramfs, on_line, opts);
    if (!out) return out;
    out->attempts = attempt;
    out->pack_s = pack_s;
    out->initramfs_bytes = initramfs->bytes();
    out->base_from_cache = initramfs->base_from_cache();
    const bool died = out->status == Outcome::Status::crashed || out->status == Outcome::Status::boot_failed;
    if (!died || attempt > opts.retries) return out;
    // The guest died without its exit record: retried once, since a TCG guest can die of the
    // emulator rather than of the command (notes/vm-kernels.md, "The MTTCG crash").
    if (opts.on_retry) {
      std::string_view tail = out->console_tail;
      while (!tail.empty() && tail.back() == '\n') tail.remove_suffix(1);
      auto last = tail.rfind('\n');
      opts.on_retry(fmt::format("VM on {} {} ({}); booting it again", kernel.name, status_name(out->status),
                                last == std::string_view::npos ? tail : tail.substr(last + 1)));
    }
  }
}

}  // namespace bpfault::vm
