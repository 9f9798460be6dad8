#include "binary/dwarf.h"

#include <dwarf.h>
#include <elfutils/libdw.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace bpfault::binary {
namespace {

// Go's own DWARF attributes (cmd/internal/dwarf): the reflect.Kind of a type, a map's key,
// the element of maps, chans and slices.
constexpr unsigned kGoKind = 0x2900;
constexpr unsigned kGoElem = 0x2902;
constexpr unsigned kGoRuntimeType = 0x2904;  // the type descriptor's offset from runtime.types

// reflect.Kind values (stable since Go 1).
enum GoKind : uint64_t {
  kBool = 1,
  kInt = 2,
  kInt64 = 6,
  kUint = 7,
  kUintptr = 12,
  kFloat32 = 13,
  kFloat64 = 14,
  kComplex64 = 15,
  kComplex128 = 16,
  kArray = 17,
  kChan = 18,
  kFunc = 19,
  kInterface = 20,
  kMap = 21,
  kPointer = 22,
  kSlice = 23,
  kString = 24,
  kStruct = 25,
  kUnsafePointer = 26,
};

bool ref(Dwarf_Die* die, unsigned attr, Dwarf_Die& out) {
  Dwarf_Attribute a;
  return dwarf_attr_integrate(die, attr, &a) && dwarf_formref_die(&a, &out);
}

std::optional<uint64_t> udata(Dwarf_Die* die, unsigned attr) {
  Dwarf_Attribute a;
  Dwarf_Word v;
  if (!dwarf_attr_integrate(die, attr, &a) || dwarf_formudata(&a, &v) != 0) return std::nullopt;
  return v;
}

std::string name_of(Dwarf_Die* die) {
  const char* n = dwarf_diename(die);
  return n ? n : "";
}

class TypeBuilder {
 public:
  TypeBuilder(TypeTable& table, int ptr_size) : table_(table), ptr_(ptr_size) {}

  const Type* get(Dwarf_Die die, int depth = 0) {
    const Dwarf_Off first = dwarf_dieoffset(&die);
    if (auto it = cache_.find(first); it != cache_.end()) return it->second;
    // Typedefs without a Go kind are aliases (".param0" for a generic shape, the second
    // "error" DIE): the type is what they name.
    for (int i = 0; i < 16 && dwarf_tag(&die) == DW_TAG_typedef && !dwarf_hasattr(&die, kGoKind); ++i) {
      Dwarf_Die next;
      if (!ref(&die, DW_AT_type, next)) break;
      die = next;
    }
    const Dwarf_Off off = dwarf_dieoffset(&die);
    if (auto it = cache_.find(off); it != cache_.end()) return cache_[first] = it->second;
    Type& t = table_.add({});
    cache_[first] = cache_[off] = &t;
    fill(t, die, depth);
    return &t;
  }

 private:
  const Type* child(Dwarf_Die* die, unsigned attr, int depth) {
    Dwarf_Die d;
    if (depth > 48 || !ref(die, attr, d)) return nullptr;  // a deeper chain is left unexpanded
    return get(d, depth + 1);
  }

