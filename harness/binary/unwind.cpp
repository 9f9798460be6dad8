#include "binary/unwind.h"

#include <algorithm>

#include <fmt/format.h>

#include "binary/image.h"

namespace bpfault::binary {

std::vector<StackFrame> logical_frames(const BinaryInfo& bin, uint64_t pc, uint64_t lookup_pc) {
  std::vector<StackFrame> out;
  if (!bin.image) return out;
  const Pclntab& t = bin.image->pclntab;
  const PclnFunc* f = t.lookup(lookup_pc);
  if (!f) return out;
  auto frame = [&](std::string_view name, uint64_t at, bool inlined) {
    StackFrame fr;
    fr.function = std::string(name);
    fr.pc = pc;
    fr.offset = pc - f->entry;
    if (auto fl = t.file_line(*f, at)) fr.file = std::string(fl->first), fr.line = fl->second;
    fr.inlined = inlined;
    out.push_back(std::move(fr));
  };
  // runtime.inlineUnwinder: the inline tree's entry at a PC is the innermost inlined call;
  // its parentPc is a PC of the call site in the outer function, where the next entry is read.
  uint64_t at = lookup_pc;
  for (int depth = 0; depth < 256; ++depth) {  // a damaged tree must not loop
    auto index = t.pcdata(*f, kPcdataInlTreeIndex, at);
    if (!index || *index < 0) break;
    auto call = t.inlined_call(*f, *index);
    if (!call) break;
    frame(call->name, at, true);
    at = f->entry + uint64_t(call->parent_pc);
  }
  frame(f->name, at, false);
  return out;
}

Stack unwind(const BinaryInfo& bin, uint64_t pc, uint64_t sp, std::span<const uint8_t> stack, uint64_t bias,
             size_t max_frames) {
  Stack out;
  if (!bin.image) return out;
  const Pclntab& t = bin.image->pclntab;
  const uint64_t ptr = bin.ptr_size(), sp0 = sp;
  bool innermost = true, after_sigpanic = false;
  for (size_t n = 0; n < max_frames; ++n) {
    const PclnFunc* f = t.lookup(pc);
    if (!f) {
      out.cut = fmt::format("return address {:#x} is outside the Go text", pc + bias);
      return out;
    }
    // A caller's PC is a return address: its call is the instruction before it, unless the
    // callee was sigpanic (a fault "called" it at the faulting instruction itself).
    const uint64_t lookup_pc = innermost || after_sigpanic ? pc : pc - 1;
    // Go's tracebacks hide compiler-made wrappers between two frames
    const bool wrapper = !innermost && f->func_id != 0 && f->func_id == t.wrapper_func_id();
    if (!wrapper)
      for (StackFrame& fr : logical_frames(bin, pc, lookup_pc)) out.frames.push_back(std::move(fr));
    if (f->flag & kFuncFlagTopFrame) return out;  // runtime.goexit, mstart, rt0_go: the end
    if (f->flag & kFuncFlagSPWrite) {
      out.cut = fmt::format("{} switches stacks (it writes SP): it cannot be unwound past", f->name);
      return out;
    }
    auto delta = t.pc_value(f->pcsp, f->entry, pc);
    if (!delta || *delta < 0) {
      out.cut = fmt::format("{} has no SP delta at {:#x}", f->name, pc + bias);
      return out;
    }
    // x86 calls push the return address: it is at SP + the frame's size, the caller's SP above it
    const uint64_t ra_at = sp + uint64_t(*delta), in_copy = ra_at - sp0;
    if (in_copy + ptr > stack.size()) {
      out.cut = fmt::format("the stack is deeper than the {} bytes copied at the probe", stack.size());
      return out;
    }
    const uint64_t ra = *read_le(stack, in_copy, static_cast<int>(ptr));
    if (ra == 0) return out;  // no caller
    after_sigpanic = f->name == "runtime.sigpanic";
    innermost = false;
    sp = ra_at + ptr;
    pc = ra - bias;
  }
  out.cut = fmt::format("more than {} frames", max_frames);
  return out;
}

std::vector<CodeRange> inlined_ranges(const BinaryInfo& bin, std::string_view name) {
  std::vector<CodeRange> out;
  if (const Function* own = bin.find(name); own && own->entry && own->end > own->entry)
    out.push_back({own->entry, own->end, own->name});
  if (bin.image) {
    const Pclntab& t = bin.image->pclntab;
    for (const PclnFunc& f : t.funcs()) {
      const uint32_t table = t.pcdata_table(f, kPcdataInlTreeIndex);
      if (!table) continue;
      t.pc_runs(table, f.entry, [&](uint64_t lo, uint64_t hi, int32_t index) {
        // the chain of calls inlined at these PCs, innermost first (runtime.inlineUnwinder):
        // `name` anywhere in it is code of `name`, though something it inlined may be innermost
        for (int depth = 0; index >= 0 && depth < 256; ++depth) {  // a damaged tree must not loop
          auto call = t.inlined_call(f, index);
          if (!call) return;
          if (call->name == name) {
            out.push_back({lo, hi, std::string(f.name)});
            return;
          }
          auto parent = t.pcdata(f, kPcdataInlTreeIndex, f.entry + uint64_t(call->parent_pc));
          if (!parent) return;
          index = *parent;
        }
      });
    }
  }
  std::ranges::sort(out, {}, &CodeRange::lo);
  std::vector<CodeRange> merged;
  for (CodeRange& r : out) {
    if (r.hi <= r.lo) continue;
    if (!merged.empty() && r.lo <= merged.back().hi && r.function == merged.back().function)
      merged.back().hi = std::max(merged.back().hi, r.hi);
    else
      merged.push_back(std::move(r));
  }
  return merged;
}

}  // namespace bpfault::binary
