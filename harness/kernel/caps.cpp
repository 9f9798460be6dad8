#include "kernel/caps.h"
#include "diag/cache_files.h"
#include "kernel/verifier_log.h"

#include <nlohmann/json.hpp>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <caps.h>  // bpf/caps.h (a quoted include would find kernel/caps.h)
#include "caps.skel.h"

// Self-test targets. Written in assembly so that the compiler can assume nothing about them:
// each starts with a nop (uprobes emulate it, no single-step) and returns rax as the caller
// set it, so a forced rax shows; `skip` marks *rdi only when its body runs.
#define BPFAULT_CAPS_PASS(name)                                                                                        \
  ".globl " #name "\n.hidden " #name "\n.type " #name ",@function\n" #name ":\n\tnop\n\tret\n.size " #name ",.-" #name \
  "\n"
asm(".text\n.p2align 4\n"
    BPFAULT_CAPS_PASS(bpfault_caps_read)
    BPFAULT_CAPS_PASS(bpfault_caps_multi)
    BPFAULT_CAPS_PASS(bpfault_caps_ringbuf)
    BPFAULT_CAPS_PASS(bpfault_caps_user)
    BPFAULT_CAPS_PASS(bpfault_caps_regs)
    BPFAULT_CAPS_PASS(bpfault_caps_signal)
    ".globl bpfault_caps_skip\n.hidden bpfault_caps_skip\n.type bpfault_caps_skip,@function\nbpfault_caps_skip:\n"
    "\tnop\n\tmovq $1, (%rdi)\n\tmovl $1, %eax\n\tret\n.size bpfault_caps_skip,.-bpfault_caps_skip\n");
#undef BPFAULT_CAPS_PASS

extern "C" {
void bpfault_caps_read();
void bpfault_caps_multi();
void bpfault_caps_ringbuf();
void bpfault_caps_user();
void bpfault_caps_regs();
void bpfault_caps_signal();
void bpfault_caps_skip();
}

namespace bpfault::kernel {

static_assert(sizeof(caps_record) == 16, "bpf/caps.h: caps_record layout changed");

namespace {

using Clock = std::chrono::steady_clock;

struct CapInfo {
  Cap cap;
  const char* name;
  const char* first_kernel;
  const char* program;  // in bpf/caps.bpf.c
};

// first_kernel: uprobe BPF programs 4.3, bpf_probe_write_user 4.8 (unless locked down),
// bpf_send_signal 5.3, ring buffers 5.8, uprobe_multi 6.6; pt_regs writes from uprobes came with
// Jiri Olsa's series after 6.18 (measured: absent on 6.1/6.12/6.18, present on 7.2/7.3).
constexpr CapInfo kInfo[] = {
    {Cap::uprobe, "uprobe", "4.3", "uprobe_read"},
    {Cap::uprobe_multi, "uprobe_multi", "6.6", "uprobe_multi_read"},
    {Cap::ringbuf, "ringbuf", "5.8", "uprobe_ringbuf"},
    {Cap::write_user, "write_user", "4.8", "uprobe_write_user"},
    {Cap::write_regs, "write_regs", "7.x", "uprobe_write_regs"},
    {Cap::write_ip, "write_ip", "7.x", "uprobe_write_ip"},
    {Cap::send_signal, "send_signal", "5.3", "uprobe_send_signal"},
};
static_assert(std::size(kInfo) == all_caps.size());

const CapInfo& info(Cap cap) { return kInfo[static_cast<size_t>(cap)]; }

struct SkelDeleter {
  void operator()(caps_bpf* s) const { caps_bpf__destroy(s); }
};
struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
struct RingDeleter {
  void operator()(ring_buffer* r) const { ring_buffer__free(r); }
};
using Skel = std::unique_ptr<caps_bpf, SkelDeleter>;
using Link = std::unique_ptr<bpf_link, LinkDeleter>;
using Ring = std::unique_ptr<ring_buffer, RingDeleter>;

// Expected refusals must not reach stderr; the verifier's words go into CapResult instead.
class QuietLibbpf {
 public:
  QuietLibbpf() : old_(libbpf_set_print([](libbpf_print_level, const char*, va_list) { return 0; })) {}
  ~QuietLibbpf() { libbpf_set_print(old_); }
  QuietLibbpf(const QuietLibbpf&) = delete;
  QuietLibbpf& operator=(const QuietLibbpf&) = delete;

