#include "kernel/probe_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "kernel/caps.h"
#include "kernel/kernel_btf.h"
#include "kernel/verifier_log.h"
#include "probe.skel.h"

namespace bpfault::kernel {

static_assert(sizeof(probe_capture) == 24 && sizeof(probe_site) == 24 + 24 * PROBE_MAX_CAPTURES,
              "bpf/probe.h: probe_site layout changed");
static_assert(sizeof(probe_loc) == 8 && sizeof(probe_write) == 72 && sizeof(probe_pred) == 64,
              "bpf/probe.h layout changed");
static_assert(sizeof(probe_event) == 72 + 8 * PROBE_INT_REGS + PROBE_STACK_BYTES,
              "bpf/probe.h: probe_event layout changed");
static_assert(sizeof(probe_range) == 16 && offsetof(probe_rule, callers) == 24 &&
                  sizeof(probe_rule) == 24 + sizeof(probe_range) * PROBE_MAX_CALLER_RANGES +
                                            sizeof(probe_pred) * PROBE_MAX_PREDS + sizeof(probe_step) * PROBE_MAX_STEPS,
              "bpf/probe.h: probe_rule layout changed");
static_assert(sizeof(probe_timing) == 48, "bpf/probe.h: probe_timing layout changed");
static_assert(sizeof(probe_stack) == 16 + PROBE_STACK_COPY, "bpf/probe.h: probe_stack layout changed");
static_assert(sizeof(probe_event_ext) ==
                  sizeof(probe_event) + (4 + PROBE_CAPTURE_BYTES) * PROBE_MAX_CAPTURES + sizeof(probe_stack),
              "bpf/probe.h: probe_event_ext layout changed");
static_assert(sizeof(probe_write_result) == 24 + 2 * PROBE_BYTES, "bpf/probe.h: probe_write_result layout changed");
static_assert(sizeof(probe_injection) == sizeof(probe_event) + 16 + 8 * PROBE_INT_REGS + PROBE_STACK_BYTES +
                                             sizeof(probe_write_result) * PROBE_MAX_WRITES +
                                             2 * (4 + PROBE_CAPTURE_BYTES) * PROBE_MAX_CAPTURES + sizeof(probe_stack),
              "bpf/probe.h: probe_injection layout changed");

namespace {

int quiet(libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_WARN && std::getenv("BPFAULT_LIBBPF_DEBUG")) return vfprintf(stderr, fmt, args);
  return 0;
}

uint64_t read_array(int fd, uint32_t key) {
  uint64_t v = 0;
  bpf_map_lookup_elem(fd, &key, &v);
  return v;
}

bpf_program* program(probe_bpf* skel, Program p) {
  switch (p) {
    case Program::observe:
      return skel->progs.uprobe_observe;
    case Program::decide:
      return skel->progs.uprobe_decide;
    case Program::write_user:
      return skel->progs.uprobe_write_user;
    case Program::write_regs:
      return skel->progs.uprobe_write_regs;
  }
  return nullptr;
}

constexpr Program kPrograms[] = {Program::observe, Program::decide, Program::write_user, Program::write_regs};

}  // namespace

// A loaded bpf/probe.bpf.c and its ring buffer, with the sink its callback fills (heap-held:
// the callback's context survives moves of the session that borrows it).
struct LoadedProbes {
  probe_bpf* skel = nullptr;
  ring_buffer* ring = nullptr;
  std::unique_ptr<ProbeSession::Events> sink = std::make_unique<ProbeSession::Events>();
  unsigned programs = 0;  // a bit per Program loaded
  bool uprobe_multi = true;
  bool served = false;  // by a session before (a preloaded object had none)
  int ring_fd = -1;     // the ring's map when it was made before the object (make_ring_ahead)

  LoadedProbes() = default;
  LoadedProbes(const LoadedProbes&) = delete;
  LoadedProbes& operator=(const LoadedProbes&) = delete;
  ~LoadedProbes() {
    if (ring) ring_buffer__free(ring);
    if (ring_fd >= 0) close(ring_fd);
    if (skel) probe_bpf__destroy(skel);
  }
};

ProbeSession::ProbeSession(ProbeSession&& o) noexcept
    : config_(std::move(o.config_)), loaded_(std::move(o.loaded_)), links_(std::move(o.links_)), reused_(o.reused_) {
  o.links_.clear();
}

