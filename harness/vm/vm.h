// The privileged VM: a stock Debian cloud kernel (ci/kernels) booted by qemu (KVM where it
// proves to work, else TCG: vm/accel.h), with
// busybox, this bpfault and the caller's files in an initramfs, running one command whose
// stdout streams back line by line. For hosts whose kernel refuses the writes bpfault needs
// (lockdown, or no uprobe ctx writes before 7.x). The recipe and its measurements:
// notes/vm-kernels.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diag/error.h"
#include "vm/accel.h"

namespace bpfault::vm {

struct Kernel {
  std::string name;               // "trixie-backports", "bookworm": the folder under <cache>/kernels
  std::string release;            // "7.3.4+deb13-cloud-amd64", what `uname -r` says in the guest
  std::filesystem::path vmlinux;  // the ELF image, booted through its PVH entry
};

// <cache>/kernels (diag::cache_root()).
std::filesystem::path kernel_cache();

// What ci/kernels has unpacked, by name.
std::vector<Kernel> installed_kernels();

// "" or "default": the default kernel (ci/kernels' choice: the newest 7.x); a folder name
// ("bookworm", "sid"); a release prefix ("6.1", "7.3"; the newest match); or a vmlinux path.
Result<Kernel> find_kernel(std::string_view name);

// bpfault's cache folder inside the VM (the guest's /init exports it as BPFAULT_CACHE): files
// sent there are what the guest's bpfault finds in its cache, such as the analyses the host kept.
inline constexpr std::string_view kGuestCacheRoot = "/var/cache/bpfault";

struct File {
  std::filesystem::path host;  // a file, or a folder (copied whole, symlinks followed)
  std::string guest;           // absolute path inside the VM
};

struct Options {
  std::chrono::seconds timeout{600};  // the host's watchdog for the whole boot + command (run())
  bool verbose = false;               // echo qemu's command line and the guest console to stderr
  std::filesystem::path harness;      // the bpfault executable to pack; empty: this process's
  int retries = 1;                    // boots again when a boot failed before /init ran the command
                                      // (never after a timeout, or a death while it ran)
  // Called before a retry, saying why.
  std::function<void(std::string_view why)> on_retry;
  int memory_mb = 1024;
  // auto: KVM when /dev/kvm answers and a guest shows life under it, else TCG (vm/accel.h).
  // Unset: BPFAULT_VM_ACCEL, else auto.
  std::optional<AccelMode> accel;
  // Under KVM a guest reaches /init in about a second; one that has not within this bound is
  // taken for dead (an emulation failure hangs rather than exits) and the boot is redone under TCG.
  std::chrono::seconds kvm_life_bound{20};
};

struct Outcome {
  enum class Status { completed, boot_failed, crashed, timed_out } status = Status::crashed;
  int guest_exit = -1;         // the guest command's exit code, when completed
  std::string kernel_release;  // as the guest reported it
  std::string console_tail;    // the last lines of the guest console (kernel messages, stderr)
  double boot_s = 0;           // qemu start -> /init running
  double waited_s = 0;      // the guest at /init until its files were handed over (Boot: booted while they were built)
  double first_line_s = 0;  // qemu start -> the command's first stdout line (0: none)
  double wall_s = 0;        // qemu start -> qemu gone (the last attempt)
  double pack_s = 0;        // packing the run's files and handing them over
  size_t initramfs_bytes = 0;
  bool base_from_cache = false;  // the base archive (busybox, bpfault, libraries) was reused
  int attempts = 0;
  Accel accel = Accel::tcg;  // what the last attempt ran under
  std::string accel_why;     // why: "/dev/kvm answers", "no /dev/kvm", "KVM showed no sign of life ..."
};

std::string_view status_name(Outcome::Status status);  // "completed", "crashed", ...

// qemu-system-x86_64 from $PATH, or an error saying how to install it.
Result<std::filesystem::path> find_qemu();

// A boot of `kernel` with an initramfs holding busybox, bpfault (with the shared libraries it
// needs and their loader) and the guest's helpers, started before the caller has the files it
// will run (a suite's builds): the guest's /init waits for them. run() hands them over, runs
// guest_argv (argv[0] "bpfault" is the packed harness) with its stdout streamed to on_line as
// lines arrive (second UART) and its stderr on the console, and returns its exit code
// (isa-debug-exit). A boot that fails before /init runs the command is retried once (a KVM boot
// that shows no life is redone under TCG, not counted as a retry); a VM that dies while the
// command runs (panic, oops, no exit record) is reported as crashed with the console tail, at
// once. Errors are for what prevents a boot: no qemu, no busybox-static, a missing file.
// Destroyed without run(), it stops qemu.
class Boot {
 public:
  static Result<Boot> start(const Kernel& kernel, const Options& opts);
  // The guest has reached /init and waits for its files (until run() takes over).
  bool at_init() const;
  pid_t qemu_pid() const;  // the first boot's qemu, until run() takes over (-1 after)
  // Once per Boot. The watchdog (Options::timeout is vm::run()'s) counts `timeout` from here.
  Result<Outcome> run(const std::vector<File>& files, const std::vector<std::string>& guest_argv,
                      const std::function<void(std::string_view line)>& on_line, std::chrono::seconds timeout);

  Boot(Boot&&) noexcept;
  Boot& operator=(Boot&&) noexcept;
  Boot(const Boot&) = delete;
  ~Boot();

 private:
  struct State;
  explicit Boot(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

// Boot::start, then run() at once with opts.timeout.
Result<Outcome> run(const Kernel& kernel, const std::vector<File>& files, const std::vector<std::string>& guest_argv,
                    const std::function<void(std::string_view line)>& on_line, const Options& opts);

}  // namespace bpfault::vm
