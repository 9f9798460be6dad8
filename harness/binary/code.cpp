#include "binary/code.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace bpfault::binary {
namespace {

struct Insn {
  uint64_t pc = 0;
  ZydisDecodedInstruction in{};
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT]{};
};

std::optional<uint64_t> branch_target(const ZydisDecodedInstruction& in, uint64_t pc) {
  for (const auto& imm : in.raw.imm)
    if (imm.size && imm.is_relative) return pc + in.length + imm.value.s;
  return std::nullopt;
}

bool is_reg(const ZydisDecodedOperand& op, ZydisRegister r) {
  return op.type == ZYDIS_OPERAND_TYPE_REGISTER && op.reg.value == r;
}

}  // namespace

CodeDecoder::CodeDecoder(Arch arch) : arch_(arch) {
  const bool is64 = arch == Arch::amd64;
  ZydisDecoderInit(&full_, is64 ? ZYDIS_MACHINE_MODE_LONG_64 : ZYDIS_MACHINE_MODE_LEGACY_32,
                   is64 ? ZYDIS_STACK_WIDTH_64 : ZYDIS_STACK_WIDTH_32);
  minimal_ = full_;
  ZydisDecoderEnableMode(&minimal_, ZYDIS_DECODER_MODE_MINIMAL, ZYAN_TRUE);
}

// The call site: the first instruction after the stack check, run once per call (morestack
// jumps back to the entry, before it). Mirrors cmd/internal/obj/x86/obj6.go (preprocess): the
// check comes first (a compare against g.stackguard0, then a conditional jump to a block at the
// end that calls runtime.morestack and jumps back to the entry); then, since Go 1.21,
// `push rbp; mov rbp, rsp`; then `sub rsp, N`. Where there is that `push rbp`, it is the call
// site, not the SUB that Go marks prologue_end: the kernel emulates a push, where it
// single-steps a SUB or a MOV out of line, and a hit there costs ~0.5 µs instead of ~15 µs
// (measured on 6.18, issue 21); at the push nothing of the frame exists yet (SP is the entry's).
// Go 1.19 puts the SUB first and marks it. Without a frame (leaves) the body is the first
// instruction after the check, which for NOSPLIT leaves is the entry itself.
uint64_t CodeDecoder::prologue_end(std::span<const uint8_t> code, uint64_t entry, CodeScan& s) const {
  // The prologue is at most ~10 instructions (a big frame's check, loading g, the frame).
  constexpr size_t kHead = 12;
  std::array<Insn, kHead> insns;
  size_t n = 0;
  for (uint64_t off = 0; n < kHead && off < code.size(); ++n) {
    Insn& x = insns[n];
    x.pc = entry + off;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&full_, code.data() + off, code.size() - off, &x.in, x.ops))) break;
    off += x.in.length;
  }
  const std::span<const Insn> head(insns.data(), n);
  auto returns_to_entry = [&](uint64_t block) {
    uint64_t off = block - entry;
    for (int n = 0; n < 96 && off < code.size(); ++n) {
      ZydisDecodedInstruction in;
      if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&minimal_, nullptr, code.data() + off, code.size() - off, &in)))
        return false;
      if (in.mnemonic == ZYDIS_MNEMONIC_JMP) return branch_target(in, entry + off) == entry;
      if (in.mnemonic == ZYDIS_MNEMONIC_RET) return false;
      off += in.length;
    }
    return false;
  };
  // The check only compares and loads (lea r12, [rsp-N]; mov ecx, gs:0 on 386); the first
  // other instruction starts the frame or the body. A later branch can also reach the
  // morestack block (a wrapper's nil-receiver panic path falls through into it).
  const ZydisRegister sp = arch_ == Arch::amd64 ? ZYDIS_REGISTER_RSP : ZYDIS_REGISTER_ESP;
  size_t pos = 0;
  for (size_t k = 0; k < head.size() && k < 8; ++k) {
    const Insn& x = head[k];
    if (x.in.meta.category == ZYDIS_CATEGORY_COND_BR) {
      auto t = branch_target(x.in, x.pc);
      if (!t || *t <= x.pc || *t >= entry + code.size() || !returns_to_entry(*t)) break;
      pos = k + 1, s.stack_check = true;
      continue;
    }
    const bool prep = x.in.mnemonic == ZYDIS_MNEMONIC_CMP || x.in.mnemonic == ZYDIS_MNEMONIC_LEA ||
                      x.in.mnemonic == ZYDIS_MNEMONIC_MOV ||
                      (x.in.mnemonic == ZYDIS_MNEMONIC_SUB && !is_reg(x.ops[0], sp));
    const bool writes_frame =
        x.in.mnemonic != ZYDIS_MNEMONIC_CMP && (is_reg(x.ops[0], ZYDIS_REGISTER_RBP) || is_reg(x.ops[0], sp));
    if (!prep || writes_frame) break;
  }
  // Wrappers (and 386 functions) load g first: `mov r14, fs:[-8]`, `mov ecx, gs:[0]; mov ecx, [ecx-4]`.
  const ZydisRegister g = arch_ == Arch::amd64 ? ZYDIS_REGISTER_R14 : ZYDIS_REGISTER_ECX;
  while (pos < head.size() && head[pos].in.mnemonic == ZYDIS_MNEMONIC_MOV && is_reg(head[pos].ops[0], g)) ++pos;
  if (pos >= head.size()) return head.empty() ? entry : head.back().pc;
  if (arch_ == Arch::amd64 && pos + 1 < head.size() && head[pos].in.mnemonic == ZYDIS_MNEMONIC_PUSH &&
      is_reg(head[pos].ops[0], ZYDIS_REGISTER_RBP) && head[pos + 1].in.mnemonic == ZYDIS_MNEMONIC_MOV &&
      is_reg(head[pos + 1].ops[0], ZYDIS_REGISTER_RBP) && is_reg(head[pos + 1].ops[1], ZYDIS_REGISTER_RSP)) {
    s.body_at_push = true;
    return head[pos].pc;
  }
  return head[pos].pc;
}

