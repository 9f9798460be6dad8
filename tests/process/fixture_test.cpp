// The fixture cache: content-addressed builds, rebuilt only when the sources change, never
// overwritten in place, and safe when several threads or processes build the same fixture.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "process/fixture.h"
#include "process/go_toolchain.h"
#include "support/fixtures.h"

namespace bpfault::process {
namespace {

namespace fs = std::filesystem;

class FixtureCache : public ::testing::Test {
 protected:
  void SetUp() override {
    auto go = find_toolchain("");
    ASSERT_TRUE(go) << go.error().format();  // ci/setup installs it: a missing Go is a failure here
    go_ = *go;
    dir_ = fs::path(BPFAULT_BINARY_DIR) / "test-tmp" / fmt::format("fixture-cache-{}", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // a private copy of a fixture, so that the test may edit its sources
    source_ = dir_ / "src" / "count";
    fs::create_directories(source_.parent_path());
    fs::copy(test::fixture_dir("count"), source_, fs::copy_options::recursive);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<BuiltFixture> build() { return build_fixture(source_, go_, {}, dir_ / "cache"); }

  GoToolchain go_;
  fs::path dir_, source_;
};

TEST_F(FixtureCache, BuildsOnceThenReusesTheSameFile) {
  std::vector<std::string> progress;
  auto first =
      build_fixture(source_, go_, {}, dir_ / "cache", [&](const std::string& line) { progress.push_back(line); });
  ASSERT_TRUE(first) << first.error().format();
  EXPECT_FALSE(first->from_cache);
  ASSERT_EQ(progress.size(), 1u) << "one progress line per build";
  EXPECT_NE(progress[0].find("building fixture count with go"), std::string::npos) << progress[0];
  const auto written = fs::last_write_time(first->binary);

  auto second = build();
  ASSERT_TRUE(second) << second.error().format();
  EXPECT_TRUE(second->from_cache);
  EXPECT_EQ(second->binary, first->binary);
  EXPECT_EQ(fs::last_write_time(second->binary), written);
}

TEST_F(FixtureCache, AChangedSourceIsANewFileAndTheOldOneStays) {
  auto before = build();
  ASSERT_TRUE(before) << before.error().format();
  const auto size = fs::file_size(before->binary);
  std::ofstream(source_ / "extra.go") << "package main\n\nvar Extra = \"a change\"\n";

  auto after = build();
  ASSERT_TRUE(after) << after.error().format();
  EXPECT_FALSE(after->from_cache);
  EXPECT_NE(after->binary, before->binary);
  ASSERT_TRUE(fs::exists(before->binary)) << "a build must never replace or remove another";
  EXPECT_EQ(fs::file_size(before->binary), size);
}

// `bpfault run -j 2` builds on two threads of one process: each must get the binary (it once
// failed with "cannot store the build" when both used the same temporary name).
TEST_F(FixtureCache, ThreadsBuildingTheSameFixtureAllGetIt) {
  constexpr int kThreads = 4;
  std::vector<Result<BuiltFixture>> got(kThreads, tl::unexpected(Error{}));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back([&, i] { got[i] = build(); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(got[i]) << "thread " << i << ": " << got[i].error().format();
    EXPECT_EQ(got[i]->binary, got[0]->binary);
  }
  for (const auto& e : fs::directory_iterator(dir_ / "cache"))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "left behind: " << e.path();
}

}  // namespace
}  // namespace bpfault::process
