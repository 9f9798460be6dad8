// The capability probes on this host (label bpf). The expected table is the measured one of
// the CI host: 6.18 with lockdown=integrity and without the uprobe ctx-write series, so reads
// work and every write is refused, each with the verifier's own reason. On another host the
// read expectations still hold, and the write refusals are checked only under lockdown.
#include "kernel/caps.h"

#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "support/fixtures.h"

namespace bpfault::kernel {
namespace {

class CapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::can_load_bpf()) GTEST_SKIP() << "loading BPF programs needs root (CAP_BPF and CAP_PERFMON)";
  }
};

TEST_F(CapsTest, ReadsWorkOnThisHost) {
  const Capabilities& caps = capabilities();
  for (Cap c : {Cap::uprobe, Cap::uprobe_multi, Cap::ringbuf, Cap::send_signal})
    EXPECT_TRUE(caps.has(c)) << cap_name(c) << ": " << caps.get(c).reason << "\n" << caps.get(c).log;
}

TEST_F(CapsTest, EveryCapabilityHasANameAndAFirstKernel) {
  const Capabilities& caps = capabilities();
  ASSERT_EQ(caps.results.size(), all_caps.size());
  for (size_t i = 0; i < all_caps.size(); ++i) {
    const CapResult& r = caps.results[i];
    EXPECT_EQ(r.cap, all_caps[i]);
    EXPECT_EQ(r.name, cap_name(r.cap));
    EXPECT_EQ(cap_from_name(r.name), r.cap);
    EXPECT_FALSE(r.first_kernel.empty()) << r.name;
    EXPECT_EQ(r.available, r.reason.empty()) << r.name << ": " << r.reason;
  }
  EXPECT_FALSE(caps.kernel_release.empty());
  EXPECT_FALSE(caps.lockdown.empty());
  EXPECT_FALSE(cap_from_name("override_return"));
}

// The measured host: lockdown=integrity removes bpf_probe_write_user from the helpers, and
// 6.18 predates pt_regs writes from uprobes.
TEST_F(CapsTest, WritesAreRefusedWithTheVerifiersReason) {
  const Capabilities& caps = capabilities();
  if (caps.lockdown != "integrity" && caps.lockdown != "confidentiality")
    GTEST_SKIP() << "this host is not locked down (lockdown: " << caps.lockdown << "); the refusals are the CI host's";
  const CapResult& user = caps.get(Cap::write_user);
  EXPECT_FALSE(user.available);
  EXPECT_NE(user.reason.find("cannot use helper bpf_probe_write_user"), std::string::npos) << user.reason;
  EXPECT_NE(user.log.find(user.reason), std::string::npos) << "the reason must come from the verifier's log";
  if (caps.has(Cap::write_regs)) GTEST_SKIP() << "this kernel has uprobe ctx writes (" << caps.kernel_release << ")";
  const CapResult& regs = caps.get(Cap::write_regs);
  EXPECT_NE(regs.reason.find("invalid bpf_context access off=80"), std::string::npos) << regs.reason;  // pt_regs.rax
  const CapResult& ip = caps.get(Cap::write_ip);
  EXPECT_FALSE(ip.available);
  EXPECT_NE(ip.reason.find("invalid bpf_context access off=128"), std::string::npos) << ip.reason;  // pt_regs.rip
}

TEST_F(CapsTest, ProbedOncePerProcess) {
  const Capabilities& a = capabilities();
  const Capabilities& b = capabilities();
  EXPECT_EQ(&a, &b);
}

// It runs at the start of every `bpfault run`: the first probe of a process, cold (libbpf's
// own feature probes included), must stay well under 100 ms. Releasing the self-test links is
// slow in the kernel (a tasks-trace RCU grace period each) and happens in the background.
// capabilities() answers from a per-boot cache (/run/bpfault): it must say what probing says.
TEST_F(CapsTest, TheCachedAnswerIsWhatAFreshProbeSays) {
  const Capabilities& cached = capabilities();
  Capabilities fresh = probe_capabilities();
  EXPECT_EQ(cached.kernel_release, fresh.kernel_release);
  for (Cap cap : all_caps) {
    EXPECT_EQ(cached.has(cap), fresh.has(cap)) << cap_name(cap);
    EXPECT_EQ(cached.get(cap).reason, fresh.get(cap).reason) << cap_name(cap);
  }
}

}  // namespace
}  // namespace bpfault::kernel
