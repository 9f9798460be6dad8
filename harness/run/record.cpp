#include "run/record.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace bpfault::run {
using json = nlohmann::json;

std::string_view status_name(Status s) {
  switch (s) {
    case Status::passed: return "passed";
    case Status::failed: return "failed";
    case Status::skipped: return "skipped";
    case Status::error: return "error";
  }
  return "error";
}

Latency Latency::of(std::vector<uint64_t> ns) {
  Latency l;
  l.count = ns.size();
  if (ns.empty()) return l;
  std::sort(ns.begin(), ns.end());
  auto us = [](uint64_t v) { return v / 1000.0; };
  auto rank = [&](double p) { return us(ns[std::min(ns.size() - 1, static_cast<size_t>(std::ceil(p * ns.size())) - 1)]); };
  l.min_us = us(ns.front());
  l.max_us = us(ns.back());
  l.p50_us = rank(0.50);
  l.p90_us = rank(0.90);
  l.p99_us = rank(0.99);
  std::map<uint64_t, uint64_t> buckets;
  for (uint64_t v : ns) {
    uint64_t u = v / 1000, lo = u == 0 ? 0 : uint64_t{1} << (63 - __builtin_clzll(u));
    ++buckets[lo];
  }
  for (auto [lo, n] : buckets) l.log2_us.emplace_back(lo, n);
  return l;
}

json to_json(const Error& e) {
  static const char* kinds[] = {"bad_input", "unsupported", "environment", "internal"};
  json j = {{"kind", kinds[static_cast<int>(e.kind)]}, {"where", e.where}, {"what", e.what}, {"hint", e.hint}};
  if (!e.also.empty()) {
    j["also"] = json::array();
    for (const auto& a : e.also) j["also"].push_back(to_json(a));
  }
  return j;
}

Error error_from_json(const json& j) {
  Error e;
  std::string k = j.value("kind", "internal");
  e.kind = k == "bad_input" ? ErrorKind::bad_input : k == "unsupported" ? ErrorKind::unsupported
         : k == "environment" ? ErrorKind::environment : ErrorKind::internal;
  e.where = j.value("where", "");
  e.what = j.value("what", "");
  e.hint = j.value("hint", "");
  if (j.contains("also"))
    for (const auto& a : j["also"]) e.also.push_back(error_from_json(a));
  return e;
}

json to_json(const RunRecord& r) {
  json j = {{"file", r.file}, {"name", r.name}, {"status", status_name(r.status)}, {"where", r.where},
            {"kernel", r.kernel}, {"binary", r.binary}, {"go_version", r.go_version},
            {"timed_out", r.timed_out}, {"stdout", r.stdout_text}, {"stderr", r.stderr_text},
            {"tracee_ms", r.tracee_ms}, {"duration_ms", r.duration_ms}, {"drops", r.drops}, {"goid_misses", r.goid_misses}};
  j["exit_code"] = r.exit_code ? json(*r.exit_code) : json(nullptr);
  j["signal"] = r.signal ? json(*r.signal) : json(nullptr);
  j["probes"] = json::array();
  for (const auto& p : r.probes) {
    json hits = json::array();
    for (const auto& h : p.hits)
      hits.push_back({{"site", h.site}, {"call", h.call}, {"time_ns", h.time_ns}, {"tid", h.tid}, {"goid", h.goid}, {"values", h.values},
                      {"injection", h.injection}, {"stack", h.stack}, {"duration_ns", h.duration_ns}});
    json pj = {{"function", p.function}, {"calls", p.calls}, {"returns", p.returns}, {"injected", p.injected}, {"hits", hits}};
    if (p.latency) {
      json hist = json::array();
      for (auto [lo, n] : p.latency->log2_us) hist.push_back({lo, n});
      pj["latency"] = {{"count", p.latency->count}, {"min_us", p.latency->min_us}, {"p50_us", p.latency->p50_us}, {"p90_us", p.latency->p90_us},
                       {"p99_us", p.latency->p99_us}, {"max_us", p.latency->max_us}, {"log2_us", hist}};
    }
    j["probes"].push_back(std::move(pj));
  }
  j["verdicts"] = json::array();
  for (const auto& v : r.verdicts)
    j["verdicts"].push_back({{"check", v.check}, {"passed", v.passed}, {"expected", v.expected}, {"actual", v.actual}, {"pointer", v.pointer}});
  if (r.diagnosis) {
    const Diagnosis& d = *r.diagnosis;
    j["diagnosis"] = {{"kind", d.kind}, {"summary", d.summary}, {"location", d.location}, {"harness_caused", d.harness_caused},
                      {"injections", d.injections}, {"stderr_tail", d.stderr_tail}};
  }
  if (r.error) j["error"] = to_json(*r.error);
  return j;
}

Result<RunRecord> record_from_json(const json& j) {
  try {
    RunRecord r;
    r.file = j.at("file");
    r.name = j.at("name");
    std::string st = j.at("status");
    r.status = st == "passed" ? Status::passed : st == "failed" ? Status::failed : st == "skipped" ? Status::skipped : Status::error;
    r.where = j.value("where", "native");
    r.kernel = j.value("kernel", "");
    r.binary = j.value("binary", "");
    r.go_version = j.value("go_version", "");
    if (!j.at("exit_code").is_null()) r.exit_code = j["exit_code"].get<int>();
    if (!j.at("signal").is_null()) r.signal = j["signal"].get<int>();
    r.timed_out = j.value("timed_out", false);
    r.stdout_text = j.value("stdout", "");
    r.stderr_text = j.value("stderr", "");
    r.tracee_ms = j.value("tracee_ms", 0.0);
    r.duration_ms = j.value("duration_ms", 0.0);
    r.drops = j.value("drops", uint64_t{0});
    r.goid_misses = j.value("goid_misses", uint64_t{0});
    for (const auto& p : j.at("probes")) {
      ProbeRecord pr{p.at("function"), p.at("calls"), p.at("returns"), p.value("injected", uint64_t{0}), {}};
      for (const auto& h : p.at("hits"))
        pr.hits.push_back({h.at("site"), h.at("call"), h.at("time_ns"), h.at("tid"), h.at("goid"), h.at("values"), h.value("injection", json()),
                           h.value("stack", json()), h.value("duration_ns", uint64_t{0})});
      if (p.contains("latency")) {
        const json& l = p["latency"];
        Latency lat{l.at("count"), l.at("min_us"), l.at("p50_us"), l.at("p90_us"), l.at("p99_us"), l.at("max_us"), {}};
        for (const auto& b : l.at("log2_us")) lat.log2_us.emplace_back(b.at(0), b.at(1));
        pr.latency = lat;
      }
      r.probes.push_back(std::move(pr));
    }
    for (const auto& v : j.at("verdicts"))
      r.verdicts.push_back({v.at("check"), v.at("passed"), v.at("expected"), v.at("actual"), v.value("pointer", "")});
    if (j.contains("diagnosis")) {
      const json& d = j["diagnosis"];
      r.diagnosis = Diagnosis{d.value("kind", ""), d.value("summary", ""), d.value("location", ""), d.value("harness_caused", false),
                              d.value("injections", ""), d.value("stderr_tail", "")};
    }
    if (j.contains("error")) r.error = error_from_json(j["error"]);
    return r;
  } catch (const json::exception& e) {
    return fail(ErrorKind::internal, "run record", std::string("malformed record: ") + e.what());
  }
}

}  // namespace bpfault::run
