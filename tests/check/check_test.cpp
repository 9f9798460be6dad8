// Every kind of verdict, passing on a record that shows what the scenario expects and failing on
// one that does not, with the expected and actual texts a reader sees (unit: records are built
// here, no tracee runs).
#include <functional>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "check/check.h"

namespace bpfault::check {
namespace {
using json = nlohmann::json;

scenario::Scenario scenario_with(const std::string& probes_and_expect) {
  auto s = scenario::parse(
      R"({"version": 1, "name": "check", "target": {"fixture": "demo"}, )" + probes_and_expect + "}", "check.json");
  EXPECT_TRUE(s) << s.error().format();
  return s ? *s : scenario::Scenario{};
}

// A run of main.f that exited 0, printed "hello", had 2 calls and one injection whose writes
// were read back: args n 1 -> 2, results r0 0 -> 7.
record::RunRecord good_run() {
  record::RunRecord r;
  r.exit_code = 0;
  r.stdout_text = "hello\n";
  record::ProbeRecord p;
  p.function = "main.f";
  p.calls = 2;
  p.returns = 2;
  p.injected = 1;
  record::Injection call{.step = 0, .action = "write", .done = true};
  call.writes.push_back({.target = "n", .before = 1, .asked = 2, .after = 2});
  call.args_before = json{{"n", 1}};
  call.args_after = json{{"n", 2}};
  call.pending_ret_writes = 1;
  record::Injection ret{.step = 0, .action = "write", .done = true};
  ret.writes.push_back({.target = "r0", .before = 0, .asked = 7, .after = 7});
  ret.results_before = json{{"r0", 0}};
  ret.results_after = json{{"r0", 7}};
  p.hits.push_back({.site = "call",
                    .call = 1,
                    .values = {{"n", 2}},
                    .injection = call,
                    .stack = json::array({{{"function", "main.f"}}, {{"function", "main.main"}}})});
  p.hits.push_back({.site = "ret", .call = 1, .values = {{"r0", 7}}, .injection = ret});
  p.latency = record::Latency{.count = 2, .min_us = 10, .p50_us = 20, .p90_us = 30, .p99_us = 40, .max_us = 50};
  r.probes.push_back(p);
  return r;
}

const record::Verdict* find(const record::RunRecord& r, const std::string& check) {
  for (const auto& v : r.verdicts)
    if (v.check == check) return &v;
  return nullptr;
}

const record::Verdict& verdict(const record::RunRecord& r, const std::string& check) {
  if (const record::Verdict* v = find(r, check)) return *v;
  static const record::Verdict none{"(none)", false, "", "", ""};
  ADD_FAILURE() << "no verdict \"" << check << "\"";
  return none;
}

struct Case {
  std::string name;                                  // the verdict's check
  std::string scenario;                              // its probes and expect
  std::function<void(record::RunRecord&)> break_it;  // makes the good run fail this verdict
  std::string actual_when_broken;
};

class Verdicts : public ::testing::TestWithParam<Case> {};

TEST_P(Verdicts, PassOnTheGoodRunFailOnTheBrokenOne) {
  const Case& c = GetParam();
  const scenario::Scenario s = scenario_with(c.scenario);
  record::RunRecord good = good_run();
  evaluate(s, good);
  // a verdict that only speaks up on failure ("injected writes") is absent when all is well
  const record::Verdict* passing = find(good, c.name);
  EXPECT_TRUE(!passing || passing->passed) << passing->actual;
  EXPECT_EQ(good.status, record::Status::passed);

  record::RunRecord bad = good_run();
  c.break_it(bad);
  evaluate(s, bad);
  const record::Verdict& v = verdict(bad, c.name);
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, c.actual_when_broken);
  EXPECT_EQ(bad.status, record::Status::failed);
}

const std::string kProbe =
    R"("probes": [{"function": "main.f", "set_args": {"n": 2}, "record": ["n", "r0"], "stack": true, "latency": true}], )";

INSTANTIATE_TEST_SUITE_P(
    EveryKind, Verdicts,
    ::testing::Values(
        Case{"exit_code", kProbe + R"("expect": {})", [](auto& r) { r.exit_code = 3; }, "exit 3"},
        Case{"stdout contains", kProbe + R"("expect": {"stdout": {"contains": ["hello"]}})",
             [](auto& r) { r.stdout_text = "bye\n"; }, "bye\n"},
        Case{"stdout does not contain", kProbe + R"("expect": {"stdout": {"not_contains": ["panic"]}})",
             [](auto& r) { r.stdout_text = "panic\n"; }, "panic\n"},
        Case{"stdout matches", kProbe + R"("expect": {"stdout": {"matches": ["^hel+o"]}})",
             [](auto& r) { r.stdout_text = "help\n"; }, "help\n"},
        Case{"stdout equals", kProbe + R"("expect": {"stdout": {"equals": "hello\n"}})",
             [](auto& r) { r.stdout_text = "hello"; }, "hello"},
        Case{"events main.f count", kProbe + R"("expect": {"events": [{"function": "main.f", "count": 2}]})",
             [](auto& r) { r.probes[0].calls = 3; }, "3"},
        Case{"events main.f min_count", kProbe + R"("expect": {"events": [{"function": "main.f", "min_count": 2}]})",
             [](auto& r) { r.probes[0].calls = 1; }, "1"},
        Case{"events main.f max_count", kProbe + R"("expect": {"events": [{"function": "main.f", "max_count": 2}]})",
             [](auto& r) { r.probes[0].calls = 5; }, "5"},
        Case{"events main.f injected", kProbe + R"("expect": {"events": [{"function": "main.f", "injected": 1}]})",
             [](auto& r) { r.probes[0].injected = 0; }, "0"},
        Case{"events main.f stack",
             kProbe + R"("expect": {"events": [{"function": "main.f", "stack": ["main.f", "main.main"]}]})",
             [](auto& r) {
               r.probes[0].hits[0].stack = json::array({{{"function", "main.f"}}, {{"function", "main.other"}}});
             },
             "main.f <- main.other at call 1"},
        Case{"events main.f latency count",
             kProbe + R"("expect": {"events": [{"function": "main.f", "latency": {"max_us": 100}}]})",
             [](auto& r) { r.probes[0].latency->count = 1; }, "1 timed"},
        Case{"events main.f latency p99_max_us",
             kProbe + R"("expect": {"events": [{"function": "main.f", "latency": {"p99_max_us": 45}}]})",
             [](auto& r) { r.probes[0].latency->p99_us = 46; }, "46.0 µs over 2 calls"},
        Case{"events main.f latency min_us",
             kProbe + R"("expect": {"events": [{"function": "main.f", "latency": {"min_us": 5}}]})",
             [](auto& r) { r.probes[0].latency->min_us = 4; }, "4.0 µs over 2 calls"},
        Case{"events main.f args.n", kProbe + R"("expect": {"events": [{"function": "main.f", "args": {"n": 2}}]})",
             [](auto& r) { r.probes[0].hits[0].values["n"] = 1; }, "1 at call 1"},
        Case{"events main.f results.r0",
             kProbe + R"("expect": {"events": [{"function": "main.f", "results": {"r0": 7}}]})",
             [](auto& r) { r.probes[0].hits.pop_back(); }, "no recorded return"},
        Case{"events main.f args_before.n",
             kProbe + R"("expect": {"events": [{"function": "main.f", "args_before": {"n": 1}}]})",
             [](auto& r) { (*r.probes[0].hits[0].injection->args_before)["n"] = 5; }, "5 at call 1"},
        Case{"events main.f args_after.n",
             kProbe + R"("expect": {"events": [{"function": "main.f", "args_after": {"n": 2}}]})",
             [](auto& r) { r.probes[0].hits[0].injection.reset(); }, "no injection"},
        Case{"events main.f results_before.r0",
             kProbe + R"("expect": {"events": [{"function": "main.f", "results_before": {"r0": 0}}]})",
             [](auto& r) { (*r.probes[0].hits[1].injection->results_before)["r0"] = 9; }, "9 at call 1"},
        Case{"events main.f results_after.r0",
             kProbe + R"("expect": {"events": [{"function": "main.f", "results_after": {"r0": 7}}]})",
             [](auto& r) { (*r.probes[0].hits[1].injection->results_after)["r0"] = 0; }, "0 at call 1"},
        Case{"injected writes", kProbe + R"("expect": {})",
             [](auto& r) { r.probes[0].hits[0].injection->writes[0].error = "EFAULT"; },
             "1 failed; first: main.f n at call 1: EFAULT"},
        Case{"injected writes", kProbe + R"("expect": {})",  // the cause is named, not the write it cancelled
             [](auto& r) {
               auto& ws = r.probes[0].hits[0].injection->writes;
               ws.insert(ws.begin(), record::WriteProof{.target = "m", .error = "ECANCELED: not written"});
               ws[1].error = "EFAULT";
             },
             "2 failed; first: main.f n at call 1: EFAULT"},
        Case{"injected writes", kProbe + R"("expect": {})",  // the RET that had to set the results never came
             [](auto& r) { r.probes[0].hits.pop_back(); },
             "1 failed; first: main.f call 1: its results were not set: no RET of the call was paired with it (the "
             "call panicked or never "
             "returned, or the goroutine's stack moved out of reach of the pairing)"},
        Case{"no lost events", kProbe + R"("expect": {})", [](auto& r) { r.drops = 4; }, "4 drops"}),
    [](const auto& info) {
      std::string n = std::to_string(info.index) + "_" + info.param.name;
      for (char& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

// --- expected values: partial objects, string operators, per call, some call, identity ------

// main.g called twice: call 1 with s "/etc/hosts" (complete), b a slice of 44 bytes, p {X 1, Y 2},
// returning r0 nil-error-free 3; call 2 with s a 100-byte string of which 64 are kept, b of 3,
// returning 9 and err as two words (not written by bpfault).
record::RunRecord values_run() {
  record::RunRecord r;
  r.exit_code = 0;
  record::ProbeRecord p;
  p.function = "main.g";
  p.calls = 2;
  p.returns = 2;
  const std::string kept(64, 'x');
  p.hits.push_back(
      {.site = "call",
       .call = 1,
       .values = {
           {"s", "/etc/hosts"}, {"b", {{"len", 44}, {"cap", 64}, {"first", {1, 2, 3}}}}, {"p", {{"X", 1}, {"Y", 2}}}}});
  p.hits.push_back({.site = "ret", .call = 1, .values = {{"r0", 3}, {"err", nullptr}}});
  p.hits.push_back({.site = "call",
                    .call = 2,
                    .values = {{"s", {{"text", "/proc/" + kept.substr(6)}, {"len", 100}}},
                               {"b", {{"len", 3}, {"cap", 3}, {"first", {7, 8, 9}}}},
                               {"p", {{"X", 5}, {"Y", 2}}}}});
  p.hits.push_back(
      {.site = "ret", .call = 2, .values = {{"r0", 9}, {"err", {{"type", "0x4b2f80"}, {"data", "0xc000012345"}}}}});
  r.probes.push_back(p);
  return r;
}

const std::string kGProbe = R"("probes": [{"function": "main.g", "record": ["s", "b", "p", "r0", "err"]}], )";

// The verdict `check` of values_run() against one events entry.
record::Verdict judge(const std::string& entry, const std::string& check,
                      const std::function<void(record::RunRecord&)>& change = {}) {
  const scenario::Scenario s = scenario_with(kGProbe + R"("expect": {"events": [)" + entry + "]}");
  record::RunRecord r = values_run();
  if (change) change(r);
  evaluate(s, r);
  return verdict(r, check);
}

TEST(ExpectedValues, APartialObjectComparesOnlyTheKeysItNames) {
  // {"len": 44}: a slice of 44 whatever its bytes and capacity; call 2's slice has 3
  auto v = judge(R"({"function": "main.g", "call": 1, "args": {"b": {"len": 44}}})", "events main.g call 1 args.b");
  EXPECT_TRUE(v.passed) << v.actual;
  v = judge(R"({"function": "main.g", "args": {"b": {"len": 44}}})", "events main.g args.b");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, R"({"cap":3,"first":[7,8,9],"len":3} at call 2: len is 3)");
  // a struct's fields: Y is 2 on both calls, X is not
  v = judge(R"({"function": "main.g", "args": {"p": {"Y": 2}}})", "events main.g args.p");
  EXPECT_TRUE(v.passed) << v.actual;
  v = judge(R"({"function": "main.g", "args": {"p": {"X": 1}}})", "events main.g args.p");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, R"({"X":5,"Y":2} at call 2: X is 5)");
  v = judge(R"({"function": "main.g", "args": {"p": {"Z": 1}}})", "events main.g args.p");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, R"({"X":1,"Y":2} at call 1: has no "Z" (it has X, Y))");
  // a complete string is {"text", "len"} to a partial object; a long one is recorded that way
  v = judge(R"({"function": "main.g", "call": 1, "args": {"s": {"len": 10}}})", "events main.g call 1 args.s");
  EXPECT_TRUE(v.passed) << v.actual;
  v = judge(R"({"function": "main.g", "call": 2, "args": {"s": {"len": 100}}})", "events main.g call 2 args.s");
  EXPECT_TRUE(v.passed) << v.actual;
  v = judge(R"({"function": "main.g", "call": 1, "args": {"s": {"len": 11}}})", "events main.g call 1 args.s");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, R"("/etc/hosts" at call 1: len is 10)");
  // an exact array stays exact: inside a partial object, "first" must be the whole kept list
  v = judge(R"({"function": "main.g", "call": 1, "args": {"b": {"first": [1, 2]}}})", "events main.g call 1 args.b");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, R"({"cap":64,"first":[1,2,3],"len":44} at call 1: first is [1,2,3])");
  // a scalar where an object is expected
  v = judge(R"({"function": "main.g", "call": 1, "results": {"r0": {"len": 3}}})", "events main.g call 1 results.r0");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, "3 at call 1: not an object");
}

