#include "support/fixtures.h"

#include <unistd.h>

#include <gtest/gtest.h>

namespace bpfault::test {
namespace fs = std::filesystem;

fs::path source_dir() { return BPFAULT_SOURCE_DIR; }
fs::path fixture_dir(const std::string& name) { return source_dir() / "fixtures" / name; }

fs::path fixture(const std::string& name, const std::string& release, const process::FixtureVariant& variant) {
  auto go = process::find_toolchain(release);
  if (!go) {
    ADD_FAILURE() << go.error().format();
    return {};
  }
  auto built = process::build_fixture(fixture_dir(name), *go, variant, fs::path(BPFAULT_BINARY_DIR) / "fixtures-build");
  if (!built) {
    ADD_FAILURE() << built.error().format();
    return {};
  }
  return built->binary;
}

std::vector<std::string> go_releases() {
  std::vector<std::string> out;
  for (const auto& t : process::find_toolchains()) out.push_back(t.release);
  return out;
}

bool can_load_bpf() { return geteuid() == 0; }

}  // namespace bpfault::test
