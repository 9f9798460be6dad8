#include "run/execute.h"

#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "check/check.h"
#include "kernel/caps.h"
#include "process/child.h"
#include "process/interrupt.h"
#include "run/collect.h"
#include "run/lifecycle.h"
#include "target/go_test.h"

namespace bpfault::run {
namespace fs = std::filesystem;

using record::RunRecord;
using record::Status;

namespace {

using Clock = std::chrono::steady_clock;

// "nobody", "65534" or "65534:65534" -> uid and gid (a name's primary group). Without a passwd
// entry (the VM has no /etc/passwd) "nobody" is the kernel's overflow id, 65534.
Result<std::pair<uid_t, gid_t>> user_ids(const std::string& user, const std::string& where) {
  if (!user.empty() && std::isdigit(static_cast<unsigned char>(user[0]))) {
    uint32_t uid = 0, gid = 0;
    const char *p = user.data(), *end = user.data() + user.size();
    auto [after_uid, e1] = std::from_chars(p, end, uid);
    gid = uid;
    bool ok = e1 == std::errc() && (after_uid == end || *after_uid == ':');
    if (ok && after_uid != end) {
      auto [after_gid, e2] = std::from_chars(after_uid + 1, end, gid);
      ok = e2 == std::errc() && after_gid == end;
    }
    if (!ok)
      return fail(ErrorKind::bad_input, where, fmt::format("\"{}\" is not a user name, a uid or uid:gid", user),
                  "e.g. nobody, or 65534:65534");
    return std::pair{uid_t{uid}, gid_t{gid}};
  }
  passwd pw{}, *found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) == 0 && found)
    return std::pair{pw.pw_uid, pw.pw_gid};
  if (user == "nobody") return std::pair{uid_t{65534}, gid_t{65534}};
  return fail(ErrorKind::bad_input, where, fmt::format("no user \"{}\" on this machine", user),
              "name a user of /etc/passwd (such as nobody), or give uid:gid");
}

std::string kernel_release() {
  utsname u{};
  uname(&u);
  return u.release;
}

// What the executable of running process `pid` is named: /proc/PID/exe's target. bpfault
// analyses and probes /proc/PID/exe itself, the file the process runs even when its name was
// since replaced or deleted (a deploy).
Result<std::string> running_executable(int pid) {
  const std::string where = fmt::format("pid {}", pid);
  if (kill(pid, 0) != 0 && errno == ESRCH)
    return fail(ErrorKind::bad_input, where, "no such process",
                "give the pid of a Go program that is running: `pgrep -f NAME` finds it, `ps -p PID` shows it");
  std::error_code ec;
  const fs::path exe = fs::read_symlink(fmt::format("/proc/{}/exe", pid), ec);
  if (ec == std::errc::no_such_file_or_directory)
    return fail(ErrorKind::bad_input, where, "it has no executable: a kernel thread, or a process that is exiting",
                "give the pid of a Go program that is running");
  if (ec)
    return fail(ErrorKind::environment, where, fmt::format("cannot read /proc/{}/exe: {}", pid, ec.message()),
                "run bpfault as root: another user's process needs CAP_SYS_PTRACE, the probes CAP_BPF and CAP_PERFMON");
  return exe.string();
}

// (device, inode) of the file behind `path`; {0, 0} when it cannot be read.
std::pair<uint64_t, uint64_t> file_id(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return {0, 0};
  return {st.st_dev, st.st_ino};
}

// Memory past the binary's last writable section that a probe writes (an injected panic's
// value): the kernel maps it untouched, and BPF's writes cannot fault a page in. Writing its own
// zeros there from here makes it present: at exec for a program bpfault starts, before the
// attach for a running one (the program never uses that memory, so it may run meanwhile).
std::vector<std::pair<uint64_t, size_t>> unmapped_writes(const plan::Plan& plan) {
  std::vector<std::pair<uint64_t, size_t>> tail;
  for (const auto& pp : plan.probes)
    for (const auto& st : pp.steps)
      for (const auto& w : st.call)
        if (w.write.kind == W_AT) tail.emplace_back(w.write.addr, w.write.len);
  return tail;
}

