// One file per subcommand (run_command.cpp, list_command.cpp, ...). Each registers a function
// that adds its subcommand to the CLI11 app and returns what runs it; the runner returns the
// process exit code (0 pass, 1 scenario failed, 2 bad input or usage, 77 skipped).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace bpfault::cli {

using Runner = std::function<int()>;
using AddCommand = Runner (*)(CLI::App& app);

struct CommandRegistration {
  CommandRegistration(int order, AddCommand add);  // order: position in --help
};

}  // namespace bpfault::cli
