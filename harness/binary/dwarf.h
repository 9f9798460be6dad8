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

#include "binary/dwarf_file.h"
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

// One entry of a location list: where a value is for PCs in [lo, hi).
struct DwarfLocRange {
  uint64_t lo = 0, hi = 0;
  std::vector<DwarfPiece> pieces;
};

// A parameter of an inlined copy (a DW_TAG_formal_parameter under a DW_TAG_inlined_subroutine):
// the abstract function's name and type, and the copy's own location list, whole, because
// where it is asked for (the copy's mark, from pclntab) is known only after DWARF is read.
struct DwarfInlinedParam {
  std::string name;
  const Type* type = nullptr;        // in the binary's TypeTable
  std::vector<DwarfLocRange> where;  // empty: DWARF gives it no location anywhere
};

// One DW_TAG_inlined_subroutine: a copy of `function` inlined into the compiled function whose
// code starts at `outer_low_pc`, called from `caller` (the outer function, or the copy it is
// nested in) at call_file:call_line.
struct DwarfInlined {
  std::string function;
  std::string caller;
  uint64_t outer_low_pc = 0;
  std::string call_file;  // base name, as pclntab's path ends
  int call_line = 0;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [lo, hi) of the copy's own code
  std::vector<DwarfInlinedParam> params;              // results excluded
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
  std::vector<DwarfInlined> inlined;       // every DW_TAG_inlined_subroutine, in .debug_info order
  std::vector<std::string> abstract_only;  // DW_AT_inline subprograms, candidates for "inlined everywhere"
  std::vector<uint64_t> prologue_ends;     // sorted
  std::optional<uint64_t> goid_offset, stack_hi_offset;
  // Where the runtime's type descriptor for `string` is, from runtime.types (Go's
  // DW_AT_go_runtime_type): what an `any` holding a string has as its type word.
  std::optional<uint64_t> string_type_offset;
  std::string producer;  // "Go cmd/compile go1.27.3; regabi"

  const DwarfFunction* function_at(uint64_t low_pc) const;
};

// Which units to read when not all: those that hold code at one of `pcs` (sorted) or are named
// as one of `packages` (Go names a unit by its package's import path), and the runtime's types.
// What is in no such unit is not in the DwarfInfo: its functions, inlined copies, prologue ends.
// In those units, only the focused functions' parameters are read (their types and locations:
// what else the units hold is read for its inlined copies, whose outer functions they are), by
// `entries` (sorted) for a compiled function and `names` (sorted) for an inlined copy.
struct DwarfFocus {
  std::vector<uint64_t> pcs;
  std::vector<std::string> packages;
  std::vector<uint64_t> entries;
  std::vector<std::string> names;
};

// Every unit, or those `focus` wants; an error when libdw cannot read what is there.
Result<DwarfInfo> read_dwarf(const ElfFile& elf, const DwarfFile& file, const DwarfFocus* focus = nullptr);

}  // namespace bpfault::binary
