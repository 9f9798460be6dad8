// run/decode.cpp: the registers and stack bytes a probe captured, read back as the Go values the
// binary analysis placed there. A wrong width, sign or offset here is a wrong value in every
// record and every expectation, so each case is checked bit for bit.
#include "run/decode.h"

#include <gtest/gtest.h>

#include <cstring>

namespace bpfault::run {
namespace {

using binary::Loc;
using binary::Piece;
using binary::Reg;
using binary::TypeKind;
using nlohmann::json;

Piece in_reg(Reg r, TypeKind kind, uint32_t size, bool is_signed = false, std::string path = "") {
  Piece p{std::move(path), 0, size, kind, is_signed, {}};
  p.loc.kind = Loc::Kind::reg;
  p.loc.reg = r;
  return p;
}

Piece on_stack(int32_t sp_offset, TypeKind kind, uint32_t size, bool is_signed = false, std::string path = "") {
  Piece p{std::move(path), 0, size, kind, is_signed, {}};
  p.loc.kind = Loc::Kind::stack;
  p.loc.sp_offset = sp_offset;
  return p;
}

struct Captured {
  __u64 regs[PROBE_INT_REGS] = {};
  __u8 stack[PROBE_STACK_BYTES] = {};
  Capture capture() const { return {regs, stack}; }
};

TEST(Decode, RegisterIntegersKeepTheirWidthAndSign) {
  Captured c;
  c.regs[static_cast<int>(Reg::rax)] = 0xffffffffffffff9cull;  // int8 -100, with garbage above it
  c.regs[static_cast<int>(Reg::rbx)] = 0xdeadbeef00000007ull;  // uint32 7
  c.regs[static_cast<int>(Reg::rcx)] = 0x0000000000000100ull;  // bool: only the low byte counts
  EXPECT_EQ(decode(in_reg(Reg::rax, TypeKind::int_, 1, true), c.capture()), json(-100));
  EXPECT_EQ(decode(in_reg(Reg::rax, TypeKind::int_, 8, true), c.capture()), json(-100));
  EXPECT_EQ(decode(in_reg(Reg::rbx, TypeKind::uint_, 4), c.capture()), json(7u));
  EXPECT_EQ(decode(in_reg(Reg::rcx, TypeKind::bool_, 1), c.capture()), json(false));
  EXPECT_EQ(decode(in_reg(Reg::rbx, TypeKind::pointer, 8), c.capture()), json("0xdeadbeef00000007"));
}

TEST(Decode, StackValuesComeFromTheirOffsetAndNothingPastTheWindowIsInvented) {
  Captured c;
  const int32_t v = -2021;
  std::memcpy(c.stack + 16, &v, 4);
  const double d = 2.5;
  std::memcpy(c.stack + 24, &d, 8);
  EXPECT_EQ(decode(on_stack(16, TypeKind::int_, 4, true), c.capture()), json(-2021));
  EXPECT_EQ(decode(on_stack(24, TypeKind::float_, 8), c.capture()), json(2.5));
  // beyond the copied window (or before SP) the value is unknown: null, never zero
  EXPECT_EQ(decode(on_stack(PROBE_STACK_BYTES - 4, TypeKind::int_, 8), c.capture()), json(nullptr));
  EXPECT_EQ(decode(on_stack(-8, TypeKind::int_, 8), c.capture()), json(nullptr));
  Piece nowhere{"", 0, 8, TypeKind::int_, true, {}};
  EXPECT_EQ(decode(nowhere, c.capture()), json(nullptr));
}

TEST(Decode, ANilErrorIsNullAndANonNilOneShowsItsWords) {
  auto error_type = std::make_shared<binary::Type>();
  error_type->name = "error";
  error_type->kind = TypeKind::interface;
  error_type->is_error = true;
  error_type->size = 16;
  binary::Value err{
      "err",
      error_type,
      false,
      false,
      {in_reg(Reg::rax, TypeKind::pointer, 8, false, ".type"), in_reg(Reg::rbx, TypeKind::pointer, 8, false, ".data")}};
  Captured c;
  EXPECT_EQ(decode(err, c.capture()), json(nullptr));
  c.regs[static_cast<int>(Reg::rax)] = 0x4d2a40;
  c.regs[static_cast<int>(Reg::rbx)] = 0x55e010;
  EXPECT_EQ(decode(err, c.capture()), (json{{"type", "0x4d2a40"}, {"data", "0x55e010"}}));
}

// A string whose bytes the probe could not copy (the read failed: 0 bytes captured) is recorded
// by its words and said unreadable, never as an empty text (seed 502 of fuzz/abi found that).
TEST(Decode, AStringWhoseBytesCouldNotBeCopiedIsUnreadableNotEmpty) {
  auto string_type = std::make_shared<binary::Type>();
  string_type->name = "string";
  string_type->kind = TypeKind::string;
  string_type->size = 16;
  binary::Value s{
      "s",
      string_type,
      false,
      false,
      {in_reg(Reg::rax, TypeKind::pointer, 8, false, ".ptr"), in_reg(Reg::rbx, TypeKind::int_, 8, true, ".len")}};
  Captured c;
  c.regs[static_cast<int>(Reg::rax)] = 0x4d2a40;
  c.regs[static_cast<int>(Reg::rbx)] = 65;
  const __u8 bytes[64] = {'a', 'b'};
  const Memory failed{bytes, 0}, copied{bytes, 2};
  const json none = decode(s, c.capture(), std::span<const Memory>(&failed, 1));
  EXPECT_EQ(none.value("len", 0), 65) << none;
  EXPECT_FALSE(none.contains("text")) << none;
  EXPECT_TRUE(none.contains("unreadable")) << none;
  EXPECT_EQ(decode(s, c.capture(), std::span<const Memory>(&copied, 1)), (json{{"text", "ab"}, {"len", 65}}));
}

}  // namespace
}  // namespace bpfault::run
