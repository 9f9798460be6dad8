#include "binary/go_tables.h"

#include <elf.h>

#include <cstring>
#include <string_view>

namespace bpfault::binary {
namespace {

// `bytes` at `addr`, cut at the end of the section holding it (a table has no length of its own).
GoTable table_at(const ElfFile& elf, uint64_t addr, std::span<const uint8_t> to_segment_end) {
  // A section whose bytes do not reach `addr` (NOBITS, NULL, or cut short by a hostile header)
  // says nothing: fall back to the segment.
  if (const auto* s = elf.section_at(addr)) {
    const auto bytes = elf.bytes(*s);
    if (addr - s->addr < bytes.size()) return {addr, bytes.subspan(addr - s->addr)};
  }
  return {addr, to_segment_end};
}

// Every `align`-aligned address in a loadable segment's file bytes where `magic` starts, until
// `accept` takes one.
template <class Accept>
std::optional<GoTable> scan(const ElfFile& elf, std::string_view magic, uint64_t align, bool writable_only,
                            Accept&& accept) {
  const auto file = elf.file();
  for (const auto& seg : elf.segments()) {
    if (seg.type != PT_LOAD || (writable_only && !(seg.flags & PF_W))) continue;
    const auto bytes = file.subspan(seg.offset, seg.filesz);
    for (size_t o = 0; o + magic.size() <= bytes.size(); ++o) {
      const void* hit = memmem(bytes.data() + o, bytes.size() - o, magic.data(), magic.size());
      if (!hit) break;
      o = static_cast<const uint8_t*>(hit) - bytes.data();
      if ((seg.vaddr + o) % align) continue;
      GoTable t = table_at(elf, seg.vaddr + o, bytes.subspan(o));
      if (accept(t)) return t;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<GoTable> find_pclntab(const ElfFile& elf) {
  for (const char* name : {".gopclntab", ".data.rel.ro.gopclntab"})
    if (const auto* s = elf.section(name)) return GoTable{s->addr, elf.bytes(*s)};
  const int w = elf.ptr_size();
  for (uint8_t version : {0xf1, 0xf0}) {                                              // Go 1.20+, Go 1.18/1.19
    const char magic[8] = {char(version), '\xff', '\xff', '\xff', 0, 0, 1, char(w)};  // min LC 1 on x86
    auto found = scan(elf, std::string_view(magic, 8), w, false, [&](const GoTable& t) {
      // nfunc, nfiles, textStart, then five offsets into the table, in increasing order
      auto word = [&](int i) { return read_le(t.bytes, 8 + uint64_t(i) * w, w); };
      uint64_t last = 8 + 8 * uint64_t(w);
      for (int i = 3; i < 8; ++i) {
        auto off = word(i);
        if (!off || *off < last || *off > t.bytes.size()) return false;
        last = *off;
      }
      auto nfunc = word(0);
      return nfunc && *nfunc > 0 && *word(7) + (*nfunc + 1) * 8 <= t.bytes.size();
    });
    if (found) return found;
  }
  return std::nullopt;
}

std::optional<GoTable> find_buildinfo(const ElfFile& elf) {
  static constexpr std::string_view kMagic("\xff Go buildinf:", 14);
  if (const auto* s = elf.section(".go.buildinfo")) return GoTable{s->addr, elf.bytes(*s)};
  return scan(elf, kMagic, 16, true, [](const GoTable& t) { return t.bytes.size() >= 32; });
}

std::optional<uint64_t> find_moduledata(const ElfFile& elf, uint64_t pclntab_addr, uint64_t funcnametab_addr) {
  for (uint64_t at : elf.words_holding(pclntab_addr))
    if (elf.word_at(at + elf.ptr_size()) == funcnametab_addr) return at;
  return std::nullopt;
}

}  // namespace bpfault::binary