TEST(ExpectedValues, PrefixAndMatchesTestAStringAndSayWhatWasKept) {
  auto v = judge(R"({"function": "main.g", "args": {"s": {"$prefix": "/"}}})", "events main.g args.s");
  EXPECT_TRUE(v.passed) << v.actual;  // call 2's is cut at 64 bytes: its kept text starts with it
  v = judge(R"({"function": "main.g", "args": {"s": {"$prefix": "/etc/"}}})", "events main.g args.s");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual,
            R"({"len":100,"text":"/proc/)" + std::string(58, 'x') + R"("} at call 2: does not start with "/etc/")");
  v = judge(R"({"function": "main.g", "call": 2, "args": {"s": {"$prefix": ")" + std::string(70, 'x') + R"("}}})",
            "events main.g call 2 args.s");
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.actual.find("at call 2: only its first 64 of 100 bytes were recorded, fewer than the prefix's 70"),
            std::string::npos)
      << v.actual;
  v = judge(R"({"function": "main.g", "call": 1, "args": {"s": {"$matches": "^/etc/[a-z]+$"}}})",
            "events main.g call 1 args.s");
  EXPECT_TRUE(v.passed) << v.actual;
  v = judge(R"({"function": "main.g", "call": 1, "args": {"s": {"$matches": "^/etc/[0-9]+$"}}})",
            "events main.g call 1 args.s");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, R"("/etc/hosts" at call 1: does not match /^/etc/[0-9]+$/)");
  v = judge(R"({"function": "main.g", "call": 2, "args": {"s": {"$matches": "^/proc"}}})",
            "events main.g call 2 args.s");
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.actual.find("only its first 64 of 100 bytes were recorded: $matches needs the whole text"),
            std::string::npos)
      << v.actual;
  v = judge(R"({"function": "main.g", "call": 1, "results": {"r0": {"$prefix": "3"}}})",
            "events main.g call 1 results.r0");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, "3 at call 1: not a string");
  // without the $, "prefix" is a field name (a Go struct may have one): the hint says so
  v = judge(R"({"function": "main.g", "call": 1, "args": {"s": {"prefix": "/etc/"}}})", "events main.g call 1 args.s");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual,
            R"("/etc/hosts" at call 1: has no "prefix" (it has len, text); a string is tested with {"$prefix": ...})");
}

