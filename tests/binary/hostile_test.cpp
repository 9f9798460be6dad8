// Files that are not (whole, healthy) Go executables: each must give a clear error (or, for
// damage analysis can survive, a result), never a crash or a hang. Run under
// -DBPFAULT_SANITIZE=ON to make "never a crash" mean "no invalid read" too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "binary/binary_info.h"
#include "binary/elf_file.h"
#include "process/child.h"
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
  EXPECT_NE(error_of(write("text", "#!/bin/sh\necho hello, this is not a program\n"))
                .find("not an ELF file (no \\x7fELF magic)"),
            std::string::npos);
  EXPECT_NE(error_of(write("magic-only", std::string("\x7f"
                                                     "ELF\x02\x01\x01",
                                                     7) +
                                             std::string(20, '\0')))
                .find("truncated ELF file"),
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
  for (size_t len : {size_t(16), size_t(64), size_t(100), size_t(4096), bytes.size() / 3, bytes.size() / 2,
                     bytes.size() - 4096, bytes.size() - 1}) {
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
  EXPECT_NE(error_of(write("magic", with(0, "\xfa\xff\xff\xff"))).find("unsupported .gopclntab magic 0xfffffffa"),
            std::string::npos);
  EXPECT_NE(error_of(write("nfunc", with(8, std::string("\xff\xff\xff\x7f\0\0\0\0", 8))))
                .find("corrupt .gopclntab: implausible function count"),
            std::string::npos);
  EXPECT_NE(
      error_of(write("ftab", with(8 + 7 * 8, std::string("\xf0\xff\xff\x0f\0\0\0\0", 8)))).find("corrupt .gopclntab"),
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

// objcopy ARGS (binutils): DWARF stripped with the symbols kept, or decompressed.
void objcopy(const std::vector<std::string>& args) {
  process::Command cmd;
  cmd.argv = {"objcopy"};
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  auto r = process::run(cmd);
  ASSERT_TRUE(r) << r.error().format();
  ASSERT_TRUE(r->ok()) << r->err;
}

// `go build -ldflags=-w`, or strip --strip-debug: no DWARF, but .symtab and .gopclntab intact.
TEST_F(Hostile, DwarfStrippedSymbolsKept) {
  for (const std::string go : {"", "newest"}) {
    SCOPED_TRACE(go.empty() ? "default Go" : go);
    const fs::path bin = test::fixture("sigs", go);
    ASSERT_FALSE(bin.empty());
    const fs::path out = dir_ / ("sigs-nodwarf" + go);
    objcopy({"--strip-debug", bin.string(), out.string()});
    auto r = analyse(out);
    ASSERT_TRUE(r) << r.error().format();
    EXPECT_FALSE((*r)->has_dwarf);
    EXPECT_FALSE((*r)->stripped) << ".symtab is still there";
    EXPECT_NE((*r)->goid_offset, 0u) << "the per-release table still knows runtime.g";
    for (const char* name : {"main.fInts", "main.(*T).Add", "main.asmAdd"}) {
      const Function* f = (*r)->find(name);
      ASSERT_TRUE(f) << name;
      EXPECT_FALSE(f->has_signature) << name;
      EXPECT_TRUE(f->probeable()) << name << ": " << f->not_probeable;
      EXPECT_FALSE(f->rets.empty()) << name;
      EXPECT_GT(f->body, f->entry - 1) << name;
    }
    EXPECT_TRUE((*r)->variable("main.errNeg")) << "package variables come from .symtab";
    EXPECT_TRUE((*r)->symbolize((*r)->find("main.fInts")->entry)) << "file:line comes from .gopclntab";
  }
}

// DWARF damaged where libdw parses it (decompressed first, so zlib's checksum cannot catch it):
// each section in turn, many times. An error or a degraded result, never a crash or a hang.
TEST_F(Hostile, UncompressedDwarfDamagedSectionBySection) {
  const fs::path bin = test::fixture("sigs");
  ASSERT_FALSE(bin.empty());
  const fs::path plain = dir_ / "plain";
  objcopy({"--decompress-debug-sections", bin.string(), plain.string()});
  const std::string bytes = read(plain);
  std::mt19937_64 rng(20240612);
  for (const char* name :
       {".debug_info", ".debug_abbrev", ".debug_line", ".debug_loc", ".debug_ranges", ".debug_frame"}) {
    uint64_t at = 0, size = 0;
    {
      auto elf = ElfFile::open(plain);
      ASSERT_TRUE(elf);
      const auto* s = elf->section(name);
      ASSERT_TRUE(s) << name;
      at = s->offset, size = s->size;
    }
    for (int round = 0; round < 6; ++round) {
      SCOPED_TRACE(fmt::format("{} round {}", name, round));
      std::string b = bytes;
      const int flips = round < 3 ? 8 : 512;  // a few bytes (plausible values) or a lot
      for (int k = 0; k < flips; ++k) b[at + rng() % size] = static_cast<char>(rng());
      const auto start = std::chrono::steady_clock::now();
      auto r = analyse(write(fmt::format("{}{}", name + 1, round), b));
      EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20)) << "analysis this slow is a hang";
      if (!r) {
        EXPECT_FALSE(r.error().what.empty());
        continue;
      }
      const Function* f = (*r)->find("main.fInts");
      ASSERT_TRUE(f) << "pclntab is intact: the function is still found";
      EXPECT_FALSE(f->rets.empty());
      if (!(*r)->has_dwarf) {
        EXPECT_FALSE((*r)->warnings.empty()) << "DWARF was dropped without a word";
      }
    }
  }
}

TEST_F(Hostile, ElfFilesThatAreNotGoExecutables) {
  // a shared library: an ELF with code, but no Go runtime table
  for (const char* lib : {"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"})
    if (fs::exists(lib)) {
      EXPECT_NE(error_of(lib).find("not a Go program: no .gopclntab section"), std::string::npos) << error_of(lib);
      break;
    }
  // a relocatable object (what `go tool compile` or cc -c leave): not linked, nothing to probe
  std::string obj = read("/bin/true");
  obj[16] = 1, obj[17] = 0;  // e_type = ET_REL
  EXPECT_NE(error_of(write("object.o", obj)).find("not an executable (ELF type 1)"), std::string::npos);
  // a section name table index past the table
  const fs::path demo = test::fixture("demo");
  ASSERT_FALSE(demo.empty());
  std::string b = read(demo);
  b[0x3e] = '\xff', b[0x3f] = '\x7f';  // e_shstrndx
  EXPECT_NE(error_of(write("bad-shstrndx", b)).find("corrupt ELF file: no section name table"), std::string::npos)
      << error_of(dir_ / "bad-shstrndx");
  // section headers said to lie past the end of the file
  b = read(demo);
  b[0x28 + 5] = '\x10';  // e_shoff += 2^40
  EXPECT_NE(error_of(write("bad-shoff", b)).find("section headers lie outside the file"), std::string::npos)
      << error_of(dir_ / "bad-shoff");
  // the section header table one byte off alignment (e_shoff odd): still read, without misaligned loads
  b = read(demo);
  uint64_t shoff;
  uint16_t shnum;
  std::memcpy(&shoff, b.data() + 0x28, 8);
  std::memcpy(&shnum, b.data() + 0x3c, 2);
  const std::string table = b.substr(shoff, shnum * 64ul);
  b += '\0';  // a copy of the table at an odd offset at the end
  const uint64_t moved = b.size();
  b += table;
  std::memcpy(b.data() + 0x28, &moved, 8);
  auto misaligned = analyse(write("misaligned-shdrs", b));
  ASSERT_TRUE(misaligned) << misaligned.error().format();
  EXPECT_TRUE((*misaligned)->find("main.ebpfDemo"));
  EXPECT_FALSE((*misaligned)->stripped) << ".symtab was found through its misaligned header";
  // a 32-bit header claiming amd64, and big-endian
  b = read(demo);
  b[4] = 1;
  EXPECT_NE(error_of(write("class32", b)), "");
  b = read(demo);
  b[5] = 2;
  EXPECT_NE(error_of(write("big-endian", b)).find("big-endian ELF"), std::string::npos);
}

}  // namespace
}  // namespace bpfault::binary
