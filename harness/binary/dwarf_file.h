// A Go binary's DWARF opened for libdw, its compressed sections inflated by libdeflate.
// Go compresses DWARF with zlib (SHF_COMPRESSED), and libdw's dwarf_begin inflates every debug
// section with zlib before it answers anything: 162 ms for Go 1.27's cmd/go on the CI machine,
// where libdeflate inflates the same sections in 44 ms, and the ones bpfault reads (all but
// .debug_frame) on two threads in about half that (issue 21). libdw then reads an ELF image in
// memory that holds the inflated sections. The location lists (a quarter of the bytes) are
// inflated in place the first time a location list is read: a focused analysis reads only its
// functions' parameters, and a function without any needs none.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
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
  // Before libdw reads a location list (DW_AT_location of a list form): inflates
  // .debug_loclists/.debug_loc into the image once, where libdw already points (zeros until
  // then). Thread-safe. Returns why they did not inflate ("" when they did); then they stay
  // zeros (libdw finds no list), and a reader must say its locations are unknown.
  const std::string& need_location_lists() const;
  // What need_location_lists returned, without inflating ("" also before it was called).
  const std::string& deferred_error() const { return deferred_error_; }
  // The bytes of a debug section as libdw sees them (inflated); empty when absent.
  std::span<const uint8_t> section(std::string_view name) const;

 private:
  struct Deferred;  // a section inflated on first use
  DwarfFile() = default;
  uint8_t* image_ = nullptr;  // the ELF image libdw reads (mmap'd: zeros until written), when inflated here
  size_t image_size_ = 0;
  std::vector<Deferred> deferred_;
  mutable std::once_flag deferred_once_;
  mutable std::string deferred_error_;
  Elf* elf_ = nullptr;  // over image_ (nullptr when libdw read the file itself)
  Dwarf* dwarf_ = nullptr;
};

}  // namespace bpfault::binary
