#include "process/child.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "process/interrupt.h"

extern char** environ;

namespace bpfault::process {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

std::vector<std::string> make_env(const Command& cmd) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e && !cmd.clean_env; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& k : cmd.unset_env) env.erase(k);
  for (const auto& [k, v] : cmd.env) env[k] = v;
  if (!cmd.env_last.empty()) env.erase(cmd.env_last.substr(0, cmd.env_last.find('=')));
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  if (!cmd.env_last.empty()) out.push_back(cmd.env_last);
  return out;
}

// Reads what is available without blocking; false at EOF.
bool drain(int fd, std::string& into) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EINTR;
  }
}

}  // namespace

std::string Outcome::describe() const {
  if (timed_out) return fmt::format("timed out after {:.0f} ms and was killed", wall_ms);
  if (signal) return fmt::format("killed by signal {} ({})", strsignal(signal), signal);
  return fmt::format("exit {}", exit_code);
}

Result<Child> Child::spawn(const Command& cmd, bool held) {
  if (cmd.argv.empty()) return fail(ErrorKind::internal, "", "empty command");
  int go[2], error[2], in[2], out[2], err[2];
  if (pipe2(go, O_CLOEXEC) || pipe2(error, O_CLOEXEC) || pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) ||
      pipe2(err, O_CLOEXEC))
    return fail(ErrorKind::internal, "", fmt::format("pipe: {}", strerror(errno)));

  // Everything the child needs is prepared before fork: no allocation after it.
  std::vector<std::string> env = make_env(cmd);
  std::vector<char*> envp, argv;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = cmd.argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string cwd = cmd.cwd.string();
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) return fail(ErrorKind::internal, "", fmt::format("fork: {}", strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // bpfault died before prctl took effect
    auto report = [&](int stage) {
      int msg[2] = {stage, errno};
      (void)!write(error[1], msg, sizeof msg);
      _exit(127);
    };
    if (dup2(in[0], 0) < 0 || (!cmd.inherit_output && (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0))) report(0);
    if (!cwd.empty() && chdir(cwd.c_str())) report(1);
    if (cmd.gid && (setgroups(0, nullptr) || setgid(*cmd.gid))) report(2);
    if (cmd.uid && setuid(*cmd.uid)) report(2);
    if (cmd.uid || cmd.gid) {  // a change of credentials clears the parent-death signal: set it again
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);  // bpfault ignores it; an ignored signal would stay ignored across exec
    if (held) {
      char c;
      ssize_t n;
      do n = read(go[0], &c, 1);
      while (n < 0 && errno == EINTR);
      if (n != 1) _exit(127);  // bpfault gave up before releasing us
    }
    if (cmd.at_exec && ptrace(PTRACE_TRACEME, 0, nullptr, nullptr)) report(4);
    execvpe(argv[0], argv.data(), envp.data());
    report(3);
  }

  setpgid(pid, pid);  // also from the parent: no race with the kill of a group that does not exist yet
  track_process_group(pid);
  Child c;
  c.pid_ = pid;
  c.cmd_ = cmd;
  c.go_fd_ = go[1];
  c.error_fd_ = error[0];
  c.in_fd_ = in[1];
  c.out_fd_ = out[0];
  c.err_fd_ = err[0];
  for (int fd : {go[0], error[1], in[0], out[1], err[1]}) close(fd);
  c.pid_fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  c.held_ = held;
  if (!held) {
    auto r = c.release();
    if (!r) return tl::unexpected(r.error());
  }
  return c;
}

Child::Child(Child&& o) noexcept
    : pid_(o.pid_),
      go_fd_(o.go_fd_),
      error_fd_(o.error_fd_),
      in_fd_(o.in_fd_),
      out_fd_(o.out_fd_),
      err_fd_(o.err_fd_),
      pid_fd_(o.pid_fd_),
      cmd_(std::move(o.cmd_)),
      held_(o.held_),
      reaped_(o.reaped_),
      released_ns_(o.released_ns_) {
  o.pid_ = -1;
  o.go_fd_ = o.error_fd_ = o.in_fd_ = o.out_fd_ = o.err_fd_ = o.pid_fd_ = -1;
}

