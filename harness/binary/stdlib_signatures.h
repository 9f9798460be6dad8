// Signatures for a stripped binary's standard-library functions. A binary built with
// -ldflags='-s -w' has no DWARF, but its standard-library packages are compiled code the same
// toolchain produces for every program: a small program that links the same functions, built
// with DWARF by the same Go release for the same GOARCH and settings (the "donor"), describes
// them. A function takes the donor's signature only when its code is provably the same
// function: same name, same size, same stack argument size (pclntab), same RET offsets; its
// probe point (prologue_end) is then the donor's too. Everything else (the user's own code, functions the donor does
// not link) keeps no signature, with the reason.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "binary/binary_info.h"
#include "binary/build_info.h"

namespace bpfault::binary {

// What the donor program must be: which toolchain, for which platform, and its source.
struct StdlibProgram {
  std::string go_version;                  // "go1.24.4", from the build info
  std::string release;                     // "1.24"
  std::string goarch;                      // "amd64", "386"
  std::map<std::string, std::string> env;  // CGO_ENABLED, GOAMD64, GO386 as the binary was built
  std::vector<std::string> tags;           // -tags of the binary's build
  std::string main_go;                     // package main, referencing every function it can name
  size_t references = 0;                   // functions main_go names
  std::string key;                         // names the donor among prebuilt programs (the VM's guest)
};

// Whether `name` belongs to the standard library: its import path's first element has no dot
// ("os", "encoding/json", "internal/poll", "vendor/golang.org/x/net/..."), and it is not main.
bool is_standard_library(std::string_view go_function);

// The donor for a binary without DWARF; nullopt when it has DWARF or names no Go version.
std::optional<StdlibProgram> stdlib_program(const BinaryInfo& stripped);

// Drops the lines `go build` reports errors for ("./main.go:12:3: ..."): a name that is not an
// expression Go accepts (an alias's method, a function only some build tags keep).
std::string drop_failing_references(const std::string& main_go, const std::string& compiler_errors);

// Where a stripped binary's standard-library data lies: a function whose code is the donor's
// (same name, size, stack arguments, RETs) names the same data with the same instruction, so
// each address the donor's instructions name is where the stripped binary's name theirs (an
// address inside a donor symbol gives the symbol's start too). An address named at two places
// by the donor and at two different ones here is dropped. Decoded on first use.
class DonorData {
 public:
  struct SameCode {
    uint64_t here, there, size;  // entries in the stripped binary and in the donor, code bytes
  };
  DonorData(const BinaryInfo& stripped, std::shared_ptr<const BinaryInfo> donor, std::vector<SameCode> same_code);
  const BinaryInfo& donor() const { return *donor_; }
  // The donor's address `there` in the stripped binary, if its code names it.
  std::optional<uint64_t> here(uint64_t there) const;
  // A standard-library package variable's address ("io/fs.ErrNotExist", "runtime.staticuint64s").
  std::optional<uint64_t> variable(std::string_view name) const;

 private:
  void decode() const;
  std::shared_ptr<const struct Image> stripped_;
  Arch arch_;
  std::shared_ptr<const BinaryInfo> donor_;
  std::vector<SameCode> same_code_;
  mutable std::once_flag decoded_;
  mutable std::unordered_map<uint64_t, uint64_t> here_;
};

// A copy of `stripped` whose standard-library functions carry the donor's signatures where the
// code agrees, each marked in `signature_from` ("the Go 1.24.4 standard library"), and whose
// standard-library variables are found through the donor (`donor_data`); the others get
// `no_signature` saying why.
std::shared_ptr<const BinaryInfo> with_stdlib_signatures(const BinaryInfo& stripped,
                                                         const std::shared_ptr<const BinaryInfo>& donor);

// The same copy when no donor could be had: every function's `no_signature` says why (`why`:
// "no Go 1.21 toolchain is installed ...").
std::shared_ptr<const BinaryInfo> without_stdlib_signatures(const BinaryInfo& stripped, const std::string& why);

}  // namespace bpfault::binary
