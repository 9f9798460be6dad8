#include "process/interrupt.h"

#include <signal.h>

#include <atomic>

namespace bpfault::process {
namespace {

constexpr int kSlots = 64;  // live children at once: tracees of -j N runs, a qemu, a go build
std::atomic<pid_t> groups[kSlots];
std::atomic<OnInterrupt> mode{OnInterrupt::die};
std::atomic<int> received{0};
std::atomic<bool> deadline{false};

void on_signal(int sig) {
  const int before = received.exchange(sig);
  const OnInterrupt m = before ? OnInterrupt::die : mode.load();
  for (auto& g : groups) {
    pid_t p = g.load();
    if (p > 0) kill(-p, m == OnInterrupt::forward ? sig : SIGKILL);
  }
  if (m != OnInterrupt::die) return;  // the caller drains and reports
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

void on_interrupt(OnInterrupt what) { mode = what; }

void track_process_group(pid_t pgid) {
  for (auto& g : groups) {
    pid_t empty = 0;
    if (g.compare_exchange_strong(empty, pgid)) break;
  }
  // A child that got its group after the interrupt was delivered: stop it like the others.
  if ((received.load() && mode.load() == OnInterrupt::stop) || deadline.load()) kill(-pgid, SIGKILL);
}

void untrack_process_group(pid_t pgid) {
  for (auto& g : groups) {
    pid_t p = pgid;
    if (g.compare_exchange_strong(p, 0)) return;
  }
}

void stop_at_deadline() {
  deadline = true;
  for (auto& g : groups) {
    pid_t p = g.load();
    if (p > 0) kill(-p, SIGKILL);
  }
}
bool deadline_passed() { return deadline.load(); }

bool interrupted() { return received.load() != 0 || deadline.load(); }
int interrupt_signal() { return received.load(); }

}  // namespace bpfault::process
