// Turns what the probes emit into the run record as the tracee runs: hits decoded by name,
// stacks symbolized, injections described, call durations gathered. Memory stays bounded: a
// probe keeps its first kMaxHits hits in the record (counts and latency cover every call).
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include "kernel/probe_session.h"
#include "run/plan.h"
#include "run/record.h"

namespace bpfault::run {

class Collector {
 public:
  static constexpr size_t kMaxHits = 10000;
  using OnHit = std::function<void(const ProbeRecord& probe, const Hit& hit)>;

  Collector(const Plan& plan, RunRecord& record, OnHit on_hit = {});

  // Takes what the session drained. Returns the pauses to end (ms) for delay injections seen.
  std::vector<uint32_t> take(kernel::ProbeSession::Events events);
  // Counts from the kernel's maps, latency statistics, hits in time order.
  void finish(const kernel::ProbeSession& session);

 private:
  Hit* add(const probe_event& e, const probe_event_ext* ext);

  const Plan& plan_;
  RunRecord& record_;
  OnHit on_hit_;
  std::vector<std::vector<uint64_t>> durations_;  // per probe
  std::vector<uint64_t> truncated_;               // per probe: hits not kept
};

// Delay injection: the probe stopped the tracee (SIGSTOP); it resumes `ms` after the harness
// saw the injection, so the pause is at least what the scenario asked for.
class Pauses {
 public:
  explicit Pauses(pid_t pid) : pid_(pid) {}
  void add(uint32_t ms);
  void tick();

 private:
  pid_t pid_;
  std::vector<std::chrono::steady_clock::time_point> resume_at_;
};

}  // namespace bpfault::run
