// The kernel side's decisions, on the host: bpf/probe/rules.h (which calls match a rule's
// conditions, which step of the chain fires) and bpf/probe/pairing.h (a RET finds its call by
// goroutine and depth), compiled unchanged for the host (probe_host.c, bpf_host_shim.h).
#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "probe_host.h"

namespace {

using Regs = std::array<__u64, PROBE_INT_REGS>;

class BpfLogic : public ::testing::Test {
 protected:
  void SetUp() override { host_reset(); }

  // The steps chosen for matching calls 1..n of probe 0 (-1: none fired).
  std::vector<int> decide_calls(const probe_rule& r, int n, __u32 probe = 0) {
    std::vector<int> out;
    for (int m = 1; m <= n; ++m) out.push_back(host_decide(probe, &r, m));
    return out;
  }
};

probe_step step(uint8_t action = ACT_WRITE) {
  probe_step t{};
  t.probability = 1000000;
  t.action = action;
  return t;
}

probe_rule chain(std::initializer_list<probe_step> steps) {
  probe_rule r{};
  for (const auto& t : steps) r.steps[r.nsteps++] = t;
  return r;
}

TEST_F(BpfLogic, NthFiresOnlyOnThatMatchingCall) {
  probe_step t = step();
  t.nth = 3;
  EXPECT_EQ(decide_calls(chain({t}), 5), (std::vector<int>{-1, -1, 0, -1, -1}));
  EXPECT_EQ(host_step_fired(0, 0), 1u);
}

TEST_F(BpfLogic, EveryFiresOnEachKthMatchingCall) {
  probe_step t = step();
  t.every = 2;
  EXPECT_EQ(decide_calls(chain({t}), 6), (std::vector<int>{-1, 0, -1, 0, -1, 0}));
}

TEST_F(BpfLogic, TimesExhaustsAStepAndTheChainMovesOn) {
  // 2*off->1*return(...)->sleep: two calls let through, one written, then every call paused
  probe_step off = step(ACT_OFF), write = step(), delay = step(ACT_DELAY);
  off.times = 2;
  write.times = 1;
  const probe_rule r = chain({off, write, delay});
  EXPECT_EQ(decide_calls(r, 6), (std::vector<int>{0, 0, 1, 2, 2, 2}));
  EXPECT_EQ(host_step_fired(0, 0), 2u);
  EXPECT_EQ(host_step_fired(0, 1), 1u);
  EXPECT_EQ(host_step_fired(0, 2), 3u);
}

TEST_F(BpfLogic, AChainOfExhaustedStepsFiresNoMore) {
  probe_step t = step();
  t.times = 2;
  EXPECT_EQ(decide_calls(chain({t}), 4), (std::vector<int>{0, 0, -1, -1}));
  EXPECT_EQ(host_step_fired(0, 0), 2u);
}

TEST_F(BpfLogic, StepsOfOneProbeDoNotCountAnothersCalls) {
  probe_step t = step();
  t.times = 1;
  const probe_rule r = chain({t});
  EXPECT_EQ(host_decide(0, &r, 1), 0);
  EXPECT_EQ(host_decide(1, &r, 1), 0);  // probe 1's step has its own count
  EXPECT_EQ(host_decide(0, &r, 2), -1);
}

// failpoint's semantics: a step whose probability roll fails hands the call to the next step.
TEST_F(BpfLogic, AFailedProbabilityRollFallsThroughToTheNextStep) {
  host_set(/*seed=*/42, 8, 0, 8);
  probe_step half = step(), rest = step(ACT_SIGNAL);
  half.probability = 500000;
  const std::vector<int> got = decide_calls(chain({half, rest}), 1000);
  int first = 0, second = 0;
  for (int t : got) (t == 0 ? first : t == 1 ? second : (ADD_FAILURE() << "no step fired", first))++;
  EXPECT_GT(first, 430);
  EXPECT_LT(first, 570);
  EXPECT_EQ(first + second, 1000);  // every call the 50% step let go was taken by the next one
  EXPECT_EQ(host_step_fired(0, 0), static_cast<__u64>(first));
  EXPECT_EQ(host_step_fired(0, 1), static_cast<__u64>(second));
}

TEST_F(BpfLogic, ALoneProbabilityStepLetsTheOtherCallsThrough) {
  host_set(7, 8, 0, 8);
  probe_step p = step();
  p.probability = 250000;
  int fired = 0;
  for (int t : decide_calls(chain({p}), 2000)) fired += t == 0;
  EXPECT_GT(fired, 400);
  EXPECT_LT(fired, 600);
}

TEST_F(BpfLogic, ASeedChoosesTheSameCallsEveryTimeAndAnotherSeedOthers) {
  probe_step p = step();
  p.probability = 500000;
  const probe_rule r = chain({p});
  host_set(11, 8, 0, 8);
  const auto a = decide_calls(r, 200);
  host_reset();
  host_set(11, 8, 0, 8);
  EXPECT_EQ(decide_calls(r, 200), a);
  host_reset();
  host_set(12, 8, 0, 8);
  EXPECT_NE(decide_calls(r, 200), a);
}

TEST_F(BpfLogic, WithoutASeedTheKernelsRandomNumberDecides) {
  probe_step p = step(), next = step(ACT_OFF);
  p.probability = 500000;
  const probe_rule r = chain({p, next});
  host_set_kernel(0, 499999);  // below 500000 of a million: the roll succeeds
  EXPECT_EQ(host_decide(0, &r, 1), 0);
  host_set_kernel(0, 500000);
  EXPECT_EQ(host_decide(0, &r, 2), 1);
}

// `N*` counts the calls a step acted on: calls its roll let go are not counted.
TEST_F(BpfLogic, TimesCountsOnlyTheCallsTheStepActedOn) {
  host_set(3, 8, 0, 8);
  probe_step p = step(), after = step(ACT_OFF);
  p.probability = 300000;
  p.times = 5;
  const auto got = decide_calls(chain({p, after}), 300);
  int acted = 0;
  size_t last = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] == 0) ++acted, last = i;
  EXPECT_EQ(acted, 5);
  EXPECT_EQ(host_step_fired(0, 0), 5u);
  EXPECT_GT(last, 5u);  // it took more than 5 calls to act 5 times
  for (size_t i = last + 1; i < got.size(); ++i) EXPECT_EQ(got[i], 1) << "call " << i + 1;
}