Child::~Child() {
  if (pid_ > 0 && !reaped_) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (pid_ > 0) untrack_process_group(pid_);
  for (int* fd : {&go_fd_, &error_fd_, &in_fd_, &out_fd_, &err_fd_, &pid_fd_}) close_fd(*fd);
}

Result<void> Child::release() {
  char c = 'x';
  released_ns_ = monotonic_ns();
  // An unheld child never reads the pipe (it may have exec'd already): just close our end.
  if (held_ && go_fd_ >= 0 && write(go_fd_, &c, 1) != 1)
    return fail(ErrorKind::internal, cmd_.argv[0], fmt::format("could not release the child: {}", strerror(errno)));
  close_fd(go_fd_);
  int msg[2];
  ssize_t n;
  do n = read(error_fd_, msg, sizeof msg);  // EOF (0) once exec succeeded: the pipe is close-on-exec
  while (n < 0 && errno == EINTR);
  close_fd(error_fd_);
  if (n == sizeof msg) {
    static const char* stage[] = {"redirecting stdio", "changing directory", "switching user", "starting",
                                  "stopping at exec (is bpfault itself traced?)"};
    waitpid(pid_, nullptr, 0);
    reaped_ = true;
    std::string hint = msg[1] == ENOENT ? "check the path, or build the program first" : "";
    return fail(ErrorKind::bad_input, cmd_.argv[0],
                fmt::format("{} failed: {}", stage[std::min(msg[0] & 7, 4)], strerror(msg[1])), hint);
  }
  if (cmd_.at_exec) {  // stopped by the exec (SIGTRAP): before its first instruction
    int st = 0;
    pid_t r;
    do r = waitpid(pid_, &st, 0);
    while (r < 0 && errno == EINTR);
    if (r != pid_ || !WIFSTOPPED(st))
      return fail(ErrorKind::internal, cmd_.argv[0], fmt::format("the program did not stop at exec ({:#x})", st));
    cmd_.at_exec(pid_);
    if (ptrace(PTRACE_DETACH, pid_, nullptr, nullptr))
      return fail(ErrorKind::internal, cmd_.argv[0],
                  fmt::format("could not let the program go on after exec: {}", strerror(errno)));
  }
  return {};
}

bool Child::signal(int sig) const {
  return pid_fd_ >= 0 && syscall(SYS_pidfd_send_signal, pid_fd_, sig, nullptr, 0) == 0;
}

void Child::kill_group() const {
  // reaped_ is wait()'s, in another thread: a group outlives its leader's exit until every
  // member is gone, and wait() kills what is left of it anyway
  if (pid_ > 0) kill(-pid_, SIGKILL);
}

