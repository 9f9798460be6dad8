// Soak (label soak, out of the default run: `ci/test --soak`): 10^6 timed calls natively from
// churning goroutines, with bpfault's resident memory sampled all along, and 10^5 injected
// calls in the VM under GC pressure and goroutine churn. 0 tracee crashes, 0 lost events,
// every call counted; natively, bpfault's RSS at the end is at most 1.1x its RSS at 10 % of the run.
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support.h"
#include "vm/vm.h"

namespace bpfault {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using test::here;

class Soak : public test::ScratchTest {
 protected:
  Soak() : ScratchTest("soak") {}
};

// VmRSS of `pid` in KiB, 0 when it is gone.
long rss_kib(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  return 0;
}

TEST_F(Soak, AMillionTimedCallsNativelyLoseNothingAndMemoryStaysFlat) {
  const fs::path rec = dir_ / "run.json", log = dir_ / "console.txt";
  const auto t0 = std::chrono::steady_clock::now();
  auto bpfault = test::start_bpfault(
      {"run", "--vm=never", here("soak/native-1e6-timed.json").string(), "--json", rec.string()}, log, dir_ / "tmp");
  ASSERT_TRUE(bpfault) << bpfault.error().format();
  // bpfault's RSS while its tracee runs (not while it builds the fixture, nor the report after)
  std::vector<std::pair<double, long>> samples;  // seconds since start, KiB
  std::thread sampler([&] {
    pid_t tracee = -1;
    test::poll_until(
        [&] {
          for (pid_t p : test::children_of(bpfault->pid()))
            if (fs::path(test::exe_of(p)).filename().string().starts_with("churn-")) tracee = p;
          return tracee > 0;
        },
        300s);
    for (long kib; test::alive(tracee) && (kib = rss_kib(bpfault->pid())) > 0; std::this_thread::sleep_for(50ms))
      samples.emplace_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), kib);
  });
  process::Outcome out = bpfault->wait();
  sampler.join();
  const std::string console = test::slurp(log);
  EXPECT_EQ(out.exit_code, 0) << console;
  const json r = run_record(rec)["scenarios"][0];
  EXPECT_EQ(r["status"], "passed") << r["verdicts"].dump(2);
  EXPECT_EQ(r["drops"], 0);
  EXPECT_EQ(r["probes"][0]["calls"], 1000000);
  EXPECT_EQ(r["probes"][0]["latency"]["count"], 1000000) << "every call timed";
  ASSERT_GT(samples.size(), 20u) << "too short to judge the memory";
  const double start = samples.front().first, end = samples.back().first;
  long at_10 = 0;
  for (const auto& [s, kib] : samples)
    if (s <= start + (end - start) * 0.1) at_10 = kib;
  const long at_end = samples.back().second;
  RecordProperty("rss_kib_at_10_percent", at_10);
  RecordProperty("rss_kib_at_end", at_end);
  RecordProperty("latency_count", r["probes"][0]["latency"]["count"].get<int>());
  fmt::print(
      "soak native: {:.1f} s, {} RSS samples, RSS at 10 %: {} KiB, at the end: {} KiB ({:.2f}x), timed calls {}, drops "
      "{}\n",
      end, samples.size(), at_10, at_end, double(at_end) / at_10, r["probes"][0]["latency"]["count"].get<int>(),
      r["drops"].get<int>());
  std::string trajectory;
  for (size_t i = 0; i < samples.size(); i += std::max<size_t>(1, samples.size() / 20))
    trajectory += fmt::format(" {:.0f}s:{}", samples[i].first, samples[i].second);
  EXPECT_LE(at_end, at_10 * 11 / 10) << "bpfault's memory grew over the run (s:KiB)" << trajectory;
}

TEST_F(Soak, AHundredThousandInjectedCallsInTheVmUnderChurn) {
  if (auto q = vm::find_qemu(); !q) GTEST_SKIP() << q.error().format();
  if (auto k = vm::find_kernel(""); !k) GTEST_SKIP() << "no VM kernel: " << k.error().format();
  const fs::path rec = dir_ / "run.json";
  const auto t0 = std::chrono::steady_clock::now();
  auto out =
      test::run_bpfault({"run", "--vm=always", here("soak/vm-1e5-injected.json").string(), "--json", rec.string()});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(out.exit_code, 0) << out.out << out.err;
  const json r = run_record(rec)["scenarios"][0];
  EXPECT_EQ(r["status"], "passed") << r["verdicts"].dump(2);
  EXPECT_EQ(r["drops"], 0);
  EXPECT_EQ(r["probes"][0]["injected"], 100000);
  fmt::print("soak vm: {:.1f} s, tracee {:.0f} ms, injected {}, kept {}, not kept {}\n", s,
             r["tracee_ms"].get<double>(), r["probes"][0]["injected"].get<int>(), r["probes"][0]["hits"].size(),
             r["probes"][0]["not_kept"].dump());
}

}  // namespace
}  // namespace bpfault
