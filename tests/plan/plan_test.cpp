// Planning injections on real Go builds of fixtures/results (amd64: results in registers; 386:
// on the stack): every result shape gets exactly the writes it asked for, each slot once.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "binary/unwind.h"
#include "plan/plan.h"
#include "support/fixtures.h"

namespace bpfault::plan {
namespace {

using process::FixtureVariant;

class ResultShapes : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const FixtureVariant variant{GetParam(), false};
    const auto path = test::fixture("results", "", variant);
    ASSERT_FALSE(path.empty());
    auto info = binary::analyse(path);
    ASSERT_TRUE(info) << info.error().format();
    bin_ = *info;
  }

  // The plan of one probe on `function` with `injection` (the probe's keys after "function").
  Result<Plan> plan(const std::string& function, const std::string& injection) {
    const std::string text = fmt::format(R"j({{"version": 1, "name": "t", "target": {{"fixture": "results"}},
      "probes": [{{"function": "{}", {}}}]}})j",
                                         function, injection);
    auto s = scenario::parse(text, "t.json");
    if (!s) return tl::unexpected(s.error());
    scenario_ = std::make_unique<scenario::Scenario>(std::move(*s));
    return make_plan(*scenario_, bin_);
  }

  // Every write of the first step, by where it lands ("reg 0", "sp+8"); fails on a slot written twice.
  static std::map<std::string, probe_write> by_slot(const std::vector<PlannedWrite>& writes) {
    std::map<std::string, probe_write> out;
    for (const auto& w : writes) {
      if (w.write.kind == W_RETURN) continue;
      const std::string slot = w.write.loc.kind == LOC_REG ? fmt::format("reg {}", w.write.loc.reg)
                                                           : fmt::format("sp+{}", w.write.loc.sp_offset);
      EXPECT_TRUE(out.emplace(slot, w.write).second) << slot << " is written twice (" << w.target << ")j";
    }
    return out;
  }

  // The slot of a result's piece as written at `site` (the call of an early return is SP-lower by the prologue's push).
  std::string slot(const binary::Function& f, const std::string& result, const std::string& path, bool at_call) {
    const binary::Value* v = f.result(result);
    EXPECT_NE(v, nullptr) << result;
    for (const auto& p : v->pieces)
      if (p.path == path)
        return p.loc.kind == binary::Loc::Kind::reg
                   ? fmt::format("reg {}", static_cast<int>(p.loc.reg))
                   : fmt::format("sp+{}", p.loc.sp_offset + (at_call ? f.body_sp_delta : 0));
    ADD_FAILURE() << result << path << " has no piece";
    return "";
  }

  // The error result `result` of f is io.EOF: its two words copied from the variable, type then data.
  void expect_eof(const binary::Function& f, const std::map<std::string, probe_write>& w, const std::string& result,
                  bool at_call) {
    const uint64_t eof = *bin_->variable("io.EOF");
    const auto type = w.find(slot(f, result, ".type", at_call)), data = w.find(slot(f, result, ".data", at_call));
    ASSERT_NE(type, w.end()) << result << ".type is not written";
    ASSERT_NE(data, w.end()) << result << ".data is not written";
    EXPECT_EQ(type->second.src, SRC_USER);
    EXPECT_EQ(type->second.value, eof);
    EXPECT_EQ(data->second.src, SRC_USER);
    EXPECT_EQ(data->second.value, eof + bin_->ptr_size());
  }

  void expect_imm(const binary::Function& f, const std::map<std::string, probe_write>& w, const std::string& result,
                  const std::string& path, uint64_t value, bool at_call) {
    const auto it = w.find(slot(f, result, path, at_call));
    ASSERT_NE(it, w.end()) << result << path << " is not written";
    EXPECT_EQ(it->second.src, SRC_IMM) << result << path;
    EXPECT_EQ(it->second.value, value) << result << path;
  }

  std::shared_ptr<const binary::BinaryInfo> bin_;
  std::unique_ptr<scenario::Scenario> scenario_;
};

