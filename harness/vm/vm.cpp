#include "vm/vm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "process/child.h"
#include "process/interrupt.h"
#include "vm/handover.h"
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
  std::string qemu_path() const { return "file:" + fd_path(fds_[1]); }

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

// Shared memory qemu exposes to the guest as an ivshmem device, through which the run's files
// are handed over once the caller has them (vm/handover.h). Sized like the guest's memory, which
// must hold the files once unpacked anyway; only the pages written take host memory.
class Handover {
 public:
  explicit Handover(int memory_mb) {
    bytes_ = size_t{1} << 20;
    while (bytes_ < static_cast<size_t>(memory_mb) << 20) bytes_ <<= 1;  // a PCI BAR: a power of two
    fd_ = memfd_create("bpfault-handover", MFD_CLOEXEC);
    if (fd_ < 0) {
      error_ = errno;
    } else if (ftruncate(fd_, static_cast<off_t>(bytes_))) {
      error_ = errno;
      close(fd_);
      fd_ = -1;
    }
  }
  ~Handover() {
    if (fd_ >= 0) close(fd_);
  }
  Handover(const Handover&) = delete;
  Handover& operator=(const Handover&) = delete;

  int error() const { return error_; }  // why there is no shared memory (0: there is)
  std::vector<std::string> qemu_args() const {
    return {"-object",
            fmt::format("memory-backend-file,id=handover,share=on,mem-path={},size={}", fd_path(fd_), bytes_),
            "-device", "ivshmem-plain,memdev=handover"};
  }
  // The archive, then (last) the header that tells the guest it is all there.
  Result<void> put(std::string_view archive) {
    if (archive.size() > bytes_ - HANDOVER_DATA)
      return fail(ErrorKind::bad_input, "vm",
                  fmt::format("the files for the VM take {} MB, more than its {} MB of memory", archive.size() >> 20,
                              bytes_ >> 20),
                  "run fewer scenarios per boot");
    void* at = mmap(nullptr, HANDOVER_DATA + archive.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (at == MAP_FAILED) return fail(ErrorKind::internal, "vm", fmt::format("mmap: {}", strerror(errno)));
    auto* h = static_cast<handover_header*>(at);
    std::memcpy(static_cast<char*>(at) + HANDOVER_DATA, archive.data(), archive.size());
    h->bytes = archive.size();
    std::atomic_thread_fence(std::memory_order_seq_cst);  // everything before the magic
    std::atomic_ref<unsigned long long>(h->magic).store(HANDOVER_MAGIC, std::memory_order_release);
    munmap(at, HANDOVER_DATA + archive.size());
    return {};
  }

 private:
  int fd_ = -1;
  int error_ = 0;
  size_t bytes_ = 0;
};

// One qemu process: its serial ports and what its console said.
struct Attempt {
  SerialPipe console, stream;
  std::optional<process::Child> child;
  Accel accel = Accel::tcg;
  Clock::time_point t0;
  std::deque<std::string> tail;
  bool init_seen = false, done_seen = false;
  Outcome out;
  double handed_s = 0;  // since t0, when the files were handed over (0: before this qemu started)

  void on_console(std::string_view line, bool verbose) {
    if (verbose) fmt::print(stderr, "{}\n", line);
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
  }
};

}  // namespace

struct Boot::State {
  Kernel kernel;
  Options opts;
  fs::path qemu;
  std::optional<Initramfs> base;
  Handover handover;
  AccelMode mode = AccelMode::automatic;
  AccelChoice choice;
  std::unique_ptr<Attempt> first;
  // drains the first attempt's console until run(): its boot is timed as it happens
  std::thread watch;
  std::atomic<bool> watching{false};
  std::atomic<bool> at_init{false};

  explicit State(const Options& o) : opts(o), handover(o.memory_mb) {}
  ~State() { stop_watching(); }
  void stop_watching() {
    watching = false;
    if (watch.joinable()) watch.join();
  }

