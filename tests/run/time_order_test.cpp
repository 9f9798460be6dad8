// TimeOrder: hits handed over out of time order (as a ring buffer shared by CPUs and a drain
// split by kind give them) come out in time order, held no longer than the window.
#include "run/time_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace bpfault::run {
namespace {

constexpr uint64_t kMs = 1'000'000;

record::Hit hit(const char* site, uint64_t call, uint64_t time_ns) {
  record::Hit h;
  h.site = site;
  h.call = call;
  h.time_ns = time_ns;
  return h;
}

struct Out {
  std::vector<std::string> lines;  // "call 3 @5", "ret 3 @9"
  TimeOrder::Emit emit() {
    return [this](uint32_t probe, const record::Hit& h) {
      lines.push_back(h.site + " " + std::to_string(h.call) + " @" + std::to_string(h.time_ns / kMs) + " p" +
                      std::to_string(probe));
    };
  }
};

// A drain split by kind: the RETs (no stack) come before the calls (with stacks) of a
// recursion; and a second CPU's earlier call reserved after a later one.
TEST(TimeOrder, ABatchComesOutInTimeOrderCallsBeforeTheirRets) {
  TimeOrder order(20 * kMs);
  Out out;
  for (auto h : {hit("ret", 2, 40 * kMs), hit("ret", 1, 50 * kMs), hit("call", 1, 10 * kMs), hit("call", 3, 31 * kMs),
                 hit("call", 2, 30 * kMs)})
    order.push(0, h, out.emit());
  EXPECT_TRUE(out.lines.empty());  // nothing goes out before a release
  order.release(100 * kMs, out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"call 1 @10 p0", "call 2 @30 p0", "call 3 @31 p0", "ret 2 @40 p0",
                                                 "ret 1 @50 p0"}));
  EXPECT_EQ(order.held(), 0u);
  EXPECT_EQ(order.late(), 0u);
}

// At the same nanosecond, a call goes before a RET whatever the order they came in; among
// equals of one kind, the order they came in.
TEST(TimeOrder, AtEqualTimesACallGoesFirstThenArrivalOrder) {
  TimeOrder order(0);
  Out out;
  order.push(1, hit("ret", 7, 5 * kMs), out.emit());
  order.push(2, hit("call", 8, 5 * kMs), out.emit());
  order.push(3, hit("call", 9, 5 * kMs), out.emit());
  order.flush(out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"call 8 @5 p2", "call 9 @5 p3", "ret 7 @5 p1"}));
}

// Streaming: a hit is held until a drain begins `window` after it, then goes out; one drained
// later that happened before what went out waits for its own window, and an earlier one that
// comes in the meantime goes before it.
TEST(TimeOrder, AHitWaitsForTheWindowAcrossDrains) {
  TimeOrder order(20 * kMs);
  Out out;
  order.push(0, hit("call", 2, 12 * kMs), out.emit());  // drain 1 began at 15: call 1 (at 10) not seen yet
  order.release(15 * kMs, out.emit());
  EXPECT_TRUE(out.lines.empty());
  order.push(0, hit("call", 1, 10 * kMs), out.emit());  // drain 2, begun at 25, brings it
  order.push(0, hit("call", 3, 26 * kMs), out.emit());
  order.release(25 * kMs, out.emit());
  EXPECT_TRUE(out.lines.empty());  // 12 + 20 > 25
  order.release(32 * kMs, out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"call 1 @10 p0", "call 2 @12 p0"}));
  EXPECT_EQ(order.held(), 1u);
  order.release(45 * kMs, out.emit());
  EXPECT_EQ(order.held(), 1u);  // 26 + 20 > 45
  order.release(46 * kMs, out.emit());
  EXPECT_EQ(out.lines.back(), "call 3 @26 p0");
  EXPECT_EQ(order.late(), 0u);
}

// A hit that comes later than the window is emitted at once, out of order, and counted.
TEST(TimeOrder, AHitLaterThanTheWindowIsEmittedAndCounted) {
  TimeOrder order(20 * kMs);
  Out out;
  order.push(0, hit("call", 2, 50 * kMs), out.emit());
  order.release(100 * kMs, out.emit());
  order.push(0, hit("call", 1, 40 * kMs), out.emit());  // its probe was preempted for 60 ms
  order.push(0, hit("ret", 1, 45 * kMs), out.emit());
  order.release(110 * kMs, out.emit());
  EXPECT_EQ(out.lines,
            (std::vector<std::string>{"call 2 @50 p0", "call 1 @40 p0", "ret 1 @45 p0"}));  // its RET still after it
  EXPECT_EQ(order.late(), 2u);
}

// Memory stays bounded: past max_held, the earliest goes out at once.
TEST(TimeOrder, PastMaxHeldTheEarliestGoesOut) {
  TimeOrder order(20 * kMs, 2);
  Out out;
  order.push(0, hit("call", 3, 3 * kMs), out.emit());
  order.push(0, hit("call", 1, 1 * kMs), out.emit());
  EXPECT_TRUE(out.lines.empty());
  order.push(0, hit("call", 2, 2 * kMs), out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"call 1 @1 p0"}));
  order.flush(out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"call 1 @1 p0", "call 2 @2 p0", "call 3 @3 p0"}));
}

// Many hits from several "CPUs", each in its own time order, interleaved by blocks as a ring
// would give them: the output is sorted, whatever the drains' boundaries.
TEST(TimeOrder, InterleavedCpusComeOutSorted) {
  TimeOrder order(20 * kMs);
  std::vector<uint64_t> times;
  TimeOrder::Emit emit = [&](uint32_t, const record::Hit& h) { times.push_back(h.time_ns); };
  uint64_t now = 0;
  for (uint64_t block = 0; block < 200; ++block) {
    // CPU 0's hits of this block, then CPU 1's, which happened up to 1 ms earlier
    for (uint64_t i = 0; i < 5; ++i) order.push(0, hit("call", 0, block * kMs + 1000 * i + 500'000), emit);
    for (uint64_t i = 0; i < 5; ++i) order.push(0, hit("call", 0, block * kMs + 1000 * i), emit);
    now = block * kMs + kMs;
    order.release(now, emit);
  }
  order.flush(emit);
  ASSERT_EQ(times.size(), 2000u);
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  EXPECT_EQ(order.late(), 0u);
}

}  // namespace
}  // namespace bpfault::run