  void fill(Type& t, Dwarf_Die die, int depth) {
    t.name = name_of(&die);
    const int tag = dwarf_tag(&die);
    uint64_t kind = udata(&die, kGoKind).value_or(0);
    if (!kind) {  // not from the Go compiler (C code in a cgo binary, or hand-made DWARF)
      const uint64_t enc = udata(&die, DW_AT_encoding).value_or(0);
      if (tag == DW_TAG_base_type)
        kind = enc == DW_ATE_boolean                                 ? kBool
               : enc == DW_ATE_float                                 ? kFloat64
               : enc == DW_ATE_complex_float                         ? kComplex128
               : (enc == DW_ATE_signed || enc == DW_ATE_signed_char) ? kInt
                                                                     : kUint;
      else if (tag == DW_TAG_pointer_type)
        kind = dwarf_hasattr(&die, DW_AT_type) ? kPointer : kUnsafePointer;
      else if (tag == DW_TAG_structure_type)
        kind = kStruct;
      else if (tag == DW_TAG_array_type)
        kind = kArray;
      else if (tag == DW_TAG_subroutine_type)
        kind = kFunc;
    }
    const uint64_t w = ptr_;
    auto size = udata(&die, DW_AT_byte_size);
    if (kind == kBool)
      t.kind = TypeKind::bool_;
    else if (kind >= kInt && kind <= kInt64)
      t.kind = TypeKind::int_, t.is_signed = true;
    else if (kind >= kUint && kind <= kUintptr)
      t.kind = TypeKind::uint_;
    else if (kind == kFloat32 || kind == kFloat64)
      t.kind = TypeKind::float_;
    else if (kind == kComplex64 || kind == kComplex128)
      t.kind = TypeKind::complex_;
    else if (kind == kString)
      t.kind = TypeKind::string, size = 2 * w;
    else if (kind == kSlice)
      t.kind = TypeKind::slice, size = 3 * w;
    else if (kind == kInterface)
      t.kind = TypeKind::interface, size = 2 * w, t.is_error = t.name == "error";
    else if (kind == kMap)
      t.kind = TypeKind::map, size = w;
    else if (kind == kChan)
      t.kind = TypeKind::chan, size = w;
    else if (kind == kFunc)
      t.kind = TypeKind::func, size = w;
    else if (kind == kPointer)
      t.kind = TypeKind::pointer, size = w;
    else if (kind == kUnsafePointer)
      t.kind = TypeKind::unsafe_pointer, size = w;
    else if (kind == kArray)
      t.kind = TypeKind::array;
    else if (kind == kStruct)
      t.kind = TypeKind::struct_;
    if (!size) {
      Dwarf_Word s = 0;
      if (dwarf_aggregate_size(&die, &s) == 0) size = s;
    }
    t.size = size.value_or(0);

    switch (t.kind) {
      case TypeKind::pointer:
        // A pointer DIE without a pointee is unsafe.Pointer-like (the .dict is `uintptr (*)[N]`).
        if (const Type* e = child(&die, DW_AT_type, depth)) t.elem = TypeTable::link(e);
        break;
      case TypeKind::slice:
      case TypeKind::chan:
      case TypeKind::map:
        if (const Type* e = child(&die, kGoElem, depth)) t.elem = TypeTable::link(e);
        break;
      case TypeKind::array: {
        if (const Type* e = child(&die, DW_AT_type, depth)) t.elem = TypeTable::link(e);
        Dwarf_Die sub;
        if (dwarf_child(&die, &sub) == 0) do {
            if (dwarf_tag(&sub) != DW_TAG_subrange_type) continue;
            if (auto c = udata(&sub, DW_AT_count))
              t.len = *c;
            else if (auto u = udata(&sub, DW_AT_upper_bound))
              t.len = *u + 1;
            break;
          } while (dwarf_siblingof(&sub, &sub) == 0);
        break;
      }
      case TypeKind::struct_: {
        Dwarf_Die m;
        if (dwarf_child(&die, &m) == 0) do {
            if (dwarf_tag(&m) != DW_TAG_member) continue;
            Field f;
            f.name = name_of(&m);
            f.offset = udata(&m, DW_AT_data_member_location).value_or(0);
            if (const Type* ft = child(&m, DW_AT_type, depth)) f.type = TypeTable::link(ft);
            t.fields.push_back(std::move(f));
          } while (dwarf_siblingof(&m, &m) == 0);
        break;
      }
      default:
        break;
    }
  }

