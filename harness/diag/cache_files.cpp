#include "diag/cache_files.h"

#include <elf.h>
#include <link.h>

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace bpfault::diag {
namespace fs = std::filesystem;

fs::path cache_root() {
  auto env = [](const char* name) -> const char* {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
  };
  if (const char* dir = env("BPFAULT_CACHE")) return dir;
  if (const char* xdg = env("XDG_CACHE_HOME")) return fs::path(xdg) / "bpfault";
  // root's home is private (0700): a tracee run as another user (target.user) could not reach
  // a fixture built there, so root's default is the system's cache folder
  if (geteuid() == 0) return "/var/cache/bpfault";
  const char* home = env("HOME");
  if (!home) {
    const passwd* pw = getpwuid(getuid());
    home = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/tmp";
  }
  return fs::path(home) / ".cache" / "bpfault";
}

fs::path per_boot_file(std::string_view kind, std::string_view extension) {
  std::ifstream boot("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(boot, id);
  const std::string& build = executable_build_id();
  if (id.empty() || build.empty()) return {};
  return fmt::format("/run/bpfault/{}-{}-{}-{}{}", kind, id, geteuid(), build, extension);
}

std::error_code write_atomically(const fs::path& file, std::string_view bytes) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  auto tmp = file;
  tmp += fmt::format(".{}", gettid());  // threads of one process may write the same file
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {
      fs::remove(tmp, ec);
      return std::make_error_code(std::errc::io_error);
    }
  }
  fs::rename(tmp, file, ec);
  if (ec) fs::remove(tmp, ec);
  return ec;
}

void keep_newest(const fs::path& dir, std::string_view prefix, std::string_view extension, size_t keep) {
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with(prefix) && name.ends_with(extension)) files.emplace_back(e.last_write_time(ec), e.path());
  }
  if (files.size() <= keep) return;
  std::sort(files.begin(), files.end(), std::greater<>());
  for (size_t i = keep; i < files.size(); ++i) fs::remove(files[i].second, ec);
}

const std::string& executable_build_id() {
  // never destroyed: a thread that outlives main (a probe object's preload) may still ask
  static const std::string& id = *new std::string([] {
    std::string out;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) -> int {
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_NOTE) continue;
            // NOLINTNEXTLINE(performance-no-int-to-ptr): the loader hands out addresses as integers
            const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
            const char* end = p + ph.p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
              const auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
              const char* name = p + sizeof *n;
              const char* desc = name + ((n->n_namesz + 3) & ~3u);
              if (desc + n->n_descsz > end) break;
              if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
                auto& id = *static_cast<std::string*>(data);
                for (uint32_t k = 0; k < n->n_descsz; ++k)
                  id += fmt::format("{:02x}", static_cast<unsigned char>(desc[k]));
                return 1;
              }
              p = desc + ((n->n_descsz + 3) & ~3u);
            }
          }
          return 1;  // the first object is the executable: look no further
        },
        &out);
    return out;
  }());
  return id;
}
}  // namespace bpfault::diag
