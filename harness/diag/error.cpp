#include "diag/error.h"

#include <fmt/format.h>

namespace bpfault {

std::string Error::format() const {
  std::string out = where.empty() ? fmt::format("error: {}\n", what) : fmt::format("{}: error: {}\n", where, what);
  if (!hint.empty()) out += fmt::format("  hint: {}\n", hint);
  for (const Error& e : also) out += e.format();
  return out;
}

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::unsupported: return 77;
    case ErrorKind::bad_input: return 2;
    case ErrorKind::environment: return 2;
    case ErrorKind::internal: return 3;
  }
  return 3;
}

}  // namespace bpfault
