// A read-only view of an ELF executable: the file mapped once, its section and segment headers
// checked against the file size, raw bytes by section or by virtual address. Parsed by hand
// (both classes, little-endian only) so a hostile or truncated file can only produce an error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "binary/binary_info.h"
#include "diag/error.h"

namespace bpfault::binary {

class ElfFile {
 public:
  struct Section {
    std::string_view name;
    uint32_t type = 0;
    uint64_t flags = 0, addr = 0, offset = 0, size = 0;
  };
  struct Segment {
    uint32_t type = 0, flags = 0;
    uint64_t offset = 0, vaddr = 0, filesz = 0, memsz = 0;
  };
  struct Symbol {
    std::string_view name;
    uint64_t value = 0, size = 0;
    uint8_t type = 0, bind = 0;  // STT_*, STB_*
  };

  static Result<ElfFile> open(const std::filesystem::path& path);
  ElfFile(ElfFile&& other) noexcept;
  ElfFile& operator=(ElfFile&&) = delete;
  ElfFile(const ElfFile&) = delete;
  ~ElfFile();

  const std::filesystem::path& path() const { return path_; }
  Arch arch() const { return arch_; }
  int ptr_size() const { return is64_ ? 8 : 4; }
  bool pie() const { return pie_; }
  uint64_t entry() const { return entry_; }  // e_entry
  int fd() const { return fd_; }
  std::span<const uint8_t> file() const { return {data_, size_}; }

  const std::vector<Section>& sections() const { return sections_; }
  const std::vector<Segment>& segments() const { return segments_; }
  const Section* section(std::string_view name) const;
  // The section's bytes in the file; empty for SHT_NOBITS. (Bounds were checked at open.)
  std::span<const uint8_t> bytes(const Section& s) const;
  // `len` bytes at virtual address `vaddr` backed by the file (PT_LOAD); empty when not there.
  std::span<const uint8_t> at_vaddr(uint64_t vaddr, uint64_t len) const;
  std::optional<uint64_t> file_offset(uint64_t vaddr) const;

  // The pointer-sized word at `vaddr` as the loaded program sees it: a PIE's RELA relocations
  // (R_*_RELATIVE) applied, since an external linker leaves their targets 0 in the file.
  std::optional<uint64_t> word_at(uint64_t vaddr) const;
  // Every word-aligned address of a writable segment (of any loaded one, with `writable_only`
  // false) whose word (relocated) equals `value`.
  std::vector<uint64_t> words_holding(uint64_t value, bool writable_only = true) const;
  // The section the address lies in, if the file has section headers and one holds it.
  const Section* section_at(uint64_t vaddr) const;

  bool has_symtab() const { return symtab_ != nullptr; }
  // Every symbol of .symtab with a name; stops early when `fn` returns false.
  template <class Fn>
  void for_each_symbol(Fn&& fn) const {
    for (size_t i = 1; i < symbol_count(); ++i) {
      Symbol s = symbol(i);
      if (!s.name.empty() && !fn(s)) return;
    }
  }

 private:
  ElfFile() = default;
  size_t symbol_count() const;
  Symbol symbol(size_t i) const;
  std::string_view string_at(const Section& strtab, uint64_t off) const;
  void read_relative_relocs();

  std::filesystem::path path_;
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  Arch arch_ = Arch::amd64;
  bool is64_ = true;
  bool pie_ = false;
  uint64_t entry_ = 0;
  std::vector<Section> sections_;
  std::vector<Segment> segments_;
  std::vector<std::pair<uint64_t, uint64_t>> relative_;  // R_*_RELATIVE: (where, addend), sorted by where
  const Section* symtab_ = nullptr;
  const Section* strtab_ = nullptr;
};

// Little-endian reads with bounds checks; nullopt when `off` + width runs past the end.
std::optional<uint64_t> read_le(std::span<const uint8_t> bytes, uint64_t off, int width);

}  // namespace bpfault::binary