TEST_F(BpfLogic, NthAndEveryThatDoNotHoldEndTheChainForTheCall) {
  // as failpoint: a step that does not take this call (nth, every) is not skipped over
  probe_step nth = step(), next = step(ACT_OFF);
  nth.nth = 2;
  EXPECT_EQ(decide_calls(chain({nth, next}), 3), (std::vector<int>{-1, 0, -1}));
}

probe_pred int_pred(uint8_t op, uint8_t size, bool is_signed, int64_t value, uint8_t reg = 0) {
  probe_pred p{};
  p.op = op;
  p.is_signed = is_signed;
  p.loc.kind = LOC_REG;
  p.loc.reg = reg;
  p.loc.size = size;
  p.value = static_cast<__u64>(value);
  return p;
}

bool holds(const Regs& regs, const probe_pred& p) { return host_holds(regs.data(), 0, &p); }

TEST_F(BpfLogic, SignedPredicatesCompareSignExtendedValues) {
  Regs regs{};
  regs[0] = 0xFFFFFFFBu;  // int32(-5), zero-extended as a register holds it (garbage above is masked)
  regs[0] |= 0xDEAD00000000ull;
  EXPECT_TRUE(holds(regs, int_pred(P_EQ, 4, true, -5)));
  EXPECT_TRUE(holds(regs, int_pred(P_LT, 4, true, -4)));
  EXPECT_TRUE(holds(regs, int_pred(P_GE, 4, true, -5)));
  EXPECT_FALSE(holds(regs, int_pred(P_GT, 4, true, 0)));
  EXPECT_TRUE(holds(regs, int_pred(P_NE, 4, true, 5)));
  EXPECT_TRUE(holds(regs, int_pred(P_LE, 4, true, -5)));
}

TEST_F(BpfLogic, UnsignedPredicatesCompareTheBitsAsTheyAre) {
  Regs regs{};
  regs[2] = 200;  // a uint8 of 200 is not -56
  EXPECT_TRUE(holds(regs, int_pred(P_GT, 1, false, 100, 2)));
  EXPECT_FALSE(holds(regs, int_pred(P_GT, 1, true, 100, 2)));  // signed it is -56
  EXPECT_TRUE(holds(regs, int_pred(P_EQ, 1, false, 200, 2)));
  regs[2] = ~0ull;  // uint64 max: above everything unsigned, -1 signed
  EXPECT_TRUE(holds(regs, int_pred(P_GT, 8, false, 1, 2)));
  EXPECT_TRUE(holds(regs, int_pred(P_LT, 8, true, 0, 2)));
}

