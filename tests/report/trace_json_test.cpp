// --trace-json of a real run record, parsed back and checked event by event against the record:
// Chrome's trace-event format as Perfetto reads it. tests/report/records/real-run.json is what
//   bpfault run --vm=always scenarios/seed-trace-args.json scenarios/callers-goroutine.json
//     tests/report/records/timed-loop.json --json tests/report/records/real-run.json
// wrote (a recorded call; injections on one goroutine; 100 timed calls).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "report/report.h"

namespace bpfault::report {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

// The records of a `--json` document.
std::vector<record::RunRecord> records_of(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<record::RunRecord> out;
  const json doc = json::parse(text.str());
  for (const json& s : doc.at("scenarios")) {
    auto r = record::record_from_json(s);
    EXPECT_TRUE(r) << (r ? "" : r.error().format());
    if (r) out.push_back(*r);
  }
  return out;
}

const fs::path kRealRun = fs::path(BPFAULT_SOURCE_DIR) / "tests" / "report" / "records" / "real-run.json";

const record::RunRecord* named(const std::vector<record::RunRecord>& records, const std::string& prefix) {
  for (const auto& r : records)
    if (r.name.rfind(prefix, 0) == 0) return &r;
  ADD_FAILURE() << "no record named " << prefix << "...";
  return nullptr;
}

std::vector<json> events_of(const json& doc, int64_t pid, const std::string& ph, const std::string& cat = "") {
  std::vector<json> out;
  for (const json& e : doc.at("traceEvents"))
    if (e.at("pid") == pid && e.at("ph") == ph && (cat.empty() || e.value("cat", "") == cat)) out.push_back(e);
  return out;
}

TEST(TraceJson, EveryEventIsWellFormed) {
  const auto records = records_of(kRealRun);
  ASSERT_EQ(records.size(), 3u);
  const json doc = json::parse(trace_json_document(records, 1234, {}));
  ASSERT_TRUE(doc.at("traceEvents").is_array());
  EXPECT_EQ(doc.at("displayTimeUnit"), "ms");
  std::set<std::pair<int64_t, int64_t>> named_threads, used_threads;
  for (const json& e : doc["traceEvents"]) {
    ASSERT_TRUE(e.at("name").is_string()) << e;
    ASSERT_TRUE(e.at("pid").is_number_integer()) << e;
    ASSERT_TRUE(e.at("tid").is_number_integer()) << e;
    const std::string ph = e.at("ph");
    ASSERT_TRUE(ph == "M" || ph == "X" || ph == "i") << e;
    const std::pair thread{e["pid"].get<int64_t>(), e["tid"].get<int64_t>()};
    if (ph == "M") {
      if (e["name"] == "thread_name") named_threads.insert(thread);
      continue;
    }
    used_threads.insert(thread);
    ASSERT_TRUE(e.at("ts").is_number()) << e;
    EXPECT_GE(e["ts"].get<double>(), 0) << "an event before the tracee started: " << e;
    if (ph == "X") {
      EXPECT_GE(e.at("dur").get<double>(), 0) << e;
    }
    if (ph == "i") {
      EXPECT_EQ(e.at("s"), "t") << e;
    }
  }
  for (const auto& t : used_threads)
    EXPECT_TRUE(named_threads.count(t)) << "thread " << t.first << "/" << t.second << " has no name";
  // one process per scenario run, named after it
  for (size_t i = 0; i < records.size(); ++i) {
    auto meta = events_of(doc, static_cast<int64_t>(i) + 1, "M");
    bool found = false;
    for (const json& m : meta)
      if (m["name"] == "process_name") found = m["args"]["name"] == records[i].name + " [passed]";
    EXPECT_TRUE(found) << records[i].name;
  }
}

// 100 timed calls: 100 complete events on the goroutine that made them, each ending where its RET
// hit is, within the tracee's run; the 100th, which sleeps 1 ms, lasts at least that.
TEST(TraceJson, TimedCallsAreCompleteEventsWithinTheTraceesRun) {
  const auto records = records_of(kRealRun);
  const record::RunRecord* loop = named(records, "100 timed calls");
  ASSERT_TRUE(loop);
  const int64_t pid = loop - records.data() + 1;
  const json doc = json::parse(trace_json_document(records));
  const auto calls = events_of(doc, pid, "X", "call");
  const auto& hits = loop->probes.at(0).hits;
  ASSERT_EQ(hits.size(), 100u);
  ASSERT_EQ(calls.size(), hits.size());
  const uint64_t zero = timeline_zero_ns(*loop);
  EXPECT_EQ(zero, loop->started_ns) << "the timeline starts when the tracee was let go";
  for (size_t i = 0; i < calls.size(); ++i) {
    const json& e = calls[i];
    EXPECT_EQ(e["name"], "main.work");
    EXPECT_EQ(e["tid"], hits[i].goid) << "a goroutine per thread row";
    EXPECT_EQ(e["args"]["call"], hits[i].call);
    EXPECT_NEAR(e["ts"].get<double>() + e["dur"].get<double>(), (hits[i].time_ns - zero) / 1000.0, 0.01);
    EXPECT_NEAR(e["dur"].get<double>(), hits[i].duration_ns / 1000.0, 0.001);
    EXPECT_LE(e["ts"].get<double>() + e["dur"].get<double>(), loop->tracee_ms * 1000) << "after the tracee ended";
    if (hits[i].call == 100) {
      EXPECT_GE(e["dur"].get<double>(), 1000) << "main.work sleeps 1 ms in its 100th call";
    }
  }
  // the tracee's own row spans its run
  const auto tracee = events_of(doc, pid, "X", "tracee");
  ASSERT_EQ(tracee.size(), 1u);
  EXPECT_EQ(tracee[0]["ts"], 0.0);
  EXPECT_NEAR(tracee[0]["dur"].get<double>(), loop->tracee_ms * 1000, 0.01);
  EXPECT_EQ(tracee[0]["args"]["exit_code"], 0);
}

// Injections are instants at their hit, on the goroutine that was injected, carrying what the
// record says: at the call the decision (its writes pending at the RET), at the RET the writes
// read back (set_results r0 = -1).
TEST(TraceJson, InjectionsAreInstantsOnTheirGoroutine) {
  const auto records = records_of(kRealRun);
  const record::RunRecord* callers = named(records, "only the first goroutine");
  ASSERT_TRUE(callers);
  const int64_t pid = callers - records.data() + 1;
  const json doc = json::parse(trace_json_document(records));
  std::vector<const record::Hit*> injected;
  for (const auto& h : callers->probes.at(0).hits)
    if (h.injection) injected.push_back(&h);
  const auto instants = events_of(doc, pid, "i", "injection");
  ASSERT_EQ(instants.size(), injected.size());
  std::set<uint64_t> calls;
  std::set<int64_t> goroutines;
  for (size_t i = 0; i < instants.size(); ++i) {
    EXPECT_EQ(instants[i]["tid"], injected[i]->goid);
    EXPECT_EQ(instants[i]["args"]["call"], injected[i]->call);
    EXPECT_EQ(instants[i]["name"], "write: main.handle");
    EXPECT_NEAR(instants[i]["ts"].get<double>(), (injected[i]->time_ns - callers->started_ns) / 1000.0, 0.01);
    const json& inj = instants[i]["args"]["injection"];
    if (injected[i]->site == "call") {
      EXPECT_EQ(inj["pending_ret_writes"], 1) << inj;
    } else {
      ASSERT_EQ(inj["writes"].size(), 1u) << inj;
      EXPECT_EQ(inj["writes"][0]["after"], -1) << "set_results r0 = -1, read back";
    }
    calls.insert(injected[i]->call);
    goroutines.insert(instants[i]["tid"].get<int64_t>());
  }
  EXPECT_EQ(calls.size(), 3u) << "the scenario expects 3 injected calls";
  EXPECT_EQ(goroutines.size(), 1u) << "goroutine: first: every injection on one goroutine";
}

// A recorded call is an instant carrying the arguments it was called with.
TEST(TraceJson, RecordedCallsCarryTheirArguments) {
  const auto records = records_of(kRealRun);
  const record::RunRecord* seed = named(records, "seed: ebpfDemo");
  ASSERT_TRUE(seed);
  const json doc = json::parse(trace_json_document(records));
  const auto calls = events_of(doc, seed - records.data() + 1, "i", "call");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["name"], "main.ebpfDemo");
  EXPECT_EQ(calls[0]["args"]["args"]["a1"], 100);
  EXPECT_EQ(calls[0]["args"]["args"]["a2"], true);
}

