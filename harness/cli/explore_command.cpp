// bpfault explore SCENARIO: make each error site of a passing scenario fail once, and report
// how the program took it (harness/explore; README, "Exploring error paths").
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "explore/explore.h"
#include "process/interrupt.h"

namespace {

struct ExploreArgs {
  std::string scenario, functions, packages, budget, out, json, html, vm = "auto", go, fixtures, kernel, vm_accel;
  size_t max_runs = 100;
  bool all_calls = false;
  int jobs = 1;
  bool verbose = false;
};

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos <= list.size();) {
    size_t comma = std::min(list.find(',', pos), list.size());
    if (comma > pos) out.push_back(list.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

void print_table(const bpfault::explore::Report& r) {
  using bpfault::explore::Class;
  size_t width = 4;
  for (const auto& f : r.findings) width = std::max(width, f.site.label().size());
  width = std::min<size_t>(width, 70);
  fmt::print("\n{:<{}}  {:<14}  {}\n", "site", width, "class", "evidence");
  for (const auto& f : r.findings)
    fmt::print("{:<{}}  {:<14}  {}\n", f.site.label(), width, bpfault::explore::class_name(f.cls), f.evidence);
  fmt::print("\n{} error sites seen, {} tried, {} injected: error-path coverage {}/{} = {:.0f} %{}\n", r.sites_seen,
             r.sites_run, r.injected, r.injected, r.sites_seen,
             r.sites_seen ? 100.0 * static_cast<double>(r.injected) / static_cast<double>(r.sites_seen) : 0.0,
             r.duplicates ? fmt::format(" ({} calls with a site's calling stack pruned)", r.duplicates) : "");
  fmt::print("findings: {} crashed, {} hung, {} swallowed; {} handled; {} not injectable; {} not run\n",
             r.count(Class::crashed), r.count(Class::hung), r.count(Class::swallowed), r.count(Class::handled),
             r.count(Class::not_injectable), r.count(Class::not_run));
  for (const auto& f : r.findings)
    if (!f.reproducer.empty()) fmt::print("  reproducer: {}\n", f.reproducer);
  for (const auto& n : r.notes) fmt::print("note: {}\n", n);
}

bpfault::Result<bpfault::cli::Outcome> explore(const ExploreArgs& a) {
  using namespace bpfault;
  using Kind = cli::Outcome::Kind;
  explore::Options o;
  o.scenario = a.scenario;
  if (!a.functions.empty()) o.functions = split(a.functions);
  if (!a.packages.empty()) o.packages = split(a.packages);
  if (a.max_runs < 1)
    return fail(ErrorKind::bad_input, fmt::format("--max-runs {}", a.max_runs), "expected a positive number of runs");
  o.max_runs = a.max_runs;
  o.all_calls = a.all_calls;
  if (!a.budget.empty()) {
    auto d = cli::parse_duration(a.budget);
    if (!d)
      return fail(ErrorKind::bad_input, "--budget " + a.budget, "expected a Go duration",
                  "a number and a unit: 90s, 5m, 1h30m");
    o.budget = std::chrono::ceil<std::chrono::milliseconds>(*d);
    o.budget_text = a.budget;
  }
  o.out = a.out;
  o.suite.run.fixtures_dir = a.fixtures;
  o.suite.run.go = a.go;
  o.suite.vm = a.vm == "always" ? run::VmMode::always : a.vm == "never" ? run::VmMode::never : run::VmMode::auto_;
  o.suite.kernel = a.kernel;
  o.suite.verbose = a.verbose;
  o.suite.jobs = a.jobs;
  if (!a.vm_accel.empty()) {
    auto accel = vm::parse_accel_mode(a.vm_accel);
    if (!accel) return tl::unexpected(accel.error());
    o.suite.vm_accel = *accel;
  }
  process::on_interrupt(process::OnInterrupt::stop);
  FILE* console = a.json == "-" ? stderr : stdout;
  auto report = explore::explore(o, [&](const std::string& line) {
    fmt::print(console, "{}\n", line);
    std::fflush(console);
  });
  if (!report) return tl::unexpected(report.error());
  if (report->interrupted_by) return cli::Outcome{Kind::interrupted, report->interrupted_by};
  if (report->vm_failed) {
    for (const auto& n : report->notes) fmt::print(stderr, "note: {}\n", n);
    return cli::Outcome{Kind::vm_broke};
  }
  if (console == stdout)
    print_table(*report);
  else {
    // the table goes with the progress, to stderr
    fmt::print(stderr, "{} sites, {} injected\n", report->sites_seen, report->injected);
  }
  const std::string text = explore::to_json(*report).dump(2) + "\n";
  if (a.json == "-")
    fmt::print("{}", text);
  else if (!a.json.empty()) {
    std::ofstream out(a.json);
    out << text;
    if (!out.good()) return fail(ErrorKind::environment, a.json, "cannot write the JSON report");
  }
  if (!a.html.empty()) {
    std::ofstream out(a.html);
    out << explore::html_page(*report);
    if (!out.good()) return fail(ErrorKind::environment, a.html, "cannot write the HTML page");
  }
  if (report->all_skipped) return cli::Outcome{Kind::skipped};
  using explore::Class;
  const bool findings = report->count(Class::crashed) + report->count(Class::hung) + report->count(Class::swallowed);
  return cli::Outcome{findings ? Kind::failed : Kind::ok};
}

bpfault::cli::Runner add_explore(CLI::App& app) {
  auto a = std::make_shared<ExploreArgs>();
  auto* sub = app.add_subcommand(
      "explore", "Make each error site of a passing scenario return an error once, and report how the program took it");
  sub->add_option("scenario", a->scenario, "A scenario that passes (its probes may be empty)")->required();
  sub->add_option("--functions", a->functions,
                  "Comma-separated globs of the functions to explore (default: those of package main and of the "
                  "main module whose last result is an error)");
  sub->add_option("--packages", a->packages,
                  "Comma-separated import paths whose functions returning an error to explore");
  sub->add_option("--max-runs", a->max_runs, "At most N injecting runs (default 100); the cap is reported");
  sub->add_flag("--all-calls", a->all_calls,
                "Also inject the calls whose calling stack equals an earlier call's (by default pruned: one site)");
  sub->add_option("--budget", a->budget,
                  "Start no site's run once this Go duration (90s, 5m) has passed since explore started (the baseline "
                  "and the VM's boot count); the sites left are listed as not run");
  sub->add_option("--out", a->out, "Write a scenario reproducing each crashed, hung or swallowed finding into DIR");
  sub->add_option("--json", a->json, "Write the report as JSON to FILE; - : to stdout");
  sub->add_option("--html", a->html,
                  "Write one HTML page to FILE: the sites' table, each site's stack and its output against the "
                  "control run's");
  sub->add_option("--vm", a->vm,
                  "The injecting runs: auto (in a VM when this kernel refuses the writes), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  sub->add_option("--vm-accel", a->vm_accel, "The VM's accelerator: auto, kvm, tcg");
  sub->add_option("--kernel", a->kernel, "The VM's kernel (as bpfault run --kernel)");
  sub->add_option("--go", a->go, "Go toolchain for a fixture target: 1.NN, newest, default");
  sub->add_option("--fixtures", a->fixtures, "Folder of fixtures (default: the fixtures/ folder above the scenario)");
  sub->add_option("-j,--jobs", a->jobs,
                  "Runs at once (natively, and inside the VM: its guest runs them side by side too)")
      ->check(CLI::Range(1, 64));
  sub->add_flag("-v,--verbose", a->verbose, "Echo the VM's console");
  sub->footer(
      "Exit status: 0 explored, no finding; 1 a crashed, hung or swallowed finding; 2 bad input, or the scenario does "
      "not pass;\n77 the injections cannot run here (a kernel capability is missing, --vm=never); 125 the VM failed.");
  return [a] { return explore(*a); };
}

bpfault::cli::CommandRegistration reg(16, add_explore);

}  // namespace
