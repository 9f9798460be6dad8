// Which accelerator the VM runs under. KVM boots in about a second where TCG takes several,
// but a /dev/kvm that opens is not proof that guests run: on some nested hosts
// KVM_CREATE_VM succeeds and the guest dies at its first `lock cmpxchg16b` ("KVM internal
// error. Suberror: 1") or hangs. So KVM is chosen only when the device answers, and a boot
// under it that shows no sign of life within a bound falls back to TCG; that verdict is
// remembered until the host reboots (keyed by its boot id), so a suite pays for it once.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "diag/error.h"

namespace bpfault::vm {

enum class AccelMode { automatic, kvm, tcg };
enum class Accel { kvm, tcg };

// "auto", "kvm", "tcg" (BPFAULT_VM_ACCEL and --vm-accel); an error names the valid values.
Result<AccelMode> parse_accel_mode(std::string_view text);
std::string_view accel_name(Accel accel);

struct AccelChoice {
  Accel accel = Accel::tcg;
  std::string why;  // "/dev/kvm answers", "no /dev/kvm", "KVM showed no sign of life on this host boot: ..."
};

// What the device says, without booting: /dev/kvm opens read-write, speaks API version 12 and
// creates a VM. std::nullopt when it does; else the reason it does not.
std::optional<std::string> kvm_unusable();

// The choice for `mode`, given what the device says (kvm_unusable()) and what an earlier boot
// of this host boot found (remembered_kvm_death()): tcg and kvm as asked (kvm fails with the
// reason when the device does not answer); automatic: KVM when it answers and was not found
// dead, else TCG with the reason.
Result<AccelChoice> choose_accel(AccelMode mode, const std::optional<std::string>& unusable,
                                 const std::optional<std::string>& remembered_death);

// The reason a KVM guest was found dead earlier on this host boot, if one was.
std::optional<std::string> remembered_kvm_death(const std::filesystem::path& memory);

// Records that a KVM guest showed no sign of life, for choose_accel until the host reboots.
void remember_kvm_dead(const std::filesystem::path& memory, std::string_view why);

// <cache>/vm/kvm-verdict: where the verdict is kept.
std::filesystem::path accel_memory();

}  // namespace bpfault::vm
