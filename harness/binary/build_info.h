// The build information every Go executable carries (.go.buildinfo, what `go version -m`
// prints): the toolchain, the main module, its dependencies and the build settings. It survives
// stripping, so it tells which toolchain and settings built a stripped binary.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "binary/binary_info.h"

namespace bpfault::binary {

struct GoModule {
  std::string path, version, sum;
  std::string replaced_by;  // "=> path version", when go.mod replaced it
};

struct BuildInfo {
  std::string go_version;  // "go1.24.4"
  std::string path;        // the main package's import path ("example.com/shop/cmd/shop", "command-line-arguments")
  GoModule main;           // the main module ("(devel)" as its version when built from a checkout)
  std::vector<GoModule> deps;
  std::vector<std::pair<std::string, std::string>> settings;  // in order: -ldflags, CGO_ENABLED, GOARCH, GOAMD64...

  const std::string* setting(std::string_view key) const;
};

// Go 1.18+ keeps the module information inline after the version; older binaries (pointers to
// runtime.modinfo) get the version only.
BuildInfo read_build_info(const BinaryInfo& info);

}  // namespace bpfault::binary
