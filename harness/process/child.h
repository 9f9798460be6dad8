// A child process bpfault starts: the tracee, or a tool such as `go build`.
// No shell: argv arrays only. The child gets its own process group and dies with bpfault
// (PR_SET_PDEATHSIG), so an interrupted harness never leaves a tracee behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diag/error.h"

namespace bpfault::process {

struct Command {
  std::vector<std::string> argv;           // argv[0] is the program (a path, or found in PATH)
  std::map<std::string, std::string> env;  // added to (or replacing) the inherited environment
  std::vector<std::string> unset_env;      // removed from the inherited environment
  bool clean_env = false;                  // inherit nothing: the environment is `env` alone
  // "NAME=value" placed after every other variable, so that it ends the environment (where the
  // probe finds a plan's new string texts: plan::TraceeStrings); empty: none
  std::string env_last;
  std::filesystem::path cwd;             // empty: inherit
  std::string stdin_data;                // written to the child's stdin, which is then closed
  std::chrono::milliseconds timeout{0};  // 0: none; on expiry the process group is killed
  // > 0: on expiry send SIGQUIT first (a Go program prints every goroutine's stack and exits 2)
  // and kill the group only if it is still there this much later. Outcome::timed_out either way.
  std::chrono::milliseconds quit_grace{0};
  bool inherit_output = false;  // stdout/stderr go where bpfault's go (not captured)
  // After stdin_data, what arrives on bpfault's own stdin is relayed to the child's until EOF
  // (a relay, not a shared fd: the child runs in its own process group, and reading a terminal
  // from there would stop it with SIGTTIN).
  bool forward_stdin = false;
  std::optional<uid_t> uid;  // run as this user (and its group) when set
  std::optional<gid_t> gid;
  // When set, the child stops right after exec, before its first instruction (it asks to be
  // traced): release() runs this with its pid, then lets it go (detaches). For what must be in
  // place before the program runs, such as memory a probe writes (see run/execute.cpp).
  std::function<void(pid_t)> at_exec;
  // Sees what the child writes as it arrives (1: stdout, 2: stderr), in wait()'s thread: a
  // service's readiness by a line of its output.
  std::function<void(int stream, std::string_view chunk)> on_output;
};

struct Outcome {
  int exit_code = -1;        // when it exited
  int signal = 0;            // when a signal ended it
  bool timed_out = false;    // killed by bpfault after Command::timeout
  std::string out, err;      // everything it wrote
  double wall_ms = 0;        // from release to exit
  uint64_t released_ns = 0;  // CLOCK_MONOTONIC at release: bpf_ktime_get_ns's clock (probe hits come after it)

  bool ok() const { return exit_code == 0 && signal == 0 && !timed_out; }
  std::string describe() const;  // "exit 0", "killed by SIGKILL", "timed out after 10000 ms"
};

class Child {
 public:
  // Forks a child that waits just before exec until release(): the caller attaches probes to
  // its pid first, so nothing the program does runs unobserved. With held == false, it execs at once.
  static Result<Child> spawn(const Command& cmd, bool held);

  Child(Child&& other) noexcept;
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  ~Child();  // kills the process group if it still runs

  pid_t pid() const { return pid_; }
  Result<void> release();  // exec now; reports an exec failure (no such file, not executable)
  // Sends `sig` to the program (through its pidfd: never to a recycled pid), from any thread;
  // false when it has already exited.
  bool signal(int sig) const;
  void kill_group() const;  // SIGKILL to its whole process group, from any thread

  // Feeds stdin, collects stdout/stderr and waits for the exit or the timeout. `tick` runs every
  // `tick_every`, at once when `wake_fd` becomes readable, and once after the exit (the probes'
  // ring buffer drain: see kernel/probe_session.h).
  Outcome wait(const std::function<void()>& tick = {},
               std::chrono::milliseconds tick_every = std::chrono::milliseconds(10), int wake_fd = -1);

 private:
  Child() = default;
  pid_t pid_ = -1;
  int go_fd_ = -1, error_fd_ = -1, in_fd_ = -1, out_fd_ = -1, err_fd_ = -1, pid_fd_ = -1;
  Command cmd_;
  bool held_ = false;
  bool reaped_ = false;
  uint64_t released_ns_ = 0;
};

// The calling thread at nice -20 while it lives (where the process may: root, or CAP_SYS_NICE;
// else nothing changes), for the thread that drains a tracee's events: a program keeping every
// CPU busy (in the VM, two vCPUs on one TCG thread) otherwise starves the drain until the ring
// buffer overflows, where the favoured drain slows the program instead. Processes and threads
// it starts meanwhile get the default (SCHED_RESET_ON_FORK).
class FavouredThread {
 public:
  FavouredThread();
  ~FavouredThread();
  FavouredThread(const FavouredThread&) = delete;
  FavouredThread& operator=(const FavouredThread&) = delete;

 private:
  pid_t tid_;
  int nice_ = 0;  // before
  bool raised_ = false;
};

// The environment a scenario's program and its steps start from (README, "Testing a service"),
// under the scenario's own `env`: the same on the host and in the VM, none of bpfault's.
// PATH=/usr/local/bin:/usr/bin:/bin, HOME=/root, TMPDIR=/tmp, LANG=C.UTF-8.
std::map<std::string, std::string> base_environment();

// Runs a command to completion (no probes): `go build`, `go version`.
Result<Outcome> run(const Command& cmd);

}  // namespace bpfault::process
