// bpfault: fault injection for Go programs with write-capable uprobes. See README.md.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "binary/binary_info.h"
#include "cli/commands.h"
#include "diag/cache_files.h"
#include "process/interrupt.h"
#include "report/report.h"
#include "scenario/validate.h"

namespace bpfault::cli {
namespace {
std::vector<std::pair<int, AddCommand>>& registry() {
  static std::vector<std::pair<int, AddCommand>> r;
  return r;
}
std::vector<const CLI::App*> program_commands;
std::vector<std::string> after_double_dash;
Invocation this_invocation;
}  // namespace

const Invocation& invocation() { return this_invocation; }

report::Ending report_ending(int exit_code, int interrupted_by, std::vector<std::string> notes) {
  report::Ending end{exit_code, interrupted_by, std::move(notes)};
  end.started_at = report::utc_timestamp(this_invocation.started);
  end.hostname = this_invocation.hostname;
  end.version = BPFAULT_VERSION;
  end.argv = this_invocation.argv;
  return end;
}

CommandRegistration::CommandRegistration(int order, AddCommand add) { registry().emplace_back(order, add); }

std::vector<std::string> readable_values(const binary::Function& f, bool results) {
  std::vector<std::string> out;
  for (const auto* list : {&f.params, &f.results}) {
    if (list == &f.results && (!results || f.rets.empty())) break;  // no RET (f.no_ret): no result is seen
    for (const auto& v : *list) {
      bool ok = !v.hidden && !v.pieces.empty();
      for (const auto& p : v.pieces)
        ok &= p.loc.kind == binary::Loc::Kind::reg || p.loc.kind == binary::Loc::Kind::stack;
      if (ok) out.push_back(v.name);
    }
  }
  return out;
}

Outcome suite_outcome(const std::vector<record::RunRecord>& records, int interrupted_by,
                      std::optional<vm::Outcome::Status> vm_failure) {
  using Kind = Outcome::Kind;
  if (interrupted_by) return {Kind::interrupted, interrupted_by};
  if (vm_failure) return {*vm_failure == vm::Outcome::Status::timed_out ? Kind::vm_timed_out : Kind::vm_broke};
  size_t failed = 0, skipped = 0;
  bool bad = false;
  for (const auto& r : records) {
    if (r.status == record::Status::error && r.error && r.error->kind == ErrorKind::internal) return {Kind::internal};
    bad |= r.status == record::Status::error;
    failed += r.status == record::Status::failed;
    skipped += r.status == record::Status::skipped;
  }
  if (records.empty() || bad) return {Kind::bad_input};  // a typo must not pass CI
  if (failed) return {Kind::failed};
  if (skipped == records.size()) return {Kind::skipped};
  return {Kind::ok};
}

// README "Exit codes" is this table.
int exit_code(const Outcome& outcome) {
  switch (outcome.kind) {
    case Outcome::Kind::ok:
      return 0;
    case Outcome::Kind::failed:
      return 1;
    case Outcome::Kind::bad_input:
      return 2;
    case Outcome::Kind::internal:
      return 3;
    case Outcome::Kind::skipped:
      return 77;  // ctest's SKIP_RETURN_CODE, automake's skip
    case Outcome::Kind::vm_timed_out:
      return 124;  // as timeout(1)
    case Outcome::Kind::vm_broke:
      return 125;  // as git bisect run: "cannot test"
    case Outcome::Kind::interrupted:
      return 128 + outcome.value;
    case Outcome::Kind::program:
      return outcome.value;
  }
  return 3;
}

namespace {
// An error's exit code: what its kind means for the run.
int error_exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::unsupported:
      return exit_code(Outcome{Outcome::Kind::skipped});
    case ErrorKind::bad_input:
    case ErrorKind::environment:
      return exit_code(Outcome{Outcome::Kind::bad_input});
    case ErrorKind::internal:
      return exit_code(Outcome{Outcome::Kind::internal});
  }
  return exit_code(Outcome{Outcome::Kind::internal});
}
}  // namespace

void starts_a_program(const CLI::App* command) { program_commands.push_back(command); }
const std::vector<std::string>& program_args() { return after_double_dash; }

// Analyses outlive the process in <cache>/analysis (diag::cache_root()) (BPFAULT_NO_ANALYSIS_CACHE=1: not).
void keep_analyses_on_disk() {
  const char* off = std::getenv("BPFAULT_NO_ANALYSIS_CACHE");
  if (off && *off && std::string_view(off) != "0") return;
  bpfault::binary::set_analysis_cache(bpfault::diag::cache_root() / "analysis");
}

}  // namespace bpfault::cli

