#include "diag/error.h"

#include <fmt/format.h>

namespace bpfault {

std::string Error::format() const {
  std::string out = where.empty() ? fmt::format("error: {}\n", what) : fmt::format("{}: error: {}\n", where, what);
  if (!hint.empty()) out += fmt::format("  hint: {}\n", hint);
  for (const Error& e : also) out += e.format();
  return out;
}

}  // namespace bpfault
