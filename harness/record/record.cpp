#include "record/record.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace bpfault::record {
using json = nlohmann::json;

std::string_view status_name(Status s) {
  switch (s) {
    case Status::passed:
      return "passed";
    case Status::failed:
      return "failed";
    case Status::skipped:
      return "skipped";
    case Status::error:
      return "error";
  }
  return "error";
}

Latency Latency::of(std::vector<uint64_t> ns) {
  Latency l;
  l.count = ns.size();
  if (ns.empty()) return l;
  std::sort(ns.begin(), ns.end());
  auto us = [](uint64_t v) { return v / 1000.0; };
  auto rank = [&](double p) {
    return us(ns[std::min(ns.size() - 1, static_cast<size_t>(std::ceil(p * ns.size())) - 1)]);
  };
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

namespace {

// The length of the UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF, as strict as nlohmann's dump), 0 when the bytes there are not one.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  const unsigned char c1 = b(i + 1);
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F))
    return 0;
  return n;
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<unsigned char>(in[i + 2]);
    out += kBase64[(v >> 18) & 63];
    out += kBase64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kBase64[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kBase64[v & 63] : '=';
  }
  return out;
}

std::optional<std::string> unbase64(std::string_view in) {
  if (in.size() % 4) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      const char* at = c ? std::strchr(kBase64, c) : nullptr;
      if (c == '=' && i + 4 == in.size() && k >= 2)
        ++pad;
      else if (!at || pad)
        return std::nullopt;
      v = v << 6 | (at ? static_cast<uint32_t>(at - kBase64) : 0);
    }
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>(v >> 8 & 0xFF);
    if (pad < 1) out += static_cast<char>(v & 0xFF);
  }
  return out;
}

// Keys are names (Go's, the scenario's): never bytes to keep, only to keep printable.
std::string utf8_key(const std::string& key) {
  if (valid_utf8(key)) return key;
  std::string out;
  for (size_t i = 0; i < key.size();) {
    size_t n = utf8_sequence(key, i);
    out += n ? key.substr(i, n) : "\uFFFD";
    i += n ? n : 1;
  }
  return out;
}

}  // namespace

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (!n) return false;
    i += n;
  }
  return true;
}

json encode_bytes(json j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    return valid_utf8(s) ? j : json{{"bytes_b64", base64(s)}};
  }
  if (j.is_array())
    for (auto& e : j) e = encode_bytes(std::move(e));
  if (j.is_object()) {
    json out = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) out[utf8_key(it.key())] = encode_bytes(std::move(it.value()));
    return out;
  }
  return j;
}

json decode_bytes(json j) {
  if (j.is_object() && j.size() == 1 && j.contains("bytes_b64") && j["bytes_b64"].is_string())
    if (auto bytes = unbase64(j["bytes_b64"].get_ref<const std::string&>())) return *bytes;
  if (j.is_array() || j.is_object())
    for (auto& e : j) e = decode_bytes(std::move(e));
  return j;
}

std::string dump(const json& j, int indent) {
  return encode_bytes(j).dump(indent, ' ', false, json::error_handler_t::replace);
}

namespace {

// U+FFFE and U+FFFF: valid UTF-8 that XML 1.0 forbids (JUnit must stay well-formed).
bool noncharacter(std::string_view s, size_t i, size_t n) {
  return n == 3 && static_cast<unsigned char>(s[i]) == 0xEF && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
         static_cast<unsigned char>(s[i + 2]) >= 0xBE;
}

// \xNN for the bytes that are not UTF-8 and for control characters; `quoted`: as the body of a
// JSON string (quotes and backslashes escaped, \n and \t as JSON writes them).
std::string escaped(std::string_view bytes, bool quoted) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    const size_t n = utf8_sequence(bytes, i);
    if (quoted && (c == '"' || c == '\\'))
      out += {'\\', static_cast<char>(c)};
    else if (quoted && c == '\n')
      out += "\\n";
    else if (quoted && c == '\t')
      out += "\\t";
    else if (n == 0 || (c < 0x20 && c != '\n' && c != '\t') || c == 0x7F || noncharacter(bytes, i, n))
      out += fmt::format("\\x{:02x}", c);
    else
      out.append(bytes.substr(i, n));
    i += n ? n : 1;
  }
  return out;
}

}  // namespace