  // The recipe of notes/vm-kernels.md: q35 + the PVH vmlinux (no decompressor, no real mode),
  // one TCG thread (multi-threaded TCG crashed guests with "Oops: int3" while the kernel
  // live-patched its text), and a kernel that stops qemu at once when it panics. `-cpu max` is
  // valid under both accelerators (under KVM: the host's features).
  // transparent_hugepage=never: khugepaged collapsing the tracee's heap clears its page table
  // entries for a moment, and a probe reading g then misses it (the run fails: README,
  // 'Goroutines'). Debian's kernels default to THP "always".
  Result<std::unique_ptr<Attempt>> spawn(Accel accel) const {
    auto a = std::make_unique<Attempt>();
    if (!a->console.ok() || !a->stream.ok())
      return fail(ErrorKind::internal, "vm", fmt::format("pipe: {}", strerror(errno)));
    a->accel = accel;
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
                base->path(),
                "-append",
                "console=ttyS0 quiet panic=-1 oops=panic cryptomgr.notests=1 transparent_hugepage=never",
                "-serial",
                a->console.qemu_path(),
                "-serial",
                a->stream.qemu_path(),
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x04"};
    for (auto& arg : handover.qemu_args()) cmd.argv.push_back(std::move(arg));
    if (opts.verbose) {
      std::string line;
      for (const auto& arg : cmd.argv) line += (line.empty() ? "" : " ") + arg;
      fmt::print(stderr, "vm: {}\n", line);
    }
    a->t0 = Clock::now();
    auto child = process::Child::spawn(cmd, false);
    if (!child) return tl::unexpected(child.error());
    a->child.emplace(std::move(*child));
    return a;
  }

  // Streams the command's stdout and waits for qemu's end, or the watchdog (`timeout` from now).
  Outcome finish(Attempt& a, const std::function<void(std::string_view)>& on_line, std::chrono::seconds timeout) const {
    auto on_console = [&](std::string_view line) { a.on_console(line, opts.verbose); };
    auto on_stream = [&](std::string_view line) {
      if (a.out.first_line_s == 0) a.out.first_line_s = seconds_since(a.t0);
      if (on_line) on_line(line);
    };
    const auto deadline = Clock::now() + timeout;
    bool lifeless = false;  // a KVM guest that did not reach /init within the bound: stopped here
    bool watchdog = false;
    const pid_t pid = a.child->pid();
    process::Outcome q = a.child->wait(
        [&] {
          a.console.drain(on_console);
          a.stream.drain(on_stream);
          if (a.accel == Accel::kvm && !a.init_seen && !lifeless && seconds_since(a.t0) > opts.kvm_life_bound.count()) {
            lifeless = true;
            kill(-pid, SIGKILL);  // qemu leads its own process group
          }
          if (!watchdog && Clock::now() > deadline) {
            watchdog = true;
            kill(-pid, SIGKILL);
          }
        },
        std::chrono::milliseconds(10));
    a.console.drain(on_console);
    a.stream.drain(on_stream);
    a.console.flush(on_console);
    a.stream.flush(on_stream);
    Outcome& out = a.out;
    out.wall_s = seconds_since(a.t0);
    if (a.init_seen && a.handed_s > out.boot_s) out.waited_s = a.handed_s - out.boot_s;

    out.console_tail = console_tail(a.tail);
    if (!q.err.empty()) out.console_tail += "qemu: " + q.err;
    if (lifeless)
      out.console_tail += fmt::format("bpfault: no sign of life from the guest under KVM after {} s: qemu stopped\n",
                                      opts.kvm_life_bound.count());
    // isa-debug-exit makes qemu exit with (code << 1) | 1; a panic with -no-reboot exits 0
    const bool exit_device = q.signal == 0 && !watchdog && (q.exit_code & 1);
    if (a.done_seen && exit_device)
      out.status = Outcome::Status::completed;
    else if (watchdog)
      out.status = Outcome::Status::timed_out;
    else if (!a.init_seen)
      out.status = Outcome::Status::boot_failed;
    else
      out.status = Outcome::Status::crashed;
    if (out.status != Outcome::Status::completed) out.guest_exit = -1;
    return out;
  }
};

