#include "check/check.h"

#include <regex>

#include <fmt/format.h>

namespace bpfault::check {
namespace {

using nlohmann::json;

std::string outcome(const run::RunRecord& r) {
  if (r.timed_out) return fmt::format("timed out after {:.0f} ms and was killed", r.tracee_ms);
  if (r.signal) return "killed by " + scenario::signal_name(*r.signal);
  if (r.exit_code) return fmt::format("exit {}", *r.exit_code);
  return "did not run";
}

// Long output is cut to its last lines: the end is where a Go panic or the result is.
std::string excerpt(const std::string& text) {
  constexpr size_t kMaxLines = 20;
  size_t lines = 0, pos = text.size();
  while (pos > 0 && lines <= kMaxLines) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
    ++lines;
  }
  return lines > kMaxLines ? "[...]\n" + text.substr(pos + 1) : text;
}

void check_text(const scenario::TextExpect& t, const std::string& name, const std::string& actual, std::vector<run::Verdict>& out) {
  auto add = [&](std::string what, bool ok, std::string expected, std::string ptr) {
    out.push_back({name + " " + what, ok, std::move(expected), ok ? "" : excerpt(actual), std::move(ptr)});
  };
  for (const auto& c : t.contains) add("contains", actual.find(c) != std::string::npos, c, t.pointer + "/contains");
  for (const auto& c : t.not_contains) add("does not contain", actual.find(c) == std::string::npos, c, t.pointer + "/not_contains");
  for (const auto& m : t.matches) add("matches", std::regex_search(actual, std::regex(m, std::regex::ECMAScript)), "/" + m + "/", t.pointer + "/matches");
  if (t.equals) add("equals", actual == *t.equals, *t.equals, t.pointer + "/equals");
}

const run::ProbeRecord* probe_of(const run::RunRecord& r, const std::string& function) {
  for (const auto& p : r.probes)
    if (p.function == function) return &p;
  return nullptr;
}

// Every hit at `site` must carry the expected values; the verdict names the first that does not.
void check_values(const scenario::EventExpect& e, const run::ProbeRecord& p, const std::string& site,
                  const std::map<std::string, json>& want, std::vector<run::Verdict>& out) {
  const std::string kind = site == "call" ? "args" : "results";
  for (const auto& [name, value] : want) {
    run::Verdict v{fmt::format("events {} {}.{}", e.function, kind, name), true, value.dump(), "", e.pointer + "/" + kind + "/" + name};
    size_t seen = 0;
    for (const auto& h : p.hits) {
      if (h.site != site || !h.values.contains(name)) continue;
      ++seen;
      if (h.values[name] != value) {
        v.passed = false;
        v.actual = fmt::format("{} at call {}", h.values[name].dump(), h.call);
        break;
      }
    }
    if (seen == 0) {
      v.passed = false;
      v.actual = fmt::format("no recorded {}", site == "call" ? "call" : "return");
    }
    out.push_back(std::move(v));
  }
}

// On every injected call, the arguments before (or after) the writes must be these values.
void check_injected(const scenario::EventExpect& e, const run::ProbeRecord& p, const char* when,
                    const std::map<std::string, json>& want, std::vector<run::Verdict>& out) {
  for (const auto& [name, value] : want) {
    run::Verdict v{fmt::format("events {} args_{}.{}", e.function, when, name), true, value.dump(), "", fmt::format("{}/args_{}/{}", e.pointer, when, name)};
    size_t seen = 0;
    for (const auto& h : p.hits) {
      if (h.site != "call" || h.injection.is_null() || !h.injection.contains(when)) continue;
      ++seen;
      const json& got = h.injection[when].value(name, json());
      if (got != value) {
        v.passed = false;
        v.actual = fmt::format("{} at call {}", got.dump(), h.call);
        break;
      }
    }
    if (seen == 0) v.passed = false, v.actual = "no injection";
    out.push_back(std::move(v));
  }
}

// A write the kernel refused (read-only memory, a string too short) fails the run: the
// scenario did not get the fault it asked for.
void check_writes(const run::RunRecord& r, std::vector<run::Verdict>& out) {
  size_t failed = 0;
  std::string first;
  for (const auto& p : r.probes)
    for (const auto& h : p.hits)
      if (!h.injection.is_null())
        for (const auto& w : h.injection["writes"])
          if (!w["error"].is_null() && failed++ == 0)
            first = fmt::format("{} {} at call {}: {}", p.function, w["target"].get<std::string>(), h.call, w["error"].get<std::string>());
  if (failed) out.push_back({"injected writes", false, "every write done", fmt::format("{} failed; first: {}", failed, first), ""});
}

}  // namespace

