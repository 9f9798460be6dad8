// libFuzzer target: failpoint's term grammar (`50%3*return(io.EOF)->sleep(10)`), the one
// hand-written parser of the scenario format.
#include <cstddef>
#include <cstdint>
#include <string>

#include "scenario/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string term(reinterpret_cast<const char*>(data), size);
  auto steps = bpfault::scenario::parse_term(term, "fuzz.json:/probes/0/term");
  if (steps)
    for (const auto& st : *steps)
      if (st.probability <= 0 || st.probability > 100 ||
          (st.action == bpfault::scenario::Step::Action::delay && st.delay_ms == 0))
        __builtin_trap();  // parse_term promised a valid step
  return 0;
}
