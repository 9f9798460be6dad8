// Stacks from the binary's own tables (binary/unwind.h) on real builds of fixtures/tracebacks by
// every installed toolchain, for amd64, 386 and stripped: the inline tree expands io.ReadFull
// inlined into main.fill with the files and lines Go's traceback prints (the
// toolchain's own io.go, the fixture's main.go), and the pc->SP-delta walk says where it was
// cut. End to end against the program's own traceback: tests/stacks.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "binary/binary_info.h"
#include "binary/code.h"
#include "binary/image.h"
#include "binary/unwind.h"
#include "process/go_toolchain.h"
#include "support/fixtures.h"

namespace bpfault::binary {
namespace {
namespace fs = std::filesystem;
using process::FixtureVariant;

int line_of(const fs::path& file, const std::string& text) {
  std::ifstream in(file);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    if (++n, line.find(text) != std::string::npos) return n;
  return 0;
}

struct Build {
  std::string release;
  FixtureVariant variant;
};

class Unwind : public ::testing::TestWithParam<Build> {};

TEST_P(Unwind, InlinedCallsExpandAsGoTracebackPrintsThem) {
  const auto& [release, variant] = GetParam();
  const fs::path bin_path = test::fixture("tracebacks", release, variant);
  ASSERT_FALSE(bin_path.empty());
  auto bin = analyse(bin_path);
  ASSERT_TRUE(bin) << bin.error().format();
  const BinaryInfo& b = **bin;
  auto go = process::find_toolchain(release);
  ASSERT_TRUE(go) << go.error().format();
  const int io_line = line_of(go->goroot / "src/io/io.go", "return ReadAtLeast(r, buf, len(buf))");
  const fs::path main_go = test::fixture_dir("tracebacks") / "main.go";
  const int fill_line = line_of(main_go, "return io.ReadFull(r, buf)");
  ASSERT_GT(io_line, 0);

  // Some PC of main.fill is the call into io.ReadAtLeast, in io.ReadFull inlined there.
  const Function* fill = b.find("main.fill");
  ASSERT_TRUE(fill && fill->entry);
  bool found = false;
  for (uint64_t pc = fill->entry; pc < fill->end && !found; ++pc) {
    auto frames = logical_frames(b, pc, pc);
    if (frames.size() != 2 || frames[0].function != "io.ReadFull") continue;
    found = true;
    EXPECT_TRUE(frames[0].inlined);
    EXPECT_TRUE(frames[0].file.ends_with("src/io/io.go")) << frames[0].file;
    EXPECT_EQ(frames[0].line, io_line);
    EXPECT_EQ(frames[1].function, "main.fill");
    EXPECT_FALSE(frames[1].inlined);
    EXPECT_TRUE(frames[1].file.ends_with("main.go")) << frames[1].file;
    EXPECT_EQ(frames[1].line, fill_line);
    EXPECT_EQ(frames[1].pc, pc);
    EXPECT_EQ(frames[1].offset, pc - fill->entry);
  }
  EXPECT_TRUE(found) << "no PC of main.fill has io.ReadFull inlined";
  const Function* rf = b.find("main.readFile");
  ASSERT_TRUE(rf && rf->entry);
  // a function with nothing inlined is one frame
  auto plain = logical_frames(b, rf->entry, rf->entry);
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0].function, "main.readFile");
}

TEST_P(Unwind, AStackDeeperThanTheCopyIsCutAndSaysSo) {
  const auto& [release, variant] = GetParam();
  const fs::path bin_path = test::fixture("tracebacks", release, variant);
  ASSERT_FALSE(bin_path.empty());
  auto bin = analyse(bin_path);
  ASSERT_TRUE(bin) << bin.error().format();
  const Function* read = (*bin)->find("main.(*slowReader).Read");
  ASSERT_TRUE(read && read->body);
  // nothing copied: the return address is past the copy
  const std::vector<uint8_t> copy;
  Stack st = unwind(**bin, read->body, 0x10000, copy);
  ASSERT_EQ(st.frames.size(), 1u);
  EXPECT_EQ(st.frames[0].function, "main.(*slowReader).Read");
  EXPECT_EQ(st.cut, "the stack is deeper than the 0 bytes copied at the probe");

  // A return address outside the text ends the walk with the reason; a zero one ends it quietly.
  std::vector<uint8_t> big(4096, 0xee);
  st = unwind(**bin, read->body, 0x10000, big);
  EXPECT_EQ(st.frames.size(), 1u);
  EXPECT_TRUE(st.cut.find("outside the Go text") != std::string::npos) << st.cut;
}

std::vector<Build> builds() {
  std::vector<Build> out;
  for (const auto& r : test::go_releases())
    for (const FixtureVariant& v : {FixtureVariant{}, FixtureVariant{"386", false}, FixtureVariant{"amd64", true}})
      out.push_back({r, v});
  return out;
}