  TypeTable& table_;
  int ptr_;
  std::unordered_map<Dwarf_Off, const Type*> cache_;
};

// The pieces of one location expression, decoded from the few ops Go emits.
std::vector<DwarfPiece> decode_ops(const Dwarf_Op* ops, size_t n) {
  std::vector<DwarfPiece> out;
  std::optional<DwarfPiece> cur;
  for (size_t i = 0; i < n; ++i) {
    const unsigned op = ops[i].atom;
    if (op >= DW_OP_reg0 && op <= DW_OP_reg31)
      cur = DwarfPiece{DwarfPiece::Kind::reg, int(op - DW_OP_reg0), 0, 0};
    else if (op == DW_OP_regx)
      cur = DwarfPiece{DwarfPiece::Kind::reg, int(ops[i].number), 0, 0};
    else if (op == DW_OP_call_frame_cfa)
      cur = DwarfPiece{DwarfPiece::Kind::cfa, 0, 0, 0};
    else if (op == DW_OP_fbreg)
      cur = DwarfPiece{DwarfPiece::Kind::cfa, 0, static_cast<int64_t>(ops[i].number), 0};
    else if (op == DW_OP_piece) {
      DwarfPiece p = cur.value_or(DwarfPiece{});
      p.size = ops[i].number;
      out.push_back(p);
      cur.reset();
    } else
      cur = DwarfPiece{DwarfPiece::Kind::other, 0, 0, 0};
  }
  if (cur) out.push_back(*cur);
  return out;
}

// `die`'s DW_AT_location as libdw can read it (a location list inflated first).
bool location_attr(const DwarfFile& file, Dwarf_Die* die, Dwarf_Attribute& a) {
  if (!dwarf_attr(die, DW_AT_location, &a)) return false;
  if (a.form == DW_FORM_sec_offset || a.form == DW_FORM_loclistx || a.form == DW_FORM_data4 || a.form == DW_FORM_data8)
    if (!file.need_location_lists().empty()) return false;
  // Go writes single location expressions as DW_FORM_block1 even in DWARF 4/5 units, and
  // libdw refuses block forms there ("not a location list value"). A block1 shorter than 128
  // bytes is byte-identical to an exprloc (same one-byte length), so relabel it.
  if (a.form == DW_FORM_block1) {
    if (!a.valp || *a.valp >= 0x80) return false;
    a.form = DW_FORM_exprloc;
  }
  return true;
}

// The location of `die` valid at `pc`, decoded from the ops Go emits.
std::optional<std::vector<DwarfPiece>> location_at(const DwarfFile& file, Dwarf_Die* die, uint64_t pc) {
  Dwarf_Attribute a;
  if (!location_attr(file, die, a)) return std::nullopt;
  Dwarf_Op* ops = nullptr;
  size_t n = 0;
  if (dwarf_getlocation_addr(&a, pc, &ops, &n, 1) <= 0 || n == 0) return std::nullopt;
  return decode_ops(ops, n);
}

// Every entry of `die`'s location list (a single expression: one entry for every PC).
std::vector<DwarfLocRange> locations(const DwarfFile& file, Dwarf_Die* die) {
  std::vector<DwarfLocRange> out;
  Dwarf_Attribute a;
  if (!location_attr(file, die, a)) return out;
  Dwarf_Addr base = 0, lo = 0, hi = 0;
  Dwarf_Op* ops = nullptr;
  size_t n = 0;
  for (ptrdiff_t off = 0; out.size() < 4096 && (off = dwarf_getlocations(&a, off, &base, &lo, &hi, &ops, &n)) > 0;)
    if (n > 0 && lo < hi) out.push_back(DwarfLocRange{lo, hi, decode_ops(ops, n)});
  return out;
}

// A reader for one .debug_line program (DWARF 4 and 5), for the two things bpfault needs:
// the addresses Go flags prologue_end, and the file names DW_AT_call_file indexes. libdw's
// dwarf_getsrclines builds every row of every table and took half of the DWARF time.
class LineProgram {
 public:
  LineProgram(std::span<const uint8_t> line, std::span<const uint8_t> line_str, std::span<const uint8_t> str)
      : line_(line), line_str_(line_str), str_(str) {}