std::string printable(std::string_view bytes) { return escaped(bytes, false); }

std::string markup(std::string_view bytes) {
  std::string out;
  for (char c : printable(bytes)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";  // XML and HTML alike
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string printable_value(const json& v) {
  if (v.is_string()) return "\"" + escaped(v.get_ref<const std::string&>(), true) + "\"";
  if (v.is_array()) {
    std::string out = "[";
    for (const auto& e : v) out += (out.size() > 1 ? "," : "") + printable_value(e);
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "{";
    for (auto it = v.begin(); it != v.end(); ++it)
      out += (out.size() > 1 ? "," : "") + printable_value(json(it.key())) + ":" + printable_value(it.value());
    return out + "}";
  }
  return v.dump();
}

Verdict limits_verdict(const RunRecord& r) {
  std::vector<std::string> over;
  for (const auto& p : r.probes)
    if (p.hits_not_kept) over.push_back(fmt::format("{}: {} recorded hits not kept", p.function, p.hits_not_kept));
  for (const auto& p : r.probes)
    if (p.failed_writes_not_kept)
      over.push_back(fmt::format(
          "{}: {} injections past the limit had a failed write (not kept: see the injected writes of the kept ones)",
          p.function, p.failed_writes_not_kept));
  if (r.unpaired)
    over.push_back(fmt::format(
        "{} calls not paired with their RET (untimed, no RET writes: more than {} in flight, or the kernel had no "
        "memory for an entry)",
        r.unpaired, kMaxCallsInFlight));
  // An unknown goroutine matches no goroutine condition and cannot be paired with its RET: a
  // hit bpfault could not place is a limit reached, never a silent skip.
  if (r.goid_misses)
    over.push_back(
        fmt::format("{} hits whose goroutine could not be read (no goroutine condition matched them; "
                    "their calls untimed, their RET writes not done; a page of the Go heap was unreadable "
                    "then, e.g. being collapsed into a huge page: README, 'Goroutines')",
                    r.goid_misses));
  return {"record limits", over.empty(),
          fmt::format(
              "every recorded hit kept (at most {} per probe), every write past it done, every call paired (at most {} "
              "in flight), every hit's goroutine read",
              kMaxHitsPerProbe, kMaxCallsInFlight),
          over.empty() ? "within them" : fmt::format("{}", fmt::join(over, "; ")), ""};
}

namespace {

// Values below kSub ns each have a bucket; above, 64 buckets per power of two.
size_t bucket_of(uint64_t ns, size_t sub) {
  if (ns < sub) return ns;
  const int e = 63 - __builtin_clzll(ns);  // >= 6
  return (e - 5) * sub + ((ns >> (e - 6)) - sub);
}

uint64_t bucket_mid(size_t b, size_t sub) {
  if (b < sub) return b;
  const int e = static_cast<int>(b / sub) + 5;
  const uint64_t low = (sub + b % sub) << (e - 6), width = uint64_t{1} << (e - 6);
  return low + (width - 1) / 2;
}

}  // namespace

void Durations::add(uint64_t ns) {
  ++buckets_[bucket_of(ns, kSub)];
  ++count_;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
}

Latency Durations::latency() const {
  Latency l;
  l.count = count_;
  if (!count_) return l;
  auto us = [](uint64_t v) { return v / 1000.0; };
  auto at_rank = [&](double p) {  // the value of the ceil(p*n)-th call, as Latency::of counts
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(p * count_)));
    uint64_t seen = 0;
    for (size_t b = 0; b < buckets_.size(); ++b)
      if ((seen += buckets_[b]) >= rank) return us(std::clamp(bucket_mid(b, kSub), min_, max_));
    return us(max_);
  };
  l.min_us = us(min_);
  l.max_us = us(max_);
  l.p50_us = at_rank(0.50);
  l.p90_us = at_rank(0.90);
  l.p99_us = at_rank(0.99);
  std::map<uint64_t, uint64_t> log2;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    if (!buckets_[b]) continue;
    const uint64_t u = std::clamp(bucket_mid(b, kSub), min_, max_) / 1000,
                   lo = u == 0 ? 0 : uint64_t{1} << (63 - __builtin_clzll(u));
    log2[lo] += buckets_[b];
  }
  for (auto [lo, n] : log2) l.log2_us.emplace_back(lo, n);
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
  e.kind = k == "bad_input"     ? ErrorKind::bad_input
           : k == "unsupported" ? ErrorKind::unsupported
           : k == "environment" ? ErrorKind::environment
                                : ErrorKind::internal;
  e.where = j.value("where", "");
  e.what = j.value("what", "");
  e.hint = j.value("hint", "");
  if (j.contains("also"))
    for (const auto& a : j["also"]) e.also.push_back(error_from_json(a));
  return e;
}

