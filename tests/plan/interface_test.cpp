// Interface values planned from package-level variables on real builds of fixtures/ifaces, on
// the oldest and the newest toolchain (whose linker names no itab), amd64 and 386: a variable of
// the interface's own type is copied word for word; one of a concrete type becomes the value Go's
// conversion makes (the binary's itab, or the type's descriptor for `any`; the variable's word
// when pointer-shaped, else its address); anything Go would never see is refused, saying why.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "binary/variables.h"
#include "plan/plan.h"
#include "support/fixtures.h"

namespace bpfault::plan {
namespace {

struct Build {
  std::string release, goarch;
};

class Interfaces : public ::testing::TestWithParam<Build> {
 protected:
  void SetUp() override {
    const auto path = test::fixture("ifaces", GetParam().release, process::FixtureVariant{GetParam().goarch, false});
    ASSERT_FALSE(path.empty());
    auto info = binary::analyse(path);
    ASSERT_TRUE(info) << info.error().format();
    bin_ = *info;
  }

  Result<Plan> plan(const std::string& function, const std::string& injection) {
    const std::string text = fmt::format(R"j({{"version": 1, "name": "t", "target": {{"fixture": "ifaces"}},
      "probes": [{{"function": "{}", {}}}]}})j",
                                         function, injection);
    auto s = scenario::parse(text, "t.json");
    if (!s) return tl::unexpected(s.error());
    scenario_ = std::make_unique<scenario::Scenario>(std::move(*s));
    return make_plan(*scenario_, bin_);
  }

  // The two words written for an interface: {src, value} of its type word, then of its data word.
  static std::vector<std::pair<uint8_t, uint64_t>> words(const std::vector<PlannedWrite>& writes) {
    std::vector<std::pair<uint8_t, uint64_t>> out;
    for (const auto& w : writes)
      if (w.write.kind == W_STORE) out.emplace_back(w.write.src, w.write.value);
    return out;
  }

  uint64_t var(const std::string& name) const {
    auto a = bin_->variable(name);
    EXPECT_TRUE(a) << name;
    return a.value_or(0);
  }

  void expect_refused(const std::string& function, const std::string& injection, const std::string& why) {
    auto p = plan(function, injection);
    ASSERT_FALSE(p) << injection << " was accepted";
    EXPECT_NE(p.error().what.find(why), std::string::npos) << p.error().format();
  }

  std::shared_ptr<const binary::BinaryInfo> bin_;
  std::unique_ptr<scenario::Scenario> scenario_;
};

TEST_P(Interfaces, AVariableOfTheInterfacesTypeIsCopiedWordForWord) {
  auto p = plan("main.check", R"j("set_results": {"r0": "main.errPlain"})j");
  ASSERT_TRUE(p) << p.error().format();
  const uint64_t at = var("main.errPlain");
  EXPECT_EQ(words(p->probes[0].steps[0].ret),
            (std::vector<std::pair<uint8_t, uint64_t>>{{SRC_USER, at}, {SRC_USER, at + bin_->ptr_size()}}));
}

TEST_P(Interfaces, APointerShapedVariableBecomesItsItabAndItsWord) {
  auto p = plan("main.check", R"j("set_results": {"r0": "main.errMine"})j");
  ASSERT_TRUE(p) << p.error().format();
  const auto itab = binary::itab(*bin_, "*main.MyErr", "error");
  ASSERT_TRUE(itab);
  EXPECT_EQ(binary::dynamic_type(*bin_, itab->addr, false), "*main.MyErr");
  EXPECT_EQ(words(p->probes[0].steps[0].ret),
            (std::vector<std::pair<uint8_t, uint64_t>>{{SRC_ADDR, itab->addr}, {SRC_USER, var("main.errMine")}}));
}

TEST_P(Interfaces, AValueVariableBecomesItsItabAndItsAddress) {
  auto p = plan("main.check", R"j("set_results": {"r0": "main.errCode"})j");
  ASSERT_TRUE(p) << p.error().format();
  const auto itab = binary::itab(*bin_, "main.Code", "error");
  ASSERT_TRUE(itab);
  EXPECT_EQ(words(p->probes[0].steps[0].ret),
            (std::vector<std::pair<uint8_t, uint64_t>>{{SRC_ADDR, itab->addr}, {SRC_ADDR, var("main.errCode")}}));
}

TEST_P(Interfaces, AnEmptyInterfaceTakesTheTypesDescriptor) {
  auto p = plan("main.describe", R"j("set_args": {"v": "main.greeting"})j");
  ASSERT_TRUE(p) << p.error().format();
  EXPECT_EQ(words(p->probes[0].steps[0].call), (std::vector<std::pair<uint8_t, uint64_t>>{
                                                   {SRC_ADDR, bin_->string_type}, {SRC_ADDR, var("main.greeting")}}));
}

TEST_P(Interfaces, WhatGoWouldNeverSeeIsRefused) {
  expect_refused("main.check", R"j("set_results": {"r0": "main.point"})j",
                 "main.point is a main.Point, and " + bin_->path.string() + " has no itab for main.Point as error");
  expect_refused("main.name", R"j("set_args": {"s": "main.errPlain"})j",
                 "main.errPlain is a error, not a fmt.Stringer: converting one interface to another is done by Go");
  expect_refused("main.name", R"j("set_args": {"s": "main.point"})j", "no itab for main.Point as fmt.Stringer");
}

TEST_P(Interfaces, AnErrnoIsTheBinarysOwnItabAndStaticValue) {
  auto p = plan("main.check", R"j("set_results": {"r0": {"errno": "ENOSPC"}})j");
  ASSERT_TRUE(p) << p.error().format();
  const auto itab = binary::itab(*bin_, "syscall.Errno", "error");
  ASSERT_TRUE(itab);
  EXPECT_EQ(words(p->probes[0].steps[0].ret),
            (std::vector<std::pair<uint8_t, uint64_t>>{{SRC_ADDR, itab->addr},
                                                       {SRC_ADDR, var("runtime.staticuint64s") + 8 * 28}}));
}

INSTANTIATE_TEST_SUITE_P(Builds, Interfaces,
                         ::testing::Values(Build{"", "amd64"}, Build{"", "386"}, Build{"newest", "amd64"},
                                           Build{"newest", "386"}),
                         [](const auto& info) {
                           return (info.param.release.empty() ? std::string("oldest") : info.param.release) + "_" +
                                  info.param.goarch;
                         });

}  // namespace
}  // namespace bpfault::plan
