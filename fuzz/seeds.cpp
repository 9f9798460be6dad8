// fuzz_seeds OUT: the seed corpora of the binary fuzzers, made from the fixtures (built with the
// same builder bpfault uses): OUT/binary holds whole Go executables with their DWARF
// decompressed (objcopy), so damage reaches libdw's parser instead of failing zlib's check;
// OUT/code holds function bodies in code_fuzzer's format; OUT/term the terms of scenarios/.
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "binary/binary_info.h"
#include "binary/elf_file.h"
#include "process/child.h"
#include "process/fixture.h"
#include "process/go_toolchain.h"

namespace fs = std::filesystem;
using namespace bpfault;

namespace {

int die(const std::string& what) {
  std::cerr << "fuzz_seeds: " << what << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return die("usage: fuzz_seeds OUT");
  const fs::path out = argv[1];
  for (const char* d : {"binary", "code", "term"}) fs::create_directories(out / d);
  const fs::path cache = fs::path(BPFAULT_BINARY_DIR) / "fixtures-build";

  struct Want {
    std::string fixture, go;
    process::FixtureVariant variant;
  };
  std::vector<Want> wants = {
      {"demo", "", {}}, {"sigs", "", {}}, {"sigs", "", {"386", false}}, {"demo", "", {"amd64", true}}};
  if (process::find_toolchains().size() > 1)
    wants.push_back({"sigs", "newest", {}});  // Go >= 1.26: pcHeader's textStart is 0
  for (const auto& w : wants) {
    auto go = process::find_toolchain(w.go);
    if (!go) return die(go.error().format());
    auto built = process::build_fixture(fs::path(BPFAULT_SOURCE_DIR) / "fixtures" / w.fixture, *go, w.variant, cache);
    if (!built) return die(built.error().format());
    const std::string name = fmt::format("{}{}-go{}", w.fixture, w.variant.tag(), go->release);
    process::Command objcopy;
    objcopy.argv = {"objcopy", "--decompress-debug-sections", built->binary.string(), (out / "binary" / name).string()};
    auto r = process::run(objcopy);
    if (!r || !r->ok()) return die(fmt::format("objcopy failed: {}", r ? r->err : r.error().format()));

    if (w.fixture != "sigs") continue;  // code seeds: every function of the program's own package
    auto info = binary::analyse(built->binary);
    if (!info) return die(info.error().format());
    auto elf = binary::ElfFile::open(built->binary);
    if (!elf) return die(elf.error().format());
    for (const auto& f : (*info)->functions) {
      if (!f.name.starts_with("main.") || !f.entry || f.end <= f.entry) continue;
      auto code = elf->at_vaddr(f.entry, f.end - f.entry);
      std::string bytes(1, (*info)->arch == binary::Arch::i386 ? '\1' : '\0');
      bytes.append(reinterpret_cast<const char*>(&f.entry), 8);
      bytes.append(reinterpret_cast<const char*>(code.data()), code.size());
      std::string file = fmt::format("{}-{:x}", name, f.entry);
      std::ofstream(out / "code" / file, std::ios::binary) << bytes;
    }
  }

  // term seeds: every "term" of the scenarios, and the grammar's corners
  std::vector<std::string> terms = {"50%3*return(io.EOF)",
                                    "1*off->return(nil)",
                                    "sleep(10)",
                                    "panic",
                                    "kill",
                                    "crash(SIGSEGV)",
                                    "2*off->1*delay(5)->return(1, true, \"x\")",
                                    "100%return()"};
  const std::regex term_re("\"term\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
  for (const auto& e : fs::directory_iterator(fs::path(BPFAULT_SOURCE_DIR) / "scenarios")) {
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    for (std::sregex_iterator it(text.begin(), text.end(), term_re), end; it != end; ++it) terms.push_back((*it)[1]);
  }
  for (size_t i = 0; i < terms.size(); ++i) std::ofstream(out / "term" / fmt::format("term{}", i)) << terms[i];
  std::cout << "fuzz_seeds: seeds in " << out << "\n";
  return 0;
}
