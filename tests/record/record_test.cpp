// A run record holds bytes, not text: whatever the tracee wrote or a probe read survives the
// record's JSON (to_json -> dump -> parse -> record_from_json) exactly, and the JSON is valid.
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "record/record.h"

namespace bpfault::record {
namespace {
using json = nlohmann::json;

// Random bytes biased toward what breaks text handling: high bytes, lead bytes without their
// continuation, NUL, ESC, quotes and backslashes, and valid multi-byte characters.
std::string hostile_bytes(std::mt19937& rng, size_t max_len) {
  static const std::string pieces[] = {"\xff",     "\xc3",
                                       "\xe2\x82", "\xf0\x9f\x98",
                                       "é",        "€",
                                       "😀",        std::string(1, '\0'),
                                       "\x1b[31m", "\"",
                                       "\\",       "\n",
                                       "a",        "\xed\xa0\x80",
                                       "\xc0\xaf", "\xef\xbf\xbf"};
  std::string out;
  const size_t len = std::uniform_int_distribution<size_t>(0, max_len)(rng);
  while (out.size() < len)
    out += rng() % 3 ? pieces[rng() % std::size(pieces)] : std::string(1, static_cast<char>(rng()));
  return out;
}

RunRecord record_with(std::mt19937& rng) {
  RunRecord r;
  r.file = "s.json";
  r.name = "bytes";
  r.status = Status::failed;
  r.exit_code = 0;
  r.stdout_text = hostile_bytes(rng, 200);
  r.stderr_text = hostile_bytes(rng, 200);
  ProbeRecord p;
  p.function = "main.greet";
  p.calls = 1;
  Hit h;
  h.site = "call";
  h.call = 1;
  h.values = {{"s", hostile_bytes(rng, 64)}, {"t", {{"text", hostile_bytes(rng, 64)}, {"len", 70}}}, {"n", 7}};
  h.injection = Injection{.step = 0, .writes = {{.target = "s", .before = hostile_bytes(rng, 8), .after = "HI"}}};
  p.hits.push_back(h);
  r.probes.push_back(p);
  r.verdicts.push_back({"stdout contains", false, "x", hostile_bytes(rng, 100), "/expect/stdout"});
  r.diagnosis = Diagnosis{"go_panic", "panic: " + hostile_bytes(rng, 20), "main.f", false, "", hostile_bytes(rng, 100)};
  return r;
}

TEST(RecordBytes, ArbitraryBytesRoundTripExactly) {
  std::mt19937 rng(16);
  for (int i = 0; i < 500; ++i) {
    const RunRecord r = record_with(rng);
    const std::string text = dump(to_json(r));
    const json parsed = json::parse(text);  // throws (fails the test) on invalid JSON
    auto back = record_from_json(parsed);
    ASSERT_TRUE(back) << back.error().format();
    EXPECT_EQ(back->stdout_text, r.stdout_text);
    EXPECT_EQ(back->stderr_text, r.stderr_text);
    EXPECT_EQ(back->probes.at(0).hits.at(0).values, r.probes[0].hits[0].values);
    EXPECT_EQ(back->probes.at(0).hits.at(0).injection, r.probes[0].hits[0].injection);
    EXPECT_EQ(back->verdicts.at(0).actual, r.verdicts[0].actual);
    EXPECT_EQ(back->diagnosis->summary, r.diagnosis->summary);
    EXPECT_EQ(back->diagnosis->stderr_tail, r.diagnosis->stderr_tail);
  }
}

TEST(RecordBytes, TextStaysAStringAndOtherBytesAreMarkedBase64) {
  RunRecord r;
  r.stdout_text = "héllo\n";
  r.stderr_text = "a\xff";
  json j = to_json(r);
  EXPECT_EQ(j["stdout"], "héllo\n");
  EXPECT_EQ(j["stderr"], json({{"bytes_b64", "Yf8="}}));
}

TEST(RecordBytes, AStringCutInsideACharacterIsBytes) {
  // a Go string recorded up to its 64th byte: "é" (C3 A9) cut after C3
  const std::string cut = std::string(63, 'a') + "\xc3";
  json v = encode_bytes(json{{"s", {{"text", cut}, {"len", 69}}}});
  EXPECT_TRUE(v["s"]["text"].is_object());
  EXPECT_EQ(decode_bytes(v)["s"]["text"], cut);
}

TEST(RecordBytes, Utf8ValidationIsStrict) {
  EXPECT_TRUE(valid_utf8("plain, é, €, 😀"));
  for (std::string bad : {"\xff", "\xc3", "\xc0\xaf" /* overlong */, "\xed\xa0\x80" /* surrogate */,
                          "\xf4\x90\x80\x80" /* > U+10FFFF */, "\xe2\x82" /* cut */})
    EXPECT_FALSE(valid_utf8(bad)) << printable(bad);
}

TEST(RecordBytes, DumpNeverThrowsEvenOnABadKey) {
  json j = {
      {"\xff"
       "key",
       "\xfe"}};
  std::string text;
  ASSERT_NO_THROW(text = dump(j));
  EXPECT_NO_THROW(json::parse(text));
}

TEST(RecordBytes, PrintableEscapesWhatATerminalWouldInterpret) {
  EXPECT_EQ(printable(std::string_view("ok é\n\t")), "ok é\n\t");
  EXPECT_EQ(printable(std::string_view("\x1b[31mred\xff")), "\\x1b[31mred\\xff");
  EXPECT_EQ(printable_value(json("a\"\xff")), "\"a\\\"\\xff\"");
  EXPECT_EQ(printable_value(json{{"s", "x\n"}}), "{\"s\":\"x\\n\"}");
}

TEST(RecordBytes, AMalformedBase64IsLeftAsItIs) {
  json j = {{"bytes_b64", "not base64!"}};
  EXPECT_EQ(decode_bytes(j), j);
}

// Bounded memory for any number of calls, and figures within 1.6 % of the exact ones.
TEST(Durations, MatchTheExactLatencyWithinTheBucketWidth) {
  std::mt19937_64 rng(16);
  std::lognormal_distribution<double> spread(9, 2);  // ~8 µs median, tails to seconds
  std::vector<uint64_t> all;
  Durations d;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t ns = 1 + static_cast<uint64_t>(spread(rng));
    all.push_back(ns);
    d.add(ns);
  }
  const Latency exact = Latency::of(all), got = d.latency();
  EXPECT_EQ(got.count, exact.count);
  EXPECT_EQ(got.min_us, exact.min_us);
  EXPECT_EQ(got.max_us, exact.max_us);
  for (auto [g, e] : {std::pair{got.p50_us, exact.p50_us}, {got.p90_us, exact.p90_us}, {got.p99_us, exact.p99_us}})
    EXPECT_NEAR(g, e, e * 0.016 + 0.001);
  uint64_t total = 0;
  for (auto [lo, n] : got.log2_us) total += n;
  EXPECT_EQ(total, 100000u);
}

// Each limit bpfault can reach fails the record-limits verdict and says how many; a clean record passes.
TEST(LimitsVerdict, EveryLimitReachedFailsAndSaysHowMany) {
  RunRecord clean;
  clean.probes.push_back({});
  clean.probes[0].function = "main.f";
  EXPECT_TRUE(limits_verdict(clean).passed) << limits_verdict(clean).actual;

  RunRecord r = clean;
  r.goid_misses = 3;
  auto v = limits_verdict(r);
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.actual.find("3 hits whose goroutine could not be read"), std::string::npos) << v.actual;