Outcome Child::wait(const std::function<void()>& tick, std::chrono::milliseconds tick_every, int wake_fd) {
  Outcome o;
  const auto start = Clock::now();
  if (!released_ns_) released_ns_ = monotonic_ns();
  auto deadline = cmd_.timeout.count() > 0 ? start + cmd_.timeout : Clock::time_point::max();
  auto next_tick = start + tick_every;
  // What the child's stdin still has to get: Command::stdin_data, then (forward_stdin) what
  // arrives on bpfault's own stdin, read only once the previous piece is written.
  std::string pending = cmd_.stdin_data;
  size_t written = 0;
  bool source_open = cmd_.forward_stdin;
  for (int fd : {in_fd_, out_fd_, err_fd_}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (pending.empty() && !source_open) close_fd(in_fd_);
  bool exited = false;
  while (!exited) {
    auto now = Clock::now();
    if (now >= deadline) {
      if (!o.timed_out && cmd_.quit_grace.count() > 0) {  // ask for the goroutine dump, then keep reading
        o.timed_out = true;
        kill(pid_, SIGQUIT);
        deadline = now + cmd_.quit_grace;
        continue;
      }
      kill(-pid_, SIGKILL);
      o.timed_out = true;
      break;
    }
    auto until = std::min(deadline, tick ? next_tick : deadline);
    int wait_ms = until == Clock::time_point::max()
                      ? -1
                      : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(until - now).count());
    const bool to_write = in_fd_ >= 0 && written < pending.size();
    const bool to_read = in_fd_ >= 0 && !to_write && source_open;
    pollfd fds[6] = {{pid_fd_, POLLIN, 0}, {out_fd_, POLLIN, 0},
                     {err_fd_, POLLIN, 0}, {to_write ? in_fd_ : -1, POLLOUT, 0},
                     {wake_fd, POLLIN, 0}, {to_read ? 0 : -1, POLLIN, 0}};
    int r = poll(fds, 6, wait_ms);
    if (r < 0 && errno != EINTR) break;
    const size_t out_before = o.out.size(), err_before = o.err.size();
    if (fds[1].revents && !drain(out_fd_, o.out)) close_fd(out_fd_);
    if (fds[2].revents && !drain(err_fd_, o.err)) close_fd(err_fd_);
    if (cmd_.on_output && o.out.size() > out_before) cmd_.on_output(1, std::string_view(o.out).substr(out_before));
    if (cmd_.on_output && o.err.size() > err_before) cmd_.on_output(2, std::string_view(o.err).substr(err_before));
    if (fds[3].revents) {
      ssize_t n = write(in_fd_, pending.data() + written, pending.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN) {  // the child closed its stdin: nothing more reaches it
        source_open = false;
        written = pending.size();
      }
    }
    if (fds[5]
            .revents) {  // bpfault's stdin is left blocking (it may be a terminal the shell shares): poll said readable
      char buf[65536];
      ssize_t n = read(0, buf, sizeof buf);
      if (n > 0) pending.assign(buf, static_cast<size_t>(n)), written = 0;
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) source_open = false;
    }
    if (in_fd_ >= 0 && written == pending.size() && !source_open) close_fd(in_fd_);
    if (fds[0].revents) exited = true;
    if (tick && (Clock::now() >= next_tick || fds[4].revents)) {
      tick();
      next_tick = Clock::now() + tick_every;
    }
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  reaped_ = true;
  // from the release (the exec included), so that every hit of the tracee lies within it
  o.released_ns = released_ns_;
  o.wall_ms = static_cast<double>(monotonic_ns() - released_ns_) / 1e6;
  kill(-pid_, SIGKILL);  // stragglers the program left in its group
  if (out_fd_ >= 0) drain(out_fd_, o.out);
  if (err_fd_ >= 0) drain(err_fd_, o.err);
  if (WIFEXITED(status) && !o.timed_out)
    o.exit_code = WEXITSTATUS(status);  // after SIGQUIT Go exits 2: still a timeout
  if (WIFSIGNALED(status) && !o.timed_out) o.signal = WTERMSIG(status);
  if (tick) tick();
  return o;
}

FavouredThread::FavouredThread() : tid_(gettid()) {
  errno = 0;
  nice_ = getpriority(PRIO_PROCESS, static_cast<id_t>(tid_));
  const sched_param normal{};
  raised_ = errno == 0 && sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &normal) == 0 &&
            setpriority(PRIO_PROCESS, static_cast<id_t>(tid_), -20) == 0;
}

FavouredThread::~FavouredThread() {
  if (!raised_) return;
  const sched_param normal{};
  setpriority(PRIO_PROCESS, static_cast<id_t>(tid_), nice_);
  sched_setscheduler(0, SCHED_OTHER, &normal);
}

std::map<std::string, std::string> base_environment() {
  return {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/root"}, {"TMPDIR", "/tmp"}, {"LANG", "C.UTF-8"}};
}

Result<Outcome> run(const Command& cmd) {
  auto child = Child::spawn(cmd, false);
  if (!child) return tl::unexpected(child.error());
  return child->wait();
}

}  // namespace bpfault::process
