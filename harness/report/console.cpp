#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "report/report.h"

namespace bpfault::report {
namespace {

// Indents every line of a block (multi-line stdout under "actual:"), escaping what the tracee
// wrote that is not printable text.
std::string indent(const std::string& bytes, const std::string& pad) {
  const std::string text = record::printable(bytes);
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out += (out.empty() ? "" : "\n" + pad) + text.substr(pos, nl - pos);
    pos = nl + 1;
  }
  return out;
}

}  // namespace

namespace {
ColorMode color_mode = ColorMode::auto_;
}  // namespace

void set_color_mode(ColorMode mode) { color_mode = mode; }

bool use_color(std::FILE* out) {
  if (color_mode != ColorMode::auto_) return color_mode == ColorMode::always;
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return !(no_color && *no_color) && !(term && std::string_view(term) == "dumb") && isatty(fileno(out));
}

Console::Console(std::FILE* out, bool verbose) : out_(out), verbose_(verbose), color_(use_color(out)) {}

void Console::suite_start(size_t scenarios, const std::string& where) {
  fmt::print(out_, "[==========] Running {} scenario{} ({})\n", scenarios, scenarios == 1 ? "" : "s", where);
  std::fflush(out_);
}

void Console::scenario_start(const std::string& name) {
  fmt::print(out_, "[ RUN      ] {}\n", record::printable(name));
  open_ = name;
  std::fflush(out_);
}

void Console::note(const std::string& line) {
  fmt::print(out_, "{}{}{}\n", color_ ? "\033[2m" : "", line, color_ ? "\033[0m" : "");
  std::fflush(out_);
}

// A service's lifecycle, one line per stage: when it was ready, each step's result (ok, or
// FAILED when one of its verdicts failed) with the faults armed in it, how it stopped.
void Console::print_service(const record::RunRecord& r) {
  if (const auto& a = r.attached)  // a process bpfault attached to: what ended it, and whether it runs on
    fmt::print(out_, "  attached: pid {} ({}) for {:.1f} s until {}; ended: {}{}\n", a->pid,
               record::printable(a->executable), a->ms / 1000, a->until, a->ended,
               a->exited ? "" : "; detached, it runs on");
  if (!r.service) return;
  const record::ServiceRun& sv = *r.service;
  if (!sv.awaited.empty())
    fmt::print(out_, "  ready: {}{}\n", sv.awaited,
               sv.ready_ms ? fmt::format(" after {:.0f} ms", *sv.ready_ms) : std::string(": never"));
  for (const auto& st : r.steps) {
    bool ok = true;
    for (const auto& v : r.verdicts) ok &= v.step != st.name || v.passed;
    std::string what = !st.error.empty()   ? record::printable(st.error)
                       : st.kind == "http" ? fmt::format("HTTP {}", st.status.value_or(0))
                       : st.timed_out      ? std::string("timed out")
                       : st.signal         ? fmt::format("killed by signal {}", *st.signal)
                                           : fmt::format("exit {}", st.exit_code.value_or(-1));
    std::string armed;
    for (const auto& f : st.armed) {
      uint64_t injected = 0;
      for (const auto& p : r.probes)
        if (p.function == f)
          for (const auto& h : p.hits) injected += h.step == st.name && h.site == "call" && h.injection;
      const auto calls = st.calls.find(f);
      armed += fmt::format("{}{} armed: {} calls, {} injected", armed.empty() ? "; " : ", ", f,
                           calls == st.calls.end() ? 0 : calls->second, injected);
    }
    if (st.program) {  // a program step: its program, and what its own probes saw
      what = "its program: " + what;
      for (const auto& p : st.program->probes)
        armed += fmt::format("{}its {}: {} calls{}", armed.empty() ? "; " : ", ", p.function, p.calls,
                             p.injected ? fmt::format(", {} injected", p.injected) : "");
    }
    fmt::print(out_, "  step {}: {} in {:.0f} ms{} {}\n", record::printable(st.name), what, st.ms, armed,
               ok ? "ok" : "FAILED");
  }
  if (!sv.stop_signal.empty())
    fmt::print(out_, "  stop: {}, {}\n", sv.stop_signal,
               sv.killed ? fmt::format("still running after {} ms: killed with SIGKILL", sv.grace_ms)
                         : fmt::format("{} after {:.0f} ms", r.signal ? "killed" : "exited", sv.stop_ms));
}

