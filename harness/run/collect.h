// Turns what the probes emit into the run record: hits decoded by name, stacks symbolized,
// injections described, call durations gathered. Memory stays bounded: a probe keeps
// kMaxHitsPerProbe hits in the record, injections first; what it does not keep is counted in the
// record (and fails the scenario), counts and latency cover every call.
// Draining must keep up with the probes, or the ring buffer overflows (drops): while the tracee
// runs, take() only counts and keeps the raw records of the hits it keeps; decoding them (JSON,
// stacks) waits for finish(). A hit past the limit is counted, never decoded. With an `on_hit`
// callback (the trace command's live output) every hit is decoded as it arrives.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <vector>

#include "kernel/probe_session.h"
#include "plan/plan.h"
#include "record/record.h"
#include "run/time_order.h"

namespace bpfault::run {

class Collector {
 public:
  using OnHit = std::function<void(const record::ProbeRecord& probe, const record::Hit& hit)>;

  // on_hit sees every hit once, in the order they happened (TimeOrder: held up to its window
  // after the hit, emitted by a take() or by finish()).
  Collector(const plan::Plan& plan, record::RunRecord& record, OnHit on_hit = {});

  // Takes what the session drained in a drain that began at `drained_ns` (CLOCK_MONOTONIC,
  // monotonic_ns()). Returns the delays to end (ms) for delay injections seen.
  std::vector<uint32_t> take(const kernel::ProbeSession::Events& events, uint64_t drained_ns);
  // Counts from the kernel's maps, latency statistics, hits in time order; on_hit has seen
  // every hit.
  void finish(const kernel::ProbeSession& session);

 private:
  // Counts the hit and keeps it (decoded at once with on_hit_, else its raw record for finish()),
  // or counts it as not kept: false then. An injection's hit carries its values as read back
  // after the writes, and `injection` (what describe_injection made of `inj`: only its writes
  // without on_hit_).
  bool add(const probe_event& e, const probe_event_ext* ext, const probe_injection* inj = nullptr,
           const record::Injection* injection = nullptr);
  record::Hit decode_hit(const probe_event& e, const probe_event_ext* ext, const probe_injection* inj,
                         const record::Injection* injection) const;
  TimeOrder::Emit emit();  // to on_hit_

  const plan::Plan& plan_;
  record::RunRecord& record_;
  OnHit on_hit_;
  TimeOrder order_;                           // hits on their way to on_hit_
  std::vector<record::Durations> durations_;  // per probe
  // kept hits not decoded yet (without on_hit_), and their number per probe
  // (deques: growing never copies what is kept)
  std::deque<probe_event> raw_hits_;
  std::deque<probe_event_ext> raw_hits_ext_;
  std::deque<probe_injection> raw_injections_;
  std::vector<size_t> raw_kept_;
};

// Delay injection: the probe stopped the tracee (SIGSTOP); it resumes `ms` after the harness
// saw the injection, so the pause is at least what the scenario asked for.
class Delays {
 public:
  explicit Delays(pid_t pid) : pid_(pid) {}
  void add(uint32_t ms);
  void tick();
  // Resumes the tracee now if a delay still holds it: a process bpfault attached to must not
  // stay stopped after bpfault detaches.
  void resume_all();

 private:
  pid_t pid_;
  std::vector<std::chrono::steady_clock::time_point> resume_at_;
};

}  // namespace bpfault::run
