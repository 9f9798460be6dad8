// The program a scenario runs: a fixture built (or prebuilt for the VM), or a binary as given.
// Between process/ and binary/ (which build and read executables) and run/ (which runs them).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "diag/error.h"
#include "scenario/scenario.h"

namespace bpfault::target {

struct Options {
  std::filesystem::path fixtures_dir;   // --fixtures; empty: the fixtures/ folder above the scenario file
  std::filesystem::path fixture_cache;  // built fixtures; empty: next to the bpfault executable
  std::string go;                       // --go: overrides every scenario's toolchain
  std::map<std::string, std::filesystem::path> prebuilt;  // fixture key -> binary (the VM gets them built)
  std::function<void(const std::string&)> progress;       // "building fixture demo ..."
};

struct ResolvedTarget {
  std::filesystem::path binary;
  std::string key;  // "demo-386@1.27": which build of which fixture or package (empty for a "binary" target)
                    // ("demo-noinline@1.27+noinline:main": with inlining off in those packages; no "=",
                    // which ends the key in --prebuilt KEY=PATH)
};

// The program a scenario runs: a prebuilt or freshly built fixture, or its "binary".
// `no_inline`: packages to build with inlining off (a probed function is inlined everywhere);
// such a build is a variant of its own, cached and keyed apart. Ignored for a "binary" target.
Result<ResolvedTarget> resolve(const scenario::Scenario& s, const Options& o,
                               const std::vector<std::string>& no_inline = {});

// `--go` and `--variants` choose how bpfault builds a program; a binary target is run as it
// is, so asking for them there is refused rather than ignored (a matrix run would otherwise
// report the same binary as "go1.24" and "go1.27"). `go` and `variants` as given ("" = not).
Result<void> check_build_choices(const scenario::Scenario& s, std::string_view go, std::string_view variants);

}  // namespace bpfault::target