void Console::scenario_end(const record::RunRecord& r) {
  if (open_ != r.name) scenario_start(r.name);
  open_.clear();
  const char* green = color_ ? "\033[32m" : "";
  const char* red = color_ ? "\033[31m" : "";
  const char* yellow = color_ ? "\033[33m" : "";
  const char* reset = color_ ? "\033[0m" : "";
  std::string where = r.where == "vm" ? fmt::format(", vm {}", r.kernel) : "";
  for (const auto& p : r.probes)
    if (p.latency && p.latency->count)
      fmt::print(out_, "  {} latency, µs: {} calls, p50 {:.1f}, p90 {:.1f}, p99 {:.1f}, max {:.1f}\n{}", p.function,
                 p.latency->count, p.latency->p50_us, p.latency->p90_us, p.latency->p99_us, p.latency->max_us,
                 histogram(*p.latency, "  "));
  print_service(r);
  if (!r.tests.empty()) {
    std::vector<std::string> tests;
    for (const auto& t : r.tests) tests.push_back(fmt::format("{} {}", record::printable(t.name), t.result));
    fmt::print(out_, "  go tests: {}\n", fmt::join(tests, ", "));
  }
  switch (r.status) {
    case record::Status::passed:
      if (verbose_)
        for (const auto& v : r.verdicts) fmt::print(out_, "  ok: {} {}\n", v.check, v.expected);
      fmt::print(out_, "{}[       OK ]{} {} ({:.0f} ms{})\n", green, reset, record::printable(r.name), r.duration_ms,
                 where);
      break;
    case record::Status::failed:
      for (const auto& v : r.verdicts) {
        if (v.passed) continue;
        fmt::print(out_, "{}:{}: Failure\n  {}\n    expected: {}\n    actual:   {}\n", record::printable(r.file),
                   v.pointer.empty() ? "/expect" : v.pointer, v.check, indent(v.expected, "              "),
                   indent(v.actual, "              "));
      }
      if (r.diagnosis) {
        const auto& d = *r.diagnosis;
        fmt::print(out_, "  diagnosis: {}{}\n", record::printable(d.summary),
                   d.location.empty() ? "" : " (in " + record::printable(d.location) + ")");
        if (d.harness_caused)
          fmt::print(out_,
                     "  harness-caused: the tracee crashed after bpfault injected into {}, and the scenario asked for "
                     "no crash\n",
                     d.injections);
        if (!d.stderr_tail.empty())
          fmt::print(out_, "  tracee stderr (last lines):\n    {}\n", indent(d.stderr_tail, "    "));
      } else if (!r.stderr_text.empty() && (r.signal || r.timed_out || (r.exit_code && *r.exit_code != 0))) {
        fmt::print(out_, "  tracee stderr (last lines):\n    {}\n",
                   indent(r.stderr_text.substr(r.stderr_text.size() > 2000 ? r.stderr_text.size() - 2000 : 0), "    "));
      }
      fmt::print(out_, "{}[  FAILED  ]{} {} ({:.0f} ms{})\n", red, reset, record::printable(r.name), r.duration_ms,
                 where);
      break;
    case record::Status::skipped:
      fmt::print(out_, "{}[  SKIPPED ]{} {}: {}\n", yellow, reset, record::printable(r.name),
                 record::printable(r.error ? r.error->what : "skipped"));
      if (r.error && !r.error->hint.empty()) fmt::print(out_, "  hint: {}\n", record::printable(r.error->hint));
      break;
    case record::Status::error:
      fmt::print(out_, "{}", r.error ? record::printable(r.error->format()) : "error\n");
      fmt::print(out_, "{}[  ERROR   ]{} {}\n", red, reset, record::printable(r.name));
      break;
  }
  std::fflush(out_);
}

void Console::suite_end(const std::vector<record::RunRecord>& records, double wall_ms, int interrupted_by) {
  Summary s = summarize(records, wall_ms);
  if (interrupted_by) {
    size_t finished = 0;
    for (const auto& r : records) finished += !r.interrupted;
    fmt::print(out_, "{}[INTERRUPTED]{} by {} after {} of {} scenario{}; the others did not finish\n",
               color_ ? "\033[31m" : "", color_ ? "\033[0m" : "", signal_name(interrupted_by), finished, records.size(),
               records.size() == 1 ? "" : "s");
  }
  fmt::print(out_, "[==========] {} scenario{} ran ({:.0f} ms total)\n", s.total(), s.total() == 1 ? "" : "s", wall_ms);
  fmt::print(out_, "[  PASSED  ] {}\n", s.passed);
  auto list = [&](record::Status st, const char* label, size_t n) {
    if (!n) return;
    fmt::print(out_, "[{}] {}, listed below:\n", label, n);
    for (const auto& r : records)
      if (r.status == st)
        fmt::print(out_, "[{}] {} ({})\n", label, record::printable(r.name), record::printable(r.file));
  };
  list(record::Status::skipped, "  SKIPPED ", s.skipped);
  list(record::Status::failed, "  FAILED  ", s.failed);
  list(record::Status::error, "  ERROR   ", s.errors);
  std::fflush(out_);
}

}  // namespace bpfault::report
