// The caches bpfault keeps on disk (capabilities, analyses, VM base archives) each write one
// file per input and per bpfault build: each keeps its newest few.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace bpfault::diag {

// The folder under which bpfault keeps what it downloads and builds (kernels, Go toolchains,
// VM base archives, fixture builds, analyses): $BPFAULT_CACHE, else $XDG_CACHE_HOME/bpfault,
// else /var/cache/bpfault for root (so that a tracee run as another user reaches its fixture
// build), else ~/.cache/bpfault. The same rule as ci/debian.sh, so the repository's scripts and an
// installed bpfault share one cache; nothing is compiled in, so a copied binary works anywhere.
std::filesystem::path cache_root();

// The linker's GNU build id of the running executable (hex), read from its loaded notes: what
// names "this build of bpfault" in cache keys. Empty for an executable linked without one,
// and then the caches are not used.
const std::string& executable_build_id();

// A file kept for this boot only: /run/bpfault/KIND-BOOT_ID-EUID-BUILD_ID.EXTENSION (/run is
// emptied at boot), for what does not change while a kernel runs and costs each process to
// learn (capabilities, the kernel's BTF). Empty when the boot id or the build id is unknown:
// then nothing is kept.
std::filesystem::path per_boot_file(std::string_view kind, std::string_view extension);

// Writes `bytes` to `file` atomically (a temporary file per thread renamed over it: a parallel
// reader sees the old file or the new one, never a part), creating its folder; the error when
// it could not (then nothing is left behind).
std::error_code write_atomically(const std::filesystem::path& file, std::string_view bytes);

// Removes all but the `keep` most recently written files of `dir` named PREFIX*EXTENSION.
// Errors are ignored: a file that stays only costs space.
void keep_newest(const std::filesystem::path& dir, std::string_view prefix, std::string_view extension, size_t keep);

}  // namespace bpfault::diag
