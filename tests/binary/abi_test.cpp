// The ABI assignment on hand-made types, checked against abi-internal.md's own example and
// the rules it states (whole values, arrays, register exhaustion, 386 alignment).
#include <gtest/gtest.h>

#include "binary/abi.h"
#include "binary/go_type.h"

namespace bpfault::binary {
namespace {

struct Types {
  std::shared_ptr<TypeTable> table = std::make_shared<TypeTable>();
  const Type* add(Type t) { return &table->add(std::move(t)); }
  const Type* scalar(std::string name, TypeKind k, uint64_t size, bool is_signed = false) {
    Type t;
    t.name = std::move(name);
    t.kind = k;
    t.size = size;
    t.is_signed = is_signed;
    return add(std::move(t));
  }
  const Type* array(const Type* elem, uint64_t len) {
    Type t;
    t.name = "[" + std::to_string(len) + "]" + elem->name;
    t.kind = TypeKind::array;
    t.size = elem->size * len;
    t.len = len;
    t.elem = TypeTable::link(elem);
    return add(std::move(t));
  }
  const Type* structure(std::string name, std::vector<std::pair<std::string, const Type*>> fields) {
    Type t;
    t.name = std::move(name);
    t.kind = TypeKind::struct_;
    for (auto& [n, ft] : fields) {
      const uint64_t a = alignment(*ft, 8);
      t.size = (t.size + a - 1) / a * a;
      t.fields.push_back(Field{n, t.size, TypeTable::link(ft)});
      t.size += ft->size;
    }
    return add(std::move(t));
  }
  Value value(std::string name, const Type* t) {
    Value v;
    v.name = std::move(name);
    v.type = table->owning(t);
    return v;
  }
};

std::string locs(const Value& v) { return v.describe_loc(); }

// abi-internal.md, "Example": f(a1 uint8, a2 [2]uintptr, a3 uint8) (r1 struct{x uintptr; y [2]uintptr}, r2 string)
TEST(Abi, TheSpecificationsExample) {
  Types t;
  const Type* u8 = t.scalar("uint8", TypeKind::uint_, 1);
  const Type* uptr = t.scalar("uintptr", TypeKind::uint_, 8);
  const Type* str = t.scalar("string", TypeKind::string, 16);
  Value a1 = t.value("a1", u8), a2 = t.value("a2", t.array(uptr, 2)), a3 = t.value("a3", u8);
  Value r1 = t.value("r1", t.structure("r1", {{"x", uptr}, {"y", t.array(uptr, 2)}})), r2 = t.value("r2", str);
  AbiAssigner abi(Arch::amd64, false, 8);
  for (Value* v : {&a1, &a2, &a3}) abi.assign(*v);
  abi.start_results(8);
  for (Value* v : {&r1, &r2}) abi.assign(*v);
  EXPECT_EQ(locs(a1), "rax");
  EXPECT_EQ(locs(a2), "sp+8");  // "a2 and r1 are stack-assigned because they contain arrays"
  EXPECT_TRUE(a2.on_stack);
  EXPECT_EQ(locs(a3), "rbx");    // registers continue after a stack-assigned argument
  EXPECT_EQ(locs(r1), "sp+24");  // after a2's 16 bytes
  ASSERT_EQ(r1.pieces.size(), 3u);
  EXPECT_EQ(r1.pieces[0].path, ".x");
  EXPECT_EQ(r1.pieces[2].path, ".y[1]");
  EXPECT_EQ(r1.pieces[2].loc.sp_offset, 40);
  EXPECT_EQ(locs(r2), "rax,rbx");  // results start again at the first register
  EXPECT_EQ(r2.pieces[0].path, ".ptr");
  EXPECT_EQ(r2.pieces[1].path, ".len");
}

TEST(Abi, AValueThatDoesNotFitGoesWholeOnTheStackAndLaterOnesStillUseRegisters) {
  Types t;
  const Type* i = t.scalar("int", TypeKind::int_, 8, true);
  const Type* str = t.scalar("string", TypeKind::string, 16);
  AbiAssigner abi(Arch::amd64, false, 16);  // after `push rbp`: first stack byte at sp+16
  std::vector<Value> vs;
  for (int k = 0; k < 8; ++k) vs.push_back(t.value("i", i));
  vs.push_back(t.value("s", str));   // needs 2 registers, 1 left
  vs.push_back(t.value("last", i));  // takes the one left
  for (Value& v : vs) abi.assign(v);
  EXPECT_EQ(locs(vs[7]), "r10");
  EXPECT_EQ(locs(vs[8]), "sp+16");
  EXPECT_EQ(vs[8].pieces[1].loc.sp_offset, 24);
  EXPECT_EQ(locs(vs[9]), "r11");
}

TEST(Abi, FloatsUseTheirOwnSequenceUpToX14) {
  Types t;
  const Type* f = t.scalar("float64", TypeKind::float_, 8);
  const Type* c = t.scalar("complex128", TypeKind::complex_, 16);
  AbiAssigner abi(Arch::amd64, false, 8);
  Value cv = t.value("c", c);
  abi.assign(cv);
  EXPECT_EQ(locs(cv), "xmm0,xmm1");
  std::vector<Value> vs;
  for (int k = 0; k < 14; ++k) vs.push_back(t.value("f", f));
  for (Value& v : vs) abi.assign(v);
  EXPECT_EQ(locs(vs[12]), "xmm14");
  EXPECT_EQ(locs(vs[13]), "sp+8");  // X15 is the zero register, never an argument
}

TEST(Abi, ArraysOfZeroOrOneElementAndZeroSizedValues) {
  Types t;
  const Type* i = t.scalar("int", TypeKind::int_, 8, true);
  Value one = t.value("one", t.array(i, 1)), none = t.value("none", t.array(i, 0)),
        empty = t.value("e", t.structure("struct {}", {}));
  AbiAssigner abi(Arch::amd64, false, 8);
  for (Value* v : {&one, &none, &empty}) abi.assign(*v);
  EXPECT_EQ(locs(one), "rax");
  EXPECT_EQ(one.pieces[0].path, "[0]");
  EXPECT_TRUE(none.pieces.empty());
  EXPECT_TRUE(empty.pieces.empty());
  EXPECT_EQ(abi.next_int(), 1);
}

// fuzz/abi seeds 12 and 13 (Go 1.19, amd64 and 386): a blank parameter DWARF leaves out is
// stood in for by its bytes, which have no alignment of their own (they cover the padding
// before the next parameter) and never go in registers (they are on the stack).
TEST(Abi, BytesOfUnknownElementsGoOnTheStackUnaligned) {
  Types t;
  const Type* u16 = t.scalar("uint16", TypeKind::uint_, 2);
  Type bytes;
  bytes.name = "?";
  bytes.kind = TypeKind::array;
  bytes.size = 10;
  Value a = t.value("a", u16), blank = t.value("_", t.add(bytes)), b = t.value("b", u16);
  for (Arch arch : {Arch::amd64, Arch::i386}) {
    AbiAssigner abi(arch, arch != Arch::amd64, 4);
    abi.assign(a);
    abi.assign(blank);
    abi.assign(b);
    EXPECT_TRUE(blank.on_stack);
    EXPECT_EQ(locs(blank), arch == Arch::amd64 ? "sp+4" : "sp+6");
    EXPECT_EQ(abi.next_int(), arch == Arch::amd64 ? 2 : 0);
    EXPECT_EQ(locs(b), arch == Arch::amd64 ? "rbx" : "sp+16");  // 386: 2 + 10 bytes, then aligned to 2
  }
}

TEST(Abi, Stack386AlignsSixtyFourBitValuesToFourAndResultsFollowTheArguments) {
  Types t;
  const Type* i8 = t.scalar("int8", TypeKind::int_, 1, true);
  const Type* i64 = t.scalar("int64", TypeKind::int_, 8, true);
  const Type* f64 = t.scalar("float64", TypeKind::float_, 8);
  Value a = t.value("a", i8), b = t.value("b", i64), c = t.value("c", f64), r = t.value("r", i8);
  AbiAssigner abi(Arch::i386, false, 4);
  for (Value* v : {&a, &b, &c}) abi.assign(*v);
  abi.start_results(4);
  abi.assign(r);
  EXPECT_EQ(locs(a), "sp+4");
  EXPECT_EQ(locs(b), "sp+8");  // int64 aligns to 4 on 386, not 8
  EXPECT_EQ(locs(c), "sp+16");
  EXPECT_EQ(locs(r), "sp+24");  // pointer-aligned after the arguments
}

TEST(Abi, LeavesFollowFieldOrderWithoutPadding) {
  Types t;
  const Type* i8 = t.scalar("int8", TypeKind::int_, 1, true);
  const Type* f64 = t.scalar("float64", TypeKind::float_, 8);
  const Type* str = t.scalar("string", TypeKind::string, 16);
  const Type* mixed = t.structure("main.Mixed", {{"A", i8}, {"B", f64}, {"C", str}});
  Leaves l = leaves(*mixed, 8);
  ASSERT_EQ(l.pieces.size(), 4u);
  EXPECT_EQ(l.pieces[0].path, ".A");
  EXPECT_EQ(l.pieces[1].path, ".B");
  EXPECT_EQ(l.pieces[1].offset, 8u);
  EXPECT_EQ(l.pieces[3].path, ".C.len");
  EXPECT_EQ(l.pieces[3].offset, 24u);
  EXPECT_EQ(l.ints, 3);
  EXPECT_EQ(l.floats, 1);
  EXPECT_TRUE(l.register_ok);
  // A long array is one opaque piece, and never in registers.
  Leaves big = leaves(*t.array(i8, 4096), 8);
  ASSERT_EQ(big.pieces.size(), 1u);
  EXPECT_EQ(big.pieces[0].size, 4096u);
  EXPECT_FALSE(big.register_ok);
}

TEST(Abi, CrossCheckNamesTheDisagreement) {
  Types t;
  Value s = t.value("s", t.scalar("string", TypeKind::string, 16));
  AbiAssigner abi(Arch::amd64, false, 8);
  abi.assign(s);
  using K = DwarfPiece::Kind;
  EXPECT_FALSE(cross_check(s, {{K::reg, 0, 0, 8}, {K::reg, 3, 0, 8}}, 8));    // rax, rbx
  EXPECT_FALSE(cross_check(s, {{K::empty, 0, 0, 8}, {K::reg, 3, 0, 8}}, 8));  // an unavailable part is no claim
  auto d = cross_check(s, {{K::reg, 3, 0, 8}, {K::reg, 2, 0, 8}}, 8);  // rbx, rcx: one slot late (a blank before it)
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, "DWARF places s at rbx,rcx at the entry, the ABI at rax,rbx");
  EXPECT_TRUE(cross_check(s, {{K::cfa, 0, 0, 0}}, 8));  // a spill slot is not where it arrives
}

TEST(Glob, StarAndQuestionMarkOnlyBracketsAreLiteral) {
  EXPECT_TRUE(glob_match("main.*", "main.ebpfDemo"));
  EXPECT_TRUE(glob_match("*Demo", "main.ebpfDemo"));
  EXPECT_TRUE(glob_match("main.(*T).Add", "main.(*T).Add"));
  EXPECT_TRUE(glob_match("main.Gen[*]", "main.Gen[go.shape.int]"));
  EXPECT_TRUE(glob_match("main.f?tr", "main.fPtr"));
  EXPECT_FALSE(glob_match("main.*", "runtime.main"));
  EXPECT_FALSE(glob_match("main.f?tr", "main.fPtrr"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_FALSE(glob_match("", "x"));
}

}  // namespace
}  // namespace bpfault::binary
