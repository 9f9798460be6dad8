#include "run/record.h"

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
            {"tracee_ms", r.tracee_ms}, {"duration_ms", r.duration_ms}, {"drops", r.drops}};
  j["exit_code"] = r.exit_code ? json(*r.exit_code) : json(nullptr);
  j["signal"] = r.signal ? json(*r.signal) : json(nullptr);
  j["probes"] = json::array();
  for (const auto& p : r.probes) {
    json hits = json::array();
    for (const auto& h : p.hits)
      hits.push_back({{"site", h.site}, {"call", h.call}, {"time_ns", h.time_ns}, {"tid", h.tid}, {"goid", h.goid}, {"values", h.values},
                      {"injection", h.injection}});
    j["probes"].push_back({{"function", p.function}, {"calls", p.calls}, {"returns", p.returns}, {"injected", p.injected}, {"hits", hits}});
  }
  j["verdicts"] = json::array();
  for (const auto& v : r.verdicts)
    j["verdicts"].push_back({{"check", v.check}, {"passed", v.passed}, {"expected", v.expected}, {"actual", v.actual}, {"pointer", v.pointer}});
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
    for (const auto& p : j.at("probes")) {
      ProbeRecord pr{p.at("function"), p.at("calls"), p.at("returns"), p.value("injected", uint64_t{0}), {}};
      for (const auto& h : p.at("hits"))
        pr.hits.push_back({h.at("site"), h.at("call"), h.at("time_ns"), h.at("tid"), h.at("goid"), h.at("values"), h.value("injection", json())});
      r.probes.push_back(std::move(pr));
    }
    for (const auto& v : j.at("verdicts"))
      r.verdicts.push_back({v.at("check"), v.at("passed"), v.at("expected"), v.at("actual"), v.value("pointer", "")});
    if (j.contains("error")) r.error = error_from_json(j["error"]);
    return r;
  } catch (const json::exception& e) {
    return fail(ErrorKind::internal, "run record", std::string("malformed record: ") + e.what());
  }
}

}  // namespace bpfault::run
