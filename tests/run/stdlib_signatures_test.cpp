// A stripped build (-ldflags='-s -w') gets its standard-library functions' signatures from the
// DWARF of a program the same toolchain builds (run/stdlib_signatures.h): every signature it
// takes, with every location, must be the one the unstripped build of the same program has in
// its own DWARF; the program's own functions keep none, with the reason. Every installed
// toolchain, amd64 and 386.
#include "run/stdlib_signatures.h"

#include <gtest/gtest.h>

#include <map>

#include "binary/build_info.h"
#include "binary/image.h"
#include "binary/stdlib_signatures.h"
#include "binary/variables.h"
#include "support/fixtures.h"

namespace bpfault {
namespace {
namespace fs = std::filesystem;
using binary::BinaryInfo;
using binary::Function;

std::shared_ptr<const BinaryInfo> load(const std::string& release, const std::string& goarch, bool stripped) {
  const fs::path bin = test::fixture("readfile", release, process::FixtureVariant{goarch, stripped});
  if (bin.empty()) return nullptr;
  auto info = binary::analyse(bin);
  if (!info) ADD_FAILURE() << info.error().format();
  return info ? *info : nullptr;
}

run::WithStdlib with_stdlib(const std::shared_ptr<const BinaryInfo>& stripped) {
  target::Options o;
  o.fixture_cache = fs::path(BPFAULT_BINARY_DIR) / "fixtures-build";
  return run::add_stdlib_signatures(stripped, o);
}

TEST(StdlibSignatures, StrippedBuildTakesTheUnstrippedBuildsSignatures) {
  for (const std::string& release : test::go_releases())
    for (const std::string goarch : {"amd64", "386"}) {
      SCOPED_TRACE(release + " " + goarch);
      auto full = load(release, goarch, false), stripped = load(release, goarch, true);
      ASSERT_TRUE(full && stripped);
      ASSERT_FALSE(stripped->has_dwarf);
      const auto with = with_stdlib(stripped);
      ASSERT_TRUE(with.donor) << with.info->stdlib_signatures;
      const BinaryInfo& w = *with.info;
      EXPECT_NE(w.stdlib_signatures.find("standard library"), std::string::npos) << w.stdlib_signatures;

      std::map<std::pair<uint64_t, bool>, const Function*> unstripped;  // by entry and wrapper-ness
      for (const Function& f : full->functions) unstripped[{f.entry, f.wrapper}] = &f;
      size_t adopted = 0;
      for (const Function& f : w.functions) {
        if (f.signature_from.empty()) continue;
        ++adopted;
        const auto it = unstripped.find({f.entry, f.wrapper});
        ASSERT_NE(it, unstripped.end()) << f.name;
        EXPECT_EQ(binary::signature(f), binary::signature(*it->second)) << f.name;
        EXPECT_EQ(f.body, it->second->body) << f.name;  // the probe point, where those locations hold
        EXPECT_TRUE(binary::is_standard_library(f.name)) << f.name;
      }
      EXPECT_GT(adopted, 100u);

      const Function* read = w.find("os.ReadFile");
      ASSERT_TRUE(read);
      ASSERT_TRUE(read->has_signature) << read->no_signature;
      EXPECT_EQ(read->signature_from, "the Go " + stripped->go_version.substr(2) + " standard library");
      ASSERT_TRUE(read->param("name"));
      EXPECT_EQ(read->param("name")->type->name, "string");
      const Function* write = w.find("os.(*File).Write");
      ASSERT_TRUE(write && write->has_signature) << (write ? write->no_signature : "no os.(*File).Write");

      const Function* own = w.find("main.readAll");
      ASSERT_TRUE(own);
      EXPECT_FALSE(own->has_signature);
      EXPECT_NE(own->no_signature.find("not in the standard library"), std::string::npos) << own->no_signature;
    }
}

// A stripped build's standard-library data (package variables, the runtime's boxes, itabs)
// found through the donor's code is where the unstripped build of the same program has it by
// its symbols: in the same section at the same offset (the sections themselves move a little:
// the build info names -ldflags); the program's own variables are not found.
TEST(StdlibSignatures, StrippedBuildFindsTheStandardLibrarysDataWhereItsSymbolsSay) {
  for (const std::string& release : test::go_releases())
    for (const std::string goarch : {"amd64", "386"}) {
      SCOPED_TRACE(release + " " + goarch);
      auto full = load(release, goarch, false), stripped = load(release, goarch, true);
      ASSERT_TRUE(full && stripped);
      ASSERT_FALSE(stripped->variable("io/fs.ErrNotExist")) << "no symbol table";
      const auto with = with_stdlib(stripped);
      ASSERT_TRUE(with.donor) << with.info->stdlib_signatures;
      const BinaryInfo& w = *with.info;
      // "section +offset" of an address
      const auto place = [](const BinaryInfo& b, uint64_t addr) {
        const auto* s = b.image->elf.section_at(addr);
        return s ? std::string(s->name) + "+" + std::to_string(addr - s->addr) : std::string("nowhere");
      };
      // runtime.staticuint64s (read-only data, which moves within its section) holds 0, 1, 2, ...
      const auto small = w.variable("runtime.staticuint64s");
      ASSERT_TRUE(small);
      for (uint64_t k : {0, 1, 28, 255}) EXPECT_EQ(w.image->elf.word_at(*small + 8 * k), k);
      for (const char* name : {"io/fs.ErrNotExist", "io.EOF", "syscall.errENOENT"}) {
        SCOPED_TRACE(name);
        const auto expected = full->variable(name), found = w.variable(name);
        ASSERT_TRUE(expected);
        ASSERT_TRUE(found);
        EXPECT_EQ(place(w, *found), place(*full, *expected));
      }
      const auto itab = binary::itab(w, "syscall.Errno", "error");
      ASSERT_TRUE(itab);
      EXPECT_EQ(place(w, itab->addr), place(*full, binary::itab(*full, "syscall.Errno", "error")->addr));
      EXPECT_EQ(binary::variable_type(w, "io/fs.ErrNotExist"), "error");
      EXPECT_FALSE(w.variable("main.readAll")) << "the program's own: no donor has them";
    }
}

// The same name is not enough: code of another size (another patch release, other flags) keeps
// no signature, and says why.
TEST(StdlibSignatures, CodeThatDiffersIsRefused) {
  auto stripped = load("", "amd64", true);
  ASSERT_TRUE(stripped);
  const auto with = with_stdlib(stripped);
  ASSERT_TRUE(with.donor) << with.info->stdlib_signatures;
  auto donor = binary::analyse(with.donor->binary);
  ASSERT_TRUE(donor);
  BinaryInfo other = **donor;
  for (Function& f : other.functions)
    if (f.name == "os.ReadFile") f.end += 32;
  const auto refused = binary::with_stdlib_signatures(*stripped, std::make_shared<const BinaryInfo>(other));
  const Function* read = refused->find("os.ReadFile");
  ASSERT_TRUE(read);
  EXPECT_FALSE(read->has_signature);
  EXPECT_NE(read->no_signature.find("bytes of code here"), std::string::npos) << read->no_signature;
  const Function* other_fn = refused->find("os.(*File).Write");
  ASSERT_TRUE(other_fn);
  EXPECT_TRUE(other_fn->has_signature);  // the rest still agree
}

TEST(StdlibSignatures, BuildInfoOfAStrippedBuild) {
  auto stripped = load("", "386", true);
  ASSERT_TRUE(stripped);
  const binary::BuildInfo bi = binary::read_build_info(*stripped);
  EXPECT_EQ(bi.go_version, stripped->go_version);
  EXPECT_FALSE(bi.path.empty());
  ASSERT_TRUE(bi.setting("-ldflags"));
  EXPECT_EQ(*bi.setting("-ldflags"), "-s -w");
  ASSERT_TRUE(bi.setting("GOARCH"));
  EXPECT_EQ(*bi.setting("GOARCH"), "386");
  const auto program = binary::stdlib_program(*stripped);
  ASSERT_TRUE(program);
  EXPECT_EQ(program->goarch, "386");
  EXPECT_NE(program->main_go.find("(*p"), std::string::npos);  // methods are named too
  EXPECT_NE(program->main_go.find("\"os\""), std::string::npos);
}

// A name the toolchain rejects is dropped, the rest kept (the retry after `go build -gcflags=-e`).
TEST(StdlibSignatures, DropsTheReferencesGoRejects) {
  const std::string go =
      "package main\n\nimport (\n\tp0 \"os\"\n\tp1 \"io\"\n)\n\nvar keep = []any{\n\tp0.ReadFile,\n\tp1.Nope,\n}\n";
  const std::string out = binary::drop_failing_references(go, "# x\n./main.go:10:5: undefined: io.Nope\n");
  EXPECT_EQ(out.find("Nope"), std::string::npos);
  EXPECT_NE(out.find("p0.ReadFile"), std::string::npos);
  EXPECT_NE(out.find("var keep"), std::string::npos);
}

// The program stays whole in one pass: an import Go rejects takes its references along, and an
// import whose every reference went is dropped too (else each would cost one more build).
TEST(StdlibSignatures, DropsAnImportWithItsReferencesAndAnImportLeftUnused) {
  const std::string go =
      "package main\n\nimport (\n\tp0 \"os\"\n\tp1 \"cmd/vendor/x\"\n\tp2 \"io\"\n)\n\nvar keep = []any{\n"
      "\tp0.ReadFile,\n\tp1.F,\n\t(*p1.T).M,\n\tp2.Nope,\n}\n\nfunc main() { println(len(keep)) }\n";
  const std::string errors =
      "./main.go:5:2: use of internal package cmd/vendor/x not allowed\n./main.go:13:5: undefined: io.Nope\n";
  EXPECT_EQ(binary::drop_failing_references(go, errors),
            "package main\n\nimport (\n\tp0 \"os\"\n)\n\nvar keep = []any{\n\tp0.ReadFile,\n}\n\n"
            "func main() { println(len(keep)) }\n");
}

}  // namespace
}  // namespace bpfault
