#include "run/lifecycle.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <regex>

#include <fmt/format.h>

#include "net/http.h"
#include "process/interrupt.h"
#include "run/time_order.h"

namespace bpfault::run {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(20);  // how often readiness is tried

std::chrono::milliseconds scaled(std::chrono::milliseconds ms, double scale) {
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(ms.count()) * scale));
}

// true once the process behind the pidfd has exited, waiting at most `ms`
bool exited(int exit_fd, std::chrono::milliseconds ms) {
  pollfd p{exit_fd, POLLIN, 0};
  return exit_fd >= 0 && poll(&p, 1, static_cast<int>(std::max<int64_t>(ms.count(), 0))) == 1;
}

bool some_line_matches(const std::string& text, const std::string& re) {
  const std::regex pattern(re, std::regex::ECMAScript);
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    if (eol == std::string::npos) break;  // a line counts once it is complete
    if (std::regex_search(text.begin() + static_cast<std::ptrdiff_t>(at),
                          text.begin() + static_cast<std::ptrdiff_t>(eol), pattern))
      return true;
    at = eol + 1;
  }
  return false;
}

std::string step_kind(const scenario::LifecycleStep& step) {
  return step.program ? "program" : step.http ? "http" : "run";
}

std::string seconds(std::chrono::milliseconds ms) {
  return ms.count() % 1000 == 0 ? fmt::format("{} s", ms.count() / 1000) : fmt::format("{} ms", ms.count());
}

}  // namespace

Lifecycle::Lifecycle(const scenario::Scenario& s, const kernel::ProbeSession* session, const Options& o,
                     const Prepared& prepared)
    : s_(s), session_(session), o_(o), prepared_(prepared), scale_(o.timeout_scale) {}

Lifecycle::~Lifecycle() {
  if (thread_.joinable()) thread_.join();
}

void Lifecycle::on_output(int stream, std::string_view chunk) {
  std::lock_guard lock(output_mutex_);
  (stream == 1 ? stdout_ : stderr_).append(chunk);
}

void Lifecycle::start(pid_t pid, const process::Child* child) {
  start_ns_ = monotonic_ns();
  thread_ = std::thread([this, pid, child] { drive(pid, child); });
}

void Lifecycle::join() {
  if (thread_.joinable()) thread_.join();
}

std::string Lifecycle::stderr_tail() {
  std::lock_guard lock(output_mutex_);
  constexpr size_t kLines = 5;
  size_t pos = stderr_.size(), lines = 0;
  while (pos > 0 && lines <= kLines) {
    size_t nl = stderr_.rfind('\n', pos - 1);
    if (nl == std::string::npos) return stderr_.empty() ? "(none)" : stderr_;
    if (nl + 1 < stderr_.size()) ++lines;
    if (lines > kLines) return stderr_.substr(nl + 1);
    pos = nl;
  }
  return stderr_.empty() ? "(none)" : stderr_;
}

void Lifecycle::drive(pid_t pid, const process::Child* child) {
  const int exit_fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  service_.grace_ms = child ? static_cast<uint64_t>(scaled(s_.target.stop->grace, scale_).count()) : 0;
  if (wait_ready(exit_fd)) {
    for (const auto& step : s_.steps) {
      const bool ended = exited(exit_fd, std::chrono::milliseconds(0));
      if (ended || process::interrupted()) {  // (a started target is stopped by the interrupt: it ended)
        record::StepResult not_run;
        not_run.name = step.name;
        not_run.kind = step_kind(step);
        not_run.error =
            ended ? "not run: the target ended before this step" : "not run: bpfault was interrupted before this step";
        steps_.push_back(std::move(not_run));
        continue;
      }
      steps_.push_back(run_step(step));
    }
  }
  stop(child, exit_fd);
  if (exit_fd >= 0) close(exit_fd);
  done_ = true;
}

