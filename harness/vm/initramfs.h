// The VM's initramfs, uncompressed (under TCG the kernel's gunzip costs more than reading a
// bigger archive: notes/vm-kernels.md §3). Two archives, concatenated in a memfd that qemu
// reads through /proc/<pid>/fd/<n>: a base (busybox, /init, bpfault with its libraries and
// loader, the exit helper), cached under <cache>/vm keyed by a hash of its content, and
// a small per-run one (the caller's files and the command).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "diag/error.h"
#include "vm/vm.h"

namespace bpfault::vm {

class Initramfs {
 public:
  static Result<Initramfs> pack(const std::filesystem::path& harness, const std::vector<File>& files,
                                const std::vector<std::string>& guest_argv);
  Initramfs(Initramfs&& other) noexcept;
  Initramfs& operator=(Initramfs&&) = delete;
  Initramfs(const Initramfs&) = delete;
  ~Initramfs();

  std::string path() const;  // for qemu's -initrd, valid while this object lives
  size_t bytes() const { return bytes_; }
  bool base_from_cache() const { return base_from_cache_; }

 private:
  Initramfs() = default;
  int fd_ = -1;
  size_t bytes_ = 0;
  bool base_from_cache_ = false;
};

// The guest's /init script (exposed for tests of the protocol).
extern const char* const init_script;

}  // namespace bpfault::vm