  // Parses the program at `off`; false when it is malformed (what was read is kept).
  bool read(uint64_t off, std::vector<uint64_t>& prologue_ends, std::vector<std::string>& files) {
    Cursor c{line_, off};
    uint64_t len = c.u(4);
    int offset_size = 4;
    if (len == 0xffffffff) len = c.u(8), offset_size = 8;
    if (!c.ok || len > line_.size() - c.at) return false;
    const uint64_t end = c.at + len;
    const uint64_t version = c.u(2);
    if (version < 2 || version > 5) return false;
    int addr_size = 8;
    if (version >= 5) addr_size = int(c.u(1)), c.u(1);
    const uint64_t header_len = c.u(offset_size);
    const uint64_t program = c.at + header_len;
    const uint64_t min_inst = c.u(1);
    if (version >= 4) c.u(1);  // maximum_operations_per_instruction
    c.u(1);                    // default_is_stmt
    c.u(1);                    // line_base: lines are not needed
    const uint64_t line_range = c.u(1), opcode_base = c.u(1);
    std::vector<uint8_t> arg_counts(opcode_base ? opcode_base - 1 : 0);
    for (auto& n : arg_counts) n = uint8_t(c.u(1));
    if (!c.ok || line_range == 0 || program > end) return false;
    files.clear();
    if (version >= 5)
      read_v5_files(c, offset_size, files);
    else
      read_v4_files(c, files);

    c.at = program;
    uint64_t addr = 0;
    bool prologue_end = false;
    auto row = [&] {
      if (prologue_end) prologue_ends.push_back(addr);
      prologue_end = false;
    };
    while (c.ok && c.at < end) {
      const uint64_t op = c.u(1);
      if (op >= opcode_base) {
        addr += (op - opcode_base) / line_range * min_inst;
        row();
        continue;
      }
      switch (op) {
        case 0: {  // extended
          const uint64_t n = c.uleb(), at = c.at, sub = c.u(1);
          if (sub == DW_LNE_end_sequence)
            row(), addr = 0;
          else if (sub == DW_LNE_set_address)
            addr = c.u(addr_size);
          c.at = at;
          c.skip(n);
          break;
        }
        case DW_LNS_copy:
          row();
          break;
        case DW_LNS_advance_pc:
          addr += c.uleb() * min_inst;
          break;
        case DW_LNS_const_add_pc:
          addr += (255 - opcode_base) / line_range * min_inst;
          break;
        case DW_LNS_fixed_advance_pc:
          addr += c.u(2);
          break;
        case DW_LNS_set_prologue_end:
          prologue_end = true;
          break;
        default:  // advance_line, set_file, set_column, negate_stmt, ...: operands only
          for (int i = 0; i < arg_counts[op - 1]; ++i) c.uleb();
      }
    }
    return c.ok;
  }

 private:
  struct Cursor {
    std::span<const uint8_t> b;
    uint64_t at = 0;
    bool ok = true;
    uint64_t u(int n) {
      auto v = read_le(b, at, n);
      ok &= v.has_value();
      at += n;
      return v.value_or(0);
    }
    void skip(uint64_t n) {
      if (n > b.size() - std::min<uint64_t>(at, b.size()))
        ok = false;
      else
        at += n;
    }
    uint64_t uleb() {
      uint64_t v = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        const uint64_t c = u(1);
        v |= (c & 0x7f) << shift;
        if (!(c & 0x80) || !ok) break;
      }
      return v;
    }
    std::string_view cstr() {
      if (at >= b.size()) return ok = false, std::string_view{};
      const char* s = reinterpret_cast<const char*>(b.data() + at);
      const size_t n = strnlen(s, b.size() - at);
      at += n + 1;
      return {s, n};
    }
  };

  static std::string base_name(std::string_view path) {
    const auto slash = path.rfind('/');
    return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
  }

  void read_v4_files(Cursor& c, std::vector<std::string>& files) {
    while (c.ok && !c.cstr().empty()) {
    }                      // include_directories
    files.emplace_back();  // DWARF 4 file numbers start at 1
    for (std::string_view name; c.ok && !(name = c.cstr()).empty();) {
      files.push_back(base_name(name));
      c.uleb(), c.uleb(), c.uleb();  // directory, mtime, length
    }
  }

