// SIGINT/SIGTERM/SIGHUP while bpfault runs: kill every live child's process group, then die
// from the same signal. BPF links are file descriptors, so the kernel detaches every probe
// when the process goes; nothing is left attached.
// `bpfault trace` instead forwards the first Ctrl-C to the tracee's group and goes on
// draining until it exits, so it can print its summary; a second Ctrl-C kills as above.
#pragma once

#include <sys/types.h>

namespace bpfault::process {

void install_interrupt_handlers();
void track_process_group(pid_t pgid);
void untrack_process_group(pid_t pgid);

void forward_first_interrupt(bool on);  // the trace behaviour above
bool interrupted();                      // a forwarded interrupt arrived
int interrupt_signal();                  // which one (SIGINT, SIGTERM, SIGHUP), 0 when none

}  // namespace bpfault::process
