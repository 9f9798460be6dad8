#include "binary/inlined_copies.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

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

}  // namespace

void add_inlined_copies(const Pclntab& pcln, const ElfFile& elf, const CodeDecoder& decoder,
                        std::vector<Function>& functions) {
  std::unordered_map<std::string, size_t> by_name;  // the body, not a wrapper
  for (size_t i = 0; i < functions.size(); ++i)
    if (auto [it, added] = by_name.try_emplace(functions[i].name, i); !added && functions[it->second].wrapper)
      it->second = i;
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
    pcln.pc_runs(table, g.entry, [&](uint64_t lo, uint64_t hi, int32_t idx) { runs.emplace_back(lo, hi, idx); });
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
  for (auto& [name, list] : copies) {
    std::sort(list.begin(), list.end(), [](const InlinedCopy& a, const InlinedCopy& b) { return a.mark < b.mark; });
    auto it = by_name.find(name);
    if (it == by_name.end()) {  // inlined everywhere, and no DWARF named it
      Function f;
      f.name = name;
      f.not_probeable = "inlined everywhere: no out-of-line copy";
      functions.push_back(std::move(f));
      it = by_name.emplace(functions.back().name, functions.size() - 1).first;
    }
    functions[it->second].inlined_copies = std::move(list);
  }
}

}  // namespace bpfault::binary
