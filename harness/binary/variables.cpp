#include "binary/variables.h"

#include <dwarf.h>
#include <elfutils/libdw.h>

#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "binary/image.h"
#include "binary/stdlib_signatures.h"

namespace bpfault::binary {

std::optional<std::string> variable_type(const BinaryInfo& bin, std::string_view name) {
  if (!bin.has_dwarf && bin.donor_data && is_standard_library(name))  // a stripped binary's
    return variable_type(bin.donor_data->donor(), name);
  const DwarfFile* file = bin.image ? bin.image->dwarf() : nullptr;
  if (!file) return std::nullopt;
  Dwarf* dw = file->dwarf();
  // Go puts package-level variables at the top of their package's compile unit
  Dwarf_Off off = 0, next = 0;
  size_t header = 0;
  while (dwarf_nextcu(dw, off, &next, &header, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu, die;
    if (dwarf_offdie(dw, off + header, &cu) && dwarf_child(&cu, &die) == 0) {
      do {
        if (dwarf_tag(&die) != DW_TAG_variable) continue;
        const char* n = dwarf_diename(&die);
        if (!n || name != n) continue;
        Dwarf_Attribute attr;
        Dwarf_Die type;
        if (!dwarf_attr_integrate(&die, DW_AT_type, &attr) || !dwarf_formref_die(&attr, &type)) return std::nullopt;
        const char* tn = dwarf_diename(&type);
        return tn ? std::optional<std::string>(tn) : std::nullopt;
      } while (dwarf_siblingof(&die, &die) == 0);
    }
    off = next;
  }
  return std::nullopt;
}

namespace {

constexpr unsigned kGoRuntimeType = 0x2904;  // DW_AT_go_runtime_type: the descriptor's offset from runtime.types

// runtime._type begins {size, ptrdata uintptr; hash uint32; tflag, align, fieldAlign, kind uint8;
// equal func; gcdata *byte; str nameOff; ptrToThis typeOff} (Go 1.19 to 1.27, as abi.Type)
uint64_t hash_offset(int w) { return 2 * uint64_t(w); }
uint64_t kind_offset(int w) { return 2 * uint64_t(w) + 7; }
uint64_t str_offset(int w) { return 4 * uint64_t(w) + 8; }
constexpr uint8_t kKindMask = 0x1f, kKindInterface = 20;
constexpr uint8_t kDirectIface = 1 << 5;
constexpr uint8_t kTflagExtraStar = 1 << 1;  // the name has a "*" the type does not (the named type's own)

std::optional<uint32_t> u32_at(const ElfFile& elf, uint64_t vaddr) {
  auto b = elf.at_vaddr(vaddr, 4);
  if (b.size() < 4) return std::nullopt;
  uint32_t v = 0;
  std::memcpy(&v, b.data(), 4);
  return v;
}

// The type's DW_AT_go_runtime_type: its descriptor's offset from runtime.types
std::optional<uint64_t> descriptor_offset(const BinaryInfo& bin, std::string_view type_name) {
  const DwarfFile* file = bin.image ? bin.image->dwarf() : nullptr;
  if (!file) return std::nullopt;
  Dwarf* dw = file->dwarf();
  // Go's linker puts every type at the top level of a compile unit, with its descriptor's offset
  Dwarf_Off off = 0, next = 0;
  size_t header = 0;
  while (dwarf_nextcu(dw, off, &next, &header, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu, die;
    if (dwarf_offdie(dw, off + header, &cu) && dwarf_child(&cu, &die) == 0) {
      do {
        const char* n = dwarf_diename(&die);
        if (!n || type_name != n) continue;
        Dwarf_Attribute a;
        if (!dwarf_attr(&die, kGoRuntimeType, &a)) continue;
        Dwarf_Addr addr = 0;
        Dwarf_Word word = 0;
        if (dwarf_formaddr(&a, &addr) == 0) return addr;
        if (dwarf_formudata(&a, &word) == 0) return word;
      } while (dwarf_siblingof(&die, &die) == 0);
    }
    off = next;
  }
  return std::nullopt;
}

}  // namespace

std::optional<TypeDescriptor> type_descriptor(const BinaryInfo& bin, std::string_view type_name) {
  if (!bin.has_dwarf && bin.donor_data) {  // a stripped binary's: the donor's, where code names it
    auto d = type_descriptor(bin.donor_data->donor(), type_name);
    const auto here = d ? bin.donor_data->here(d->addr) : std::nullopt;
    if (!here) return std::nullopt;
    d->addr = *here;
    return d;
  }
  const auto types = bin.variable("runtime.types");
  const auto offset = types ? descriptor_offset(bin, type_name) : std::nullopt;
  if (!offset) return std::nullopt;
  const ElfFile& elf = bin.image->elf;
  const int w = elf.ptr_size();
  TypeDescriptor d{*types + *offset};
  const auto tflag = elf.at_vaddr(d.addr + hash_offset(w) + 4, 1), kind = elf.at_vaddr(d.addr + kind_offset(w), 1);
  if (tflag.empty() || kind.empty()) return std::nullopt;
  d.interface = (kind[0] & kKindMask) == kKindInterface;
  // Go 1.26+ flags it in tflag, older releases in kind; the other's bit is unused
  d.direct_iface = ((kind[0] | tflag[0]) & kDirectIface) != 0;
  return d;
}

std::optional<Itab> itab(const BinaryInfo& bin, std::string_view concrete, std::string_view iface) {
  if (!bin.image) return std::nullopt;
  // the symbol's name since Go 1.20 (go:itab.), before it (go.itab.)
  for (const char* prefix : {"go:itab.", "go.itab."}) {
    std::string symbol = fmt::format("{}{},{}", prefix, concrete, iface);
    if (auto addr = bin.variable(symbol)) return Itab{*addr, std::move(symbol)};
  }
  if (auto addr = itab_by_contents(bin, concrete, iface)) return Itab{*addr, ""};
  if (bin.donor_data)  // a stripped binary's: the donor's, where code names it
    if (auto there = itab(bin.donor_data->donor(), concrete, iface))
      if (auto here = bin.donor_data->here(there->addr)) return Itab{*here, there->symbol};
  return std::nullopt;
}

std::optional<uint64_t> itab_by_contents(const BinaryInfo& bin, std::string_view concrete, std::string_view iface) {
  const auto inter = type_descriptor(bin, iface), type = type_descriptor(bin, concrete);
  if (!inter || !type || !inter->interface) return std::nullopt;
  const ElfFile& elf = bin.image->elf;
  const int w = elf.ptr_size();
  const auto hash = u32_at(elf, type->addr + hash_offset(w));
  if (!hash) return std::nullopt;
  // itab{inter *interfacetype; _type *_type; hash uint32; _ [4]byte; fun [...]uintptr}
  for (uint64_t at : elf.words_holding(inter->addr, false))
    if (elf.word_at(at + w) == type->addr && u32_at(elf, at + 2 * uint64_t(w)) == hash) return at;
  return std::nullopt;
}

std::optional<std::string> dynamic_type(const BinaryInfo& bin, uint64_t type_word, bool empty_interface) {
  if (!bin.image || !type_word) return std::nullopt;
  const ElfFile& elf = bin.image->elf;
  const int w = elf.ptr_size();
  const auto types = bin.variable("runtime.types"), etypes = bin.variable("runtime.etypes");
  if (!types || !etypes) return std::nullopt;
  // a descriptor lies in [runtime.types, runtime.etypes)
  const auto in_types = [&](uint64_t addr) { return addr >= *types && addr < *etypes; };
  uint64_t type = type_word;
  if (!empty_interface) {  // an itab: its second word is the concrete type's descriptor
    auto inter = elf.word_at(type_word);
    auto t = elf.word_at(type_word + w);
    if (!inter || !t || !in_types(*inter)) return std::nullopt;
    auto kind = elf.at_vaddr(*inter + kind_offset(w), 1);
    if (kind.empty() || (kind[0] & kKindMask) != kKindInterface) return std::nullopt;
    type = *t;
  }
  if (!in_types(type)) return std::nullopt;
  auto flags = elf.at_vaddr(type + hash_offset(w) + 4, 1);
  auto str = u32_at(elf, type + str_offset(w));
  if (flags.empty() || !str) return std::nullopt;
  // a name: one byte of flags, its length as a uvarint, its bytes (Go 1.17 and later)
  const uint64_t name = *types + static_cast<int32_t>(*str);
  uint64_t len = 0;
  int shift = 0, n = 1;
  for (; n < 1 + 10; ++n) {
    auto b = elf.at_vaddr(name + n, 1);
    if (b.empty()) return std::nullopt;
    len |= uint64_t(b[0] & 0x7f) << shift;
    shift += 7;
    if (!(b[0] & 0x80)) break;
  }
  if (len == 0 || len > 4096) return std::nullopt;
  auto text = elf.at_vaddr(name + n + 1, len);
  if (text.size() != len) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(text.data()), text.size());
  if ((flags[0] & kTflagExtraStar) && out.starts_with("*")) out.erase(0, 1);
  return out;
}

std::optional<int> boxed_errno(const BinaryInfo& bin, uint64_t data_word) {
  if (const auto small = bin.variable("runtime.staticuint64s");
      small && data_word >= *small && data_word < *small + 256 * 8 && (data_word - *small) % 8 == 0)
    return static_cast<int>((data_word - *small) / 8);
  if (!bin.image) return std::nullopt;
  // a box in the file's data (not .bss): Go never changes a value an interface holds
  const auto* section = bin.image->elf.section_at(data_word);
  if (!section || section->type != SHT_PROGBITS) return std::nullopt;
  const auto n = bin.image->elf.word_at(data_word);
  if (!n || *n == 0 || *n >= 4096) return std::nullopt;
  return static_cast<int>(*n);
}

std::optional<std::string> errno_text(const BinaryInfo& bin, int n) {
  if (!bin.image || n <= 0) return std::nullopt;
  const ElfFile& elf = bin.image->elf;
  std::optional<ElfFile::Symbol> table;  // [...]string: a string header per errno
  elf.for_each_symbol([&](const ElfFile::Symbol& s) {
    if (s.type == STT_OBJECT && s.name == "syscall.errors") table = s;
    return !table;
  });
  const uint64_t w = elf.ptr_size(), at = table ? table->value + uint64_t(n) * 2 * w : 0;
  if (!table || at + 2 * w > table->value + table->size) return std::nullopt;
  const auto ptr = elf.word_at(at), len = elf.word_at(at + w);
  if (!ptr || !len || !*ptr || !*len || *len > 256) return std::nullopt;  // no text for n
  const auto text = elf.at_vaddr(*ptr, *len);
  if (text.size() != *len) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(text.data()), text.size());
}

}  // namespace bpfault::binary