namespace {

// Releasing a uprobe link waits in the kernel for RCU grace periods (a uprobe_multi link:
// synchronize_rcu_tasks_trace() and the dup_mmap_sem writer's synchronize_rcu(), 20-120 ms
// here), long after the tracee has gone. A grandchild takes a reference to every link and drops
// it once ours are gone, so the last reference, and the wait, are its: neither the next
// scenario nor bpfault's exit waits. The grandchild is reparented to init, closes everything
// else first (stdout too: a pipe reader sees EOF at once), and only makes system calls.
// Returns the gate to close once our own references are gone (-1: release here, as before).
int release_elsewhere(const std::vector<int>& links) {
  int gate[2];
  if (links.empty() || pipe2(gate, O_CLOEXEC) != 0) return -1;
  std::vector<int> keep = links;  // built before fork: the child must not allocate
  keep.push_back(gate[0]);
  std::sort(keep.begin(), keep.end());
  pid_t pid = fork();
  if (pid == 0) {
    if (fork() != 0) _exit(0);
    unsigned lo = 0;
    for (int fd : keep) {
      if (static_cast<unsigned>(fd) > lo) syscall(SYS_close_range, lo, static_cast<unsigned>(fd) - 1, 0);
      lo = static_cast<unsigned>(fd) + 1;
    }
    syscall(SYS_close_range, lo, ~0U, 0);
    char c;
    while (read(gate[0], &c, 1) > 0) {
    }
    _exit(0);  // the links' last references go here
  }
  close(gate[0]);
  if (pid < 0) {
    close(gate[1]);
    return -1;
  }
  waitpid(pid, nullptr, 0);
  return gate[1];
}

// The process's loaded objects no session holds. Never destroyed: freeing them at exit only
// costs time (the kernel frees their maps and programs with the file descriptors).
std::mutex pool_mu;
auto& idle = *new std::vector<std::unique_ptr<LoadedProbes>>;

unsigned program_bit(Program p) { return 1U << static_cast<unsigned>(p); }

// The ring buffer made for the process's first load (ProbeSession::make_ring_ahead), guarded by
// pool_mu: an object with only its ring (ring_fd, ring, sink), or nullptr when the kernel refused
// it (the load then makes its own, and says why that fails).
auto& ring_ahead = *new std::future<std::unique_ptr<LoadedProbes>>;

// The ring made ahead, waited for while it is being made; nullptr once it was taken, or never made.
std::unique_ptr<LoadedProbes> take_ring_ahead() {
  std::unique_lock lock(pool_mu);
  if (!ring_ahead.valid()) return nullptr;
  auto ring = std::move(ring_ahead);
  lock.unlock();
  return ring.get();
}

// Objects being loaded ahead of the run that will borrow them (ProbeSession::preload).
struct Preloading {
  unsigned programs;
  bool uprobe_multi;
  std::future<Result<std::unique_ptr<LoadedProbes>>> loaded;
};
auto& preloading = *new std::vector<Preloading>;

// An idle object with at least these programs, attached the same way, else one being preloaded
// (waited for); nullptr when there is none, or the preload failed (the caller loads again and
// reports why).
std::unique_ptr<LoadedProbes> borrow(unsigned programs, bool uprobe_multi) {
  std::unique_lock lock(pool_mu);
  auto fits = [&](unsigned has, bool multi) { return multi == uprobe_multi && (has & programs) == programs; };
  for (auto it = idle.begin(); it != idle.end(); ++it)
    if (fits((*it)->programs, (*it)->uprobe_multi)) {
      auto found = std::move(*it);
      idle.erase(it);
      return found;
    }
  for (auto it = preloading.begin(); it != preloading.end(); ++it)
    if (fits(it->programs, it->uprobe_multi)) {
      auto loaded = std::move(it->loaded);
      preloading.erase(it);
      lock.unlock();
      auto done = loaded.get();
      return done ? std::move(*done) : nullptr;
    }
  return nullptr;
}

}  // namespace

ProbeSession::~ProbeSession() {
  std::vector<int> fds;
  for (bpf_link* l : links_) fds.push_back(bpf_link__fd(l));
  const int gate = release_elsewhere(fds);
  for (bpf_link* l : links_) bpf_link__destroy(l);
  if (gate >= 0) close(gate);  // our references are gone: the grandchild drops its own
  if (!loaded_) return;
  // No hit of this run counts from here on (load() resets the rest before the next run).
  loaded_->skel->bss->target_tgid = 0;
  std::lock_guard lock(pool_mu);
  idle.push_back(std::move(loaded_));
}

