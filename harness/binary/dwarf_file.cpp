#include "binary/dwarf_file.h"

#include <elf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <libdeflate.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <new>
#include <string>

#include <fmt/format.h>

namespace bpfault::binary {
namespace {

constexpr uint64_t kMaxInflated = uint64_t{1} << 32;  // a section claiming more is damage, not DWARF

struct Inflate {
  std::string name;
  std::span<const uint8_t> in;  // the deflate stream (after the compression header), or the raw bytes
  uint64_t size = 0;            // inflated
  bool compressed = false;
  uint64_t at = 0;  // offset in the image
};

// Location lists: read only for the parameters of the functions analysed, inflated when one is.
bool deferred(const Inflate& s) { return s.compressed && (s.name == ".debug_loclists" || s.name == ".debug_loc"); }

std::string inflate_all(std::span<const Inflate* const> todo, uint8_t* image) {
  libdeflate_decompressor* d = libdeflate_alloc_decompressor();
  if (!d) return "libdeflate could not allocate a decompressor";
  std::string err;
  for (const Inflate* s : todo) {
    if (!s->compressed) {
      std::memcpy(image + s->at, s->in.data(), s->size);
      continue;
    }
    size_t out = 0;
    const auto r = libdeflate_zlib_decompress(d, s->in.data(), s->in.size(), image + s->at, s->size, &out);
    if (r != LIBDEFLATE_SUCCESS || out != s->size) {
      err = fmt::format("{} does not inflate to the {} bytes its header says (libdeflate: {})", s->name, s->size,
                        r == LIBDEFLATE_SUCCESS ? fmt::format("{} bytes", out) : fmt::format("error {}", int(r)));
      break;
    }
  }
  libdeflate_free_decompressor(d);
  return err;
}

template <class Ehdr, class Shdr>
void write_headers(uint8_t* image, const std::vector<Inflate>& secs, uint64_t names_at, const std::string& names,
                   uint64_t shdrs_at, uint16_t machine, uint8_t elf_class) {
  Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = elf_class;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = machine;
  eh.e_version = EV_CURRENT;
  eh.e_ehsize = sizeof(Ehdr);
  eh.e_shoff = shdrs_at;
  eh.e_shentsize = sizeof(Shdr);
  eh.e_shnum = static_cast<uint16_t>(secs.size() + 2);  // the null section, the debug ones, .shstrtab
  eh.e_shstrndx = static_cast<uint16_t>(secs.size() + 1);
  std::memcpy(image, &eh, sizeof eh);
  std::vector<Shdr> sh(secs.size() + 2);
  uint32_t name = 1;  // names: "\0.debug_info\0...\0.shstrtab\0"
  for (size_t i = 0; i < secs.size(); ++i) {
    sh[i + 1].sh_name = name;
    sh[i + 1].sh_type = SHT_PROGBITS;
    sh[i + 1].sh_offset = secs[i].at;
    sh[i + 1].sh_size = secs[i].size;
    sh[i + 1].sh_addralign = 1;
    name += static_cast<uint32_t>(secs[i].name.size() + 1);
  }
  Shdr& strtab = sh.back();
  strtab.sh_name = name;
  strtab.sh_type = SHT_STRTAB;
  strtab.sh_offset = names_at;
  strtab.sh_size = names.size();
  strtab.sh_addralign = 1;
  std::copy(names.begin(), names.end(), image + names_at);  // NUL-separated names: bytes, not a C string
  std::memcpy(image + shdrs_at, sh.data(), sh.size() * sizeof(Shdr));
}

}  // namespace

struct DwarfFile::Deferred {
  Inflate section;
};

Result<std::unique_ptr<DwarfFile>> DwarfFile::open(const ElfFile& elf) {
  auto refuse = [&](const std::string& why) {
    return fail(ErrorKind::bad_input, elf.path().string(), "cannot read DWARF: " + why,
                "rebuild the program, or strip its DWARF (-ldflags=-w) to analyse without signatures");
  };
  if (!elf.section(".debug_info") && !elf.section(".zdebug_info")) return std::unique_ptr<DwarfFile>();
  // The sections libdw reads for bpfault (not .debug_frame: no CFI is asked for), inflated.
  std::vector<Inflate> secs;
  bool zlib = false, other = false;
  const bool is64 = elf.ptr_size() == 8;
  for (const ElfFile::Section& s : elf.sections()) {
    if (!s.name.starts_with(".debug_") || s.name == ".debug_frame") {
      other |= s.name.starts_with(".zdebug_");  // Go before 1.11: GNU-style compression, libdw's own
      continue;
    }
    Inflate x{std::string(s.name), elf.bytes(s), s.size, false, 0};
    if (s.flags & SHF_COMPRESSED) {
      const size_t header = is64 ? sizeof(Elf64_Chdr) : sizeof(Elf32_Chdr);
      const auto type = read_le(x.in, 0, 4);
      const auto size = read_le(x.in, is64 ? 8 : 4, is64 ? 8 : 4);
      if (!type || !size || x.in.size() < header)
        return tl::unexpected(refuse(x.name + "'s compression header is cut short"));
      if (*type != ELFCOMPRESS_ZLIB) {
        other = true;  // zstd: libdw inflates it (or says why not)
        continue;
      }
      if (*size > kMaxInflated)
        return tl::unexpected(refuse(fmt::format("{} claims {} bytes inflated", x.name, *size)));
      x.in = x.in.subspan(header);
      x.size = *size;
      x.compressed = zlib = true;
    }
    secs.push_back(std::move(x));
  }
  std::unique_ptr<DwarfFile> out(new DwarfFile);
  if (!zlib || other) {  // nothing to inflate, or not only zlib: libdw reads the file
    out->dwarf_ = dwarf_begin(elf.fd(), DWARF_C_READ);
    if (!out->dwarf_) return tl::unexpected(refuse(dwarf_errmsg(-1)));
    return out;
  }

  // The image: the ELF header, each section's bytes, the section names, the section headers.
  const size_t ehdr = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  const size_t shdr = is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
  uint64_t at = ehdr;
  std::string names(1, '\0');
  for (Inflate& s : secs) {
    s.at = at = (at + 7) & ~uint64_t{7};
    at += s.size;
    names += s.name + '\0';
  }
  names += ".shstrtab";
  names += '\0';
  const uint64_t names_at = at, shdrs_at = (at + names.size() + 7) & ~uint64_t{7};
  // Anonymous memory: zeros, and no page is touched (13 MB for cmd/go) until a section is written
  // there; the gaps and a deferred section stay zeros.
  out->image_size_ = shdrs_at + (secs.size() + 2) * shdr;
  void* map =
      mmap(nullptr, out->image_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  // each section's claim is capped, not their sum: a damaged file must get an error, not bad_alloc
  if (map == MAP_FAILED)
    return tl::unexpected(refuse(
        fmt::format("its debug sections claim {} bytes inflated, more than can be allocated", out->image_size_)));
  out->image_ = static_cast<uint8_t*>(map);
  uint8_t* image = out->image_;
  if (is64)
    write_headers<Elf64_Ehdr, Elf64_Shdr>(image, secs, names_at, names, shdrs_at,
                                          elf.arch() == Arch::amd64 ? EM_X86_64 : EM_386, ELFCLASS64);
  else
    write_headers<Elf32_Ehdr, Elf32_Shdr>(image, secs, names_at, names, shdrs_at, EM_386, ELFCLASS32);

  // Two threads (the CI machine's CPUs), the biggest sections dealt out first.
  std::vector<const Inflate*> order;
  for (const Inflate& s : secs)
    if (deferred(s))
      out->deferred_.push_back(Deferred{s});
    else
      order.push_back(&s);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->in.size() > b->in.size(); });
  std::vector<const Inflate*> mine, theirs;
  uint64_t mine_bytes = 0, their_bytes = 0;
  for (const Inflate* s : order) {
    if (mine_bytes <= their_bytes)
      mine.push_back(s), mine_bytes += s->in.size();
    else
      theirs.push_back(s), their_bytes += s->in.size();
  }
  auto helper = std::async(std::launch::async, [&] { return inflate_all(theirs, image); });
  std::string err = inflate_all(mine, image);
  if (std::string e = helper.get(); err.empty()) err = std::move(e);
  if (!err.empty()) return tl::unexpected(refuse(err));