json to_json(const Injection& inj) {
  json j = {{"step", inj.step}, {"done", inj.done}, {"returned", inj.returned}, {"writes", json::array()}};
  for (const WriteProof& w : inj.writes) {
    json wj = {{"target", w.target}, {"error", w.error ? json(*w.error) : json(nullptr)}};
    if (w.attempted) wj["before"] = w.before, wj["asked"] = w.asked, wj["after"] = w.after;
    if (!w.address.empty()) wj["address"] = w.address;
    if (!w.variable.empty()) wj["variable"] = w.variable;
    j["writes"].push_back(std::move(wj));
  }
  if (!inj.action.empty()) j["action"] = inj.action;
  auto optional = [&](const char* key, const auto& value) {
    if (value) j[key] = *value;
  };
  optional("before", inj.args_before);
  optional("after", inj.args_after);
  optional("results_before", inj.results_before);
  optional("results_after", inj.results_after);
  optional("pending_ret_writes", inj.pending_ret_writes);
  optional("pending_error", inj.pending_error);
  return j;
}

Injection injection_from_json(const json& j) {
  Injection inj;
  inj.step = j.at("step");
  inj.done = j.value("done", false);
  inj.returned = j.value("returned", false);
  inj.action = j.value("action", "");
  for (const json& wj : j.at("writes")) {
    WriteProof w;
    w.target = wj.at("target");
    w.attempted = wj.contains("after");
    w.before = wj.value("before", json());
    w.asked = wj.value("asked", json());
    w.after = wj.value("after", json());
    w.address = wj.value("address", "");
    w.variable = wj.value("variable", "");
    if (wj.contains("error") && !wj["error"].is_null()) w.error = wj["error"].get<std::string>();
    inj.writes.push_back(std::move(w));
  }
  if (j.contains("before")) inj.args_before = j["before"];
  if (j.contains("after")) inj.args_after = j["after"];
  if (j.contains("results_before")) inj.results_before = j["results_before"];
  if (j.contains("results_after")) inj.results_after = j["results_after"];
  if (j.contains("pending_ret_writes")) inj.pending_ret_writes = j["pending_ret_writes"].get<uint64_t>();
  if (j.contains("pending_error")) inj.pending_error = j["pending_error"].get<std::string>();
  return inj;
}

