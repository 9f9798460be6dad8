// bpfault run SCENARIO_OR_DIR... : run scenarios, report, exit 0/1/2/77.
#include <chrono>

#include <fmt/format.h>

#include "cli/commands.h"
#include "report/report.h"
#include "run/suite.h"
#include "scenario/scenario.h"

namespace {

struct RunArgs {
  std::vector<std::string> scenarios;
  std::string json, junit, fixtures, go;
  int jobs = 1;
  bool verbose = false;
};

int run(const RunArgs& a) {
  using namespace bpfault;
  const auto start = std::chrono::steady_clock::now();
  auto files = scenario::expand(a.scenarios);
  if (!files) {
    fmt::print(stderr, "{}", files.error().format());
    return 2;
  }
  report::Console console(stdout, a.verbose);
  run::Options opts;
  opts.fixtures_dir = a.fixtures;
  opts.go = a.go;
  opts.progress = [&](const std::string& line) { console.note(line); };
  console.suite_start(files->size(), "native");
  auto records = run::run_suite(*files, opts, a.jobs, [&](const run::RunRecord& r) { console.scenario_end(r); });
  double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  console.suite_end(records, wall_ms);
  int rc = report::exit_code(records);
  for (auto [file, write] : {std::pair{a.json, &report::write_json}, std::pair{a.junit, &report::write_junit}}) {
    if (file.empty()) continue;
    if (auto w = write(file, records, wall_ms); !w) {
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
  sub->add_option("-j,--jobs", a->jobs, "Scenarios run at once")->check(CLI::Range(1, 64));
  sub->add_option("--fixtures", a->fixtures, "Folder of fixtures (default: the fixtures/ folder above each scenario)");
  sub->add_option("--go", a->go, "Go toolchain for every fixture: 1.NN, newest, default (overrides the scenarios)");
  sub->add_flag("-v,--verbose", a->verbose, "Show every check, also the passing ones");
  sub->footer("Exit status: 0 all passed, 1 a scenario failed, 2 bad input or usage, 77 all skipped (a kernel capability is missing).");
  return [a] { return run(*a); };
}

bpfault::cli::CommandRegistration reg(10, add_run);

}  // namespace
