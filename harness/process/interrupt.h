// SIGINT/SIGTERM/SIGHUP while bpfault runs: kill every live child's process group, then die
// from the same signal. BPF links are file descriptors, so the kernel detaches every probe
// when the process goes; nothing is left attached.
#pragma once

#include <sys/types.h>

namespace bpfault::process {

void install_interrupt_handlers();
void track_process_group(pid_t pgid);
void untrack_process_group(pid_t pgid);

}  // namespace bpfault::process
