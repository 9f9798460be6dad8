// Builds a Go fixture (a folder with go.mod, standard library only) into a content-addressed
// cache: the output name carries a hash of the sources, the toolchain and the variant, so a
// build happens only when one of them changes, and a built file is never overwritten (uprobes
// stay on the inode they were attached to; see DESIGN.md).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "diag/error.h"
#include "process/go_toolchain.h"

namespace bpfault::process {

struct FixtureVariant {
  std::string goarch = "amd64";  // "386" for the stack ABI
  bool stripped = false;         // -ldflags="-s -w": no .symtab, no DWARF

  std::string tag() const;       // "", "-386", "-stripped", "-386-stripped"
};

struct BuiltFixture {
  std::filesystem::path binary;  // the content-addressed file
  std::string go_version;        // "1.27.4"
  bool from_cache = false;
};

// `<dir of the bpfault executable>/fixtures-build`, or $BPFAULT_FIXTURE_CACHE.
std::filesystem::path default_fixture_cache();

// Prints progress ("building fixture demo with go1.27.4 ...") through `progress` when it builds.
Result<BuiltFixture> build_fixture(const std::filesystem::path& source_dir, const GoToolchain& go,
                                   const FixtureVariant& variant, const std::filesystem::path& cache_dir,
                                   const std::function<void(const std::string&)>& progress = {});

}  // namespace bpfault::process
