// The runtime's type facts read from real Go builds: type descriptors (DWARF's offsets into
// runtime.types), itabs found by their contents (Go 1.27's linker names none) and the dynamic
// type an interface's type word designates, on every installed toolchain, amd64 and 386.
#include "binary/variables.h"

#include <gtest/gtest.h>

#include "binary/image.h"
#include "support/fixtures.h"

namespace bpfault::binary {
namespace {

const process::FixtureVariant kAmd64{};
const process::FixtureVariant k386{"386", false};

TEST(Itabs, FoundByTheirContentsOnEveryToolchainAndNamedAsGoPrintsThem) {
  for (const auto& release : test::go_releases())
    for (const auto& variant : {kAmd64, k386}) {
      SCOPED_TRACE("go" + release + variant.tag());
      const auto bin = test::fixture("writefile", release, variant);
      ASSERT_FALSE(bin.empty());
      auto bi = analyse(bin);
      ASSERT_TRUE(bi) << bi.error().format();
      const BinaryInfo& b = **bi;

      const auto error = type_descriptor(b, "error");
      ASSERT_TRUE(error);
      EXPECT_TRUE(error->interface);
      const auto errno_type = type_descriptor(b, "syscall.Errno");
      ASSERT_TRUE(errno_type);
      EXPECT_FALSE(errno_type->interface);
      EXPECT_FALSE(errno_type->direct_iface);  // a uintptr, not a pointer: boxed
      const auto path_error = type_descriptor(b, "*io/fs.PathError");
      ASSERT_TRUE(path_error);
      EXPECT_TRUE(path_error->direct_iface);
      EXPECT_FALSE(type_descriptor(b, "main.NoSuchType"));
      // the descriptor DWARF names string is the one the analysis found for panics
      const auto string_type = type_descriptor(b, "string");
      ASSERT_TRUE(string_type);
      EXPECT_EQ(string_type->addr, b.string_type);
      EXPECT_EQ(dynamic_type(b, string_type->addr, true), "string");

      const auto errno_itab = itab(b, "syscall.Errno", "error");
      ASSERT_TRUE(errno_itab);
      // where the linker names it, the symbol is the itab its contents designate
      EXPECT_EQ(itab_by_contents(b, "syscall.Errno", "error"), errno_itab->addr);
      if (!errno_itab->symbol.empty()) {
        EXPECT_EQ(b.variable(errno_itab->symbol), errno_itab->addr);
      }
      EXPECT_EQ(dynamic_type(b, errno_itab->addr, false), "syscall.Errno");

      for (const char* concrete : {"*errors.errorString", "*io/fs.PathError"}) {
        SCOPED_TRACE(concrete);
        auto i = itab(b, concrete, "error");
        ASSERT_TRUE(i);
        EXPECT_EQ(itab_by_contents(b, concrete, "error"), i->addr);
      }
      // %T's spelling: the package's name, not its path
      EXPECT_EQ(dynamic_type(b, itab(b, "*io/fs.PathError", "error")->addr, false), "*fs.PathError");
      EXPECT_EQ(dynamic_type(b, itab(b, "*errors.errorString", "error")->addr, false), "*errors.errorString");
      // a conversion the program never makes has no itab; a word that is no itab has no type
      EXPECT_FALSE(itab(b, "syscall.Errno", "fmt.Stringer"));
      EXPECT_FALSE(dynamic_type(b, string_type->addr, false));
      EXPECT_FALSE(dynamic_type(b, 0x10, true));
    }
}

// Go's own errno texts (lower case, unlike libc's), from the binary's syscall.errors, and an
// errno's number from its box: runtime.staticuint64s, or the copy in the file's data that a
// package variable set to a constant points to (syscall's errENOENT).
TEST(Errnos, TextsAndBoxesComeFromTheBinaryOnEveryToolchain) {
  for (const auto& release : test::go_releases())
    for (const auto& variant : {kAmd64, k386}) {
      SCOPED_TRACE("go" + release + variant.tag());
      const auto bin = test::fixture("writefile", release, variant);
      ASSERT_FALSE(bin.empty());
      auto bi = analyse(bin);
      ASSERT_TRUE(bi) << bi.error().format();
      const BinaryInfo& b = **bi;
      EXPECT_EQ(errno_text(b, 2), "no such file or directory");
      EXPECT_EQ(errno_text(b, 28), "no space left on device");
      EXPECT_FALSE(errno_text(b, 0));
      EXPECT_FALSE(errno_text(b, 100000)) << "past the table";
      const auto small = b.variable("runtime.staticuint64s");
      ASSERT_TRUE(small);
      EXPECT_EQ(boxed_errno(b, *small + 28 * static_cast<uint64_t>(8)), 28);
      EXPECT_FALSE(boxed_errno(b, *small + 3)) << "not a box's start";
      const auto enoent = b.variable("syscall.errENOENT");
      ASSERT_TRUE(enoent);
      const auto data_word = b.image->elf.word_at(*enoent + b.ptr_size());
      ASSERT_TRUE(data_word);
      EXPECT_EQ(boxed_errno(b, *data_word), 2);
      EXPECT_FALSE(boxed_errno(b, 0xc000010000)) << "the heap is not in the file";
    }
}

}  // namespace
}  // namespace bpfault::binary
