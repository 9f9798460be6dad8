#include "vm/cpio.h"

#include <sys/stat.h>

#include <fmt/format.h>

namespace bpfault::vm {
namespace {

// Names are stored without the leading '/', as `cpio` writes them.
std::string_view relative(std::string_view path) {
  while (path.starts_with('/')) path.remove_prefix(1);
  return path;
}

void pad4(std::string& s) { s.append((4 - s.size() % 4) % 4, '\0'); }

}  // namespace

void CpioWriter::entry(std::string_view path, uint32_t mode, std::string_view data, unsigned rdev_major,
                       unsigned rdev_minor) {
  std::string_view name = relative(path);
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
  // namesize (with its NUL), check; mtime 0 keeps a rebuilt archive byte-identical
  out_ +=
      fmt::format("070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}", next_ino_++,
                  mode, 0, 0, S_ISDIR(mode) ? 2 : 1, 0, data.size(), 0, 0, rdev_major, rdev_minor, name.size() + 1, 0);
  out_ += name;
  out_ += '\0';
  pad4(out_);
  out_ += data;
  pad4(out_);
}

void CpioWriter::add_parents(std::string_view path) {
  std::string_view rel = relative(path);
  for (size_t slash = rel.find('/'); slash != std::string_view::npos; slash = rel.find('/', slash + 1))
    add_dir(rel.substr(0, slash));
}

void CpioWriter::add_dir(std::string_view path, mode_t perm) {
  std::string_view rel = relative(path);
  if (rel.empty() || dirs_.contains(rel)) return;
  add_parents(rel);
  dirs_.emplace(rel);
  entry(rel, S_IFDIR | perm, {});
}

void CpioWriter::add_file(std::string_view path, std::string_view data, mode_t perm) {
  add_parents(path);
  entry(path, S_IFREG | perm, data);
}

void CpioWriter::add_symlink(std::string_view path, std::string_view target) {
  add_parents(path);
  entry(path, S_IFLNK | 0777, target);
}

void CpioWriter::add_char_device(std::string_view path, unsigned major, unsigned minor, mode_t perm) {
  add_parents(path);
  entry(path, S_IFCHR | perm, {}, major, minor);
}

std::string CpioWriter::finish() {
  entry("TRAILER!!!", 0, {});
  dirs_.clear();
  next_ino_ = first_ino_;
  return std::move(out_);
}

}  // namespace bpfault::vm
