#include "kernel/verifier_log.h"

#include <sstream>

namespace bpfault::kernel {

std::string verifier_reason(const std::string& log) {
  std::istringstream in(log);
  std::string line, last;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (line.empty() || line.starts_with("processed ") || line.starts_with("verification time") ||
        line.starts_with("stack depth") || line.starts_with("-- "))
      continue;
    last = line;
  }
  return last;
}

}  // namespace bpfault::kernel
