// analyse(): ELF → BinaryInfo. Functions come from .gopclntab (it survives stripping), names
// from .symtab when present, code facts from Zydis, signatures from DWARF with locations
// computed by the ABI rules and cross-checked against DWARF's, then a cache per build id.
#include <elf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <xxhash.h>

#include "binary/abi.h"
#include "binary/analysis_cache.h"
#include "binary/binary_info.h"
#include "binary/code.h"
#include "binary/dwarf.h"
#include "binary/go_tables.h"
#include "binary/go_type.h"
#include "binary/image.h"
#include "binary/inlined_copies.h"

namespace bpfault::binary {
namespace fs = std::filesystem;
namespace {

// "go1.27.4" → 27; 0 when unknown.
int go_minor(std::string_view v) {
  auto at = v.find("go1.");
  if (at == std::string_view::npos) return 0;
  int m = 0;
  for (size_t i = at + 4; i < v.size() && v[i] >= '0' && v[i] <= '9'; ++i) m = m * 10 + (v[i] - '0');
  return m;
}

// .go.buildinfo: "\xff Go buildinf:", ptrsize, flags; since Go 1.18 (flags & 2) the version
// follows inline at +32 as a varint-prefixed string, before that through two pointers.
std::string read_go_version(const ElfFile& elf) {
  const auto table = find_buildinfo(elf);
  if (!table) return {};
  auto b = table->bytes;
  static constexpr char kMagic[] = "\xff Go buildinf:";
  if (b.size() < 32 || std::memcmp(b.data(), kMagic, 14) != 0) return {};
  const int w = b[14];
  const uint8_t flags = b[15];
  if (flags & 2) {
    uint64_t len = 0, off = 32;
    for (int shift = 0; off < b.size() && shift < 63; shift += 7) {
      const uint8_t c = b[off++];
      len |= uint64_t(c & 0x7f) << shift;
      if (!(c & 0x80)) break;
    }
    if (len > 64 || off + len > b.size()) return {};
    return std::string(reinterpret_cast<const char*>(b.data() + off), len);
  }
  if (w != 4 && w != 8) return {};
  auto hdr_addr = read_le(b, 16, w);
  if (!hdr_addr) return {};
  auto hdr = elf.at_vaddr(*hdr_addr, 2 * w);
  auto str = read_le(hdr, 0, w), len = read_le(hdr, w, w);
  if (!str || !len || *len > 64) return {};
  auto text = elf.at_vaddr(*str, *len);
  return text.empty() ? std::string() : std::string(reinterpret_cast<const char*>(text.data()), text.size());
}

// The Go build id from .note.go.buildid (an ELF note named "Go", type 4); else the GNU build
// id; else a hash of the whole file.
std::string read_build_id(const ElfFile& elf) {
  for (const char* name : {".note.go.buildid", ".note.gnu.build-id"}) {
    const ElfFile::Section* s = elf.section(name);
    if (!s) continue;
    auto b = elf.bytes(*s);
    auto namesz = read_le(b, 0, 4), descsz = read_le(b, 4, 4);
    if (!namesz || !descsz) continue;
    const uint64_t desc = 12 + ((*namesz + 3) & ~uint64_t(3));
    if (desc + *descsz > b.size() || *descsz == 0) continue;
    auto d = b.subspan(desc, *descsz);
    if (std::string_view(name) == ".note.go.buildid")
      return "go:" + std::string(reinterpret_cast<const char*>(d.data()), d.size());
    std::string hex = "gnu:";
    for (uint8_t c : d) hex += fmt::format("{:02x}", c);
    return hex;
  }
  auto f = elf.file();
  XXH128_hash_t h = XXH3_128bits(f.data(), f.size());
  return fmt::format("xxh3:{:016x}{:016x}", h.high64, h.low64);
}

// runtime.g.goid for binaries without DWARF: amd64 measured for 1.19-1.27
// (notes/go-binaries.md §4); 386 measured for 1.19 (80), 1.24 (84) and 1.27 (80), the other
// releases following amd64's pattern (one more word in 1.23/1.24: same field list). 0: unknown.
uint64_t goid_fallback(Arch arch, int minor) {
  if (arch == Arch::amd64) return (minor == 23 || minor == 24) ? 160 : 152;
  if (minor >= 19 && minor <= 27) return (minor == 23 || minor == 24) ? 84 : 80;
  return 0;
}

bool is_closure_name(std::string_view name) {
  // main.main.func1, main.F.func1.2, main.main.gowrap1, ...deferwrap1, method values (-fm)
  if (name.ends_with("-fm")) return true;
  auto last = name.rfind('.');
  if (last == std::string_view::npos) return false;
  auto tail = name.substr(last + 1);
  if (!tail.empty() && std::all_of(tail.begin(), tail.end(), [](char c) { return c >= '0' && c <= '9'; })) return true;
  for (std::string_view p : {"func", "gowrap", "deferwrap"})
    if (tail.starts_with(p) && tail.size() > p.size() &&
        std::all_of(tail.begin() + p.size(), tail.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return true;
  return false;
}

// A shape instantiation compiled with a dictionary: "main.Gen[go.shape.int]",
// "main.(*Box[go.shape.string]).Put". Not the type-algorithm helpers (type:.eq.*) nor closures.
bool takes_dictionary(std::string_view name) {
  return name.find("[go.shape.") != std::string_view::npos && !name.starts_with("type:") &&
         !name.starts_with("type..") && !is_closure_name(name);
}

// cmd/cgo's wrappers of C functions (`_Cfunc_NAME`, `_C2func_NAME`, `_cgo_cmalloc`) are Go
// functions marked //go:cgo_unsafe_args, which the compiler pins to ABI0: their arguments and
// results are on the stack, as in assembly (.symtab names them NAME.abi0; this is for stripped
// binaries). Not cgo's helpers written in plain Go (C.CString, C.GoString, ...).
bool cgo_unsafe_args(std::string_view name) {
  const auto dot = name.rfind('.');
  const std::string_view base = dot == std::string_view::npos ? name : name.substr(dot + 1);
  if (base == "_cgo_cmalloc" || base.starts_with("_C2func_")) return true;
  if (!base.starts_with("_Cfunc_")) return false;
  static constexpr std::string_view kPlainGo[] = {"CString", "CBytes", "GoString", "GoStringN", "GoBytes", "_CMalloc"};
  return std::ranges::find(kPlainGo, base.substr(7)) == std::end(kPlainGo);
}

bool is_method_name(std::string_view name) {
  const auto close = name.rfind(']');
  return close != std::string_view::npos && close + 1 < name.size();  // "...]).Put" or "...].Get"
}

// Go 1.19's pclntab names every instantiation "main.Gen[...]" or "main.(*Box[...]).Put";
// .symtab spells the shape out ("main.(*Box[go.shape.string_0]).Put").
bool same_instantiation(std::string_view pcln, std::string_view sym) {
  const auto dots = pcln.find("[...]");
  if (dots == std::string_view::npos) return false;
  const auto head = pcln.substr(0, dots + 1), tail = pcln.substr(dots + 4);
  return sym.size() > head.size() + tail.size() && sym.starts_with(head) && sym.ends_with(tail);
}

// "main.(*Point).String" → "*main.Point"; "" when the name is not a pointer method.
std::string pointer_receiver(std::string_view name) {
  if (is_closure_name(name)) return {};  // a method value (-fm) gets its receiver through the closure
  const auto open = name.find(".(*");
  const auto close = name.find(").", open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) return {};
  return fmt::format("*{}.{}", name.substr(0, open), name.substr(open + 3, close - open - 3));
}

// The words and braces of ArgInfo's parameter shapes, "|" before each parameter; a parameter of
// zero size is left out: it takes no place (a method's unnamed receiver of type struct{}).
std::vector<std::string> shape_tokens(const std::vector<std::string>& params) {
  std::vector<std::string> out;
  for (const std::string& p : params) {
    if (p.find_first_not_of("{}") == std::string::npos) continue;
    out.emplace_back("|");
    for (size_t i = 0; i < p.size();) {
      if (p[i] == ' ') {
        ++i;
      } else if (p[i] == '{' || p[i] == '}') {
        out.emplace_back(1, p[i++]);
      } else {
        const size_t end = p.find_first_of(" {}", i);
        out.emplace_back(p.substr(i, end - i));
        i = end == std::string::npos ? p.size() : end;
      }
    }
  }
  return out;
}

// Whether the shapes ArgInfo lists are those of the parameters found. A word listed `_` (its
// offset too large, as a register parameter's spill slot after big stack arguments) matches
// any size. Where a list was cut at 10 words, only what both list is compared: zero-size
// parameters count as a word there, so the two may be cut apart.
bool same_shapes(const std::vector<std::string>& listed, bool listed_complete, const std::vector<std::string>& found,
                 bool found_complete) {
  const auto a = shape_tokens(listed), b = shape_tokens(found);
  if (listed_complete != found_complete) return false;  // one has more words than the other
  if (listed_complete && a.size() != b.size()) return false;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const bool word_a = std::isdigit(static_cast<unsigned char>(a[i][0])),
               word_b = std::isdigit(static_cast<unsigned char>(b[i][0]));
    if (a[i] != b[i] && !((a[i] == "_" && word_b) || (b[i] == "_" && word_a))) return false;
  }
  return true;
}

// A function's FUNCDATA_ArgInfo, which leaves out the first parameter (the dictionary; in a
// generic's closure, a real one) of a name with a '['.
struct Listed {
  ArgInfo info;
  bool skips_first = false;
  bool no_blank = false;  // it lists as many parameters that take bytes as DWARF has (and the dictionary)
};

// The shapes cmd/compile's EmitArgInfo gives parameters of these types (see ArgInfo), cut
// where it stops, at 10 words; known() is false when a type is one it cannot tell.
class ArgInfoModel {
 public:
  explicit ArgInfoModel(int ptr_size) : ptr_(ptr_size) {}
  bool param(const Type* t) {  // false once the list stopped or a type is unknown
    if (!complete_ || !known_) return false;
    if (words_ >= kLimit) return complete_ = false;
    params_.emplace_back();
    return visit(t, 0, params_.back());
  }
  bool known() const { return known_; }
  bool complete() const { return complete_; }
  const std::vector<std::string>& params() const { return params_; }

 private:
  static constexpr int kLimit = 10, kMaxDepth = 5;
  static void token(std::string& s, std::string_view tok) {
    if (!s.empty() && s.back() != '{') s += ' ';
    s += tok;
  }
  bool visit(const Type* t, int depth, std::string& s) {
    if (words_ >= kLimit) return complete_ = false;
    if (!t) return known_ = false;
    auto word = [&](uint64_t size) {
      token(s, std::to_string(size));
      ++words_;
      return true;
    };
    auto words = [&](std::initializer_list<uint64_t> sizes) {
      for (uint64_t size : sizes)
        if (words_ >= kLimit || !word(size)) return complete_ = false;
      return true;
    };
    switch (t->kind) {
      case TypeKind::string:
      case TypeKind::interface:
      case TypeKind::slice:
      case TypeKind::complex_:
      case TypeKind::struct_:
        break;
      case TypeKind::other:
        return known_ = false;
      case TypeKind::array:  // a blank found: its size is all that is known
        if (t->len == 0 && t->size > 0) return known_ = false;
        break;
      default:
        return word(t->size);
    }
    token(s, "{");
    if (++depth >= kMaxDepth) {
      s += "...}";
      ++words_;
      return true;
    }
    bool go_on = true;
    const uint64_t w = uint64_t(ptr_);
    if (t->kind == TypeKind::string || t->kind == TypeKind::interface)
      go_on = words({w, w});
    else if (t->kind == TypeKind::slice)
      go_on = words({w, w, w});
    else if (t->kind == TypeKind::complex_)
      go_on = words({t->size / 2, t->size / 2});
    else if ((t->kind == TypeKind::array && t->len == 0) || (t->kind == TypeKind::struct_ && t->fields.empty()))
      ++words_;  // `{}` counts as a word
    else if (t->kind == TypeKind::array)
      for (uint64_t i = 0; go_on && i < t->len; ++i) go_on = visit(t->elem.get(), depth, s);
    else
      for (size_t i = 0; go_on && i < t->fields.size(); ++i) go_on = visit(t->fields[i].type.get(), depth, s);
    if (!go_on) return false;  // EmitArgInfo stops there
    s += '}';
    return true;
  }

  int ptr_;
  int words_ = 0;
  bool complete_ = true, known_ = true;
  std::vector<std::string> params_;
};

struct Built {
  std::vector<Value> params, results;
  std::vector<std::string> warnings;
  int disagreements = 0;
  size_t anchored = 0;               // params[0, anchored) end with one whose location DWARF states
  std::optional<size_t> doubt_from;  // params from here that DWARF does not confirm are unknown, for `doubt`
  std::string doubt;
};

class SignatureBuilder {
 public:
  SignatureBuilder(const BinaryInfo& info, TypeTable& types, int minor)
      : info_(info), types_(types), minor_(minor), w_(info.ptr_size()) {
    Type dict;
    dict.name = "unsafe.Pointer";
    dict.kind = TypeKind::unsafe_pointer;
    dict.size = w_;
    dict_type_ = &types_.add(std::move(dict));
  }

  // Fills f's params and results from DWARF and the ABI. `arg_info`: the function's
  // FUNCDATA_ArgInfo, the only list of its parameters that has the blank ones before Go 1.22
  // (given for Go 1.19-1.21 only).
  void build(Function& f, const DwarfFunction& df, bool stack_abi, std::optional<ArgInfo> arg_info) {
    std::vector<const DwarfParam*> params, results;
    bool has_dict = false;
    for (const auto& p : df.params) {
      (p.result ? results : params).push_back(&p);
      has_dict |= !p.result && p.name == ".dict";
    }
    f.has_signature = true;
    // Go 1.19 leaves a wrapper's receiver (".this") out of DWARF: put back a pointer of the
    // type its name spells. Later releases list it.
    std::optional<DwarfParam> receiver;
    if (const std::string recv = pointer_receiver(f.name);
        f.wrapper && !recv.empty() && (params.empty() || !params[0]->type || params[0]->type->name != recv)) {
      Type t;
      t.name = recv;
      t.kind = TypeKind::pointer;
      t.size = w_;
      receiver = DwarfParam{".this", &types_.add(std::move(t)), false, std::nullopt};
      params.insert(params.begin(), &*receiver);
    }
    const bool dict = !f.abi0 && !has_dict && takes_dictionary(f.name);  // 386 passes it too, on the stack
    std::optional<Listed> listed;
    if (arg_info && !(f.abi0 && info_.arch == Arch::amd64))  // ABI0 bodies: a wrapper's DWARF
      listed = Listed{std::move(*arg_info), f.name.find('[') != std::string::npos};
    if (listed) listed->no_blank = lists_no_blank(*listed, params, dict);
    Built best;
    if (!dict) {
      best = assign(params, results, stack_abi, f.body_sp_delta, -1, f.args_size, listed);
    } else {
      // The dictionary comes first for functions; for methods Go 1.19 put it before the
      // receiver and later releases after it. DWARF's receiver location decides when it can.
      const int preferred = is_method_name(f.name) && (minor_ == 0 || minor_ >= 20) ? 1 : 0;
      best = assign(params, results, stack_abi, f.body_sp_delta, preferred, f.args_size, listed);
      if (best.disagreements > 0 && is_method_name(f.name)) {
        Built other = assign(params, results, stack_abi, f.body_sp_delta, 1 - preferred, f.args_size, listed);
        if (other.disagreements < best.disagreements) best = std::move(other);
      }
    }
    f.params = std::move(best.params);
    f.results = std::move(best.results);
    for (auto& w : best.warnings) f.warnings.push_back(std::move(w));
  }

 private:
  Value make_value(const DwarfParam& p) {
    Value v;
    v.name = p.name;
    v.hidden = p.name == ".dict" || p.name == "_" || p.name.starts_with("~p");
    const Type* t = p.name == ".dict" ? dict_type_ : p.type;
    if (t) v.type = types_.owning(t);
    return v;
  }

  // dict_at: where to insert the hidden dictionary (-1: none).
  Built assign(const std::vector<const DwarfParam*>& params, const std::vector<const DwarfParam*>& results,
               bool stack_abi, int body_sp_delta, int dict_at, int32_t args_size, const std::optional<Listed>& listed) {
    Built out;
    const int param_base = w_ + body_sp_delta;
    AbiAssigner abi(info_.arch, stack_abi, param_base);
    // false: DWARF states no location for it, or another one than the ABI's
    auto check = [&](const Value& v, const DwarfParam* p, int sp_base) {
      if (!p || !p->entry_loc || stack_abi != (info_.arch != Arch::amd64))
        return false;  // ABI0 bodies borrow a wrapper's DWARF
      if (auto d = cross_check(v, *p->entry_loc, sp_base)) {
        ++out.disagreements;
        out.warnings.push_back(*d);
        return false;
      }
      return !p->entry_loc->empty() && p->entry_loc->front().kind != DwarfPiece::Kind::empty;
    };
    std::vector<bool> confirmed;  // by out.params' index: DWARF places it where the ABI does
    for (size_t i = 0; i <= params.size(); ++i) {
      if (int(i) == dict_at) {
        Value d;
        d.name = ".dict";
        d.hidden = true;
        d.type = types_.owning(dict_type_);
        abi.assign(d);
        out.params.push_back(std::move(d));
        confirmed.push_back(true);  // first (or after the receiver), before any blank
      }
      if (i == params.size()) break;
      const DwarfParam* p = params[i];
      Value v = make_value(*p);
      // a complete ArgInfo vouches for a blank (its count) or for none (no_blank)
      if (!listed || !listed->no_blank) infer_blank(abi, v, *p, out, listed && listed->info.complete);
      confirmed.resize(out.params.size(), true);  // the blanks it added
      abi.assign(v);
      // a wrapper's receiver build() put back: first by construction, so placed
      const bool put_back_receiver = i == 0 && p->name == ".this" && !p->entry_loc;
      confirmed.push_back(check(v, p, param_base) || put_back_receiver);
      out.params.push_back(std::move(v));
      if (put_back_receiver ||
          (p->entry_loc && !p->entry_loc->empty() && p->entry_loc->front().kind != DwarfPiece::Kind::empty))
        out.anchored = out.params.size();
    }
    // the parameters from `from` on that DWARF does not confirm are unknown, for `why`
    auto unplace = [&](size_t from, const std::string& why) {
      for (size_t i = from; i < confirmed.size(); ++i) {
        Value& v = out.params[i];
        if (confirmed[i] || v.hidden || v.pieces.empty()) continue;
        for (Piece& piece : v.pieces) piece.loc = Loc{};
        v.on_stack = false;
        out.warnings.push_back(fmt::format("{}: {}: location unknown", v.name, why));
      }
    };
    if (out.doubt_from) unplace(*out.doubt_from, out.doubt);
    bool results_placed = (listed && listed->no_blank) || trailing_blank(abi, results, args_size, out);
    std::string unseen;  // the evidence of a parameter nothing placed
    if (listed && unseen_blank(*listed, out))
      unseen = fmt::format("FUNCDATA_ArgInfo lists parameters ({}{}) that DWARF and what its locations reveal do not",
                           fmt::join(listed->info.params, ", "), listed->info.complete ? "" : ", ...");
    else if (!results_placed)
      unseen = fmt::format(
          "pclntab gives {} bytes of arguments, more than the parameters DWARF and its locations reveal "
          "and the results take",
          args_size);
    if (!unseen.empty()) {
      unplace(0, unseen +
                     ": a blank or unnamed parameter DWARF leaves out lies before or after it, and DWARF does not "
                     "place it");
      results_placed &= stack_abi;  // on 386 the argument bytes placed the results (trailing_blank)
    }
    abi.start_results(w_);
    for (const DwarfParam* p : results) {
      Value v = make_value(*p);
      abi.assign(v);
      check(v, p, w_);
      if (!results_placed && v.on_stack) {
        for (Piece& piece : v.pieces) piece.loc = Loc{};
        v.on_stack = false;
        out.warnings.push_back(
            fmt::format("{}: a blank parameter DWARF leaves out takes stack or spill bytes: location unknown",
                        v.name.empty() ? "result" : v.name));
      }
      out.results.push_back(std::move(v));
    }
    return out;
  }

  // Go 1.19-1.21 leave blank `_` parameters out of DWARF, so every later parameter looks
  // shifted; DWARF's entry location for the next parameter reveals what the blank took:
  // registers (it is in a later register, or on the stack although the registers left would
  // hold it) or stack bytes (it is further up the stack). (1.22+ lists them as ~p0.)
  void infer_blank(AbiAssigner& abi, const Value& v, const DwarfParam& p, Built& out, bool blank_vouched) {
    if (minor_ == 0 || minor_ >= 22 || !p.entry_loc || p.entry_loc->empty() || !v.type) return;
    const DwarfPiece& first = p.entry_loc->front();
    const Leaves l = leaves(*v.type, w_);
    const bool fits = !abi.stack_abi() && l.register_ok && abi.next_int() + l.ints <= kIntRegs &&
                      abi.next_float() + l.floats <= kFloatRegs;
    if (first.kind == DwarfPiece::Kind::cfa && first.cfa_off >= 0 && v.type->size > 0) {
      if (fits) {  // found by fuzz/abi seed 2 (Go 1.19): `_ int` took the last register, so the next int went on the
                   // stack
        const int gap_int = l.ints ? kIntRegs - abi.next_int() - l.ints + 1 : 0;
        const int gap_fp = l.ints ? 0 : kFloatRegs - abi.next_float() - l.floats + 1;
        Value b = blank(uint64_t(gap_int + gap_fp) * w_);
        abi.skip_registers(b, gap_int, gap_fp);
        add_blank(std::move(b), out);
        // and stack bytes are missing before it too: a parameter DWARF does not place took
        // them, the blank took registers (or the other way round); either way DWARF says where
        // this one is (fuzz/abi seed 103: `_ S998, p2 S999, p3 uint16` with p2 unplaced)
        const uint64_t a = alignment(*v.type, w_), at = (abi.stack_size() + a - 1) / a * a;
        if (first.cfa_off > int64_t(at) && (blank_vouched || !dead_first_words(v, first.cfa_off - at, out))) {
          Value s = blank(first.cfa_off - at);
          abi.assign(s);
          add_blank(std::move(s), out);
        }
        return;
      }
      if (abi.stack_abi() && info_.arch == Arch::amd64) return;  // ABI0 bodies borrow a wrapper's DWARF
      const uint64_t a = alignment(*v.type, w_), at = (abi.stack_size() + a - 1) / a * a;
      if (first.cfa_off <= int64_t(at) || (!blank_vouched && dead_first_words(v, first.cfa_off - at, out))) return;
      Value b = blank(first.cfa_off - at);  // the blank took stack bytes
      abi.assign(b);
      add_blank(std::move(b), out);
      return;
    }
    if (first.kind != DwarfPiece::Kind::reg || abi.stack_abi()) return;
    // the first integer and the first float register among its pieces: a value that starts
    // with a float can still reveal a gap in the integer registers (fuzz/abi seed 102, Go 1.19:
    // `_ [1]S, p3 struct{F float64; I int}` at xmm0,r9 was placed at xmm0,rdi)
    int gap_int = 0, gap_fp = 0, first_int = -1, first_fp = -1;
    for (const DwarfPiece& d : *p.entry_loc) {
      if (d.kind != DwarfPiece::Kind::reg) continue;
      if (first_int < 0 && abi_int_index(d.dwreg) >= 0) first_int = abi_int_index(d.dwreg);
      if (first_fp < 0 && abi_xmm_index(d.dwreg) >= 0) first_fp = abi_xmm_index(d.dwreg);
    }
    if (first_int > abi.next_int()) gap_int = first_int - abi.next_int();
    if (first_fp > abi.next_float()) gap_fp = first_fp - abi.next_float();
    if ((!gap_int && !gap_fp) || !l.register_ok || abi.next_int() + gap_int + l.ints > kIntRegs ||
        abi.next_float() + gap_fp + l.floats > kFloatRegs)
      return;
    Value b = blank(uint64_t(gap_int + gap_fp) * w_);
    abi.skip_registers(b, gap_int, gap_fp);
    add_blank(std::move(b), out);
  }

  // Go 1.19-1.21 leave blank and unnamed parameters out of DWARF; infer_blank and trailing_blank
  // find those a later location or the argument bytes reveal. ArgInfo lists every parameter's
  // shape: one that differs from the shapes of the parameters found (DWARF's, the dictionary)
  // is a parameter nothing placed, which the ones DWARF does not place may follow (fuzz/abi seed
  // 502, Go 1.19: `F903[T0 any](g0 T0, p0 [4]bool, _ int8, p2 S2655)` read p2 one register
  // low; seed 107: `M876(p0 int, p1 float32, p2 int, p3 []int32, _ []int32, p5 S2341)` read p5
  // in registers, not on the stack). Once a blank was found its shape is unknown, and only more
  // parameters taking bytes than those found tell. A blank ArgInfo's 10 words do not reach, with
  // no later location and no argument bytes to reveal it, stays unseen.
  bool unseen_blank(const Listed& listed, const Built& out) const {
    if (listed.no_blank) return false;
    ArgInfoModel model(w_);
    for (size_t i = listed.skips_first ? 1 : 0; i < out.params.size(); ++i)
      if (!model.param(out.params[i].type.get())) break;
    if (model.known()) return !same_shapes(listed.info.params, listed.info.complete, model.params(), model.complete());
    int sized_found = 0;
    for (size_t i = listed.skips_first ? 1 : 0; i < out.params.size(); ++i)
      sized_found += !out.params[i].type || out.params[i].type->size > 0;
    return sized(listed.info) > sized_found;
  }

  static int sized(const ArgInfo& info) {  // parameters listed that take bytes (not `{}`)
    return int(std::ranges::count_if(
        info.params, [](const std::string& p) { return p.find_first_not_of("{}") != std::string::npos; }));
  }

  // Whether a complete ArgInfo lists exactly DWARF's parameters: then there is no blank, whatever
  // a DWARF location seems to reveal (see dead_first_words: `(*endOfEarlyDataMsg).unmarshal(data
  // []byte) bool` on 386, which reads len(data) at 0xc(SP), has data at cfa+8; a blank was
  // inferred before it and data read from its length).
  static bool lists_no_blank(const Listed& listed, const std::vector<const DwarfParam*>& params, bool dict) {
    if (!listed.info.complete) return false;
    int found = dict ? 1 : 0;
    for (const DwarfParam* p : params) found += !p->type || p->type->size > 0;
    if (listed.skips_first && (dict || (!params.empty() && (!params[0]->type || params[0]->type->size > 0)))) --found;
    return sized(listed.info) == found;
  }

  // Go 1.19-1.21 place a value on the stack whose first words are dead (never read) at its first
  // live word: `describe(name string, n int)`, which reads only len(name), has name at cfa+4 on
  // 386. Unless a complete ArgInfo says a blank exists, a gap smaller than the value is that as
  // well as a blank before it: no blank is put in, and the parameters DWARF does not confirm,
  // from the last place it states on, are unknown (Built::doubt_from), not shifted.
  bool dead_first_words(const Value& v, int64_t gap, Built& out) {
    if (!v.type || uint64_t(gap) >= v.type->size) return false;
    if (!out.doubt_from) {
      out.doubt_from = out.anchored;  // a blank could lie anywhere after the last place DWARF states
      out.doubt = fmt::format(
          "DWARF places {} {} bytes after where the ABI does, which is a blank parameter DWARF leaves out or Go "
          "1.19-1.21's way of placing a value whose first words are never read at its first word that is",
          v.name, gap);
    }
    return true;
  }

  // A blank parameter of Go 1.19-1.21 with no later parameter to reveal it still counts in
  // the bytes pclntab gives for arguments and results (on amd64 these include the spill area
  // of the register arguments). On 386 the missing bytes are the blank's (found by fuzz/abi
  // seed 1: the results of `F(_ float64) fmt.Stringer` were read 8 bytes too low). On amd64
  // they may be its stack bytes or its spill slot: the stack results' place is then unknown
  // (seed 13: `F(..., _ S640, p4 string, p5 uint32) (..., o2 [2]S642)` read o2 64 bytes low).
  // Returns whether the results on the stack are still placed.
  bool trailing_blank(AbiAssigner& abi, const std::vector<const DwarfParam*>& results, int32_t args_size, Built& out) {
    if (minor_ == 0 || minor_ >= 22 || (abi.stack_abi() && info_.arch == Arch::amd64) || args_size <= 0) return true;
    AbiAssigner dry = abi;
    dry.start_results(w_);
    for (const DwarfParam* p : results) {
      Value v = make_value(*p);
      dry.assign(v);
    }
    uint64_t counted = (dry.stack_size() + w_ - 1) / w_ * w_;
    if (!abi.stack_abi()) {
      for (const Value& v : out.params)
        if (!v.on_stack && v.type && !v.pieces.empty()) {
          const uint64_t a = alignment(*v.type, w_);
          counted = (counted + a - 1) / a * a + v.type->size;
        }
      counted = (counted + w_ - 1) / w_ * w_;
    }
    if (uint64_t(args_size) <= counted) return true;
    if (!abi.stack_abi()) return false;
    Value b = blank(args_size - counted);
    abi.assign(b);
    add_blank(std::move(b), out);
    return true;
  }

  // The blank lies somewhere after the last parameter DWARF placed: the parameters since
  // then, which DWARF does not place (optimized out), may sit before or after it, so their
  // locations are unknown rather than guessed (fuzz/abi seed 11, Go 1.19 on 386:
  // `F(p0 string, _ int, p2 float64, p3 uint32)` with p2 unplaced read p2 4 bytes low).
  void add_blank(Value b, Built& out) {
    for (size_t i = out.anchored; i < out.params.size(); ++i) {
      Value& v = out.params[i];
      if (v.hidden || v.pieces.empty()) continue;
      for (Piece& p : v.pieces) p.loc = Loc{};
      v.on_stack = false;
      out.warnings.push_back(
          fmt::format("{}: a blank parameter DWARF leaves out lies before or after it, and DWARF does not place it: "
                      "location unknown",
                      v.name));
    }
    out.params.push_back(std::move(b));
    out.anchored = out.params.size();
  }

  // A blank parameter DWARF left out: its size is all that is known of its type. Bytes with
  // no alignment of their own (an array of unknown elements), so that on the stack it covers
  // the padding before it as well (fuzz/abi seed 12, Go 1.19 on 386: `p3 uint16, _ []int32,
  // p5 bool` placed p5 2 bytes high).
  Value blank(uint64_t size) {
    Type t;
    t.name = "?";
    t.kind = TypeKind::array;
    t.size = size;
    Value b;
    b.name = "_";
    b.hidden = true;
    b.type = types_.owning(&types_.add(std::move(t)));
    return b;
  }

  const BinaryInfo& info_;
  TypeTable& types_;
  int minor_;
  int w_;
  const Type* dict_type_ = nullptr;
};

std::string join_sites(const std::vector<std::string>& sites, size_t max) {
  std::string s;
  for (size_t i = 0; i < sites.size() && i < max; ++i) s += (i ? ", " : "") + sites[i];
  if (sites.size() > max) s += fmt::format(", ... {} more", sites.size() - max);
  return s;
}

using Symbols = std::vector<std::pair<uint64_t, std::string_view>>;  // STT_FUNC by address

// The .symtab name at the function's entry tells ABI0 bodies (".abi0") and, in Go 1.19,
// generic instantiations (pclntab says "main.Gen[...]" for all of them) apart.
void name_from_symbols(Function& f, const PclnFunc& pf, const Symbols& syms) {
  auto [lo, hi] = std::equal_range(syms.begin(), syms.end(), Symbols::value_type(pf.entry, {}),
                                   [](auto& a, auto& b) { return a.first < b.first; });
  for (auto it = lo; it != hi; ++it) {
    const std::string_view s = it->second;
    const bool abi0_name = s.ends_with(".abi0") && s.substr(0, s.size() - 5) == pf.name;
    const bool generic_1_19 = same_instantiation(pf.name, s);
    if (s == pf.name || abi0_name || generic_1_19) {
      f.symbol = std::string(s);
      if (generic_1_19) f.name = f.symbol;
      return;
    }
    if (f.symbol.empty()) f.symbol = std::string(s);
  }
}

// Whether the function can be probed at all: its code is in the file.
bool code_in_file(Function& f, const PclnFunc& pf, const ElfFile& elf) {
  if (pf.end > pf.entry && elf.at_vaddr(pf.entry, pf.end - pf.entry).empty()) {
    f.not_probeable = "its code is not in the file (no PT_LOAD covers it)";
    return false;
  }
  return true;
}

// Body and RETs (and why there is no RET probe, when there is none), from the sweep.
void set_probe_points(Function& f, const PclnFunc& pf, const CodeScan& scan, const Pclntab& pcln,
                      const DwarfInfo* dwarf) {
  f.rets = scan.rets;
  f.body = scan.body;
  if (dwarf && !scan.body_at_push) {  // a push rbp is before prologue_end on purpose (see prologue_end())
    auto pe = std::lower_bound(dwarf->prologue_ends.begin(), dwarf->prologue_ends.end(), pf.entry);
    if (pe != dwarf->prologue_ends.end() && *pe < pf.end) {
      if (*pe != scan.body)
        f.warnings.push_back(
            fmt::format("prologue_end in .debug_line is +{:#x}, decoding finds +{:#x}; using .debug_line",
                        *pe - pf.entry, scan.body - pf.entry));
      f.body = *pe;
    }
  }
  if (f.body != f.entry) f.body_sp_delta = pcln.pc_value(pf.pcsp, pf.entry, f.body).value_or(0);
  // Its call is still probed (the body is decoded): only what needs a RET is refused.
  if (scan.stop) {
    f.rets.clear();
    f.no_ret = fmt::format("the instruction at +{:#x} ({}) cannot be decoded, and a RET could hide behind it",
                           *scan.stop - pf.entry, scan.stop_bytes);
  } else if (f.rets.empty()) {
    std::string how = "it never returns to its caller (it panics, exits or loops)";
    if (scan.tail_target) {
      const PclnFunc* t = pcln.lookup(*scan.tail_target);
      how = fmt::format("it ends with a tail jump to {}",
                        t ? std::string(t->name) : fmt::format("{:#x}", *scan.tail_target));
    }
    f.no_ret = how;
  }
}

// Whether `glob` names f (its Go name, or its ELF symbol as `find` takes it).
bool named_by(const Function& f, const std::vector<std::string>& globs) {
  return std::ranges::any_of(globs, [&](const std::string& g) {
    return glob_match(g, f.name) || (!f.symbol.empty() && glob_match(g, f.symbol));
  });
}

using ByName = std::unordered_map<std::string_view, std::vector<size_t>>;

// ABI wrappers share their function's name and take the other calling convention: an
// assembly body (ABI0) gets an ABIInternal wrapper for Go callers, a Go function called
// from assembly gets an ABI0 wrapper (".abi0" in .symtab). Returns the compiled functions (the
// first `compiled`) that are focused by name (a focus names a name: all of its functions).
ByName mark_abi_wrappers(std::vector<Function>& fs, size_t compiled, const std::vector<char>& focused) {
  ByName by_name;
  for (size_t i = 0; i < compiled; ++i)
    if (focused[i]) by_name[fs[i].name].push_back(i);
  for (auto& [name, group] : by_name) {
    if (group.size() < 2) continue;
    bool body_is_abi0 = false;
    for (size_t i : group) body_is_abi0 |= !fs[i].wrapper && fs[i].abi0;
    for (size_t i : group)
      if (fs[i].wrapper) fs[i].abi0 = !body_is_abi0;
  }
  return by_name;
}

// Functions DWARF knows only as inlined (DW_AT_inline, no code of their own): said so with
// where DWARF saw them inlined, whether the inline trees had found a copy of them already
// (appended after the first `compiled`) or not (appended now). Those appended are kept by name.
void add_inlined_everywhere(const DwarfInfo& dwarf, const ByName& compiled_by_name, std::vector<Function>& fs,
                            size_t compiled, const std::vector<std::string>& focus) {
  std::unordered_map<std::string, size_t> appended;
  for (size_t i = compiled; i < fs.size(); ++i) appended.emplace(fs[i].name, i);
  for (const std::string& name : dwarf.abstract_only) {
    if (compiled_by_name.count(name)) continue;
    auto it = appended.find(name);
    if (it == appended.end()) {
      Function f;
      f.name = name;
      if (!focus.empty() && !named_by(f, focus)) continue;
      fs.push_back(std::move(f));
      it = appended.emplace(name, fs.size() - 1).first;
    }
    Function& f = fs[it->second];
    if (auto at = dwarf.inlined_at.find(name); at != dwarf.inlined_at.end()) f.inlined_at = at->second;
    f.not_probeable = f.inlined_at.empty()
                          ? "inlined everywhere: no out-of-line copy and no call site left"
                          : fmt::format(
                                "inlined everywhere: no out-of-line copy; inlined at {} call site(s) ({}); "
                                "mark it //go:noinline or build with -gcflags=all=-l to probe it",
                                f.inlined_at.size(), join_sites(f.inlined_at, 4));
  }
  std::sort(fs.begin() + compiled, fs.end(), [](auto& a, auto& b) { return a.name < b.name; });
}

// What the DWARF must be read for under a focus: the units that hold the focused functions'
// code and their copies' outer functions, and the focused names' packages (a function inlined
// everywhere is described only there, and one whose copies all lost their code is named by
// nothing else: an exact name's package is read too).
DwarfFocus dwarf_focus(const BinaryInfo& info, const std::vector<char>& focused,
                       const std::vector<std::string>& focus) {
  DwarfFocus df;
  auto package = [&](std::string pkg) {
    if (std::ranges::find(df.packages, pkg) == df.packages.end()) df.packages.push_back(std::move(pkg));
  };
  for (size_t i = 0; i < info.functions.size(); ++i) {
    const Function& f = info.functions[i];
    if (!focused[i]) continue;
    if (f.entry) df.pcs.push_back(f.entry), df.entries.push_back(f.entry);
    for (const InlinedCopy& c : f.inlined_copies) df.pcs.push_back(c.mark);
    df.names.push_back(f.name);
    package(go_package(f.name));
  }
  for (const std::string& glob : focus)
    if (glob.find_first_of("*?") == std::string::npos) package(go_package(glob));
  std::ranges::sort(df.pcs);
  std::ranges::sort(df.entries);
  std::ranges::sort(df.names);
  return df;
}

// runtime_text: what Pclntab::parse was given, for rebuilding the image from a cached analysis.
// focus: the globs of the functions analysed in full; empty: all of them.
Result<std::shared_ptr<BinaryInfo>> analyse_file(ElfFile elf, std::string build_id, Detail detail,
                                                 const std::vector<std::string>& focus,
                                                 std::optional<uint64_t>& runtime_text) {
  auto info = std::make_shared<BinaryInfo>();
  info->detail = detail;
  info->focus = focus;
  info->path = elf.path();
  info->arch = elf.arch();
  info->pie = elf.pie();
  info->stripped = !elf.has_symtab();
  info->build_id = std::move(build_id);
  info->go_version = read_go_version(elf);
  const int minor = go_minor(info->go_version);

  // DWARF (inflating it, and without a focus the DIE walk) needs nothing from the rest and
  // takes the longest on a big binary: it starts first, on a thread of its own, beside the
  // machine-code sweep and the inline trees. Under a focus the units it needs are read once
  // the focused functions' copies are known.
  const bool want_dwarf = detail == Detail::full;
  std::unique_ptr<DwarfFile> dwarf_file;
  std::future<Result<std::optional<DwarfInfo>>> dwarf_read;
  if (want_dwarf)
    dwarf_read = std::async(std::launch::async, [&]() -> Result<std::optional<DwarfInfo>> {
      auto file = DwarfFile::open(elf);
      if (!file) return tl::unexpected(file.error());
      if (!*file) return std::nullopt;
      dwarf_file = std::move(*file);
      if (!focus.empty()) return std::nullopt;  // read below
      return read_dwarf(elf, *dwarf_file);
    });

  Symbols syms;
  elf.for_each_symbol([&](const ElfFile::Symbol& s) {
    if (s.type == 2 /*STT_FUNC*/) syms.emplace_back(s.value, s.name);
    if (s.name == "runtime.text") runtime_text = s.value;
    return true;
  });
  std::sort(syms.begin(), syms.end());

  auto pcln = Pclntab::parse(elf, runtime_text);
  if (!pcln) return tl::unexpected(pcln.error());
  if (info->go_version.empty())
    info->warnings.push_back("no Go version in .go.buildinfo: per-version facts (goid offset) are guesses");
  for (auto& w : pcln->warnings) info->warnings.push_back(w);
  info->text_base = pcln->text_base();
  // Go's own linker starts the program in Go's text (_rt0_amd64_linux); an external one in
  // the C runtime's (_start, before Go's text), and adds .init.
  info->external_link = elf.section(".init") != nullptr || elf.entry() < pcln->text_base();

  // Every function by name; under a focus, only those it names are analysed further.
  const auto& funcs = pcln->funcs();
  const uint8_t wrapper_id = pcln->wrapper_func_id();
  info->functions.reserve(funcs.size());
  for (const PclnFunc& pf : funcs) {
    Function& f = info->functions.emplace_back();
    f.name = std::string(pf.name);
    f.entry = pf.entry;
    f.end = pf.end;
    f.abi0 = pf.flag & kFuncFlagAsm;
    f.wrapper = wrapper_id != 0 && pf.func_id == wrapper_id;
    f.args_size = pf.args;
    name_from_symbols(f, pf, syms);
    // A Go body the linker names NAME.abi0: the compiler pinned it to ABI0 (//go:cgo_unsafe_args)
    if (!f.wrapper && (f.symbol.ends_with(".abi0") || (f.symbol.empty() && cgo_unsafe_args(f.name)))) f.abi0 = true;
  }
  const size_t compiled = funcs.size();
  std::vector<char> focused(compiled, 1);
  if (!focus.empty())
    for (size_t i = 0; i < compiled; ++i) focused[i] = named_by(info->functions[i], focus);

  // The machine-code sweep: RETs and the call site of each function analysed (not for names:
  // whether a function can be probed does not depend on its RETs, and the sweep is most of
  // the cost of a whole analysis without DWARF).
  const CodeDecoder decoder(info->arch);
  std::vector<CodeScan> scans(compiled);
  if (detail == Detail::full)
    for (size_t i = 0; i < compiled; ++i) {
      if (!focused[i]) continue;
      auto code = elf.at_vaddr(funcs[i].entry, funcs[i].end - funcs[i].entry);
      if (!code.empty()) scans[i] = decoder.scan(code, funcs[i].entry);
    }
  // Inlined copies from pclntab's inline trees (stripped binaries too), found by name.
  if (want_dwarf) add_inlined_copies(*pcln, elf, decoder, info->functions, focus.empty() ? nullptr : &focus);
  focused.resize(info->functions.size(), 1);  // what add_inlined_copies added was focused

  std::optional<DwarfInfo> dwarf;
  if (dwarf_read.valid()) {
    if (auto d = dwarf_read.get())
      dwarf = std::move(*d);
    else
      info->warnings.push_back(d.error().what + " (analysed without signatures)");
  }
  if (!dwarf && dwarf_file) {  // focused: the units it needs
    const DwarfFocus df = dwarf_focus(*info, focused, focus);
    if (auto d = read_dwarf(elf, *dwarf_file, &df))
      dwarf = std::move(*d);
    else
      info->warnings.push_back(d.error().what + " (analysed without signatures)");
  }
  info->has_dwarf = dwarf.has_value();
  if (!dwarf) dwarf_file.reset();  // nothing to keep open

  for (size_t i = 0; i < compiled; ++i) {
    Function& f = info->functions[i];
    if (!focused[i]) {
      f.analysed = false;
      f.not_probeable = kNotAnalysed;
      continue;
    }
    if (code_in_file(f, funcs[i], elf) && detail == Detail::full)
      set_probe_points(f, funcs[i], scans[i], *pcln, dwarf ? &*dwarf : nullptr);
    if (dwarf)
      if (auto it = dwarf->inlined_at.find(f.name); it != dwarf->inlined_at.end()) {
        f.inlined_at = it->second;
        f.warnings.push_back(
            fmt::format("also inlined at {} call site(s) ({}): count and stack probes count those calls too (at "
                        "their marks, when each can be counted exactly), a probe that records, times or writes misses "
                        "them",
                        it->second.size(), join_sites(it->second, 4)));
      }
  }
  const auto by_name = mark_abi_wrappers(info->functions, compiled, focused);

  if (dwarf) {
    SignatureBuilder signatures(*info, *dwarf->types, minor);
    // only Go 1.19-1.21 leave parameters out of DWARF: later ones need no ArgInfo parsed
    auto arg_info = [&](size_t i) { return minor != 0 && minor < 22 ? pcln->arg_info(funcs[i]) : std::nullopt; };
    auto dwarf_of = [&](size_t i) { return dwarf->function_at(funcs[i].entry); };
    for (size_t i = 0; i < compiled; ++i) {
      if (!focused[i]) continue;
      Function& f = info->functions[i];
      const DwarfFunction* df = dwarf_of(i);
      if (df && !df->params.empty()) {
        signatures.build(f, *df, f.abi0 || info->arch != Arch::amd64, arg_info(i));
        continue;
      }
      // An assembly body has no DWARF parameters; its ABIInternal wrapper's are the same.
      for (size_t j : by_name.at(f.name))
        if (j != i && f.abi0 && dwarf_of(j) && !dwarf_of(j)->params.empty()) {
          signatures.build(f, *dwarf_of(j), true, arg_info(i));
          break;
        }
      if (!f.has_signature && df && (!f.abi0 || f.args_size == 0)) f.has_signature = true;  // nothing in, nothing out
    }
    add_inlined_everywhere(*dwarf, by_name, info->functions, compiled, focus);
    locate_copy_params(*dwarf, *pcln, info->arch, info->functions);
  } else {
    for (Function& f : info->functions)
      for (InlinedCopy& c : f.inlined_copies) c.params_why = "the binary has no DWARF (stripped)";
  }

  if (dwarf && dwarf->goid_offset) {
    info->goid_offset = *dwarf->goid_offset;
  } else {
    info->goid_offset = goid_fallback(info->arch, minor);
    if (!info->goid_offset)
      info->warnings.push_back(fmt::format("runtime.g.goid offset unknown for {} {} without DWARF", info->go_version,
                                           arch_name(info->arch)));
    else if (minor < 19 || minor > 27)
      info->warnings.push_back(fmt::format("runtime.g.goid offset {} guessed: {} was not measured", info->goid_offset,
                                           info->go_version.empty() ? "this Go version" : info->go_version));
  }
  info->stack_hi_offset = dwarf && dwarf->stack_hi_offset ? *dwarf->stack_hi_offset : info->ptr_size();

  for (const auto& seg : elf.segments())
    if (seg.type == PT_LOAD && (seg.flags & PF_W))
      info->writable_end = std::max(info->writable_end, seg.vaddr + seg.memsz);
  info->image = std::make_shared<const Image>(std::move(elf), std::move(*pcln), std::move(dwarf_file));
  if (dwarf && dwarf->string_type_offset)
    if (auto types = info->variable("runtime.types")) info->string_type = *types + *dwarf->string_type_offset;
  return info;
}

const std::vector<std::string> kWhole;  // the focus of a whole analysis

std::optional<fs::path>& disk_cache() {
  static std::optional<fs::path> dir;
  return dir;
}

// The analysis from the disk cache, with its image rebuilt on `elf`; nullptr on a miss. A whole
// analysis answers any focus; a focused one only its own, and is read first: it is a fraction of
// the whole one's size (the demo's: 0.33 MB against 1.6), and reading is most of the cost.
std::shared_ptr<BinaryInfo> from_disk(ElfFile& elf, const std::string& key, Detail detail,
                                      const std::vector<std::string>& focus) {
  if (!disk_cache()) return nullptr;
  for (const std::vector<std::string>* f : {&focus, &kWhole})
    for (Detail d : {Detail::full, Detail::names}) {
      if (d < detail || (f == &focus && focus.empty())) continue;
      auto cached = load_analysis(*disk_cache(), key, d, *f);
      if (!cached) continue;
      auto pcln = Pclntab::parse(elf, cached->runtime_text);
      if (!pcln) return nullptr;
      cached->info->path = elf.path();
      cached->info->kept = true;
      cached->info->image = std::make_shared<const Image>(std::move(elf), std::move(*pcln));
      return cached->info;
    }
  return nullptr;
}

}  // namespace

void set_analysis_cache(std::optional<fs::path> dir) { disk_cache() = std::move(dir); }

namespace {

// What names an analysis in the caches: the Go build id and a hash of the bytes (strip(1), a
// patch or damage keep the Go build id but change the file). XXH3 reads ~10 GB/s, so this costs
// well under a millisecond per MB.
std::string analysis_key(const ElfFile& elf, const std::string& build_id) {
  const XXH128_hash_t h = XXH3_128bits(elf.file().data(), elf.file().size());
  return fmt::format("{}/{:016x}{:016x}", build_id, h.high64, h.low64);
}

// The key of a file this process has hashed already, by its identity (device, inode, size,
// modification time): a suite asks for the same binary's analysis once per scenario, and
// hashing 24 MB each time cost 5 ms; a file rewritten since has another mtime.
using Stamp = std::tuple<dev_t, ino_t, off_t, int64_t, int64_t>;
std::mutex keys_mu;
std::map<Stamp, std::string>& keys() {
  static auto& k = *new std::map<Stamp, std::string>;  // never destroyed, as the analyses
  return k;
}
// The key of a file known by its identity alone (no disk cache: the key never leaves the process).
std::string identity_key(const std::string& build_id, const Stamp& st) {
  const auto& [dev, ino, size, sec, nsec] = st;
  return fmt::format("{}/{}:{}:{}:{}.{}", build_id, dev, ino, size, sec, nsec);
}
std::optional<Stamp> stamp_of(const fs::path& file) {
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) return std::nullopt;
  return Stamp{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
}
std::optional<std::string> known_key(const std::optional<Stamp>& stamp) {
  if (!stamp) return std::nullopt;
  std::lock_guard lock(keys_mu);
  auto it = keys().find(*stamp);
  return it == keys().end() ? std::nullopt : std::optional<std::string>(it->second);
}
void remember_key(const std::optional<Stamp>& stamp, const std::string& key) {
  if (!stamp) return;
  std::lock_guard lock(keys_mu);
  keys()[*stamp] = key;
}

}  // namespace

std::vector<fs::path> kept_analyses(const fs::path& file) {
  std::vector<fs::path> out;
  if (!disk_cache()) return out;
  const std::optional<Stamp> stamp = stamp_of(file);
  std::string key;
  if (auto known = known_key(stamp)) {
    key = *known;  // analysed just before, as the VM's send does
  } else {
    auto elf = ElfFile::open(file);
    if (!elf) return out;
    key = analysis_key(*elf, read_build_id(*elf));
    remember_key(stamp, key);
  }
  std::error_code ec;
  for (Detail d : {Detail::full, Detail::names})
    if (fs::path f = analysis_file(*disk_cache(), key, d); fs::is_regular_file(f, ec)) out.push_back(f);
  return out;
}

Result<std::shared_ptr<const BinaryInfo>> analyse(const fs::path& file, Detail detail,
                                                  const std::vector<std::string>& focus_globs) {
  std::vector<std::string> focus = focus_globs;
  std::ranges::sort(focus);
  focus.erase(std::unique(focus.begin(), focus.end()), focus.end());
  static std::mutex mu;
  // Never destroyed: freeing every analysis at exit only costs time (and munmaps).
  static auto& cache = *new std::map<std::string, std::vector<std::shared_ptr<const BinaryInfo>>>;
  const std::optional<Stamp> stamp = stamp_of(file);
  auto answer = [&](const std::shared_ptr<const BinaryInfo>& info) {
    if (info->path == file) return info;
    auto copy = std::make_shared<BinaryInfo>(*info);  // same bytes at another path
    copy->path = file;
    return std::shared_ptr<const BinaryInfo>(std::move(copy));
  };
  // the most detailed one that covers the focus, a whole one first: what it answers, it answers for all
  auto cached = [&](const std::string& key) -> std::shared_ptr<const BinaryInfo> {
    const BinaryInfo* best = nullptr;
    std::shared_ptr<const BinaryInfo> chosen;
    for (const auto& info : cache[key])
      if (info->detail >= detail && info->covers(focus) &&
          (!best || info->detail > best->detail ||
           (info->detail == best->detail && info->focus.empty() && !best->focus.empty())))
        best = info.get(), chosen = info;
    return chosen;
  };
  if (auto known = known_key(stamp)) {
    std::lock_guard lock(mu);
    if (auto hit = cached(*known)) return answer(hit);
  }
  auto elf = ElfFile::open(file);
  if (!elf) return tl::unexpected(elf.error());
  std::string build_id = read_build_id(*elf);
  // Without a disk cache a key names the file only in this process, where its identity does:
  // hashing cmd/go's 24 MB would cost a first scenario 3 ms.
  const std::string key = disk_cache() || !stamp ? analysis_key(*elf, build_id) : identity_key(build_id, *stamp);
  remember_key(stamp, key);
  {
    std::lock_guard lock(mu);
    if (auto hit = cached(key)) return answer(hit);
  }
  std::shared_ptr<BinaryInfo> found = from_disk(*elf, key, detail, focus);
  if (!found) {
    std::optional<uint64_t> runtime_text;
    auto info = analyse_file(std::move(*elf), std::move(build_id), detail, focus, runtime_text);
    if (!info) return tl::unexpected(info.error());
    found = std::move(*info);
    if (disk_cache()) store_analysis(*disk_cache(), key, *found, runtime_text);
  }
  std::lock_guard lock(mu);
  cache[key].push_back(found);
  return answer(found);
}

}  // namespace bpfault::binary