// The exact BPF configuration of an observing probe: one call site (the body, after the stack
// check) served by the program without rule logic, reading but never injecting; no RET site
// when nothing is read or timed there; needs only uprobes and a ring buffer.
TEST_P(ResultShapes, AnObservingProbeIsOneCallSiteWithoutRules) {
  auto p = plan("main.two", R"j("record": ["x"])j");
  ASSERT_TRUE(p) << p.error().format();
  ASSERT_EQ(p->sites.size(), 1u);
  const Site& call = p->sites[0];
  EXPECT_EQ(call.config.kind, SITE_CALL);
  EXPECT_EQ(call.config.probe, 0u);
  EXPECT_EQ(call.config.record, RECORD_VALUES);
  EXPECT_EQ(call.config.inject, 0);
  EXPECT_EQ(call.config.vaddr, p->probes[0].function->body);
  EXPECT_EQ(call.program, Program::observe);
  EXPECT_EQ(p->needs, (std::vector<Cap>{Cap::uprobe, Cap::ringbuf}));
  EXPECT_EQ(p->probes[0].rule.nsteps, 0);
  EXPECT_TRUE(p->probes[0].steps.empty());
}

// A chain of steps compiles into the rule's terms in order: `2*off` lets two calls through,
// then `crash(SIGABRT)` is a SIGABRT on the next; sending signals needs send_signal, and the
// call site's program evaluates the rule without writing.
TEST_P(ResultShapes, AChainOfStepsIsTheRulesTermsInOrder) {
  auto p = plan("main.two", R"j("term": "2*off->crash(SIGABRT)")j");
  ASSERT_TRUE(p) << p.error().format();
  const probe_rule& rule = p->probes[0].rule;
  ASSERT_EQ(rule.nsteps, 2);
  EXPECT_EQ(rule.steps[0].action, ACT_OFF);
  EXPECT_EQ(rule.steps[0].times, 2u);
  EXPECT_EQ(rule.steps[0].probability, 1000000u);
  EXPECT_EQ(rule.steps[1].action, ACT_SIGNAL);
  EXPECT_EQ(rule.steps[1].signal, 6);
  EXPECT_EQ(rule.steps[1].times, 0u);
  ASSERT_EQ(p->sites.size(), 1u);
  EXPECT_EQ(p->sites[0].config.inject, 1);
  EXPECT_EQ(p->sites[0].program, Program::decide);
  EXPECT_NE(std::find(p->needs.begin(), p->needs.end(), Cap::send_signal), p->needs.end());
}

// Results set at the RETs: the call site keeps the call for them, every RET of the function is
// a site that injects, served by the program that may write where the results live.
TEST_P(ResultShapes, ResultsSetAtEveryRet) {
  auto p = plan("main.two", R"j("set_results": {"r0": 7})j");
  ASSERT_TRUE(p) << p.error().format();
  const binary::Function& f = *p->probes[0].function;
  ASSERT_EQ(p->sites.size(), 1 + f.rets.size());
  for (size_t i = 1; i < p->sites.size(); ++i) {
    EXPECT_EQ(p->sites[i].config.kind, SITE_RET);
    EXPECT_EQ(p->sites[i].config.vaddr, f.rets[i - 1]);
    EXPECT_EQ(p->sites[i].config.inject, 1);
    EXPECT_EQ(p->sites[i].program, GetParam() == "amd64" ? Program::write_regs : Program::write_user)
        << "r0 is in a register on amd64, on the stack on 386";
  }
  ASSERT_EQ(p->probes[0].rule.nsteps, 1);
  EXPECT_EQ(p->probes[0].rule.steps[0].action, ACT_WRITE);
  EXPECT_EQ(p->probes[0].rule.steps[0].nret, 1);
  EXPECT_EQ(p->probes[0].rule.steps[0].ncall, 0);
  EXPECT_NE(std::find(p->needs.begin(), p->needs.end(), GetParam() == "amd64" ? Cap::write_regs : Cap::write_user),
            p->needs.end());
}

TEST_P(ResultShapes, ALoneUnnamedErrorReturnedByR0IsTheErrorAskedFor) {
  for (const std::string injection :
       {R"j("return": {"r0": "io.EOF"})j", R"j("return": {"~r0": "io.EOF"})j", R"j("term": "return(io.EOF)")j"}) {
    auto p = plan("main.one", injection);
    ASSERT_TRUE(p) << p.error().format();
    const PlannedProbe& pp = p->probes[0];
    const auto w = by_slot(pp.steps[0].call);
    EXPECT_EQ(w.size(), 2u) << injection << ": the error's two words, nothing else";
    expect_eof(*pp.function, w, "r0", true);
    EXPECT_EQ(pp.steps[0].call.back().write.kind, W_RETURN);
  }
}