CodeScan CodeDecoder::scan(std::span<const uint8_t> code, uint64_t entry) const {
  CodeScan s;
  uint64_t off = 0;
  std::optional<uint64_t> last_jmp_target;
  bool last_was_jmp = false;
  while (off < code.size()) {
    ZydisDecodedInstruction in;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&minimal_, nullptr, code.data() + off, code.size() - off, &in)))
      break;
    const uint64_t pc = entry + off;
    if (in.mnemonic == ZYDIS_MNEMONIC_RET) s.rets.push_back(pc);
    if (in.mnemonic == ZYDIS_MNEMONIC_INT3) {
      off += in.length;
      continue;  // padding between functions: does not count as the last instruction
    }
    last_was_jmp = in.mnemonic == ZYDIS_MNEMONIC_JMP;
    if (last_was_jmp) last_jmp_target = branch_target(in, pc);
    off += in.length;
  }
  // A sweep that stops early could have missed RETs: only padding may remain.
  uint64_t rest = off;
  while (rest < code.size() && (code[rest] == 0xcc || code[rest] == 0)) ++rest;
  if (rest < code.size()) {
    s.stop = entry + off;
    for (uint64_t i = off; i < code.size() && i < off + 8; ++i)
      s.stop_bytes += fmt::format("{}{:02x}", i == off ? "" : " ", code[i]);
  }
  if (last_was_jmp && last_jmp_target && (*last_jmp_target < entry || *last_jmp_target >= entry + code.size()))
    s.tail_target = last_jmp_target;
  s.body = prologue_end(code, entry, s);
  return s;
}

ControlFlow CodeDecoder::control_flow(std::span<const uint8_t> code, uint64_t entry) const {
  ControlFlow cf;
  uint64_t off = 0;
  while (off < code.size()) {
    ZydisDecodedInstruction in;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&minimal_, nullptr, code.data() + off, code.size() - off, &in)))
      break;
    const uint64_t pc = entry + off;
    cf.starts.push_back(pc);
    const auto category = in.meta.category;
    const bool branch = category == ZYDIS_CATEGORY_COND_BR || category == ZYDIS_CATEGORY_UNCOND_BR;
    if (category == ZYDIS_CATEGORY_CALL) {
      if (auto target = branch_target(in, pc))
        cf.calls.emplace_back(pc, *target);
      else
        cf.transfers.push_back(pc);
    } else if (branch || category == ZYDIS_CATEGORY_RET) {
      cf.transfers.push_back(pc);
    }
    if (branch) {
      if (auto target = branch_target(in, pc))
        cf.targets.push_back(*target);
      else
        cf.indirect = true;
    }
    off += in.length;
  }
  // what was not decoded may hold a branch, unless it is padding
  while (off < code.size() && (code[off] == 0xcc || code[off] == 0)) ++off;
  cf.complete = off >= code.size();
  std::sort(cf.targets.begin(), cf.targets.end());
  return cf;
}

std::optional<std::vector<DataRef>> CodeDecoder::data_refs(std::span<const uint8_t> code, uint64_t entry) const {
  std::vector<DataRef> refs;
  const bool is64 = arch_ == Arch::amd64;
  uint64_t off = 0;
  for (uint32_t n = 0; off < code.size(); ++n) {
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&full_, code.data() + off, code.size() - off, &in, ops))) break;
    const uint64_t pc = entry + off;
    for (uint8_t k = 0; k < in.operand_count_visible; ++k) {
      const ZydisDecodedOperand& o = ops[k];
      std::optional<uint64_t> addr;
      if (o.type == ZYDIS_OPERAND_TYPE_MEMORY && o.mem.base == ZYDIS_REGISTER_RIP) {
        ZyanU64 a = 0;
        if (ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&in, &o, pc, &a))) addr = a;
      } else if (!is64 && o.type == ZYDIS_OPERAND_TYPE_MEMORY && o.mem.base == ZYDIS_REGISTER_NONE &&
                 o.mem.index == ZYDIS_REGISTER_NONE && o.mem.disp.has_displacement) {
        addr = static_cast<uint32_t>(o.mem.disp.value);
      } else if (!is64 && o.type == ZYDIS_OPERAND_TYPE_IMMEDIATE && o.size == 32 && !o.imm.is_relative) {
        addr = static_cast<uint32_t>(o.imm.value.u);
      }
      if (addr) refs.push_back({n, static_cast<uint16_t>(in.mnemonic), k, *addr});
    }
    off += in.length;
  }
  while (off < code.size() && (code[off] == 0xcc || code[off] == 0)) ++off;
  if (off < code.size()) return std::nullopt;
  return refs;
}

bool ControlFlow::straight_line(uint64_t from, uint64_t to, const std::function<bool(uint64_t)>& returns) const {
  if (!complete || indirect || from > to || !std::binary_search(starts.begin(), starts.end(), from) ||
      !std::binary_search(starts.begin(), starts.end(), to))
    return false;
  auto t = std::lower_bound(transfers.begin(), transfers.end(), from);
  if (t != transfers.end() && *t < to) return false;
  for (auto c = std::lower_bound(calls.begin(), calls.end(), std::pair<uint64_t, uint64_t>{from, 0});
       c != calls.end() && c->first < to; ++c)
    if (!returns(c->second)) return false;
  auto b = std::upper_bound(targets.begin(), targets.end(), from);
  return b == targets.end() || *b > to;
}

}  // namespace bpfault::binary
