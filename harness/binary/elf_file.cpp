#include "binary/elf_file.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace bpfault::binary {
namespace fs = std::filesystem;

std::optional<uint64_t> read_le(std::span<const uint8_t> bytes, uint64_t off, int width) {
  if (off > bytes.size() || bytes.size() - off < static_cast<uint64_t>(width)) return std::nullopt;
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | bytes[off + i];
  return v;
}

namespace {

bool in_file(uint64_t off, uint64_t len, size_t file_size) { return off <= file_size && len <= file_size - off; }

}  // namespace

Result<ElfFile> ElfFile::open(const fs::path& path) {
  const std::string where = path.string();
  ElfFile f;
  f.path_ = path;
  f.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd_ < 0) return fail(ErrorKind::bad_input, where, fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat st {};
  if (fstat(f.fd_, &st) != 0 || !S_ISREG(st.st_mode))
    return fail(ErrorKind::bad_input, where, "not a regular file", "give the path of a Go executable");
  f.size_ = static_cast<size_t>(st.st_size);
  if (f.size_ < EI_NIDENT)
    return fail(ErrorKind::bad_input, where, fmt::format("not an ELF file ({} bytes)", f.size_),
                "bpfault analyses Go executables built for linux/amd64 or linux/386");
  // MAP_POPULATE: the whole file is read anyway (its hash is the cache key), and mapping it at
  // once costs less than a fault per page (24 MB: 6 000 faults)
  void* map = mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, f.fd_, 0);
  if (map == MAP_FAILED)
    return fail(ErrorKind::environment, where, fmt::format("cannot map the file: {}", std::strerror(errno)));
  f.data_ = static_cast<const uint8_t*>(map);

  if (std::memcmp(f.data_, ELFMAG, SELFMAG) != 0)
    return fail(ErrorKind::bad_input, where, "not an ELF file (no \\x7fELF magic)",
                "bpfault analyses Go executables built for linux/amd64 or linux/386");
  if (f.data_[EI_DATA] != ELFDATA2LSB)
    return fail(ErrorKind::bad_input, where, "big-endian ELF: only little-endian amd64 and 386 are supported");
  if (f.data_[EI_CLASS] != ELFCLASS64 && f.data_[EI_CLASS] != ELFCLASS32)
    return fail(ErrorKind::bad_input, where, fmt::format("unknown ELF class {}", f.data_[EI_CLASS]));
  f.is64_ = f.data_[EI_CLASS] == ELFCLASS64;
  const size_t ehsize = f.is64_ ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  if (f.size_ < ehsize) return fail(ErrorKind::bad_input, where, "truncated ELF file: the header is cut off");

  uint16_t type, machine, phentsize, phnum, shentsize, shnum, shstrndx;
  uint64_t phoff, shoff;
  if (f.is64_) {
    Elf64_Ehdr h;
    std::memcpy(&h, f.data_, sizeof h);
    type = h.e_type, machine = h.e_machine, phoff = h.e_phoff, shoff = h.e_shoff, f.entry_ = h.e_entry;
    phentsize = h.e_phentsize, phnum = h.e_phnum, shentsize = h.e_shentsize, shnum = h.e_shnum, shstrndx = h.e_shstrndx;
  } else {
    Elf32_Ehdr h;
    std::memcpy(&h, f.data_, sizeof h);
    type = h.e_type, machine = h.e_machine, phoff = h.e_phoff, shoff = h.e_shoff, f.entry_ = h.e_entry;
    phentsize = h.e_phentsize, phnum = h.e_phnum, shentsize = h.e_shentsize, shnum = h.e_shnum, shstrndx = h.e_shstrndx;
  }
  if (type != ET_EXEC && type != ET_DYN)
    return fail(ErrorKind::bad_input, where, fmt::format("not an executable (ELF type {})", type),
                "give the linked Go program, not an object file or archive");
  if (machine == EM_X86_64 && f.is64_)
    f.arch_ = Arch::amd64;
  else if (machine == EM_386 && !f.is64_)
    f.arch_ = Arch::i386;
  else
    return fail(ErrorKind::bad_input, where, fmt::format("unsupported machine {} ({}-bit)", machine, f.is64_ ? 64 : 32),
                "bpfault handles linux/amd64 (register ABI) and linux/386 (stack ABI) Go programs");
  f.pie_ = type == ET_DYN;

  const size_t want_ph = f.is64_ ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  const size_t want_sh = f.is64_ ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
  if (phnum && (phentsize != want_ph || !in_file(phoff, uint64_t(phnum) * phentsize, f.size_)))
    return fail(ErrorKind::bad_input, where, "truncated or corrupt ELF file: program headers lie outside the file");
  if (shnum && (shentsize != want_sh || !in_file(shoff, uint64_t(shnum) * shentsize, f.size_)))
    return fail(ErrorKind::bad_input, where, "truncated or corrupt ELF file: section headers lie outside the file",
                "the file may have been cut short while copying; rebuild it");
  // No section headers (sstrip, some packers): everything bpfault needs is found by content
  // in the loadable segments (go_tables.h), as `go version` does.

  for (size_t i = 0; i < phnum; ++i) {
    Segment s;
    const uint8_t* p = f.data_ + phoff + i * phentsize;
    if (f.is64_) {
      Elf64_Phdr h;
      std::memcpy(&h, p, sizeof h);
      s = {h.p_type, h.p_flags, h.p_offset, h.p_vaddr, h.p_filesz, h.p_memsz};
    } else {
      Elf32_Phdr h;
      std::memcpy(&h, p, sizeof h);
      s = {h.p_type, h.p_flags, h.p_offset, h.p_vaddr, h.p_filesz, h.p_memsz};
    }
    // A PT_LOAD reaching past the end means the file was cut: code there cannot be read.
    if (s.type == PT_LOAD && !in_file(s.offset, s.filesz, f.size_))
      return fail(ErrorKind::bad_input, where,
                  "truncated ELF file: a loadable segment extends past the end of the file",
                  "the file may have been cut short while copying; rebuild it");
    f.segments_.push_back(s);
  }

  std::vector<uint32_t> name_offsets;
  for (size_t i = 0; i < shnum; ++i) {
    Section s;
    uint32_t name;
    const uint8_t* p = f.data_ + shoff + i * shentsize;
    if (f.is64_) {
      Elf64_Shdr h;
      std::memcpy(&h, p, sizeof h);
      name = h.sh_name, s.type = h.sh_type, s.flags = h.sh_flags, s.addr = h.sh_addr, s.offset = h.sh_offset,
      s.size = h.sh_size;
    } else {
      Elf32_Shdr h;
      std::memcpy(&h, p, sizeof h);
      name = h.sh_name, s.type = h.sh_type, s.flags = h.sh_flags, s.addr = h.sh_addr, s.offset = h.sh_offset,
      s.size = h.sh_size;
    }
    if (s.type != SHT_NOBITS && s.type != SHT_NULL && !in_file(s.offset, s.size, f.size_))
      return fail(ErrorKind::bad_input, where,
                  fmt::format("truncated ELF file: section {} extends past the end of the file", i),
                  "the file may have been cut short while copying; rebuild it");
    name_offsets.push_back(name);
    f.sections_.push_back(s);
  }
  if (shnum && shstrndx >= shnum) return fail(ErrorKind::bad_input, where, "corrupt ELF file: no section name table");
  if (shnum) {
    const Section names = f.sections_[shstrndx];
    for (size_t i = 0; i < f.sections_.size(); ++i) f.sections_[i].name = f.string_at(names, name_offsets[i]);
  }

  // .symtab's sh_link names its string table; a stripped binary has neither.
  for (size_t i = 0; i < shnum; ++i) {
    if (f.sections_[i].type != SHT_SYMTAB) continue;
    const uint8_t* p = f.data_ + shoff + i * shentsize;
    uint32_t link;  // copied out: the header table need not be aligned (UBSan, found by fuzz_elf)
    std::memcpy(&link, p + (f.is64_ ? offsetof(Elf64_Shdr, sh_link) : offsetof(Elf32_Shdr, sh_link)), sizeof link);
    if (link < shnum) {
      f.symtab_ = &f.sections_[i];
      f.strtab_ = &f.sections_[link];
    }
    break;
  }
  f.read_relative_relocs();
  return f;
}

