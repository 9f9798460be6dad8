// bpfault caps [-v] [--json]: what this kernel lets bpfault do, probed by loading the real
// programs (kernel/caps.h). Prints the verifier's one-line reason for each refusal; -v adds
// the full verifier logs.
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "kernel/caps.h"

namespace {

using bpfault::kernel::Cap;
using bpfault::kernel::Capabilities;

nlohmann::ordered_json to_json(const Capabilities& caps, bool verbose) {
  nlohmann::ordered_json out = {
      {"kernel", caps.kernel_release}, {"lockdown", caps.lockdown}, {"probe_ms", caps.probe_ms}};
  auto& list = out["caps"] = nlohmann::ordered_json::array();
  for (const auto& r : caps.results) {
    nlohmann::ordered_json c = {{"name", r.name}, {"first_kernel", r.first_kernel}, {"available", r.available}};
    if (!r.available) c["reason"] = r.reason;
    if (verbose && !r.log.empty()) c["log"] = r.log;
    list.push_back(std::move(c));
  }
  return out;
}

void print_table(const Capabilities& caps, bool verbose) {
  fmt::print("kernel {}, lockdown {} (probed in {:.0f} ms)\n\n", caps.kernel_release, caps.lockdown, caps.probe_ms);
  fmt::print("{:<13} {:<6} {:<10} {}\n", "capability", "since", "available", "reason");
  for (const auto& r : caps.results) {
    std::string row =
        fmt::format("{:<13} {:<6} {:<10} {}", r.name, r.first_kernel, r.available ? "yes" : "no", r.reason);
    fmt::print("{}\n", row.substr(0, row.find_last_not_of(' ') + 1));
    if (verbose && !r.log.empty()) {
      fmt::print("  verifier log of {}:\n", r.name);
      std::string_view log = r.log;
      while (!log.empty()) {
        auto nl = log.find('\n');
        fmt::print("    {}\n", log.substr(0, nl));
        log = nl == std::string_view::npos ? "" : log.substr(nl + 1);
      }
    }
  }
  const auto& user = caps.get(Cap::write_user);
  if (!user.available && user.reason.find("cannot use helper") != std::string::npos && caps.lockdown != "none")
    fmt::print("\nwrite_user: lockdown={} removes bpf_probe_write_user from the verifier's helpers\n", caps.lockdown);
  if (!caps.has(Cap::uprobe))
    fmt::print("hint: loading BPF programs needs root (or CAP_BPF and CAP_PERFMON)\n");
  else if (!caps.has(Cap::write_user) || !caps.has(Cap::write_regs) || !caps.has(Cap::write_ip))
    fmt::print(
        "hint: `bpfault run --vm` runs scenarios that need the missing writes in a VM with a kernel that has them "
        "(ci/kernels)\n");
}

bpfault::cli::Runner add_caps(CLI::App& app) {
  auto* cmd = app.add_subcommand("caps", "Show which BPF capabilities this kernel gives bpfault, and why not");
  auto verbose = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("-v,--verbose", *verbose, "Print the verifier's full log for each refusal");
  cmd->add_flag("--json", *json, "Print the table as JSON");
  return [verbose, json] {
    // what the kernel says now (lockdown can be raised at run time), not the boot's cached answer
    const Capabilities caps = bpfault::kernel::probe_capabilities();
    if (*json)
      fmt::print("{}\n", to_json(caps, *verbose).dump());
    else
      print_table(caps, *verbose);
    std::fflush(stdout);
    return bpfault::Result<bpfault::cli::Outcome>{};
  };
}

bpfault::cli::CommandRegistration reg(30, add_caps);

}  // namespace
