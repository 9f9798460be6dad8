// The one line of a verifier log that says why a program was refused.
#pragma once

#include <string>

namespace bpfault::kernel {

// The last line that is not a statistic ("processed N insns", "verification time", ...).
std::string verifier_reason(const std::string& log);

}  // namespace bpfault::kernel