// DT_RELA/DT_RELASZ from PT_DYNAMIC: found without section headers. 386 uses REL, whose
// addend stays in the file, so only RELA needs applying. (DT_RELR, packed relocations, is
// not read: bookworm's linkers do not emit it by default.)
void ElfFile::read_relative_relocs() {
  const int w = ptr_size();
  for (const auto& seg : segments_) {
    if (seg.type != PT_DYNAMIC) continue;
    auto dyn = std::span<const uint8_t>(data_, size_);
    if (!in_file(seg.offset, seg.filesz, size_)) return;
    dyn = dyn.subspan(seg.offset, seg.filesz);
    uint64_t rela = 0, relasz = 0, relaent = is64_ ? sizeof(Elf64_Rela) : sizeof(Elf32_Rela);
    for (uint64_t o = 0; o + 2 * w <= dyn.size(); o += 2 * w) {
      const uint64_t tag = *read_le(dyn, o, w), val = *read_le(dyn, o + w, w);
      if (tag == DT_NULL) break;
      if (tag == DT_RELA) rela = val;
      if (tag == DT_RELASZ) relasz = val;
      if (tag == DT_RELAENT) relaent = val;
    }
    if (!rela || !relasz || relaent != (is64_ ? sizeof(Elf64_Rela) : sizeof(Elf32_Rela))) return;
    auto table = at_vaddr(rela, relasz);
    const uint32_t relative = is64_ ? R_X86_64_RELATIVE : R_386_RELATIVE;
    for (uint64_t o = 0; o + relaent <= table.size(); o += relaent) {
      const uint64_t info = *read_le(table, o + w, w);
      const uint32_t type = is64_ ? ELF64_R_TYPE(info) : ELF32_R_TYPE(info);
      if (type == relative) relative_.emplace_back(*read_le(table, o, w), *read_le(table, o + 2 * w, w));
    }
    std::sort(relative_.begin(), relative_.end());
    return;
  }
}

