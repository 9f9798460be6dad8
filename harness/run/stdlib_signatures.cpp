#include "run/stdlib_signatures.h"

#include <fmt/format.h>

#include "binary/stdlib_signatures.h"
#include "process/fixture.h"
#include "process/go_toolchain.h"

namespace bpfault::run {
namespace fs = std::filesystem;
namespace {

// The toolchain that built the binary: its exact version when installed, else one of its
// release (the per-function code checks refuse what a patch release changed).
Result<process::GoToolchain> toolchain_for(const binary::StdlibProgram& p) {
  std::optional<process::GoToolchain> same_release;
  for (auto& t : process::find_toolchains()) {
    if ("go" + t.version == p.go_version) return t;
    if (t.release == p.release) same_release = t;
  }
  if (same_release) return *same_release;
  return fail(
      ErrorKind::unsupported, p.go_version,
      fmt::format("no Go {} toolchain is installed to describe the {} standard library", p.release, p.go_version),
      fmt::format("bpfault setup --go {} installs it (Debian's golang-{}-go)", p.release, p.release));
}

}  // namespace

WithStdlib add_stdlib_signatures(const std::shared_ptr<const binary::BinaryInfo>& focused, const target::Options& o) {
  // The standard library's data is found where both programs have the same code, which takes
  // every function's RETs (with_stdlib_signatures): a focused analysis is made whole first.
  std::shared_ptr<const binary::BinaryInfo> info = focused;
  if (!focused->focus.empty()) {
    auto whole = binary::analyse(focused->path);
    if (!whole)
      return {binary::without_stdlib_signatures(*focused, "its whole analysis failed: " + whole.error().what),
              std::nullopt};
    info = *whole;
  }
  WithStdlib out{info, std::nullopt};
  auto program = binary::stdlib_program(*info);
  if (!program) {
    if (!info->has_dwarf)
      out.info = binary::without_stdlib_signatures(*info, "the binary names no Go version in its build info");
    return out;
  }
  auto refuse = [&](const std::string& why) {
    out.info = binary::without_stdlib_signatures(*info, why);
    return out;
  };
  fs::path donor_path;
  if (auto it = o.prebuilt.find(program->key); it != o.prebuilt.end()) {
    donor_path = it->second;
  } else {
    auto go = toolchain_for(*program);
    if (!go) return refuse(fmt::format("{} ({})", go.error().what, go.error().hint));
    const fs::path cache = o.fixture_cache.empty() ? process::default_fixture_cache() : o.fixture_cache;
    process::GeneratedProgram g{"stdlib-" + program->go_version, program->main_go, program->env, program->tags};
    // A name the toolchain does not accept (a method of an alias, a build-tag-only function)
    // is dropped and the rest built again; -e reports every error at once.
    Result<process::BuiltFixture> built;
    for (int attempt = 0; attempt < 3; ++attempt) {
      built = process::build_generated(g, *go, program->goarch, cache, o.progress);
      if (built) break;
      std::string fewer = binary::drop_failing_references(g.main_go, built.error().what);
      if (fewer == g.main_go) break;
      g.main_go = std::move(fewer);
    }
    if (!built) return refuse(fmt::format("building the program that describes it failed: {}", built.error().what));
    donor_path = built->binary;
  }
  auto donor = binary::analyse(donor_path);
  if (!donor) return refuse(fmt::format("its analysis failed: {}", donor.error().what));
  if (!(*donor)->has_dwarf) return refuse(fmt::format("{} has no DWARF", donor_path.string()));
  out.info = binary::with_stdlib_signatures(*info, *donor);
  out.donor = StdlibDonor{program->key, donor_path};
  return out;
}

}  // namespace bpfault::run
