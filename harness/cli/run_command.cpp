// bpfault run SCENARIO_OR_DIR... : run scenarios and report (the exit code: cli::suite_outcome, main.cpp).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <limits>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "process/go_toolchain.h"
#include "process/interrupt.h"
#include "report/report.h"
#include "run/suite.h"
#include "scenario/scenario.h"

namespace {

struct RunArgs {
  std::vector<std::string> scenarios;
  std::string json, junit, fixtures, go, kernel, variants, user, vm_accel, run_filter;
  std::string html, trace_json;  // pictures of the same records: a page, a Chrome trace
  bool list = false;
  int count = 1;
  bool fail_fast = false;
  std::string timeout, start_within, rerun_failed, shard;
  int pid = 0;                      // --pid: attach to this running process
  std::string attach_for;           // --for: how long to stay attached
  std::vector<std::string> select;  // the VM's guest: exactly these runs
  std::string vm = "auto";
  int jobs = 1;
  uint64_t seed = 0;
  bool verbose = false;
  // for the guest side of a VM run
  bool stream = false;
  std::vector<std::string> prebuilt;
  double timeout_scale = 1;
};

// Values of --variants and --go that can never select anything are usage errors: a typo must
// not run zero scenarios and pass.
std::string bad_selection(const RunArgs& a) {
  using namespace bpfault;
  static const std::vector<std::string> known = {"amd64", "386", "amd64-stripped", "386-stripped"};
  if (!a.variants.empty() && a.variants != "all")
    for (size_t pos = 0; pos <= a.variants.size();) {
      size_t comma = std::min(a.variants.find(',', pos), a.variants.size());
      const std::string v = a.variants.substr(pos, comma - pos);
      if (std::find(known.begin(), known.end(), v) == known.end())
        return fmt::format(
            "--variants {}: unknown build '{}'\n  hint: all, or a list of amd64, 386, amd64-stripped, 386-stripped",
            a.variants, v);
      pos = comma + 1;
    }
  if (a.go.empty() || a.go == "all") return {};
  for (size_t pos = 0; pos <= a.go.size();) {
    size_t comma = std::min(a.go.find(',', pos), a.go.size());
    const std::string v = a.go.substr(pos, comma - pos);
    if (auto found = process::find_toolchain(v); !found)
      return fmt::format("--go {}: {}\n  hint: {}", a.go, found.error().what, found.error().hint);
    pos = comma + 1;
  }
  return {};
}

}  // namespace