TEST_P(ResultShapes, IntAndErrorByPositionNameOrTilde) {
  for (const std::string injection : {R"j("term": "return(7, io.EOF)")j", R"j("return": {"~r0": 7, "r1": "io.EOF"})j",
                                      R"j("return": {"r0": 7, "~r1": "io.EOF"})j"}) {
    auto p = plan("main.two", injection);
    ASSERT_TRUE(p) << p.error().format();
    const PlannedProbe& pp = p->probes[0];
    const auto w = by_slot(pp.steps[0].call);
    EXPECT_EQ(w.size(), 3u) << injection;
    expect_imm(*pp.function, w, "r0", "", 7, true);
    expect_eof(*pp.function, w, "r1", true);
  }
}

TEST_P(ResultShapes, OneErrorValueForAFunctionEndingInErrorSetsTheErrorAndZeroesTheRest) {
  auto p = plan("main.named", R"j("term": "return(io.EOF)")j");
  ASSERT_TRUE(p) << p.error().format();
  const PlannedProbe& pp = p->probes[0];
  const auto w = by_slot(pp.steps[0].call);
  EXPECT_EQ(w.size(), 3u);
  expect_imm(*pp.function, w, "n", "", 0, true);
  expect_eof(*pp.function, w, "err", true);
}

TEST_P(ResultShapes, ThreeResultsWithAnEmptyString) {
  auto p = plan("main.three", R"j("term": "return(5, \"\", io.EOF)")j");
  ASSERT_TRUE(p) << p.error().format();
  const PlannedProbe& pp = p->probes[0];
  const auto w = by_slot(pp.steps[0].call);
  EXPECT_EQ(w.size(), 5u);
  expect_imm(*pp.function, w, "r0", "", 5, true);
  expect_imm(*pp.function, w, "r1", ".ptr", 0, true);
  expect_imm(*pp.function, w, "r1", ".len", 0, true);
  expect_eof(*pp.function, w, "r2", true);
}

TEST_P(ResultShapes, SetResultsAtTheRetWritesOnlyWhatIsNamed) {
  auto p = plan("main.three", R"j("set_results": {"r0": 5, "r2": "io.EOF"})j");
  ASSERT_TRUE(p) << p.error().format();
  const PlannedProbe& pp = p->probes[0];
  EXPECT_TRUE(pp.steps[0].call.empty());
  const auto w = by_slot(pp.steps[0].ret);
  EXPECT_EQ(w.size(), 3u) << "the string r1 is left as the body made it";
  expect_imm(*pp.function, w, "r0", "", 5, false);
  expect_eof(*pp.function, w, "r2", false);
}

TEST_P(ResultShapes, NonErrorResultsAreZeroUnlessGiven) {
  auto p = plan("main.pair", R"j("return": {"r1": 5})j");
  ASSERT_TRUE(p) << p.error().format();
  const PlannedProbe& pp = p->probes[0];
  const auto w = by_slot(pp.steps[0].call);
  EXPECT_EQ(w.size(), 2u);
  expect_imm(*pp.function, w, "r0", "", 0, true);
  expect_imm(*pp.function, w, "r1", "", 5, true);
}

TEST_P(ResultShapes, OneResultNamedTwiceIsRefused) {
  for (const std::string injection : {R"j("set_results": {"r0": 1, "~r0": 2})j", R"j("return": {"n": 1, "r0": 2})j",
                                      R"j("set_results": {"err": null, "r1": "io.EOF"})j"}) {
    auto p =
        plan(injection.find("err") != std::string::npos || injection.find("\"n\"") != std::string::npos ? "main.named"
                                                                                                        : "main.two",
             injection);
    ASSERT_FALSE(p) << injection << " was accepted";
    EXPECT_NE(p.error().what.find("name the same result"), std::string::npos) << p.error().format();
  }
}

// New text is not written into the program's memory: the string is pointed at the text in the
// tracee's environment (BPFAULT_STRINGS, last), found back from its end; its length is the text's.
TEST_P(ResultShapes, AnEarlyReturnPointsAStringAtNewTextInTheEnvironment) {
  auto p = plan("main.three", R"j("term": "return(5, \"hi\", io.EOF)")j");
  ASSERT_TRUE(p) << p.error().format();
  EXPECT_EQ(p->strings.value, "hi:bpfault");
  const PlannedProbe& pp = p->probes[0];
  const auto w = by_slot(pp.steps[0].call);
  const auto ptr = w.find(slot(*pp.function, "r1", ".ptr", true));
  ASSERT_NE(ptr, w.end());
  EXPECT_EQ(ptr->second.src, SRC_ENV);
  EXPECT_EQ(ptr->second.value, 11u) << "\"hi\" starts 11 bytes before the end: hi, the marker, the NUL";
  expect_imm(*pp.function, w, "r1", ".len", 2, true);
  expect_eof(*pp.function, w, "r2", true);
}

TEST_P(ResultShapes, StringTextThatCannotBeGivenIsRefusedWithTheReason) {
  const std::pair<std::string, std::string> cases[] = {
      {fmt::format(R"j("set_results": {{"r1": "{}"}})j", std::string(4097, 'x')),
       "bpfault gives a string at most 4096"},
      {R"j("set_results": {"r1": "a\u0000b"})j", "NUL byte"},
      {R"j("set_results": {"r1": {"bytes": "0123456789012345678901234567890123"}})j", "at most 32 characters"},
      // 17 characters pass the schema's maxLength; their 34 bytes in UTF-8 do not fit the kernel's 32
      {R"j("set_results": {"r1": {"bytes": "ééééééééééééééééé"}})j", "34 bytes; bpfault writes at most 32"},
      {R"j("return": {"r1": {"bytes": "hi"}})j", "no bytes of its own"},
  };
  for (const auto& [injection, why] : cases) {
    auto p = plan("main.three", injection);
    ASSERT_FALSE(p) << injection << " was accepted";
    EXPECT_NE(p.error().format().find(why), std::string::npos) << p.error().format();
  }
}

TEST(TraceeStrings, ATextKeepsItsDistanceFromTheEndAndIsGivenOnce) {
  TraceeStrings t;
  EXPECT_EQ(t.add("abc"), 12u);  // "abc:bpfault" and the NUL
  EXPECT_EQ(t.add("xyz"), 15u);
  EXPECT_EQ(t.add("abc"), 12u);
  EXPECT_EQ(t.add("bc"), 11u) << "a text inside one already given is that one's bytes";
  EXPECT_EQ(t.value, "xyzabc:bpfault");
}

// identity(x int) int is its RET on amd64 (x arrives where its result goes): the call site and a
// RET site would be one address, whose two uprobes the kernel runs in an order of its own, so what
// needs a RET is refused there; an early return and reading the arguments are not. On 386 the body
// copies x to the result slot first: all of it is planned.
TEST_P(ResultShapes, AFunctionWhoseBodyIsItsRetRefusesWhatNeedsARet) {
  const bool lone_ret = GetParam() == "amd64";
  const binary::Function* f = bin_->find("main.identity");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(std::ranges::find(f->rets, f->body) != f->rets.end(), lone_ret);
  for (const std::string needs_ret :
       {R"j("latency": true)j", R"j("record": ["~r0"])j", R"j("set_results": {"~r0": 7})j"}) {
    auto p = plan("main.identity", needs_ret);
    if (!lone_ret) {
      EXPECT_TRUE(p) << needs_ret << ": " << p.error().format();
      continue;
    }
    ASSERT_FALSE(p) << needs_ret << " was accepted";
    EXPECT_NE(p.error().what.find("main.identity returns at its first instruction"), std::string::npos)
        << p.error().format();
  }
  for (const std::string at_call : {R"j("record": ["x"])j", R"j("return": {"~r0": 7})j", R"j("term": "return(7)")j"})
    EXPECT_TRUE(plan("main.identity", at_call)) << at_call;
}

INSTANTIATE_TEST_SUITE_P(Arch, ResultShapes, ::testing::Values("amd64", "386"));

TEST(NoDwarf, WritesAreRefusedBecauseTheLayoutIsUnknown) {
  const auto path = test::fixture("results", "", FixtureVariant{"amd64", true});
  ASSERT_FALSE(path.empty());
  auto bin = binary::analyse(path);
  ASSERT_TRUE(bin);
  for (const std::string injection :
       {R"j("return": {})j", R"j("set_results": {"r0": "io.EOF"})j", R"j("term": "return(io.EOF)")j"}) {
    auto s = scenario::parse(
        fmt::format(
            R"j({{"version": 1, "name": "t", "target": {{"fixture": "results"}}, "probes": [{{"function": "main.one", {}}}]}})j",
            injection),
        "t.json");
    ASSERT_TRUE(s) << s.error().format();
    auto p = make_plan(*s, *bin);
    ASSERT_FALSE(p) << injection << " was accepted";
    EXPECT_NE(p.error().what.find("the binary has no DWARF: the results of main.one are unknown"), std::string::npos)
        << p.error().format();
  }
}

// when.caller on fixtures/inlcaller (amd64 and 386, stripped too: the inline trees survive):
// main.helper has no code of its own, and the rule holds each range of its copies inlined into
// fromA, fromB and fromC; a function with code of its own is that one range; main.tally's 20
// copies are more than the kernel compares, and refused with the count, never cut to 16.
TEST(CallerRanges, WhenCallerHoldsEveryRangeOfTheCallersInlinedCopies) {
  for (const FixtureVariant& variant :
       {FixtureVariant{"amd64", false}, FixtureVariant{"386", false}, FixtureVariant{"amd64", true}}) {
    const auto path = test::fixture("inlcaller", "", variant);
    ASSERT_FALSE(path.empty());
    auto bin = binary::analyse(path);
    ASSERT_TRUE(bin) << bin.error().format();
    auto plan = [&](const std::string& function, const std::string& caller) {
      auto s = scenario::parse(fmt::format(R"j({{"version": 1, "name": "t", "target": {{"fixture": "inlcaller"}},
        "probes": [{{"function": "{}", "when": {{"caller": "{}"}}, "crash": "SIGKILL"}}]}})j",
                                           function, caller),
                               "t.json");
      EXPECT_TRUE(s) << s.error().format();
      return make_plan(*s, *bin);
    };
    const std::string build = variant.goarch + (variant.stripped ? " stripped" : "");

    auto helper = plan("main.leaf", "main.helper");
    ASSERT_TRUE(helper) << build << ": " << helper.error().format();
    const probe_rule& rule = helper->probes[0].rule;
    const auto ranges = binary::inlined_ranges(**bin, "main.helper");
    ASSERT_GE(ranges.size(), 3u) << build;
    ASSERT_EQ(rule.ncallers, ranges.size()) << build;
    for (size_t i = 0; i < ranges.size(); ++i) {
      EXPECT_EQ(rule.callers[i].lo, ranges[i].lo) << build;
      EXPECT_EQ(rule.callers[i].hi, ranges[i].hi) << build;
    }

    auto own = plan("main.leaf", "main.fromB");
    ASSERT_TRUE(own) << build << ": " << own.error().format();
    const binary::Function* fromB = (*bin)->find("main.fromB");
    ASSERT_NE(fromB, nullptr);
    ASSERT_EQ(own->probes[0].rule.ncallers, 1) << build;
    EXPECT_EQ(own->probes[0].rule.callers[0].lo, fromB->entry);
    EXPECT_EQ(own->probes[0].rule.callers[0].hi, fromB->end);

    auto many = plan("main.mark", "main.tally");
    ASSERT_FALSE(many) << build << ": main.tally's 20 copies were accepted";
    EXPECT_EQ(many.error().what,
              "main.tally's code lies in 20 ranges (its copies inlined into main.manyCalls), at most 16 can be matched")
        << build;
    EXPECT_NE(many.error().format().find("name the function it is inlined into instead (main.manyCalls)"),
              std::string::npos)
        << many.error().format();

    auto nobody = plan("main.leaf", "main.nobody");
    ASSERT_FALSE(nobody);
    EXPECT_NE(nobody.error().what.find("main.nobody is not a function of"), std::string::npos)
        << nobody.error().format();
  }
}

