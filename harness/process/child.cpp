#include "process/child.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "process/interrupt.h"

extern char** environ;

namespace bpfault::process {
namespace {

using Clock = std::chrono::steady_clock;

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

std::vector<std::string> make_env(const Command& cmd) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& k : cmd.unset_env) env.erase(k);
  for (const auto& [k, v] : cmd.env) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
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
    signal(SIGPIPE, SIG_DFL);  // bpfault ignores it; an ignored signal would stay ignored across exec
    if (held) {
      char c;
      ssize_t n;
      do n = read(go[0], &c, 1);
      while (n < 0 && errno == EINTR);
      if (n != 1) _exit(127);  // bpfault gave up before releasing us
    }
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
    : pid_(o.pid_), go_fd_(o.go_fd_), error_fd_(o.error_fd_), in_fd_(o.in_fd_), out_fd_(o.out_fd_),
      err_fd_(o.err_fd_), pid_fd_(o.pid_fd_), cmd_(std::move(o.cmd_)), held_(o.held_), reaped_(o.reaped_) {
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
    static const char* stage[] = {"redirecting stdio", "changing directory", "switching user", "starting"};
    waitpid(pid_, nullptr, 0);
    reaped_ = true;
    std::string hint = msg[1] == ENOENT ? "check the path, or build the program first" : "";
    return fail(ErrorKind::bad_input, cmd_.argv[0], fmt::format("{} failed: {}", stage[msg[0] & 3], strerror(msg[1])), hint);
  }
  return {};
}

Outcome Child::wait(const std::function<void()>& tick, std::chrono::milliseconds tick_every, int wake_fd) {
  Outcome o;
  const auto start = Clock::now();
  auto deadline = cmd_.timeout.count() > 0 ? start + cmd_.timeout : Clock::time_point::max();
  auto next_tick = start + tick_every;
  size_t written = 0;
  for (int fd : {in_fd_, out_fd_, err_fd_}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (cmd_.stdin_data.empty()) close_fd(in_fd_);
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
    pollfd fds[5] = {{pid_fd_, POLLIN, 0}, {out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}, {in_fd_, POLLOUT, 0}, {wake_fd, POLLIN, 0}};
    int r = poll(fds, 5, wait_ms);
    if (r < 0 && errno != EINTR) break;
    if (fds[1].revents && !drain(out_fd_, o.out)) close_fd(out_fd_);
    if (fds[2].revents && !drain(err_fd_, o.err)) close_fd(err_fd_);
    if (fds[3].revents) {
      ssize_t n = write(in_fd_, cmd_.stdin_data.data() + written, cmd_.stdin_data.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN) written = cmd_.stdin_data.size();
      if (written == cmd_.stdin_data.size()) close_fd(in_fd_);
    }
    if (fds[0].revents) exited = true;
    if (tick && (Clock::now() >= next_tick || fds[4].revents)) {
      tick();
      next_tick = Clock::now() + tick_every;
    }
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  reaped_ = true;
  o.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  kill(-pid_, SIGKILL);  // stragglers the program left in its group
  if (out_fd_ >= 0) drain(out_fd_, o.out);
  if (err_fd_ >= 0) drain(err_fd_, o.err);
  if (WIFEXITED(status) && !o.timed_out) o.exit_code = WEXITSTATUS(status);  // after SIGQUIT Go exits 2: still a timeout
  if (WIFSIGNALED(status) && !o.timed_out) o.signal = WTERMSIG(status);
  if (tick) tick();
  return o;
}

Result<void> watch(pid_t pid, const std::function<void()>& tick, std::chrono::milliseconds tick_every) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0)
    return fail(ErrorKind::bad_input, fmt::format("pid {}", pid), fmt::format("cannot watch the process: {}", strerror(errno)),
                "is it running? (ps -p PID)");
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(tick_every.count()));
    tick();
    if (r > 0 || interrupted()) break;
  }
  close(fd);
  return {};
}

Result<Outcome> run(const Command& cmd) {
  auto child = Child::spawn(cmd, false);
  if (!child) return tl::unexpected(child.error());
  return child->wait();
}

}  // namespace bpfault::process