// A Go duration: "90s", "5m", "1h30m", "1.5s", "500ms" (units ns, us, µs, ms, s, m, h).
std::optional<std::chrono::nanoseconds> bpfault::cli::parse_duration(const std::string& text, bool zero_allowed) {
  static const std::vector<std::pair<std::string, double>> units = {{"ns", 1},  {"us", 1e3}, {"µs", 1e3},  {"ms", 1e6},
                                                                    {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  double ns = 0;
  size_t pos = 0;
  if (text.empty()) return std::nullopt;
  while (pos < text.size()) {
    size_t digits = pos;
    while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
      ++digits;
    if (digits == pos) return std::nullopt;
    double value = 0;
    try {
      size_t used = 0;
      value = std::stod(text.substr(pos, digits - pos), &used);
      if (used != digits - pos) return std::nullopt;
    } catch (const std::exception&) {
      return std::nullopt;
    }
    size_t best = 0;
    double scale = 0;
    for (const auto& [unit, factor] : units)  // the longest unit that matches: "ms" before "m"
      if (text.compare(digits, unit.size(), unit) == 0 && unit.size() > best) best = unit.size(), scale = factor;
    if (!best) return std::nullopt;
    ns += value * scale;
    pos = digits + best;
  }
  if (ns < 0 || (ns == 0 && !zero_allowed) || ns > 1e18) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<int64_t>(ns));
}

namespace {

using bpfault::cli::parse_duration;

std::optional<size_t> parse_count(const std::string& text) {
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoul(text);
}

// The shard this process runs: --shard I/N, else what the CI engine set: Bazel's
// TEST_SHARD_INDEX/TEST_TOTAL_SHARDS, GoogleTest's GTEST_SHARD_INDEX/GTEST_TOTAL_SHARDS, a
// Kubernetes Indexed Job's JOB_COMPLETION_INDEX with the total from --shard N or
// BPFAULT_TOTAL_SHARDS. The option beats the environment.
bpfault::Result<std::optional<bpfault::run::SuiteOptions::Shard>> choose_shard(const std::string& option) {
  using namespace bpfault;
  using Shard = run::SuiteOptions::Shard;
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v && *v ? std::optional<std::string>(v) : std::nullopt;
  };
  if (auto status = env("TEST_SHARD_STATUS_FILE")) std::ofstream{*status, std::ios::app};  // Bazel: "this test shards"
  auto make = [](const std::string& where, const std::string& index,
                 const std::string& total) -> Result<std::optional<Shard>> {
    auto i = parse_count(index), n = parse_count(total);
    if (!i || !n || *n == 0 || *i >= *n)
      return fail(ErrorKind::bad_input, where, fmt::format("shard {} of {} does not exist", index, total),
                  "the index counts from 0 and is less than the total: 0/2 and 1/2 are the two halves");
    return Shard{*i, *n};
  };
  if (option.find('/') != std::string::npos) {
    const size_t slash = option.find('/');
    return make("--shard " + option, option.substr(0, slash), option.substr(slash + 1));
  }
  for (auto [index_var, total_var] :
       {std::pair{"TEST_SHARD_INDEX", "TEST_TOTAL_SHARDS"}, std::pair{"GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS"}}) {
    auto index = env(index_var), total = env(total_var);
    if (!index && !total) continue;
    if (!option.empty()) total = option;
    if (!index || !total)
      return fail(ErrorKind::bad_input, index ? index_var : total_var,
                  fmt::format("{} is set without {}", index ? index_var : total_var, index ? total_var : index_var),
                  "set both, or give --shard I/N");
    return make(fmt::format("{}={}, {}={}", index_var, *index, option.empty() ? total_var : "--shard", *total), *index,
                *total);
  }
  auto index = env("JOB_COMPLETION_INDEX");
  auto total = option.empty() ? env("BPFAULT_TOTAL_SHARDS") : std::optional<std::string>(option);
  if (index && total) return make(fmt::format("JOB_COMPLETION_INDEX={}, total {}", *index, *total), *index, *total);
  if (total)
    return fail(ErrorKind::bad_input, option.empty() ? "BPFAULT_TOTAL_SHARDS" : "--shard " + option,
                fmt::format("a total of {} shards, but no index: none of JOB_COMPLETION_INDEX, TEST_SHARD_INDEX, "
                            "GTEST_SHARD_INDEX is set",
                            *total),
                "--shard I/N gives both");
  if (index)
    fmt::print(
        stderr,
        "note: JOB_COMPLETION_INDEX={} is set but no total (--shard N or BPFAULT_TOTAL_SHARDS): every run runs here\n",
        *index);
  return std::nullopt;
}

// The names of the runs that failed or erred in a record `--json` wrote (a repeat's " #k" left
// out: its scenario runs again).
bpfault::Result<std::set<std::string>> failed_runs(const std::string& file) {
  using namespace bpfault;
  const std::string where = "--rerun-failed " + file;
  std::ifstream in(file);
  if (!in)
    return fail(ErrorKind::bad_input, where, "cannot read the record", "the file `bpfault run --json FILE` wrote");
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "bpfault-run-1" || !j.contains("scenarios") ||
      !j["scenarios"].is_array())
    return fail(ErrorKind::bad_input, where,
                "not a run record: expected a JSON object with \"format\": \"bpfault-run-1\" and \"scenarios\"",
                "the file `bpfault run --json FILE` wrote");
  std::set<std::string> names;
  for (const auto& s : j["scenarios"]) {
    const std::string status = s.is_object() ? s.value("status", "") : "";
    if ((status == "failed" || status == "error") && s.contains("name") && s["name"].is_string())
      names.insert(run::without_repeat(s["name"].get<std::string>()));
  }
  return names;
}

