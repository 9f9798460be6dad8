// libFuzzer targets for binary analysis, one per stage (FUZZ_STAGE): the ELF reader
// (headers, sections, symbols, segments), .gopclntab (the function table, pc-value tables,
// file:line) and DWARF (libdw and bpfault's own walk: types, parameters, locations, the line
// program). Seeds are real Go executables with their DWARF decompressed (fuzz/seeds.cpp); the
// custom mutator damages the bytes the stage reads and leaves the rest intact, so the input
// still reaches the stage instead of failing at the ELF header.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "binary/dwarf.h"
#include "binary/elf_file.h"
#include "binary/pclntab.h"

#define STAGE_ELF 0
#define STAGE_PCLNTAB 1
#define STAGE_DWARF 2

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using namespace bpfault::binary;

// The input as a file (analysis maps files): a memfd, named by /proc/self/fd.
struct MemFile {
  int fd = -1;
  std::string path;
  MemFile(const uint8_t* data, size_t size) {
    fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
    if (fd < 0) __builtin_trap();
    for (size_t done = 0; done < size;) {
      ssize_t n = write(fd, data + done, size - done);
      if (n <= 0) __builtin_trap();
      done += static_cast<size_t>(n);
    }
    path = "/proc/self/fd/" + std::to_string(fd);
  }
  ~MemFile() { close(fd); }
};

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The byte ranges of the input this stage reads, from a minimal read of the section headers
// (empty when they do not parse: then the mutator damages anything).
std::vector<std::pair<size_t, size_t>> ranges_of(const uint8_t* d, size_t size) {
  std::vector<std::pair<size_t, size_t>> out;
  if (size < 64 || std::memcmp(d,
                               "\x7f"
                               "ELF",
                               4) != 0)
    return out;
  const bool is64 = d[4] == 2;
  const uint64_t shoff = is64 ? load<uint64_t>(d + 0x28) : load<uint32_t>(d + 0x20);
  const uint16_t shentsize = load<uint16_t>(d + (is64 ? 0x3a : 0x2e));
  const uint16_t shnum = load<uint16_t>(d + (is64 ? 0x3c : 0x30));
  const uint16_t shstrndx = load<uint16_t>(d + (is64 ? 0x3e : 0x32));
  const uint64_t phoff = is64 ? load<uint64_t>(d + 0x20) : load<uint32_t>(d + 0x1c);
  const uint16_t phentsize = load<uint16_t>(d + (is64 ? 0x36 : 0x2a));
  const uint16_t phnum = load<uint16_t>(d + (is64 ? 0x38 : 0x2c));
  auto in = [&](uint64_t off, uint64_t len) { return off <= size && len <= size - off; };
  if (!shentsize || !in(shoff, uint64_t(shnum) * shentsize) || shstrndx >= shnum) return out;
  struct Sec {
    uint32_t name, type;
    uint64_t off, len;
  };
  std::vector<Sec> secs;
  for (size_t i = 0; i < shnum; ++i) {
    const uint8_t* h = d + shoff + i * shentsize;
    if (is64)
      secs.push_back({load<uint32_t>(h), load<uint32_t>(h + 4), load<uint64_t>(h + 0x18), load<uint64_t>(h + 0x20)});
    else
      secs.push_back({load<uint32_t>(h), load<uint32_t>(h + 4), load<uint32_t>(h + 0x10), load<uint32_t>(h + 0x14)});
  }
  const Sec& names = secs[shstrndx];
  auto name_of = [&](const Sec& s) -> std::string_view {
    if (!in(names.off, names.len) || s.name >= names.len) return {};
    const char* p = reinterpret_cast<const char*>(d + names.off + s.name);
    return {p, strnlen(p, names.len - s.name)};
  };
  auto add = [&](uint64_t off, uint64_t len) {
    if (len && in(off, len)) out.emplace_back(off, len);
  };
  if (FUZZ_STAGE == STAGE_ELF) {
    add(0, is64 ? 64 : 52);
    add(phoff, uint64_t(phnum) * phentsize);
    add(shoff, uint64_t(shnum) * shentsize);
    add(names.off, names.len);
  }
  for (const auto& s : secs) {
    const std::string_view n = name_of(s);
    const bool want = FUZZ_STAGE == STAGE_ELF       ? n == ".symtab" || n == ".strtab"
                      : FUZZ_STAGE == STAGE_PCLNTAB ? n.find("gopclntab") != std::string_view::npos
                                                    : n.starts_with(".debug_");
    if (want && s.type != 8 /*SHT_NOBITS*/) add(s.off, s.len);
  }
  return out;
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::minstd_rand rng(seed);
  const auto ranges = ranges_of(data, size);
  if (ranges.empty() || rng() % 16 == 0) return LLVMFuzzerMutate(data, size, max_size);
  const auto [off, len] = ranges[rng() % ranges.size()];
  // A window of the range, mutated in place: the file keeps its size and layout.
  const size_t win = std::min<size_t>(len, 1 + rng() % 4096);
  const size_t start = off + (len > win ? rng() % (len - win + 1) : 0);
  std::vector<uint8_t> tmp(data + start, data + start + win);
  const size_t n = LLVMFuzzerMutate(tmp.data(), win, win);
  std::memcpy(data + start, tmp.data(), std::min(n, win));
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemFile file(data, size);
  auto elf = ElfFile::open(file.path);
  if (!elf) {
    (void)elf.error().format();
    return 0;
  }
  std::optional<uint64_t> runtime_text;
  size_t nsym = 0;
  elf->for_each_symbol([&](const ElfFile::Symbol& s) {
    if (s.name == "runtime.text") runtime_text = s.value;
    return ++nsym < 200000;
  });
#if FUZZ_STAGE == STAGE_ELF
  for (const auto& s : elf->sections()) {
    auto b = elf->bytes(s);
    if (!b.empty())
      (void)*static_cast<volatile const uint8_t*>(&b.back());  // the bounds were checked: this byte is in the file
    (void)elf->at_vaddr(s.addr, s.size);
    (void)elf->file_offset(s.addr);
  }
#elif FUZZ_STAGE == STAGE_PCLNTAB
  auto pcln = Pclntab::parse(*elf, runtime_text);
  if (!pcln) {
    (void)pcln.error().format();
    return 0;
  }
  size_t n = 0;
  for (const auto& f : pcln->funcs()) {
    if (++n > 20000) break;
    (void)pcln->lookup(f.entry);
    (void)pcln->file_line(f, f.entry);
    (void)pcln->pc_value(f.pcsp, f.entry, f.end ? f.end - 1 : f.entry);
  }
#elif FUZZ_STAGE == STAGE_DWARF
  // the inflating opener (libdeflate, an ELF image for libdw) is part of what is fuzzed
  auto opened = DwarfFile::open(*elf);
  if (!opened) {
    (void)opened.error().format();
    return 0;
  }
  if (!*opened) return 0;
  auto dwarf = read_dwarf(*elf, **opened);
  if (!dwarf) (void)dwarf.error().format();
#else
#error "FUZZ_STAGE must be STAGE_ELF, STAGE_PCLNTAB or STAGE_DWARF"
#endif
  return 0;
}
