// Hostile and malformed scenarios through the bpfault executable: every file under
// bad-scenarios/ must be refused with exit 2 and the message bad-scenarios/expected.txt pins;
// files that cannot live in git (unreadable, huge, deeply nested, a FIFO) are made here.
// Runs under the sanitizer preset too (label unit): a crash or an invalid read fails it.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support.h"
#include "support/fixtures.h"

namespace bpfault {
namespace {
namespace fs = std::filesystem;

const fs::path corpus = test::source_dir() / "tests" / "reliability" / "bad-scenarios";

// expected.txt: "FILE: TEXT" lines -> FILE -> every TEXT
std::map<std::string, std::vector<std::string>> expectations() {
  std::map<std::string, std::vector<std::string>> out;
  std::ifstream in(corpus / "expected.txt");
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto sep = line.find(".json: ");
    if (sep == std::string::npos) {
      ADD_FAILURE() << "expected.txt: not \"FILE.json: TEXT\": " << line;
      continue;
    }
    out[line.substr(0, sep + 5)].push_back(line.substr(sep + 7));
  }
  return out;
}

std::vector<std::string> corpus_files() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(corpus))
    if (e.path().extension() == ".json") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(BadScenarios, CorpusIsLargeAndEveryFileHasItsMessage) {
  auto want = expectations();
  auto files = corpus_files();
  EXPECT_GE(files.size(), 40u);
  for (const auto& f : files) EXPECT_TRUE(want.count(f)) << f << " has no line in expected.txt";
  for (const auto& [f, texts] : want)
    EXPECT_TRUE(fs::exists(corpus / f)) << "expected.txt names " << f << ", which is not there";
}

class BadScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(BadScenario, ExitsTwoWithItsMessage) {
  const std::string file = GetParam();
  auto r = test::run_bpfault({"run", (corpus / file).string()});
  EXPECT_EQ(r.signal, 0) << "bpfault crashed:\n" << r.out << r.err;
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  const auto want = expectations();
  ASSERT_TRUE(want.count(file)) << file << " has no line in expected.txt";
  for (const auto& text : want.at(file))
    EXPECT_NE(r.out.find(text), std::string::npos) << "missing: " << text << "\nin:\n" << r.out;
  EXPECT_NE(r.out.find("[  ERROR   ]"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[       OK ]"), std::string::npos) << r.out;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param.substr(0, info.param.size() - 5);
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadScenario, ::testing::ValuesIn(corpus_files()), param_name);

// Files made at run time: what git cannot hold, or should not.
class MadeBadScenario : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::scratch_dir("bad-scenarios"); }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  process::Outcome run(const fs::path& file) { return test::run_bpfault({"run", file.string()}); }
  void expect_refused(const process::Outcome& r, const std::string& text) {
    EXPECT_EQ(r.signal, 0) << "bpfault crashed:\n" << r.out << r.err;
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.out.find(text), std::string::npos) << "missing: " << text << "\nin:\n" << r.out;
  }
  fs::path dir_;
};

TEST_F(MadeBadScenario, DeepNestingIsRefusedNotAStackOverflow) {
  const size_t depth = 200000;  // recursing once per level (validate, print, destroy) overflows the stack
  std::ofstream(dir_ / "deep.json")
      << R"({"version": 1, "name": "deep", "target": {"fixture": "demo"}, "description": )" << std::string(depth, '[')
      << std::string(depth, ']') << "}";
  expect_refused(run(dir_ / "deep.json"), "error: nested more than 64 levels deep");
}

TEST_F(MadeBadScenario, HugeFileIsRefusedBeforeParsing) {
  {
    std::ofstream out(dir_ / "huge.json");
    out << R"({"version": 1, "name": "huge", "target": {"fixture": "demo"}, "description": ")"
        << std::string(6 << 20, 'x') << "\"}";
  }
  auto r = run(dir_ / "huge.json");
  expect_refused(r, "huge.json: error: 6291536 bytes is too big for a scenario (limit 4194304 bytes)");
}

TEST_F(MadeBadScenario, UnreadableFileSaysPermissionDenied) {
  std::ofstream(dir_ / "secret.json") << R"({"version": 1, "name": "secret", "target": {"fixture": "demo"}})";
  fs::permissions(dir_ / "secret.json", fs::perms::none);
  // Root reads any file: run bpfault as nobody then (it needs no privilege to refuse a file).
  std::optional<uid_t> as;
  if (geteuid() == 0) {
    as = 65534;
    for (fs::path d = dir_; d != d.root_path(); d = d.parent_path())
      if (access(d.c_str(), F_OK) == 0 && (fs::status(d).permissions() & fs::perms::others_exec) == fs::perms::none)
        GTEST_SKIP()
            << d
            << " is not searchable by others: nobody cannot reach the test file (run from a world-readable checkout)";
    if ((fs::status(BPFAULT_EXE).permissions() & fs::perms::others_exec) == fs::perms::none)
      GTEST_SKIP() << BPFAULT_EXE << " is not executable by others";
  }
  auto r = test::run_bpfault({"run", (dir_ / "secret.json").string()}, as);
  expect_refused(r, "secret.json: error: cannot read: Permission denied");
}

TEST_F(MadeBadScenario, FifoAndDeviceAreNotReadForever) {
  ASSERT_EQ(mkfifo((dir_ / "pipe.json").c_str(), 0600), 0);
  expect_refused(run(dir_ / "pipe.json"), "pipe.json: error: not a regular file");
  fs::create_symlink("/dev/zero", dir_ / "zero.json");
  expect_refused(run(dir_ / "zero.json"), "zero.json: error: not a regular file");
}

TEST_F(MadeBadScenario, SymlinkLoopIsNotCalledMissing) {
  fs::create_symlink(dir_ / "b.json", dir_ / "a.json");
  fs::create_symlink(dir_ / "a.json", dir_ / "b.json");
  expect_refused(run(dir_ / "a.json"), "a.json: error: cannot read: Too many levels of symbolic links");
}

TEST_F(MadeBadScenario, EveryBadFileOfAFolderIsReportedInOneRun) {
  auto r = test::run_bpfault({"run", corpus.string()});
  EXPECT_EQ(r.signal, 0) << r.out;
  EXPECT_EQ(r.exit_code, 2);
  // missing-version.json is a JSON object without "version": data beside the scenarios, listed
  // as skipped and not counted as a scenario; every other file is a bad scenario.
  const size_t n = corpus_files().size() - 1;
  EXPECT_NE(r.out.find(fmt::format("[==========] Running {} scenarios", n)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("[  ERROR   ] {}, listed below:", n)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[  SKIPPED ] 1, listed below:"), std::string::npos) << r.out;
  for (const auto& f : corpus_files())
    EXPECT_NE(r.out.find((corpus / f).string()), std::string::npos) << f << " not reported";
}

}  // namespace
}  // namespace bpfault