// --pid and --for: what cannot go with attaching to a process that runs on this host, and why.
bpfault::Result<void> attach_refusal(const RunArgs& a) {
  using namespace bpfault;
  if (!a.attach_for.empty() && !a.pid)
    return fail(ErrorKind::bad_input, "--for " + a.attach_for,
                "--for says how long bpfault stays attached to a running process: it goes with --pid",
                "bpfault run --pid PID --for 30s SCENARIO");
  if (!a.pid) return {};
  const std::string where = fmt::format("--pid {}", a.pid);
  const std::vector<std::pair<bool, std::string>> refused = {
      {a.vm == "always", "--vm=always: a process running on this host is not in the VM; bpfault attaches to it here"},
      {!a.go.empty(), "--go chooses the toolchain bpfault builds the program with; the process runs its own build"},
      {!a.variants.empty(), "--variants chooses the builds bpfault makes; the process runs its own build"},
      {!a.user.empty(), "--user is who bpfault starts the program as; the process already runs as its own user"},
      {a.count != 1, "--count runs a scenario again; the attachment is one run over the process's life"},
      {!a.timeout.empty(), "--timeout stops what bpfault started; --for says how long to stay attached"},
      {!a.rerun_failed.empty() || !a.shard.empty(),
       "--rerun-failed and --shard choose among several runs; --pid is one"},
      {a.jobs != 1, "--jobs runs scenarios side by side; --pid attaches one"},
  };
  for (const auto& [bad, why] : refused)
    if (bad)
      return fail(ErrorKind::bad_input, where, why, "drop the option (README, \"Attaching to a running process\")");
  return {};
}