// fixtures/inlines' main.scale and main.label, inlined everywhere, each caller passing its own
// parameters: `record` attaches at every copy's mark, each site reading that copy's arguments
// where its DWARF places them (its own values, its own string capture), on every toolchain,
// amd64 and 386. A result, a name the copy has not, latency and writes are refused with the
// reason; a stripped build has no DWARF to place anything.
TEST(InlinedRecord, EachCopyReadsItsOwnArgumentsAndTheRestIsRefusedWithTheReason) {
  for (const std::string& release : test::go_releases())
    for (const FixtureVariant& variant :
         {FixtureVariant{"amd64", false}, FixtureVariant{"386", false}, FixtureVariant{"amd64", true}}) {
      const std::string build = release + " " + variant.goarch + (variant.stripped ? " stripped" : "");
      SCOPED_TRACE(build);
      const auto path = test::fixture("inlines", release, variant);
      ASSERT_FALSE(path.empty());
      auto bin = binary::analyse(path);
      ASSERT_TRUE(bin) << bin.error().format();
      std::unique_ptr<scenario::Scenario> sc;
      auto plan = [&](const std::string& function, const std::string& keys) {
        auto s = scenario::parse(fmt::format(R"j({{"version": 1, "name": "t", "target": {{"fixture": "inlines"}},
          "probes": [{{"function": "{}", {}}}]}})j",
                                             function, keys),
                                 "t.json");
        EXPECT_TRUE(s) << s.error().format();
        sc = std::make_unique<scenario::Scenario>(std::move(*s));
        return make_plan(*sc, *bin);
      };
      const binary::Function* scale = (*bin)->find("main.scale");
      ASSERT_NE(scale, nullptr);
      ASSERT_EQ(scale->inlined_copies.size(), 2u);

      auto recorded = plan("main.scale", R"("record": ["x", "k"])");
      if (variant.stripped) {
        ASSERT_FALSE(recorded);
        EXPECT_NE(recorded.error().what.find("the binary has no DWARF"), std::string::npos)
            << recorded.error().format();
        continue;
      }
      ASSERT_TRUE(recorded) << recorded.error().format();
      ASSERT_EQ(recorded->sites.size(), 2u);  // no code of its own: the two marks only
      const PlannedProbe& pp = recorded->probes[0];
      ASSERT_EQ(pp.copy_args.size(), 2u);
      for (const Site& site : recorded->sites) {
        ASSERT_GE(site.inlined_copy, 0);
        const binary::InlinedCopy& c = scale->inlined_copies[site.inlined_copy];
        EXPECT_EQ(site.config.vaddr, c.mark);
        EXPECT_EQ(site.config.record, RECORD_VALUES);
        EXPECT_EQ(site.program, Program::observe);
        const auto& values = pp.copy_args[site.inlined_copy];
        ASSERT_EQ(values.size(), 2u);
        EXPECT_EQ(values[0], c.param("x")) << c.caller;  // the copy's own locations, not another's
        EXPECT_EQ(values[1], c.param("k")) << c.caller;
        EXPECT_EQ(pp.labels.at(values[0]), "x");
        for (const auto* v : values)
          for (const auto& piece : v->pieces)
            EXPECT_TRUE(piece.loc.kind == binary::Loc::Kind::reg || piece.loc.kind == binary::Loc::Kind::stack)
                << c.caller << " " << v->name << " @" << piece.loc.describe();
      }

      auto label = plan("main.label", R"("record": ["name", "n"])");
      if (variant.goarch == "amd64" && release != "1.19") {
        // Go 1.24 and later give the inlined string one register in DWARF: refused, never half read
        ASSERT_FALSE(label);
        EXPECT_NE(label.error().what.find("name of main.label cannot be recorded at its copy inlined into "
                                          "main.describe"),
                  std::string::npos)
            << label.error().format();
        EXPECT_NE(label.error().what.find("DWARF places all 16 bytes of name in one register, rbx, which holds one "
                                          "word: its location there is incomplete"),
                  std::string::npos)
            << label.error().format();
        label = plan("main.label", R"("record": ["n"])");
      }
      ASSERT_TRUE(label) << label.error().format();
      const binary::Function* lf = (*bin)->find("main.label");
      for (const Site& site : label->sites) {
        const binary::Value* name = lf->inlined_copies[site.inlined_copy].param("name");
        if (label->probes[0].copy_args[site.inlined_copy].size() == 1) continue;  // n only
        ASSERT_NE(name, nullptr);
        ASSERT_EQ(site.config.ncaptures, 1);  // the string's bytes, from this copy's pointer and length
        EXPECT_EQ(site.config.captures[0].ptr.kind,
                  name->pieces[0].loc.kind == binary::Loc::Kind::reg ? LOC_REG : LOC_STACK);
        EXPECT_EQ(label->probes[0].copy_captured[site.inlined_copy], std::vector<const binary::Value*>{name});
      }

      auto result = plan("main.scale", R"("record": ["r0"])");
      ASSERT_FALSE(result);
      EXPECT_NE(result.error().what.find("is a result: a copy has no RET of its own"), std::string::npos)
          << result.error().format();
      EXPECT_NE(result.error().what.find("cannot be recorded at its copy inlined into main."), std::string::npos)
          << result.error().format();
      EXPECT_NE(result.error().hint.find("-gcflags=-l"), std::string::npos) << result.error().format();

      auto unknown = plan("main.scale", R"("record": ["y"])");
      ASSERT_FALSE(unknown);
      EXPECT_NE(unknown.error().what.find("its DWARF names no argument \"y\" (its arguments: x, k)"), std::string::npos)
          << unknown.error().format();

      auto timed = plan("main.scale", R"("latency": true)");
      ASSERT_FALSE(timed);
      EXPECT_NE(timed.error().what.find("but not timed: a copy has no RET of its own"), std::string::npos)
          << timed.error().format();

      auto written = plan("main.scale", R"("set_args": {"x": 1})");
      ASSERT_FALSE(written);
      EXPECT_NE(written.error().what.find("but not changed: a copy has no call of its own"), std::string::npos)
          << written.error().format();
    }
}

