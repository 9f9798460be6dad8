// Builds Go programs into a content-addressed cache: a fixture (a folder with go.mod, standard
// library only) or a package of the user's module (or its test binary). The output name
// carries a hash of what the build reads (the module's files), the toolchain, the variant and
// the flags, so a build happens only when one of them changes, and a built file is never
// overwritten (uprobes stay on the inode they were attached to; see DESIGN.md).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "diag/error.h"
#include "process/go_toolchain.h"

namespace bpfault::process {

struct FixtureVariant {
  std::string goarch = "amd64";  // "386" for the stack ABI
  bool stripped = false;         // -ldflags="-s -w": no .symtab, no DWARF
  // Packages built with inlining off ("main", "example.com/kv"): a probe on a function inlined
  // everywhere gets an out-of-line copy to probe, at the cost of that package's inlining only.
  std::vector<std::string> no_inline;

  std::string tag() const;  // "", "-386", "-stripped", "-386-stripped", "-noinline" (the hash tells which)
};

struct BuiltFixture {
  std::filesystem::path binary;  // the content-addressed file
  std::string go_version;        // "1.27.4"
  bool from_cache = false;
};

// A package of the user's module, built offline: `-mod=vendor` when vendor/modules.txt exists
// (else -mod=readonly: the module cache as it is), GOPROXY=off, GOFLAGS and go's config file
// ignored, GOWORK=off; never a change to the module's go.mod or go.sum.
struct GoPackage {
  std::filesystem::path module;  // the folder with go.mod
  std::string package = ".";     // relative to the module
  std::vector<std::string> tags;
  std::string ldflags, gcflags;  // a stripped variant adds -s -w to ldflags
  std::map<std::string, std::string> env;
  bool test = false;      // `go test -c`: the package's test binary
  std::string buildmode;  // -buildmode: "pie" (what distributions ship), "" or "exe": Go's default

  std::string name() const;  // the output's base name: "shop-cmd-shop", "shop-store.test"
};

// `<dir of the bpfault executable>/fixtures-build`, or $BPFAULT_FIXTURE_CACHE.
std::filesystem::path default_fixture_cache();

// Prints progress ("building fixture demo with go1.27.4 ...") through `progress` when it builds.
Result<BuiltFixture> build_fixture(const std::filesystem::path& source_dir, const GoToolchain& go,
                                   const FixtureVariant& variant, const std::filesystem::path& cache_dir,
                                   const std::function<void(const std::string&)>& progress = {});

// The same for a package: a dependency missing from both vendor/ and the module cache is
// named in the error, with the command that fetches it.
Result<BuiltFixture> build_package(const GoPackage& pkg, const GoToolchain& go, const FixtureVariant& variant,
                                   const std::filesystem::path& cache_dir,
                                   const std::function<void(const std::string&)>& progress = {});

// A program bpfault writes itself: the standard-library donor of a stripped binary (its DWARF
// describes the standard-library functions the binary links; binary/stdlib_signatures.h).
// Its files go to a folder of the cache named by their hash, with a go.mod, and it is built
// and cached like a fixture (GOARCH, env and tags as given).
struct GeneratedProgram {
  std::string name;                        // the output's base name: "stdlib-go1.24.4"
  std::string main_go;                     // package main
  std::map<std::string, std::string> env;  // CGO_ENABLED, GOAMD64, GO386, GOEXPERIMENT
  std::vector<std::string> tags;
};

// A failed build's error carries go's output (the compiler's "main.go:LINE:" errors) in `what`.
Result<BuiltFixture> build_generated(const GeneratedProgram& program, const GoToolchain& go, const std::string& goarch,
                                     const std::filesystem::path& cache_dir,
                                     const std::function<void(const std::string&)>& progress = {});

}  // namespace bpfault::process