namespace {

// Hits run with preemption off (bpf/probe.bpf.c, handle()) unless this kernel refused the
// programs so: some (6.12) allow no global function in a preemption-disabled region. Once a
// load was refused so and loaded preemptible, every later load of the process is preemptible.
std::atomic<bool> preempt_off{true};

// The programs the sites use.
unsigned programs_used(const SessionConfig& config) {
  unsigned bits = 0;
  for (const Site& site : config.sites) bits |= program_bit(site.program);
  return bits;
}

// What this process takes from the kernel's BTF (once: the kernel does not change under it).
// Never destroyed: a preload may still be opening an object while the process exits.
const Result<KernelBtf>& this_kernel_btf() {
  static const auto& k = *new Result<KernelBtf>([] {
    size_t size = 0;
    const void* elf = probe_bpf__elf_bytes(&size);
    return kernel_btf({static_cast<const std::byte*>(elf), size});
  }());
  return k;
}

// Opens the skeleton with only the programs `used` (a bit per Program), its CO-RE types and
// kfunc calls from this boot's kernel BTF (kernel/kernel_btf.h); hits with preemption off when
// `want_preempt_off` and the kernel has the kfuncs.
Result<probe_bpf*> open_configured(unsigned used, bool uprobe_multi, bool want_preempt_off) {
  const Result<KernelBtf>& k = this_kernel_btf();
  if (!k) return tl::unexpected(k.error());
  const std::string core = k->core.string();
  LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = core.c_str());
  probe_bpf* skel = probe_bpf__open_opts(&opts);
  if (!skel) return fail(ErrorKind::internal, "bpf/probe.bpf.c", fmt::format("open failed: {}", strerror(errno)));
  for (Program p : kPrograms) {
    const bool load = (used & program_bit(p)) != 0;
    bpf_program__set_autoload(program(skel, p), load);
    if (uprobe_multi) bpf_program__set_expected_attach_type(program(skel, p), BPF_TRACE_UPROBE_MULTI);
    if (auto r = call_preempt_kfuncs(program(skel, p), *k); load && !r) {
      probe_bpf__destroy(skel);
      return tl::unexpected(r.error());
    }
  }
  skel->rodata->preempt_off = want_preempt_off && k->preempt_disable > 0 && k->preempt_enable > 0;
  return skel;
}

// Loads once more with the verifier's log on, to say why the first load failed.
std::string refusal(unsigned used, bool uprobe_multi) {
  auto opened = open_configured(used, uprobe_multi, preempt_off);
  if (!opened) return "";
  probe_bpf* skel = *opened;
  static thread_local std::string log;
  log.assign(1 << 20, '\0');
  for (Program p : kPrograms)
    if (bpf_program__autoload(program(skel, p))) {
      bpf_program__set_log_buf(program(skel, p), log.data(), log.size());
      bpf_program__set_log_level(program(skel, p), 1);
      break;  // one buffer: the first loaded program's log (the decide program when it is used)
    }
  probe_bpf__load(skel);
  probe_bpf__destroy(skel);
  return verifier_reason(log.substr(0, log.find('\0')));  // the log ends at its NUL
}

// The ring buffer's callback: each record into the sink's vector of its type.
int on_sample(void* ctx, void* data, size_t size) {
  auto* sink = static_cast<ProbeSession::Events*>(ctx);
  uint32_t type = size >= sizeof(uint32_t) ? *static_cast<uint32_t*>(data) : 0;
  if (type == EV_HIT && size >= sizeof(probe_event)) sink->hits.push_back(*static_cast<probe_event*>(data));
  // A site that records no stack emits its hits and injections without the stack copy.
  if (type == EV_HIT_EXT && size >= offsetof(probe_event_ext, stack))
    std::memcpy(&sink->hits_ext.emplace_back(), data, std::min(size, sizeof(probe_event_ext)));
  if (type == EV_TIMING && size >= sizeof(probe_timing)) sink->timings.push_back(*static_cast<probe_timing*>(data));
  // An injection at a site without stacks or captures ends after its writes (injection_size()).
  if (type == EV_INJECTION && size >= offsetof(probe_injection, writes)) {
    const uint32_t nwrites = static_cast<probe_injection*>(data)->nwrites;
    if (size >=
        offsetof(probe_injection, writes) + std::min<size_t>(nwrites, PROBE_MAX_WRITES) * sizeof(probe_write_result))
      std::memcpy(&sink->injections.emplace_back(), data, std::min(size, sizeof(probe_injection)));
  }
  return 0;
}