// `panic` on fixtures/recover (amd64, each toolchain): a tail call into runtime.gopanic with a
// string naming bpfault and the function, written past the binary's last writable section.
class PanicPlan : public ::testing::TestWithParam<std::string> {
 protected:
  Result<Plan> plan(const std::string& function, const std::string& term,
                    const std::shared_ptr<const binary::BinaryInfo>& bin) {
    auto s = scenario::parse(fmt::format(R"j({{"version": 1, "name": "t", "target": {{"fixture": "recover"}},
      "probes": [{{"function": "{}", "term": "{}"}}]}})j",
                                         function, term),
                             "t.json");
    if (!s) return tl::unexpected(s.error());
    scenario_ = std::make_unique<scenario::Scenario>(std::move(*s));
    return make_plan(*scenario_, bin);
  }
  std::shared_ptr<const binary::BinaryInfo> build(const FixtureVariant& variant) {
    const auto path = test::fixture("recover", GetParam(), variant);
    EXPECT_FALSE(path.empty());
    auto info = binary::analyse(path);
    EXPECT_TRUE(info) << info.error().format();
    return info ? *info : nullptr;
  }
  std::unique_ptr<scenario::Scenario> scenario_;
};

TEST_P(PanicPlan, IsATailCallIntoGopanicWithAStringNamingBpfaultAndTheFunction) {
  auto bin = build({"amd64", false});
  ASSERT_TRUE(bin);
  auto p = plan("main.store", "panic", bin);
  ASSERT_TRUE(p) << p.error().format();
  const PlannedProbe& pp = p->probes[0];
  EXPECT_EQ(pp.rule.steps[0].action, ACT_WRITE);
  EXPECT_EQ(pp.rule.steps[0].early_return, 1);  // no RET of the call runs: none is waited for
  ASSERT_EQ(pp.steps.size(), 1u);
  const auto& ws = pp.steps[0].call;
  ASSERT_GE(ws.size(), 6u);
  EXPECT_TRUE(pp.steps[0].ret.empty());

  // the message, in 32-byte pieces, right after a 16-byte string header {ptr, len}
  std::string message;
  uint64_t header = 0, text = 0, len = 0, lo = UINT64_MAX, hi = 0;
  for (const auto& w : ws) {
    if (w.write.kind != W_AT) continue;
    lo = std::min<uint64_t>(lo, w.write.addr);
    hi = std::max<uint64_t>(hi, w.write.addr + w.write.len);
    if (w.write.src == SRC_BYTES) {
      if (!text) text = w.write.addr;
      EXPECT_EQ(w.write.addr, text + message.size()) << "the pieces follow each other";
      message.append(reinterpret_cast<const char*>(w.write.bytes), w.write.len);
    } else if (w.target == "panic string.ptr") {
      header = w.write.addr;
      EXPECT_EQ(w.write.src, SRC_ADDR);  // a link-time address: the load bias is added
      EXPECT_EQ(w.write.value, header + 16);
    } else if (w.target == "panic string.len") {
      EXPECT_EQ(w.write.addr, header + 8);
      len = w.write.value;
    }
  }
  EXPECT_EQ(message, "bpfault: injected panic in main.store");
  EXPECT_EQ(text, header + 16);
  EXPECT_EQ(len, message.size());
  // all of it in the page that holds the end of the last writable section, past that end
  EXPECT_GE(lo, bin->writable_end);
  EXPECT_EQ(header % 8, 0u);
  EXPECT_LE(hi, (bin->writable_end + 4095) / 4096 * 4096);

  // gopanic(e any): the type word in RAX is the descriptor of string, the data word in RBX the header
  const PlannedWrite& type = ws[ws.size() - 3];
  const PlannedWrite& data = ws[ws.size() - 2];
  const PlannedWrite& call = ws.back();
  EXPECT_EQ(type.write.kind, W_STORE);
  EXPECT_EQ(type.write.loc.kind, LOC_REG);
  EXPECT_EQ(type.write.loc.reg, 0);
  EXPECT_EQ(type.write.src, SRC_ADDR);
  EXPECT_EQ(type.write.value, bin->string_type);
  EXPECT_EQ(data.write.loc.reg, 1);
  EXPECT_EQ(data.write.value, header);
  EXPECT_EQ(call.write.kind, W_TAILCALL);
  EXPECT_EQ(call.write.src, SRC_ADDR);
  EXPECT_EQ(call.write.value, bin->find("runtime.gopanic")->entry);
  EXPECT_EQ(p->sites[0].program, Program::write_regs);
  for (Cap c : {Cap::write_user, Cap::write_regs, Cap::write_ip})
    EXPECT_NE(std::find(p->needs.begin(), p->needs.end(), c), p->needs.end()) << static_cast<int>(c);
}