void page_in(pid_t pid, const std::vector<std::pair<uint64_t, size_t>>& tail) {
  static const char zeros[PROBE_BYTES] = {};
  for (auto [addr, len] : tail) {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): an address in the tracee, not in bpfault
    iovec local{const_cast<char*>(zeros), len}, remote{reinterpret_cast<void*>(addr), len};
    (void)process_vm_writev(pid, &local, 1, &remote, 1, 0);  // a failure shows as the write's EFAULT
  }
}

// A scenario that attaches (target.pid): its probes on process `s.target.pid`, which bpfault
// neither starts nor stops, until the steps are done and `o.attach_for` has passed (without
// either: until an interrupt), an interrupt, or the process's exit. Fills `r` but its checks.
std::optional<Error> run_attached(const scenario::Scenario& s, const Prepared& prepared,
                                  std::optional<kernel::ProbeSession>& session, const Options& o, RunRecord& r) {
  const plan::Plan& plan = prepared.plan;
  const int pid = s.target.pid;
  // held for the whole run: the process's exit, and never a later process given the same pid
  const int pid_fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pid_fd < 0)
    return Error{ErrorKind::bad_input, fmt::format("pid {}", pid), "the process ended before bpfault attached", "", {}};
  auto exe = running_executable(pid);
  if (exe && file_id(fmt::format("/proc/{}/exe", pid)) != prepared.running_file)
    exe = fail(ErrorKind::bad_input, fmt::format("pid {}", pid),
               "it runs another executable than the one bpfault analysed a moment ago (it was restarted, or the pid "
               "was given to another process)",
               "run bpfault again with the pid it has now");
  if (!exe) {
    close(pid_fd);
    return exe.error();
  }
  record::Attached a;
  a.pid = pid;
  a.executable = *exe;
  const std::string for_text = fmt::format("--for {}", o.attach_for_text);
  const std::string waits = s.steps.empty() ? "readiness" : "the steps";
  a.until = s.serves() ? (o.attach_for.count() ? waits + " and " + for_text : waits)
                       : (o.attach_for.count() ? for_text : std::string(record::kUntilInterrupt));
  page_in(pid, unmapped_writes(plan));
  if (session)
    if (auto at = session->attach(pid); !at) {
      close(pid_fd);
      return at.error();
    }
  const auto attached = Clock::now();
  r.started_ns = monotonic_ns();  // the zero of the reports' timelines
  // the probes are in place: what the user does from now on is seen
  if (o.progress)
    o.progress(fmt::format("attached to pid {} ({}){}", pid, a.executable,
                           a.until == record::kUntilInterrupt ? ": Ctrl-C detaches" : " until " + a.until));
  std::optional<Lifecycle> lifecycle;  // ready and steps; no stop
  if (s.serves()) {
    lifecycle.emplace(s, session ? &*session : nullptr, o, prepared);
    lifecycle->start(pid, nullptr);
  }
  Collector collector(plan, r, o.on_hit);
  Delays delays(pid);
  auto drain = [&] {
    if (!session) return;
    const uint64_t drained_ns = monotonic_ns();  // before the drain (time_order.h)
    for (uint32_t ms : collector.take(session->drain(), drained_ns)) delays.add(ms);
    delays.tick();
  };
  const bool bounded = lifecycle || o.attach_for.count();
  std::optional<process::FavouredThread> drain_first;  // the drain keeps up with a busy tracee
  if (session) drain_first.emplace();
  for (;;) {
    pollfd fds[2] = {{pid_fd, POLLIN, 0}, {session ? session->wake_fd() : -1, POLLIN, 0}};
    const int ready = poll(fds, 2, 10);
    drain();
    if (ready > 0 && fds[0].revents) {
      a.exited = true;
      a.ended = "the process exited";
      break;
    }
    if (process::interrupted()) {
      a.ended = process::interrupt_signal() ? fmt::format("SIG{}", sigabbrev_np(process::interrupt_signal()))
                                            : "the whole run's --timeout";
      break;
    }
    const bool for_over = Clock::now() - attached >= o.attach_for;
    if (bounded && (!lifecycle || lifecycle->done()) && for_over) {
      const std::string waited = s.steps.empty() ? "it was ready (or not in time)" : "the steps were done";
      a.ended = !lifecycle             ? for_text + " passed"
                : o.attach_for.count() ? fmt::format("{} and {} passed", waited, for_text)
                                       : waited;
      break;
    }
  }
  if (lifecycle) lifecycle->join();  // a step under way ends first (its own timeout bounds it)
  drain();
  drain_first.reset();
  delays.resume_all();
  if (session) collector.finish(*session);
  if (lifecycle) lifecycle->finish(r);
  session.reset();  // detached: the process runs on
  a.ms = std::chrono::duration<double, std::milli>(Clock::now() - attached).count();
  r.tracee_ms = a.ms;
  r.attached = std::move(a);
  close(pid_fd);
  return std::nullopt;
}

}  // namespace

