// The accelerator choice (no VM): what is asked, what the device says, what an earlier boot of
// this host boot found. The boot itself under TCG after "no /dev/kvm" is in vm_test's runs.
#include "vm/accel.h"

#include <fstream>

#include <gtest/gtest.h>

namespace bpfault::vm {
namespace {
namespace fs = std::filesystem;

TEST(Accel, ModesParseAndABadOneNamesTheValidValues) {
  EXPECT_EQ(*parse_accel_mode("auto"), AccelMode::automatic);
  EXPECT_EQ(*parse_accel_mode("kvm"), AccelMode::kvm);
  EXPECT_EQ(*parse_accel_mode("tcg"), AccelMode::tcg);
  auto bad = parse_accel_mode("hvf");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::bad_input);
  EXPECT_NE(bad.error().hint.find("auto"), std::string::npos);
}

TEST(Accel, AutomaticTakesKvmOnlyWhenItAnswersAndWasNotFoundDead) {
  auto answers = choose_accel(AccelMode::automatic, std::nullopt, std::nullopt);
  EXPECT_EQ(answers->accel, Accel::kvm);
  auto absent = choose_accel(AccelMode::automatic, "no /dev/kvm", std::nullopt);
  EXPECT_EQ(absent->accel, Accel::tcg);
  EXPECT_EQ(absent->why, "no /dev/kvm");
  auto dead = choose_accel(AccelMode::automatic, std::nullopt, "KVM internal error. Suberror: 1");
  EXPECT_EQ(dead->accel, Accel::tcg);
  EXPECT_NE(dead->why.find("Suberror: 1"), std::string::npos) << dead->why;
}

TEST(Accel, AskedForKvmFailsWithTheDevicesReasonAndTcgIsNeverProbed) {
  auto kvm = choose_accel(AccelMode::kvm, "no /dev/kvm", std::nullopt);
  ASSERT_FALSE(kvm);
  EXPECT_EQ(kvm.error().kind, ErrorKind::unsupported);
  EXPECT_NE(kvm.error().what.find("no /dev/kvm"), std::string::npos);
  EXPECT_EQ(choose_accel(AccelMode::tcg, "no /dev/kvm", "dead")->accel, Accel::tcg);
}

TEST(Accel, ADeathIsRememberedForThisHostBootOnly) {
  const fs::path memory = fs::path(::testing::TempDir()) / "accel_test" / "kvm-verdict";
  fs::remove(memory);
  EXPECT_FALSE(remembered_kvm_death(memory));
  remember_kvm_dead(memory, "no sign of life after 20 s");
  EXPECT_EQ(remembered_kvm_death(memory), "no sign of life after 20 s");
  std::ofstream(memory) << "an-earlier-boot-id\nold reason\n";  // the host rebooted since
  EXPECT_FALSE(remembered_kvm_death(memory));
}

}  // namespace
}  // namespace bpfault::vm
