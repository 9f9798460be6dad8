// Kernel lookup in a cache laid out as ci/kernels leaves it (label unit, no VM).
#include <stdlib.h>

#include <fstream>

#include <gtest/gtest.h>

#include "vm/vm.h"

namespace bpfault::vm {
namespace {
namespace fs = std::filesystem;

class KernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("bpfault-kernels-" + std::to_string(getpid()));
    if (const char* old = getenv("BPFAULT_CACHE")) old_ = old;
    setenv("BPFAULT_CACHE", root_.c_str(), 1);
    add("bookworm", "6.1.0-50-cloud-amd64");
    add("trixie", "6.12.117+deb13-cloud-amd64");
    add("sid", "7.2.13+deb14-cloud-amd64");
    add("trixie-backports", "7.3.4+deb13-cloud-amd64");
    fs::create_directories(root_ / "kernels" / "sid.tmp");  // an interrupted download
  }
  void TearDown() override {
    fs::remove_all(root_);
    if (old_.empty())
      unsetenv("BPFAULT_CACHE");
    else
      setenv("BPFAULT_CACHE", old_.c_str(), 1);
  }
  void add(const std::string& name, const std::string& release) {
    fs::create_directories(root_ / "kernels" / name);
    std::ofstream(root_ / "kernels" / name / "vmlinux") << "ELF";
    std::ofstream(root_ / "kernels" / name / "release") << release << "\n";
  }
  std::string release_of(std::string_view name) {
    auto k = find_kernel(name);
    EXPECT_TRUE(k) << (k ? "" : k.error().format());
    return k ? k->release : "";
  }
  fs::path root_;
  std::string old_;
};

TEST_F(KernelsTest, ListsWhatCiKernelsUnpacked) {
  auto ks = installed_kernels();
  ASSERT_EQ(ks.size(), 4u);
  EXPECT_EQ(ks[0].name, "bookworm");
  EXPECT_EQ(ks[0].vmlinux, root_ / "kernels" / "bookworm" / "vmlinux");
}

TEST_F(KernelsTest, DefaultFollowsTheLinkElseTheNewest7x) {
  EXPECT_EQ(release_of(""), "7.3.4+deb13-cloud-amd64");  // 7.3 > 7.2, compared as numbers
  fs::create_directory_symlink("sid", root_ / "kernels" / "default");
  EXPECT_EQ(release_of(""), "7.2.13+deb14-cloud-amd64");
  EXPECT_EQ(release_of("default"), "7.2.13+deb14-cloud-amd64");
}

TEST_F(KernelsTest, ByNameOrReleasePrefix) {
  EXPECT_EQ(release_of("bookworm"), "6.1.0-50-cloud-amd64");
  EXPECT_EQ(release_of("6.1"), "6.1.0-50-cloud-amd64");  // not 6.12
  EXPECT_EQ(release_of("6.12"), "6.12.117+deb13-cloud-amd64");
  EXPECT_EQ(release_of("7"), "7.3.4+deb13-cloud-amd64");
  EXPECT_EQ(release_of("7.2"), "7.2.13+deb14-cloud-amd64");
}

TEST_F(KernelsTest, UnknownNamesSayWhatIsInstalled) {
  auto k = find_kernel("5.10");
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().what.find("bookworm (6.1.0-50-cloud-amd64)"), std::string::npos) << k.error().what;
  auto none = find_kernel("sid-old");
  ASSERT_FALSE(none);
  EXPECT_FALSE(none.error().hint.empty());
}

TEST_F(KernelsTest, NoKernelNamesTheCommandThatFetchesIt) {
  fs::remove_all(root_ / "kernels");
  auto k = find_kernel("");
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().kind, ErrorKind::environment);
  EXPECT_NE(k.error().hint.find("bpfault setup --kernel default"), std::string::npos) << k.error().hint;
}

}  // namespace
}  // namespace bpfault::vm