TEST_F(BpfLogic, PredicatesReadStackArgumentsAtTheirOffset) {
  std::array<__u64, 4> stack{0, 0, 41, 0};  // the 386 ABI: arguments above SP
  probe_pred p = int_pred(P_EQ, 8, false, 41);
  p.loc.kind = LOC_STACK;
  p.loc.sp_offset = 16;
  Regs regs{};
  EXPECT_TRUE(host_holds(regs.data(), reinterpret_cast<__u64>(stack.data()), &p));
  p.value = 42;
  EXPECT_FALSE(host_holds(regs.data(), reinterpret_cast<__u64>(stack.data()), &p));
}

probe_pred string_pred(uint8_t op, const std::string& bytes) {
  probe_pred p{};
  p.op = op;
  p.loc = {LOC_REG, 0, 8, 0, 0};      // the data pointer
  p.len_loc = {LOC_REG, 1, 8, 0, 0};  // the length
  p.nbytes = static_cast<uint8_t>(bytes.size());
  std::memcpy(p.bytes, bytes.data(), bytes.size());
  return p;
}

Regs string_regs(const std::string& s) {
  Regs regs{};
  regs[0] = reinterpret_cast<__u64>(s.data());
  regs[1] = s.size();
  return regs;
}

TEST_F(BpfLogic, StringPrefixNeedsTheBytesAndTheLength) {
  const std::string path = "/etc/passwd", other = "/tmp/passwd", short_one = "/et";
  const probe_pred p = string_pred(P_PREFIX, "/etc/");
  EXPECT_TRUE(host_holds(string_regs(path).data(), 0, &p));
  EXPECT_FALSE(host_holds(string_regs(other).data(), 0, &p));
  EXPECT_FALSE(host_holds(string_regs(short_one).data(), 0, &p));
  const probe_pred empty = string_pred(P_PREFIX, "");
  EXPECT_TRUE(host_holds(string_regs(other).data(), 0, &empty));  // every string starts with ""
}

TEST_F(BpfLogic, StringEqualityNeedsTheSameLength) {
  const std::string a = "config.json", longer = "config.json.bak";
  const probe_pred p = string_pred(P_STREQ, "config.json");
  EXPECT_TRUE(host_holds(string_regs(a).data(), 0, &p));
  EXPECT_FALSE(host_holds(string_regs(longer).data(), 0, &p));
  const std::string full(PROBE_BYTES, 'x');  // the longest a predicate carries: every byte compared
  probe_pred all = string_pred(P_STREQ, full);
  EXPECT_TRUE(host_holds(string_regs(full).data(), 0, &all));
  std::string last_differs = full;
  last_differs.back() = 'y';
  EXPECT_FALSE(host_holds(string_regs(last_differs).data(), 0, &all));
}

TEST_F(BpfLogic, AStringWhoseBytesCannotBeReadMatchesNothing) {
  Regs regs{};
  regs[0] = 16;  // unmapped
  regs[1] = 5;
  const probe_pred p = string_pred(P_PREFIX, "/etc/");
  EXPECT_FALSE(host_holds(regs.data(), 0, &p));
}

TEST_F(BpfLogic, EveryPredicateOfARuleMustHold) {
  probe_rule r{};
  r.preds[r.npreds++] = int_pred(P_GT, 8, true, 10, 0);
  r.preds[r.npreds++] = int_pred(P_LT, 8, true, 20, 1);
  Regs regs{};
  regs[0] = 15, regs[1] = 15;
  EXPECT_TRUE(host_matches(regs.data(), 0, 0, &r, -1, 0, 0));
  regs[1] = 25;
  EXPECT_FALSE(host_matches(regs.data(), 0, 0, &r, -1, 0, 0));
}

TEST_F(BpfLogic, TheCallerIsTheFunctionHoldingTheReturnAddressAfterTheLoadBias) {
  probe_rule r{};
  r.callers[r.ncallers++] = {0x401000, 0x401100};
  const __u64 bias = 0x7f0000000000;
  __u64 return_address = bias + 0x401080;  // [entry sp]
  const __u64 entry_sp = reinterpret_cast<__u64>(&return_address);
  Regs regs{};
  EXPECT_TRUE(host_matches(regs.data(), 0, 0, &r, -1, bias, entry_sp));
  return_address = bias + 0x401101;  // its call's last byte is the first byte past the caller
  EXPECT_FALSE(host_matches(regs.data(), 0, 0, &r, -1, bias, entry_sp));
  return_address = 0x401080;  // right offset, but not biased: another mapping
  EXPECT_FALSE(host_matches(regs.data(), 0, 0, &r, -1, bias, entry_sp));
}

