// The BPF side of one run: bpf/probe.bpf.c configured for the sites of one binary, attached to them,
// filtered to one tracee, with its ring buffer drained on demand. Loading the object costs more
// than a scenario's tracee (the verifier; libbpf reading the kernel's BTF), so a process loads each
// set of programs once and its sessions borrow it in turn: the settings a run changes are maps and
// data, which load() resets. Move-only; the destructor detaches every link and gives the object
// back (the kernel frees everything when bpfault exits: links and maps are file descriptors).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "diag/error.h"
#include "plan/probe_config.h"
#include "probe.h"

struct bpf_link;

namespace bpfault::kernel {

// Sites and programs are the plan's output (plan/probe_config.h): the session loads what it is given.
using plan::Program;
using plan::Site;

struct SessionConfig {
  std::filesystem::path binary;
  std::vector<Site> sites;
  std::vector<probe_rule> rules;  // index = probe; only probes with sites marked `inject` use theirs
  uint64_t goid_offset = 0;
  uint64_t stack_hi_offset = 8;
  uint32_t ptr_size = 8;
  uint64_t seed = 0;  // probability rolls: 0 random, else reproducible (bpf/probe.bpf.c roll())
  bool uprobe_multi =
      true;  // one link per program for all its sites (kernel >= 6.6); else one perf-event uprobe per site
};

struct LoadedProbes;  // a loaded bpf/probe.bpf.c with its ring buffer (probe_session.cpp)

class ProbeSession {
 public:
  // A loaded object with the programs the sites use (the process's idle one, else opened and
  // loaded), configured for this run: everything but the attach, which needs the tracee's pid.
  // Programs no site uses are not loaded, so a kernel that refuses writes still loads a read-only run.
  static Result<ProbeSession> load(const SessionConfig& config);
  // Starts loading an object with only program `p` on another thread, for the first load() of
  // the process that needs no more to borrow (waiting for it if it is not done): the verifier
  // and the maps' allocation (~11 ms natively) then overlap the analysis. Once per process and
  // program; a failed preload is forgotten (load() loads again, and says why).
  static void preload(Program p, bool uprobe_multi);
  // Registering a uprobe (attach) takes the kernel's dup_mmap_sem as a writer, whose RCU sync
  // waits a grace period (5-17 ms here) unless another registration passed within the last one
  // (then 0.02 ms). Until the next attach (at most ~200 ms), a thread registers a uprobe of its
  // own every 3 ms (an empty program's uprobe_multi link on a file nobody maps: nothing is ever
  // hit), so the attach finds the lock warm: call it when a scenario's preparation starts. Its
  // links are released where the probes' are (the release's own wait is not ours). Performance
  // only: where the kernel has no uprobe_multi, nothing changes. Probes the capabilities first.
  static void warm_attach();
  // The process's first load would spend a third of its time (~3 ms here) making the ring
  // buffer's 16 MiB (PROBE_RING_BYTES: pages zeroed and charged to the cgroup): a thread makes
  // it while a scenario prepares, and the first load takes it (waiting if it is not made yet).
  // Once per process: later loads make their own, as do all when the kernel refuses this one.
  static void make_ring_ahead();
  // Whether this session's object served an earlier one of this process.
  bool reused() const { return reused_; }
  // How many objects this process has loaded (preloads included).
  static unsigned loads();
  ProbeSession(ProbeSession&&) noexcept;
  ProbeSession& operator=(ProbeSession&&) = delete;
  ~ProbeSession();

  Result<void> attach(pid_t tgid);  // only this process's hits count (its threads included)

  // What the probes emitted since the last drain, by record type: valid until the next drain,
  // whose buffers keep their capacity (no allocation nor page fault per drain).
  struct Events {
    std::vector<probe_event> hits;
    std::vector<probe_event_ext> hits_ext;  // with stacks, memory captures
    std::vector<probe_timing> timings;      // returns of timed calls that record nothing else
    std::vector<probe_injection> injections;
  };
  const Events& drain();
  int wake_fd() const;  // readable when the probes ask for an early drain (the ring is filling up)

  // Arms or disarms a probe's rule while the tracee runs (a lifecycle step's "during"): the
  // rule's `disarmed` byte, rewritten from the configured rule. Safe from another thread than
  // the one draining (one map update; a hit sees the rule before or after it).
  Result<void> set_armed(uint32_t probe, bool armed) const;

  uint64_t drops() const;
  uint64_t goid_misses() const;  // hits whose goroutine id could not be read
  uint64_t unpaired() const;     // calls whose RET could not be paired (the in-flight table was full)
  uint64_t site_hits(uint32_t site) const;
  uint64_t probe_calls(uint32_t probe) const;

 private:
  ProbeSession() = default;

  SessionConfig config_;
  std::unique_ptr<LoadedProbes> loaded_;  // borrowed from the process's pool, given back by the destructor
  std::vector<bpf_link*> links_;
  bool reused_ = false;
};

}  // namespace bpfault::kernel
