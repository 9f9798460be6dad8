// Helpers of the reliability tests: run the bpfault executable as a user would, find the
// processes and BPF objects a run leaves behind, poll with a deadline instead of sleeping.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process/child.h"

namespace bpfault::test {

// `bpfault ARGS...` to completion (timeout 300 s), as a user would run it; `env` added.
process::Outcome run_bpfault(const std::vector<std::string>& args, std::optional<uid_t> uid = std::nullopt,
                             const std::map<std::string, std::string>& env = {});

// Polls `done` every 10 ms until it holds or `limit` passes; true when it held.
bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds limit);

// The pids whose parent is `ppid` (from /proc).
std::vector<pid_t> children_of(pid_t ppid);
// /proc/PID/exe, or "" when the process is gone (or a zombie).
std::string exe_of(pid_t pid);
bool alive(pid_t pid);  // exists and is not a zombie

// The BPF objects a process holds open, from /proc/PID/fdinfo (prog_id, link_id, map_id).
struct BpfIds {
  std::set<uint32_t> progs, links, maps;
};
BpfIds bpf_ids_of(pid_t pid);
// The ids bpftool lists now (`bpftool -j prog/link/map show`); nullopt when bpftool is missing.
std::optional<std::set<uint32_t>> bpftool_ids(const std::string& object);

std::string slurp(const std::filesystem::path& file);
// tests/reliability/REL in the source tree: the scenarios and corpora these tests run.
std::filesystem::path here(const std::string& rel);
// A fresh folder under the build tree (removed by the caller), never /tmp: what a test
// leaves behind must be visible next to its build.
std::filesystem::path scratch_dir(const std::string& name);

// `bpfault ARGS` started in the background with its stdout and stderr going to `log` (so a
// test can read the console while it runs) and TMPDIR set to `tmpdir`; not waited for.
Result<process::Child> start_bpfault(const std::vector<std::string>& args, const std::filesystem::path& log,
                                     const std::filesystem::path& tmpdir);

// `bpfault run --vm=VM interrupt/quick.json interrupt/server.json --json --junit` in `dir`,
// interrupted by `sig` once `serving` (given bpfault's pid and its console log) returns the pid
// of what serves (the tracee, or qemu; -1 when it never started: a failure). bpfault must exit
// 128 + sig within `limit`, that process must be gone, and the console, --json and --junit must
// hold the quick scenario (run `where`) and mark the run and the server scenario interrupted.
void expect_interrupted_server_run(const std::filesystem::path& dir, const std::string& vm, int sig,
                                   const std::function<pid_t(pid_t bpfault, const std::filesystem::path& log)>& serving,
                                   std::chrono::milliseconds limit, const std::string& where);

// A test that runs bpfault with BPF privileges (skipped, saying so, without them) in a scratch
// folder of its own, removed afterwards.
class ScratchTest : public ::testing::Test {
 protected:
  explicit ScratchTest(std::string name) : name_(std::move(name)) {}
  void SetUp() override;
  void TearDown() override;
  // The run record written by `bpfault run --json FILE` (a failed expectation when unreadable).
  nlohmann::json run_record(const std::filesystem::path& file) const;

  std::filesystem::path dir_;

 private:
  std::string name_;
};

}  // namespace bpfault::test