TEST(ExpectedValues, CallNChecksOnlyThatCall) {
  auto v = judge(R"({"function": "main.g", "call": 2, "results": {"r0": 9}})", "events main.g call 2 results.r0");
  EXPECT_TRUE(v.passed) << v.actual;
  v = judge(R"({"function": "main.g", "call": 1, "results": {"r0": 9}})", "events main.g call 1 results.r0");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, "3 at call 1");
  // every call (no "call"): call 1 differs
  v = judge(R"({"function": "main.g", "results": {"r0": 9}})", "events main.g results.r0");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, "3 at call 1");
  v = judge(R"({"function": "main.g", "call": 3, "args": {"s": "/etc/hosts"}})", "events main.g call 3 args.s");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, "no recorded call of call 3 (2 calls)");
}

TEST(ExpectedValues, SomeCallNeedsOneCallCarryingEverythingTogether) {
  // call 2 has r0 9 and a /proc path; call 1 has 3 and /etc/hosts
  auto v =
      judge(R"({"function": "main.g", "call": "some", "args": {"s": {"$prefix": "/proc/"}}, "results": {"r0": 9}})",
            "events main.g some call");
  EXPECT_TRUE(v.passed) << v.actual;
  EXPECT_EQ(v.expected, R"(a call with args.s {"$prefix":"/proc/"}, results.r0 9)");
  // each holds on some call, never both on the same one
  v = judge(R"({"function": "main.g", "call": "some", "args": {"s": "/etc/hosts"}, "results": {"r0": 9}})",
            "events main.g some call");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, "none of the 2 recorded calls; call 1: results.r0 is 3");
  v = judge(R"({"function": "main.g", "call": "some", "args": {"b": {"len": 5}}})", "events main.g some call");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual,
            R"(none of the 2 recorded calls; call 1: args.b is {"cap":64,"first":[1,2,3],"len":44} (len is 44))");
  v = judge(R"({"function": "main.g", "call": "some", "args": {"b": {"len": 5}}})", "events main.g some call",
            [](record::RunRecord& r) { r.probes[0].hits.clear(); });
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, "no recorded call");
}