// Bytes that are not UTF-8 in a name or a value keep the document valid JSON: names as \xNN,
// values in the record's lossless {"bytes_b64": ...} form.
TEST(TraceJson, TheTraceesBytesKeepItValidJson) {
  record::RunRecord r;
  r.name = std::string("bytes \xff\xfe", 8);
  r.status = record::Status::passed;
  r.started_ns = 1000;
  record::ProbeRecord p;
  p.function = "main.f";
  p.hits.push_back(
      {.site = "call", .call = 1, .time_ns = 3000, .tid = 9, .goid = -1, .values = {{"s", std::string("\xc3", 1)}}});
  r.probes.push_back(p);
  const std::string text = trace_json_document({r});
  ASSERT_TRUE(record::valid_utf8(text));
  const json doc = json::parse(text);
  const auto calls = events_of(doc, 1, "i", "call");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["args"]["args"]["s"], json({{"bytes_b64", "ww=="}}));
  EXPECT_EQ(calls[0]["ts"], 2.0);
  EXPECT_GT(calls[0]["tid"].get<int64_t>(), int64_t{1} << 32) << "an unknown goroutine gets its thread's own row";
  for (const json& m : events_of(doc, 1, "M"))
    if (m["name"] == "process_name") {
      EXPECT_EQ(m["args"]["name"], "bytes \\xff\\xfe [passed]");
    }
}

}  // namespace
}  // namespace bpfault::report