  void read_v5_files(Cursor& c, int offset_size, std::vector<std::string>& files) {
    auto entries = [&](bool keep) {
      std::vector<std::pair<uint64_t, uint64_t>> format(c.u(1));
      for (auto& [content, form] : format) content = c.uleb(), form = c.uleb();
      const uint64_t count = c.uleb();
      if (format.empty()) return;  // entries of nothing: a count alone could spin for ever
      for (uint64_t i = 0; i < count && c.ok; ++i) {
        std::string name;
        for (auto [content, form] : format) {
          std::string_view v;
          switch (form) {
            case DW_FORM_string:
              v = c.cstr();
              break;
            case DW_FORM_line_strp:
              v = string_at(line_str_, c.u(offset_size));
              break;
            case DW_FORM_strp:
              v = string_at(str_, c.u(offset_size));
              break;
            case DW_FORM_udata:
              c.uleb();
              break;
            case DW_FORM_data1:
              c.u(1);
              break;
            case DW_FORM_data2:
              c.u(2);
              break;
            case DW_FORM_data4:
              c.u(4);
              break;
            case DW_FORM_data8:
              c.u(8);
              break;
            case DW_FORM_data16:
              c.skip(16);
              break;
            case DW_FORM_block:
              c.skip(c.uleb());
              break;
            default:
              c.ok = false;  // a form Go does not write: keep the names read so far
          }
          if (content == DW_LNCT_path) name = base_name(v);
        }
        if (keep && c.ok) files.push_back(std::move(name));
      }
    };
    entries(false);  // directories
    entries(true);
  }

  static std::string_view string_at(std::span<const uint8_t> sec, uint64_t off) {
    if (off >= sec.size()) return {};
    const char* s = reinterpret_cast<const char*>(sec.data() + off);
    return {s, strnlen(s, sec.size() - off)};
  }

  std::span<const uint8_t> line_, line_str_, str_;
};

class Reader {
 public:
  Reader(const DwarfFile& file, DwarfInfo& info, int ptr_size)
      : file_(file),
        dw_(file.dwarf()),
        info_(info),
        types_(*info.types, ptr_size),
        lines_(file.section(".debug_line"), file.section(".debug_line_str"), file.section(".debug_str")) {}

  // Returns what went wrong, or "" when every unit was read.
  std::string run(const DwarfFocus* focus) {
    Dwarf_Off off = 0, next;
    size_t hsize;
    int rc;
    bool runtime_read = false;
    focus_ = focus;
    while ((rc = dwarf_nextcu(dw_, off, &next, &hsize, nullptr, nullptr, nullptr)) == 0) {
      Dwarf_Die cu;
      if (!dwarf_offdie(dw_, off + hsize, &cu))
        return fmt::format("unreadable unit at .debug_info+{:#x}: {}", off, dwarf_errmsg(-1));
      const bool runtime = name_of(&cu) == "runtime";  // Go's linker puts the types there
      runtime_read |= runtime;
      if (!focus || wanted(cu, *focus))
        unit(cu, true);
      else if (runtime)
        unit(cu, false);
      off = next;
    }
    if (rc < 0) return fmt::format("unreadable unit at .debug_info+{:#x}: {}", off, dwarf_errmsg(-1));
    if (focus && !runtime_read && !info_.goid_offset) {  // not Go's layout: look for runtime.g everywhere
      for (off = 0; dwarf_nextcu(dw_, off, &next, &hsize, nullptr, nullptr, nullptr) == 0; off = next)
        if (Dwarf_Die cu; dwarf_offdie(dw_, off + hsize, &cu)) unit(cu, false);
    }
    if (info_.functions.empty() && !focus) return "no compiled function described (damaged or foreign DWARF)";
    if (const std::string& lists = file_.deferred_error(); !lists.empty()) return lists;
    std::sort(info_.functions.begin(), info_.functions.end(), [](auto& a, auto& b) { return a.low_pc < b.low_pc; });
    std::sort(info_.prologue_ends.begin(), info_.prologue_ends.end());
    return {};
  }

 private:
  // A unit the focus needs: one named as a focused package, or one holding code at a focused PC.
  static bool wanted(Dwarf_Die& cu, const DwarfFocus& focus) {
    if (std::ranges::find(focus.packages, name_of(&cu)) != focus.packages.end()) return true;
    Dwarf_Addr base = 0, lo = 0, hi = 0;
    for (ptrdiff_t off = 0; (off = dwarf_ranges(&cu, off, &base, &lo, &hi)) > 0;) {
      auto pc = std::lower_bound(focus.pcs.begin(), focus.pcs.end(), lo);
      if (pc != focus.pcs.end() && *pc < hi) return true;
    }
    return false;
  }

