// The newc writer (label unit): what the kernel's initramfs unpacker reads
// (Documentation/driver-api/early-userspace/buffer-format.rst). The VM tests prove a kernel
// unpacks it; these pin the format details that would break it.
#include "vm/cpio.h"

#include <sys/stat.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace bpfault::vm {
namespace {

struct Entry {
  std::string name, data;
  unsigned mode = 0, rdev_major = 0, rdev_minor = 0;
};

// A strict reader: every field, every alignment.
std::vector<Entry> parse(const std::string& a) {
  std::vector<Entry> out;
  size_t at = 0;
  auto field = [&](size_t i) { return static_cast<unsigned>(std::stoul(a.substr(at + 6 + i * 8, 8), nullptr, 16)); };
  while (at < a.size()) {
    EXPECT_EQ(at % 4, 0u);
    EXPECT_EQ(a.substr(at, 6), "070701");
    Entry e;
    e.mode = field(1);
    unsigned size = field(6), namesize = field(11);
    e.rdev_major = field(9);
    e.rdev_minor = field(10);
    e.name = a.substr(at + 110, namesize - 1);
    EXPECT_EQ(a[at + 110 + namesize - 1], '\0');
    at += (110 + namesize + 3) / 4 * 4;
    e.data = a.substr(at, size);
    at += (size + 3) / 4 * 4;
    bool last = e.name == "TRAILER!!!";
    out.push_back(std::move(e));
    if (last) break;
  }
  EXPECT_EQ(at, a.size()) << "nothing after the trailer";
  return out;
}

TEST(CpioTest, ParentsComeFirstAndNamesAreRelative) {
  CpioWriter w;
  w.add_file("/a/b/c.txt", "hello", 0644);
  w.add_file("/a/b/d", "x", 0755);
  auto entries = parse(w.finish());
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[0].name, "a");
  EXPECT_TRUE(S_ISDIR(entries[0].mode));
  EXPECT_EQ(entries[1].name, "a/b");
  EXPECT_EQ(entries[2].name, "a/b/c.txt");
  EXPECT_EQ(entries[2].data, "hello");
  EXPECT_EQ(entries[2].mode, S_IFREG | 0644u);
  EXPECT_EQ(entries[3].mode, S_IFREG | 0755u);
  EXPECT_EQ(entries[4].name, "TRAILER!!!");
}

TEST(CpioTest, SymlinksAndDevices) {
  CpioWriter w;
  w.add_symlink("/bin/sh", "busybox");
  w.add_char_device("/dev/console", 5, 1);
  auto entries = parse(w.finish());
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_TRUE(S_ISLNK(entries[1].mode));
  EXPECT_EQ(entries[1].data, "busybox");
  EXPECT_TRUE(S_ISCHR(entries[3].mode));
  EXPECT_EQ(entries[3].rdev_major, 5u);
  EXPECT_EQ(entries[3].rdev_minor, 1u);
}

TEST(CpioTest, EveryDataLengthStaysAligned) {
  CpioWriter w;
  for (int n = 0; n < 9; ++n)
    w.add_file("/f" + std::string(static_cast<size_t>(n), 'x'), std::string(static_cast<size_t>(n), 'd'));
  auto entries = parse(w.finish());
  ASSERT_EQ(entries.size(), 10u);
  for (int n = 0; n < 9; ++n) EXPECT_EQ(entries[static_cast<size_t>(n)].data.size(), static_cast<size_t>(n));
}

TEST(CpioTest, IdenticalInputGivesIdenticalArchives) {  // the base archive cache relies on it
  auto make = [] {
    CpioWriter w;
    w.add_file("/x", "1");
    return w.finish();
  };
  EXPECT_EQ(make(), make());
}

}  // namespace
}  // namespace bpfault::vm
