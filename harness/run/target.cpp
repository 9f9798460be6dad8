#include <cstdlib>

#include <fmt/format.h>

#include "process/fixture.h"
#include "run/execute.h"
#include "scenario/validate.h"

namespace bpfault::run {
namespace fs = std::filesystem;
namespace {

// The fixtures/NAME folder: --fixtures, $BPFAULT_FIXTURES, else the nearest fixtures/ above the scenario.
Result<fs::path> fixture_source(const scenario::Scenario& s, const Options& o) {
  const std::string& name = s.target.fixture;
  std::vector<fs::path> roots;
  if (!o.fixtures_dir.empty()) roots.push_back(o.fixtures_dir);
  else if (const char* env = std::getenv("BPFAULT_FIXTURES"); env && *env) roots.emplace_back(env);
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
              fmt::format("fixture \"{}\" not found{}", name, roots.empty() ? "" : " in " + roots.front().string()), hint);
}

}  // namespace

Result<ResolvedTarget> resolve_target(const scenario::Scenario& s, const Options& o) {
  if (!s.target.fixture.empty()) {
    process::FixtureVariant variant{s.target.goarch, s.target.stripped};
    std::string want_go = o.go.empty() ? s.target.go : o.go;
    // In the VM the fixtures come prebuilt from the host, keyed by what the scenario asks for
    // (the guest has no Go toolchain to resolve "default" with).
    std::string key = s.target.fixture + variant.tag() + "@" + (want_go.empty() ? "default" : want_go);
    if (auto it = o.prebuilt.find(key); it != o.prebuilt.end()) return ResolvedTarget{it->second, key};
    auto go = process::find_toolchain(want_go);
    if (!go) {
      Error e = go.error();
      e.where = s.file.string() + (o.go.empty() ? ":/target/go" : "");
      return tl::unexpected(e);
    }
    auto src = fixture_source(s, o);
    if (!src) return tl::unexpected(src.error());
    auto built = process::build_fixture(*src, *go, variant, o.fixture_cache.empty() ? process::default_fixture_cache() : o.fixture_cache,
                                        o.progress);
    if (!built) return tl::unexpected(built.error());
    return ResolvedTarget{built->binary, key};
  }
  std::error_code ec;
  if (!fs::is_regular_file(s.target.binary, ec))
    return fail(ErrorKind::bad_input, s.file.string() + ":/target/binary", fmt::format("{}: no such file", s.target.binary.string()),
                "paths are relative to the scenario file");
  return ResolvedTarget{fs::canonical(s.target.binary, ec), ""};
}

}  // namespace bpfault::run
