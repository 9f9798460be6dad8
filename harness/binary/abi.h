// Where Go puts arguments and results (src/cmd/compile/abi-internal.md, unchanged 1.17-1.27):
// ABIInternal on amd64 assigns each value wholly to registers (RAX, RBX, RCX, RDI, RSI,
// R8-R11; X0-X14) or wholly to the stack; ABI0 (assembly, and everything on 386) puts every
// value on the stack. Also the cross-check of a computed location against DWARF's.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "binary/binary_info.h"
#include "binary/dwarf.h"

namespace bpfault::binary {

class AbiAssigner {
 public:
  // `stack_abi`: ABI0 or 386. `sp_base`: SP offset of the first stack argument at the probe
  // point (return address size plus whatever the prologue pushed before it).
  AbiAssigner(Arch arch, bool stack_abi, int sp_base);

  void assign(Value& v);            // fills v.pieces' locations and v.on_stack
  void start_results(int sp_base);  // pointer-align the stack sequence, reset the registers
  int next_int() const { return int_; }
  int next_float() const { return float_; }
  bool stack_abi() const { return stack_abi_; }
  uint64_t stack_size() const { return stack_; }  // bytes of the stack sequence so far

  // A hidden value taking `ints` integer and `floats` float registers (an omitted blank param).
  void skip_registers(Value& v, int ints, int floats);

 private:
  int ptr_;
  bool stack_abi_;
  int sp_base_;
  int int_ = 0, float_ = 0;
  uint64_t stack_ = 0;  // offset in the stack sequence (from the CFA)
};

// The amd64 ABI integer register index (0 rax .. 8 r11) of a DWARF register, or -1;
// the XMM number of a DWARF register, or -1.
int abi_int_index(int dwreg);
int abi_xmm_index(int dwreg);
std::string describe(const std::vector<DwarfPiece>& loc);  // "rbx,rcx", "cfa+8", "?"

// Compares where the ABI put `v` at the function's entry with DWARF's entry location;
// the disagreement in words, or nullopt when they agree. `sp_base`: as given to AbiAssigner.
std::optional<std::string> cross_check(const Value& v, const std::vector<DwarfPiece>& dwarf, int sp_base);

}  // namespace bpfault::binary
