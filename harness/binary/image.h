// The state a BinaryInfo keeps after analysis: the mapped file (for offsets, symbols and
// variables), the parsed pclntab (for symbolizing PCs, stripped or not), and the DWARF, opened
// once when something asks (a variable's type, a type's descriptor).
#pragma once

#include <memory>
#include <mutex>

#include "binary/dwarf_file.h"
#include "binary/elf_file.h"
#include "binary/pclntab.h"

namespace bpfault::binary {

struct Image {
  Image(ElfFile e, Pclntab p, std::unique_ptr<DwarfFile> d = nullptr)
      : elf(std::move(e)), pclntab(std::move(p)), dwarf_(std::move(d)), opened_(dwarf_ != nullptr) {}

  ElfFile elf;
  Pclntab pclntab;  // its spans point into elf's mapping, which lives as long as this Image

  // The DWARF, or nullptr when the file has none (or libdw cannot read it).
  const DwarfFile* dwarf() const {
    std::lock_guard lock(mu_);
    if (!opened_) {
      opened_ = true;
      if (auto d = DwarfFile::open(elf)) dwarf_ = std::move(*d);
    }
    return dwarf_.get();
  }

 private:
  mutable std::mutex mu_;
  mutable std::unique_ptr<DwarfFile> dwarf_;
  mutable bool opened_;
};

}  // namespace bpfault::binary
