// Injections that did not happen as asked must fail the scenario, naming the call and why,
// and leave nothing half-written. They need writes, so they run in bpfault's VM, all in one
// boot (label vm).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../reliability/support.h"
#include "support/fixtures.h"
#include "vm/vm.h"

namespace bpfault {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path must_fail(const std::string& name) { return test::source_dir() / "tests" / "injection" / "must-fail" / name; }

class MustFail : public test::ScratchTest {
 protected:
  MustFail() : ScratchTest("injection-vm") {}

  // One boot for every test of the suite: the records by scenario file and build.
  static inline std::map<std::string, json> records_;
  static inline std::string output_;

  void SetUp() override {
    ScratchTest::SetUp();
    if (IsSkipped()) return;
    if (auto q = vm::find_qemu(); !q) GTEST_SKIP() << q.error().format();
    if (auto k = vm::find_kernel(""); !k) GTEST_SKIP() << "no VM kernel: " << k.error().format();
  }

  // The must-fail scenarios, run once (one boot) for the tests of this process.
  void run_must_fail() {
    if (!records_.empty()) return;
    const fs::path rec = dir_ / "run.json";
    auto r = test::run_bpfault({"run", "--vm=always", "--variants=all", must_fail("ret-never-came.json").string(),
                                must_fail("string-on-a-literal.json").string(),
                                must_fail("slice-len-beyond-cap.json").string(),
                                must_fail("panic-then-unselected.json").string(),
                                must_fail("panic-recovered.json").string(), "--json", rec.string()});
    output_ = r.out;
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    for (const json& s : run_record(rec).value("scenarios", json::array()))
      records_[fs::path(s.value("file", "")).filename().string() + " " + s.value("binary", "")] = s;
  }

  // The records of one scenario file, one per build (amd64 and 386 unless `builds` says otherwise).
  std::vector<json> of(const std::string& file, size_t builds = 2) {
    run_must_fail();
    std::vector<json> out;
    for (const auto& [key, r] : records_)
      if (key.starts_with(file + " ")) out.push_back(r);
    EXPECT_EQ(out.size(), builds) << file << ": one record per build\n" << output_;
    return out;
  }

  static std::string failed_writes(const json& r) {
    for (const json& v : r["verdicts"])
      if (v["check"] == "injected writes" && !v["passed"].get<bool>()) return v["actual"];
    return "";
  }
};

// Issue 15 item 5: the panicked call's pairing entry must not be consumed by the RET of a
// later, unselected call at the same depth (r2, r3 would read -1).
TEST_F(MustFail, APanickedCallsPairingDoesNotGoStale) {
  for (const json& r : of("panic-then-unselected.json")) {
    EXPECT_EQ(r["status"], "failed") << r.dump(2);
    EXPECT_NE(r["stdout"].get<std::string>().find("r1=-7 r2=20 r3=30"), std::string::npos) << r["stdout"];
    EXPECT_NE(
        failed_writes(r).find("main.target call 1: its results were not set: no RET of the call was paired with it"),
        std::string::npos)
        << r.dump(2);
  }
}

TEST_F(MustFail, ASetResultsWhoseRetNeverRanFailsNamingTheCall) {
  for (const json& r : of("ret-never-came.json")) {
    EXPECT_EQ(r["status"], "failed") << r.dump(2);
    EXPECT_NE(r["stdout"].get<std::string>().find("boom: recovered boom"), std::string::npos) << r["stdout"];
    EXPECT_NE(
        failed_writes(r).find("main.boom call 1: its results were not set: no RET of the call was paired with it"),
        std::string::npos)
        << r.dump(2);
  }
}

TEST_F(MustFail, AnInjectionWithAWriteThatCannotBeDoneWritesNothing) {
  for (const json& r : of("string-on-a-literal.json")) {
    EXPECT_EQ(r["status"], "failed") << r.dump(2);
    // the program saw what it had: neither the literal's bytes nor n changed
    EXPECT_NE(r["stdout"].get<std::string>().find("tag: \"literal\" 3"), std::string::npos) << r["stdout"];
    EXPECT_NE(failed_writes(r).find("main.tag s at call 1: EFAULT"), std::string::npos) << r.dump(2);
    const json* inj = nullptr;
    for (const json& h : r["probes"][0]["hits"])
      if (h["injection"].is_object()) inj = &h["injection"];
    ASSERT_NE(inj, nullptr) << r.dump(2);
    EXPECT_EQ((*inj)["done"], false);
    ASSERT_EQ((*inj)["writes"].size(), 2u) << inj->dump(2);
    for (const json& w : (*inj)["writes"]) {
      if (w["target"] == "n") {
        EXPECT_NE(w["error"].get<std::string>().find("ECANCELED"), std::string::npos) << inj->dump(2);
      }
    }
    EXPECT_EQ((*inj)["after"]["n"], 3) << "the read-back n is the old one";
  }
}

TEST_F(MustFail, ASliceLengthBeyondItsCapacityIsNotWritten) {
  for (const json& r : of("slice-len-beyond-cap.json")) {
    EXPECT_EQ(r["status"], "failed") << r.dump(2);
    EXPECT_NE(r["stdout"].get<std::string>().find("total: len=4 sum=10"), std::string::npos) << r["stdout"];
    EXPECT_NE(failed_writes(r).find("main.total xs.len at call 1: ERANGE"), std::string::npos) << r.dump(2);
  }
}

// The injected panic is a real Go panic: a deferred recover() catches it (the program goes on
// and exits 0), so a scenario that expects it to end the program fails, on the program's own
// output, while both injections were done and read back.
TEST_F(MustFail, AnInjectedPanicThatIsRecoveredDoesNotEndTheProgram) {
  for (const json& r : of("panic-recovered.json", 1)) {
    EXPECT_EQ(r["status"], "failed") << r.dump(2);
    EXPECT_EQ(r["exit_code"], 0) << r.dump(2);
    const std::string out = r["stdout"];
    EXPECT_NE(out.find("save's defer ran (a)\nrecovered string: bpfault: injected panic in main.store"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("recovered string: bpfault: injected panic in main.store\nsave's defer ran (bb)"),
              std::string::npos)
        << out;
    std::vector<std::string> failed;
    for (const json& v : r["verdicts"])
      if (!v["passed"].get<bool>()) failed.push_back(v["check"]);
    EXPECT_EQ(failed.size(), 2u) << r.dump(2);  // the exit code and stderr; the injections themselves held
    EXPECT_EQ(r["probes"][0]["injected"], 2) << r.dump(2);
  }
}

}  // namespace
}  // namespace bpfault