TEST(ExpectedValues, AnErrorIsAVariablesValueOnlyWhereBpfaultKnowsIt) {
  // a RET bpfault did not write: two words, no name
  auto v =
      judge(R"({"function": "main.g", "call": 2, "results": {"err": "io.EOF"}})", "events main.g call 2 results.err");
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual,
            R"({"data":"0xc000012345","type":"0x4b2f80"} at call 2: an interface whose variable is unknown: bpfault )"
            R"(knows an error is io.EOF only where it wrote it (args_after, results_after, the values of an injected )"
            R"(call); compare the program's output for the others)");
  // the same RET, where an injection wrote io.EOF and read it back as those words: `results` holds
  auto injected = [](record::RunRecord& r) {
    record::Injection ret{.step = 0, .action = "write", .done = true};
    ret.results_before = json{{"r0", 9}, {"err", nullptr}};
    ret.results_after = json{{"r0", 9}, {"err", "io.EOF"}};
    r.probes[0].hits[3].injection = ret;
  };
  v = judge(R"({"function": "main.g", "call": 2, "results": {"err": "io.EOF"}})", "events main.g call 2 results.err",
            injected);
  EXPECT_TRUE(v.passed) << v.actual;
  v = judge(R"({"function": "main.g", "call": 2, "results": {"err": "io/fs.ErrNotExist"}})",
            "events main.g call 2 results.err", injected);
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.actual, R"("io.EOF" at call 2)");
  // a nil error is null
  v = judge(R"({"function": "main.g", "call": 1, "results": {"err": null}})", "events main.g call 1 results.err");
  EXPECT_TRUE(v.passed) << v.actual;
}