// A fork copies the page table entries of every shared mapping: a ring buffer's (its 16 MiB
// mapped twice, 8 k entries) was most of what each fork of this process cost (a tracee's spawn,
// a link release: 0.5-1 ms each). No child touches it: a tracee execs, a releaser holds fds.
// Found by its size among the BPF maps' mappings; a range that is gone by the time it is
// marked fails harmlessly.
void keep_ring_from_children() {
  std::ifstream maps("/proc/self/maps");
  const auto ring_bytes = static_cast<ptrdiff_t>(2L * PROBE_RING_BYTES + getpagesize());
  for (std::string line; std::getline(maps, line);) {
    void *lo = nullptr, *hi = nullptr;  // "%p" reads the hexadecimal addresses
    if (line.ends_with("anon_inode:bpf-map") && std::sscanf(line.c_str(), "%p-%p", &lo, &hi) == 2 &&
        static_cast<char*>(hi) - static_cast<char*>(lo) == ring_bytes)
      madvise(lo, static_cast<size_t>(ring_bytes), MADV_DONTFORK);
  }
}

// Maps the ring buffer `fd` into `l`, draining into its sink.
Result<void> map_ring(LoadedProbes& l, int fd) {
  l.ring = ring_buffer__new(fd, on_sample, l.sink.get(), nullptr);
  if (!l.ring) return fail(ErrorKind::internal, "bpf/probe.bpf.c", fmt::format("ring buffer: {}", strerror(errno)));
  keep_ring_from_children();
  return {};
}

std::atomic<unsigned> objects_loaded{0};

// Opens and loads the programs `used`, with the ring buffer that the sink drains into.
Result<std::unique_ptr<LoadedProbes>> load_new(unsigned used, bool uprobe_multi) {
  ++objects_loaded;
  auto l = std::make_unique<LoadedProbes>();
  l->programs = used;
  l->uprobe_multi = uprobe_multi;
  auto opened = open_configured(used, uprobe_multi, preempt_off);
  if (!opened) return tl::unexpected(opened.error());
  l->skel = *opened;
  // The ring made ahead, when there is one and the object takes it (a reused map is the object's
  // or its load fails); else the load makes the map, and it is mapped below.
  if (auto ahead = take_ring_ahead(); ahead && bpf_map__reuse_fd(l->skel->maps.events, ahead->ring_fd) == 0) {
    std::swap(l->ring, ahead->ring);
    std::swap(l->sink, ahead->sink);
    std::swap(l->ring_fd, ahead->ring_fd);
  }
  auto reuse_ring = [&l](probe_bpf* skel) {
    return l->ring_fd < 0 || bpf_map__reuse_fd(skel->maps.events, l->ring_fd) == 0;
  };
  // Decided by this object's own setting, not the process's flag: a preload on another thread
  // may have turned the flag off while this one was loading with preemption off.
  const bool tried_preempt_off = l->skel->rodata->preempt_off;
  int err = probe_bpf__load(l->skel);
  if (err && err != -EPERM && tried_preempt_off) {
    probe_bpf__destroy(l->skel);  // again, preemptible: only that differs
    l->skel = nullptr;
    opened = open_configured(used, uprobe_multi, false);
    if (!opened) return tl::unexpected(opened.error());
    l->skel = *opened;
    err = reuse_ring(l->skel) ? probe_bpf__load(l->skel) : -EINVAL;
    // not the reason when it fails again: refusal() then says why with preemption off, as
    // the programs should be
    if (!err) preempt_off = false;
  }
  if (err) {
    if (err == -EPERM)
      return fail(ErrorKind::unsupported, "bpf/probe.bpf.c", "loading BPF programs is not permitted",
                  "bpfault needs root (or CAP_BPF and CAP_PERFMON); `bpfault caps` shows what this kernel allows");
    std::string why = refusal(used, uprobe_multi);
    return fail(ErrorKind::internal, "bpf/probe.bpf.c",
                fmt::format("the kernel refused the probe programs ({}){}", strerror(-err),
                            why.empty() ? "" : ": verifier: " + why),
                "set BPFAULT_LIBBPF_DEBUG=1 for the whole verifier log, and report it");
  }
  if (l->ring) return l;  // made ahead
  if (auto r = map_ring(*l, bpf_map__fd(l->skel->maps.events)); !r) return tl::unexpected(r.error());
  return l;
}