void evaluate(const scenario::Scenario& s, run::RunRecord& r) {
  auto& out = r.verdicts;
  const auto& e = s.expect;
  if (e.signal) {
    out.push_back({"signal", r.signal == e.signal, scenario::signal_name(*e.signal), outcome(r), "/expect/signal"});
  } else {
    int want = e.exit_code.value_or(0);
    out.push_back({"exit_code", !r.timed_out && !r.signal && r.exit_code == want, fmt::format("exit {}", want), outcome(r),
                   e.exit_code ? "/expect/exit_code" : ""});
  }
  check_text(e.stdout_text, "stdout", r.stdout_text, out);
  check_text(e.stderr_text, "stderr", r.stderr_text, out);
  for (const auto& ev : e.events) {
    const run::ProbeRecord* p = probe_of(r, ev.function);
    if (!p) {
      out.push_back({"events " + ev.function, false, "a probe on it", "not probed", ev.pointer});
      continue;
    }
    auto count = [&](std::string what, uint64_t want, bool ok) {
      out.push_back({fmt::format("events {} {}", ev.function, what), ok, std::to_string(want), std::to_string(p->calls), ev.pointer + "/" + what});
    };
    if (ev.count) count("count", *ev.count, p->calls == *ev.count);
    if (ev.min_count) count("min_count", *ev.min_count, p->calls >= *ev.min_count);
    if (ev.max_count) count("max_count", *ev.max_count, p->calls <= *ev.max_count);
    if (ev.injected)
      out.push_back({fmt::format("events {} injected", ev.function), p->injected == *ev.injected, std::to_string(*ev.injected),
                     std::to_string(p->injected), ev.pointer + "/injected"});
    if (!ev.stack.empty()) {
      run::Verdict v{fmt::format("events {} stack", ev.function), true, fmt::format("{} ...", fmt::join(ev.stack, " <- ")), "", ev.pointer + "/stack"};
      size_t seen = 0;
      for (const auto& h : p->hits) {
        if (h.stack.is_null()) continue;
        ++seen;
        std::vector<std::string> got;
        for (const auto& f : h.stack) got.push_back(f.value("function", "?"));
        bool ok = got.size() >= ev.stack.size() && std::equal(ev.stack.begin(), ev.stack.end(), got.begin());
        if (!ok) {
          v.passed = false;
          v.actual = fmt::format("{} at call {}", fmt::join(got, " <- "), h.call);
          break;
        }
      }
      if (!seen) v.passed = false, v.actual = "no stack recorded";
      out.push_back(std::move(v));
    }
    for (const auto& [key, limit] : ev.latency) {
      run::Verdict v{fmt::format("events {} latency {}", ev.function, key), false, "", "", ev.pointer + "/latency/" + key};
      if (!p->latency || !p->latency->count) {
        v.expected = fmt::format("{} {}", key, limit);
        v.actual = "no timed call returned";
      } else {
        const auto& l = *p->latency;
        double got = key == "p50_max_us" ? l.p50_us : key == "p90_max_us" ? l.p90_us : key == "p99_max_us" ? l.p99_us
                   : key == "max_us" ? l.max_us : l.min_us;
        bool at_least = key == "min_us";
        v.passed = at_least ? got >= limit : got <= limit;
        v.expected = fmt::format("{} {} µs", at_least ? ">=" : "<=", limit);
        v.actual = fmt::format("{:.1f} µs over {} calls", got, l.count);
      }
      out.push_back(std::move(v));
    }
    check_injected(ev, *p, "before", ev.args_before, out);
    check_injected(ev, *p, "after", ev.args_after, out);
    check_values(ev, *p, "call", ev.args, out);
    check_values(ev, *p, "ret", ev.results, out);
  }
  check_writes(r, out);
  out.push_back({"no lost events", r.drops == 0, "0 ring-buffer drops", fmt::format("{} drops", r.drops), ""});
  r.status = run::Status::passed;
  for (const auto& v : out)
    if (!v.passed) r.status = run::Status::failed;
}

}  // namespace bpfault::check