TEST(Verdicts, SignalPassesWhenTheTraceeDiedOfItAndFailsWhenItExited) {
  const scenario::Scenario s = scenario_with(kProbe + R"("expect": {"signal": "SIGKILL"})");
  record::RunRecord killed = good_run();
  killed.exit_code.reset();
  killed.signal = 9;
  evaluate(s, killed);
  EXPECT_TRUE(verdict(killed, "signal").passed) << verdict(killed, "signal").actual;
  record::RunRecord exited = good_run();
  evaluate(s, exited);
  EXPECT_FALSE(verdict(exited, "signal").passed);
  EXPECT_EQ(verdict(exited, "signal").actual, "exit 0");
}

TEST(Verdicts, HitsBeyondTheLimitFailTheRecord) {
  const scenario::Scenario s = scenario_with(kProbe + R"("expect": {})");
  record::RunRecord r = good_run();
  evaluate(s, r);
  EXPECT_TRUE(r.verdicts.back().passed) << r.verdicts.back().check;
  record::RunRecord over = good_run();
  over.probes[0].hits_not_kept = 12;
  evaluate(s, over);
  EXPECT_FALSE(over.verdicts.back().passed);
  EXPECT_NE(over.verdicts.back().actual.find("12"), std::string::npos) << over.verdicts.back().actual;
  EXPECT_EQ(over.status, record::Status::failed);
}

