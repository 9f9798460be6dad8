// A focused analysis (analyse's `focus`: what a scenario probes) against the whole one, on the
// fixtures every toolchain builds: each function it names is analysed exactly as the whole
// analysis does (signature, probe points, inlined copies and what record reads there), the
// others only named; and the DWARF bpfault inflates itself is byte for byte what libdw inflates.
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "binary/binary_info.h"
#include "binary/dwarf_file.h"
#include "binary/elf_file.h"
#include "process/child.h"
#include "support/fixtures.h"

namespace bpfault::binary {
namespace {
namespace fs = std::filesystem;
using process::FixtureVariant;

// A copy of the fixture with one more byte: the same program under a new cache key, so that
// nothing analysed before is reused.
fs::path fresh_copy(const fs::path& bin, const std::string& tag) {
  const fs::path copy = fs::temp_directory_path() / fmt::format("bpfault-focus-{}-{}", getpid(), tag);
  fs::copy_file(bin, copy, fs::copy_options::overwrite_existing);
  std::ofstream(copy, std::ios::app) << '\n';
  return copy;
}

// Everything analyse() says of one function, as text: equal texts, equal analyses.
std::string everything(const Function& f) {
  std::string s = fmt::format("{} [{} {}) {} body {:#x}{:+} rets {:#x} abi0 {} wrapper {} sig {} not '{}'\n", f.name,
                              f.entry, f.end, f.symbol, f.body, f.body_sp_delta, fmt::join(f.rets, ","), f.abi0,
                              f.wrapper, f.has_signature, f.not_probeable);
  s += signature(f) + "\n";
  s += fmt::format("inlined at {}\nwarnings {}\n", fmt::join(f.inlined_at, ","), fmt::join(f.warnings, " | "));
  for (const InlinedCopy& c : f.inlined_copies) {
    s += fmt::format("copy {:#x} in {} by {} at {} ({}:{}) '{}' why '{}'\n", c.mark, c.outer, c.caller, c.at, c.file,
                     c.line, c.not_countable, c.params_why);
    for (const Value& v : c.params)
      s += fmt::format("  {} {} @{}\n", v.name, v.type ? v.type->name : "?", v.describe_loc());
    for (const auto& [name, why] : c.unlocated) s += fmt::format("  not {}: {}\n", name, why);
  }
  return s;
}

struct Case {
  std::string fixture;
  FixtureVariant variant;
  std::string name;
};

TEST(Focus, AnalysesTheFunctionsItNamesAsTheWholeAnalysisDoes) {
  const std::vector<Case> cases = {{"inlines", {}, "amd64"},
                                   {"inlines", {"386", false}, "386"},
                                   {"inlines", {"amd64", true}, "stripped"},
                                   {"sigs", {}, "amd64"},
                                   {"inlcaller", {}, "amd64"}};
  for (const auto& release : test::go_releases())
    for (const Case& c : cases) {
      SCOPED_TRACE(fmt::format("{} go{} {}", c.fixture, release, c.name));
      const fs::path bin = test::fixture(c.fixture, release, c.variant);
      ASSERT_FALSE(bin.empty());
      const fs::path copy = fresh_copy(bin, fmt::format("{}-{}-{}", c.fixture, release, c.name));
      const std::vector<std::string> focus = {"main.*"};
      auto focused = analyse(copy, Detail::full, focus);
      ASSERT_TRUE(focused) << focused.error().format();
      EXPECT_EQ((*focused)->focus, focus);
      auto whole = analyse(copy, Detail::full);  // not answered by the focused one: made afresh
      ASSERT_TRUE(whole) << whole.error().format();
      ASSERT_NE(focused->get(), whole->get());
      EXPECT_TRUE((*whole)->focus.empty());
      const BinaryInfo &f = **focused, &w = **whole;
      EXPECT_EQ(f.has_dwarf, w.has_dwarf);
      EXPECT_EQ(f.goid_offset, w.goid_offset);
      EXPECT_EQ(f.stack_hi_offset, w.stack_hi_offset);
      EXPECT_EQ(f.string_type, w.string_type);
      EXPECT_EQ(f.warnings, w.warnings);
      size_t named = 0, others = 0;
      for (const Function& wf : w.functions) {
        const bool in_focus = glob_match("main.*", wf.name);
        const Function* ff = nullptr;
        for (const Function& x : f.functions)
          if (x.name == wf.name && x.entry == wf.entry && x.wrapper == wf.wrapper) ff = &x;
        if (!in_focus) {
          if (!wf.entry) continue;  // a function inlined everywhere is named only when focused
          ASSERT_NE(ff, nullptr) << wf.name << " is not named by the focused analysis";
          EXPECT_FALSE(ff->analysed) << wf.name;
          EXPECT_EQ(ff->not_probeable, kNotAnalysed);
          EXPECT_EQ(ff->end, wf.end);
          ++others;
          continue;
        }
        ASSERT_NE(ff, nullptr) << wf.name << " is missing from the focused analysis";
        EXPECT_TRUE(ff->analysed);
        EXPECT_EQ(everything(*ff), everything(wf));
        ++named;
      }
      EXPECT_GE(named, 5u);  // the fixture's own functions, copies inlined everywhere among them
      EXPECT_GT(others, 100u);
      // From now on the whole analysis answers every focus.
      EXPECT_EQ(analyse(copy, Detail::full, {"main.main"})->get(), whole->get());
      fs::remove(copy);
    }
}

TEST(Focus, AnswersOnlyTheFocusItWasMadeFor) {
  const fs::path bin = test::fixture("sigs", test::go_releases().back());
  ASSERT_FALSE(bin.empty());
  const fs::path copy = fresh_copy(bin, "answers");
  auto a = analyse(copy, Detail::full, {"main.main", "main.fInts"});
  ASSERT_TRUE(a) << a.error().format();
  EXPECT_EQ((*a)->focus, (std::vector<std::string>{"main.fInts", "main.main"}));  // sorted: one key for one set
  EXPECT_EQ(analyse(copy, Detail::full, {"main.fInts"})->get(), a->get());        // a part of what it covers
  EXPECT_EQ(analyse(copy, Detail::names, {"main.main"})->get(), a->get());
  auto b = analyse(copy, Detail::full, {"main.fBool"});  // not covered: analysed for it
  ASSERT_TRUE(b);
  EXPECT_NE(b->get(), a->get());
  EXPECT_TRUE((*b)->find("main.fBool")->analysed);
  EXPECT_FALSE((*b)->find("main.fInts")->analysed);
  auto whole = analyse(copy, Detail::full);
  ASSERT_TRUE(whole);
  EXPECT_NE(whole->get(), a->get());
  EXPECT_NE(whole->get(), b->get());
  fs::remove(copy);
}

// The debug sections as libdw reads them from the file (inflating them with zlib itself).
std::map<std::string, std::string> libdw_sections(const fs::path& file) {
  std::map<std::string, std::string> out;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  Dwarf* dw = dwarf_begin(fd, DWARF_C_READ);
  if (!dw) {
    ::close(fd);
    return out;
  }
  Elf* elf = dwarf_getelf(dw);
  size_t shstrndx = 0;
  elf_getshdrstrndx(elf, &shstrndx);
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn));) {
    GElf_Shdr sh;
    gelf_getshdr(scn, &sh);
    const std::string name = elf_strptr(elf, shstrndx, sh.sh_name);
    if (!name.starts_with(".debug_") || name == ".debug_frame") continue;
    if (Elf_Data* d = elf_getdata(scn, nullptr); d && d->d_buf)
      out[name] = std::string(static_cast<const char*>(d->d_buf), d->d_size);
  }
  dwarf_end(dw);
  ::close(fd);
  return out;
}