  // functions: its subprograms and line program too, else only the types at its top level.
  void unit(Dwarf_Die& cu, bool functions) {
    if (info_.producer.empty()) {
      Dwarf_Attribute a;
      if (dwarf_attr(&cu, DW_AT_producer, &a))
        if (const char* p = dwarf_formstring(&a)) info_.producer = p;
    }
    files_.clear();
    if (functions)
      if (auto stmt = udata(&cu, DW_AT_stmt_list)) lines_.read(*stmt, info_.prologue_ends, files_);
    Dwarf_Die c;
    if (dwarf_child(&cu, &c) != 0) return;
    do {
      const int tag = dwarf_tag(&c);
      if (tag == DW_TAG_subprogram && functions)
        subprogram(c);
      else if (tag == DW_TAG_structure_type)
        structure(c);
    } while (dwarf_siblingof(&c, &c) == 0);
  }

  void subprogram(Dwarf_Die& sp) {
    Dwarf_Addr low;
    if (dwarf_lowpc(&sp, &low) != 0) {
      if (dwarf_hasattr(&sp, DW_AT_inline)) info_.abstract_only.push_back(name_of(&sp));
      return;
    }
    DwarfFunction f;
    f.low_pc = low;
    f.name = name_of(&sp);
    const bool focused = !focus_ || std::ranges::binary_search(focus_->entries, low);
    Dwarf_Die c;
    std::vector<std::pair<Dwarf_Die, std::string>> stack;  // with the function that calls what is inlined there
    if (dwarf_child(&sp, &c) == 0) do {
        const int tag = dwarf_tag(&c);
        if (tag == DW_TAG_formal_parameter && focused) {
          // Go 1.19 lists some results twice (os.ReadFile: ~r0 ~r0 ~r1 ~r1): names are unique
          // in a Go signature but for blank `_`, so a repeated one is the compiler's duplicate
          DwarfParam p = param(c, low);
          bool repeated = p.name != "_" && std::any_of(f.params.begin(), f.params.end(), [&](const DwarfParam& q) {
                            return q.name == p.name && q.result == p.result;
                          });
          if (!repeated) f.params.push_back(std::move(p));
        } else if (tag == DW_TAG_lexical_block || tag == DW_TAG_inlined_subroutine)
          stack.emplace_back(c, f.name);
      } while (dwarf_siblingof(&c, &c) == 0);
    // Inlined call sites anywhere below (blocks nest, inlined bodies contain inlined calls).
    while (!stack.empty()) {
      auto [d, caller] = stack.back();
      stack.pop_back();
      if (dwarf_tag(&d) == DW_TAG_inlined_subroutine) caller = inlined(d, caller, low);
      if (stack.size() > 4096 || dwarf_child(&d, &c) != 0) continue;
      do {
        const int tag = dwarf_tag(&c);
        if (tag == DW_TAG_lexical_block || tag == DW_TAG_inlined_subroutine) stack.emplace_back(c, caller);
      } while (dwarf_siblingof(&c, &c) == 0);
    }
    info_.functions.push_back(std::move(f));
  }

  DwarfParam param(Dwarf_Die& die, uint64_t entry) {
    DwarfParam p;
    p.name = name_of(&die);
    Dwarf_Attribute a;
    bool result = false;
    if (dwarf_attr_integrate(&die, DW_AT_variable_parameter, &a)) dwarf_formflag(&a, &result);
    p.result = result;
    Dwarf_Die t;
    if (ref(&die, DW_AT_type, t)) p.type = types_.get(t);
    p.entry_loc = location_at(file_, &die, entry);
    return p;
  }