  elf_version(EV_CURRENT);
  out->elf_ = elf_memory(reinterpret_cast<char*>(image), out->image_size_);
  if (!out->elf_) return tl::unexpected(refuse(fmt::format("libelf: {}", elf_errmsg(-1))));
  out->dwarf_ = dwarf_begin_elf(out->elf_, DWARF_C_READ, nullptr);
  if (!out->dwarf_) return tl::unexpected(refuse(dwarf_errmsg(-1)));
  return out;
}

const std::string& DwarfFile::need_location_lists() const {
  std::call_once(deferred_once_, [this] {
    std::vector<const Inflate*> todo;
    for (const Deferred& d : deferred_) todo.push_back(&d.section);
    deferred_error_ = inflate_all(todo, image_);
    if (!deferred_error_.empty())  // zeros again where libdw reads: no list, no location
      for (const Deferred& d : deferred_) std::memset(image_ + d.section.at, 0, d.section.size);
  });
  return deferred_error_;
}

DwarfFile::~DwarfFile() {
  if (dwarf_) dwarf_end(dwarf_);
  if (elf_) elf_end(elf_);
  if (image_) munmap(image_, image_size_);
}

std::span<const uint8_t> DwarfFile::section(std::string_view name) const {
  Elf* elf = dwarf_getelf(dwarf_);
  size_t shstrndx;
  if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0) return {};
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn));) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* n = elf_strptr(elf, shstrndx, sh.sh_name);
    if (!n || name != n) continue;
    Elf_Data* d = elf_getdata(scn, nullptr);
    return d && d->d_buf ? std::span<const uint8_t>(static_cast<const uint8_t*>(d->d_buf), d->d_size)
                         : std::span<const uint8_t>{};
  }
  return {};
}

}  // namespace bpfault::binary