std::vector<std::string> packages_to_build_without_inlining(const scenario::Scenario& s,
                                                            const binary::BinaryInfo& info) {
  std::vector<std::string> pkgs;
  if (!s.target.builds()) return pkgs;  // a prebuilt binary is refused with the flag instead
  // A probe that counts or records at the inlined copies needs it only when a copy cannot be
  // counted exactly or its DWARF does not place a recorded name at its mark (else the program is
  // probed as it was built); any other probe, when the function has no out-of-line copy. A
  // stripped build is not rebuilt for a record: it has no names to record (refused, as before).
  auto needs_rebuild = [&info](const scenario::Probe& p, const binary::Function& f) {
    if (plan::at_inlined_copies(p, f)) {
      if (!p.record.empty() && !info.has_dwarf) return false;
      return !plan::every_copy_gives(p, f);
    }
    return f.entry == 0 && !f.inlined_at.empty();
  };
  for (const auto& p : s.probes)
    if (const binary::Function* f = info.find(p.function); f && needs_rebuild(p, *f))
      if (std::string pkg = binary::go_package(f->name); std::ranges::find(pkgs, pkg) == pkgs.end())
        pkgs.push_back(std::move(pkg));
  std::ranges::sort(pkgs);
  return pkgs;
}

namespace {

// A program step's program is built, analysed and planned with its scenario, so that a step
// never fails to build halfway through a run; the scenario needs what any of its programs needs.
std::optional<Error> prepare_programs(const scenario::Scenario& s, const Options& o, Prepared& p) {
  p.programs.resize(s.steps.size());
  for (size_t i = 0; i < s.steps.size(); ++i) {
    if (!s.steps[i].program) continue;
    auto program = std::make_shared<const Preparation>(prepare(*s.steps[i].program, o));
    if (!*program) return (*program).error().error;
    for (plan::Cap c : (*program)->plan.needs)
      if (std::ranges::find(p.plan.needs, c) == p.plan.needs.end()) p.plan.needs.push_back(c);
    p.programs[i] = std::move(program);
  }
  return std::nullopt;
}

}  // namespace

