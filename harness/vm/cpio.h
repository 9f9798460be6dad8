// A writer of cpio archives in the "newc" format, the one the kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Archives may be concatenated:
// the kernel unpacks them in order, so a cached base archive plus a small per-run one make a
// whole initramfs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace bpfault::vm {

class CpioWriter {
 public:
  // Inode numbers only tell hard links apart; archives meant to be concatenated start apart anyway.
  explicit CpioWriter(uint32_t first_ino = 1) : first_ino_(first_ino), next_ino_(first_ino) {}

  // Parent directories are added on first use, so entries may come in any order.
  void add_dir(std::string_view path, mode_t perm = 0755);
  void add_file(std::string_view path, std::string_view data, mode_t perm = 0644);
  void add_symlink(std::string_view path, std::string_view target);
  void add_char_device(std::string_view path, unsigned major, unsigned minor, mode_t perm = 0600);

  // Appends the trailer and returns the archive; the writer is empty afterwards.
  std::string finish();

 private:
  void add_parents(std::string_view path);
  void entry(std::string_view path, uint32_t mode, std::string_view data, unsigned rdev_major = 0,
             unsigned rdev_minor = 0);

  std::string out_;
  std::set<std::string, std::less<>> dirs_;
  uint32_t first_ino_, next_ino_;
};

}  // namespace bpfault::vm
