// bpfault run SCENARIO_OR_DIR... : run scenarios, report, exit 0/1/2/77 (124/125: the VM broke).
#include <chrono>

#include <fmt/format.h>

#include "cli/commands.h"
#include "report/report.h"
#include "run/suite.h"
#include "process/go_toolchain.h"
#include "scenario/scenario.h"

namespace {

struct RunArgs {
  std::vector<std::string> scenarios;
  std::string json, junit, fixtures, go, kernel, variants, user;
  std::string vm = "auto";
  int jobs = 1;
  bool verbose = false;
  // for the guest side of a VM run
  bool stream = false;
  std::vector<std::string> prebuilt;
  double timeout_scale = 1;
};

int run(const RunArgs& a) {
  using namespace bpfault;
  const auto start = std::chrono::steady_clock::now();
  auto files = scenario::expand(a.scenarios);
  if (!files) {
    fmt::print(stderr, "{}", files.error().format());
    return 2;
  }
  run::SuiteOptions opts;
  opts.run.fixtures_dir = a.fixtures;
  opts.run.user = a.user;
  if (a.go == "all") {
    for (const auto& t : process::find_toolchains()) opts.go_each.push_back(t.release);
    if (opts.go_each.empty()) {
      fmt::print(stderr, "error: --go all: no Go toolchain is installed\n  hint: ci/setup installs Go 1.19; ci/go-toolchain VERSION adds others\n");
      return 2;
    }
  } else if (a.go.find(',') != std::string::npos) {
    for (size_t pos = 0; pos <= a.go.size();) {
      size_t comma = std::min(a.go.find(',', pos), a.go.size());
      if (comma > pos) opts.go_each.push_back(a.go.substr(pos, comma - pos));
      pos = comma + 1;
    }
  } else {
    opts.run.go = a.go;
  }
  opts.variants = a.variants;
  opts.run.timeout_scale = a.timeout_scale;
  for (const auto& p : a.prebuilt) {
    auto eq = p.find('=');
    if (eq == std::string::npos) {
      fmt::print(stderr, "error: --prebuilt expects KEY=PATH, got {}\n", p);
      return 2;
    }
    opts.run.prebuilt[p.substr(0, eq)] = p.substr(eq + 1);
  }
  opts.jobs = a.jobs;
  opts.vm = a.vm == "always" ? run::VmMode::always : a.vm == "never" ? run::VmMode::never : run::VmMode::auto_;
  opts.kernel = a.kernel;
  opts.verbose = a.verbose;

  if (a.stream) {  // inside the VM: one JSON record per line, for the host to report
    auto result = run::run_suite(*files, opts, [](const run::RunRecord& r) { fmt::print("{}\n", run::to_json(r).dump()); std::fflush(stdout); },
                                 [](const std::string&) {});
    return report::exit_code(result.records);
  }
  report::Console console(stdout, a.verbose);
  opts.run.progress = [&](const std::string& line) { console.note(line); };
  console.suite_start(files->size(), a.vm == "always" ? "in a VM" : a.vm == "never" ? "native" : "native, or in a VM where this kernel lacks a capability");
  auto result = run::run_suite(*files, opts, [&](const run::RunRecord& r) { console.scenario_end(r); },
                               [&](const std::string& line) { console.note(line); });
  double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  console.suite_end(result.records, wall_ms);
  int rc = result.vm_exit ? result.vm_exit : report::exit_code(result.records);
  for (auto [file, write] : {std::pair{a.json, &report::write_json}, std::pair{a.junit, &report::write_junit}}) {
    if (file.empty()) continue;
    if (auto w = write(file, result.records, wall_ms); !w) {
      fmt::print(stderr, "{}", w.error().format());
      rc = rc ? rc : 2;
    }
  }
  return rc;
}

bpfault::cli::Runner add_run(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* sub = app.add_subcommand("run", "Run scenarios (files, or folders of *.json) and check what happens");
  sub->add_option("scenarios", a->scenarios, "Scenario files or folders")->required();
  sub->add_option("--json", a->json, "Write the run record (every scenario, event and verdict) as JSON");
  sub->add_option("--junit", a->junit, "Write JUnit XML for CI");
  sub->add_option("-j,--jobs", a->jobs, "Native scenarios run at once")->check(CLI::Range(1, 64));
  sub->add_option("--vm", a->vm,
                  "auto: in a VM only what this kernel cannot do; always: everything in a VM; never: skip (77) what this kernel cannot do")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  sub->add_option("--kernel", a->kernel, "The VM's kernel: a name from ci/kernels (trixie-backports, sid, bookworm) or a release prefix (7.3, 6.1)");
  sub->add_option("--fixtures", a->fixtures, "Folder of fixtures (default: the fixtures/ folder above each scenario)");
  sub->add_option("--go", a->go,
                  "Go toolchain for every fixture: 1.NN, newest, default (overrides the scenarios); all, or 1.19,1.27: each scenario once per toolchain");
  sub->add_option("--variants", a->variants,
                  "Builds to run each fixture scenario with, among those it declares: all, or a list such as 386,amd64-stripped (default: its first)");
  sub->add_option("--user", a->user, "Run every tracee as this user (a name such as nobody, or uid:gid); bpfault keeps its privileges for the probes");
  sub->add_flag("-v,--verbose", a->verbose, "Show every check, also the passing ones; echo the VM's console");
  sub->add_flag("--stream", a->stream, "Print one JSON record per scenario instead of the console report (the VM's guest side)")->group("");
  sub->add_option("--prebuilt", a->prebuilt, "KEY=PATH: a fixture already built (the VM's guest side)")->group("");
  sub->add_option("--timeout-scale", a->timeout_scale, "Multiply every scenario's timeout (the VM's guest side)")->group("");
  sub->footer(
      "Exit status: 0 all passed, 1 a scenario failed, 2 bad input or usage, 77 all skipped (a kernel capability is missing),\n"
      "124 the VM timed out, 125 the VM failed to boot or died.");
  return [a] { return run(*a); };
}

bpfault::cli::CommandRegistration reg(10, add_run);

}  // namespace
