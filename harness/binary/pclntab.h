// The Go runtime's own function table (.gopclntab), which survives `-ldflags=-s -w`:
// every function's entry, end, name, flags, SP delta per PC and file:line per PC.
// Layout stable since Go 1.18 (runtime/symtab.go: pcHeader, _func; magic 0xfffffff0 for
// 1.18/1.19, 0xfffffff1 for 1.20+). Every read is bounds-checked: a corrupt table is an error.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "binary/elf_file.h"
#include "diag/error.h"

namespace bpfault::binary {

struct PclnFunc {
  uint64_t entry = 0, end = 0;  // end = next function's entry (includes int3 padding)
  std::string_view name;        // points into the mapped file
  int32_t args = 0;             // bytes of stack arguments + results (meaningful for ABI0)
  uint32_t pcsp = 0, pcfile = 0, pcln = 0, cu_offset = 0;
  uint8_t func_id = 0, flag = 0;
};

inline constexpr uint8_t kFuncFlagAsm = 4;  // internal/abi.FuncFlagAsm, stable since 1.18

class Pclntab {
 public:
  // `runtime_text`: the address of the runtime.text symbol when .symtab has it.
  static Result<Pclntab> parse(const ElfFile& elf, std::optional<uint64_t> runtime_text);

  uint64_t text_base() const { return text_base_; }
  const std::vector<PclnFunc>& funcs() const { return funcs_; }
  const PclnFunc* lookup(uint64_t pc) const;
  // funcID of compiler-made wrappers. Its number moves between Go versions (21 in 1.19,
  // 22 in 1.24, 23 in 1.27), but it is by far the most common non-zero funcID in any
  // program (every method, ABI and equality wrapper), so it is taken from the table itself.
  uint8_t wrapper_func_id() const { return wrapper_id_; }

  // The value of pc-value table `table` (pcsp, pcfile, pcln) at `pc` in the function at `entry`.
  std::optional<int32_t> pc_value(uint32_t table, uint64_t entry, uint64_t pc) const;
  std::optional<std::pair<std::string_view, int>> file_line(const PclnFunc& f, uint64_t pc) const;

  std::vector<std::string> warnings;  // text base disagreements and the like

 private:
  std::string_view file_name(const PclnFunc& f, int32_t index) const;

  std::span<const uint8_t> data_;  // the whole .gopclntab
  uint8_t min_lc_ = 1;
  uint64_t cu_off_ = 0, filetab_off_ = 0, pctab_off_ = 0;
  uint64_t text_base_ = 0;
  uint8_t wrapper_id_ = 0;
  std::vector<PclnFunc> funcs_;
};

}  // namespace bpfault::binary
