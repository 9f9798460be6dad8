// The on-disk analysis cache: what comes back is exactly what was analysed (every field, on
// real binaries of every toolchain and build), and a damaged or foreign file is a miss, never
// a crash or a wrong answer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <xxhash.h>

#include "binary/analysis_cache.h"
#include "binary/binary_info.h"
#include "support/fixtures.h"

namespace bpfault::binary {
namespace {
namespace fs = std::filesystem;
using process::FixtureVariant;

// Every field of an analysis, as text: two analyses are the same when their dumps are.
class Dump {
 public:
  std::string of(const BinaryInfo& b) {
    out_ << fmt::format("{} {} {} stripped={} dwarf={} detail={} pie={} ext={} text={:x} goid={} hi={}\n",
                        arch_name(b.arch), b.go_version, b.build_id, b.stripped, b.has_dwarf,
                        static_cast<int>(b.detail), b.pie, b.external_link, b.text_base, b.goid_offset,
                        b.stack_hi_offset);
    for (const auto& w : b.warnings) out_ << "warning " << w << "\n";
    for (const Function& f : b.functions) {
      out_ << fmt::format("{} [{}] {:x}-{:x} body {:x} {} abi0={} wrapper={} sig={} args={} np='{}'\n", f.name,
                          f.symbol, f.entry, f.end, f.body, f.body_sp_delta, f.abi0, f.wrapper, f.has_signature,
                          f.args_size, f.not_probeable);
      for (uint64_t r : f.rets) out_ << fmt::format(" ret {:x}", r);
      for (const auto& s : f.inlined_at) out_ << " inlined " << s;
      for (const auto& c : f.inlined_copies)
        out_ << fmt::format(" copy {:x} {} {} {} {}:{} '{}'", c.mark, c.outer, c.caller, c.at, c.file, c.line,
                            c.not_countable);
      for (const auto& w : f.warnings) out_ << " warning " << w;
      out_ << "\n";
      for (const Value& v : f.params) value("param", v);
      for (const Value& v : f.results) value("result", v);
    }
    return out_.str();
  }

 private:
  void value(const char* what, const Value& v) {
    out_ << fmt::format("  {} {} hidden={} on_stack={} ", what, v.name, v.hidden, v.on_stack);
    type(v.type, 0);
    out_ << "\n";
    for (const Piece& p : v.pieces)
      out_ << fmt::format("    '{}' +{} {}B kind={} signed={} @{}\n", p.path, p.offset, p.size,
                          static_cast<int>(p.kind), p.is_signed, p.loc.describe());
  }
  // types to a bounded depth: a struct may point to itself
  void type(const std::shared_ptr<const Type>& t, int depth) {
    if (!t) {
      out_ << "-";
      return;
    }
    out_ << fmt::format("{}(kind={} size={} signed={} error={} len={}", t->name, static_cast<int>(t->kind), t->size,
                        t->is_signed, t->is_error, t->len);
    if (depth < 3) {
      if (t->elem) {
        out_ << " elem ";
        type(t->elem, depth + 1);
      }
      for (const Field& f : t->fields) {
        out_ << fmt::format(" {}@{} ", f.name, f.offset);
        type(f.type, depth + 1);
      }
    }
    out_ << ")";
  }
  std::ostringstream out_;
};

std::string dump(const BinaryInfo& b) { return Dump().of(b); }

// "" when the dumps are equal, else the first line that differs (the dumps are long).
std::string first_difference(const std::string& got, const std::string& want) {
  std::istringstream g(got), w(want);
  std::string gl, wl;
  for (int line = 1;; ++line) {
    const bool more_g = static_cast<bool>(std::getline(g, gl)), more_w = static_cast<bool>(std::getline(w, wl));
    if (!more_g && !more_w) return "";
    if (more_g != more_w || gl != wl)
      return fmt::format("line {}:\n  got:  {}\n  want: {}", line, more_g ? gl : "(end)", more_w ? wl : "(end)");
  }
}

class AnalysisCache : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(BPFAULT_BINARY_DIR) / "test-tmp" / fmt::format("analysis-cache-{}", getpid());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path only_file() const {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path());
    EXPECT_EQ(files.size(), 1u);
    return files.empty() ? fs::path() : files[0];
  }
  fs::path dir_;
};