json to_json(const RunRecord& r) {
  json j = {{"file", r.file},
            {"name", r.name},
            {"status", status_name(r.status)},
            {"where", r.where},
            {"kernel", r.kernel},
            {"binary", r.binary},
            {"go_version", r.go_version},
            {"timed_out", r.timed_out},
            {"stdout", r.stdout_text},
            {"stderr", r.stderr_text},
            {"tracee_ms", r.tracee_ms},
            {"duration_ms", r.duration_ms},
            {"drops", r.drops},
            {"goid_misses", r.goid_misses},
            {"unpaired", r.unpaired}};
  j["started_ns"] = r.started_ns;
  if (r.phases)
    j["phases"] = {{"prepare_ms", r.phases->prepare_ms}, {"analysis_kept", r.phases->analysis_kept},
                   {"load_ms", r.phases->load_ms},       {"probes_reused", r.phases->probes_reused},
                   {"start_ms", r.phases->start_ms},     {"finish_ms", r.phases->finish_ms}};
  if (!r.inlining_off.empty()) j["inlining_off"] = r.inlining_off;
  j["exit_code"] = r.exit_code ? json(*r.exit_code) : json(nullptr);
  j["signal"] = r.signal ? json(*r.signal) : json(nullptr);
  j["probes"] = json::array();
  for (const auto& p : r.probes) {
    json hits = json::array();
    for (const auto& h : p.hits)
      hits.push_back({{"site", h.site},
                      {"call", h.call},
                      {"time_ns", h.time_ns},
                      {"tid", h.tid},
                      {"goid", h.goid},
                      {"values", h.values},
                      {"injection", h.injection ? to_json(*h.injection) : json(nullptr)},
                      {"stack", h.stack},
                      {"duration_ns", h.duration_ns}});
    for (size_t i = 0; i < p.hits.size(); ++i)
      if (!p.hits[i].step.empty()) hits[i]["step"] = p.hits[i].step;
    for (size_t i = 0; i < p.hits.size(); ++i)
      if (!p.hits[i].inlined_into.empty()) hits[i]["inlined_into"] = p.hits[i].inlined_into;
    json pj = {{"function", p.function},
               {"calls", p.calls},
               {"returns", p.returns},
               {"injected", p.injected},
               {"hits", hits},
               {"not_kept",
                {{"hits", p.hits_not_kept},
                 {"injections", p.injections_not_kept},
                 {"failed_writes", p.failed_writes_not_kept},
                 {"timings", p.timings_not_kept}}}};
    if (!p.signature_from.empty()) pj["signature_from"] = p.signature_from;
    if (p.latency) {
      json hist = json::array();
      for (auto [lo, n] : p.latency->log2_us) hist.push_back({lo, n});
      pj["latency"] = {{"count", p.latency->count},
                       {"min_us", p.latency->min_us},
                       {"p50_us", p.latency->p50_us},
                       {"p90_us", p.latency->p90_us},
                       {"p99_us", p.latency->p99_us},
                       {"max_us", p.latency->max_us},
                       {"log2_us", hist}};
    }
    j["probes"].push_back(std::move(pj));
  }
  if (!r.tests.empty()) {
    j["tests"] = json::array();
    for (const auto& t : r.tests)
      j["tests"].push_back({{"name", t.name}, {"result", t.result}, {"seconds", t.seconds}});
  }
  if (r.service) {
    const ServiceRun& sv = *r.service;
    j["service"] = {{"awaited", sv.awaited},     {"ready_ms", sv.ready_ms ? json(*sv.ready_ms) : json(nullptr)},
                    {"not_ready", sv.not_ready}, {"stop_signal", sv.stop_signal},
                    {"stop_ms", sv.stop_ms},     {"killed", sv.killed},
                    {"grace_ms", sv.grace_ms}};
  }
  if (r.attached) {
    const Attached& a = *r.attached;
    j["attached"] = {{"pid", a.pid},     {"executable", a.executable}, {"until", a.until},
                     {"ended", a.ended}, {"exited", a.exited},         {"ms", a.ms}};
  }
  if (!r.steps.empty()) {
    j["steps"] = json::array();
    for (const auto& st : r.steps) {
      json sj = {{"name", st.name}, {"kind", st.kind},   {"started_ns", st.started_ns}, {"ended_ns", st.ended_ns},
                 {"ms", st.ms},     {"error", st.error}, {"armed", st.armed},           {"calls", st.calls}};
      if (st.program) {
        sj["program"] = to_json(*st.program);
      } else if (st.kind == "run") {
        sj["exit_code"] = st.exit_code ? json(*st.exit_code) : json(nullptr);
        sj["signal"] = st.signal ? json(*st.signal) : json(nullptr);
        sj["timed_out"] = st.timed_out;
        sj["stdout"] = st.stdout_text;
        sj["stderr"] = st.stderr_text;
      } else {
        sj["status"] = st.status ? json(*st.status) : json(nullptr);
        sj["body"] = st.body;
      }
      j["steps"].push_back(std::move(sj));
    }
  }
  j["verdicts"] = json::array();
  for (const auto& v : r.verdicts) {
    j["verdicts"].push_back({{"check", v.check},
                             {"passed", v.passed},
                             {"expected", v.expected},
                             {"actual", v.actual},
                             {"pointer", v.pointer}});
    if (!v.step.empty()) j["verdicts"].back()["step"] = v.step;
  }
  if (r.diagnosis) {
    const Diagnosis& d = *r.diagnosis;
    j["diagnosis"] = {{"kind", d.kind},
                      {"summary", d.summary},
                      {"location", d.location},
                      {"harness_caused", d.harness_caused},
                      {"injections", d.injections},
                      {"stderr_tail", d.stderr_tail}};
  }
  if (r.error) j["error"] = to_json(*r.error);
  if (r.interrupted) j["interrupted"] = true;
  if (!r.not_started.empty()) j["not_started"] = r.not_started;
  return encode_bytes(std::move(j));
}

