// A stripped binary's standard-library signatures (binary/stdlib_signatures.h), with the donor
// program built by the toolchain its build info names (process/fixture.h), or prebuilt (the
// VM's guest builds nothing: the host sends the donor with the scenario's program).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "binary/binary_info.h"
#include "target/target.h"

namespace bpfault::run {

struct StdlibDonor {
  std::string key;  // for --prebuilt KEY=PATH
  std::filesystem::path binary;
};

struct WithStdlib {
  std::shared_ptr<const binary::BinaryInfo> info;  // `info` itself when it has DWARF
  std::optional<StdlibDonor> donor;                // the program whose DWARF gave the signatures
};

// Never fails: when no donor can be had (no toolchain of that release, a build that fails),
// the functions' `no_signature` and the binary's `stdlib_signatures` say why, and what needs
// a signature is refused with that reason.
WithStdlib add_stdlib_signatures(const std::shared_ptr<const binary::BinaryInfo>& info, const target::Options& o);

}  // namespace bpfault::run