// Sets every entry of an array map to `value` in one call (counters to 0, rules to none).
template <typename T>
Result<void> fill(bpf_map* map, const T& value) {
  const uint32_t n = bpf_map__max_entries(map);
  std::vector<uint32_t> keys(n);
  for (uint32_t i = 0; i < n; ++i) keys[i] = i;
  std::vector<T> values(n, value);
  uint32_t count = n;
  if (bpf_map_update_batch(bpf_map__fd(map), keys.data(), values.data(), &count, nullptr))
    return fail(ErrorKind::internal, "bpf/probe.bpf.c",
                fmt::format("resetting map {} failed: {}", bpf_map__name(map), strerror(errno)));
  return {};
}

// Makes a loaded object what a fresh load for this run would be: its settings, its sites and
// rules, every counter at 0, no call in flight, nothing in the ring buffer. The previous run's
// tracee has ended or been detached from (its links are gone, and target_tgid is 0).
Result<void> reset(LoadedProbes& l, const SessionConfig& config) {
  probe_bpf* skel = l.skel;
  skel->bss->target_tgid = 0;
  skel->data_settings->goid_offset = config.goid_offset;
  skel->data_settings->stack_hi_offset = config.stack_hi_offset;
  skel->data_settings->ptr_size = config.ptr_size;
  skel->data_settings->seed = config.seed;
  for (bpf_map* counters : {skel->maps.site_hits, skel->maps.probe_calls, skel->maps.probe_matches,
                            skel->maps.step_fired, skel->maps.pinned_goid})
    if (auto r = fill(counters, uint64_t{0}); !r) return r;
  if (auto r = fill(skel->maps.rules, probe_rule{}); !r) return r;
  // calls of the previous run still in flight (a panic unwound them): none may pair with this run's RETs
  const int in_flight = bpf_map__fd(skel->maps.in_flight);
  probe_call_key key;
  while (bpf_map_get_next_key(in_flight, nullptr, &key) == 0)
    if (bpf_map_delete_elem(in_flight, &key))
      return fail(ErrorKind::internal, "bpf/probe.bpf.c",
                  fmt::format("emptying the calls in flight failed: {}", strerror(errno)));
  ring_buffer__consume(l.ring);
  skel->bss->drops = 0;
  skel->bss->goid_misses = 0;
  skel->bss->unpaired = 0;
  int sites_fd = bpf_map__fd(skel->maps.sites);
  for (uint32_t i = 0; i < config.sites.size(); ++i)
    if (bpf_map_update_elem(sites_fd, &i, &config.sites[i].config, BPF_ANY))
      return fail(ErrorKind::internal, "bpf/probe.bpf.c",
                  fmt::format("writing site {} failed: {}", i, strerror(errno)));
  int rules_fd = bpf_map__fd(skel->maps.rules);
  for (uint32_t i = 0; i < config.rules.size(); ++i)
    if (bpf_map_update_elem(rules_fd, &i, &config.rules[i], BPF_ANY))
      return fail(ErrorKind::internal, "bpf/probe.bpf.c",
                  fmt::format("writing rule {} failed: {}", i, strerror(errno)));
  return {};
}

}  // namespace

Result<ProbeSession> ProbeSession::load(const SessionConfig& config) {
  libbpf_set_print(quiet);
  if (config.sites.empty() || config.sites.size() > PROBE_MAX_SITES)
    return fail(ErrorKind::bad_input, config.binary.string(),
                fmt::format("{} attach points; bpfault supports 1 to {} per run", config.sites.size(), PROBE_MAX_SITES),
                "probe fewer functions, or functions with fewer RET instructions");
  if (config.rules.size() > PROBE_MAX_PROBES)
    return fail(
        ErrorKind::bad_input, config.binary.string(),
        fmt::format("{} probes; bpfault supports up to {} per scenario", config.rules.size(), PROBE_MAX_PROBES));
  ProbeSession s;
  s.config_ = config;
  s.loaded_ = borrow(programs_used(config), config.uprobe_multi);
  if (!s.loaded_) {
    auto loaded = load_new(programs_used(config), config.uprobe_multi);
    if (!loaded) return tl::unexpected(loaded.error());
    s.loaded_ = std::move(*loaded);
  }
  s.reused_ = std::exchange(s.loaded_->served, true);
  if (auto r = reset(*s.loaded_, config); !r) return tl::unexpected(r.error());
  return s;
}