namespace {

// `bpfault X` for a command that does not exist: git's and go's answer, not CLI11's
// "A subcommand is required".
int unknown_command(std::string_view word, const CLI::App& app) {
  std::string best;
  size_t best_distance = 3;  // further than 2 edits is no suggestion
  for (const CLI::App* sub : app.get_subcommands({})) {
    size_t d = bpfault::scenario::edit_distance(word, sub->get_name());
    if (d < best_distance) best_distance = d, best = sub->get_name();
  }
  fmt::print(stderr, "error: unknown command '{}'{}\n  hint: `bpfault help` lists the commands\n", word,
             best.empty() ? "" : fmt::format("; did you mean '{}'?", best));
  return bpfault::cli::exit_code(bpfault::cli::Outcome{bpfault::cli::Outcome::Kind::bad_input});
}

}  // namespace

int main(int argc, char** argv) {
  using namespace bpfault::cli;
  this_invocation.argv.assign(argv, argv + argc);
  this_invocation.started = std::chrono::system_clock::now();
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) this_invocation.hostname = host;
  CLI::App app{"bpfault: fault-injection tests for Go programs, with eBPF uprobes", "bpfault"};
  app.set_version_flag("-V,--version", BPFAULT_VERSION);
  app.require_subcommand(1);
  std::string color = "auto";
  app.add_option("--color", color, "Colour the console report: auto (a terminal without NO_COLOR), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.footer(
      "Environment: BPFAULT_CACHE (kernels, Go toolchains, fixture builds, analyses; default $XDG_CACHE_HOME/bpfault, "
      "else /var/cache/bpfault for root, ~/.cache/bpfault for others), BPFAULT_FIXTURES, BPFAULT_FIXTURE_CACHE, "
      "BPFAULT_GO, BPFAULT_GO_ROOTS, BPFAULT_NO_ANALYSIS_CACHE, BPFAULT_NO_CAPS_CACHE, BPFAULT_LIBBPF_DEBUG, "
      "BPFAULT_TOTAL_SHARDS, NO_COLOR (README: \"Environment\").\n"
      "`bpfault help COMMAND` shows a command's options.");
  auto& reg = registry();
  std::sort(reg.begin(), reg.end());
  std::vector<std::pair<CLI::App*, Runner>> commands;
  for (auto& [order, add] : reg) {
    Runner run = add(app);
    commands.emplace_back(app.get_subcommands({}).back(), std::move(run));
  }
  auto* help = app.add_subcommand("help", "Show the commands, or one command's options: bpfault help run");
  std::string help_topic;
  help->add_option("command", help_topic, "The command");
  app.add_subcommand("version", "Print bpfault's version");

  // The first word that is not an option names the command.
  for (int i = 1; i < argc; ++i) {
    std::string_view word = argv[i];
    if (word.starts_with("-")) {
      if (word == "--color") ++i;
      continue;
    }
    const CLI::App* command = nullptr;
    for (const CLI::App* sub : app.get_subcommands({}))
      if (sub->get_name() == word) command = sub;
    if (!command) return unknown_command(word, app);
    if (std::find(program_commands.begin(), program_commands.end(), command) != program_commands.end())
      for (int j = i + 1; j < argc; ++j)
        if (std::string_view(argv[j]) == "--") {
          after_double_dash.assign(argv + j + 1, argv + argc);
          argc = j;
          break;
        }
    break;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // --help is a "parse error" that succeeds
    return exit_code(Outcome{rc == 0 ? Outcome::Kind::ok : Outcome::Kind::bad_input});
  }
  bpfault::report::set_color_mode(color == "always"  ? bpfault::report::ColorMode::always
                                  : color == "never" ? bpfault::report::ColorMode::never
                                                     : bpfault::report::ColorMode::auto_);
  if (app.got_subcommand("version")) {
    fmt::print("bpfault {}\n", BPFAULT_VERSION);
    return exit_code(Outcome{});
  }
  if (help->parsed()) {
    if (help_topic.empty()) {  // app.help() would show the help of `help`, the subcommand that ran
      fmt::print("{}", app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal));
      return exit_code(Outcome{});
    }
    for (const CLI::App* sub : app.get_subcommands({}))
      if (sub->get_name() == help_topic) {
        fmt::print("{}", sub->help());
        return exit_code(Outcome{});
      }
    return unknown_command(help_topic, app);
  }
  bpfault::process::install_interrupt_handlers();
  keep_analyses_on_disk();
  for (auto& [sub, run] : commands)
    if (sub->parsed()) {
      auto outcome = run();
      if (outcome) return exit_code(*outcome);
      fmt::print(stderr, "{}", outcome.error().format());
      return error_exit_code(outcome.error().kind);
    }
  return exit_code(Outcome{Outcome::Kind::bad_input});
}