std::optional<uint64_t> ElfFile::word_at(uint64_t vaddr) const {
  auto it = std::lower_bound(relative_.begin(), relative_.end(), std::pair<uint64_t, uint64_t>{vaddr, 0});
  if (it != relative_.end() && it->first == vaddr) return it->second;
  return read_le(at_vaddr(vaddr, ptr_size()), 0, ptr_size());
}

std::vector<uint64_t> ElfFile::words_holding(uint64_t value, bool writable_only) const {
  std::vector<uint64_t> out;
  const int w = ptr_size();
  for (const auto& [where, addend] : relative_)
    if (addend == value) out.push_back(where);
  for (const auto& s : segments_) {
    if (s.type != PT_LOAD || (writable_only && !(s.flags & PF_W))) continue;
    const uint8_t* b = data_ + s.offset;
    for (uint64_t o = (w - s.vaddr % w) % w; o + w <= s.filesz; o += w) {
      uint64_t v = 0;
      std::memcpy(&v, b + o, w);  // little-endian host and file (checked at open)
      if (v == value) out.push_back(s.vaddr + o);
    }
  }
  return out;
}

const ElfFile::Section* ElfFile::section_at(uint64_t vaddr) const {
  for (const auto& s : sections_)
    if (s.addr && (s.flags & SHF_ALLOC) && vaddr >= s.addr && vaddr - s.addr < s.size) return &s;
  return nullptr;
}

ElfFile::ElfFile(ElfFile&& o) noexcept
    : path_(std::move(o.path_)),
      fd_(o.fd_),
      data_(o.data_),
      size_(o.size_),
      arch_(o.arch_),
      is64_(o.is64_),
      pie_(o.pie_),
      entry_(o.entry_),
      sections_(std::move(o.sections_)),
      segments_(std::move(o.segments_)),
      relative_(std::move(o.relative_)) {
  // The section pointers point into the vector, whose storage moved along with it.
  symtab_ = o.symtab_;
  strtab_ = o.strtab_;
  o.fd_ = -1;
  o.data_ = nullptr;
  o.size_ = 0;
  o.symtab_ = o.strtab_ = nullptr;
}

ElfFile::~ElfFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) close(fd_);
}

std::string_view ElfFile::string_at(const Section& strtab, uint64_t off) const {
  auto b = bytes(strtab);
  if (off >= b.size()) return {};
  const char* s = reinterpret_cast<const char*>(b.data() + off);
  const void* nul = std::memchr(s, 0, b.size() - off);
  return nul ? std::string_view(s, static_cast<const char*>(nul) - s) : std::string_view{};
}

const ElfFile::Section* ElfFile::section(std::string_view name) const {
  for (const auto& s : sections_)
    if (s.name == name) return &s;
  return nullptr;
}

std::span<const uint8_t> ElfFile::bytes(const Section& s) const {
  if (s.type == SHT_NOBITS || s.type == SHT_NULL) return {};
  return {data_ + s.offset, static_cast<size_t>(s.size)};
}

std::optional<uint64_t> ElfFile::file_offset(uint64_t vaddr) const {
  for (const auto& s : segments_)
    if (s.type == PT_LOAD && vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) return vaddr - s.vaddr + s.offset;
  return std::nullopt;
}

std::span<const uint8_t> ElfFile::at_vaddr(uint64_t vaddr, uint64_t len) const {
  for (const auto& s : segments_)
    if (s.type == PT_LOAD && vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz && len <= s.filesz - (vaddr - s.vaddr))
      return {data_ + s.offset + (vaddr - s.vaddr), static_cast<size_t>(len)};
  return {};
}

size_t ElfFile::symbol_count() const {
  if (!symtab_) return 0;
  return symtab_->size / (is64_ ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym));
}

ElfFile::Symbol ElfFile::symbol(size_t i) const {
  Symbol s;
  uint32_t name;
  unsigned char info;
  if (is64_) {
    Elf64_Sym e;
    std::memcpy(&e, data_ + symtab_->offset + i * sizeof e, sizeof e);
    name = e.st_name, info = e.st_info, s.value = e.st_value, s.size = e.st_size;
  } else {
    Elf32_Sym e;
    std::memcpy(&e, data_ + symtab_->offset + i * sizeof e, sizeof e);
    name = e.st_name, info = e.st_info, s.value = e.st_value, s.size = e.st_size;
  }
  s.type = info & 0xf;
  s.bind = info >> 4;
  s.name = string_at(*strtab_, name);
  return s;
}

}  // namespace bpfault::binary