// A crash after an injection the scenario did not ask for is the harness's suspect.
TEST(Diagnose, ACrashAfterAnInjectionIsHarnessCaused) {
  const scenario::Scenario s = scenario_with(kProbe + R"("expect": {})");
  record::RunRecord r = good_run();
  r.exit_code = 2;
  r.stderr_text = "panic: boom\n\ngoroutine 1 [running]:\nmain.f(...)\n\t/src/main.go:7 +0x1d\n";
  diagnose(s, r);
  ASSERT_TRUE(r.diagnosis);
  EXPECT_EQ(r.diagnosis->kind, "go_panic");
  EXPECT_EQ(r.diagnosis->summary, "panic: boom");
  EXPECT_TRUE(r.diagnosis->harness_caused);
  EXPECT_EQ(r.diagnosis->injections, "main.f (1 injection, first at call 1)");

  record::RunRecord clean = good_run();
  diagnose(s, clean);
  EXPECT_FALSE(clean.diagnosis) << "an exit 0 is not a crash";
}

}  // namespace
}  // namespace bpfault::check

namespace bpfault::check {
namespace {

// A service scenario's verdicts: ready, each step's own checks (named after it, carrying its
// name), the stop; and an events entry scoped to a step sees that step's calls and hits only.
scenario::Scenario service_scenario() {
  auto s = scenario::parse(
      R"({"version": 1, "name": "svc", "target": {"fixture": "service", "ready": {"tcp": "127.0.0.1:1"}},
    "probes": [{"function": "main.store", "return": {"r1": "main.errNotFound"}, "during": ["break"], "record": ["id"]}],
    "steps": [{"name": "get", "http": {"url": "http://127.0.0.1:1/"}, "expect": {"body": {"contains": "item"}}},
              {"name": "break", "http": {"url": "http://127.0.0.1:1/"}, "expect": {"status": 500}},
              {"name": "cmd", "run": ["true"], "expect": {"stdout": {"equals": "x"}}}],
    "expect": {"events": [{"function": "main.store", "step": "break", "count": 1, "injected": 1, "args": {"id": 2}},
                          {"function": "main.store", "step": "get", "count": 1, "injected": 0}]}})",
      "svc.json");
  EXPECT_TRUE(s) << s.error().format();
  return s ? *s : scenario::Scenario{};
}