  // Records the copy; returns the function it is a copy of (the caller of what is inlined in it).
  std::string inlined(Dwarf_Die& d, const std::string& caller, uint64_t outer_low_pc) {
    Dwarf_Die origin;
    if (!ref(&d, DW_AT_abstract_origin, origin)) return caller;
    std::string site = "?";
    const auto file = udata(&d, DW_AT_call_file);
    const auto line = udata(&d, DW_AT_call_line);
    if (file && *file < files_.size()) site = fmt::format("{}:{}", files_[*file], line.value_or(0));
    DwarfInlined in;
    in.function = name_of(&origin);
    in.caller = caller;
    in.outer_low_pc = outer_low_pc;
    if (file && *file < files_.size()) in.call_file = files_[*file];
    in.call_line = static_cast<int>(line.value_or(0));
    Dwarf_Addr base = 0, lo = 0, hi = 0;
    for (ptrdiff_t off = 0; in.ranges.size() < 1024 && (off = dwarf_ranges(&d, off, &base, &lo, &hi)) > 0;)
      in.ranges.emplace_back(lo, hi);
    Dwarf_Die c;
    const bool focused = !focus_ || std::ranges::binary_search(focus_->names, in.function);
    if (focused && dwarf_child(&d, &c) == 0) do {
        if (dwarf_tag(&c) != DW_TAG_formal_parameter) continue;
        Dwarf_Attribute a;
        bool result = false;
        if (dwarf_attr_integrate(&c, DW_AT_variable_parameter, &a)) dwarf_formflag(&a, &result);
        if (result) continue;  // a copy has no RET: its results are never read there
        DwarfInlinedParam p;
        if (dwarf_attr_integrate(&c, DW_AT_name, &a))
          if (const char* n = dwarf_formstring(&a)) p.name = n;
        Dwarf_Die t;
        if (ref(&c, DW_AT_type, t)) p.type = types_.get(t);
        p.where = locations(file_, &c);
        in.params.push_back(std::move(p));
      } while (dwarf_siblingof(&c, &c) == 0);
    info_.inlined_at[in.function].push_back(std::move(site));
    std::string name = in.function;
    info_.inlined.push_back(std::move(in));
    return name;
  }

  void structure(Dwarf_Die& s) {
    const char* n = dwarf_diename(&s);
    if (n && std::string_view(n) == "string" && !info_.string_type_offset) {
      Dwarf_Attribute a;
      Dwarf_Addr addr;
      if (dwarf_attr(&s, kGoRuntimeType, &a) && dwarf_formaddr(&a, &addr) == 0)
        info_.string_type_offset = addr;
      else
        info_.string_type_offset = udata(&s, kGoRuntimeType);
    }
    if (!n || std::string_view(n) != "runtime.g") return;
    Dwarf_Die m;
    if (dwarf_child(&s, &m) != 0) return;
    do {
      const std::string field = name_of(&m);
      const auto at = udata(&m, DW_AT_data_member_location);
      if (field == "goid") info_.goid_offset = at;
      if (field != "stack" || !at) continue;
      // g.stack is a runtime.stack{lo, hi uintptr}
      Dwarf_Die st, sm;
      if (!ref(&m, DW_AT_type, st) || dwarf_child(&st, &sm) != 0) continue;
      do {
        if (name_of(&sm) == "hi")
          if (auto hi = udata(&sm, DW_AT_data_member_location)) info_.stack_hi_offset = *at + *hi;
      } while (dwarf_siblingof(&sm, &sm) == 0);
    } while (dwarf_siblingof(&m, &m) == 0);
  }

  const DwarfFile& file_;
  Dwarf* dw_;
  const DwarfFocus* focus_ = nullptr;
  DwarfInfo& info_;
  TypeBuilder types_;
  LineProgram lines_;
  std::vector<std::string> files_;  // of the current unit's line program, by DWARF file number
};

}  // namespace

const DwarfFunction* DwarfInfo::function_at(uint64_t low_pc) const {
  auto it = std::lower_bound(functions.begin(), functions.end(), low_pc,
                             [](const DwarfFunction& f, uint64_t v) { return f.low_pc < v; });
  return it != functions.end() && it->low_pc == low_pc ? &*it : nullptr;
}

Result<DwarfInfo> read_dwarf(const ElfFile& elf, const DwarfFile& file, const DwarfFocus* focus) {
  DwarfInfo info;
  info.types = std::make_shared<TypeTable>();
  if (std::string err = Reader(file, info, elf.ptr_size()).run(focus); !err.empty())
    return fail(ErrorKind::bad_input, elf.path().string(), "cannot read DWARF: " + err,
                "rebuild the program, or strip its DWARF (-ldflags=-w) to analyse without signatures");
  return info;
}

}  // namespace bpfault::binary
