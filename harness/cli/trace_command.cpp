// bpfault trace BINARY FUNC... [--runs N] [-- ARGS...] | bpfault trace -p PID FUNC...
// The seed article's tracing, done right for Go: one line per call with the arguments by
// name, results at every RET (--ret), Go stacks (--stack), a latency histogram (--hist);
// --runs N runs the program N times and sums the counts and histograms over all of them.
// Lines come in the order the events happened, across threads (run/time_order.h): a line
// waits until the probes' ring has been drained 20 ms after its event, and a RET's line comes
// after its call's.
#include <unistd.h>

#include <filesystem>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "binary/binary_info.h"
#include "cli/commands.h"
#include "process/interrupt.h"
#include "report/report.h"
#include "run/execute.h"
#include "run/stdlib_signatures.h"
#include "run/time_order.h"
#include "scenario/scenario.h"

namespace {
namespace fs = std::filesystem;
using namespace bpfault;

struct TraceArgs {
  std::vector<std::string> positional;  // BINARY FUNC... (or FUNC... with -p)
  std::vector<std::string> args;        // after --
  pid_t pid = 0;
  int runs = 1;
  bool ret = false, stack = false, hist = false, count = false, time = false;
};

std::string values(const nlohmann::json& v) {
  std::string out;
  for (auto it = v.begin(); it != v.end(); ++it)
    out += fmt::format("{}{}={}", out.empty() ? "" : ", ", it.key(), record::printable_value(it.value()));
  return out;
}

Result<cli::Outcome> trace(const TraceArgs& a) {
  std::vector<std::string> funcs = a.positional;
  fs::path bin;
  if (a.pid) {
    std::error_code ec;
    bin = fs::read_symlink(fmt::format("/proc/{}/exe", a.pid), ec);
    if (ec) {
      return fail(ErrorKind::bad_input, "", fmt::format("pid {}: cannot read its executable: {}", a.pid, ec.message()),
                  "is it running, and are you root?");
    }
  } else {
    if (funcs.size() < 2) {
      return fail(ErrorKind::bad_input, "",
                  "bpfault trace needs a Go binary and at least one function: bpfault trace BINARY FUNC... [-- ARGS]");
    }
    bin = funcs.front();
    funcs.erase(funcs.begin());
  }
  if (funcs.empty()) {
    return fail(ErrorKind::bad_input, "",
                fmt::format("name at least one function to trace (bpfault list {} shows them)", bin.string()));
  }
  if (a.runs < 1)
    return fail(ErrorKind::bad_input, fmt::format("--runs {}", a.runs), "expected a positive number of runs");
  if (a.pid && a.runs > 1)
    return fail(ErrorKind::bad_input, "--runs",
                "-p traces a process that is already running: there is nothing to run again", "--runs N with BINARY");
  // a running process's executable is /proc/PID/exe: the file it runs, even if its name was replaced since
  // only the traced functions analysed in full (the run's own analysis asks the same, and main.main)
  std::vector<std::string> focus = funcs;
  focus.push_back("main.main");
  auto info = binary::analyse(a.pid ? fs::path(fmt::format("/proc/{}/exe", a.pid)) : bin, binary::Detail::full, focus);
  if (!info) return tl::unexpected(info.error());
  if (!(*info)->has_dwarf && !a.count) {
    // stripped: the standard library's arguments are named by the same toolchain's DWARF
    // (the run below gets the same signatures when it plans the recording)
    target::Options to;
    to.progress = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    *info = run::add_stdlib_signatures(*info, to).info;
  }
  scenario::Scenario s;
  s.file = "bpfault trace";
  s.name = "trace";
  if (a.pid)
    s.target.pid = a.pid;  // attached to, as `bpfault run --pid` does: until it exits or Ctrl-C
  else
    s.target.binary = fs::absolute(bin);
  s.target.args = a.args;
  s.target.timeout = std::chrono::hours(24 * 365);  // until it exits or Ctrl-C
  for (size_t i = 0; i < funcs.size(); ++i) {
    scenario::Probe p;
    p.function = funcs[i];
    p.pointer = fmt::format(" argument {}", i + 1);
    if (const binary::Function* f = (*info)->find(funcs[i]); f && !a.count) {
      p.record = bpfault::cli::readable_values(*f, a.ret);
      if (a.ret && !f->no_ret.empty())  // traced at its call; --ret has nothing to show, and says so
        fmt::print(stderr, "{} has no RET: {}; --ret prints no results for it\n", f->name, f->no_ret);
    }
    p.stack = a.stack;
    p.latency = a.hist;
    s.probes.push_back(std::move(p));
  }

  // Over every run: each function's calls per run, and every timed call's duration.
  std::vector<std::string> names;                     // as the record names the functions
  std::vector<std::vector<uint64_t>> calls, returns;  // [function][run]
  std::map<std::string, record::Durations> durations;
  run::Options o;
  o.inherit_output = true;
  uint64_t first_ns = 0, last_ns = 0;  // this run's first event, the latest one printed
  uint64_t late = 0;                   // events printed after a later one
  o.on_hit = [&](const record::ProbeRecord& probe, const record::Hit& h) {
    if (h.duration_ns) durations[probe.function].add(h.duration_ns);
    if (a.count) return;
    if (h.site != "call" && !a.ret) return;
    if (!first_ns) first_ns = h.time_ns;
    if (h.time_ns < last_ns) ++late;
    last_ns = std::max(last_ns, h.time_ns);
    const std::string when =
        a.time ? fmt::format("{:.6f} ", h.time_ns >= first_ns ? (h.time_ns - first_ns) / 1e9 : 0.0) : "";
    std::string who = h.goid >= 0 ? fmt::format("goid={}", h.goid) : fmt::format("tid={}", h.tid);
    if (h.site == "call")
      fmt::print(stderr, "{}{}({}) {} call={}\n", when, probe.function, values(h.values), who, h.call);
    else {  // a timed call's RET knows its call (paired by goroutine and depth); others do not
      const std::string results = values(h.values);
      fmt::print(stderr, "{}{} returned{}{} {}{}\n", when, probe.function, results.empty() ? "" : " " + results,
                 h.duration_ns ? fmt::format(" in {:.1f} µs", h.duration_ns / 1000.0) : "", who,
                 h.duration_ns ? fmt::format(" call={}", h.call) : "");
    }
    if (h.stack.is_array())
      for (const auto& f : h.stack) {
        if (f.contains("cut")) {
          fmt::print(stderr, "    ... cut: {}\n", f.value("cut", ""));
          continue;
        }
        fmt::print(stderr, "    {}{} {}:{}{}\n", f.value("function", "?"), f.value("offset", ""), f.value("file", ""),
                   f.value("line", 0), f.value("inlined", false) ? " (inlined)" : "");
      }
  };
  process::on_interrupt(process::OnInterrupt::forward);
  std::optional<int> status;  // the first run's that did not exit 0, else 0
  uint64_t drops = 0;
  int ran = 0;
  for (; ran < a.runs && !process::interrupted(); ++ran) {
    if (a.runs > 1) fmt::print(stderr, "--- run {} of {}\n", ran + 1, a.runs);
    first_ns = last_ns = 0;
    record::RunRecord r = run::execute(s, o);
    if (r.status == record::Status::error || r.status == record::Status::skipped)
      return tl::unexpected(
          r.error.value_or(Error{ErrorKind::internal, "", "the trace stopped without saying why", "", {}}));
    if (names.empty()) {
      for (const auto& p : r.probes) names.push_back(p.function);
      calls.resize(names.size()), returns.resize(names.size());
    }
    for (size_t i = 0; i < r.probes.size() && i < names.size(); ++i)
      calls[i].push_back(r.probes[i].calls), returns[i].push_back(r.probes[i].returns);
    drops += r.drops;
    const int exit = r.signal ? 128 + *r.signal : r.exit_code.value_or(0);
    if (!status || (*status == 0 && exit != 0)) status = exit;
  }
  fmt::print(stderr, "--- {}{}{}\n", a.pid ? fmt::format("pid {}", a.pid) : bin.string(),
             a.runs > 1 ? fmt::format(" ({} run{})", ran, ran == 1 ? "" : "s") : "",
             process::interrupted() ? " (interrupted)" : "");
  for (size_t i = 0; i < names.size(); ++i) {
    const uint64_t total = std::accumulate(calls[i].begin(), calls[i].end(), uint64_t{0});
    const uint64_t rets = std::accumulate(returns[i].begin(), returns[i].end(), uint64_t{0});
    fmt::print(stderr, "{}: {} calls{}{}\n", names[i], total, rets ? fmt::format(", {} returns", rets) : "",
               calls[i].size() > 1 ? fmt::format(" ({} in {} runs)", fmt::join(calls[i], ", "), calls[i].size()) : "");
    auto d = durations.find(names[i]);
    if (d == durations.end()) continue;
    const record::Latency l = d->second.latency();
    if (l.count)
      fmt::print(stderr, "@usecs[{}]: {} calls timed, p50 {:.1f}, p90 {:.1f}, p99 {:.1f}, max {:.1f}\n{}", names[i],
                 l.count, l.p50_us, l.p90_us, l.p99_us, l.max_us, report::histogram(l));
  }
  if (drops) fmt::print(stderr, "warning: {} events lost (ring buffer full)\n", drops);
  if (late)
    fmt::print(stderr,
               "warning: {} events printed out of time order: they reached bpfault more than {} ms after they "
               "happened (a probe preempted?)\n",
               late, run::kTimeOrderWindowNs / 1'000'000);
  if (a.pid) return cli::Outcome{};
  return cli::Outcome{cli::Outcome::Kind::program, status.value_or(0)};
}

bpfault::cli::Runner add_trace(CLI::App& app) {
  auto a = std::make_shared<TraceArgs>();
  auto* sub =
      app.add_subcommand("trace", "Trace Go functions: arguments by name, results, Go stacks, latency histograms");
  sub->add_option("binary_and_functions", a->positional, "BINARY FUNC... (with -p: FUNC...)")->required();
  sub->add_option("-p,--pid", a->pid, "Attach to a running process instead of starting BINARY");
  sub->add_flag("--ret", a->ret, "Also print the results, at every RET");
  sub->add_flag("--stack", a->stack, "Print the Go stack of every call");
  sub->add_flag("--hist", a->hist, "Time every call; print a latency histogram at the end");
  sub->add_flag("--count", a->count, "Print only the counts at the end");
  sub->add_flag("--time", a->time, "Begin every line with the seconds since the run's first event (µs precision)");
  sub->add_option("--runs", a->runs,
                  "Run the program N times; the counts and histograms at the end are over every run");
  sub->footer(
      "Arguments after -- go to the program. Ctrl-C stops the program (or, with -p, the tracing) and prints the "
      "summary.\n"
      "Trace lines go to stderr, the program's own output to stdout. Exit status: the program's (with --runs: the "
      "first\n"
      "run's that did not exit 0).");
  bpfault::cli::starts_a_program(sub);  // what follows -- belongs to the program
  return [a] {
    a->args = bpfault::cli::program_args();
    return trace(*a);
  };
}

bpfault::cli::CommandRegistration reg(15, add_trace);

}  // namespace
