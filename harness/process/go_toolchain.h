// Go toolchains bpfault can build fixtures with: bookworm's /usr/lib/go-1.NN and those
// `bpfault setup --go` unpacked under the cache (diag::cache_root()/go/1.NN/usr/lib/go-1.NN).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "diag/error.h"

namespace bpfault::process {

struct GoToolchain {
  std::string version;  // "1.27.4", from GOROOT/VERSION
  std::string release;  // "1.27"
  std::filesystem::path goroot;

  std::filesystem::path go() const { return goroot / "bin" / "go"; }
};

// Every toolchain found, oldest first. Directories searched: $BPFAULT_GO_ROOTS (colon-separated
// GOROOTs), /usr/lib/go-1.*, and <cache>/go/*/usr/lib/go-*.
std::vector<GoToolchain> find_toolchains();

// "" or "default": $BPFAULT_GO if set, else the oldest found (bookworm's 1.19);
// "1.24": that release; "newest": the newest found.
Result<GoToolchain> find_toolchain(std::string_view want);

}  // namespace bpfault::process
