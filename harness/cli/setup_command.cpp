// bpfault setup [--vm] [--kernel NAME]... [--go VERSION]...: fetches what runs need into
// bpfault's cache (diag::cache_root()) from Debian's archive: the VM's kernels and extra Go
// toolchains. The fetching itself is the shell scripts the repository's CI uses (kernels,
// go-toolchain), installed beside bpfault in libexec/bpfault, so there is one recipe. Host
// packages (qemu, busybox, a Go toolchain) are checked, never installed: that is the system
// package manager's job, and the message names the packages.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "diag/cache_files.h"
#include "process/child.h"
#include "process/go_toolchain.h"

namespace {
namespace fs = std::filesystem;

struct SetupOptions {
  bool vm = false;
  std::vector<std::string> kernels;
  std::vector<std::string> go;
};

// The folder of the fetch scripts: <prefix>/libexec/bpfault when installed (bin/bpfault),
// <build>/libexec/bpfault in a build tree (the build copies them there).
fs::path scripts_dir() {
  std::error_code ec;
  const fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (const fs::path& dir : {exe_dir.parent_path() / "libexec" / "bpfault", exe_dir / "libexec" / "bpfault"})
    if (fs::is_regular_file(dir / "kernels", ec)) return dir;
  return {};
}

bool have(const char* program) {
  for (const char* dir : {"/usr/bin", "/bin", "/usr/sbin", "/usr/local/bin"})
    if (access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
  return false;
}

// Runs SCRIPT ARGS... with the cache bpfault uses; its output (progress, what it fetched) goes to ours.
bool run_script(const fs::path& script, const std::vector<std::string>& args) {
  bpfault::process::Command cmd;
  cmd.argv = {"bash", script.string()};
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  cmd.env = {{"BPFAULT_CACHE", bpfault::diag::cache_root().string()}};
  cmd.inherit_output = true;
  std::string line;
  for (const auto& a : cmd.argv) line += (line.empty() ? "" : " ") + a;
  fmt::print(stderr, "[setup] {}\n", line);
  std::fflush(stdout);
  auto outcome = bpfault::process::run(cmd);
  if (!outcome) {
    fmt::print(stderr, "error: {}\n", outcome.error().what);
    return false;
  }
  return outcome->ok();
}

bpfault::Result<bpfault::cli::Outcome> setup(const SetupOptions& o) {
  const fs::path scripts = scripts_dir();
  if (scripts.empty()) {
    return bpfault::fail(
        bpfault::ErrorKind::environment, "",
        "bpfault's fetch scripts (libexec/bpfault/kernels, go-toolchain) are not beside this executable",
        "install bpfault with `cmake --install` or its .deb, or run build/bpfault from a build tree");
  }
  fmt::print(
      "cache: {} (BPFAULT_CACHE, else $XDG_CACHE_HOME/bpfault, else /var/cache/bpfault for root, ~/.cache/bpfault for "
      "others)\n",
      bpfault::diag::cache_root().string());
  std::vector<std::string> missing;
  if (bpfault::process::find_toolchains().empty()) missing.push_back("golang-go");
  const bool vm = o.vm || !o.kernels.empty();
  if (vm && !have("qemu-system-x86_64")) missing.push_back("qemu-system-x86");
  if (vm && !have("busybox")) missing.push_back("busybox-static");
  bool ok = true;
  if (vm) {
    std::vector<std::string> names = o.kernels;
    if (names.empty()) names = {"default", "bookworm"};
    ok = run_script(scripts / "kernels", names) && ok;
  }
  for (const auto& v : o.go) ok = run_script(scripts / "go-toolchain", {v}) && ok;
  if (!missing.empty()) {
    std::string pkgs;
    for (const auto& p : missing) pkgs += " " + p;
    fmt::print(stderr, "error: missing on this host:{}\n  hint: apt-get install{}\n", pkgs, pkgs);
    return bpfault::cli::Outcome{bpfault::cli::Outcome::Kind::failed};
  }
  return bpfault::cli::Outcome{ok ? bpfault::cli::Outcome::Kind::ok : bpfault::cli::Outcome::Kind::failed};
}

bpfault::cli::Runner add_setup(CLI::App& app) {
  auto o = std::make_shared<SetupOptions>();
  auto* cmd = app.add_subcommand(
      "setup", "Fetch the VM's kernels and extra Go toolchains from Debian's archive into bpfault's cache");
  cmd->add_flag("--vm", o->vm,
                "Fetch the VM kernels (the newest 7.x cloud kernel as default, bookworm's 6.1 and trixie's 6.12)");
  cmd->add_option("--kernel", o->kernels,
                  "Fetch this kernel: default, bookworm, trixie, trixie-backports, sid (repeatable)");
  cmd->add_option("--go", o->go,
                  "Unpack Go toolchain 1.NN or 'newest' (repeatable; 1.19 comes from bookworm's golang-1.19-go)");
  cmd->footer("Prints the cache folder and what it fetched; exit 1 when a fetch failed or a host package is missing.");
  return [o] { return setup(*o); };
}

bpfault::cli::CommandRegistration reg(50, add_setup);

}  // namespace
