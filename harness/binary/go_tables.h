// Where a Go executable keeps the tables bpfault reads (.gopclntab, .go.buildinfo), found the
// way Go's own tools find them: by section name when the linker kept one, else by content.
// An external linker merges .gopclntab into .data.rel.ro (stripped PIE, Go ≤ 1.25) and a file
// may have no section headers at all; the tables' headers still carry their magic.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "binary/elf_file.h"

namespace bpfault::binary {

struct GoTable {
  uint64_t addr = 0;
  std::span<const uint8_t> bytes;  // to the end of its section (or, without one, its segment)
};

// The pclntab (pcHeader onwards): `.gopclntab`, Go 1.19 PIE's `.data.rel.ro.gopclntab`, else
// the first pointer-aligned Go 1.18+ pcHeader (magic, pad, min LC, pointer size) whose table
// offsets fit the bytes after it.
std::optional<GoTable> find_pclntab(const ElfFile& elf);

// The build information: `.go.buildinfo`, else the 16-aligned "\xff Go buildinf:" magic in a
// writable segment (what `go version` reads).
std::optional<GoTable> find_buildinfo(const ElfFile& elf);

// The address of the runtime's firstmoduledata: the word holding the pclntab's address
// followed by one holding its funcnametab's (relocations applied).
std::optional<uint64_t> find_moduledata(const ElfFile& elf, uint64_t pclntab_addr, uint64_t funcnametab_addr);

}  // namespace bpfault::binary
