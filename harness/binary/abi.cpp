#include "binary/abi.h"

#include <fmt/format.h>

#include "binary/go_type.h"

namespace bpfault::binary {
namespace {

uint64_t align_up(uint64_t v, uint64_t a) { return a ? (v + a - 1) / a * a : v; }

}  // namespace

AbiAssigner::AbiAssigner(Arch arch, bool stack_abi, int sp_base)
    : ptr_(arch == Arch::amd64 ? 8 : 4), stack_abi_(stack_abi || arch != Arch::amd64), sp_base_(sp_base) {}

void AbiAssigner::assign(Value& v) {
  if (!v.type) return;
  Leaves l = leaves(*v.type, ptr_);
  v.pieces = std::move(l.pieces);
  if (v.type->size == 0) {
    stack_ = align_up(stack_, alignment(*v.type, ptr_));  // zero-size: only its alignment counts
    return;
  }
  if (!stack_abi_ && l.register_ok && int_ + l.ints <= kIntRegs && float_ + l.floats <= kFloatRegs) {
    for (Piece& p : v.pieces) {
      if (p.kind == TypeKind::float_)
        p.loc = Loc{Loc::Kind::xmm, Reg::rax, static_cast<uint8_t>(float_++), 0};
      else
        p.loc = Loc{Loc::Kind::reg, static_cast<Reg>(int_++), 0, 0};
    }
    v.on_stack = false;
    return;
  }
  stack_ = align_up(stack_, alignment(*v.type, ptr_));
  for (Piece& p : v.pieces)
    p.loc = Loc{Loc::Kind::stack, Reg::rax, 0, static_cast<int32_t>(sp_base_ + stack_ + p.offset)};
  v.on_stack = true;
  stack_ += v.type->size;
}

void AbiAssigner::start_results(int sp_base) {
  stack_ = align_up(stack_, ptr_);
  sp_base_ = sp_base;
  int_ = float_ = 0;
}

void AbiAssigner::skip_registers(Value& v, int ints, int floats) {
  for (int i = 0; i < ints && int_ < kIntRegs; ++i)
    v.pieces.push_back(Piece{fmt::format("[{}]", i), 0, 8, TypeKind::other, false,
                             Loc{Loc::Kind::reg, static_cast<Reg>(int_++), 0, 0}});
  for (int i = 0; i < floats && float_ < kFloatRegs; ++i)
    v.pieces.push_back(Piece{fmt::format("[x{}]", i), 0, 8, TypeKind::float_, false,
                             Loc{Loc::Kind::xmm, Reg::rax, static_cast<uint8_t>(float_++), 0}});
}

int abi_int_index(int dwreg) {
  // DWARF numbers (System V psABI): 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 8-15 r8-r15.
  switch (dwreg) {
    case 0:
      return 0;
    case 3:
      return 1;
    case 2:
      return 2;
    case 5:
      return 3;
    case 4:
      return 4;
    case 8:
      return 5;
    case 9:
      return 6;
    case 10:
      return 7;
    case 11:
      return 8;
    default:
      return -1;
  }
}

int abi_xmm_index(int dwreg) { return dwreg >= 17 && dwreg <= 32 ? dwreg - 17 : -1; }

namespace {

std::string dwarf_reg_name(int dwreg) {
  static constexpr const char* kNames[] = {"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
                                           "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  if (dwreg >= 0 && dwreg < 16) return kNames[dwreg];
  if (abi_xmm_index(dwreg) >= 0) return fmt::format("xmm{}", abi_xmm_index(dwreg));
  return fmt::format("dwreg{}", dwreg);
}

std::string describe_piece(const DwarfPiece& p) {
  switch (p.kind) {
    case DwarfPiece::Kind::reg:
      return dwarf_reg_name(p.dwreg);
    case DwarfPiece::Kind::cfa:
      return fmt::format("cfa{:+}", p.cfa_off);
    case DwarfPiece::Kind::empty:
      return "?";
    case DwarfPiece::Kind::other:
      return "expr";
  }
  return "?";
}

std::string describe_computed(const Value& v, int sp_base) {
  if (v.on_stack && !v.pieces.empty())
    return fmt::format("cfa{:+}", v.pieces[0].loc.sp_offset - int(v.pieces[0].offset) - sp_base);
  std::string s;
  for (const Piece& p : v.pieces) s += (s.empty() ? "" : ",") + p.loc.describe();
  return s.empty() ? "nothing" : s;
}

}  // namespace

std::string describe(const std::vector<DwarfPiece>& loc) {
  std::string s;
  for (const auto& p : loc) s += (s.empty() ? "" : ",") + describe_piece(p);
  return s;
}

std::optional<std::string> cross_check(const Value& v, const std::vector<DwarfPiece>& dw, int sp_base) {
  if (dw.empty() || !v.type || v.type->size == 0) return std::nullopt;
  // A negative CFA offset is a local home (the variable moved into the frame, e.g. for defer):
  // DWARF then says nothing about where the argument arrived.
  for (const DwarfPiece& d : dw)
    if (d.kind == DwarfPiece::Kind::cfa && d.cfa_off < 0) return std::nullopt;
  auto disagree = [&] {
    return fmt::format("DWARF places {} at {} at the entry, the ABI at {}", v.name.empty() ? "?" : v.name, describe(dw),
                       describe_computed(v, sp_base));
  };
  // A whole-value stack location: compare where the value starts.
  if (dw.size() == 1 && dw[0].size == 0 && dw[0].kind == DwarfPiece::Kind::cfa) {
    if (!v.on_stack || v.pieces.empty()) return disagree();
    const int start = v.pieces[0].loc.sp_offset - int(v.pieces[0].offset) - sp_base;
    return start == dw[0].cfa_off ? std::nullopt : std::optional(disagree());
  }
  // A stack value described piece by piece: each piece must start at a leaf, in order. (On
  // 386 DWARF splits 64-bit leaves into two words, so a leaf's upper half counts as well.)
  if (v.on_stack) {
    std::vector<int64_t> starts;
    for (const Piece& p : v.pieces) {
      starts.push_back(p.loc.sp_offset - sp_base);
      if (p.size == 8) starts.push_back(p.loc.sp_offset - sp_base + 4);
    }
    size_t next = 0;
    for (const DwarfPiece& d : dw) {
      if (d.kind == DwarfPiece::Kind::empty) continue;
      if (d.kind != DwarfPiece::Kind::cfa) return disagree();
      while (next < starts.size() && starts[next] < d.cfa_off) ++next;
      if (next == starts.size() || starts[next] != d.cfa_off) return disagree();
      ++next;
    }
    return std::nullopt;
  }
  // Pieces map onto the value's leaves in order (Go emits no padding pieces in optimized code).
  if (dw.size() != v.pieces.size()) return disagree();
  for (size_t i = 0; i < dw.size(); ++i) {
    const DwarfPiece& d = dw[i];
    const Loc& l = v.pieces[i].loc;
    switch (d.kind) {
      case DwarfPiece::Kind::empty:
        continue;  // part unavailable: nothing to compare
      case DwarfPiece::Kind::other:
        return disagree();
      case DwarfPiece::Kind::reg:
        if (l.kind == Loc::Kind::reg && abi_int_index(d.dwreg) == int(l.reg)) continue;
        if (l.kind == Loc::Kind::xmm && abi_xmm_index(d.dwreg) == l.xmm) continue;
        return disagree();
      case DwarfPiece::Kind::cfa:
        if (l.kind == Loc::Kind::stack && l.sp_offset - sp_base == d.cfa_off) continue;
        return disagree();
    }
  }
  return std::nullopt;
}

}  // namespace bpfault::binary