 private:
  libbpf_print_fn_t old_;
};

// Calls a target with rax and rdi set. The 128 bytes skip the red zone our caller may use:
// a `call` from inline assembly would otherwise overwrite it.
long call_target(void (*fn)(), long rax, volatile void* rdi) {
  asm volatile("sub $128, %%rsp\n\tcall *%[fn]\n\tadd $128, %%rsp"
               : "+a"(rax), "+D"(rdi)
               : [fn] "r"(fn)
               : "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory", "cc");
  return rax;
}

// Where a function of this process lives on disk: uprobes attach to (file, offset).
struct Location {
  std::string path;
  uint64_t offset = 0;
};

std::optional<Location> locate(void (*fn)()) {
  auto addr = reinterpret_cast<uint64_t>(fn);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    uint64_t start, end, off;
    char perms[5];
    int path_at = 0;
    if (sscanf(line.c_str(), "%lx-%lx %4s %lx %*s %*s %n", &start, &end, perms, &off, &path_at) < 4) continue;
    if (addr < start || addr >= end || perms[2] != 'x') continue;
    std::string path = path_at > 0 ? line.substr(static_cast<size_t>(path_at)) : "";
    // /proc/self/exe still names the file after a rebuild replaced it ("... (deleted)")
    struct stat a, b;
    if (stat("/proc/self/exe", &a) == 0 &&
        (path.empty() || stat(path.c_str(), &b) != 0 || (a.st_dev == b.st_dev && a.st_ino == b.st_ino)))
      path = "/proc/self/exe";
    return Location{path, addr - start + off};
  }
  return std::nullopt;
}

std::string read_lockdown() {
  auto bracketed = [](const std::string& s) -> std::string {
    auto a = s.find('['), b = s.find(']');
    return a != std::string::npos && b > a ? s.substr(a + 1, b - a - 1) : "";
  };
  std::ifstream f("/sys/kernel/security/lockdown");
  std::string text;
  if (std::getline(f, text)) return bracketed(text);
  if (access("/sys/kernel/security", F_OK) != 0) return "unknown (no securityfs)";
  // securityfs is not mounted here: mount it in a private mount namespace of a short-lived
  // child, so that the host's mounts stay as they are. Only syscalls after fork.
  int fds[2];
  if (pipe(fds)) return "unknown";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (unshare(CLONE_NEWNS) || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) ||
        mount("securityfs", "/sys/kernel/security", "securityfs", 0, nullptr))
      _exit(1);
    int fd = open("/sys/kernel/security/lockdown", O_RDONLY);
    char buf[128];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    if (n > 0 && write(fds[1], buf, static_cast<size_t>(n)) != n) _exit(1);
    _exit(n > 0 ? 0 : 1);
  }
  close(fds[1]);
  char buf[128];
  ssize_t n = pid > 0 ? read(fds[0], buf, sizeof buf) : -1;
  close(fds[0]);
  if (pid > 0) waitpid(pid, nullptr, 0);
  std::string word = n > 0 ? bracketed(std::string(buf, static_cast<size_t>(n))) : "";
  return word.empty() ? "unknown (securityfs not mounted)" : word;
}

// One capability's program, loaded alone (a refusal must not hide the others), and what its
// self-test attached.
struct Probe {
  CapResult result;
  Skel skel;
  bpf_program* prog = nullptr;
  Link link;
  Ring ring;
};

