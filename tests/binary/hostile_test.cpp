// Files that are not (whole, healthy) Go executables: each must give a clear error (or, for
// damage analysis can survive, a result), never a crash or a hang. Run under
// -DBPFAULT_SANITIZE=ON to make "never a crash" mean "no invalid read" too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include <fmt/format.h>

#include "binary/binary_info.h"
#include "binary/elf_file.h"
#include "support/fixtures.h"

namespace bpfault::binary {
namespace {
namespace fs = std::filesystem;

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("bpfault-hostile-{}", getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  fs::path write(const std::string& name, const std::string& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  // The error analyse() gives, or "" when it succeeded.
  std::string error_of(const fs::path& p) {
    auto r = analyse(p);
    return r ? "" : r.error().format();
  }

  fs::path dir_;
};

TEST_F(Hostile, MissingFileDirectoryEmptyAndText) {
  EXPECT_NE(error_of(dir_ / "nope").find("cannot open: No such file or directory"), std::string::npos);
  EXPECT_NE(error_of(dir_).find("not a regular file"), std::string::npos);
  EXPECT_NE(error_of(write("empty", "")).find("not an ELF file (0 bytes)"), std::string::npos);
  EXPECT_NE(error_of(write("text", "#!/bin/sh\necho hello, this is not a program\n")).find("not an ELF file (no \\x7fELF magic)"),
            std::string::npos);
  EXPECT_NE(error_of(write("magic-only", std::string("\x7f" "ELF\x02\x01\x01", 7) + std::string(20, '\0'))).find("truncated ELF file"),
            std::string::npos);
}

TEST_F(Hostile, ElfThatIsNotGo) {
  const std::string err = error_of("/bin/true");
  EXPECT_NE(err.find("/bin/true: error: not a Go program: no .gopclntab section"), std::string::npos) << err;
  EXPECT_NE(err.find("hint:"), std::string::npos);
}

TEST_F(Hostile, TruncatedGoBinaryAtManyLengths) {
  const fs::path bin = test::fixture("demo", "newest");
  ASSERT_FALSE(bin.empty());
  const std::string bytes = read(bin);
  for (size_t len : {size_t(16), size_t(64), size_t(100), size_t(4096), bytes.size() / 3, bytes.size() / 2, bytes.size() - 4096,
                     bytes.size() - 1}) {
    SCOPED_TRACE(len);
    const std::string err = error_of(write(fmt::format("cut{}", len), bytes.substr(0, len)));
    EXPECT_NE(err, "");
    EXPECT_TRUE(err.find("truncated") != std::string::npos || err.find("not an ELF file") != std::string::npos) << err;
  }
}

TEST_F(Hostile, CorruptGopclntab) {
  const fs::path bin = test::fixture("demo", "newest");
  ASSERT_FALSE(bin.empty());
  std::string bytes = read(bin);
  uint64_t at = 0, size = 0;
  {
    auto elf = ElfFile::open(bin);
    ASSERT_TRUE(elf);
    const auto* s = elf->section(".gopclntab");
    ASSERT_TRUE(s);
    at = s->offset, size = s->size;
  }
  auto with = [&](uint64_t off, std::string patch) {
    std::string b = bytes;
    b.replace(at + off, patch.size(), patch);
    return b;
  };
  EXPECT_NE(error_of(write("magic", with(0, "\xfa\xff\xff\xff"))).find("unsupported .gopclntab magic 0xfffffffa"), std::string::npos);
  EXPECT_NE(error_of(write("nfunc", with(8, std::string("\xff\xff\xff\x7f\0\0\0\0", 8)))).find("corrupt .gopclntab: implausible function count"),
            std::string::npos);
  EXPECT_NE(error_of(write("ftab", with(8 + 7 * 8, std::string("\xf0\xff\xff\x0f\0\0\0\0", 8)))).find("corrupt .gopclntab"),
            std::string::npos);
  // Random damage inside the table: an error or a (partly wrong) result, never a crash.
  std::mt19937_64 rng(20240611);
  for (int round = 0; round < 24; ++round) {
    std::string b = bytes;
    for (int k = 0; k < 16; ++k) b[at + rng() % size] = static_cast<char>(rng());
    auto r = analyse(write(fmt::format("flip{}", round), b));
    if (r) {
      EXPECT_FALSE((*r)->functions.empty());
    } else {
      EXPECT_FALSE(r.error().what.empty());
    }
  }
}

TEST_F(Hostile, CorruptDwarfDegradesToNoSignatures) {
  const fs::path bin = test::fixture("demo", "newest");
  ASSERT_FALSE(bin.empty());
  std::string bytes = read(bin);
  uint64_t at = 0, size = 0;
  {
    auto elf = ElfFile::open(bin);
    ASSERT_TRUE(elf);
    const auto* s = elf->section(".debug_info");
    ASSERT_TRUE(s);
    at = s->offset, size = s->size;
  }
  std::mt19937_64 rng(7);
  int damaged = 0;
  for (int round = 0; round < 8; ++round) {
    std::string b = bytes;
    for (int k = 0; k < 64; ++k) b[at + 24 + rng() % (size - 24)] = static_cast<char>(rng());  // past the zlib header
    auto r = analyse(write(fmt::format("dwarf{}", round), b));
    ASSERT_TRUE(r) << r.error().format();  // pclntab is intact: the functions are still there
    const Function* f = (*r)->find("main.ebpfDemo");
    ASSERT_TRUE(f);
    EXPECT_FALSE(f->rets.empty());
    // Either libdw still read the unit, or the damage is said, not swallowed.
    if (!(*r)->has_dwarf) {
      ASSERT_FALSE((*r)->warnings.empty());
      EXPECT_NE((*r)->warnings.back().find("cannot read DWARF"), std::string::npos) << (*r)->warnings.back();
      EXPECT_FALSE(f->has_signature);
    }
    damaged += !(*r)->has_dwarf;
  }
  EXPECT_GT(damaged, 0);  // the damage was noticed at least once (zlib checks the stream)
}

}  // namespace
}  // namespace bpfault::binary
