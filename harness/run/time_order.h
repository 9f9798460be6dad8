// Hits in the order they happened, while the tracee runs (bpfault trace prints them live).
//
// The probes' ring buffer hands records over in the order they were reserved, and a record's
// time (bpf_ktime_get_ns, taken as its probe starts) can be earlier than that of a record
// reserved before it on another CPU; the collector also gets a drain's injections, hits, hits
// with stacks and timings apart. TimeOrder holds each hit until no earlier one can still come:
// until a drain of the ring began at least `window` after the hit's time. A record not drained
// by then is one whose probe took longer than the window between reading the clock and
// submitting (preempted): it is emitted when it comes, out of order, and counted (late()).
//
// A RET never comes before its own call: the call's probe submitted its record before the
// goroutine went on to the RET, whose probe reads the clock after that, so the call's record
// is earlier in the ring (drained no later) and earlier in time; at equal times a call goes
// before a RET.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "record/record.h"

namespace bpfault::run {

constexpr uint64_t kTimeOrderWindowNs = 20'000'000;  // 20 ms: what a line waits for earlier ones
constexpr size_t kTimeOrderMaxHeld = 65536;          // beyond this, the earliest hit goes out at once

class TimeOrder {
 public:
  using Emit = std::function<void(uint32_t probe, const record::Hit& hit)>;

  explicit TimeOrder(uint64_t window_ns = kTimeOrderWindowNs, size_t max_held = kTimeOrderMaxHeld)
      : window_ns_(window_ns), max_held_(max_held) {}

  // A hit of the plan's probe `probe`, drained; emitted at most max_held hits later.
  void push(uint32_t probe, record::Hit hit, const Emit& emit);
  // Emits, earliest first, every held hit that happened at least `window` before `drained_ns`:
  // CLOCK_MONOTONIC (bpf_ktime_get_ns's clock) when the drain that brought the last hits began.
  void release(uint64_t drained_ns, const Emit& emit);
  // Emits every held hit, earliest first (the tracee is gone, nothing more can come).
  void flush(const Emit& emit);

  size_t held() const { return heap_.size(); }
  uint64_t late() const { return late_; }  // hits emitted after one that happened later

 private:
  struct Held {
    uint64_t time_ns;
    bool ret;      // at equal times a call goes first
    uint64_t seq;  // then the order they were drained in
    uint32_t probe;
    record::Hit hit;
  };
  static bool later(const Held& a, const Held& b);  // the heap's order: the earliest on top
  void emit_top(const Emit& emit);

  uint64_t window_ns_;
  size_t max_held_;
  std::vector<Held> heap_;
  uint64_t seq_ = 0, last_ns_ = 0, late_ = 0;
};

// CLOCK_MONOTONIC now, in ns: the clock of the hits' time_ns.
uint64_t monotonic_ns();

}  // namespace bpfault::run