unsigned ProbeSession::loads() { return objects_loaded; }

namespace {

// The keeper's state: until when it registers (warm_attach sets it, attach clears it).
std::mutex warm_mu;
std::condition_variable warm_cv;
std::chrono::steady_clock::time_point warm_until;
bool warm_running = false;

// At exit the keeper is stopped and waited for: its uprobes must be handed to the releasing
// grandchild, or the exiting process would wait for their release itself.
void stop_warming() {
  std::unique_lock lock(warm_mu);
  warm_until = {};
  warm_cv.notify_all();
  warm_cv.wait(lock, [] { return !warm_running; });
}

// An empty uprobe_multi program of the keeper's own (r0 = 0; exit): verified in microseconds.
int load_empty_uprobe_program() {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_UPROBE_MULTI);
  return bpf_prog_load(BPF_PROG_TYPE_KPROBE, "bpfault_warm", "GPL", insns, 2, &opts);
}

void keep_warm() {
  constexpr int kMax = 64;  // 3 ms apart: ~200 ms, more than a first analysis of cmd/go
  std::vector<int> fds;
  const int prog = load_empty_uprobe_program();
  // a page of an anonymous file: a uprobe's offset must be inside it, and nothing maps it
  const int file = static_cast<int>(syscall(SYS_memfd_create, "bpfault-warm", MFD_CLOEXEC));
  const std::string path = fmt::format("/proc/self/fd/{}", file);
  if (prog >= 0 && file >= 0 && ftruncate(file, 4096) == 0)
    for (int i = 0; i < kMax; ++i) {
      // A uprobe_multi link, as the probes' own: a perf-event uprobe's release holds the
      // kernel's event_mutex across its RCU waits, and the next process's would wait for it.
      unsigned long offset = static_cast<unsigned long>(i);
      LIBBPF_OPTS(bpf_link_create_opts, opts, .uprobe_multi = {.cnt = 1, .path = path.c_str(), .offsets = &offset});
      const int fd = bpf_link_create(prog, 0, BPF_TRACE_UPROBE_MULTI, &opts);
      if (fd < 0) break;  // the kernel refuses: the attach waits as before
      fds.push_back(fd);
      std::unique_lock lock(warm_mu);
      if (warm_cv.wait_for(lock, std::chrono::milliseconds(3),
                           [] { return std::chrono::steady_clock::now() >= warm_until; }))
        break;
    }
  if (file >= 0) close(file);
  if (prog >= 0) close(prog);
  const int gate = release_elsewhere(fds);
  for (int fd : fds) close(fd);
  if (gate >= 0) close(gate);
  std::lock_guard lock(warm_mu);
  warm_running = false;
  warm_cv.notify_all();
}

}  // namespace

void ProbeSession::warm_attach() {
  // The capabilities first, and by them: their self-tests write into this process's memory,
  // which the keeper's fork (its links' handoff) would leave copy-on-write, where a BPF write
  // fails (write_user would read as refused).
  if (!capabilities().has(Cap::uprobe_multi)) return;
  std::lock_guard lock(warm_mu);
  warm_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  if (warm_running) return;
  warm_running = true;
  [[maybe_unused]] static const bool stopped_at_exit = std::atexit(stop_warming) == 0;
  std::thread(keep_warm).detach();
}

namespace {

// At exit a ring still being made is waited for (a few ms): its thread must not run on while
// the process's static objects are destroyed.
void finish_ring_ahead() {
  std::lock_guard lock(pool_mu);
  if (ring_ahead.valid()) ring_ahead.wait();
}

}  // namespace

void ProbeSession::make_ring_ahead() {
  static std::atomic<bool> made{false};
  if (made.exchange(true)) return;
  std::atexit(finish_ring_ahead);
  std::lock_guard lock(pool_mu);
  ring_ahead = std::async(std::launch::async, []() -> std::unique_ptr<LoadedProbes> {
    auto l = std::make_unique<LoadedProbes>();
    l->ring_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "events", 0, 0, PROBE_RING_BYTES, nullptr);
    if (l->ring_fd < 0 || !map_ring(*l, l->ring_fd)) return nullptr;
    return l;
  });
}