Probe load_alone(Cap cap, bool multi) {
  const CapInfo& i = info(cap);
  Probe p{CapResult{cap, i.name, i.first_kernel, false, "", ""}, nullptr, nullptr, nullptr, nullptr};
  CapResult& r = p.result;
  p.skel.reset(caps_bpf__open());
  if (!p.skel) {
    r.reason = fmt::format("opening bpf/caps.bpf.c failed: {}", strerror(errno));
    return p;
  }
  bpf_program* prog;
  bpf_object__for_each_program(prog, p.skel->obj) {
    bool mine = strcmp(bpf_program__name(prog), i.program) == 0;
    bpf_program__set_autoload(prog, mine);
    if (mine) p.prog = prog;
  }
  // a uprobe_multi link takes only programs loaded for it
  if (multi) bpf_program__set_expected_attach_type(p.prog, BPF_TRACE_UPROBE_MULTI);
  bpf_map__set_autocreate(p.skel->maps.records, cap == Cap::ringbuf);
  // log level 0 with a buffer: libbpf loads without a log and retries with one only on failure
  static thread_local char log[64 * 1024];
  log[0] = 0;
  bpf_program__set_log_buf(p.prog, log, sizeof log);
  if (int err = caps_bpf__load(p.skel.get())) {
    r.log = log;
    r.reason = verifier_reason(r.log);
    if (r.reason.empty()) r.reason = fmt::format("load failed: {}", strerror(-err));
    if (err == -EPERM && geteuid() != 0) r.reason += " (bpfault needs root, or CAP_BPF and CAP_PERFMON)";
    p.skel.reset();
  }
  return p;
}

// Attaches through a uprobe_multi link when `multi` (what a run uses on 6.6+), else through a
// perf-event uprobe (the only way before 6.6).
bool attach(Probe& p, void (*target)(), pid_t pid, bool multi) {
  auto where = locate(target);
  if (!where) {
    p.result.reason = "self-test target not found in /proc/self/maps";
    return false;
  }
  bpf_link* l;
  if (multi) {
    unsigned long offset = where->offset;
    LIBBPF_OPTS(bpf_uprobe_multi_opts, o, .offsets = &offset, .cnt = 1);
    l = bpf_program__attach_uprobe_multi(p.prog, pid, where->path.c_str(), nullptr, &o);
  } else {
    LIBBPF_OPTS(bpf_uprobe_opts, o);
    l = bpf_program__attach_uprobe_opts(p.prog, pid, where->path.c_str(), where->offset, &o);
  }
  if (!l)
    p.result.reason =
        fmt::format("loaded, but attaching a {} failed: {}", multi ? "uprobe_multi link" : "uprobe", strerror(errno));
  p.link.reset(l);
  return l != nullptr;
}

std::atomic<int> signals_seen{0};

// Installs a counting handler for CAPS_SIGNAL and unblocks it in this thread; restores both.
class SignalCatcher {
 public:
  SignalCatcher() {
    struct sigaction sa {};
    sa.sa_handler = [](int) { signals_seen.fetch_add(1); };
    sigemptyset(&sa.sa_mask);
    sigaction(CAPS_SIGNAL, &sa, &old_action_);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, CAPS_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, &old_mask_);
  }
  ~SignalCatcher() {
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    sigaction(CAPS_SIGNAL, &old_action_, nullptr);
  }
  SignalCatcher(const SignalCatcher&) = delete;
  SignalCatcher& operator=(const SignalCatcher&) = delete;

 private:
  struct sigaction old_action_ {};
  sigset_t old_mask_{};
};

int on_record(void* ctx, void* data, size_t size) {
  auto* seen = static_cast<caps_record*>(ctx);
  if (size >= sizeof(caps_record)) *seen = *static_cast<caps_record*>(data);
  return 0;
}

