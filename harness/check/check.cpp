#include "check/check.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include <fmt/format.h>

namespace bpfault::check {
namespace {

using nlohmann::json;

std::string outcome(const record::RunRecord& r) {
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

void check_text(const scenario::TextExpect& t, const std::string& name, const std::string& actual,
                std::vector<record::Verdict>& out) {
  auto add = [&](const std::string& what, bool ok, std::string expected, std::string ptr) {
    out.push_back({name + " " + what, ok, std::move(expected), ok ? "" : excerpt(actual), std::move(ptr)});
  };
  for (const auto& c : t.contains) add("contains", actual.find(c) != std::string::npos, c, t.pointer + "/contains");
  for (const auto& c : t.not_contains)
    add("does not contain", actual.find(c) == std::string::npos, c, t.pointer + "/not_contains");
  for (const auto& m : t.matches)
    add("matches", std::regex_search(actual, std::regex(m, std::regex::ECMAScript)), "/" + m + "/",
        t.pointer + "/matches");
  if (t.equals) add("equals", actual == *t.equals, *t.equals, t.pointer + "/equals");
}

const record::ProbeRecord* probe_of(const record::RunRecord& r, const std::string& function) {
  for (const auto& p : r.probes)
    if (p.function == function) return &p;
  return nullptr;
}

// An interface as recorded where bpfault did not write it: its two words (and what they say of
// its dynamic type), not a name.
bool unnamed_interface(const json& got) { return got.is_object() && got.contains("type") && got.contains("data"); }

// Why `got` does not match the expected value `want` (README, "Expected values"); nullopt when
// it does. Where the mismatch is plain (an integer that differs), the reason is "": the value
// printed says it.
std::optional<std::string> mismatch(const json& want, const json& got) {
  if (want.is_object() && !want.empty() && want.begin().key().starts_with('$')) {
    // an operator on a string: the whole text, or the kept first bytes of a long one
    const bool cut = got.is_object() && got.contains("text") && got["text"].is_string() && got.contains("len");
    if (!got.is_string() && !cut) return std::string("not a string");
    const std::string& text = cut ? got["text"].get_ref<const std::string&>() : got.get_ref<const std::string&>();
    const std::string kept =
        cut ? fmt::format("only its first {} of {} bytes were recorded", text.size(), got["len"].dump()) : "";
    if (want.contains("$prefix")) {
      const std::string& prefix = want["$prefix"].get_ref<const std::string&>();
      if (cut && prefix.size() > text.size())
        return kept + ", fewer than the prefix's " + std::to_string(prefix.size());
      if (!text.starts_with(prefix)) return std::string("does not start with ") + record::printable_value(prefix);
    }
    if (want.contains("$matches")) {
      const std::string& re = want["$matches"].get_ref<const std::string&>();
      if (cut) return kept + ": $matches needs the whole text (use $prefix on a long string)";
      if (!std::regex_search(text, std::regex(re, std::regex::ECMAScript))) return "does not match /" + re + "/";
    }
    return std::nullopt;
  }
  if (want.is_object()) {  // partial: the keys named, whatever the others hold
    json seen = got;
    if (got.is_string()) seen = json{{"text", got}, {"len", got.get_ref<const std::string&>().size()}};
    if (!seen.is_object()) return std::string("not an object");
    for (auto it = want.begin(); it != want.end(); ++it) {
      if (!seen.contains(it.key())) {
        std::vector<std::string> keys;
        for (auto k = seen.begin(); k != seen.end(); ++k) keys.push_back(k.key());
        std::string why = fmt::format("has no \"{}\" (it has {})", it.key(), fmt::join(keys, ", "));
        if (got.is_string() && (it.key() == "prefix" || it.key() == "matches"))
          why += fmt::format("; a string is tested with {{\"${}\": ...}}", it.key());
        return why;
      }
      if (auto why = mismatch(*it, seen[it.key()]))
        return fmt::format("{} is {}{}", it.key(), record::printable_value(seen[it.key()]),
                           why->empty() ? "" : " (" + *why + ")");
    }
    return std::nullopt;
  }
  if (want.is_array()) {
    if (!got.is_array() || got.size() != want.size()) return std::string();
    for (size_t i = 0; i < want.size(); ++i)
      if (auto why = mismatch(want[i], got[i]))
        return fmt::format("[{}] is {}{}", i, record::printable_value(got[i]), why->empty() ? "" : " (" + *why + ")");
    return std::nullopt;
  }
  if (want == got) return std::nullopt;
  // a float compares within a relative 1e-6: a float32 read back is the nearest float32 to the
  // decimal written (0.1 reads back as 0.100000001490116)
  if (want.is_number() && got.is_number() && (want.is_number_float() || got.is_number_float())) {
    const double w = want.get<double>(), g = got.get<double>();
    if (std::fabs(w - g) <= 1e-6 * std::max(1.0, std::fabs(w))) return std::nullopt;
    return std::string();
  }
  if (want.is_string() && unnamed_interface(got))
    return fmt::format(
        "an interface whose variable is unknown: bpfault knows an error is {} only where it wrote it (args_after, "
        "results_after, the values of an injected call); compare the program's output for the others",
        want.get<std::string>());
  return std::string();
}

// "got at call N", and why when it is not plain
std::string actual_at(const json& got, uint64_t call, const std::string& why) {
  return fmt::format("{} at call {}{}", record::printable_value(got), call, why.empty() ? "" : ": " + why);
}

// A value of a hit by name: on an injected call the read-back, with an interface written from a
// variable named as that variable (the injection's read-back knows it, the hit's words do not).
json value_of(const record::Hit& h, const std::string& name) {
  json got = h.values[name];
  if (!h.injection || !unnamed_interface(got)) return got;
  const auto& after = h.site == "call" ? h.injection->args_after : h.injection->results_after;
  if (after && after->contains(name) && (*after)[name].is_string()) return (*after)[name];
  return got;
}

// The calls an entry's values are checked on: all, or the one it names.
bool in_scope(const scenario::EventExpect& e, uint64_t call) { return !e.call || *e.call == call; }

std::string label(const scenario::EventExpect& e, const std::string& kind, const std::string& name) {
  return e.call ? fmt::format("events {} call {} {}.{}", e.function, *e.call, kind, name)
                : fmt::format("events {} {}.{}", e.function, kind, name);
}

// Every hit at `site` (of the call the entry names, if it names one) must carry the expected
// values; the verdict names the first that does not.
void check_values(const scenario::EventExpect& e, const record::ProbeRecord& p, const std::string& site,
                  const std::map<std::string, json>& want, std::vector<record::Verdict>& out) {
  const std::string kind = site == "call" ? "args" : "results";
  for (const auto& [name, value] : want) {
    record::Verdict v{label(e, kind, name), true, value.dump(), "", e.pointer + "/" + kind + "/" + name};
    size_t seen = 0;
    for (const auto& h : p.hits) {
      if (h.site != site || !h.values.contains(name) || !in_scope(e, h.call)) continue;
      ++seen;
      const json got = value_of(h, name);
      if (auto why = mismatch(value, got)) {
        v.passed = false;
        v.actual = actual_at(got, h.call, *why);
        break;
      }
    }
    if (seen == 0) {
      v.passed = false;
      v.actual = fmt::format("no recorded {}{}", site == "call" ? "call" : "return",
                             e.call ? fmt::format(" of call {} ({} calls)", *e.call, p.calls) : "");
    }
    out.push_back(std::move(v));
  }
}

// On every injection that carries `values` (the arguments before and after at a call, the
// results before and after where results were set), the values must be these.
using InjectedValues = std::optional<json> record::Injection::*;
void check_injected(const scenario::EventExpect& e, const record::ProbeRecord& p, InjectedValues values,
                    const std::string& expect_key, const std::map<std::string, json>& want,
                    std::vector<record::Verdict>& out) {
  for (const auto& [name, value] : want) {
    record::Verdict v{label(e, expect_key, name), true, value.dump(), "",
                      fmt::format("{}/{}/{}", e.pointer, expect_key, name)};
    size_t seen = 0;
    for (const auto& h : p.hits) {
      if (!h.injection || !((*h.injection).*values) || !in_scope(e, h.call)) continue;
      ++seen;
      const json got = ((*h.injection).*values)->value(name, json());
      if (auto why = mismatch(value, got)) {
        v.passed = false;
        v.actual = actual_at(got, h.call, *why);
        break;
      }
    }
    if (seen == 0)
      v.passed = false, v.actual = e.call ? fmt::format("no injection at call {}", *e.call) : "no injection";
    out.push_back(std::move(v));
  }
}

// "call": "some": at least one call carries every value of the entry together (its arguments at
// the call, its results at a RET of the same call, the injection's before and after). The
// verdict's actual says, for the first call, the first value it lacks.
void check_some_call(const scenario::EventExpect& e, const record::ProbeRecord& p, std::vector<record::Verdict>& out) {
  struct Want {
    std::string kind, name;
    const json* value;
  };
  std::vector<Want> wants;
  std::vector<std::string> described;
  for (auto [values, kind] :
       {std::pair{&e.args, "args"}, std::pair{&e.results, "results"}, std::pair{&e.args_before, "args_before"},
        std::pair{&e.args_after, "args_after"}, std::pair{&e.results_before, "results_before"},
        std::pair{&e.results_after, "results_after"}})
    for (const auto& [name, value] : *values) {
      wants.push_back({kind, name, &value});
      described.push_back(fmt::format("{}.{} {}", kind, name, value.dump()));
    }
  // Why call `call` does not carry `w`; nullopt when it does.
  auto lacks = [&](uint64_t call, const Want& w) -> std::optional<std::string> {
    std::optional<std::string> why;
    for (const auto& h : p.hits) {
      if (h.call != call) continue;
      json got;
      if (w.kind == "args" || w.kind == "results") {
        if (h.site != (w.kind == "args" ? "call" : "ret") || !h.values.contains(w.name)) continue;
        got = value_of(h, w.name);
      } else {
        if (!h.injection) continue;
        const auto& values = w.kind == "args_before"      ? h.injection->args_before
                             : w.kind == "args_after"     ? h.injection->args_after
                             : w.kind == "results_before" ? h.injection->results_before
                                                          : h.injection->results_after;
        if (!values) continue;
        got = values->value(w.name, json());
      }
      auto m = mismatch(*w.value, got);
      if (!m) return std::nullopt;  // a call with several RET hits carries it when one does
      why =
          fmt::format("{}.{} is {}{}", w.kind, w.name, record::printable_value(got), m->empty() ? "" : " (" + *m + ")");
    }
    return why ? why : fmt::format("{}.{} not recorded", w.kind, w.name);
  };
  std::vector<uint64_t> calls;
  for (const auto& h : p.hits)
    if (std::find(calls.begin(), calls.end(), h.call) == calls.end()) calls.push_back(h.call);
  std::sort(calls.begin(), calls.end());
  record::Verdict v{fmt::format("events {} some call", e.function), false,
                    fmt::format("a call with {}", fmt::join(described, ", ")), "", e.pointer + "/call"};
  std::string first;
  for (uint64_t call : calls) {
    std::optional<std::string> why;
    for (const auto& w : wants)
      if ((why = lacks(call, w))) break;
    if (!why) {
      v.passed = true;
      break;
    }
    if (first.empty()) first = fmt::format("call {}: {}", call, *why);
  }
  if (!v.passed)
    v.actual =
        calls.empty() ? "no recorded call" : fmt::format("none of the {} recorded calls; {}", calls.size(), first);
  out.push_back(std::move(v));
}

// A write the kernel refused (read-only memory, a string too short), one not read back as
// written, and a RET write that never happened each fail the run: the scenario did not get
// the fault it asked for.
void check_writes(const record::RunRecord& r, std::vector<record::Verdict>& out) {
  size_t failed = 0;
  std::string first;
  bool first_cancelled = false;
  // the first cause is named: a write cancelled because another of its injection failed is not one
  auto fault = [&](std::string what, bool cancelled = false) {
    ++failed;
    if (first.empty() || (first_cancelled && !cancelled)) first = std::move(what), first_cancelled = cancelled;
  };
  for (const auto& p : r.probes)
    for (const auto& h : p.hits) {
      if (!h.injection) continue;
      const record::Injection& inj = *h.injection;
      for (const auto& w : inj.writes)
        if (w.error)
          fault(fmt::format("{} {} at call {}: {}", p.function, w.target, h.call, *w.error),
                w.error->starts_with("ECANCELED"));
      if (h.site != "call" || !inj.pending_ret_writes || !inj.done) continue;
      const bool returned = std::any_of(p.hits.begin(), p.hits.end(), [&](const record::Hit& ret) {
        return ret.site == "ret" && ret.call == h.call && ret.injection;
      });
      if (!returned)
        fault(fmt::format("{} call {}: its results were not set: {}", p.function, h.call,
                          inj.pending_error.value_or(
                              "no RET of the call was paired with it (the call panicked or never returned, or the "
                              "goroutine's stack moved out of reach of the pairing)")));
    }
  if (failed)
    out.push_back({"injected writes", false, "every write done and read back",
                   fmt::format("{} failed; first: {}", failed, first), ""});
}

// The part of a probe's record in one lifecycle step: its hits there, its calls there (the
// kernel's exact count, read at the step's start and end) and the calls injected there.
record::ProbeRecord step_scope(const record::RunRecord& r, const record::ProbeRecord& p, const std::string& step) {
  record::ProbeRecord scoped = p;
  scoped.hits.clear();
  scoped.calls = scoped.injected = 0;
  for (const auto& st : r.steps)
    if (st.name == step)
      if (auto c = st.calls.find(p.function); c != st.calls.end()) scoped.calls = c->second;
  for (const auto& h : p.hits)
    if (h.step == step) {
      scoped.injected += h.site == "call" && h.injection && h.injection->action != "off";
      scoped.hits.push_back(h);
    }
  return scoped;
}

// A service's lifecycle: ready in time, each step's result as its expect says, a stop within
// the grace period. Verdicts of a step carry its name (JUnit and the console group them).
void check_service(const scenario::Scenario& s, const record::RunRecord& r, std::vector<record::Verdict>& out) {
  if (!s.serves() || !r.service) return;
  const record::ServiceRun& sv = *r.service;
  if (s.target.ready)
    out.push_back({"ready", sv.ready_ms.has_value(), "ready: " + sv.awaited, sv.not_ready, "/target/ready"});
  for (const auto& step : s.steps) {
    const size_t first = out.size();
    const std::string name = "step " + step.name;
    auto st =
        std::find_if(r.steps.begin(), r.steps.end(), [&](const record::StepResult& x) { return x.name == step.name; });
    if (st == r.steps.end()) {
      out.push_back(
          {name, false, "it runs", sv.ready_ms ? "not run" : "not run: the target was not ready", step.pointer});
    } else if (!st->error.empty()) {
      out.push_back({name, false, step.http ? "an HTTP answer" : "the command runs", st->error, step.pointer});
    } else if (step.program) {
      // its own checks, made by its own run: a pointer taken from its Scenario is already under
      // the step's; one this file writes as a literal ("/expect/exit_code") is moved there
      const record::RunRecord& run = *st->program;
      const std::string base = step.pointer + "/program";
      if (run.error)
        out.push_back({name, false, "its program runs",
                       fmt::format("{}: {}", record::status_name(run.status), run.error->format()), base});
      for (const auto& v : run.verdicts)
        out.push_back({fmt::format("{}: {}", name, v.check), v.passed, v.expected, v.actual,
                       v.pointer.starts_with(base) ? v.pointer : base + v.pointer});
    } else if (step.http) {
      const int want = step.expect.status.value_or(200);
      out.push_back({name + " status", st->status == want, std::to_string(want),
                     fmt::format("{}: {}", st->status.value_or(0), excerpt(st->body)),
                     step.expect.status ? step.pointer + "/expect/status" : step.pointer});
      if (out.back().passed) out.back().actual.clear();
      check_text(step.expect.body, name + " body", st->body, out);
    } else {
      const int want = step.expect.exit_code.value_or(0);
      const bool ok = !st->timed_out && !st->signal && st->exit_code == want;
      std::string got = st->timed_out ? fmt::format("timed out after {:.0f} ms and was killed", st->ms)
                        : st->signal  ? "killed by " + scenario::signal_name(*st->signal)
                                      : fmt::format("exit {}", st->exit_code.value_or(-1));
      if (!ok && !st->stderr_text.empty()) got += "; stderr: " + excerpt(st->stderr_text);
      out.push_back({name + " exit_code", ok, fmt::format("exit {}", want), ok ? "" : got,
                     step.expect.exit_code ? step.pointer + "/expect/exit_code" : step.pointer});
      check_text(step.expect.stdout_text, name + " stdout", st->stdout_text, out);
      check_text(step.expect.stderr_text, name + " stderr", st->stderr_text, out);
    }
    for (size_t i = first; i < out.size(); ++i) out[i].step = step.name;
  }
  if (!sv.stop_signal.empty())
    out.push_back({"stop", !sv.killed, fmt::format("it exits within {} ms of {}", sv.grace_ms, sv.stop_signal),
                   sv.killed ? fmt::format("still running after {} ms: killed with SIGKILL", sv.grace_ms) : "", ""});
}

// A process bpfault attached to: it must still run when bpfault detaches, unless its exit was
// the end the attachment waited for (no steps, no --for: until Ctrl-C or its exit) or a probe
// injects a signal. How it ended is its parent's to see, not bpfault's.
void check_attached(const scenario::Scenario& s, const record::RunRecord& r, std::vector<record::Verdict>& out) {
  if (!r.attached) return;
  const record::Attached& a = *r.attached;
  const bool signals = std::ranges::any_of(s.probes, [](const scenario::Probe& p) {
    return std::ranges::any_of(p.steps,
                               [](const scenario::Step& st) { return st.action == scenario::Step::Action::signal; });
  });
  if (a.until == record::kUntilInterrupt || signals) return;
  out.push_back({fmt::format("pid {} still running", a.pid), !a.exited, fmt::format("running until {}", a.until),
                 a.exited ? fmt::format("it exited {:.0f} ms after bpfault attached", a.ms) : "", "/target"});
}

}  // namespace

void evaluate(const scenario::Scenario& s, record::RunRecord& r) {
  auto& out = r.verdicts;
  const auto& e = s.expect;
  if (s.target.attaches()) {
    check_attached(s, r, out);  // its exit and output are its parent's (scenario::check_attach)
  } else if (e.hangs) {
    out.push_back({"hangs", r.timed_out, fmt::format("still running after {} ms", s.target.timeout.count()), outcome(r),
                   "/expect/hangs"});
  } else if (e.signal) {
    out.push_back({"signal", r.signal == e.signal, scenario::signal_name(*e.signal), outcome(r), "/expect/signal"});
  } else {
    // A test binary exits 1 when a test failed: expecting one to fail expects that exit.
    const bool a_test_fails =
        std::any_of(e.tests.begin(), e.tests.end(), [](const auto& t) { return t.second == "fail"; });
    int want = e.exit_code.value_or(a_test_fails ? 1 : 0);
    out.push_back({"exit_code", !r.timed_out && !r.signal && r.exit_code == want, fmt::format("exit {}", want),
                   outcome(r), e.exit_code ? "/expect/exit_code" : ""});
  }
  for (const auto& test : e.tests) {
    const auto& [name, want] = test;  // a lambda cannot capture a structured binding before clang 16
    auto t =
        std::find_if(r.tests.begin(), r.tests.end(), [&](const record::GoTest& g) { return g.name == test.first; });
    out.push_back({"go test " + name, t != r.tests.end() && t->result == want, want,
                   t == r.tests.end() ? "did not run" : t->result,
                   "/expect/tests/" + std::regex_replace(name, std::regex("/"), "~1")});  // JSON pointer escape
  }
  check_text(e.stdout_text, "stdout", r.stdout_text, out);
  check_text(e.stderr_text, "stderr", r.stderr_text, out);
  check_service(s, r, out);
  for (const auto& ev : e.events) {
    const record::ProbeRecord* p = probe_of(r, ev.function);
    if (!p) {
      out.push_back({"events " + ev.function, false, "a probe on it", "not probed", ev.pointer});
      continue;
    }
    const size_t first_verdict = out.size();
    record::ProbeRecord in_step;
    if (!ev.step.empty()) {
      in_step = step_scope(r, *p, ev.step);
      p = &in_step;
    }
    auto count = [&](std::string what, uint64_t want, bool ok) {
      out.push_back({fmt::format("events {} {}", ev.function, what), ok, std::to_string(want), std::to_string(p->calls),
                     ev.pointer + "/" + what});
    };
    if (ev.count) count("count", *ev.count, p->calls == *ev.count);
    if (ev.min_count) count("min_count", *ev.min_count, p->calls >= *ev.min_count);
    if (ev.max_count) count("max_count", *ev.max_count, p->calls <= *ev.max_count);
    if (ev.injected)
      out.push_back({fmt::format("events {} injected", ev.function), p->injected == *ev.injected,
                     std::to_string(*ev.injected), std::to_string(p->injected), ev.pointer + "/injected"});
    if (!ev.stack.empty()) {
      record::Verdict v{fmt::format("events {} stack", ev.function), true,
                        fmt::format("{} ...", fmt::join(ev.stack, " <- ")), "", ev.pointer + "/stack"};
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
    if (!ev.latency.empty()) {  // limits on a few timed calls say little: every call must have been timed
      const uint64_t timed = p->latency ? p->latency->count : 0;
      out.push_back({fmt::format("events {} latency count", ev.function), timed == p->calls,
                     fmt::format("every call timed ({})", p->calls), fmt::format("{} timed", timed),
                     ev.pointer + "/latency"});
    }
    for (const auto& [key, limit] : ev.latency) {
      record::Verdict v{fmt::format("events {} latency {}", ev.function, key), false, "", "",
                        ev.pointer + "/latency/" + key};
      if (!p->latency || !p->latency->count) {
        v.expected = fmt::format("{} {}", key, limit);
        v.actual = "no timed call returned";
      } else {
        const auto& l = *p->latency;
        double got = key == "p50_max_us"   ? l.p50_us
                     : key == "p90_max_us" ? l.p90_us
                     : key == "p99_max_us" ? l.p99_us
                     : key == "max_us"     ? l.max_us
                                           : l.min_us;
        bool at_least = key == "min_us";
        v.passed = at_least ? got >= limit : got <= limit;
        v.expected = fmt::format("{} {} µs", at_least ? ">=" : "<=", limit);
        v.actual = fmt::format("{:.1f} µs over {} calls", got, l.count);
      }
      out.push_back(std::move(v));
    }
    if (ev.some_call) {
      check_some_call(ev, *p, out);
    } else {
      check_injected(ev, *p, &record::Injection::args_before, "args_before", ev.args_before, out);
      check_injected(ev, *p, &record::Injection::args_after, "args_after", ev.args_after, out);
      check_injected(ev, *p, &record::Injection::results_before, "results_before", ev.results_before, out);
      check_injected(ev, *p, &record::Injection::results_after, "results_after", ev.results_after, out);
      check_values(ev, *p, "call", ev.args, out);
      check_values(ev, *p, "ret", ev.results, out);
    }
    if (!ev.step.empty())
      for (size_t i = first_verdict; i < out.size(); ++i) {
        out[i].check += fmt::format(" (step {})", ev.step);
        out[i].step = ev.step;
      }
  }
  check_writes(r, out);
  out.push_back({"no lost events", r.drops == 0, "0 ring-buffer drops", fmt::format("{} drops", r.drops), ""});
  out.push_back(record::limits_verdict(r));
  r.status = record::Status::passed;
  for (const auto& v : out)
    if (!v.passed) r.status = record::Status::failed;
}

}  // namespace bpfault::check
