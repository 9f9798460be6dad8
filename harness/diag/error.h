// The one error mechanism of bpfault: Result<T> carries a value or an Error that says where,
// what and what to do. Exit codes are chosen from Error::kind in main only (cli/main.cpp).
#pragma once

#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace bpfault {

enum class ErrorKind {
  bad_input,    // a scenario, binary or command line we cannot accept (exit 2)
  unsupported,  // the kernel lacks a capability the work needs (exit 77)
  environment,  // the machine is missing something: a toolchain, a kernel image, privileges
  internal,     // a bug or an unexpected system failure
};

struct Error {
  ErrorKind kind = ErrorKind::bad_input;
  std::string where;        // "scenarios/x.json:/probes/0/when/nth", "fixtures-build/demo: main.f", ...
  std::string what;         // "expected a positive integer, got -1"
  std::string hint;         // what to do about it; may be empty
  std::vector<Error> also;  // further errors found in the same pass (a validator reports them all)

  // "where: what" then "  hint: ..." lines, then the others, like a compiler.
  std::string format() const;
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(ErrorKind kind, std::string where, std::string what, std::string hint = {}) {
  return tl::unexpected(Error{kind, std::move(where), std::move(what), std::move(hint), {}});
}

}  // namespace bpfault
