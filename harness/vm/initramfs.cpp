#include "vm/initramfs.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <xxhash.h>

#include "diag/cache_files.h"
#include "process/child.h"
#include "vm/cpio.h"
#include "vm/vm_exit_blob.h"
#include "vm/vm_fetch_blob.h"

namespace bpfault::vm {
namespace fs = std::filesystem;

// The host reads "bpfault-vm:" lines on the console (ttyS0), the command's stdout on ttyS1,
// and the exit code from qemu's status (isa-debug-exit). The run's files and its command come
// after the boot, through the shared memory of qemu's ivshmem device (vm/handover.h): the guest
// boots while the host builds them. A missing filesystem is reported, not fatal: the command
// then says what it lacks.
const char* const init_script = R"init(#!/bin/sh
# /init of bpfault's VM (harness/vm/initramfs.cpp)
# BPFAULT_CACHE: vm::kGuestCacheRoot, where the host puts what the guest's bpfault finds in its cache
export PATH=/bpfault:/bin HOME=/root TMPDIR=/tmp LD_LIBRARY_PATH=/bpfault/lib BPFAULT_CACHE=/var/cache/bpfault
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in securityfs:/sys/kernel/security bpf:/sys/fs/bpf tracefs:/sys/kernel/tracing; do  # not /tmp: the initramfs root is writable, and files packed under /tmp must stay visible
	mount -t "${m%%:*}" "${m%%:*}" "${m#*:}" || echo "bpfault-vm: cannot mount ${m%%:*} on ${m#*:}"
done
# loopback, as on the host: a service under test listens on 127.0.0.1 and its steps connect there
ip link set lo up || echo "bpfault-vm: cannot bring up the loopback interface"
read -r up idle </proc/uptime
read -r release </proc/sys/kernel/osrelease
echo "bpfault-vm: init $release $up"
# the run's files and command, once the host has them (qemu's ivshmem device: Red Hat's 1af4:1110)
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x1110 ] && shared=$d/resource2
done
bpfault-vm-fetch "${shared:-/nonexistent}" | cpio -i -d -m -u 2>/run/unpack || cat /run/unpack  # (its errors)
[ -f /bpfault/command ] || { echo "bpfault-vm: the run's files did not arrive"; exec /bin/bpfault-vm-exit 125; }
read -r up idle </proc/uptime
echo "bpfault-vm: files $up"
stty -F /dev/ttyS1 raw -echo
cd /
. /bpfault/command
"$@" >/dev/ttyS1
rc=$?
# stty sets modes with tcsetattr(TCSADRAIN): it returns when the UART has sent everything, so
# the last lines are out before the exit device stops qemu
stty -F /dev/ttyS1 raw -echo
echo "bpfault-vm: done $rc"
stty -echo
exec /bin/bpfault-vm-exit $rc
)init";

namespace {

constexpr int kBaseFormat = 2;  // bump when the base archive's layout changes
constexpr size_t kKeepBases = 4;

// A file mapped read-only: hashing and packing read the page cache without copying it
// (the harness of a RelWithDebInfo build is ~50 MB).
class MappedFile {
 public:
  static Result<MappedFile> open(const fs::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || fstat(fd, &st)) {
      int err = errno;
      if (fd >= 0) close(fd);
      return fail(ErrorKind::bad_input, path.string(), fmt::format("cannot read: {}", strerror(err)));
    }
    MappedFile m;
    m.size_ = static_cast<size_t>(st.st_size);
    if (m.size_ > 0) m.addr_ = mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (m.addr_ == MAP_FAILED) {
      m.addr_ = nullptr;
      return fail(ErrorKind::environment, path.string(), fmt::format("cannot map: {}", strerror(errno)));
    }
    return m;
  }
  MappedFile(MappedFile&& o) noexcept : addr_(o.addr_), size_(o.size_) { o.addr_ = nullptr; }
  MappedFile& operator=(MappedFile&&) = delete;
  ~MappedFile() {
    if (addr_) munmap(addr_, size_);
  }
  std::string_view data() const { return addr_ ? std::string_view(static_cast<const char*>(addr_), size_) : ""; }

 private:
  MappedFile() = default;
  void* addr_ = nullptr;
  size_t size_ = 0;
};

