// Fixtures for tests: built on demand into the build tree's fixture cache, with the same
// builder bpfault uses (so a test binary is exactly what a scenario would probe).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "process/fixture.h"
#include "process/go_toolchain.h"

namespace bpfault::test {

std::filesystem::path source_dir();                          // the repository
std::filesystem::path fixture_dir(const std::string& name);  // fixtures/NAME

// Builds fixtures/NAME with Go `release` ("" = default toolchain) in `variant`; fails the
// calling test (ADD_FAILURE) and returns an empty path when the build fails.
std::filesystem::path fixture(const std::string& name, const std::string& release = "",
                              const process::FixtureVariant& variant = {});

// Every installed toolchain's release ("1.19", "1.24", "1.27"), oldest first.
std::vector<std::string> go_releases();

// True when this process may load BPF programs (root or CAP_BPF+CAP_PERFMON).
bool can_load_bpf();

}  // namespace bpfault::test
