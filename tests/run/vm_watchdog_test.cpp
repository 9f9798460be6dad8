#include <gtest/gtest.h>

#include "run/suite.h"

namespace bpfault::run {
namespace {
using std::chrono::milliseconds, std::chrono::seconds;

// A boot's watchdog grows with what it runs, so a long suite is never cut short, and one
// scenario's hang is caught well inside ctest's 600 s.
TEST(VmWatchdog, TwoMinutesToBootThenTenTimesEachRunsTimeoutsAndAMinute) {
  scenario::Scenario plain;  // a program with the default 10 s timeout
  EXPECT_EQ(vm_watchdog({}), seconds(120));
  EXPECT_EQ(vm_watchdog({&plain}), seconds(120 + 100 + 60));
  EXPECT_LT(vm_watchdog({&plain}), seconds(600));

  scenario::Scenario service;  // readiness, two steps and a stop count too
  service.target.timeout = seconds(30);
  service.target.ready = scenario::Ready{};
  service.target.ready->timeout = seconds(5);
  service.target.stop = scenario::Stop{};
  service.target.stop->grace = milliseconds(2500);
  service.steps.resize(2);
  service.steps[0].timeout = seconds(1);
  service.steps[1].timeout = milliseconds(500);
  EXPECT_EQ(vm_watchdog({&service}), seconds(120 + 300 + 50 + 25 + 15 + 60));

  std::vector<const scenario::Scenario*> suite(40, &plain);  // 40 runs: far beyond any fixed bound
  EXPECT_EQ(vm_watchdog(suite), seconds(120 + 40 * 160));
}

}  // namespace
}  // namespace bpfault::run
