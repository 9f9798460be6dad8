// The Go runtime's own function table (.gopclntab), which survives `-ldflags=-s -w`:
// every function's entry, end, name, flags, SP delta per PC and file:line per PC.
// Layout stable since Go 1.18 (runtime/symtab.go: pcHeader, _func; magic 0xfffffff0 for
// 1.18/1.19, 0xfffffff1 for 1.20+). Every read is bounds-checked: a corrupt table is an error.
#pragma once

#include <cstdint>
#include <functional>
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
  uint32_t npcdata = 0;   // PCDATA tables, their offsets follow the _func header
  uint8_t nfuncdata = 0;  // FUNCDATA offsets (from moduledata.gofunc), after the PCDATA ones
  uint64_t func_off = 0;  // where the _func header is in .gopclntab
};

// internal/abi's FuncFlag bits, stable since 1.18
inline constexpr uint8_t kFuncFlagTopFrame = 1;  // the outermost frame of a stack: goexit, mstart, rt0_go
inline constexpr uint8_t kFuncFlagSPWrite = 2;   // writes SP other than by a constant: cannot be unwound past
inline constexpr uint8_t kFuncFlagAsm = 4;
inline constexpr int kPcdataInlTreeIndex = 2;  // abi.PCDATA_InlTreeIndex
inline constexpr int kFuncdataInlTree = 3;     // abi.FUNCDATA_InlTree
inline constexpr int kFuncdataArgInfo = 5;     // abi.FUNCDATA_ArgInfo

// The parameters FUNCDATA_ArgInfo lists (cmd/compile's EmitArgInfo, which Go's traceback
// prints): every parameter in order, blank and unnamed ones included (DWARF leaves them out
// before Go 1.22), a shape instance's dictionary left out; only the first 10 words of them.
// Each parameter's shape without its offsets, as Go's traceback would print it: a word by its
// size, an aggregate in braces (a string, slice, interface, complex, array or struct; `{}` when
// empty, `{...}` nested 5 deep), `_` for a word whose offset does not fit: "8", "{8 8}", "{4 {}}".
struct ArgInfo {
  std::vector<std::string> params;  // the last one cut short when the list is not complete
  bool complete = false;            // false: the 10-word limit stopped the list, more may follow
};

// One entry of a function's inline tree (runtime.inlinedCall): a call the compiler inlined.
struct InlinedCall {
  std::string_view name;  // the inlined function, as Go prints it
  uint8_t func_id = 0;
  int32_t parent_pc = 0;  // offset from the outer function's entry of a PC at the call site
};

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
  // Each run [lo, hi) of one value of pc-value table `table` in the function at `entry`, in
  // order; stops at the table's end or at damage.
  void pc_runs(uint32_t table, uint64_t entry, const std::function<void(uint64_t, uint64_t, int32_t)>& fn) const;
  // The PCDATA table's offset in the pc-value tables (0: the function has none).
  uint32_t pcdata_table(const PclnFunc& f, int table) const;
  // PCDATA table `table` at `pc` (-1 where the function has no such table, as Go's pcdatavalue).
  std::optional<int32_t> pcdata(const PclnFunc& f, int table, uint64_t pc) const;
  // Entry `index` of the function's inline tree (FUNCDATA_InlTree); nullopt when it has none,
  // the tree's bytes are not in the file, or the entry is damaged.
  std::optional<InlinedCall> inlined_call(const PclnFunc& f, int32_t index) const;
  // moduledata.gofunc, the base of FUNCDATA offsets; 0 when it was not found.
  uint64_t gofunc() const { return gofunc_; }
  // The function's FUNCDATA_ArgInfo; nullopt when it has none, its bytes are not in the file,
  // or they are damaged.
  std::optional<ArgInfo> arg_info(const PclnFunc& f) const;

  std::vector<std::string> warnings;  // text base disagreements and the like

 private:
  std::string_view file_name(const PclnFunc& f, int32_t index) const;
  std::optional<uint32_t> funcdata_offset(const PclnFunc& f, int index) const;
  std::optional<InlinedCall> inlined_call_at(uint64_t gofunc_off, int32_t index) const;
  void find_gofunc(const ElfFile& elf, std::optional<uint64_t> moduledata);

  std::span<const uint8_t> data_;  // the whole .gopclntab
  uint8_t min_lc_ = 1;
  uint64_t cu_off_ = 0, filetab_off_ = 0, pctab_off_ = 0;
  uint64_t text_base_ = 0;
  uint64_t funcname_off_ = 0;
  bool go120_ = true;                      // magic 0xfffffff1: 44-byte _func, 16-byte inlinedCall
  uint64_t gofunc_ = 0;                    // moduledata.gofunc
  std::span<const uint8_t> gofunc_bytes_;  // the file's bytes from gofunc to its segment's end
  uint8_t wrapper_id_ = 0;
  std::vector<PclnFunc> funcs_;
};

}  // namespace bpfault::binary
