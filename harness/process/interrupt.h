// SIGINT, SIGTERM and SIGHUP while bpfault runs, all three alike. What the first one does
// depends on the command (on_interrupt); a second one always kills every live child's process
// group and dies of it. BPF links are file descriptors, so the kernel detaches every probe when
// the process goes; nothing is left attached.
#pragma once

#include <sys/types.h>

namespace bpfault::process {

enum class OnInterrupt {
  die,      // kill every live child's group (tracees, go build, qemu), then die of the signal
  stop,     // `bpfault run`: kill every live child's group at once (SIGKILL: a goroutine dump is
            // for timeouts, not for a user who asked to stop) and return; the caller starts
            // nothing new, writes the reports of what finished and exits 128 + signal
  forward,  // `bpfault trace`: forward the signal to the tracee's group and keep draining until
            // it exits, to print the summary
};

void install_interrupt_handlers();  // with OnInterrupt::die
void on_interrupt(OnInterrupt what);
void track_process_group(pid_t pgid);
void untrack_process_group(pid_t pgid);

// The whole run's time is up (`bpfault run --timeout`): stop as on an interrupt with
// OnInterrupt::stop (every live child's group killed at once, and interrupted() is true, so
// nothing new starts), but without a signal: interrupt_signal() stays 0.
void stop_at_deadline();
bool deadline_passed();

bool interrupted();      // an interrupt arrived (and was not fatal), or the deadline passed
int interrupt_signal();  // which one (SIGINT, SIGTERM, SIGHUP), 0 when none

}  // namespace bpfault::process