TEST(DwarfFile, InflatesEverySectionAsLibdwDoes) {
  for (const auto& release : test::go_releases())
    for (const FixtureVariant& v : {FixtureVariant{}, FixtureVariant{"386", false}}) {
      SCOPED_TRACE(fmt::format("go{} {}", release, v.goarch));
      const fs::path bin = test::fixture("sigs", release, v);
      ASSERT_FALSE(bin.empty());
      auto elf = ElfFile::open(bin);
      ASSERT_TRUE(elf);
      bool compressed = false;
      for (const auto& s : elf->sections()) compressed |= s.name == ".debug_info" && (s.flags & SHF_COMPRESSED);
      EXPECT_TRUE(compressed) << "Go compresses DWARF by default: the inflating path is what this tests";
      auto file = DwarfFile::open(*elf);
      ASSERT_TRUE(file) << file.error().format();
      ASSERT_NE(*file, nullptr);
      const auto expected = libdw_sections(bin);
      ASSERT_TRUE(expected.count(".debug_info"));
      auto text = [&](std::string_view name) {
        const auto ours = (*file)->section(name);
        return std::string(reinterpret_cast<const char*>(ours.data()), ours.size());
      };
      // the location lists are inflated when one is read: zeros (of the right size) until then
      const std::string lists = expected.count(".debug_loclists") ? ".debug_loclists" : ".debug_loc";
      ASSERT_TRUE(expected.count(lists));
      EXPECT_EQ(text(lists), std::string(expected.at(lists).size(), '\0'))
          << lists << " inflated before it was asked for";
      EXPECT_EQ((*file)->need_location_lists(), "");
      for (const auto& [name, bytes] : expected) EXPECT_TRUE(text(name) == bytes) << name << " differs from libdw's";
    }
}

