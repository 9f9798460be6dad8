// The VM's initramfs, uncompressed (under TCG the kernel's gunzip costs more than reading a
// bigger archive: notes/vm-kernels.md §3): a base archive (busybox, /init, bpfault with its
// libraries and loader, the guest's helpers), cached under <cache>/vm keyed by a hash of its
// content, which qemu boots; and the run's archive (the caller's files and the command), which
// the host hands over once they are built (vm/handover.h) and /init unpacks.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "diag/error.h"
#include "vm/vm.h"

namespace bpfault::vm {

class Initramfs {
 public:
  // The base archive for `harness` (empty: this process's executable), made once and kept.
  static Result<Initramfs> base(const std::filesystem::path& harness);
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

// The run's archive: `files` at their guest paths, what a dynamic program among them needs to
// start (its loader and libraries, at their host paths), and /bpfault/command, which sets the
// guest command's arguments (argv[0] "bpfault": the packed harness).
Result<std::string> run_archive(const std::filesystem::path& harness, const std::vector<File>& files,
                                const std::vector<std::string>& guest_argv);

// The path qemu opens to reach this process's `fd` (a memfd, a pipe): nothing is inherited and
// no file is left behind.
std::string fd_path(int fd);

// The guest's /init script (exposed for tests of the protocol).
extern const char* const init_script;

}  // namespace bpfault::vm