// The early-return test runs in a forked child: a kernel that accepts the ip write but then
// emulates the original instruction at the new ip would crash the caller. The child only
// makes system calls and the target call (fork of a threaded process).
void test_write_ip(Probe& p, bool multi) {
  CapResult& r = p.result;
  int go[2], back[2];
  if (pipe2(go, O_CLOEXEC) || pipe2(back, O_CLOEXEC)) {
    r.reason = fmt::format("pipe: {}", strerror(errno));
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    if (read(go[0], &c, 1) != 1) _exit(2);
    volatile uint64_t ran = 0;
    long rax = call_target(bpfault_caps_skip, 5, &ran);
    long out[2] = {rax, static_cast<long>(ran)};
    _exit(write(back[1], out, sizeof out) == sizeof out ? 0 : 2);
  }
  close(go[0]);
  close(back[1]);
  bool attached = pid > 0 && attach(p, bpfault_caps_skip, pid, multi);
  long out[2] = {0, 0};
  ssize_t n = -1;
  if (attached) {
    (void)!write(go[1], "x", 1);
    n = read(back[0], out, sizeof out);
  }
  close(go[1]);  // without the go byte, the child exits at once
  close(back[0]);
  int status = 0;
  if (pid > 0) waitpid(pid, &status, 0);
  if (pid < 0)
    r.reason = fmt::format("fork: {}", strerror(errno));
  else if (!attached)
    return;
  else if (WIFSIGNALED(status))
    r.reason = fmt::format("the ip write was accepted but not honoured: the test process died of {}",
                           strsignal(WTERMSIG(status)));
  else if (n != sizeof out)
    r.reason = "the test process did not report";
  else if (out[0] != CAPS_FORCED || out[1] != 0)
    r.reason = fmt::format("loaded and attached, but the function ran (returned {}, body ran: {})", out[0],
                           out[1] ? "yes" : "no");
  else
    r.available = true;
}

void self_test(Probe& p, bool multi) {
  CapResult& r = p.result;
  caps_bpf* s = p.skel.get();
  pid_t self = getpid();
  auto expect_hit = [&](void (*target)()) {
    if (!attach(p, target, self, multi)) return;
    call_target(target, 0, nullptr);
    if (s->bss->hits == 1)
      r.available = true;
    else
      r.reason = fmt::format("loaded and attached, but the probe fired {} times for 1 call", s->bss->hits);
  };
  switch (r.cap) {
    case Cap::uprobe:
      return expect_hit(bpfault_caps_read);
    case Cap::uprobe_multi:
      return expect_hit(bpfault_caps_multi);
    case Cap::ringbuf: {
      caps_record seen{};
      p.ring.reset(ring_buffer__new(bpf_map__fd(s->maps.records), on_record, &seen, nullptr));
      if (!p.ring) {
        r.reason = fmt::format("ring_buffer__new: {}", strerror(errno));
        return;
      }
      if (!attach(p, bpfault_caps_ringbuf, self, multi)) return;
      int marker = 0;
      call_target(bpfault_caps_ringbuf, 0, &marker);
      ring_buffer__consume(p.ring.get());
      if (seen.magic == CAPS_RECORD && seen.rdi == reinterpret_cast<uint64_t>(&marker))
        r.available = true;
      else
        r.reason = "loaded and attached, but no record arrived through the ring buffer";
      return;
    }
    case Cap::write_user: {
      if (!attach(p, bpfault_caps_user, self, multi)) return;
      volatile uint64_t cell = 1;
      call_target(bpfault_caps_user, 0, &cell);
      if (cell == CAPS_WRITTEN)
        r.available = true;
      else
        r.reason =
            fmt::format("loaded and attached, but the memory kept its value (helper returned {})", s->bss->write_ret);
      return;
    }
    case Cap::write_regs: {
      if (!attach(p, bpfault_caps_regs, self, multi)) return;
      long rax = call_target(bpfault_caps_regs, 5, nullptr);
      if (rax == CAPS_FORCED)
        r.available = true;
      else
        r.reason = fmt::format("loaded and attached, but rax stayed {}", rax);
      return;
    }
    case Cap::write_ip:
      return test_write_ip(p, multi);
    case Cap::send_signal: {
      SignalCatcher catcher;
      if (!attach(p, bpfault_caps_signal, self, multi)) return;
      int before = signals_seen.load();
      call_target(bpfault_caps_signal, 0, nullptr);
      // delivered on the return from the uprobe trap, normally before the call returns
      for (int i = 0; i < 100 && signals_seen.load() == before; ++i) usleep(1000);
      if (signals_seen.load() != before)
        r.available = true;
      else
        r.reason = "loaded and attached, but no signal arrived";
      return;
    }
  }
}