// fixtures/inlines' main.twice, inlined into loop, once and maybe and nowhere else: the inline
// trees give its three copies (stripped too), each mark an instruction of its caller, and each
// countable; os.Open has its copy in os.ReadFile.
TEST_P(Unwind, InlinedCopiesComeFromTheInlineTrees) {
  const auto& [release, variant] = GetParam();
  const fs::path bin_path = test::fixture("inlines", release, variant);
  ASSERT_FALSE(bin_path.empty());
  auto bin = analyse(bin_path);
  ASSERT_TRUE(bin) << bin.error().format();
  const Function* twice = (*bin)->find("main.twice");
  ASSERT_NE(twice, nullptr);
  EXPECT_EQ(twice->entry, 0u);
  EXPECT_FALSE(twice->probeable());
  std::vector<std::string> callers;
  for (const InlinedCopy& c : twice->inlined_copies) {
    callers.push_back(c.caller);
    EXPECT_EQ(c.outer, c.caller);
    EXPECT_EQ(c.not_countable, "") << c.caller;
    const Function* outer = (*bin)->function_at(c.mark);
    ASSERT_NE(outer, nullptr);
    EXPECT_EQ(outer->name, c.caller);
    EXPECT_TRUE(c.at.ends_with(fmt::format("main.go:{}", line_of(test::fixture_dir("inlines") / "main.go",
                                                                 c.caller == "main.loop"   ? "s += twice(i)"
                                                                 : c.caller == "main.once" ? "return twice(x) + 1"
                                                                                           : "\t\treturn twice(x)"))))
        << c.at;
    EXPECT_TRUE(c.file.ends_with("main.go")) << c.file;
  }
  std::ranges::sort(callers);
  EXPECT_EQ(callers, (std::vector<std::string>{"main.loop", "main.maybe", "main.once"}));
  const Function* open = (*bin)->find("os.Open");
  ASSERT_NE(open, nullptr);
  EXPECT_TRUE(
      std::ranges::any_of(open->inlined_copies, [](const InlinedCopy& c) { return c.caller == "os.ReadFile"; }));
}

// Each copy's arguments from its own DW_TAG_inlined_subroutine, evaluated at its mark: main.scale's
// x and k, which area and volume pass from their own parameters, are where the caller has them
// there (the argument registers as they arrived on amd64, the caller's argument slots above its
// return address on 386: the CFA plus the caller's SP delta at the mark); main.twice's x has no
// location at the mark of its copy in loop (the loop counter's location list starts later), and
// says so; a stripped build has no DWARF for any copy.
TEST_P(Unwind, InlinedCopiesArgumentsAreWhereTheirDwarfPlacesThemAtTheMark) {
  const auto& [release, variant] = GetParam();
  const fs::path bin_path = test::fixture("inlines", release, variant);
  ASSERT_FALSE(bin_path.empty());
  auto bin = analyse(bin_path);
  ASSERT_TRUE(bin) << bin.error().format();
  const Function* scale = (*bin)->find("main.scale");
  ASSERT_NE(scale, nullptr);
  ASSERT_EQ(scale->inlined_copies.size(), 2u);
  const Function* twice = (*bin)->find("main.twice");
  ASSERT_NE(twice, nullptr);
  for (const InlinedCopy& c : twice->inlined_copies)
    if (c.caller == "main.loop" && !variant.stripped) {
      EXPECT_EQ(c.param("x"), nullptr);
      EXPECT_EQ(c.unlocated_why("x"), fmt::format("DWARF gives it no location at {:#x}", c.mark));
    }
  for (const InlinedCopy& c : scale->inlined_copies) {
    SCOPED_TRACE(c.caller);
    EXPECT_EQ(c.not_countable, "");
    if (variant.stripped) {
      EXPECT_EQ(c.params_why, "the binary has no DWARF (stripped)");
      EXPECT_TRUE(c.params.empty());
      continue;
    }
    ASSERT_EQ(c.params_why, "");
    EXPECT_TRUE(c.unlocated.empty()) << c.unlocated.front().first << ": " << c.unlocated.front().second;
    const Value* x = c.param("x");
    const Value* k = c.param("k");
    ASSERT_TRUE(x && k);
    ASSERT_EQ(x->pieces.size(), 1u);
    ASSERT_EQ(k->pieces.size(), 1u);
    const Loc& lx = x->pieces[0].loc;
    const Loc& lk = k->pieces[0].loc;
    if (variant.goarch == "386") {
      // the caller's own arguments: its frame (SP delta at the mark) and return address below them
      const auto& pcln = (*bin)->image->pclntab;
      const PclnFunc* outer = pcln.lookup(c.mark);
      ASSERT_NE(outer, nullptr);
      const int32_t frame = pcln.pc_value(outer->pcsp, outer->entry, c.mark).value_or(-1);
      EXPECT_EQ(lx, (Loc{Loc::Kind::stack, Reg::rax, 0, frame + 4})) << lx.describe();
      EXPECT_EQ(lk, (Loc{Loc::Kind::stack, Reg::rax, 0, frame + 8})) << lk.describe();
    } else if (lx.kind == Loc::Kind::reg) {  // 1.24, 1.27: the mark comes before the spills
      EXPECT_EQ(lx, (Loc{Loc::Kind::reg, Reg::rax, 0, 0})) << lx.describe();
      EXPECT_EQ(lk, (Loc{Loc::Kind::reg, Reg::rbx, 0, 0})) << lk.describe();
    } else {  // 1.19: after them, in the caller's spill slots (its argument area: CFA, CFA+8)
      const auto& pcln = (*bin)->image->pclntab;
      const PclnFunc* outer = pcln.lookup(c.mark);
      ASSERT_NE(outer, nullptr);
      const int32_t frame = pcln.pc_value(outer->pcsp, outer->entry, c.mark).value_or(-1);
      EXPECT_EQ(lx, (Loc{Loc::Kind::stack, Reg::rax, 0, frame + 8})) << lx.describe();
      EXPECT_EQ(lk, (Loc{Loc::Kind::stack, Reg::rax, 0, frame + 16})) << lk.describe();
    }
  }
}