// Overwrites 64 bytes in the middle of `copy`'s compressed section `name` (the deflate stream's
// middle, past the compression header): it no longer inflates.
void damage_compressed_section(const fs::path& copy, const std::string& name) {
  auto elf = ElfFile::open(copy);
  ASSERT_TRUE(elf);
  const ElfFile::Section* s = elf->section(name);
  ASSERT_NE(s, nullptr) << name;
  ASSERT_TRUE(s->flags & SHF_COMPRESSED) << name;
  std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(s->offset + s->size / 2));
  const std::string junk(64, '\xa5');
  f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

// A function analysed in full reads its parameters' location lists; one that has none (or a
// focus on functions without parameters) never inflates them: a damaged .debug_loclists is found
// only when a list is read, and then the analysis goes on without signatures, saying why.
TEST(DwarfFile, DamagedLocationListsAreFoundWhenAListIsRead) {
  const fs::path bin = test::fixture("sigs", test::go_releases().back());
  ASSERT_FALSE(bin.empty());
  const fs::path copy = fresh_copy(bin, "damaged-lists");
  ASSERT_NO_FATAL_FAILURE(damage_compressed_section(copy, ".debug_loclists"));
  auto main_only = analyse(copy, Detail::full, {"main.main"});  // no parameters: no list read
  ASSERT_TRUE(main_only) << main_only.error().format();
  EXPECT_TRUE((*main_only)->has_dwarf) << fmt::format("{}", fmt::join((*main_only)->warnings, "\n"));
  auto with_params = analyse(copy, Detail::full, {"main.fErr"});
  ASSERT_TRUE(with_params) << with_params.error().format();
  EXPECT_FALSE((*with_params)->has_dwarf);
  bool said = false;
  for (const auto& w : (*with_params)->warnings)
    said |= w.find(".debug_loclists does not inflate") != std::string::npos;
  EXPECT_TRUE(said) << fmt::format("{}", fmt::join((*with_params)->warnings, "\n"));
  fs::remove(copy);
}

TEST(DwarfFile, ADamagedSectionIsRefusedByName) {
  const fs::path bin = test::fixture("sigs", test::go_releases().back());
  ASSERT_FALSE(bin.empty());
  const fs::path copy = fresh_copy(bin, "damaged");
  ASSERT_NO_FATAL_FAILURE(damage_compressed_section(copy, ".debug_info"));
  auto elf = ElfFile::open(copy);
  ASSERT_TRUE(elf);
  auto file = DwarfFile::open(*elf);
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().what.find(".debug_info does not inflate"), std::string::npos) << file.error().format();
  // and the analysis goes on without signatures, saying why
  auto info = analyse(copy);
  ASSERT_TRUE(info) << info.error().format();
  EXPECT_FALSE((*info)->has_dwarf);
  bool said = false;
  for (const auto& w : (*info)->warnings) said |= w.find(".debug_info does not inflate") != std::string::npos;
  EXPECT_TRUE(said) << fmt::format("{}", fmt::join((*info)->warnings, "\n"));
  fs::remove(copy);
}

}  // namespace
}  // namespace bpfault::binary