Preparation prepare(const scenario::Scenario& s, const Options& o) {
  const auto start = Clock::now();
  if (!s.probes.empty()) {
    kernel::ProbeSession::warm_attach();      // the attach's lock, warm when it comes
    kernel::ProbeSession::make_ring_ahead();  // before the preload, which waits for it
  }
  // Probes that only observe load uprobe_observe whatever the analysis finds: loading it now
  // overlaps the analysis (the first such scenario of the process borrows it).
  const bool observes = !s.probes.empty() && std::none_of(s.probes.begin(), s.probes.end(),
                                                          [](const scenario::Probe& p) { return p.injects(); });
  if (observes)
    kernel::ProbeSession::preload(plan::Program::observe, kernel::capabilities().has(kernel::Cap::uprobe_multi));
  Unprepared stopped;
  auto stop = [&](Error e) {
    stopped.error = std::move(e);
    stopped.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return tl::unexpected(std::move(stopped));
  };
  if (s.target.attaches()) {  // a running process: its executable, analysed as it is (nothing is built)
    auto exe = running_executable(s.target.pid);
    if (!exe) return stop(exe.error());
    stopped.binary = *exe;
    target::ResolvedTarget running{fmt::format("/proc/{}/exe", s.target.pid), ""};
    auto info = binary::analyse(running.binary, binary::Detail::full, plan::functions_named(s));
    if (!info) {
      Error e = info.error();
      e.what = fmt::format("pid {} runs {}, which bpfault cannot probe: {}", s.target.pid, *exe, e.what);
      e.where = fmt::format("pid {}", s.target.pid);
      if (e.hint.empty()) e.hint = "attach to a Go program (`bpfault list /proc/PID/exe` shows what bpfault sees)";
      return stop(e);
    }
    stopped.go_version = (*info)->go_version;
    auto plan = plan::make_plan(s, *info);
    std::optional<StdlibDonor> donor;
    if (!plan && !(*info)->has_dwarf) {  // as below: a stripped binary's standard-library signatures
      auto with = add_stdlib_signatures(*info, o);
      info = with.info;
      donor = with.donor;
      plan = plan::make_plan(s, *info);
    }
    if (!plan) return stop(plan.error());
    Prepared attaching{std::move(running),
                       std::move(*info),
                       std::move(*plan),
                       {},
                       0,
                       std::move(donor),
                       file_id(fmt::format("/proc/{}/exe", s.target.pid)),
                       {}};
    if (auto e = prepare_programs(s, o, attaching)) return stop(std::move(*e));
    attaching.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return attaching;
  }
  auto target = target::resolve(s, o);
  if (!target) return stop(target.error());
  stopped.binary = target->binary.string();
  auto info = binary::analyse(target->binary, binary::Detail::full, plan::functions_named(s));
  if (!info) {
    Error e = info.error();
    if (!s.target.binary.empty() &&
        e.kind == ErrorKind::bad_input) {  // the scenario chose this file: point at the choice
      e.what = fmt::format("{}: {}", e.where, e.what);
      e.where = s.file.string() + ":/target/binary";
    }
    return stop(e);
  }
  stopped.go_version = (*info)->go_version;
  std::vector<std::string> no_inline = packages_to_build_without_inlining(s, **info);
  if (!no_inline.empty()) {
    target = target::resolve(s, o, no_inline);
    if (!target) return stop(target.error());
    stopped.binary = target->binary.string();
    info = binary::analyse(target->binary, binary::Detail::full, plan::functions_named(s));
    if (!info) return stop(info.error());
  }
  auto plan = plan::make_plan(s, *info);
  std::optional<StdlibDonor> donor;
  if (!plan && !(*info)->has_dwarf) {
    // A plan that needs a signature the stripped binary lacks: standard-library functions can
    // have theirs from the same toolchain's DWARF (built once, cached), then it is planned again.
    auto with = add_stdlib_signatures(*info, o);
    info = with.info;
    donor = with.donor;
    plan = plan::make_plan(s, *info);
  }
  if (!plan) return stop(plan.error());
  Prepared launching{
      std::move(*target), std::move(*info), std::move(*plan), std::move(no_inline), 0, std::move(donor), {}, {}};
  if (auto e = prepare_programs(s, o, launching)) return stop(std::move(*e));
  launching.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return launching;
}

std::optional<plan::Cap> missing_capability(const plan::Plan& plan, const kernel::Capabilities& caps) {
  for (plan::Cap c : plan.needs)
    if (!caps.has(c)) return c;
  return std::nullopt;
}

RunRecord execute(const scenario::Scenario& s, const Options& o) { return execute(s, prepare(s, o), o); }