bool Lifecycle::wait_ready(int exit_fd) {
  if (!s_.target.ready) {
    service_.ready_ms = 0;
    return true;
  }
  const scenario::Ready& r = *s_.target.ready;
  service_.awaited = r.describe();
  const auto timeout = scaled(r.timeout, scale_);
  const auto deadline = Clock::now() + timeout;
  std::string last;  // what the last try found
  auto ready = [&] {
    if (!r.tcp.empty()) {
      auto c = net::connect_tcp(r.tcp, std::chrono::milliseconds(200));
      if (!c) last = c.error().what;
      return c.has_value();
    }
    if (!r.unix_socket.empty()) {
      auto c = net::connect_unix(r.unix_socket);
      if (!c) last = c.error().what;
      return c.has_value();
    }
    if (!r.http.empty()) {
      net::HttpRequest req;
      req.url = r.http;
      req.timeout = std::chrono::milliseconds(1000);
      auto a = net::request(req);
      if (!a)
        last = a.error().what;
      else if (a->status != r.http_status)
        last = fmt::format("it answered {}", a->status);
      return a && a->status == r.http_status;
    }
    if (!r.hit.empty()) {
      for (size_t i = 0; i < s_.probes.size(); ++i)
        if (s_.probes[i].function == r.hit && session_ && session_->probe_calls(static_cast<uint32_t>(i)) > 0)
          return true;
      return false;
    }
    std::lock_guard lock(output_mutex_);
    return r.stdout_matches.empty() ? some_line_matches(stderr_, r.stderr_matches)
                                    : some_line_matches(stdout_, r.stdout_matches);
  };
  auto not_ready = [&](const std::string& why) {
    service_.not_ready = fmt::format("{}; last lines of stderr:\n{}", why, stderr_tail());
    return false;
  };
  for (;;) {
    if (ready()) {
      service_.ready_ms = static_cast<double>(monotonic_ns() - start_ns_) / 1e6;
      return true;
    }
    if (exited(exit_fd, kPoll))
      return not_ready(fmt::format("the target ended before it was ready (awaited {})", service_.awaited));
    if (process::interrupted())
      return not_ready(
          fmt::format("bpfault was interrupted before the target was ready (awaited {})", service_.awaited));
    if (Clock::now() >= deadline) {
      std::string what = !r.tcp.empty()              ? fmt::format("nothing accepted a TCP connection on {}", r.tcp)
                         : !r.unix_socket.empty()    ? fmt::format("nothing accepted a connection on {}", r.unix_socket)
                         : !r.http.empty()           ? fmt::format("GET {} did not answer {}", r.http, r.http_status)
                         : !r.hit.empty()            ? fmt::format("{} was not called", r.hit)
                         : !r.stdout_matches.empty() ? fmt::format("no line of stdout matched /{}/", r.stdout_matches)
                                                     : fmt::format("no line of stderr matched /{}/", r.stderr_matches);
      return not_ready(fmt::format("not ready after {}: {}{}", seconds(timeout), what,
                                   last.empty() ? "" : fmt::format(" ({})", last)));
    }
  }
}

void Lifecycle::arm(const std::string& step, bool on, std::vector<std::string>* armed) {
  for (size_t i = 0; i < s_.probes.size(); ++i) {
    const auto& during = s_.probes[i].during;
    if (std::ranges::find(during, step) == during.end() || !session_) continue;
    if (auto a = session_->set_armed(static_cast<uint32_t>(i), on); !a && armed)
      armed->push_back(fmt::format("{} (arming failed: {})", s_.probes[i].function, a.error().what));
    else if (armed)
      armed->push_back(s_.probes[i].function);
  }
}

