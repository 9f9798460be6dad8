// Every inlined copy of every function, from the binary's own inline trees (pclntab's
// FUNCDATA_InlTree and PCDATA_InlTreeIndex, which survive stripping): where it was inlined and
// whether a probe at its mark counts its calls one for one (README, "Inlined functions").
#pragma once

#include <vector>

#include "binary/binary_info.h"
#include "binary/code.h"
#include "binary/dwarf.h"
#include "binary/elf_file.h"
#include "binary/pclntab.h"

namespace bpfault::binary {

// Fills Function::inlined_copies: of every function, or of those `focus` names (globs, as
// glob_match takes them). A function with no out-of-line copy that only the inline trees name
// (a stripped binary has no DWARF to list it) is appended with entry 0, as DWARF's are.
void add_inlined_copies(const Pclntab& pcln, const ElfFile& elf, const CodeDecoder& decoder,
                        std::vector<Function>& functions, const std::vector<std::string>* focus = nullptr);

// Fills each copy's `params` (or `unlocated`, `params_why`) from its DW_TAG_inlined_subroutine:
// each parameter's location list evaluated at the copy's mark, a stack slot turned into an SP
// offset with the outer function's pc->SP-delta table (DWARF's frame base is the CFA).
void locate_copy_params(const DwarfInfo& dwarf, const Pclntab& pcln, Arch arch, std::vector<Function>& functions);

}  // namespace bpfault::binary
