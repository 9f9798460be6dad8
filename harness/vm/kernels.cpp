// The kernels `bpfault setup --vm` (ci/kernels) unpacked: <cache>/kernels/<name>/{vmlinux,release}, and a
// `default` symlink to the newest 7.x.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "diag/cache_files.h"
#include "vm/vm.h"

namespace bpfault::vm {
namespace fs = std::filesystem;

namespace {

std::string read_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

// "7.3.4+deb13-cloud-amd64" > "7.2.13+deb14-cloud-amd64": numbers compared as numbers.
bool release_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i0 = i, j0 = j;
      while (i < a.size() && std::isdigit(static_cast<unsigned char>(a[i]))) ++i;
      while (j < b.size() && std::isdigit(static_cast<unsigned char>(b[j]))) ++j;
      unsigned long x = std::stoul(a.substr(i0, i - i0)), y = std::stoul(b.substr(j0, j - j0));
      if (x != y) return x < y;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i, ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::string installed_names() {
  std::string names;
  for (const Kernel& k : installed_kernels())
    names += fmt::format("{}{} ({})", names.empty() ? "" : ", ", k.name, k.release);
  return names.empty() ? "none" : names;
}

}  // namespace

fs::path kernel_cache() { return diag::cache_root() / "kernels"; }

std::vector<Kernel> installed_kernels() {
  std::vector<Kernel> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kernel_cache(), ec)) {
    const fs::path& dir = entry.path();
    std::string name = dir.filename().string();
    if (entry.is_symlink() || name.ends_with(".tmp") || !fs::is_regular_file(dir / "vmlinux", ec)) continue;
    std::string release = read_line(dir / "release");
    if (!release.empty()) out.push_back({name, release, dir / "vmlinux"});
  }
  std::sort(out.begin(), out.end(), [](const Kernel& a, const Kernel& b) { return a.name < b.name; });
  return out;
}

Result<Kernel> find_kernel(std::string_view name) {
  const std::string where = name.empty() ? "--kernel" : fmt::format("--kernel {}", name);
  const std::string fetch_hint = fmt::format(
      "run `bpfault setup --kernel {}` to download it (`bpfault setup --vm` fetches the default and bookworm)",
      name.empty() ? "default" : name);
  if (name.find('/') != std::string_view::npos) {
    fs::path file(name);
    if (!fs::is_regular_file(file)) return fail(ErrorKind::bad_input, where, "no such vmlinux file");
    return Kernel{file.string(), "", file};
  }
  std::vector<Kernel> kernels = installed_kernels();
  if (name.empty() || name == "default") {
    std::error_code ec;
    fs::path target = fs::read_symlink(kernel_cache() / "default", ec);
    for (const Kernel& k : kernels)
      if (!ec && k.name == target.filename().string()) return k;
    // no link (a cache filled by hand): the newest 7.x, the first with uprobe register writes
    const Kernel* best = nullptr;
    for (const Kernel& k : kernels)
      if (!release_less(k.release, "7") && (!best || release_less(best->release, k.release))) best = &k;
    if (best) return *best;
    return fail(ErrorKind::environment, where,
                fmt::format("no default VM kernel in {} (installed: {})", kernel_cache().string(), installed_names()),
                fetch_hint);
  }
  for (const Kernel& k : kernels)
    if (k.name == name) return k;
  // a release prefix: "6.1" matches 6.1.0-50-cloud-amd64, not 6.12.117
  const Kernel* best = nullptr;
  for (const Kernel& k : kernels) {
    if (!k.release.starts_with(name)) continue;
    char next = k.release.size() > name.size() ? k.release[name.size()] : '.';
    if (next != '.' && next != '-' && next != '+') continue;
    if (!best || release_less(best->release, k.release)) best = &k;
  }
  if (best) return *best;
  return fail(ErrorKind::environment, where, fmt::format("no such VM kernel (installed: {})", installed_names()),
              name == "bookworm" || name == "trixie" || name == "trixie-backports" || name == "sid"
                  ? fetch_hint
                  : "name a Debian suite (default, bookworm, trixie, trixie-backports, sid), a release such as 6.1, or "
                    "a vmlinux path");
}

}  // namespace bpfault::vm