// fixtures/inlcaller's main.helper, inlined into fromA, fromB and fromC with no code of its own:
// its ranges hold the call instruction's last byte (return address - 1) of every call of
// main.leaf made from a copy, and neither fromB's own call of leaf, next to its copy, nor
// direct's. A function with code of its own is that one range; main.tally's 20 copies are 20.
TEST_P(Unwind, InlinedRangesHoldTheCallsMadeFromEveryCopy) {
  const auto& [release, variant] = GetParam();
  const fs::path bin_path = test::fixture("inlcaller", release, variant);
  ASSERT_FALSE(bin_path.empty());
  auto bin = analyse(bin_path);
  ASSERT_TRUE(bin) << bin.error().format();
  const BinaryInfo& b = **bin;
  const Function* leaf = b.find("main.leaf");
  ASSERT_TRUE(leaf && leaf->entry);

  const std::vector<CodeRange> ranges = inlined_ranges(b, "main.helper");
  std::vector<std::string> into;
  for (const CodeRange& r : ranges) {
    EXPECT_LT(r.lo, r.hi);
    const Function* outer = b.function_at(r.lo);
    ASSERT_NE(outer, nullptr);
    EXPECT_EQ(outer->name, r.function);
    EXPECT_LE(r.hi, outer->end) << r.function;
    if (std::ranges::find(into, r.function) == into.end()) into.push_back(r.function);
  }
  std::ranges::sort(into);
  EXPECT_EQ(into, (std::vector<std::string>{"main.fromA", "main.fromB", "main.fromC"}));  // no code of its own
  EXPECT_TRUE(std::ranges::is_sorted(ranges, {}, &CodeRange::lo));

  // every direct call of leaf: (in one of helper's ranges, made from helper's copy by the inline tree)
  const CodeDecoder decoder(b.arch);
  std::map<std::string, std::pair<int, int>> calls;  // caller -> (calls in helper's ranges, others)
  for (const char* name : {"main.direct", "main.fromA", "main.fromB", "main.fromC"}) {
    const Function* f = b.find(name);
    ASSERT_TRUE(f && f->entry) << name;
    const ControlFlow flow = decoder.control_flow(b.image->elf.at_vaddr(f->entry, f->end - f->entry), f->entry);
    ASSERT_TRUE(flow.complete) << name;
    calls[name];
    for (const auto& [pc, target] : flow.calls) {
      if (target != leaf->entry) continue;
      auto next = std::ranges::upper_bound(flow.starts, pc);
      ASSERT_NE(next, flow.starts.end()) << name;
      const uint64_t ret = *next, last = ret - 1;
      const bool in = std::ranges::any_of(ranges, [&](const CodeRange& r) { return r.lo <= last && last < r.hi; });
      const auto frames = logical_frames(b, ret, last);
      ASSERT_FALSE(frames.empty());
      EXPECT_EQ(in, frames[0].function == "main.helper" && frames[0].inlined)
          << name << " calls leaf at " << std::hex << pc;
      ++(in ? calls[name].first : calls[name].second);
    }
  }
  EXPECT_EQ(calls,
            (std::map<std::string, std::pair<int, int>>{
                {"main.direct", {0, 1}}, {"main.fromA", {1, 0}}, {"main.fromB", {1, 1}}, {"main.fromC", {1, 0}}}));

  const Function* fromB = b.find("main.fromB");
  EXPECT_EQ(inlined_ranges(b, "main.fromB"), (std::vector<CodeRange>{{fromB->entry, fromB->end, "main.fromB"}}));
  const std::vector<CodeRange> tally = inlined_ranges(b, "main.tally");
  // more than when.caller matches (16); manyCalls' own code between each two copies keeps them
  // apart (copies next to each other would be one range)
  EXPECT_EQ(tally.size(), 20u);
  EXPECT_TRUE(std::ranges::all_of(tally, [](const CodeRange& r) { return r.function == "main.manyCalls"; }));
  EXPECT_TRUE(inlined_ranges(b, "main.nobody").empty());
}

INSTANTIATE_TEST_SUITE_P(Builds, Unwind, ::testing::ValuesIn(builds()), [](const auto& info) {
  std::string name =
      "go" + info.param.release + "_" + info.param.variant.goarch + (info.param.variant.stripped ? "_stripped" : "");
  for (char& c : name)
    if (c == '.') c = '_';
  return name;
});

}  // namespace
}  // namespace bpfault::binary
