#include "binary/pclntab.h"

#include <elf.h>

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "binary/go_tables.h"

namespace bpfault::binary {
namespace {

constexpr uint32_t kMagic118 = 0xfffffff0;  // Go 1.18, 1.19
constexpr uint32_t kMagic120 = 0xfffffff1;  // Go 1.20 and later

std::optional<uint32_t> read_uvarint(std::span<const uint8_t> b, uint64_t& off) {
  uint32_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (off >= b.size()) return std::nullopt;
    uint8_t c = b[off++];
    v |= uint32_t(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
  }
  return std::nullopt;
}

// moduledata.text: the Go ≥1.26 pcHeader no longer carries the text start, and with external
// linking `.text` starts with C code, so the runtime's own moduledata is the reliable base.
// moduledata begins {pcHeader *, funcnametab []byte, ...} and has `text` at word 22 (1.18-1.27).
std::optional<uint64_t> moduledata_text(const ElfFile& elf, std::optional<uint64_t> md) {
  constexpr int kTextWord = 22;
  if (!md) return std::nullopt;
  return elf.word_at(*md + kTextWord * elf.ptr_size());
}

// The file's bytes from `vaddr` to the end of the PT_LOAD segment holding it.
std::span<const uint8_t> to_segment_end(const ElfFile& elf, uint64_t vaddr) {
  for (const auto& seg : elf.segments())
    if (seg.type == PT_LOAD && vaddr >= seg.vaddr && vaddr < seg.vaddr + seg.filesz)
      return elf.at_vaddr(vaddr, seg.vaddr + seg.filesz - vaddr);
  return {};
}

}  // namespace

Result<Pclntab> Pclntab::parse(const ElfFile& elf, std::optional<uint64_t> runtime_text) {
  const std::string where = elf.path().string();
  const auto sec = find_pclntab(elf);
  if (!sec)
    return fail(ErrorKind::bad_input, where,
                "not a Go program: no .gopclntab section and no Go 1.18+ pclntab header in the file",
                "bpfault analyses Go executables (Go 1.18 or newer)");
  Pclntab t;
  t.data_ = sec->bytes;
  const auto& d = t.data_;
  auto corrupt = [&](const std::string& what) {
    return fail(ErrorKind::bad_input, where, "corrupt .gopclntab: " + what, "rebuild the program; the file is damaged");
  };
  if (d.size() < 8) return corrupt("shorter than its header");
  const uint32_t magic = *read_le(d, 0, 4);
  if (magic != kMagic118 && magic != kMagic120)
    return fail(ErrorKind::bad_input, where, fmt::format("unsupported .gopclntab magic {:#x}", magic),
                "bpfault reads Go 1.18 and newer (magic 0xfffffff0/0xfffffff1); rebuild with a newer Go");
  t.min_lc_ = d[6];
  const int w = d[7];
  if (w != elf.ptr_size() || (t.min_lc_ != 1 && t.min_lc_ != 2 && t.min_lc_ != 4)) return corrupt("bad header sizes");
  auto word = [&](int i) { return read_le(d, 8 + uint64_t(i) * w, w); };
  auto nfunc = word(0), text_start = word(2), funcname = word(3), cu = word(4), filetab = word(5), pctab = word(6),
       pcln = word(7);
  if (!pcln) return corrupt("shorter than its header");
  for (uint64_t off : {*funcname, *cu, *filetab, *pctab, *pcln})
    if (off > d.size()) return corrupt("a table offset points past the section");
  // Each function needs at least an 8-byte functab slot and a 40-byte _func.
  if (*nfunc == 0 || *nfunc > d.size() / 48) return corrupt(fmt::format("implausible function count {}", *nfunc));
  t.funcname_off_ = *funcname;
  t.go120_ = magic == kMagic120;
  t.cu_off_ = *cu;
  t.filetab_off_ = *filetab;
  t.pctab_off_ = *pctab;

  // Text base: runtime.text, else moduledata.text, else the header, else .text (internal linking).
  const auto md = find_moduledata(elf, sec->addr, sec->addr + *funcname);
  const auto md_text = moduledata_text(elf, md);
  if (runtime_text)
    t.text_base_ = *runtime_text;
  else if (md_text)
    t.text_base_ = *md_text;
  else if (*text_start)
    t.text_base_ = *text_start;
  else if (const auto* text = elf.section(".text"))
    t.text_base_ = text->addr;
  else
    return corrupt("cannot find the text base (no moduledata, no .text)");
  if (md_text && *md_text != t.text_base_)
    t.warnings.push_back(fmt::format("moduledata.text {:#x} differs from runtime.text {:#x}", *md_text, t.text_base_));
  if (*text_start && *text_start != t.text_base_)
    t.warnings.push_back(
        fmt::format("pcHeader.textStart {:#x} differs from the text base {:#x}", *text_start, t.text_base_));

  const uint64_t ftab = *pcln;
  if (ftab + (*nfunc + 1) * 8 > d.size()) return corrupt("the function table runs past the section");
  const int fid_off = magic == kMagic118 ? 36 : 40;
  t.funcs_.reserve(*nfunc);
  std::array<uint32_t, 256> id_count{};
  for (uint64_t i = 0; i < *nfunc; ++i) {
    const uint64_t entry_off = *read_le(d, ftab + i * 8, 4), func_off = *read_le(d, ftab + i * 8 + 4, 4);
    const uint64_t next_off = *read_le(d, ftab + (i + 1) * 8, 4);
    const uint64_t f = ftab + func_off;
    if (f + 44 > d.size()) return corrupt(fmt::format("function {} lies outside the section", i));
    if (next_off < entry_off) return corrupt(fmt::format("function {} ends before it starts", i));
    PclnFunc fn;
    fn.entry = t.text_base_ + entry_off;
    fn.end = t.text_base_ + next_off;
    if (*read_le(d, f, 4) != entry_off)
      return corrupt(fmt::format("function {}: _func.entryOff disagrees with the table", i));
    const int32_t name_off = static_cast<int32_t>(*read_le(d, f + 4, 4));
    const uint64_t name_at = *funcname + uint64_t(int64_t(name_off));
    if (name_off < 0 || name_at >= d.size()) return corrupt(fmt::format("function {}: name outside the section", i));
    const char* name = reinterpret_cast<const char*>(d.data() + name_at);
    const void* nul = std::memchr(name, 0, d.size() - name_at);
    if (!nul) return corrupt(fmt::format("function {}: unterminated name", i));
    fn.name = std::string_view(name, static_cast<const char*>(nul) - name);
    fn.args = static_cast<int32_t>(*read_le(d, f + 8, 4));
    fn.pcsp = *read_le(d, f + 16, 4);
    fn.pcfile = *read_le(d, f + 20, 4);
    fn.pcln = *read_le(d, f + 24, 4);
    fn.cu_offset = *read_le(d, f + 32, 4);
    fn.func_id = d[f + fid_off];
    fn.flag = d[f + fid_off + 1];
    fn.nfuncdata = d[f + fid_off + 3];
    fn.npcdata = *read_le(d, f + 28, 4);
    fn.func_off = f;
    ++id_count[fn.func_id];
    t.funcs_.push_back(fn);
  }
  uint32_t best = 0;
  for (int id = 1; id < 256; ++id)
    if (id_count[id] > best) best = id_count[id], t.wrapper_id_ = static_cast<uint8_t>(id);
  t.find_gofunc(elf, md);
  return t;
}

// moduledata.gofunc moves between releases (word 38 in 1.18/1.19, 40 in 1.20-1.25, 43 in 1.27)
// and a stripped binary has no go:func.* symbol: the word is found by what it must hold, the
// base from which every function's inline tree decodes to names in funcnametab and parent PCs
// inside the function (checked on up to 64 functions).
void Pclntab::find_gofunc(const ElfFile& elf, std::optional<uint64_t> md) {
  std::vector<std::pair<const PclnFunc*, uint32_t>> sample;
  for (const PclnFunc& f : funcs_) {
    if (auto off = funcdata_offset(f, kFuncdataInlTree)) sample.emplace_back(&f, *off);
    if (sample.size() == 64) break;
  }
  if (!md || sample.empty()) return;
  for (int word = 30; word < 60; ++word) {
    auto v = elf.word_at(*md + uint64_t(word) * elf.ptr_size());
    if (!v || !*v) continue;
    gofunc_bytes_ = to_segment_end(elf, *v);
    const bool fits = !gofunc_bytes_.empty() && std::ranges::all_of(sample, [&](const auto& s) {
      auto call = inlined_call_at(s.second, 0);
      return call && !call->name.empty() && call->parent_pc >= 0 &&
             uint64_t(call->parent_pc) < s.first->end - s.first->entry;
    });
    if (fits) {
      gofunc_ = *v;
      return;
    }
  }
  gofunc_bytes_ = {};
  warnings.push_back("moduledata.gofunc not found: inlined frames are not expanded in stacks");
}

std::optional<uint32_t> Pclntab::funcdata_offset(const PclnFunc& f, int index) const {
  if (index >= f.nfuncdata) return std::nullopt;
  const uint64_t header = go120_ ? 44 : 40;
  auto off = read_le(data_, f.func_off + header + 4 * (uint64_t(f.npcdata) + uint64_t(index)), 4);
  if (!off || *off == 0xffffffff) return std::nullopt;
  return static_cast<uint32_t>(*off);
}

uint32_t Pclntab::pcdata_table(const PclnFunc& f, int table) const {
  if (uint32_t(table) >= f.npcdata) return 0;
  const uint64_t header = go120_ ? 44 : 40;
  return static_cast<uint32_t>(read_le(data_, f.func_off + header + 4 * uint64_t(table), 4).value_or(0));
}

std::optional<int32_t> Pclntab::pcdata(const PclnFunc& f, int table, uint64_t pc) const {
  const uint32_t off = pcdata_table(f, table);
  if (off == 0) return -1;
  return pc_value(off, f.entry, pc);
}

void Pclntab::pc_runs(uint32_t table, uint64_t entry,
                      const std::function<void(uint64_t, uint64_t, int32_t)>& fn) const {
  if (table == 0 || pctab_off_ + table >= data_.size()) return;
  uint64_t off = pctab_off_ + table;
  int32_t val = -1;
  uint64_t cur = entry;
  for (bool first = true;; first = false) {
    auto uvdelta = read_uvarint(data_, off);
    if (!uvdelta || (*uvdelta == 0 && !first)) return;
    val = static_cast<int32_t>(static_cast<uint32_t>(val) + (-(*uvdelta & 1) ^ (*uvdelta >> 1)));
    auto pcdelta = read_uvarint(data_, off);
    if (!pcdelta) return;
    const uint64_t next = cur + uint64_t(*pcdelta) * min_lc_;
    fn(cur, next, val);
    cur = next;
  }
}

// runtime.inlinedCall: {funcID u8, _ [3]byte, nameOff, parentPc, startLine int32} since 1.20;
// {parent int16, funcID u8, _ u8, file, line, func_, parentPc int32} in 1.18/1.19.
std::optional<InlinedCall> Pclntab::inlined_call_at(uint64_t gofunc_off, int32_t index) const {
  if (index < 0) return std::nullopt;
  const uint64_t size = go120_ ? 16 : 20, at = gofunc_off + uint64_t(index) * size;
  if (at + size > gofunc_bytes_.size()) return std::nullopt;
  InlinedCall c;
  c.func_id = gofunc_bytes_[at + (go120_ ? 0 : 2)];
  const auto name_off = static_cast<int32_t>(*read_le(gofunc_bytes_, at + (go120_ ? 4 : 12), 4));
  c.parent_pc = static_cast<int32_t>(*read_le(gofunc_bytes_, at + (go120_ ? 8 : 16), 4));
  // a name starts after the previous name's NUL: anything else is not a name offset
  const uint64_t name_at = funcname_off_ + uint64_t(int64_t(name_off));
  if (name_off < 0 || name_at >= data_.size() || (name_off > 0 && data_[name_at - 1] != 0)) return std::nullopt;
  const char* name = reinterpret_cast<const char*>(data_.data() + name_at);
  const void* nul = std::memchr(name, 0, data_.size() - name_at);
  if (!nul) return std::nullopt;
  c.name = std::string_view(name, static_cast<const char*>(nul) - name);
  return c;
}

std::optional<InlinedCall> Pclntab::inlined_call(const PclnFunc& f, int32_t index) const {
  auto off = funcdata_offset(f, kFuncdataInlTree);
  if (!off || gofunc_bytes_.empty()) return std::nullopt;
  return inlined_call_at(*off, index);
}

// The byte stream of cmd/compile's EmitArgInfo (runtime/traceback.go printArgs reads it): an
// offset byte and a size byte per word, 0xfe/0xfd around an aggregate, 0xfb for a word whose
// offset does not fit, 0xfc where it stopped (10 words listed; or 5 nested aggregates, `{...}`,
// after which it goes on), 0xff at the end.
std::optional<ArgInfo> Pclntab::arg_info(const PclnFunc& f) const {
  constexpr uint8_t kEnd = 0xff, kStartAgg = 0xfe, kEndAgg = 0xfd, kDotDotDot = 0xfc, kOffsetTooLarge = 0xfb,
                    kSpecial = 0xf0;
  constexpr int kMaxDepth = 5;
  auto off = funcdata_offset(f, kFuncdataArgInfo);
  if (!off || gofunc_bytes_.empty() || *off >= gofunc_bytes_.size()) return std::nullopt;
  const auto bytes = gofunc_bytes_.subspan(*off, std::min<size_t>(gofunc_bytes_.size() - *off, 256));
  ArgInfo out;
  int depth = 0;
  auto put = [&](std::string_view token) {
    if (depth == 0) out.params.emplace_back();
    std::string& s = out.params.back();
    if (!s.empty() && s.back() != '{') s += ' ';
    s += token;
  };
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint8_t b = bytes[i];
    if (b == kEnd) {
      if (depth != 0) return std::nullopt;
      out.complete = true;
      return out;
    }
    if (b == kStartAgg) {
      put("{");
      ++depth;
    } else if (b == kEndAgg) {
      if (depth == 0) return std::nullopt;
      --depth;
      out.params.back() += '}';
    } else if (b == kDotDotDot) {
      if (depth < kMaxDepth) return out;  // the 10-word limit: incomplete
      put("...");
    } else if (b == kOffsetTooLarge) {
      put("_");
    } else if (b < kSpecial && i + 1 < bytes.size()) {  // an offset, then its size
      put(std::to_string(bytes[++i]));
    } else {
      return std::nullopt;
    }
  }
  return std::nullopt;  // no end within the longest stream the compiler writes
}

