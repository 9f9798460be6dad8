// Diagnosis of a tracee that ended badly: what Go printed (panic, fatal error, a signal dump),
// where (the failing goroutine's first frame), and whether an injection is the likely cause.
#include <fmt/format.h>

#include "check/check.h"

namespace bpfault::check {
namespace {

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

// The last lines of a text, at most 20 and about 3000 bytes.
std::string tail(const std::string& text) {
  auto lines = lines_of(text);
  // A signal dump ends with the registers ("rax    0x0" ... "gs     0x0"): not what anyone reads first.
  auto is_register = [](std::string_view l) {
    size_t sp = l.find(' ');
    return sp != std::string_view::npos && sp >= 2 && sp <= 6 &&
           l.substr(l.find_first_not_of(' ', sp)).starts_with("0x");
  };
  while (!lines.empty() && (lines.back().empty() || is_register(lines.back()))) lines.pop_back();
  size_t from = lines.size() > 20 ? lines.size() - 20 : 0, bytes = 0;
  for (size_t i = lines.size(); i > from; --i)
    if ((bytes += lines[i - 1].size() + 1) > 3000) {
      from = i;
      break;
    }
  std::string out = from > 0 ? "[...]\n" : "";
  for (size_t i = from; i < lines.size(); ++i) out += fmt::format("{}\n", lines[i]);
  return out;
}

// "main.use at /src/main.go:25": where the program was, from the goroutines Go printed: the
// first frame of the program's own code (main, or a module path with a dot), else the first
// frame that is not the runtime's own machinery (panicking, signal handling).
std::string first_frame(const std::vector<std::string_view>& lines) {
  auto is_user = [](std::string_view call) {
    std::string_view first = call.substr(0, call.find_first_of("./"));
    return call.starts_with("main.") ||
           (call.find('/') != std::string_view::npos && first.find('.') == std::string_view::npos &&
            call.substr(0, call.find('/')).find('.') != std::string_view::npos);
  };
  std::string fallback;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!(lines[i].starts_with("goroutine ") && lines[i].ends_with(":"))) continue;
    for (++i; i + 1 < lines.size() && !lines[i].empty(); i += 2) {
      std::string_view call = lines[i], at = lines[i + 1];
      if (call.starts_with("runtime.") || call.starts_with("panic(") || call.starts_with("created by ")) continue;
      if (auto open = call.rfind('('); open != std::string_view::npos && open > 0) call = call.substr(0, open);
      while (!at.empty() && (at.front() == '\t' || at.front() == ' ')) at.remove_prefix(1);
      if (auto plus = at.rfind(" +0x"); plus != std::string_view::npos) at = at.substr(0, plus);
      std::string frame = fmt::format("{} at {}", call, at);
      if (is_user(call)) return frame;
      if (fallback.empty()) fallback = frame;
    }
  }
  return fallback;
}

}  // namespace

void diagnose(const scenario::Scenario& s, record::RunRecord& r) {
  record::Diagnosis d;
  const auto lines = lines_of(r.stderr_text);
  auto first_line = [&](std::string_view prefix) -> std::string {
    for (auto l : lines)
      if (l.starts_with(prefix)) return std::string(l);
    return "";
  };
  // Go exits 2 after a panic, a fatal error or a signal it turns into a dump ("SIGSEGV: ...").
  const bool go_died = r.exit_code == 2 && !r.timed_out;
  if (r.timed_out) {
    d.kind = "timeout";
    d.summary = fmt::format("timed out after {:.0f} ms and was killed", r.tracee_ms);
    if (!first_line("SIGQUIT: quit").empty()) d.summary += "; SIGQUIT first got its goroutines dumped to stderr";
  } else if (std::string l = first_line("panic: "); go_died && !l.empty()) {
    d.kind = "go_panic", d.summary = l;
  } else if (std::string f = first_line("fatal error: "); go_died && !f.empty()) {
    d.kind = "go_fatal_error", d.summary = f;
  } else if (go_died && !lines.empty()) {
    for (auto l : lines)
      if (l.starts_with("SIG") && l.find(": ") != std::string_view::npos && l.find(' ') > l.find(':')) {
        d.kind = "go_signal",
        d.summary = fmt::format("the Go runtime got {} and dumped its goroutines", l.substr(0, l.find(':')));
        break;
      }
  } else if (r.signal) {
    d.kind = "signal", d.summary = "killed by " + scenario::signal_name(*r.signal);
  }
  if (d.kind.empty()) return;
  d.location = first_frame(lines);
  d.stderr_tail = tail(r.stderr_text);

  if (d.kind != "timeout") {
    std::vector<std::string> injected;
    for (const auto& p : r.probes) {
      if (!p.injected) continue;
      uint64_t first = 0;
      for (const auto& h : p.hits)
        if (h.injection) {
          first = h.call;
          break;
        }
      injected.push_back(fmt::format("{} ({} injection{}{})", p.function, p.injected, p.injected == 1 ? "" : "s",
                                     first ? fmt::format(", first at call {}", first) : ""));
    }
    bool asked = s.expect.signal.has_value() || (s.expect.exit_code && r.exit_code == s.expect.exit_code);
    for (const auto& p : s.probes)
      for (const auto& st : p.steps)
        asked |= st.action == scenario::Step::Action::signal || st.action == scenario::Step::Action::panic;
    if (!injected.empty() && !asked) {
      d.harness_caused = true;
      d.injections = fmt::format("{}", fmt::join(injected, ", "));
    }
  }
  r.diagnosis = std::move(d);
}

}  // namespace bpfault::check
