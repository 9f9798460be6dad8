// keep_newest: each on-disk cache (capabilities, analyses, VM base archives) keeps its newest
// files of one kind and leaves everything else in the folder alone.
#include "diag/cache_files.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace bpfault::diag {
namespace {
namespace fs = std::filesystem;

TEST(KeepNewest, KeepsTheNewestFilesOfOneKind) {
  const fs::path dir = fs::path(BPFAULT_BINARY_DIR) / "test-tmp" / fmt::format("keep-newest-{}", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto now = fs::file_time_type::clock::now();
  for (int i = 0; i < 12; ++i) {
    const fs::path f = dir / fmt::format("caps-build{}.json", i);
    std::ofstream(f) << "{}";
    fs::last_write_time(f, now - std::chrono::minutes(12 - i));  // build11 is the newest
  }
  std::ofstream(dir / "other.json") << "{}";     // another prefix
  std::ofstream(dir / "caps-build.cpio") << "";  // another extension
  keep_newest(dir, "caps-", ".json", 8);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(fs::exists(dir / fmt::format("caps-build{}.json", i)), i >= 4) << i;
  EXPECT_TRUE(fs::exists(dir / "other.json"));
  EXPECT_TRUE(fs::exists(dir / "caps-build.cpio"));

  keep_newest(dir / "missing", "caps-", ".json", 1);  // no folder: nothing to do, no throw
  fs::remove_all(dir);
}

// The running executable's build id is the one its ELF note carries (as readelf prints it).
TEST(ExecutableBuildId, IsTheLinkersNote) {
  const std::string& id = executable_build_id();
  ASSERT_FALSE(id.empty()) << "this test executable has no GNU build id note";
  std::string out;
  if (FILE* p =
          popen(fmt::format("readelf -n {} 2>/dev/null", fs::read_symlink("/proc/self/exe").string()).c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  ASSERT_NE(out.find("Build ID"), std::string::npos) << "readelf (binutils) is needed to check the id";
  EXPECT_NE(out.find("Build ID: " + id + "\n"), std::string::npos) << id << " is not in:\n" << out;
}

}  // namespace
}  // namespace bpfault::diag
