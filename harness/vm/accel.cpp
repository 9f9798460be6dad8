#include "vm/accel.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "diag/cache_files.h"

namespace bpfault::vm {
namespace fs = std::filesystem;

namespace {

// The kernel's random boot id: a verdict about KVM holds until the host reboots (a module
// reload or a host fix is then seen at once).
std::string host_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

}  // namespace

// The file holds "<boot id>\n<reason>".
std::optional<std::string> remembered_kvm_death(const fs::path& memory) {
  std::ifstream in(memory);
  std::string id, why;
  if (!std::getline(in, id) || id.empty() || id != host_boot_id()) return std::nullopt;
  std::getline(in, why);
  return why;
}

Result<AccelMode> parse_accel_mode(std::string_view text) {
  if (text == "auto" || text.empty()) return AccelMode::automatic;
  if (text == "kvm") return AccelMode::kvm;
  if (text == "tcg") return AccelMode::tcg;
  return fail(ErrorKind::bad_input, "--vm-accel", fmt::format("'{}' is not an accelerator", text),
              "use auto (KVM when it proves to work, else TCG), kvm or tcg");
}

std::string_view accel_name(Accel accel) { return accel == Accel::kvm ? "kvm" : "tcg"; }

std::optional<std::string> kvm_unusable() {
  int dev = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (dev < 0) return errno == ENOENT ? std::string("no /dev/kvm") : fmt::format("/dev/kvm: {}", strerror(errno));
  std::optional<std::string> why;
  if (int v = ioctl(dev, KVM_GET_API_VERSION, 0); v != KVM_API_VERSION)
    why = fmt::format("/dev/kvm speaks API version {}, not {}", v, KVM_API_VERSION);
  else if (int vm = ioctl(dev, KVM_CREATE_VM, 0); vm < 0)
    why = fmt::format("KVM_CREATE_VM: {}", strerror(errno));
  else
    close(vm);
  close(dev);
  return why;
}

Result<AccelChoice> choose_accel(AccelMode mode, const std::optional<std::string>& unusable,
                                 const std::optional<std::string>& remembered_death) {
  if (mode == AccelMode::tcg) return AccelChoice{Accel::tcg, "asked for"};
  if (mode == AccelMode::kvm) {
    if (unusable)
      return fail(ErrorKind::unsupported, "--vm-accel kvm", fmt::format("KVM is not usable: {}", *unusable),
                  "use --vm-accel auto (TCG when KVM is not usable) or grant access to /dev/kvm");
    return AccelChoice{Accel::kvm, "asked for"};
  }
  if (unusable) return AccelChoice{Accel::tcg, *unusable};
  if (remembered_death)
    return AccelChoice{Accel::tcg, fmt::format("a KVM guest showed no sign of life earlier on this host boot ({})",
                                               *remembered_death)};
  return AccelChoice{Accel::kvm, "/dev/kvm answers"};
}

void remember_kvm_dead(const fs::path& memory, std::string_view why) {
  std::error_code ec;
  fs::create_directories(memory.parent_path(), ec);
  std::ofstream(memory) << host_boot_id() << "\n" << why << "\n";
}

fs::path accel_memory() { return diag::cache_root() / "vm" / "kvm-verdict"; }

}  // namespace bpfault::vm
