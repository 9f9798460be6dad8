#include "process/interrupt.h"

#include <signal.h>

#include <atomic>

namespace bpfault::process {
namespace {

constexpr int kSlots = 64;  // live children at once: tracees of -j N runs, a qemu, a go build
std::atomic<pid_t> groups[kSlots];
std::atomic<bool> forward{false};
std::atomic<int> received{0};

void on_signal(int sig) {
  int before = received.exchange(sig);
  for (auto& g : groups) {
    pid_t p = g.load();
    if (p > 0) kill(-p, forward && !before ? sig : SIGKILL);
  }
  if (forward && !before) return;  // the caller drains and reports; a second signal ends it here
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

void forward_first_interrupt(bool on) { forward = on; }
bool interrupted() { return received.load() != 0; }
int interrupt_signal() { return received.load(); }

}  // namespace bpfault::process
