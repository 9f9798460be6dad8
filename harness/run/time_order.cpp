#include "run/time_order.h"

#include <time.h>

#include <algorithm>
#include <tuple>

namespace bpfault::run {

bool TimeOrder::later(const Held& a, const Held& b) {
  return std::tie(a.time_ns, a.ret, a.seq) > std::tie(b.time_ns, b.ret, b.seq);
}

void TimeOrder::emit_top(const Emit& emit) {
  std::pop_heap(heap_.begin(), heap_.end(), later);
  Held h = std::move(heap_.back());
  heap_.pop_back();
  if (h.time_ns < last_ns_) ++late_;
  last_ns_ = std::max(last_ns_, h.time_ns);
  emit(h.probe, h.hit);
}

void TimeOrder::push(uint32_t probe, record::Hit hit, const Emit& emit) {
  const uint64_t t = hit.time_ns;
  const bool ret = hit.site != "call";
  heap_.push_back(Held{t, ret, seq_++, probe, std::move(hit)});
  std::push_heap(heap_.begin(), heap_.end(), later);
  while (heap_.size() > max_held_) emit_top(emit);
}

void TimeOrder::release(uint64_t drained_ns, const Emit& emit) {
  while (!heap_.empty() && heap_.front().time_ns + window_ns_ <= drained_ns) emit_top(emit);
}

void TimeOrder::flush(const Emit& emit) {
  while (!heap_.empty()) emit_top(emit);
}

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace bpfault::run