const PclnFunc* Pclntab::lookup(uint64_t pc) const {
  auto it = std::upper_bound(funcs_.begin(), funcs_.end(), pc, [](uint64_t v, const PclnFunc& f) { return v < f.end; });
  if (it == funcs_.end() || pc < it->entry) return nullptr;
  return &*it;
}

std::optional<int32_t> Pclntab::pc_value(uint32_t table, uint64_t entry, uint64_t pc) const {
  if (table == 0 || pctab_off_ + table >= data_.size()) return std::nullopt;
  uint64_t off = pctab_off_ + table;
  int32_t val = -1;
  uint64_t cur = entry;
  for (bool first = true;; first = false) {
    auto uvdelta = read_uvarint(data_, off);
    if (!uvdelta || (*uvdelta == 0 && !first)) return std::nullopt;
    // zig-zag; added modulo 2^32 as Go's runtime does (a damaged table must not be signed overflow)
    val = static_cast<int32_t>(static_cast<uint32_t>(val) + (-(*uvdelta & 1) ^ (*uvdelta >> 1)));
    auto pcdelta = read_uvarint(data_, off);
    if (!pcdelta) return std::nullopt;
    cur += uint64_t(*pcdelta) * min_lc_;
    if (pc < cur) return val;
  }
}

std::string_view Pclntab::file_name(const PclnFunc& f, int32_t index) const {
  if (index < 0) return {};
  auto file_off = read_le(data_, cu_off_ + (uint64_t(f.cu_offset) + uint64_t(index)) * 4, 4);
  if (!file_off || *file_off == 0xffffffff) return {};
  const uint64_t at = filetab_off_ + *file_off;
  if (at >= data_.size()) return {};
  const char* s = reinterpret_cast<const char*>(data_.data() + at);
  const void* nul = std::memchr(s, 0, data_.size() - at);
  return nul ? std::string_view(s, static_cast<const char*>(nul) - s) : std::string_view{};
}

std::optional<std::pair<std::string_view, int>> Pclntab::file_line(const PclnFunc& f, uint64_t pc) const {
  auto file = pc_value(f.pcfile, f.entry, pc);
  auto line = pc_value(f.pcln, f.entry, pc);
  if (!file || !line) return std::nullopt;
  return std::pair{file_name(f, *file), *line};
}

}  // namespace bpfault::binary