// Detaching a uprobe costs a tasks-trace RCU grace period in the kernel (6.13+:
// perf_event_detach_bpf_prog() calls synchronize_rcu_tasks_trace() under bpf_event_mutex,
// ~90 ms here; a uprobe_multi link ~40 ms). The self-test links are idle from now on, so they
// are released on their own threads, concurrently, while bpfault goes on with its work.
void release_in_background(std::vector<Probe> probes) {
  for (Probe& p : probes) {
    if (!p.link) continue;  // nothing slow to release
    std::thread([owned = std::move(p)]() mutable {
      owned.link.reset();
      owned.ring.reset();
      owned.skel.reset();
    }).detach();
  }
}

}  // namespace

const CapResult& Capabilities::get(Cap cap) const {
  for (const CapResult& r : results)
    if (r.cap == cap) return r;
  static const CapResult none{};
  return none;
}

std::string_view cap_name(Cap cap) { return info(cap).name; }

std::optional<Cap> cap_from_name(std::string_view name) {
  for (const CapInfo& i : kInfo)
    if (name == i.name) return i.cap;
  return std::nullopt;
}

Capabilities probe_capabilities() {
  const auto start = Clock::now();
  Capabilities caps;
  utsname u{};
  uname(&u);
  caps.kernel_release = u.release;
  caps.lockdown = read_lockdown();
  QuietLibbpf quiet;
  // uprobe_multi first: when it works, the others attach the way a run would on this kernel
  // (one link for many sites); Cap::uprobe always tests the perf-event uprobe of kernels < 6.6.
  Probe multi = load_alone(Cap::uprobe_multi, true);
  if (multi.skel) self_test(multi, true);
  const bool use_multi = multi.result.available;
  std::vector<Probe> probes;
  for (Cap cap : all_caps) {
    if (cap == Cap::uprobe_multi) {
      probes.push_back(std::move(multi));  // NOLINT(bugprone-use-after-move): all_caps names it once
      continue;
    }
    bool via_multi = use_multi && cap != Cap::uprobe;
    probes.push_back(load_alone(cap, via_multi));
    if (probes.back().skel) self_test(probes.back(), via_multi);
  }
  for (Probe& p : probes) caps.results.push_back(p.result);
  release_in_background(std::move(probes));
  caps.probe_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return caps;
}

namespace {

// Capabilities do not change while a kernel runs (lockdown can only be raised, and nobody does
// it mid-suite), but probing costs ~20 ms plus ~150 ms of detaching in the background: a
// suite of ctest runs probes once per boot and reads the answer back (/run is cleared at boot).
std::filesystem::path cache_file() {
  return diag::per_boot_file("caps", ".json");  // the probes are part of bpfault: keyed by its build too
}

std::optional<Capabilities> load_cached(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    Capabilities c;
    c.kernel_release = j.at("kernel_release");
    c.lockdown = j.at("lockdown");
    for (Cap cap : all_caps) {
      const auto& r = j.at("results").at(std::string(cap_name(cap)));
      c.results.push_back(
          {cap, std::string(cap_name(cap)), r.at("first_kernel"), r.at("available"), r.at("reason"), r.at("log")});
    }
    return c;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

void save_cached(const std::filesystem::path& file, const Capabilities& c) {
  nlohmann::json j = {
      {"kernel_release", c.kernel_release}, {"lockdown", c.lockdown}, {"results", nlohmann::json::object()}};
  for (const auto& r : c.results)
    j["results"][r.name] = {
        {"first_kernel", r.first_kernel}, {"available", r.available}, {"reason", r.reason}, {"log", r.log}};
  diag::write_atomically(file, j.dump());
  diag::keep_newest(file.parent_path(), "caps-", ".json", 8);  // another build's file only costs it one probe
}

}  // namespace

const Capabilities& capabilities() {
  static const Capabilities caps = [] {
    const char* off = std::getenv("BPFAULT_NO_CAPS_CACHE");
    auto file = off && *off ? std::filesystem::path() : cache_file();
    if (!file.empty())
      if (auto cached = load_cached(file)) return *cached;
    Capabilities fresh = probe_capabilities();
    if (!file.empty()) save_cached(file, fresh);
    return fresh;
  }();
  return caps;
}

}  // namespace bpfault::kernel
