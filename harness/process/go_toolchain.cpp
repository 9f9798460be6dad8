#include "process/go_toolchain.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "diag/cache_files.h"

namespace bpfault::process {
namespace fs = std::filesystem;
namespace {

// "go1.27.4\ntime ..." -> "1.27.4"
std::string read_version(const fs::path& goroot) {
  std::ifstream in(goroot / "VERSION");
  std::string line;
  std::getline(in, line);
  return line.rfind("go", 0) == 0 ? line.substr(2) : "";
}

std::string release_of(const std::string& version) {
  auto dot = version.find('.', version.find('.') + 1);
  return version.substr(0, dot);
}

// 1.9 < 1.19 < 1.27: compare numerically, part by part
bool older(const std::string& a, const std::string& b) {
  auto parts = [](const std::string& v) {
    std::vector<int> out;
    size_t pos = 0;
    while (pos < v.size()) {
      out.push_back(std::atoi(v.c_str() + pos));
      pos = v.find('.', pos);
      if (pos == std::string::npos) break;
      ++pos;
    }
    return out;
  };
  return parts(a) < parts(b);
}

void add_glob(std::vector<fs::path>& out, const fs::path& dir, std::string_view prefix) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
}

}  // namespace

std::vector<GoToolchain> find_toolchains() {
  std::vector<fs::path> roots;
  if (const char* env = std::getenv("BPFAULT_GO_ROOTS")) {
    std::string s = env;
    for (size_t pos = 0; pos <= s.size();) {
      size_t colon = s.find(':', pos);
      if (colon == std::string::npos) colon = s.size();
      if (colon > pos) roots.emplace_back(s.substr(pos, colon - pos));
      pos = colon + 1;
    }
  }
  add_glob(roots, "/usr/lib", "go-1.");
  std::vector<fs::path> unpacked;
  add_glob(unpacked, diag::cache_root() / "go", "1.");
  for (const auto& u : unpacked) add_glob(roots, u / "usr" / "lib", "go-1.");

  std::vector<GoToolchain> out;
  std::set<std::string> seen;
  for (const auto& r : roots) {
    std::error_code ec;
    if (!fs::is_regular_file(r / "bin" / "go", ec)) continue;
    std::string v = read_version(r);
    if (v.empty() || !seen.insert(v).second) continue;
    out.push_back({v, release_of(v), fs::weakly_canonical(r, ec)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return older(a.version, b.version); });
  return out;
}

Result<GoToolchain> find_toolchain(std::string_view want) {
  auto all = find_toolchains();
  std::string found;
  for (const auto& t : all) found += (found.empty() ? "" : ", ") + t.release;
  if (found.empty()) found = "none";
  const char* hint = "`bpfault setup --go VERSION` unpacks Debian's golang-VERSION-go into bpfault's cache";
  if (all.empty())
    return fail(
        ErrorKind::environment, "",
        fmt::format("no Go toolchain found (looked in /usr/lib/go-1.* and {})", (diag::cache_root() / "go").string()),
        hint);
  if (want.empty() || want == "default") {
    if (const char* env = std::getenv("BPFAULT_GO"); env && *env && std::string_view(env) != "default")
      return find_toolchain(env);
    return all.front();
  }
  if (want == "newest") return all.back();
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    if (it->release == want || it->version == want) return *it;
  return fail(ErrorKind::environment, "", fmt::format("Go {} is not installed (found: {})", want, found), hint);
}

}  // namespace bpfault::process
