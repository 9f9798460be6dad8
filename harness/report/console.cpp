#include <unistd.h>

#include <fmt/format.h>

#include "report/report.h"

namespace bpfault::report {
namespace {

// Indents every line of a block (multi-line stdout under "actual:").
std::string indent(const std::string& text, const std::string& pad) {
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

Console::Console(std::FILE* out, bool verbose) : out_(out), verbose_(verbose), color_(isatty(fileno(out))) {}

void Console::suite_start(size_t scenarios, const std::string& where) {
  fmt::print(out_, "[==========] Running {} scenario{} ({})\n", scenarios, scenarios == 1 ? "" : "s", where);
  std::fflush(out_);
}

void Console::scenario_start(const std::string& name) {
  fmt::print(out_, "[ RUN      ] {}\n", name);
  open_ = name;
  std::fflush(out_);
}

void Console::note(const std::string& line) {
  fmt::print(out_, "{}{}{}\n", color_ ? "\033[2m" : "", line, color_ ? "\033[0m" : "");
  std::fflush(out_);
}

void Console::scenario_end(const run::RunRecord& r) {
  if (open_ != r.name) scenario_start(r.name);
  open_.clear();
  const char* green = color_ ? "\033[32m" : "";
  const char* red = color_ ? "\033[31m" : "";
  const char* yellow = color_ ? "\033[33m" : "";
  const char* reset = color_ ? "\033[0m" : "";
  std::string where = r.where == "vm" ? fmt::format(", vm {}", r.kernel) : "";
  for (const auto& p : r.probes)
    if (p.latency && p.latency->count)
      fmt::print(out_, "  {} latency, µs: {} calls, p50 {:.1f}, p90 {:.1f}, p99 {:.1f}, max {:.1f}\n{}", p.function, p.latency->count,
                 p.latency->p50_us, p.latency->p90_us, p.latency->p99_us, p.latency->max_us, histogram(*p.latency, "  "));
  switch (r.status) {
    case run::Status::passed:
      if (verbose_)
        for (const auto& v : r.verdicts) fmt::print(out_, "  ok: {} {}\n", v.check, v.expected);
      fmt::print(out_, "{}[       OK ]{} {} ({:.0f} ms{})\n", green, reset, r.name, r.duration_ms, where);
      break;
    case run::Status::failed:
      for (const auto& v : r.verdicts) {
        if (v.passed) continue;
        fmt::print(out_, "{}:{}: Failure\n  {}\n    expected: {}\n    actual:   {}\n", r.file, v.pointer.empty() ? "/expect" : v.pointer,
                   v.check, indent(v.expected, "              "), indent(v.actual, "              "));
      }
      if (r.diagnosis) {
        const auto& d = *r.diagnosis;
        fmt::print(out_, "  diagnosis: {}{}\n", d.summary, d.location.empty() ? "" : " (in " + d.location + ")");
        if (d.harness_caused)
          fmt::print(out_, "  harness-caused: the tracee crashed after bpfault injected into {}, and the scenario asked for no crash\n",
                     d.injections);
        if (!d.stderr_tail.empty()) fmt::print(out_, "  tracee stderr (last lines):\n    {}\n", indent(d.stderr_tail, "    "));
      } else if (!r.stderr_text.empty() && (r.signal || r.timed_out || (r.exit_code && *r.exit_code != 0))) {
        fmt::print(out_, "  tracee stderr (last lines):\n    {}\n", indent(r.stderr_text.substr(r.stderr_text.size() > 2000 ? r.stderr_text.size() - 2000 : 0), "    "));
      }
      if (r.goid_misses)
        fmt::print(out_, "  note: {} probe hits could not read their goroutine (g behind R14); goroutine conditions and latency pairing skipped them\n",
                   r.goid_misses);
      fmt::print(out_, "{}[  FAILED  ]{} {} ({:.0f} ms{})\n", red, reset, r.name, r.duration_ms, where);
      break;
    case run::Status::skipped:
      fmt::print(out_, "{}[  SKIPPED ]{} {}: {}\n", yellow, reset, r.name, r.error ? r.error->what : "skipped");
      if (r.error && !r.error->hint.empty()) fmt::print(out_, "  hint: {}\n", r.error->hint);
      break;
    case run::Status::error:
      fmt::print(out_, "{}", r.error ? r.error->format() : "error\n");
      fmt::print(out_, "{}[  ERROR   ]{} {}\n", red, reset, r.name);
      break;
  }
  std::fflush(out_);
}

void Console::suite_end(const std::vector<run::RunRecord>& records, double wall_ms) {
  Summary s = summarize(records, wall_ms);
  fmt::print(out_, "[==========] {} scenario{} ran ({:.0f} ms total)\n", s.total(), s.total() == 1 ? "" : "s", wall_ms);
  fmt::print(out_, "[  PASSED  ] {}\n", s.passed);
  auto list = [&](run::Status st, const char* label, size_t n) {
    if (!n) return;
    fmt::print(out_, "[{}] {}, listed below:\n", label, n);
    for (const auto& r : records)
      if (r.status == st) fmt::print(out_, "[{}] {} ({})\n", label, r.name, r.file);
  };
  list(run::Status::skipped, "  SKIPPED ", s.skipped);
  list(run::Status::failed, "  FAILED  ", s.failed);
  list(run::Status::error, "  ERROR   ", s.errors);
  std::fflush(out_);
}

}  // namespace bpfault::report
