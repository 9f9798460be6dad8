#include "binary/inlined_copies.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "binary/abi.h"
#include "binary/go_type.h"

namespace bpfault::binary {
namespace {

// Go's compiler marks each inlined call with an instruction in the caller (ssagen's InlMark):
// the first instruction of the function, in program order, that has the call's own line, else
// a one-byte NOP (0x90, "XCHGL AX, AX") of its own, where the call was. A NOP of its own runs
// once per call. A borrowed instruction does too when it runs straight into the copy's first
// instruction; it may also be shared with another call on that line, or be a loop's first
// instruction on the line, and then it does not.
constexpr uint8_t kNop = 0x90;

struct Entry {
  int32_t index;
  InlinedCall call;
  int32_t parent = -1;  // the inline-tree index at the mark: -1 for the outer function itself
};

// The probe's register slot (Reg, in Go's amd64 ABI order) of a DWARF register, or -1 when the
// probe does not capture it. A 386 task's registers are in the same pt_regs slots (eax in rax).
int probe_reg(Arch arch, int dwreg) {
  if (arch == Arch::amd64) return abi_int_index(dwreg);
  switch (dwreg) {  // 386 DWARF numbers: 0 eax, 1 ecx, 2 edx, 3 ebx, 4 esp, 5 ebp, 6 esi, 7 edi
    case 0:
      return 0;
    case 3:
      return 1;
    case 1:
      return 2;
    case 7:
      return 3;
    case 6:
      return 4;
    default:
      return -1;
  }
}

std::string dwarf_reg(Arch arch, int dwreg) {
  static constexpr const char* kAmd64[] = {"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
                                           "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  static constexpr const char* k386[] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};
  if (arch == Arch::amd64 && dwreg >= 0 && dwreg < 16) return kAmd64[dwreg];
  if (arch == Arch::i386 && dwreg >= 0 && dwreg < 8) return k386[dwreg];
  if (arch == Arch::amd64 && abi_xmm_index(dwreg) >= 0) return fmt::format("xmm{}", abi_xmm_index(dwreg));
  return fmt::format("DWARF register {}", dwreg);
}

// Places every leaf of `v` by DWARF's location `dw` at a PC where the CFA is SP + cfa; "" when
// every leaf is placed, else why not (a value read in part would be decoded wrong).
std::string place(Value& v, const std::vector<DwarfPiece>& dw, int32_t cfa, Arch arch) {
  struct Segment {
    uint64_t start, size;
    DwarfPiece piece;
  };
  std::vector<Segment> segs;
  uint64_t at = 0;
  for (const DwarfPiece& d : dw) {
    const uint64_t size = d.size ? d.size : v.type->size;  // no DW_OP_piece: the whole value
    // consecutive stack pieces are one run of memory (386 splits a 64-bit leaf into two)
    int64_t after_last = 0;  // (a hostile DWARF's offsets may overflow: no run then)
    if (!segs.empty() && d.kind == DwarfPiece::Kind::cfa && segs.back().piece.kind == DwarfPiece::Kind::cfa &&
        !__builtin_add_overflow(segs.back().piece.cfa_off, segs.back().size, &after_last) && after_last == d.cfa_off)
      segs.back().size += size;
    else
      segs.push_back({at, size, d});
    at += size;
  }
  for (Piece& p : v.pieces) {
    const Segment* s = nullptr;
    for (const Segment& seg : segs)
      if (seg.start <= p.offset && p.offset + p.size <= seg.start + seg.size) s = &seg;
    if (!s) return fmt::format("DWARF places {}{} across two locations", v.name, p.path);
    switch (s->piece.kind) {
      case DwarfPiece::Kind::empty:
        return fmt::format("DWARF says {}{} is not available there (optimized away)", v.name, p.path);
      case DwarfPiece::Kind::other:
        return fmt::format("DWARF computes {}{} with an expression bpfault does not evaluate", v.name, p.path);
      case DwarfPiece::Kind::reg: {
        if (s->start != p.offset)  // seen: Go 1.24 and 1.27 give an inlined string one register
          return fmt::format(
              "DWARF places all {} bytes of {} in one register, {}, which holds one word: its location "
              "there is incomplete",
              s->size, v.name, dwarf_reg(arch, s->piece.dwreg));
        if (arch == Arch::amd64 && abi_xmm_index(s->piece.dwreg) >= 0) {
          p.loc = Loc{Loc::Kind::xmm, Reg::rax, static_cast<uint8_t>(abi_xmm_index(s->piece.dwreg)), 0};
          break;
        }
        const int r = probe_reg(arch, s->piece.dwreg);
        if (r < 0)
          return fmt::format("{}{} is in {}, a register the probe does not capture (it keeps Go's argument registers)",
                             v.name, p.path, dwarf_reg(arch, s->piece.dwreg));
        p.loc = Loc{Loc::Kind::reg, static_cast<Reg>(r), 0, 0};
        break;
      }
      case DwarfPiece::Kind::cfa: {
        int64_t off = 0;  // a hostile DWARF may give any offset: one no stack slot has is refused
        if (__builtin_add_overflow(int64_t{cfa}, s->piece.cfa_off, &off) ||
            __builtin_add_overflow(off, p.offset - s->start, &off) || off > INT32_MAX)
          return fmt::format("DWARF places {}{} at an offset no stack slot has", v.name, p.path);
        if (off < 0) return fmt::format("DWARF places {}{} below the stack pointer", v.name, p.path);
        p.loc = Loc{Loc::Kind::stack, Reg::rax, 0, static_cast<int32_t>(off)};
        break;
      }
    }
  }
  v.on_stack = !v.pieces.empty() && std::all_of(v.pieces.begin(), v.pieces.end(),
                                                [](const Piece& p) { return p.loc.kind == Loc::Kind::stack; });
  return {};
}

std::string base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace

void locate_copy_params(const DwarfInfo& dwarf, const Pclntab& pcln, Arch arch, std::vector<Function>& functions) {
  const int ptr = arch == Arch::amd64 ? 8 : 4;
  std::map<std::pair<uint64_t, std::string_view>, std::vector<const DwarfInlined*>> by_outer;
  for (const DwarfInlined& in : dwarf.inlined) by_outer[{in.outer_low_pc, in.function}].push_back(&in);
  for (Function& f : functions)
    for (InlinedCopy& c : f.inlined_copies) {
      const PclnFunc* outer = pcln.lookup(c.mark);
      const auto colon = c.at.rfind(':');
      if (!outer || colon == std::string::npos) {
        c.params_why = "its call site is unknown";
        continue;
      }
      const std::string file = base_name(std::string_view(c.at).substr(0, colon));
      const int line = std::atoi(c.at.c_str() + colon + 1);
      // The copy's DW_TAG_inlined_subroutine: in its outer function, of this function, called on
      // the same line; among several (a line with two calls of it, or a copy inside another
      // copy), the one called from the same function, then the one whose code holds the mark.
      std::vector<const DwarfInlined*> found;
      if (auto it = by_outer.find({outer->entry, f.name}); it != by_outer.end())
        for (const DwarfInlined* in : it->second)
          if (in->call_line == line && in->call_file == file) found.push_back(in);
      if (found.size() > 1) {
        std::vector<const DwarfInlined*> same_caller;
        for (const DwarfInlined* in : found)
          if (in->caller == c.caller) same_caller.push_back(in);
        if (!same_caller.empty()) found = std::move(same_caller);
      }
      if (found.size() > 1) {
        std::vector<const DwarfInlined*> holding;
        for (const DwarfInlined* in : found)
          if (std::any_of(in->ranges.begin(), in->ranges.end(),
                          [&](const auto& r) { return r.first <= c.mark && c.mark < r.second; }))
            holding.push_back(in);
        if (holding.size() == 1) found = std::move(holding);
      }
      if (found.empty()) {
        c.params_why = fmt::format("DWARF describes no copy of it inlined into {} at {}", c.outer, c.at);
        continue;
      }
      if (found.size() > 1) {
        c.params_why =
            fmt::format("DWARF describes {} copies of it inlined into {} at {} and cannot tell which is this one",
                        found.size(), c.outer, c.at);
        continue;
      }
      const auto sp = pcln.pc_value(outer->pcsp, outer->entry, c.mark);
      for (const DwarfInlinedParam& p : found.front()->params) {
        auto unlocated = [&](std::string why) { c.unlocated.emplace_back(p.name, std::move(why)); };
        if (!p.type) {
          unlocated("DWARF gives it no type");
          continue;
        }
        const DwarfLocRange* r = nullptr;
        for (const DwarfLocRange& l : p.where)
          if (l.lo <= c.mark && c.mark < l.hi) r = &l;
        if (!r || r->pieces.empty()) {
          unlocated(fmt::format("DWARF gives it no location at {:#x}", c.mark));
          continue;
        }
        if (!sp) {
          unlocated(fmt::format("the SP delta of {} at {:#x} is unknown", c.outer, c.mark));
          continue;
        }
        Value v;
        v.name = p.name;
        v.hidden = p.name == ".dict" || p.name == "_" || p.name.starts_with("~p");
        v.type = dwarf.types->owning(p.type);
        v.pieces = leaves(*p.type, ptr).pieces;
        // at the mark SP is the CFA less the return address and the frame the outer function has so far
        if (std::string why = place(v, r->pieces, *sp + ptr, arch); !why.empty()) {
          unlocated(fmt::format("at {:#x}, {}", c.mark, why));
          continue;
        }
        c.params.push_back(std::move(v));
      }
    }
}

void add_inlined_copies(const Pclntab& pcln, const ElfFile& elf, const CodeDecoder& decoder,
                        std::vector<Function>& functions, const std::vector<std::string>* focus) {
  // Under a focus, what is decided per copy (its line, whether its mark counts exactly) is
  // decided only for the focused names: most of the cost is there, not in walking the trees.
  // Keyed by where the name is in pclntab's name table: each name is there once, and hashing a
  // pointer, not the text, is what keeps the walk over every tree cheap.
  std::unordered_map<const char*, bool> wanted;
  auto is_wanted = [&](std::string_view name) {
    if (!focus) return true;
    auto [it, added] = wanted.try_emplace(name.data(), false);
    if (added) it->second = std::ranges::any_of(*focus, [&](const std::string& g) { return glob_match(g, name); });
    return it->second;
  };
  std::map<std::string, std::vector<InlinedCopy>> copies;  // by the inlined function's name
  // A call between a borrowed mark and the copy's code keeps their counts equal when it returns:
  // a function of the program, not one of the runtime's that never do (a panic, a throw, an exit).
  auto returns = [&](uint64_t target) {
    const PclnFunc* t = pcln.lookup(target);
    if (!t || t->entry != target) return false;
    const std::string_view n = t->name;
    for (std::string_view never : {"runtime.gopanic", "runtime.panic", "runtime.throw", "runtime.fatal",
                                   "runtime.Goexit", "runtime.goPanic", "runtime.exit", "os.Exit", "syscall.Exit"})
      if (n.starts_with(never)) return false;
    return true;
  };
  for (const PclnFunc& g : pcln.funcs()) {
    const uint32_t table = pcln.pcdata_table(g, kPcdataInlTreeIndex);
    if (table == 0) continue;
    std::vector<std::tuple<uint64_t, uint64_t, int32_t>> runs;  // [lo, hi) at inline index
    int32_t last = -1;
    pcln.pc_runs(table, g.entry, [&](uint64_t lo, uint64_t hi, int32_t idx) {
      runs.emplace_back(lo, hi, idx);
      last = std::max(last, idx);
    });
    // Under a focus, a tree that names no focused function is skipped before its parents are
    // looked up (one pc-value lookup each). The linker adds a call's parent to a function's
    // tree before the call (cmd/internal/obj/pcln.go, addBranch), so the entries up to the
    // highest index the PCs use hold every ancestor of theirs.
    if (focus) {
      bool any = false;
      for (int32_t idx = 0; idx <= last && !any; ++idx)
        if (auto call = pcln.inlined_call(g, idx)) any = is_wanted(call->name);
      if (!any) continue;
    }
    // The function's inline tree holds the calls its PCs are attributed to, and their parents
    // (cmd/internal/obj/pcln.go): a copy the compiler optimized away, or whose code all went
    // to its caller's lines, is not in it, and cannot be found.
    std::map<int32_t, Entry> entries;
    std::vector<int32_t> todo;
    for (const auto& [lo, hi, idx] : runs)
      if (idx >= 0) todo.push_back(idx);
    while (!todo.empty()) {
      const int32_t idx = todo.back();
      todo.pop_back();
      if (entries.count(idx)) continue;
      auto call = pcln.inlined_call(g, idx);
      if (!call) continue;
      Entry e{idx, *call, pcln.pcdata(g, kPcdataInlTreeIndex, g.entry + call->parent_pc).value_or(-1)};
      if (e.parent >= 0) todo.push_back(e.parent);
      entries.emplace(idx, e);
    }
    std::map<uint64_t, int> marks;  // how many calls share each mark
    for (const auto& [idx, e] : entries) ++marks[g.entry + e.call.parent_pc];
    const auto code = elf.at_vaddr(g.entry, g.end - g.entry);
    std::optional<ControlFlow> flow;  // decoded when a mark borrows an instruction
    for (const auto& [idx, e] : entries) {
      if (!is_wanted(e.call.name)) continue;
      InlinedCopy c;
      c.mark = g.entry + e.call.parent_pc;
      c.outer = std::string(g.name);
      auto parent = entries.find(e.parent);
      c.caller = parent == entries.end() ? c.outer : std::string(parent->second.call.name);
      if (auto fl = pcln.file_line(g, c.mark)) c.at = fmt::format("{}:{}", fl->first, fl->second);
      // the copy's own code nearest its mark: its first instruction after the mark, else the start
      // of its last run before it (a borrowed mark may come after the copy's code)
      std::optional<uint64_t> after, before;
      for (const auto& [lo, hi, idx2] : runs)
        if (idx2 == idx) {
          if (lo > c.mark && !after) after = lo;
          if (lo < c.mark) before = lo;
        }
      const std::optional<uint64_t> own = after ? after : before;
      if (own)
        if (auto fl = pcln.file_line(g, *own)) c.file = std::string(fl->first), c.line = fl->second;
      const uint64_t off = c.mark - g.entry;
      if (c.mark < g.entry || off >= code.size()) {
        c.not_countable = "its mark is outside its caller's code";
      } else if (marks[c.mark] > 1) {
        c.not_countable = fmt::format(
            "its mark is an instruction it shares with {} other call(s) inlined on the same line: a probe there "
            "counts them as one",
            marks[c.mark] - 1);
      } else if (code[off] != kNop) {
        if (!own)
          c.not_countable = "its mark is an instruction of its caller's line and no code of its own is left";
        else if (!(flow ? *flow : flow.emplace(decoder.control_flow(code, g.entry)))
                      .straight_line(std::min(c.mark, *own), std::max(c.mark, *own), returns))
          c.not_countable = fmt::format(
              "its mark is an instruction of its caller's line that is not in one straight line with its code (at "
              "{:#x}): a probe there may run more or less often than it is called",
              *own);
      }
      copies[std::string(e.call.name)].push_back(std::move(c));
    }
  }
  if (copies.empty()) return;
  // The function each list belongs to: its body, not a wrapper (looked up only for the names that
  // have copies: under a focus, a few of the program's functions).
  std::map<std::string_view, size_t> owner;
  for (size_t i = 0; i < functions.size(); ++i)
    if (auto c = copies.find(functions[i].name); c != copies.end())
      if (auto [it, added] = owner.try_emplace(c->first, i); !added && functions[it->second].wrapper) it->second = i;
  std::vector<std::pair<size_t, std::vector<InlinedCopy>*>> lists;  // indexes first: push_back moves functions
  for (auto& [name, list] : copies) {
    std::sort(list.begin(), list.end(), [](const InlinedCopy& a, const InlinedCopy& b) { return a.mark < b.mark; });
    if (auto it = owner.find(name); it != owner.end()) {
      lists.emplace_back(it->second, &list);
      continue;
    }
    Function f;  // inlined everywhere, and no DWARF named it
    f.name = name;
    f.not_probeable = "inlined everywhere: no out-of-line copy";
    lists.emplace_back(functions.size(), &list);
    functions.push_back(std::move(f));
  }
  for (auto& [i, list] : lists) functions[i].inlined_copies = std::move(*list);
}

}  // namespace bpfault::binary