void ProbeSession::preload(Program p, bool uprobe_multi) {
  static std::atomic<unsigned> started{0};  // a bit per Program: once per process each
  if (started.fetch_or(program_bit(p)) & program_bit(p)) return;
  std::lock_guard lock(pool_mu);
  preloading.push_back({program_bit(p), uprobe_multi, std::async(std::launch::async, [p, uprobe_multi] {
                          libbpf_set_print(quiet);
                          return load_new(program_bit(p), uprobe_multi);
                        })});
}

Result<void> ProbeSession::set_armed(uint32_t probe, bool armed) const {
  if (probe >= config_.rules.size())
    return fail(ErrorKind::internal, "bpf/probe.bpf.c", fmt::format("no rule {} to arm", probe));
  probe_rule rule = config_.rules[probe];
  rule.disarmed = armed ? 0 : 1;
  if (bpf_map_update_elem(bpf_map__fd(loaded_->skel->maps.rules), &probe, &rule, BPF_EXIST))
    return fail(ErrorKind::internal, "bpf/probe.bpf.c",
                fmt::format("{} rule {} failed: {}", armed ? "arming" : "disarming", probe, strerror(errno)));
  return {};
}

Result<void> ProbeSession::attach(pid_t tgid) {
  loaded_->skel->bss->target_tgid = static_cast<uint32_t>(tgid);
  const std::string path = config_.binary.string();
  for (Program p : kPrograms) {
    std::vector<unsigned long> offsets;
    std::vector<__u64> cookies;
    for (uint32_t i = 0; i < config_.sites.size(); ++i)
      if (config_.sites[i].program == p) {
        offsets.push_back(config_.sites[i].file_offset);
        cookies.push_back(i);
      }
    if (offsets.empty()) continue;
    if (config_.uprobe_multi) {
      LIBBPF_OPTS(bpf_uprobe_multi_opts, opts, .offsets = offsets.data(), .cookies = cookies.data(),
                  .cnt = offsets.size());
      bpf_link* link = bpf_program__attach_uprobe_multi(program(loaded_->skel, p), tgid, path.c_str(), nullptr, &opts);
      if (!link)
        return fail(ErrorKind::environment, path,
                    fmt::format("attaching {} uprobes failed: {}", offsets.size(), strerror(errno)),
                    "is the file a native executable on a local file system? (uprobes need an inode)");
      links_.push_back(link);
      continue;
    }
    for (size_t k = 0; k < offsets.size(); ++k) {
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookies[k]);
      bpf_link* link =
          bpf_program__attach_uprobe_opts(program(loaded_->skel, p), tgid, path.c_str(), offsets[k], &opts);
      if (!link)
        return fail(ErrorKind::environment, path,
                    fmt::format("attaching the uprobe at file offset {:#x} failed: {}", offsets[k], strerror(errno)));
      links_.push_back(link);
    }
  }
  std::lock_guard lock(warm_mu);  // attached: the keeper stops (warm_attach)
  warm_until = {};
  warm_cv.notify_all();
  return {};
}

const ProbeSession::Events& ProbeSession::drain() {
  Events& sink = *loaded_->sink;
  sink.hits.clear();
  sink.hits_ext.clear();
  sink.timings.clear();
  sink.injections.clear();
  ring_buffer__consume(loaded_->ring);
  return sink;
}
int ProbeSession::wake_fd() const { return ring_buffer__epoll_fd(loaded_->ring); }
uint64_t ProbeSession::drops() const { return loaded_->skel->bss->drops; }
uint64_t ProbeSession::goid_misses() const { return loaded_->skel->bss->goid_misses; }
uint64_t ProbeSession::unpaired() const { return loaded_->skel->bss->unpaired; }
uint64_t ProbeSession::site_hits(uint32_t site) const {
  return read_array(bpf_map__fd(loaded_->skel->maps.site_hits), site);
}
uint64_t ProbeSession::probe_calls(uint32_t probe) const {
  return read_array(bpf_map__fd(loaded_->skel->maps.probe_calls), probe);
}

}  // namespace bpfault::kernel