RunRecord execute(const scenario::Scenario& s, const Preparation& prepared, const Options& o) {
  const auto start = Clock::now();
  const double prepare_ms = prepared ? prepared->ms : prepared.error().ms;
  RunRecord r;
  r.file = s.file.string();
  r.name = s.name;
  r.kernel = kernel_release();
  auto finish = [&](Error e) {
    r.status = e.kind == ErrorKind::unsupported ? Status::skipped : Status::error;
    r.error = std::move(e);
    r.duration_ms = prepare_ms + std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return r;
  };
  if (!prepared) {
    r.binary = prepared.error().binary;
    r.go_version = prepared.error().go_version;
    return finish(prepared.error().error);
  }
  const target::ResolvedTarget* program = &prepared->target;
  const binary::BinaryInfo* info = prepared->binary.get();
  const plan::Plan* plan = &prepared->plan;
  r.binary = program->binary.string();
  if (s.target.attaches())
    if (auto exe = running_executable(s.target.pid)) r.binary = *exe;
  r.go_version = info->go_version;
  r.inlining_off = prepared->no_inline;
  if (s.target.attaches() && !plan->strings.value.empty())
    return finish(Error{ErrorKind::bad_input,
                        s.file.string() + ":/target/pid",
                        "new text for a string is given to a program in its environment (BPFAULT_STRINGS) when "
                        "bpfault starts it; a running process has none",
                        "{\"bytes\": \"...\"} writes up to 32 bytes into the string's own memory; or let bpfault "
                        "start the program (target.binary)",
                        {}});

  const kernel::Capabilities& caps = kernel::capabilities();
  if (auto missing = missing_capability(*plan, caps)) {
    const auto& c = caps.get(*missing);
    return finish(
        Error{ErrorKind::unsupported,
              "",
              fmt::format("needs {}, which this kernel ({}) refuses: {}", c.name, caps.kernel_release, c.reason),
              *missing == kernel::Cap::uprobe
                  ? "run as root (or with CAP_BPF and CAP_PERFMON); `bpfault caps` shows what the kernel allows"
              : s.target.attaches()
                  ? "a process running here cannot be attached to from a VM: it needs a kernel that has it (`bpfault "
                    "caps` shows what this one allows)"
                  : "`bpfault run --vm=always` runs it in a VM whose kernel has it; `bpfault caps` shows what this one "
                    "allows",
              {}});
  }

  RunRecord::Phases phases{.prepare_ms = prepare_ms, .analysis_kept = info->kept};
  auto since = [](Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); };
  const auto loading = Clock::now();
  std::optional<kernel::ProbeSession> session;
  if (!plan->sites.empty()) {
    kernel::SessionConfig config;
    config.binary = program->binary;
    config.sites = plan->sites;
    for (const auto& pp : plan->probes) {
      config.rules.push_back(pp.rule);
      // a fault for some steps only: off from the start, armed by the lifecycle in those steps
      if (!pp.probe->during.empty()) config.rules.back().disarmed = 1;
    }
    config.goid_offset = info->goid_offset;
    config.stack_hi_offset = info->stack_hi_offset;
    config.ptr_size = static_cast<uint32_t>(info->ptr_size());
    config.seed = o.seed ? o.seed : s.seed;
    config.uprobe_multi = caps.has(kernel::Cap::uprobe_multi);
    auto loaded = kernel::ProbeSession::load(config);
    if (!loaded) return finish(loaded.error());
    session.emplace(std::move(*loaded));
    phases.load_ms = since(loading);
    phases.probes_reused = session->reused();
  }

  if (s.target.attaches()) {  // a running process: attached to, never started or stopped
    if (auto e = run_attached(s, *prepared, session, o, r)) return finish(*e);
    r.phases = phases;  // its start and finish are the attach's (record: attached)
    check::evaluate(s, r);
    r.duration_ms = prepare_ms + std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return r;
  }

  process::Command cmd;
  cmd.argv.push_back(program->binary.string());
  const bool go_test = s.target.build && s.target.build->test;
  const auto args = go_test ? target::test_args(s.target) : s.target.args;
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  // A program runs in its scenario's folder, natively and in the VM (where the scenario and its
  // "files" are at the same paths); `go test` runs a package's tests in its folder (testdata/
  // is read from there); in the VM, where the sources are not, they run in the scenario's.
  cmd.cwd = fs::absolute(s.file).parent_path();
  if (std::error_code ec; go_test && fs::is_directory(s.target.build->module / s.target.build->package, ec))
    cmd.cwd = (s.target.build->module / s.target.build->package).lexically_normal();
  // The scenario's environment over a small base, never bpfault's own (its PATH and
  // LD_LIBRARY_PATH differ between the host and the VM): the program sees the same everywhere.
  // (trace runs the user's command as the user's shell would: with bpfault's environment)
  cmd.clean_env = !o.inherit_output;
  cmd.env = cmd.clean_env ? process::base_environment() : std::map<std::string, std::string>{};
  for (const auto& [k, v] : s.target.env) cmd.env[k] = v;
  if (!plan->strings.value.empty())
    cmd.env_last = fmt::format("{}={}", plan::TraceeStrings::variable, plan->strings.value);
  cmd.stdin_data = s.target.stdin_data;
  cmd.inherit_output = o.inherit_output;
  cmd.forward_stdin = o.inherit_output;  // trace: the program is the user's, stdin included
  cmd.timeout = std::chrono::milliseconds(static_cast<int64_t>(s.target.timeout.count() * o.timeout_scale));
  cmd.quit_grace =
      std::chrono::milliseconds(static_cast<int64_t>(1000 * o.timeout_scale));  // Go dumps its goroutines on SIGQUIT
  if (const std::string& user = o.user.empty() ? s.target.user : o.user; !user.empty()) {
    // Least privilege: the tracee drops to this user; bpfault keeps what the probes need.
    auto ids = user_ids(user, o.user.empty() ? s.file.string() + ":/target/user" : "--user");
    if (!ids) return finish(ids.error());
    cmd.uid = ids->first;
    cmd.gid = ids->second;
  }
  // Memory a probe writes that the kernel maps untouched (unmapped_writes): made present while
  // the program is stopped at exec, before its first instruction.
  if (auto tail = unmapped_writes(*plan); !tail.empty()) cmd.at_exec = [tail](pid_t pid) { page_in(pid, tail); };
  std::optional<Lifecycle> lifecycle;  // a service: ready, steps, stop (run/lifecycle.h)
  if (s.serves()) {
    lifecycle.emplace(s, session ? &*session : nullptr, o, *prepared);
    cmd.on_output = [&lifecycle](int stream, std::string_view chunk) { lifecycle->on_output(stream, chunk); };
  }
  const auto starting = Clock::now();
  auto child = process::Child::spawn(cmd, /*held=*/true);
  if (!child) return finish(child.error());
  if (session)
    if (auto a = session->attach(child->pid()); !a) return finish(a.error());
  if (auto rel = child->release(); !rel) return finish(rel.error());
  phases.start_ms = since(starting);
  if (lifecycle) lifecycle->start(child->pid(), &*child);
  Collector collector(*plan, r, o.on_hit);
  Delays delays(child->pid());
  std::optional<process::FavouredThread> drain_first;  // the drain keeps up with a busy tracee
  if (session) drain_first.emplace();
  process::Outcome out = child->wait(
      [&] {
        if (!session) return;
        const uint64_t drained_ns = monotonic_ns();  // before the drain (time_order.h)
        for (uint32_t ms : collector.take(session->drain(), drained_ns)) delays.add(ms);
        delays.tick();
      },
      std::chrono::milliseconds(10), session ? session->wake_fd() : -1);
  drain_first.reset();
  const auto finishing = Clock::now();

  if (out.exit_code >= 0) r.exit_code = out.exit_code;
  if (out.signal) r.signal = out.signal;
  r.timed_out = out.timed_out;
  r.stdout_text = std::move(out.out);
  r.stderr_text = std::move(out.err);
  r.tracee_ms = out.wall_ms;
  r.started_ns = out.released_ns;  // the zero of the reports' timelines
  if (go_test) r.tests = target::parse_test_output(r.stdout_text);
  if (session) collector.finish(*session);
  if (lifecycle) lifecycle->finish(r);
  session.reset();  // detach before the clock stops: it is part of what a scenario costs
  check::evaluate(s, r);
  check::diagnose(s, r);
  phases.finish_ms = since(finishing);
  r.phases = phases;
  r.duration_ms = prepare_ms + since(start);
  return r;
}

}  // namespace bpfault::run