namespace {

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

Boot::Boot(std::unique_ptr<State> s) : s_(std::move(s)) {}
Boot::Boot(Boot&&) noexcept = default;
Boot& Boot::operator=(Boot&&) noexcept = default;
Boot::~Boot() = default;  // a qemu that was never given its files is killed with its Child

Result<Boot> Boot::start(const Kernel& kernel, const Options& opts) {
  auto s = std::make_unique<State>(opts);
  s->kernel = kernel;
  auto qemu = find_qemu();
  if (!qemu) return tl::unexpected(qemu.error());
  s->qemu = *qemu;
  std::error_code ec;
  if (!fs::is_regular_file(kernel.vmlinux, ec))
    return fail(ErrorKind::environment, kernel.vmlinux.string(), fmt::format("VM kernel {} is missing", kernel.name),
                "run ci/kernels to download it");
  if (int err = s->handover.error())
    return fail(ErrorKind::environment, "vm", fmt::format("no shared memory for the VM's files: {}", strerror(err)),
                "memfd_create and ftruncate of the guest's memory size must succeed (RLIMIT_FSIZE, tmpfs limits)");
  auto base = Initramfs::base(opts.harness);
  if (!base) return tl::unexpected(base.error());
  s->base.emplace(std::move(*base));

  if (opts.accel) {
    s->mode = *opts.accel;
  } else if (const char* env = std::getenv("BPFAULT_VM_ACCEL"); env && *env) {
    auto parsed = parse_accel_mode(env);
    if (!parsed)
      return tl::unexpected(
          Error{parsed.error().kind, "BPFAULT_VM_ACCEL", parsed.error().what, parsed.error().hint, {}});
    s->mode = *parsed;
  }
  auto choice = choose_accel(s->mode, s->mode == AccelMode::tcg ? std::nullopt : kvm_unusable(),
                             remembered_kvm_death(accel_memory()));
  if (!choice) return tl::unexpected(choice.error());
  s->choice = *choice;

  auto first = s->spawn(s->choice.accel);
  if (!first) return tl::unexpected(first.error());
  s->first = std::move(*first);
  s->watching = true;
  s->watch = std::thread([st = s.get()] {
    Attempt& a = *st->first;
    while (st->watching) {
      a.console.drain([&](std::string_view line) { a.on_console(line, st->opts.verbose); });
      if (a.init_seen) st->at_init = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  return Boot(std::move(s));
}

bool Boot::at_init() const { return s_->at_init; }

pid_t Boot::qemu_pid() const { return s_->first && s_->first->child ? s_->first->child->pid() : -1; }

Result<Outcome> Boot::run(const std::vector<File>& files, const std::vector<std::string>& guest_argv,
                          const std::function<void(std::string_view line)>& on_line, std::chrono::seconds timeout) {
  State& s = *s_;
  s.stop_watching();
  const auto t_pack = Clock::now();
  auto archive = run_archive(s.opts.harness, files, guest_argv);
  if (!archive) return tl::unexpected(archive.error());
  if (auto put = s.handover.put(*archive); !put) return tl::unexpected(put.error());
  const double pack_s = seconds_since(t_pack);
  if (s.first) s.first->handed_s = seconds_since(s.first->t0);

  std::unique_ptr<Attempt> a = std::move(s.first);
  for (int attempt = 1;; ++attempt) {
    if (!a) {
      auto spawned = s.spawn(s.choice.accel);
      if (!spawned) return tl::unexpected(spawned.error());
      a = std::move(*spawned);
    }
    Outcome out = s.finish(*a, on_line, timeout);
    a.reset();
    out.accel = s.choice.accel;
    out.accel_why = s.choice.why;
    // A KVM guest that never reached /init: KVM is what failed (an emulation failure, a hang),
    // not the kernel or the command. Remembered for this host boot; the same boot under TCG.
    if (out.status != Outcome::Status::completed && out.boot_s == 0 && s.choice.accel == Accel::kvm &&
        s.mode == AccelMode::automatic && !process::interrupted()) {
      std::string why = last_line(out.console_tail);
      remember_kvm_dead(accel_memory(), why);
      s.choice = AccelChoice{Accel::tcg, fmt::format("a KVM guest showed no sign of life ({})", why)};
      if (s.opts.on_retry)
        s.opts.on_retry(
            fmt::format("VM on {} under KVM showed no sign of life ({}); booting it under TCG", s.kernel.name, why));
      --attempt;  // not the kernel's retry
      continue;
    }
    out.attempts = attempt;
    out.pack_s = pack_s;
    out.initramfs_bytes = s.base->bytes() + archive->size();
    out.base_from_cache = s.base->base_from_cache();
    // Only a boot that never reached /init is retried (a TCG guest can die of the emulator
    // rather than of the command: notes/vm-kernels.md, "The MTTCG crash"). Once the command
    // runs, a death is the suite's (a panic or an oops bpfault's probes may have caused): never
    // hidden behind a second boot that happens to pass.
    if (out.status != Outcome::Status::boot_failed || attempt > s.opts.retries || process::interrupted()) return out;
    if (s.opts.on_retry)
      s.opts.on_retry(fmt::format("VM on {} {} ({}); booting it again", s.kernel.name, status_name(out.status),
                                  last_line(out.console_tail)));
  }
}

Result<Outcome> run(const Kernel& kernel, const std::vector<File>& files, const std::vector<std::string>& guest_argv,
                    const std::function<void(std::string_view line)>& on_line, const Options& opts) {
  auto boot = Boot::start(kernel, opts);
  if (!boot) return tl::unexpected(boot.error());
  return boot->run(files, guest_argv, on_line, opts.timeout);
}

}  // namespace bpfault::vm