TEST_F(AnalysisCache, GivesBackExactlyWhatWasAnalysed) {
  const FixtureVariant variants[] = {{}, {"386", false}, {"amd64", true}};
  for (const auto& release : test::go_releases())
    for (const auto& variant : variants)
      for (const char* fixture : {"sigs", "demo", "inlines"}) {
        SCOPED_TRACE(fmt::format("{} go{} {}", fixture, release, variant.tag()));
        const fs::path bin = test::fixture(fixture, release, variant);
        ASSERT_FALSE(bin.empty());
        for (Detail detail : {Detail::full, Detail::names}) {
          auto info = analyse(bin, detail);
          ASSERT_TRUE(info) << info.error().format();
          const std::string key = fmt::format("{}/{}", (*info)->build_id, static_cast<int>(detail));
          store_analysis(dir_, key, **info, std::nullopt);
          auto back = load_analysis(dir_, key, (*info)->detail);
          ASSERT_TRUE(back) << "a file just written must load";
          EXPECT_EQ(first_difference(dump(*back->info), dump(**info)), "");
          EXPECT_FALSE(back->runtime_text);
        }
      }
}

TEST_F(AnalysisCache, AnotherKeyOrDetailIsAMiss) {
  const fs::path bin = test::fixture("sigs");
  ASSERT_FALSE(bin.empty());
  auto info = analyse(bin);
  ASSERT_TRUE(info);
  store_analysis(dir_, "k", **info, 0x401000);
  auto back = load_analysis(dir_, "k", Detail::full);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->runtime_text, std::optional<uint64_t>(0x401000));
  EXPECT_FALSE(load_analysis(dir_, "other", Detail::full));
  EXPECT_FALSE(load_analysis(dir_, "k", Detail::names));
}

// Damage anywhere is caught: by the payload's hash, and when the hash is made to match, by the
// bounds-checked reader (which the sanitizer preset runs under ASan and UBSan).
TEST_F(AnalysisCache, ADamagedFileIsAMiss) {
  const fs::path bin = test::fixture("sigs");
  ASSERT_FALSE(bin.empty());
  auto info = analyse(bin);
  ASSERT_TRUE(info);
  store_analysis(dir_, "k", **info, std::nullopt);
  const fs::path file = only_file();
  std::string good;
  {
    std::ifstream in(file, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t head = std::string_view("bpfault analysis\n").size() + 4 + 8;
  ASSERT_GT(good.size(), head);
  auto write = [&](const std::string& bytes, bool fix_hash) {
    std::string b = bytes;
    if (fix_hash && b.size() >= head) {
      const uint64_t h = XXH3_64bits(b.data() + head, b.size() - head);
      std::memcpy(b.data() + head - 8, &h, 8);
    }
    std::ofstream(file, std::ios::binary | std::ios::trunc) << b;
  };

  write(good.substr(0, good.size() / 2), false);
  EXPECT_FALSE(load_analysis(dir_, "k", Detail::full)) << "truncated";
  std::string flipped = good;
  flipped[head + flipped.size() / 3] ^= 0x40;
  write(flipped, false);
  EXPECT_FALSE(load_analysis(dir_, "k", Detail::full)) << "one bit flipped";
  std::string other_format = good;
  other_format[head - 12] ^= 1;
  write(other_format, false);
  EXPECT_FALSE(load_analysis(dir_, "k", Detail::full)) << "another format version";

  std::mt19937 rng(7);
  int loaded = 0;
  for (int i = 0; i < 300; ++i) {
    std::string b = good;
    const int kind = i % 3;
    if (kind == 0) b.resize(head + rng() % (good.size() - head));  // cut anywhere
    if (kind == 1)
      for (int k = 0; k < 4; ++k) b[head + rng() % (good.size() - head)] = static_cast<char>(rng());
    if (kind == 2) b.insert(head + rng() % (good.size() - head), std::string(1 + rng() % 8, static_cast<char>(rng())));
    write(b, true);
    if (load_analysis(dir_, "k", Detail::full)) ++loaded;  // a value changed in place may still parse
  }
  EXPECT_LT(loaded, 300) << "damage must be noticed at least where it breaks the structure";
  write(good, false);
  EXPECT_TRUE(load_analysis(dir_, "k", Detail::full)) << "the undamaged file loads again";
}

}  // namespace
}  // namespace bpfault::binary