  r = clean;
  r.unpaired = 2;
  v = limits_verdict(r);
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.actual.find("2 calls not paired"), std::string::npos) << v.actual;

  r = clean;
  r.probes[0].hits_not_kept = 5;
  v = limits_verdict(r);
  EXPECT_FALSE(v.passed);
  EXPECT_NE(v.actual.find("main.f: 5 recorded hits not kept"), std::string::npos) << v.actual;
}

}  // namespace
}  // namespace bpfault::record

namespace bpfault::record {
namespace {

// A service's lifecycle survives the record's JSON: the service run, each step's result, the
// step of each hit and of each verdict.
TEST(RecordService, LifecycleRoundTrips) {
  RunRecord r;
  r.file = "svc.json";
  r.name = "svc";
  r.status = Status::passed;
  r.exit_code = 0;
  r.service = ServiceRun{"a TCP connection to 127.0.0.1:1", 41.5, "", "SIGTERM", 3.25, false, 5000};
  StepResult http{.name = "get", .kind = "http", .started_ns = 10, .ended_ns = 20, .ms = 0.01};
  http.status = 500;
  http.body = "store failed\xff";
  http.armed = {"main.store"};
  http.calls = {{"main.store", 1}};
  StepResult run{.name = "cmd", .kind = "run", .started_ns = 30, .ended_ns = 40};
  run.exit_code = 3;
  run.stdout_text = "out";
  run.stderr_text = "err";
  run.error = "";
  r.steps = {http, run};
  ProbeRecord p;
  p.function = "main.store";
  Hit h;
  h.site = "call";
  h.time_ns = 15;
  h.step = "get";
  p.hits.push_back(h);
  r.probes.push_back(p);
  r.verdicts.push_back({"step get status", true, "500", "", "/steps/0/expect/status", "get"});
  auto back = record_from_json(json::parse(dump(to_json(r))));
  ASSERT_TRUE(back) << back.error().format();
  ASSERT_TRUE(back->service);
  EXPECT_EQ(back->service->awaited, "a TCP connection to 127.0.0.1:1");
  EXPECT_EQ(back->service->ready_ms, 41.5);
  EXPECT_EQ(back->service->stop_signal, "SIGTERM");
  EXPECT_EQ(back->service->grace_ms, 5000u);
  ASSERT_EQ(back->steps.size(), 2u);
  EXPECT_EQ(back->steps[0].status, 500);
  EXPECT_EQ(back->steps[0].body, "store failed\xff");
  EXPECT_EQ(back->steps[0].armed, std::vector<std::string>{"main.store"});
  EXPECT_EQ(back->steps[0].calls.at("main.store"), 1u);
  EXPECT_EQ(back->steps[1].exit_code, 3);
  EXPECT_EQ(back->steps[1].stderr_text, "err");
  EXPECT_EQ(back->steps[1].started_ns, 30u);
  EXPECT_EQ(back->probes[0].hits[0].step, "get");
  EXPECT_EQ(back->verdicts[0].step, "get");
  // not a service: no "service" or "steps" key at all
  RunRecord plain;
  plain.file = plain.name = "p";
  const json j = to_json(plain);
  EXPECT_FALSE(j.contains("service"));
  EXPECT_FALSE(j.contains("steps"));
}

// A program step's whole run is the step's "program" (its output in bytes, its hits, its
// verdicts), and the step's exit is its program's, as the VM's guest streams it back.
TEST(RecordService, AProgramStepsRunRoundTrips) {
  RunRecord r;
  r.file = r.name = "svc";
  r.service = ServiceRun{};
  auto client = std::make_shared<RunRecord>();
  client->file = "svc";
  client->name = "slow";
  client->status = Status::failed;
  client->exit_code = 2;
  client->stdout_text = "error: timeout\xff";
  ProbeRecord p;
  p.function = "main.fetch";
  p.calls = 1;
  Hit h;
  h.site = "ret";
  h.values = {{"status", 0}};
  p.hits.push_back(h);
  client->probes.push_back(p);
  client->verdicts.push_back({"exit_code", false, "exit 0", "exit 2", "/steps/0/program/expect/exit_code", ""});
  StepResult step{.name = "slow", .kind = "program", .started_ns = 1, .ended_ns = 2};
  step.exit_code = 2;
  step.program = client;
  r.steps = {step};
  auto back = record_from_json(json::parse(dump(to_json(r))));
  ASSERT_TRUE(back) << back.error().format();
  ASSERT_EQ(back->steps.size(), 1u);
  EXPECT_EQ(back->steps[0].kind, "program");
  EXPECT_EQ(back->steps[0].exit_code, 2);
  ASSERT_TRUE(back->steps[0].program);
  const RunRecord& c = *back->steps[0].program;
  EXPECT_EQ(c.name, "slow");
  EXPECT_EQ(c.status, Status::failed);
  EXPECT_EQ(c.stdout_text, "error: timeout\xff");
  ASSERT_EQ(c.probes.size(), 1u);
  EXPECT_EQ(c.probes[0].hits[0].values["status"], 0);
  ASSERT_EQ(c.verdicts.size(), 1u);
  EXPECT_EQ(c.verdicts[0].pointer, "/steps/0/program/expect/exit_code");
}

}  // namespace
}  // namespace bpfault::record
