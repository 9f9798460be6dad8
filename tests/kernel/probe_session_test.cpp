// The process's pool of loaded probe objects (label bpf): a preload serves the first run that
// needs no more than it loaded, and is not loaded twice.
#include "kernel/probe_session.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "kernel/caps.h"
#include "support/fixtures.h"

namespace bpfault::kernel {
namespace {

SessionConfig observing(Program program) {
  SessionConfig c;
  c.binary = "/proc/self/exe";  // load() attaches nothing: any path
  c.sites.push_back(Site{probe_site{}, 0, program, -1});
  c.uprobe_multi = capabilities().has(Cap::uprobe_multi);
  return c;
}

TEST(ProbeSession, APreloadServesTheFirstRunThatNeedsNoMore) {
  if (!test::can_load_bpf()) GTEST_SKIP() << "loading BPF programs needs root (CAP_BPF and CAP_PERFMON)";
  const SessionConfig config = observing(Program::observe);
  ASSERT_EQ(ProbeSession::loads(), 0u);
  ProbeSession::preload(Program::observe, config.uprobe_multi);
  ProbeSession::preload(Program::observe, config.uprobe_multi);  // once per process
  // the preload loads on its own, before any run asks (a bound for liveness, not a timing)
  for (int i = 0; i < 3000 && ProbeSession::loads() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(ProbeSession::loads(), 1u) << "preload() loaded nothing within 30 s";
  {
    auto first = ProbeSession::load(config);
    ASSERT_TRUE(first) << first.error().what;
    EXPECT_FALSE(first->reused()) << "the preloaded object had served no run";
    EXPECT_EQ(ProbeSession::loads(), 1u) << "the run loaded its own object beside the preloaded one";
  }
  auto second = ProbeSession::load(config);
  ASSERT_TRUE(second) << second.error().what;
  EXPECT_TRUE(second->reused());
  EXPECT_EQ(ProbeSession::loads(), 1u);
}

}  // namespace
}  // namespace bpfault::kernel