template <class Ehdr, class Phdr>
std::string interpreter_of(std::string_view elf) {
  if (elf.size() < sizeof(Ehdr)) return "";
  Ehdr eh;
  memcpy(&eh, elf.data(), sizeof eh);
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    size_t at = eh.e_phoff + size_t{i} * eh.e_phentsize;
    if (at + sizeof(Phdr) > elf.size()) break;
    Phdr ph;
    memcpy(&ph, elf.data() + at, sizeof ph);
    if (ph.p_type == PT_INTERP && ph.p_offset + ph.p_filesz <= elf.size()) {
      std::string_view path = elf.substr(ph.p_offset, ph.p_filesz);
      return std::string(path.substr(0, path.find('\0')));
    }
  }
  return "";
}

// PT_INTERP of an ELF executable, 64- or 32-bit: "" for a static one (or no ELF file).
std::string interpreter(std::string_view elf) {
  if (elf.size() < EI_NIDENT || elf.substr(0, 4) != ELFMAG) return "";
  return elf[EI_CLASS] == ELFCLASS32 ? interpreter_of<Elf32_Ehdr, Elf32_Phdr>(elf)
                                     : interpreter_of<Elf64_Ehdr, Elf64_Phdr>(elf);
}

struct Library {
  std::string name;  // as the executable asks for it (its soname)
  fs::path host;
};

// The shared libraries a dynamic executable loads, as ld.so resolves them on this host.
Result<std::vector<Library>> libraries(const fs::path& exe) {
  auto r = process::run({.argv = {"ldd", exe.string()}});
  if (!r) return tl::unexpected(r.error());
  if (!r->ok())
    return fail(ErrorKind::environment, exe.string(), fmt::format("ldd failed ({}): {}", r->describe(), r->err),
                "bpfault packs its shared libraries into the VM; a static build needs none");
  std::vector<Library> out;
  std::istringstream lines(r->out);
  std::string line;
  while (std::getline(lines, line)) {
    // "\tlibbpf.so.1 => /lib/x86_64-linux-gnu/libbpf.so.1 (0x...)"; the loader's line is done apart
    auto arrow = line.find(" => ");
    if (arrow == std::string::npos) continue;
    std::string name = line.substr(line.find_first_not_of(" \t"), arrow - line.find_first_not_of(" \t"));
    std::string path = line.substr(arrow + 4, line.find(" (", arrow) - arrow - 4);
    if (path == "not found") return fail(ErrorKind::environment, exe.string(), fmt::format("ldd cannot find {}", name));
    if (!path.empty() && path[0] == '/') out.push_back({name, path});
  }
  return out;
}

// What a dynamic executable the run sends needs to start in the guest (a cgo build, an external
// link): its loader and its shared libraries, at the paths this host's loader finds them, which
// the guest's loader searches too (its default directories: the tracee's environment sets no
// LD_LIBRARY_PATH). None for a static one (Go's default) or a file that is no executable.
Result<std::vector<fs::path>> runtime_files(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::vector<fs::path>{};
  auto exe = MappedFile::open(file);
  if (!exe) return tl::unexpected(exe.error());
  const std::string interp = interpreter(exe->data());
  if (interp.empty()) return std::vector<fs::path>{};
  if (!fs::exists(interp, ec))
    return fail(ErrorKind::environment, file.string(),
                fmt::format("its loader {} is not on this host, so its libraries cannot be sent to the VM", interp),
                "install the loader and libraries of its architecture (for a 386 cgo build: libc6-i386)");
  auto libs = libraries(file);
  if (!libs) return tl::unexpected(libs.error());
  std::vector<fs::path> out{interp};
  for (const Library& l : *libs) out.push_back(l.host);
  return out;
}

fs::path harness_path(const fs::path& harness) {
  if (!harness.empty()) return harness;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("/proc/self/exe") : self;
}

fs::path base_cache() { return diag::cache_root() / "vm"; }

Result<fs::path> find_busybox() {
  for (const char* p : {"/bin/busybox", "/usr/bin/busybox"})
    if (access(p, X_OK) == 0) return fs::path(p);
  return fail(ErrorKind::environment, "vm", "busybox is not installed", "install busybox-static (ci/setup --vm)");
}

// A copy without DWARF (tens of MB in a RelWithDebInfo build): the guest never reads it.
std::string without_debug_info(const fs::path& exe, std::string_view contents) {
  fs::path tmp = base_cache() / fmt::format("strip-{}.tmp", getpid());
  std::string out(contents);
  auto r = process::run({.argv = {"strip", "--strip-debug", "-o", tmp.string(), exe.string()}});
  if (r && r->ok())
    if (auto stripped = MappedFile::open(tmp)) out = stripped->data();
  std::error_code ec;
  fs::remove(tmp, ec);
  return out;
}

