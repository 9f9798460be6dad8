#include "target/target.h"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "process/fixture.h"
#include "scenario/validate.h"

namespace bpfault::target {
namespace fs = std::filesystem;
namespace {

// The fixtures/NAME folder: --fixtures, $BPFAULT_FIXTURES, else the nearest fixtures/ above the scenario.
Result<fs::path> fixture_source(const scenario::Scenario& s, const Options& o) {
  const std::string& name = s.target.fixture;
  std::vector<fs::path> roots;
  if (!o.fixtures_dir.empty())
    roots.push_back(o.fixtures_dir);
  else if (const char* env = std::getenv("BPFAULT_FIXTURES"); env && *env)
    roots.emplace_back(env);
  else
    for (fs::path d = fs::absolute(s.file).parent_path(); !d.empty(); d = d.parent_path()) {
      std::error_code ec;
      if (fs::is_directory(d / "fixtures", ec)) {
        roots.push_back(d / "fixtures");
        break;
      }
      if (d == d.root_path()) break;
    }
  std::vector<std::string> known;
  for (const auto& r : roots) {
    std::error_code ec;
    if (fs::is_regular_file(r / name / "go.mod", ec)) return r / name;
    for (const auto& e : fs::directory_iterator(r, ec))
      if (fs::is_regular_file(e.path() / "go.mod", ec)) known.push_back(e.path().filename().string());
  }
  std::sort(known.begin(), known.end());
  std::string hint;
  for (const auto& k : known)
    if (scenario::edit_distance(k, name) <= 2) hint = fmt::format("did you mean \"{}\"? ", k);
  hint += known.empty() ? "put the fixture in a fixtures/ folder above the scenario, or pass --fixtures DIR"
                        : fmt::format("fixtures found: {}", fmt::join(known, ", "));
  return fail(ErrorKind::bad_input, s.file.string() + ":/target/fixture",
              fmt::format("fixture \"{}\" not found{}", name, roots.empty() ? "" : " in " + roots.front().string()),
              hint);
}

// A build's key for the VM's prebuilt programs: the module, the package and a hash of the rest.
std::string build_key(const scenario::GoBuild& b) {
  std::string spec =
      fmt::format("{}|{}|{}|{}|{}|{}", fmt::join(b.tags, ","), b.ldflags, b.gcflags, b.test, b.package, b.buildmode);
  for (const auto& [k, v] : b.env) spec += fmt::format("|{}={}", k, v);
  return fmt::format("{}:{}#{:x}", b.module.string(), b.package, std::hash<std::string>{}(spec));
}

}  // namespace

Result<ResolvedTarget> resolve(const scenario::Scenario& s, const Options& o,
                               const std::vector<std::string>& no_inline) {
  if (s.target.builds()) {
    const bool fixture = !s.target.fixture.empty();
    const std::string pointer = s.file.string() + (fixture                ? ":/target/fixture"
                                                   : s.target.build->test ? ":/target/test"
                                                                          : ":/target/build");
    process::FixtureVariant variant{s.target.goarch, s.target.stripped, no_inline};
    std::string want_go = o.go.empty() ? s.target.go : o.go;
    // In the VM the programs come prebuilt from the host, keyed by what the scenario asks for
    // (the guest has no Go toolchain to resolve "default" with).
    std::string key = (fixture ? s.target.fixture : build_key(*s.target.build)) + variant.tag() + "@" +
                      (want_go.empty() ? "default" : want_go) +
                      (no_inline.empty() ? "" : fmt::format("+noinline:{}", fmt::join(no_inline, ",")));
    if (auto it = o.prebuilt.find(key); it != o.prebuilt.end()) return ResolvedTarget{it->second, key};
    auto go = process::find_toolchain(want_go);
    if (!go) {
      Error e = go.error();
      e.where = s.file.string() + (o.go.empty() ? ":/target/go" : "");
      return tl::unexpected(e);
    }
    const fs::path cache = o.fixture_cache.empty() ? process::default_fixture_cache() : o.fixture_cache;
    Result<process::BuiltFixture> built;
    if (fixture) {
      auto src = fixture_source(s, o);
      if (!src) return tl::unexpected(src.error());
      built = process::build_fixture(*src, *go, variant, cache, o.progress);
    } else {
      const auto& b = *s.target.build;
      built = process::build_package({b.module, b.package, b.tags, b.ldflags, b.gcflags, b.env, b.test, b.buildmode},
                                     *go, variant, cache, o.progress);
    }
    if (!built) {
      Error e = built.error();
      if (!fixture) e.what = fmt::format("{}: {}", e.where, e.what), e.where = pointer;
      return tl::unexpected(e);
    }
    return ResolvedTarget{built->binary, key};
  }
  std::error_code ec;
  if (!fs::is_regular_file(s.target.binary, ec))
    return fail(ErrorKind::bad_input, s.file.string() + ":/target/binary",
                fmt::format("{}: no such file", s.target.binary.string()), "paths are relative to the scenario file");
  return ResolvedTarget{fs::canonical(s.target.binary, ec), ""};
}

Result<void> check_build_choices(const scenario::Scenario& s, std::string_view go, std::string_view variants) {
  if (s.target.builds()) return {};
  std::vector<std::string> asked;
  if (!go.empty()) asked.push_back(fmt::format("--go {}", go));
  if (!variants.empty()) asked.push_back(fmt::format("--variants {}", variants));
  if (asked.empty()) return {};
  return fail(ErrorKind::bad_input, s.file.string() + ":/target/binary",
              fmt::format("{} cannot apply: this target is a prebuilt binary ({}), run as it is",
                          fmt::join(asked, " and "), s.target.binary.string()),
              "run this scenario without them, or build the binary that way yourself; "
              "the targets bpfault builds (\"fixture\", \"build\", \"test\") take the toolchain and variant asked for");
}

}  // namespace bpfault::target
