// Runs one scenario for real: resolve and build the program, analyse it, plan the probes,
// start the tracee held before exec, load and attach, release it, drain events until it
// exits, decode, check. Every failure becomes part of the record, never an exception.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "run/record.h"
#include "scenario/scenario.h"

namespace bpfault::run {

struct Options {
  std::filesystem::path fixtures_dir;   // --fixtures; empty: the fixtures/ folder above the scenario file
  std::filesystem::path fixture_cache;  // built fixtures; empty: next to the bpfault executable
  std::string go;                       // --go: overrides every scenario's toolchain
  std::map<std::string, std::filesystem::path> prebuilt;  // fixture key -> binary (the VM gets them built)
  std::function<void(const std::string&)> progress;       // "building fixture demo ..."
  double timeout_scale = 1;  // the VM runs everything ~15x slower than the host (TCG)
  bool inherit_output = false;  // the tracee writes to bpfault's stdout/stderr (trace), not captured
  pid_t attach_pid = 0;  // trace a running process instead of starting the target (bpfault trace -p)
  std::string user;      // --user: run every tracee as this user (overrides target.user)
  // Sees every hit as it is drained (bpfault trace prints them live).
  std::function<void(const ProbeRecord& probe, const Hit& hit)> on_hit;
};

struct ResolvedTarget {
  std::filesystem::path binary;
  std::string key;  // "demo-386@1.27": which build of which fixture (empty for a "binary" target)
};

// The program a scenario runs: a prebuilt or freshly built fixture, or its "binary".
Result<ResolvedTarget> resolve_target(const scenario::Scenario& s, const Options& o);

// The record of one scenario run, checked (status passed/failed), or with the error that
// stopped it (status error for bad input, skipped for a missing capability).
RunRecord execute(const scenario::Scenario& s, const Options& o);

}  // namespace bpfault::run