// The type word must be the runtime's descriptor of string (runtime.types + DWARF's
// DW_AT_go_runtime_type): in the file, its size is 16 and its kind String (24).
TEST_P(PanicPlan, TheStringTypeIsTheRuntimesDescriptorOfString) {
  for (const std::string arch : {"amd64", "386"}) {
    auto bin = build({arch, false});
    ASSERT_TRUE(bin);
    ASSERT_NE(bin->string_type, 0u) << arch;
    auto off = bin->file_offset(bin->string_type);
    ASSERT_TRUE(off) << off.error().format();
    std::ifstream f(bin->path, std::ios::binary);
    f.seekg(static_cast<std::streamoff>(*off));
    uint8_t t[24] = {};
    f.read(reinterpret_cast<char*>(t), sizeof t);
    // abi.Type: size and ptrdata (uintptrs), hash, tflag, align, fieldAlign, kind
    const size_t w = bin->ptr_size();
    uint64_t size = 0, ptrdata = 0;
    std::memcpy(&size, t, w);
    std::memcpy(&ptrdata, t + w, w);
    EXPECT_EQ(size, 2 * w) << arch;
    EXPECT_EQ(ptrdata, w) << arch;
    EXPECT_EQ(t[2 * w + 7] & 31, 24) << arch << ": abi.Kind String";
  }
}

