// libFuzzer target: return-site decoding. The first byte picks the architecture and the next
// eight the entry address; the rest is a function's machine code, as the analysis hands it
// to CodeDecoder::scan (RETs, prologue end, tail jumps).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "binary/code.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bpfault::binary;
  if (size < 9) return 0;
  static const CodeDecoder amd64(Arch::amd64), i386(Arch::i386);
  uint64_t entry;
  std::memcpy(&entry, data + 1, 8);
  entry &= 0x0000'7fff'ffff'f000;  // a user-space text address
  std::span<const uint8_t> code(data + 9, size - 9);
  CodeScan scan = (data[0] & 1 ? i386 : amd64).scan(code, entry);
  for (uint64_t ret : scan.rets)
    if (ret < entry || ret >= entry + code.size()) __builtin_trap();  // a RET outside the function
  if (scan.body && (scan.body < entry || scan.body > entry + code.size())) __builtin_trap();
  return 0;
}