bpfault::Result<bpfault::cli::Outcome> run(const RunArgs& a) {
  using namespace bpfault;
  const auto start = std::chrono::steady_clock::now();
  if (!a.stream) {  // the guest runs what the host already checked
    if (std::string bad = bad_selection(a); !bad.empty()) return fail(ErrorKind::bad_input, "", bad);
  }
  if (auto bad = attach_refusal(a); !bad) return tl::unexpected(bad.error());
  std::vector<std::filesystem::path> data_files;  // beside the scenarios: listed as skipped
  auto files = scenario::expand(a.scenarios, &data_files);
  if (!files) return tl::unexpected(files.error());
  if (a.pid && files->size() != 1)
    return fail(
        ErrorKind::bad_input, fmt::format("--pid {}", a.pid),
        fmt::format("--pid attaches one scenario's probes to the process; {} scenarios were named", files->size()),
        "name one scenario file");
  run::SuiteOptions opts;
  opts.data_files = std::move(data_files);
  opts.run.fixtures_dir = a.fixtures;
  opts.run.user = a.user;
  opts.run.seed = a.seed;
  opts.pid = a.pid;
  if (!a.attach_for.empty()) {
    auto d = parse_duration(a.attach_for);
    if (!d)
      return fail(ErrorKind::bad_input, "--for " + a.attach_for, "expected a Go duration",
                  "a number and a unit: 30s, 5m, 1h30m, 500ms");
    opts.run.attach_for = std::chrono::ceil<std::chrono::milliseconds>(*d);
    opts.run.attach_for_text = a.attach_for;
  }
  if (a.go == "all") {
    for (const auto& t : process::find_toolchains()) opts.go_each.push_back(t.release);
    if (opts.go_each.empty())
      return fail(ErrorKind::bad_input, "", "--go all: no Go toolchain is installed",
                  "apt-get install golang-go; `bpfault setup --go VERSION` adds others");
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
    if (eq == std::string::npos)
      return fail(ErrorKind::bad_input, "", fmt::format("--prebuilt expects KEY=PATH, got {}", p));
    opts.run.prebuilt[p.substr(0, eq)] = p.substr(eq + 1);
  }
  opts.jobs = a.jobs;
  opts.vm = a.vm == "always" ? run::VmMode::always : a.vm == "never" ? run::VmMode::never : run::VmMode::auto_;
  opts.kernel = a.kernel;
  if (!a.vm_accel.empty()) {
    auto accel = vm::parse_accel_mode(a.vm_accel);
    if (!accel) return tl::unexpected(accel.error());
    opts.vm_accel = *accel;
  }
  opts.verbose = a.verbose;
  if (!a.run_filter.empty()) {
    try {
      opts.run_filter.emplace(a.run_filter, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return fail(ErrorKind::bad_input, "--run " + a.run_filter, fmt::format("not a regular expression: {}", e.what()),
                  "an ECMAScript regular expression matched anywhere in a run's name, e.g. --run 'seed|386'");
    }
    opts.run_filter_text = a.run_filter;
  }
  if (a.count < 1)
    return fail(ErrorKind::bad_input, fmt::format("--count {}", a.count), "expected a positive number of times",
                "--count 1 runs each once");
  opts.count = a.count;
  opts.fail_fast = a.fail_fast;
  if (!a.timeout.empty()) {
    auto d = parse_duration(a.timeout);
    if (!d)
      return fail(ErrorKind::bad_input, "--timeout " + a.timeout, "expected a Go duration",
                  "a number and a unit: 90s, 5m, 1h30m, 500ms");
    opts.deadline = std::chrono::steady_clock::now() + *d;
    opts.timeout_text = a.timeout;
  }
  if (!a.start_within.empty()) {
    auto d = parse_duration(a.start_within, true);  // 0s: start nothing (lists the runs as skipped)
    if (!d)
      return fail(ErrorKind::bad_input, "--start-within " + a.start_within, "expected a Go duration",
                  "a number and a unit: 90s, 5m, 1h30m, 500ms");
    auto from = std::chrono::steady_clock::now();
    // The VM's guest is given what was left of the host's limit when it launched the VM: it
    // counts from its boot, which the limit already included.
    if (timespec boot{}; a.stream && clock_gettime(CLOCK_BOOTTIME, &boot) == 0)
      from -= std::chrono::seconds(boot.tv_sec) + std::chrono::nanoseconds(boot.tv_nsec);
    opts.start_before = from + *d;
    opts.start_within_text = a.start_within;
  }
  if (!a.stream) {  // the guest gets its runs by name (--select), never a shard of them
    auto shard = choose_shard(a.shard);
    if (!shard) return tl::unexpected(shard.error());
    opts.shard = *shard;
  }
  if (!a.rerun_failed.empty()) {
    auto names = failed_runs(a.rerun_failed);
    if (!names) return tl::unexpected(names.error());
    if (names->empty()) {  // nothing to do is not a mistake here: the run it follows passed
      fmt::print(stderr, "nothing to rerun: {} has no failed or erring run\n", a.rerun_failed);
      return cli::Outcome{};
    }
    opts.rerun = std::move(*names);
  }
  if (!a.select.empty()) opts.exact_names = std::set<std::string>(a.select.begin(), a.select.end());
  if (a.list) {  // the names alone on stdout, one per line; what cannot be loaded goes to stderr
    opts.list_only = true;
    auto result = run::run_suite(
        *files, opts,
        [](const record::RunRecord& r) {
          if (r.error) fmt::print(stderr, "{}", r.error->format());
        },
        [](const std::string&) {});
    for (const auto& name : result.listed) fmt::print("{}\n", name);
    return cli::Outcome{result.records.empty() ? cli::Outcome::Kind::ok : cli::Outcome::Kind::bad_input};
  }

  if (a.stream) {  // inside the VM: one JSON record per line, for the host to report
    auto result = run::run_suite(
        *files, opts,
        [](const record::RunRecord& r) {
          fmt::print("{}\n", record::dump(record::to_json(r)));
          std::fflush(stdout);
        },
        [](const std::string&) {});
    return cli::suite_outcome(result.records);
  }
  std::vector<std::string> on_stdout;  // the reports given `-`: at most one can own stdout
  for (const auto& [option, file] : std::vector<std::pair<const char*, std::string>>{
           {"--json", a.json}, {"--junit", a.junit}, {"--html", a.html}, {"--trace-json", a.trace_json}})
    if (file == "-") on_stdout.push_back(option);
  if (on_stdout.size() > 1)
    return fail(ErrorKind::bad_input, "",
                fmt::format("{} - and {} - would both write to stdout", on_stdout[0], on_stdout[1]),
                "give all but one of them a file");
  process::on_interrupt(process::OnInterrupt::stop);  // the reports of what finished are written
  // A report on stdout (`--json -`) owns it: the console report goes to stderr.
  report::Console console(on_stdout.empty() ? stdout : stderr, a.verbose);
  opts.run.progress = [&](const std::string& line) { console.note(line); };
  console.suite_start(files->size(), a.vm == "always"  ? "in a VM"
                                     : a.vm == "never" ? "native"
                                                       : "native, or in a VM where this kernel lacks a capability");
  auto result = run::run_suite(
      *files, opts, [&](const record::RunRecord& r) { console.scenario_end(r); },
      [&](const std::string& line) { console.note(line); });
  double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  // Ctrl-C ends an attachment as asked (README, "Attaching to a running process"): its record is
  // complete and is judged like any other, not as an interrupted run.
  if (result.interrupted_by && !result.records.empty() &&
      std::ranges::all_of(result.records, [](const record::RunRecord& r) { return r.attached && !r.interrupted; }))
    result.interrupted_by = 0;
  console.suite_end(result.records, wall_ms, result.interrupted_by);
  if (result.records.empty() && !result.vm_failure && !result.interrupted_by)
    fmt::print(stderr,
               "error: no scenario ran: the files named none, --variants selected none of the builds they declare, "
               "--run matched no name, --rerun-failed named none of them, or this --shard got none\n");
  cli::Outcome outcome = cli::suite_outcome(result.records, result.interrupted_by, result.vm_failure);
  if (result.timed_out)
    console.note(
        fmt::format("the whole run's --timeout {} passed: what did not finish failed as timed out", a.timeout));
  const report::Ending ending = cli::report_ending(cli::exit_code(outcome), result.interrupted_by, result.notes);
  if (a.json == "-") fmt::print("{}", report::json_document(result.records, wall_ms, ending));
  if (a.junit == "-") fmt::print("{}", report::junit_document(result.records, wall_ms, ending));
  if (a.html == "-") fmt::print("{}", report::html_document(result.records, wall_ms, ending));
  if (a.trace_json == "-") fmt::print("{}", report::trace_json_document(result.records, wall_ms, ending));
  for (auto [file, write] :
       {std::pair{a.json, &report::write_json}, std::pair{a.junit, &report::write_junit},
        std::pair{a.html, &report::write_html}, std::pair{a.trace_json, &report::write_trace_json}}) {
    if (file.empty() || file == "-") continue;
    if (auto w = write(file, result.records, wall_ms, ending); !w) {
      fmt::print(stderr, "{}", w.error().format());
      if (outcome.kind == cli::Outcome::Kind::ok) outcome.kind = cli::Outcome::Kind::bad_input;
    }
  }
  return outcome;
}

bpfault::cli::Runner add_run(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* sub = app.add_subcommand("run", "Run scenarios (files, or folders of *.json) and check what happens");
  sub->add_option("scenarios", a->scenarios,
                  "Scenario files or folders; DIR/... : every scenario under DIR, recursively (as go's ./...)")
      ->required();
  sub->add_option("--run", a->run_filter,
                  "Only the runs whose name matches REGEX (anywhere in it, as go test -run); --list shows the names");
  sub->add_flag(
      "--list", a->list,
      "Print the name of every run these options select (--run, --count, --shard...), one per line, and run nothing");
  sub->add_option("--count", a->count,
                  "Run each selected run N times; the repeats are named NAME #2, NAME #3, ... (default 1)");
  sub->add_flag("--fail-fast", a->fail_fast,
                "After the first failed or erring run, start no other: the rest are reported as skipped, saying why");
  sub->add_option("--timeout", a->timeout,
                  "The whole run's time limit, a Go duration (90s, 5m, 1h30m): then everything stops and what did not "
                  "finish fails as timed out");
  sub->add_option("--start-within", a->start_within,
                  "Start no run once this Go duration (10m) has passed: the runs left are reported as skipped, "
                  "saying why; a run already started finishes");
  sub->add_option("--rerun-failed", a->rerun_failed,
                  "Run only the runs that failed or erred in RECORD.json (a record --json wrote), by name");
  sub->add_option(
      "--shard", a->shard,
      "I/N: run the runs at positions k with k % N == I (from 0), so N jobs split a suite; N alone: the index from "
      "JOB_COMPLETION_INDEX. Without it: TEST_SHARD_INDEX/TEST_TOTAL_SHARDS (Bazel), "
      "GTEST_SHARD_INDEX/GTEST_TOTAL_SHARDS, "
      "JOB_COMPLETION_INDEX with BPFAULT_TOTAL_SHARDS; `bpfault merge` joins the shards' records");
  sub->add_option("--json", a->json,
                  "Write the run record (every scenario, event and verdict) as JSON to FILE; - : to stdout (the "
                  "console report then goes to stderr)");
  sub->add_option("--junit", a->junit, "Write JUnit XML for CI to FILE; - : to stdout");
  sub->add_option("--html", a->html,
                  "Write one self-contained HTML page to FILE: verdicts, a timeline of hits and injections, "
                  "latency charts, the output; - : to stdout");
  sub->add_option("--trace-json", a->trace_json,
                  "Write the events as a Chrome trace (Perfetto, chrome://tracing) to FILE: a process per scenario, "
                  "a thread per goroutine; - : to stdout");
  sub->add_option("-j,--jobs", a->jobs, "Native scenarios run at once")->check(CLI::Range(1, 64));
  sub->add_option("--vm", a->vm,
                  "auto: in a VM only what this kernel cannot do; always: everything in a VM; never: skip (77) what "
                  "this kernel cannot do")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  sub->add_option("--vm-accel", a->vm_accel,
                  "The VM's accelerator: auto (KVM when /dev/kvm answers and a guest shows life under it, else TCG; "
                  "default, or $BPFAULT_VM_ACCEL), kvm, tcg");
  sub->add_option("--kernel", a->kernel,
                  "The VM's kernel: a name `bpfault setup --kernel` fetched (default, bookworm, trixie, "
                  "trixie-backports, sid) or a release prefix (7.3, 6.1)");
  sub->add_option("--pid", a->pid,
                  "Attach the scenario's probes to this running process instead of starting its target (the "
                  "executable /proc/PID/exe, this pid only); bpfault neither starts nor stops it, and detaches after "
                  "the steps, --for, or Ctrl-C")
      ->check(CLI::Range(1, std::numeric_limits<int>::max()));
  sub->add_option("--for", a->attach_for,
                  "With --pid: stay attached at least this long, a Go duration (30s, 5m); without steps and --for, "
                  "until Ctrl-C or the process's exit");
  sub->add_option("--fixtures", a->fixtures, "Folder of fixtures (default: the fixtures/ folder above each scenario)");
  sub->add_option("--go", a->go,
                  "Go toolchain for every fixture: 1.NN, newest, default (overrides the scenarios); all, or 1.19,1.27: "
                  "each scenario once per toolchain");
  sub->add_option("--variants", a->variants,
                  "Builds to run each fixture scenario with, among those it declares: all, or a list such as "
                  "386,amd64-stripped (default: its first)");
  sub->add_option(
      "--user", a->user,
      "Run every tracee as this user (a name such as nobody, or uid:gid); bpfault keeps its privileges for the probes");
  sub->add_option("--seed", a->seed,
                  "Probability decisions (when.probability, P% in a term) from this seed: the same calls are chosen in "
                  "every run (default: random)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("-v,--verbose", a->verbose, "Show every check, also the passing ones; echo the VM's console");
  sub->add_flag("--stream", a->stream,
                "Print one JSON record per scenario instead of the console report (the VM's guest side)")
      ->group("");
  sub->add_option("--prebuilt", a->prebuilt, "KEY=PATH: a fixture already built (the VM's guest side)")->group("");
  sub->add_option("--timeout-scale", a->timeout_scale, "Multiply every scenario's timeout (the VM's guest side)")
      ->group("");
  sub->add_option("--select", a->select, "Only the run of this exact name, repeatable (the VM's guest side)")
      ->group("");
  sub->footer(
      "Exit status: 0 all passed, 1 a scenario failed or did not finish within --timeout, 2 bad input or usage or "
      "nothing ran,\n"
      "77 all skipped (a kernel capability is missing), 124 the VM timed out, 125 the VM failed to boot or died, 128+N "
      "signal N.");
  return [a] { return run(*a); };
}

bpfault::cli::CommandRegistration reg(10, add_run);

}  // namespace