TEST_P(PanicPlan, IsRefusedWhereGopanicWouldOverwriteTheCallersFrame) {
  auto bin = build({"amd64", false});
  ASSERT_TRUE(bin);
  EXPECT_TRUE(plan("main.save", "panic", bin)) << "a string: two words of arguments";
  auto p = plan("main.main", "panic", bin);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().what.find("main.main takes 0 bytes of arguments: runtime.gopanic stores its argument"),
            std::string::npos)
      << p.error().format();
  EXPECT_EQ(p.error().where, "t.json:/probes/0/term");  // the term's place, named once
  EXPECT_NE(p.error().hint.find("crash(SIGABRT)"), std::string::npos) << p.error().format();
}

// On 386 (ABI0) gopanic takes its argument on the stack: the two words go right above the
// return address, into the function's own argument slots; the string header has 4-byte words.
TEST_P(PanicPlan, On386TheValueIsWrittenIntoTheArgumentSlots) {
  auto bin = build({"386", false});
  ASSERT_TRUE(bin);
  auto p = plan("main.store", "panic", bin);
  ASSERT_TRUE(p) << p.error().format();
  const binary::Function& f = *p->probes[0].function;
  const auto& ws = p->probes[0].steps[0].call;
  ASSERT_GE(ws.size(), 6u);
  const PlannedWrite& type = ws[ws.size() - 3];
  const PlannedWrite& data = ws[ws.size() - 2];
  EXPECT_EQ(type.write.loc.kind, LOC_STACK);
  EXPECT_EQ(type.write.loc.sp_offset, f.body_sp_delta + 4);
  EXPECT_EQ(type.write.loc.size, 4);
  EXPECT_EQ(type.write.value, bin->string_type);
  EXPECT_EQ(data.write.loc.kind, LOC_STACK);
  EXPECT_EQ(data.write.loc.sp_offset, f.body_sp_delta + 8);
  for (const auto& w : ws)
    if (w.target == "panic string.len") {
      EXPECT_EQ(w.write.len, 4);
    }
  EXPECT_EQ(ws.back().write.kind, W_TAILCALL);
}

TEST_P(PanicPlan, IsRefusedWithoutSymbolsAndDwarf) {
  auto bin = build({"amd64", true});
  ASSERT_TRUE(bin);
  auto p = plan("main.store", "panic", bin);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().what.find("the runtime's type descriptor for string is unknown"), std::string::npos)
      << p.error().format();
}

INSTANTIATE_TEST_SUITE_P(Go, PanicPlan, ::testing::ValuesIn(test::go_releases()));

}  // namespace
}  // namespace bpfault::plan