struct BaseInputs {
  fs::path busybox_path, harness_path;
  std::optional<MappedFile> busybox, harness, loader;
  std::string interp;  // the loader's path, "" for a static harness
  std::vector<std::pair<Library, MappedFile>> libs;
};

std::string base_key(const BaseInputs& in) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_128bits_reset(st);
  auto add = [&](std::string_view s) {
    uint64_t n = s.size();
    XXH3_128bits_update(st, &n, sizeof n);
    XXH3_128bits_update(st, s.data(), s.size());
  };
  add(std::to_string(kBaseFormat));
  add(init_script);
  add({reinterpret_cast<const char*>(vm_exit_blob), sizeof vm_exit_blob});
  add({reinterpret_cast<const char*>(vm_fetch_blob), sizeof vm_fetch_blob});
  add(in.busybox->data());
  add(in.harness->data());
  add(in.interp);
  if (in.loader) add(in.loader->data());
  for (const auto& [lib, data] : in.libs) {
    add(lib.name);
    add(data.data());
  }
  XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

Result<std::string> build_base(const BaseInputs& in) {
  auto list = process::run({.argv = {in.busybox_path.string(), "--list"}});
  if (!list || !list->ok())
    return fail(ErrorKind::environment, in.busybox_path.string(), "`busybox --list` failed",
                "install busybox-static (ci/setup --vm)");
  CpioWriter w;
  w.add_dir("/tmp", 01777);
  for (const char* d : {"/proc", "/sys", "/dev", "/root", "/run"}) w.add_dir(d);
  w.add_char_device("/dev/console", 5, 1);  // init's stdio, before devtmpfs is mounted
  w.add_file("/init", init_script, 0755);
  w.add_file("/bin/busybox", in.busybox->data(), 0755);
  std::istringstream applets(list->out);
  for (std::string a; std::getline(applets, a);)
    if (!a.empty() && a != "busybox") w.add_symlink("/bin/" + a, "busybox");
  w.add_file("/bin/bpfault-vm-exit", {reinterpret_cast<const char*>(vm_exit_blob), sizeof vm_exit_blob}, 0755);
  w.add_file("/bin/bpfault-vm-fetch", {reinterpret_cast<const char*>(vm_fetch_blob), sizeof vm_fetch_blob}, 0755);
  w.add_file("/bpfault/bpfault", without_debug_info(in.harness_path, in.harness->data()), 0755);
  w.add_dir("/bpfault/lib");
  for (const auto& [lib, data] : in.libs) w.add_file("/bpfault/lib/" + lib.name, data.data(), 0755);
  if (in.loader) w.add_file(in.interp, in.loader->data(), 0755);
  return w.finish();
}

