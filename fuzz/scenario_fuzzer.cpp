// libFuzzer target: any bytes as a scenario file. parse() must return a scenario or an
// error, never crash, hang, leak or read out of bounds (the fuzz preset builds with ASan+UBSan).
#include <cstddef>
#include <cstdint>
#include <string>

#include "scenario/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto s = bpfault::scenario::parse(text, "fuzz.json");
  if (!s) (void)s.error().format();  // the message is built from the input too
  return 0;
}