// A caller inlined into other functions has its own code and a range per copy: a call made
// from any of them matches, by its call instruction's last byte (return address - 1), so that a
// call ending a copy, which returns to the first byte past it, is the copy's.
TEST_F(BpfLogic, TheCallerMatchesAnyOfItsRangesByTheCallsLastByte) {
  probe_rule r{};
  r.callers[r.ncallers++] = {0x401000, 0x401100};  // its own code
  r.callers[r.ncallers++] = {0x402040, 0x402060};  // a copy inlined into another function
  r.callers[r.ncallers++] = {0x403010, 0x403018};  // and another
  const __u64 bias = 0x1000;
  __u64 return_address = 0;
  const __u64 entry_sp = reinterpret_cast<__u64>(&return_address);
  Regs regs{};
  auto from = [&](__u64 ra) {
    return_address = bias + ra;
    return host_matches(regs.data(), 0, 0, &r, -1, bias, entry_sp) != 0;
  };
  EXPECT_TRUE(from(0x401080));
  EXPECT_TRUE(from(0x402050));
  EXPECT_TRUE(from(0x402060));   // the copy's last instruction was the call
  EXPECT_FALSE(from(0x402061));  // a call just past the copy, in the function it is inlined into
  EXPECT_FALSE(from(0x402040));  // a call just before it
  EXPECT_TRUE(from(0x403011));
  EXPECT_TRUE(from(0x403018));
  EXPECT_FALSE(from(0x403000));
  EXPECT_FALSE(from(0x404000));
  // every one of the 16 ranges is looked at, and none past ncallers
  r = probe_rule{};
  for (__u64 i = 0; i < PROBE_MAX_CALLER_RANGES; ++i)
    r.callers[r.ncallers++] = {0x500000 + 0x100 * i, 0x500000 + 0x100 * i + 0x10};
  EXPECT_TRUE(from(0x500000 + 0x100 * (PROBE_MAX_CALLER_RANGES - 1) + 0x8));
  EXPECT_FALSE(from(0x500000 + 0x100 * (PROBE_MAX_CALLER_RANGES - 1) + 0x18));
  r.ncallers = PROBE_MAX_CALLER_RANGES - 1;
  EXPECT_FALSE(from(0x500000 + 0x100 * (PROBE_MAX_CALLER_RANGES - 1) + 0x8));
  EXPECT_TRUE(from(0x500008));
  r.ncallers = 0;  // no caller condition: any call
  EXPECT_TRUE(from(0x404000));
}

TEST_F(BpfLogic, GoroutineFirstSettlesOnTheFirstMatchingGoroutine) {
  probe_rule r{};
  r.goroutine = G_FIRST;
  Regs regs{};
  EXPECT_FALSE(host_matches(regs.data(), 0, 3, &r, -1, 0, 0));  // unknown: matches no goroutine condition
  EXPECT_TRUE(host_matches(regs.data(), 0, 3, &r, 17, 0, 0));
  EXPECT_FALSE(host_matches(regs.data(), 0, 3, &r, 18, 0, 0));
  EXPECT_TRUE(host_matches(regs.data(), 0, 3, &r, 17, 0, 0));
  EXPECT_TRUE(host_matches(regs.data(), 0, 4, &r, 18, 0, 0));  // another probe settles on its own
  EXPECT_TRUE(host_matches(regs.data(), 0, 3, &r, 17, 0, 0));
}

TEST_F(BpfLogic, GoroutineIdMatchesThatGoroutineOnly) {
  probe_rule r{};
  r.goroutine = G_ID;
  r.goid = 1;
  Regs regs{};
  EXPECT_TRUE(host_matches(regs.data(), 0, 0, &r, 1, 0, 0));
  EXPECT_FALSE(host_matches(regs.data(), 0, 0, &r, 2, 0, 0));
  EXPECT_FALSE(host_matches(regs.data(), 0, 0, &r, -1, 0, 0));
}

// A Go g as the probe reads it: goid and stack.hi at the offsets the analysis found.
struct FakeG {
  __u64 stack_lo, stack_hi, pad[20];
  __s64 goid;
};

TEST_F(BpfLogic, TheGoroutineIsReadFromGInR14) {
  FakeG g{};
  g.stack_hi = 0xc000100000;
  g.goid = 33;
  host_set(0, 8, offsetof(FakeG, goid), offsetof(FakeG, stack_hi));
  __u64 hi = 0;
  EXPECT_EQ(host_read_goid(reinterpret_cast<__u64>(&g), &hi), 33);
  EXPECT_EQ(hi, g.stack_hi);
  EXPECT_EQ(host_read_goid(0, &hi), -1);  // no g: counted as a miss
  EXPECT_EQ(hi, 0u);
  EXPECT_EQ(host_goid_misses(), 1u);
  host_set(0, 8, 0, 8);  // goroutine ids unknown for this binary: not a miss
  EXPECT_EQ(host_read_goid(reinterpret_cast<__u64>(&g), &hi), -1);
  EXPECT_EQ(host_goid_misses(), 1u);
}