// Copies a host file or folder into the archive at `guest`.
Result<void> add_tree(CpioWriter& w, const fs::path& host, const std::string& guest) {
  std::error_code ec;
  auto st = fs::status(host, ec);
  if (ec || !fs::exists(st)) return fail(ErrorKind::bad_input, host.string(), "no such file to copy into the VM");
  if (fs::is_directory(st)) {
    w.add_dir(guest);
    std::vector<fs::path> children;
    for (const auto& e : fs::directory_iterator(host, ec)) children.push_back(e.path());
    std::sort(children.begin(), children.end());
    for (const fs::path& c : children)
      if (auto r = add_tree(w, c, guest + "/" + c.filename().string()); !r) return r;
    return {};
  }
  auto data = MappedFile::open(host);
  if (!data) return tl::unexpected(data.error());
  w.add_file(guest, data->data(), static_cast<mode_t>(st.permissions() & fs::perms::all));
  return {};
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

Initramfs::Initramfs(Initramfs&& o) noexcept : fd_(o.fd_), bytes_(o.bytes_), base_from_cache_(o.base_from_cache_) {
  o.fd_ = -1;
}

Initramfs::~Initramfs() {
  if (fd_ >= 0) close(fd_);
}

std::string fd_path(int fd) { return fmt::format("/proc/{}/fd/{}", getpid(), fd); }

std::string Initramfs::path() const { return fd_path(fd_); }

Result<Initramfs> Initramfs::base(const fs::path& harness) {
  BaseInputs in;
  auto busybox = find_busybox();
  if (!busybox) return tl::unexpected(busybox.error());
  in.busybox_path = *busybox;
  in.harness_path = harness_path(harness);
  auto bb = MappedFile::open(in.busybox_path);
  auto exe = MappedFile::open(in.harness_path);
  if (!bb) return tl::unexpected(bb.error());
  if (!exe) return tl::unexpected(exe.error());
  if (!interpreter(bb->data()).empty())
    return fail(ErrorKind::environment, in.busybox_path.string(),
                "busybox is linked dynamically: the VM has no libraries for it",
                "install busybox-static (ci/setup --vm)");
  in.busybox.emplace(std::move(*bb));
  in.harness.emplace(std::move(*exe));
  in.interp = interpreter(in.harness->data());
  if (!in.interp.empty()) {
    auto loader = MappedFile::open(in.interp);
    if (!loader) return tl::unexpected(loader.error());
    in.loader.emplace(std::move(*loader));
    auto libs = libraries(in.harness_path);
    if (!libs) return tl::unexpected(libs.error());
    for (Library& l : *libs) {
      auto data = MappedFile::open(l.host);
      if (!data) return tl::unexpected(data.error());
      in.libs.emplace_back(std::move(l), std::move(*data));
    }
  }

  Initramfs out;
  std::error_code ec;
  fs::create_directories(base_cache(), ec);
  const fs::path base = base_cache() / fmt::format("base-{}.cpio", base_key(in));
  out.base_from_cache_ = fs::is_regular_file(base, ec);
  if (!out.base_from_cache_) {
    auto archive = build_base(in);
    if (!archive) return tl::unexpected(archive.error());
    // atomic: a concurrent run reads either none or all of it
    if ((ec = diag::write_atomically(base, std::string_view(archive->data(), archive->size()))))
      return fail(ErrorKind::environment, base.string(),
                  fmt::format("cannot write the base archive: {}", ec.message()));
    diag::keep_newest(base_cache(), "base-", ".cpio", kKeepBases);
  }
  // held open: a retried boot reads it again, even if another run has removed it from the cache
  out.fd_ = open(base.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (out.fd_ < 0 || fstat(out.fd_, &st))
    return fail(ErrorKind::environment, base.string(),
                fmt::format("cannot read the base archive: {}", strerror(errno)));
  out.bytes_ = static_cast<size_t>(st.st_size);
  return out;
}

Result<std::string> run_archive(const fs::path& harness, const std::vector<File>& files,
                                const std::vector<std::string>& guest_argv) {
  if (guest_argv.empty()) return fail(ErrorKind::internal, "vm", "no command to run in the VM");
  for (const File& f : files)
    if (f.guest.empty() || f.guest[0] != '/' || f.guest == "/")
      return fail(ErrorKind::internal, f.host.string(),
                  fmt::format("guest path '{}' must be absolute, below /", f.guest));
  CpioWriter w(1u << 20);          // inode numbers apart from the base's
  std::set<std::string> in_guest;  // and not again what the base has: bpfault's loader
  if (auto exe = MappedFile::open(harness_path(harness))) in_guest.insert(interpreter(exe->data()));
  for (const File& f : files) {
    if (auto r = add_tree(w, f.host, f.guest); !r) return tl::unexpected(r.error());
    in_guest.insert(f.guest);
  }
  for (const File& f : files) {
    auto needs = runtime_files(f.host);
    if (!needs) return tl::unexpected(needs.error());
    for (const fs::path& p : *needs)
      if (in_guest.insert(p.string()).second)
        if (auto r = add_tree(w, p, p.string()); !r) return tl::unexpected(r.error());
  }
  std::string command = "set --";
  for (size_t i = 0; i < guest_argv.size(); ++i)
    command += " " + shell_quote(i == 0 && guest_argv[0] == "bpfault" ? "/bpfault/bpfault" : guest_argv[i]);
  // the verifier's whole log, in the guest too, as the load error's hint promises
  if (const char* debug = std::getenv("BPFAULT_LIBBPF_DEBUG"); debug && *debug)
    command = "export BPFAULT_LIBBPF_DEBUG=1\n" + command;
  w.add_file("/bpfault/command", command + "\n");
  return w.finish();
}

}  // namespace bpfault::vm
