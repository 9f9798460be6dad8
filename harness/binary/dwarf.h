// What DWARF (read with libdw) tells bpfault: each compiled function's parameters and results
// with their Go types and their location at the entry PC (for cross-checking the ABI), which
// functions were inlined where, where each prologue ends, and the layout of runtime.g.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "binary/elf_file.h"
#include "binary/go_type.h"
#include "diag/error.h"

namespace bpfault::binary {

// One piece of a DWARF location expression, decoded from the few ops Go emits.
struct DwarfPiece {
  enum class Kind : uint8_t { reg, cfa, empty, other };  // empty: a DW_OP_piece with no location (unavailable)
  Kind kind = Kind::empty;
  int dwreg = 0;        // DWARF register number (amd64: 0 rax, 3 rbx, 2 rcx, 5 rdi, 4 rsi, 8-11, 17+ xmm)
  int64_t cfa_off = 0;  // CFA + cfa_off (DW_OP_call_frame_cfa, DW_OP_fbreg: Go's frame base is the CFA)
  uint64_t size = 0;    // 0: the whole value (no DW_OP_piece)
};

struct DwarfParam {
  std::string name;
  const Type* type = nullptr;                        // in the binary's TypeTable
  bool result = false;                               // DW_AT_variable_parameter
  std::optional<std::vector<DwarfPiece>> entry_loc;  // nullopt: not described at the entry PC
};

struct DwarfFunction {
  uint64_t low_pc = 0;
  std::string name;
  std::vector<DwarfParam> params;  // DWARF order: receiver, arguments, then results
};

struct DwarfInfo {
  std::shared_ptr<TypeTable> types;
  std::vector<DwarfFunction> functions;  // sorted by low_pc
  // Call sites ("main.go:30") of every function that was inlined somewhere, by Go name.
  std::unordered_map<std::string, std::vector<std::string>> inlined_at;
  std::vector<std::string> abstract_only;  // DW_AT_inline subprograms, candidates for "inlined everywhere"
  std::vector<uint64_t> prologue_ends;     // sorted
  std::optional<uint64_t> goid_offset, stack_hi_offset;
  // Where the runtime's type descriptor for `string` is, from runtime.types (Go's
  // DW_AT_go_runtime_type): what an `any` holding a string has as its type word.
  std::optional<uint64_t> string_type_offset;
  std::string producer;  // "Go cmd/compile go1.27.3; regabi"

  const DwarfFunction* function_at(uint64_t low_pc) const;
};

// nullopt when the file has no .debug_info; an error when libdw cannot read what is there.
Result<std::optional<DwarfInfo>> read_dwarf(const ElfFile& elf);

}  // namespace bpfault::binary