Result<RunRecord> record_from_json(const json& encoded) {
  try {
    const json j = decode_bytes(encoded);
    RunRecord r;
    r.file = j.at("file");
    r.name = j.at("name");
    std::string st = j.at("status");
    r.status = st == "passed"    ? Status::passed
               : st == "failed"  ? Status::failed
               : st == "skipped" ? Status::skipped
                                 : Status::error;
    r.where = j.value("where", "native");
    r.kernel = j.value("kernel", "");
    r.binary = j.value("binary", "");
    r.go_version = j.value("go_version", "");
    r.inlining_off = j.value("inlining_off", std::vector<std::string>{});
    if (!j.at("exit_code").is_null()) r.exit_code = j["exit_code"].get<int>();
    if (!j.at("signal").is_null()) r.signal = j["signal"].get<int>();
    r.timed_out = j.value("timed_out", false);
    r.stdout_text = j.value("stdout", "");
    r.stderr_text = j.value("stderr", "");
    r.tracee_ms = j.value("tracee_ms", 0.0);
    r.started_ns = j.value("started_ns", uint64_t{0});
    r.duration_ms = j.value("duration_ms", 0.0);
    if (j.contains("phases")) {
      const json& ph = j["phases"];
      r.phases = RunRecord::Phases{.prepare_ms = ph.value("prepare_ms", 0.0),
                                   .analysis_kept = ph.value("analysis_kept", false),
                                   .load_ms = ph.value("load_ms", 0.0),
                                   .probes_reused = ph.value("probes_reused", false),
                                   .start_ms = ph.value("start_ms", 0.0),
                                   .finish_ms = ph.value("finish_ms", 0.0)};
    }
    r.drops = j.value("drops", uint64_t{0});
    r.goid_misses = j.value("goid_misses", uint64_t{0});
    r.unpaired = j.value("unpaired", uint64_t{0});
    if (j.contains("tests"))
      for (const auto& t : j["tests"]) r.tests.push_back({t.at("name"), t.at("result"), t.value("seconds", 0.0)});
    for (const auto& p : j.at("probes")) {
      ProbeRecord pr{p.at("function"), p.at("calls"), p.at("returns"), p.value("injected", uint64_t{0}), {}};
      for (const auto& h : p.at("hits")) {
        std::optional<Injection> injection;
        if (h.contains("injection") && !h["injection"].is_null()) injection = injection_from_json(h["injection"]);
        pr.hits.push_back({h.at("site"), h.at("call"), h.at("time_ns"), h.at("tid"), h.at("goid"), h.at("values"),
                           std::move(injection), h.value("stack", json()), h.value("duration_ns", uint64_t{0}),
                           h.value("step", ""), h.value("inlined_into", "")});
      }
      pr.signature_from = p.value("signature_from", std::string());
      if (p.contains("not_kept")) {
        const json& n = p["not_kept"];
        pr.hits_not_kept = n.value("hits", uint64_t{0});
        pr.injections_not_kept = n.value("injections", uint64_t{0});
        pr.failed_writes_not_kept = n.value("failed_writes", uint64_t{0});
        pr.timings_not_kept = n.value("timings", uint64_t{0});
      }
      if (p.contains("latency")) {
        const json& l = p["latency"];
        Latency lat{l.at("count"), l.at("min_us"), l.at("p50_us"), l.at("p90_us"), l.at("p99_us"), l.at("max_us"), {}};
        for (const auto& b : l.at("log2_us")) lat.log2_us.emplace_back(b.at(0), b.at(1));
        pr.latency = lat;
      }
      r.probes.push_back(std::move(pr));
    }
    for (const auto& v : j.at("verdicts"))
      r.verdicts.push_back({v.at("check"), v.at("passed"), v.at("expected"), v.at("actual"), v.value("pointer", ""),
                            v.value("step", "")});
    if (j.contains("service")) {
      const json& sv = j["service"];
      ServiceRun run;
      run.awaited = sv.value("awaited", "");
      if (sv.contains("ready_ms") && !sv["ready_ms"].is_null()) run.ready_ms = sv["ready_ms"].get<double>();
      run.not_ready = sv.value("not_ready", "");
      run.stop_signal = sv.value("stop_signal", "");
      run.stop_ms = sv.value("stop_ms", 0.0);
      run.killed = sv.value("killed", false);
      run.grace_ms = sv.value("grace_ms", uint64_t{0});
      r.service = run;
    }
    if (j.contains("attached")) {
      const json& aj = j["attached"];
      Attached a;
      a.pid = aj.value("pid", 0);
      a.executable = aj.value("executable", "");
      a.until = aj.value("until", "");
      a.ended = aj.value("ended", "");
      a.exited = aj.value("exited", false);
      a.ms = aj.value("ms", 0.0);
      r.attached = a;
    }
    if (j.contains("steps"))
      for (const auto& sj : j["steps"]) {
        StepResult st;
        st.name = sj.at("name");
        st.kind = sj.at("kind");
        st.started_ns = sj.value("started_ns", uint64_t{0});
        st.ended_ns = sj.value("ended_ns", uint64_t{0});
        st.ms = sj.value("ms", 0.0);
        st.error = sj.value("error", "");
        st.armed = sj.value("armed", std::vector<std::string>{});
        st.calls = sj.value("calls", std::map<std::string, uint64_t>{});
        if (sj.contains("exit_code") && !sj["exit_code"].is_null()) st.exit_code = sj["exit_code"].get<int>();
        if (sj.contains("signal") && !sj["signal"].is_null()) st.signal = sj["signal"].get<int>();
        st.timed_out = sj.value("timed_out", false);
        st.stdout_text = sj.value("stdout", "");
        st.stderr_text = sj.value("stderr", "");
        if (sj.contains("status") && !sj["status"].is_null()) st.status = sj["status"].get<int>();
        st.body = sj.value("body", "");
        if (sj.contains("program")) {
          auto program = record_from_json(sj["program"]);
          if (!program) return tl::unexpected(program.error());
          st.program = std::make_shared<RunRecord>(std::move(*program));
          st.exit_code = st.program->exit_code;  // as the step had them (its JSON has them once, in "program")
          st.signal = st.program->signal;
          st.timed_out = st.program->timed_out;
        }
        r.steps.push_back(std::move(st));
      }
    if (j.contains("diagnosis")) {
      const json& d = j["diagnosis"];
      r.diagnosis = Diagnosis{d.value("kind", ""),       d.value("summary", ""),
                              d.value("location", ""),   d.value("harness_caused", false),
                              d.value("injections", ""), d.value("stderr_tail", "")};
    }
    if (j.contains("error")) r.error = error_from_json(j["error"]);
    r.interrupted = j.value("interrupted", false);
    r.not_started = j.value("not_started", "");
    return r;
  } catch (const json::exception& e) {
    return fail(ErrorKind::internal, "run record", std::string("malformed record: ") + e.what());
  }
}

}  // namespace bpfault::record
