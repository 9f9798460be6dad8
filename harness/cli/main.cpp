// bpfault: fault injection for Go programs with write-capable uprobes. See README.md.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <vector>

#include "binary/binary_info.h"
#include "cli/commands.h"
#include "process/interrupt.h"

namespace bpfault::cli {
namespace {
std::vector<std::pair<int, AddCommand>>& registry() {
  static std::vector<std::pair<int, AddCommand>> r;
  return r;
}
}  // namespace

CommandRegistration::CommandRegistration(int order, AddCommand add) { registry().emplace_back(order, add); }

// Analyses outlive the process in $BPFAULT_CACHE/analysis (BPFAULT_NO_ANALYSIS_CACHE=1: not).
void keep_analyses_on_disk() {
  const char* off = std::getenv("BPFAULT_NO_ANALYSIS_CACHE");
  if (off && *off && std::string_view(off) != "0") return;
  const char* cache = std::getenv("BPFAULT_CACHE");
  bpfault::binary::set_analysis_cache(std::filesystem::path(cache && *cache ? cache : BPFAULT_CACHE) / "analysis");
}

}  // namespace bpfault::cli

int main(int argc, char** argv) {
  using namespace bpfault::cli;
  CLI::App app{"bpfault: fault-injection tests for Go programs, with eBPF uprobes", "bpfault"};
  app.set_version_flag("--version", BPFAULT_VERSION);
  app.require_subcommand(1);
  auto& reg = registry();
  std::sort(reg.begin(), reg.end());
  std::vector<std::pair<CLI::App*, Runner>> commands;
  for (auto& [order, add] : reg) {
    Runner run = add(app);
    commands.emplace_back(app.get_subcommands({}).back(), std::move(run));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // usage errors are bad input
  }
  bpfault::process::install_interrupt_handlers();
  keep_analyses_on_disk();
  for (auto& [sub, run] : commands)
    if (sub->parsed()) return run();
  return 2;
}
