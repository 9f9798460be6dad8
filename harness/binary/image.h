// The state a BinaryInfo keeps after analysis: the mapped file (for offsets, symbols and
// variables) and the parsed pclntab (for symbolizing PCs, stripped or not).
#pragma once

#include "binary/elf_file.h"
#include "binary/pclntab.h"

namespace bpfault::binary {

struct Image {
  ElfFile elf;
  Pclntab pclntab;  // its spans point into elf's mapping, which lives as long as this Image
};

}  // namespace bpfault::binary
