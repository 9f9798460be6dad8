// bpfault trace BINARY FUNC... [-- ARGS...] | bpfault trace -p PID FUNC...
// The seed article's tracing, done right for Go: one line per call with the arguments by
// name, results at every RET (--ret), Go stacks (--stack), a latency histogram (--hist).
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "binary/binary_info.h"
#include "cli/commands.h"
#include "process/interrupt.h"
#include "report/report.h"
#include "run/execute.h"
#include "scenario/scenario.h"

namespace {
namespace fs = std::filesystem;
using namespace bpfault;

struct TraceArgs {
  std::vector<std::string> positional;  // BINARY FUNC... (or FUNC... with -p)
  std::vector<std::string> args;        // after --
  pid_t pid = 0;
  bool ret = false, stack = false, hist = false, count = false;
};

std::string values(const nlohmann::json& v) {
  std::string out;
  for (auto it = v.begin(); it != v.end(); ++it) out += fmt::format("{}{}={}", out.empty() ? "" : ", ", it.key(), it.value().dump());
  return out;
}

// Everything of a function BPF can read: arguments (and results) not in XMM registers.
std::vector<std::string> readable(const binary::Function& f, bool results) {
  std::vector<std::string> out;
  for (const auto* list : {&f.params, &f.results}) {
    if (list == &f.results && !results) break;
    for (const auto& v : *list) {
      bool ok = !v.hidden && !v.pieces.empty();
      for (const auto& p : v.pieces) ok &= p.loc.kind == binary::Loc::Kind::reg || p.loc.kind == binary::Loc::Kind::stack;
      if (ok) out.push_back(v.name);
    }
  }
  return out;
}

int trace(const TraceArgs& a) {
  std::vector<std::string> funcs = a.positional;
  fs::path bin;
  if (a.pid) {
    std::error_code ec;
    bin = fs::read_symlink(fmt::format("/proc/{}/exe", a.pid), ec);
    if (ec) {
      fmt::print(stderr, "error: pid {}: cannot read its executable: {}\n  hint: is it running, and are you root?\n", a.pid, ec.message());
      return 2;
    }
  } else {
    if (funcs.size() < 2) {
      fmt::print(stderr, "error: bpfault trace needs a Go binary and at least one function: bpfault trace BINARY FUNC... [-- ARGS]\n");
      return 2;
    }
    bin = funcs.front();
    funcs.erase(funcs.begin());
  }
  if (funcs.empty()) {
    fmt::print(stderr, "error: name at least one function to trace (bpfault list {} shows them)\n", bin.string());
    return 2;
  }
  auto info = binary::analyse(bin);
  if (!info) {
    fmt::print(stderr, "{}", info.error().format());
    return 2;
  }
  scenario::Scenario s;
  s.file = "bpfault trace";
  s.name = "trace";
  s.target.binary = fs::absolute(bin);
  s.target.args = a.args;
  s.target.timeout = std::chrono::hours(24 * 365);  // until it exits or Ctrl-C
  for (size_t i = 0; i < funcs.size(); ++i) {
    scenario::Probe p;
    p.function = funcs[i];
    p.pointer = fmt::format(" argument {}", i + 1);
    if (const binary::Function* f = (*info)->find(funcs[i]); f && !a.count) p.record = readable(*f, a.ret);
    p.stack = a.stack;
    p.latency = a.hist;
    s.probes.push_back(std::move(p));
  }

  run::Options o;
  o.attach_pid = a.pid;
  o.inherit_output = true;
  o.on_hit = [&](const run::ProbeRecord& probe, const run::Hit& h) {
    if (a.count) return;
    std::string who = h.goid >= 0 ? fmt::format("goid={}", h.goid) : fmt::format("tid={}", h.tid);
    if (h.site == "call")
      fmt::print(stderr, "{}({}) {} call={}\n", probe.function, values(h.values), who, h.call);
    else if (a.ret)
      fmt::print(stderr, "{} returned {}{} {}\n", probe.function, values(h.values),
                 h.duration_ns ? fmt::format(" in {:.1f} µs", h.duration_ns / 1000.0) : "", who);
    if (h.stack.is_array())
      for (const auto& f : h.stack)
        fmt::print(stderr, "    {}{} {}:{}\n", f.value("function", "?"), f.value("offset", ""), f.value("file", ""), f.value("line", 0));
  };
  process::forward_first_interrupt(true);
  run::RunRecord r = run::execute(s, o);
  if (r.status == run::Status::error || r.status == run::Status::skipped) {
    fmt::print(stderr, "{}", r.error ? r.error->format() : "error\n");
    return r.status == run::Status::skipped ? 77 : 2;
  }
  fmt::print(stderr, "--- {}{}\n", a.pid ? fmt::format("pid {}", a.pid) : bin.string(),
             process::interrupted() ? " (interrupted)" : "");
  for (const auto& p : r.probes) {
    fmt::print(stderr, "{}: {} calls{}\n", p.function, p.calls, p.returns ? fmt::format(", {} returns", p.returns) : "");
    if (p.latency && p.latency->count)
      fmt::print(stderr, "@usecs[{}]: p50 {:.1f}, p90 {:.1f}, p99 {:.1f}, max {:.1f}\n{}", p.function, p.latency->p50_us, p.latency->p90_us,
                 p.latency->p99_us, p.latency->max_us, report::histogram(*p.latency));
  }
  if (r.drops) fmt::print(stderr, "warning: {} events lost (ring buffer full)\n", r.drops);
  if (a.pid) return 0;
  if (r.signal) return 128 + *r.signal;
  return r.exit_code.value_or(0);
}

bpfault::cli::Runner add_trace(CLI::App& app) {
  auto a = std::make_shared<TraceArgs>();
  auto* sub = app.add_subcommand("trace", "Trace Go functions: arguments by name, results, Go stacks, latency histograms");
  sub->add_option("binary_and_functions", a->positional, "BINARY FUNC... (with -p: FUNC...)")->required();
  sub->add_option("-p,--pid", a->pid, "Attach to a running process instead of starting BINARY");
  sub->add_flag("--ret", a->ret, "Also print the results, at every RET");
  sub->add_flag("--stack", a->stack, "Print the Go stack of every call");
  sub->add_flag("--hist", a->hist, "Time every call; print a latency histogram at the end");
  sub->add_flag("--count", a->count, "Print only the counts at the end");
  sub->footer("Arguments after -- go to the program. Ctrl-C stops the program (or, with -p, the tracing) and prints the summary.\n"
              "Trace lines go to stderr, the program's own output to stdout. Exit status: the program's.");
  sub->allow_extras();  // what follows -- belongs to the program
  sub->prefix_command(false);
  return [a, sub] {
    std::vector<std::string> extra = sub->remaining();
    if (!extra.empty() && extra.front() == "--") extra.erase(extra.begin());
    a->args = extra;
    return trace(*a);
  };
}

bpfault::cli::CommandRegistration reg(15, add_trace);

}  // namespace
