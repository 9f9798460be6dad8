// A Go binary's DWARF opened for libdw, its compressed sections inflated by libdeflate.
// Go compresses DWARF with zlib (SHF_COMPRESSED), and libdw's dwarf_begin inflates every debug
// section with zlib before it answers anything: 162 ms for Go 1.27's cmd/go on the CI machine,
// where libdeflate inflates the same sections in 44 ms, and the ones bpfault reads (all but
// .debug_frame) on two threads in about half that (issue 21). libdw then reads an ELF image in
// memory that holds the inflated sections.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "binary/elf_file.h"
#include "diag/error.h"

struct Dwarf;
struct Elf;

namespace bpfault::binary {

class DwarfFile {
 public:
  // nullptr when the file has no .debug_info; an error when a section cannot be inflated or
  // libdw refuses what is there.
  static Result<std::unique_ptr<DwarfFile>> open(const ElfFile& elf);
  ~DwarfFile();
  DwarfFile(const DwarfFile&) = delete;
  DwarfFile& operator=(const DwarfFile&) = delete;

  Dwarf* dwarf() const { return dwarf_; }
  // The bytes of a debug section as libdw sees them (inflated); empty when absent.
  std::span<const uint8_t> section(std::string_view name) const;

 private:
  DwarfFile() = default;
  std::unique_ptr<uint8_t[]> image_;  // the ELF image libdw reads, when sections were inflated here
  size_t image_size_ = 0;
  Elf* elf_ = nullptr;  // over image_ (nullptr when libdw read the file itself)
  Dwarf* dwarf_ = nullptr;
};

}  // namespace bpfault::binary
