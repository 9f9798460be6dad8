#include "process/interrupt.h"

#include <signal.h>

#include <atomic>

namespace bpfault::process {
namespace {

constexpr int kSlots = 64;  // live children at once: tracees of -j N runs, a qemu, a go build
std::atomic<pid_t> groups[kSlots];

void on_signal(int sig) {
  for (auto& g : groups) {
    pid_t p = g.load();
    if (p > 0) kill(-p, SIGKILL);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a tracee that closes its stdin early must not kill bpfault
}

void track_process_group(pid_t pgid) {
  for (auto& g : groups) {
    pid_t empty = 0;
    if (g.compare_exchange_strong(empty, pgid)) return;
  }
}

void untrack_process_group(pid_t pgid) {
  for (auto& g : groups) {
    pid_t p = pgid;
    if (g.compare_exchange_strong(p, 0)) return;
  }
}

}  // namespace bpfault::process