TEST_F(BpfLogic, ARetFindsItsCallByGoroutineAndDepth) {
  const __u64 hi = 0xc000100000, sp = hi - 0x200;
  ASSERT_EQ(host_pair_call(7, hi, sp, 2, 1, 5, 1000), 0);
  probe_call_state st{};
  EXPECT_EQ(host_pair_ret(8, hi, sp, &st), 0);         // another goroutine at the same depth
  EXPECT_EQ(host_pair_ret(7, hi, sp - 0x40, &st), 0);  // a deeper call of the same goroutine
  ASSERT_EQ(host_pair_ret(7, hi, sp, &st), 1);
  EXPECT_EQ(st.probe, 2u);
  EXPECT_EQ(st.step, 1);
  EXPECT_EQ(st.call, 5u);
  EXPECT_EQ(st.start_ns, 1000u);
  EXPECT_EQ(host_pair_ret(7, hi, sp, &st), 0);  // taken: a second RET finds nothing
}

TEST_F(BpfLogic, ACallStillPairsAfterItsStackMoved) {
  // the goroutine's stack was copied (grown) between the call and the RET: SP and stack.hi
  // moved together, the depth stayed
  const __u64 hi = 0xc000100000, moved = 0xc000400000;
  ASSERT_EQ(host_pair_call(7, hi, hi - 0x300, 0, 0, 1, 0), 0);
  probe_call_state st{};
  EXPECT_EQ(host_pair_ret(7, moved, moved - 0x300, &st), 1);
}

TEST_F(BpfLogic, RecursiveCallsPairWithTheirOwnRets) {
  const __u64 hi = 0xc000100000;
  for (__u64 depth = 1; depth <= 3; ++depth) ASSERT_EQ(host_pair_call(1, hi, hi - depth * 0x100, 0, -1, depth, 0), 0);
  probe_call_state st{};
  for (__u64 depth = 3; depth >= 1; --depth) {
    ASSERT_EQ(host_pair_ret(1, hi, hi - depth * 0x100, &st), 1);
    EXPECT_EQ(st.call, depth);
  }
}

TEST_F(BpfLogic, WithoutGoroutinesCallsPairByThreadAndStackPointer) {
  host_set_kernel(0x0000100000000007ull, 0);  // tgid 0x1000, thread 7
  ASSERT_EQ(host_pair_call(-1, 0, 0x7ffd000, 0, 0, 1, 0), 0);
  probe_call_state st{};
  host_set_kernel(0x0000100000000008ull, 0);  // another thread
  EXPECT_EQ(host_pair_ret(-1, 0, 0x7ffd000, &st), 0);
  host_set_kernel(0x0000100000000007ull, 0);
  EXPECT_EQ(host_pair_ret(-1, 0, 0x7ffd000, &st), 1);
}

// A selected call panicked: its RET never ran, and its entry is still there. The next call at
// that depth, not selected, must not let its RET take the panicked call's result writes
// (on_call in probe.bpf.c forgets the entry for such a call).
TEST_F(BpfLogic, AStaleEntryOfAPanickedCallIsForgottenByTheNextCallAtItsDepth) {
  const __u64 hi = 0xc000100000, sp = hi - 0x180;
  ASSERT_EQ(host_pair_call(1, hi, sp, 0, 0, 1, 0), 0);  // call 1: selected, writes at its RET; it panics
  host_pair_forget(1, hi, sp);                          // call 2 at the same depth: not selected
  probe_call_state st{};
  EXPECT_EQ(host_pair_ret(1, hi, sp, &st), 0);  // call 2's RET: nothing to apply
}

TEST_F(BpfLogic, ACallThatDoesNotFitIsCountedAsUnpaired) {
  const __u64 hi = 0xc000100000;
  for (__s64 g = 0; g < 65536; ++g) ASSERT_EQ(host_pair_call(g, hi, hi - 0x100, 0, 0, 1, 0), 0) << g;
  EXPECT_EQ(host_pair_call(65536, hi, hi - 0x100, 0, 0, 1, 0), -E2BIG);
  EXPECT_EQ(host_unpaired(), 1u);
  EXPECT_EQ(host_pair_call(5, hi, hi - 0x100, 0, 1, 2, 0), 0);  // an existing entry is replaced, not added
  probe_call_state st{};
  ASSERT_EQ(host_pair_ret(5, hi, hi - 0x100, &st), 1);
  EXPECT_EQ(st.call, 2u);
}

}  // namespace