record::RunRecord service_run() {
  record::RunRecord r;
  r.exit_code = 0;
  r.service = record::ServiceRun{"a TCP connection to 127.0.0.1:1", 12, "", "SIGTERM", 4, false, 5000};
  record::StepResult get{.name = "get", .kind = "http", .started_ns = 100, .ended_ns = 200};
  get.status = 200;
  get.body = "item 1";
  get.calls = {{"main.store", 1}};
  record::StepResult brk{.name = "break", .kind = "http", .started_ns = 300, .ended_ns = 400};
  brk.status = 500;
  brk.calls = {{"main.store", 1}};
  record::StepResult cmd{.name = "cmd", .kind = "run", .started_ns = 500, .ended_ns = 600};
  cmd.exit_code = 0;
  cmd.stdout_text = "x";
  r.steps = {get, brk, cmd};
  record::ProbeRecord p;
  p.function = "main.store";
  p.calls = 3;  // one more, from the readiness check, outside every step
  p.injected = 1;
  record::Hit h1{.site = "call", .call = 1, .time_ns = 150, .values = {{"id", 1}}, .step = "get"};
  record::Hit h2{.site = "call", .call = 2, .time_ns = 350, .values = {{"id", 2}}, .step = "break"};
  h2.injection = record::Injection{.step = 0, .action = "return", .done = true, .returned = true};
  p.hits = {h1, h2};
  r.probes.push_back(p);
  return r;
}

TEST(ServiceVerdicts, StepsReadyStopAndStepScopedEventsPass) {
  record::RunRecord r = service_run();
  evaluate(service_scenario(), r);
  for (const auto& v : r.verdicts) EXPECT_TRUE(v.passed) << v.check << ": " << v.expected << " / " << v.actual;
  const record::Verdict* ready = find(r, "ready");
  ASSERT_TRUE(ready);
  const record::Verdict* count = find(r, "events main.store count (step break)");
  ASSERT_TRUE(count);
  EXPECT_EQ(count->step, "break");
  const record::Verdict* status = find(r, "step get status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->step, "get");
  EXPECT_EQ(status->expected, "200");  // an HTTP step answers 200 unless said otherwise
  ASSERT_TRUE(find(r, "step cmd exit_code"));
  ASSERT_TRUE(find(r, "stop"));
  EXPECT_EQ(r.status, record::Status::passed);
}

TEST(ServiceVerdicts, EachFailureNamesItsStep) {
  record::RunRecord r = service_run();
  r.service->ready_ms.reset();
  r.service->not_ready = "not ready after 1 s: nothing accepted a TCP connection on 127.0.0.1:1";
  r.service->killed = true;
  r.steps[0].body = "nothing";
  r.steps[1].status = 200;
  r.steps[2].error = "starting failed: No such file or directory";
  r.probes[0].hits[1].injection.reset();  // the fault did not fire in its step
  evaluate(service_scenario(), r);
  EXPECT_EQ(r.status, record::Status::failed);
  auto failed = [&](const std::string& check, const std::string& actual) {
    const record::Verdict* v = find(r, check);
    ASSERT_TRUE(v) << check;
    EXPECT_FALSE(v->passed) << check;
    EXPECT_EQ(v->actual.substr(0, actual.size()), actual) << check;
  };
  failed("ready", "not ready after 1 s: nothing accepted a TCP connection on 127.0.0.1:1");
  failed("step get body contains", "nothing");
  failed("step break status", "200: ");
  failed("step cmd", "starting failed: No such file or directory");
  failed("stop", "still running after 5000 ms: killed with SIGKILL");
  failed("events main.store injected (step break)", "0");
  const record::Verdict* outside = find(r, "events main.store injected (step get)");
  ASSERT_TRUE(outside);
  EXPECT_TRUE(outside->passed);
}

}  // namespace
}  // namespace bpfault::check