record::StepResult Lifecycle::run_step(const scenario::LifecycleStep& step) {
  record::StepResult out;
  out.name = step.name;
  out.kind = step_kind(step);
  std::vector<uint64_t> calls_before;
  for (size_t i = 0; i < s_.probes.size(); ++i)
    calls_before.push_back(session_ ? session_->probe_calls(static_cast<uint32_t>(i)) : 0);
  arm(step.name, true, &out.armed);
  out.started_ns = monotonic_ns();
  const fs::path folder = fs::absolute(s_.file).parent_path();
  const auto timeout = scaled(step.timeout, scale_);
  if (step.http) {
    net::HttpRequest req;
    req.method = step.http->method;
    req.url = step.http->url;
    req.headers = step.http->headers;
    req.body = step.http->body;
    req.timeout = timeout;
    if (auto a = net::request(req)) {
      out.status = a->status;
      out.body = std::move(a->body);
    } else {
      out.error = a.error().what;
    }
  } else if (step.program) {
    // Its own run under bpfault, checked as a scenario is (check/ lifts its verdicts into the
    // step's); it was prepared with the scenario. What belongs to the main program's run (the
    // live hits of `trace`, its output, an attachment's duration) is not the step's.
    const size_t index = static_cast<size_t>(&step - s_.steps.data());
    Options own = o_;
    own.on_hit = nullptr;
    own.inherit_output = false;
    own.attach_for = {};
    own.attach_for_text.clear();
    const bool prepared = index < prepared_.programs.size() && prepared_.programs[index];
    out.program = std::make_shared<record::RunRecord>(prepared ? execute(*step.program, *prepared_.programs[index], own)
                                                               : execute(*step.program, own));
    out.exit_code = out.program->exit_code;
    out.signal = out.program->signal;
    out.timed_out = out.program->timed_out;
  } else {
    process::Command cmd;
    cmd.argv = step.run;
    // a path names a file beside the scenario; a bare name is looked up in PATH
    if (cmd.argv[0].find('/') != std::string::npos && fs::path(cmd.argv[0]).is_relative())
      cmd.argv[0] = (folder / cmd.argv[0]).lexically_normal().string();
    cmd.cwd = folder;
    cmd.clean_env = true;  // as the target's: the base, then the step's own
    cmd.env = process::base_environment();
    for (const auto& [k, v] : step.env) cmd.env[k] = v;
    cmd.stdin_data = step.stdin_data;
    cmd.timeout = timeout;
    if (auto o = process::run(cmd)) {
      if (o->exit_code >= 0) out.exit_code = o->exit_code;
      if (o->signal) out.signal = o->signal;
      out.timed_out = o->timed_out;
      out.stdout_text = std::move(o->out);
      out.stderr_text = std::move(o->err);
    } else {
      out.error = o.error().what;
    }
  }
  out.ended_ns = monotonic_ns();
  arm(step.name, false, nullptr);
  out.ms = static_cast<double>(out.ended_ns - out.started_ns) / 1e6;
  for (size_t i = 0; i < s_.probes.size(); ++i)
    out.calls[s_.probes[i].function] +=
        (session_ ? session_->probe_calls(static_cast<uint32_t>(i)) : 0) - calls_before[i];
  return out;
}

void Lifecycle::stop(const process::Child* child, int exit_fd) {
  if (!child) return;  // a process bpfault attached to runs on after bpfault detaches
  const scenario::Stop& st = *s_.target.stop;
  if (exited(exit_fd, std::chrono::milliseconds(0))) return;  // it ended on its own: expect judges how
  const auto sent = Clock::now();
  if (!child->signal(st.signal)) return;
  service_.stop_signal = scenario::signal_name(st.signal);
  if (!exited(exit_fd, std::chrono::milliseconds(service_.grace_ms))) {
    service_.killed = true;
    child->kill_group();
    exited(exit_fd, std::chrono::milliseconds(5000));
  }
  service_.stop_ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
}

void Lifecycle::finish(record::RunRecord& r) {
  if (thread_.joinable()) thread_.join();
  r.service = service_;
  r.steps = steps_;
  for (auto& p : r.probes)
    for (auto& h : p.hits)
      for (const auto& st : r.steps)
        if (st.started_ns && h.time_ns >= st.started_ns && h.time_ns <= st.ended_ns) h.step = st.name;
}

}  // namespace bpfault::run
