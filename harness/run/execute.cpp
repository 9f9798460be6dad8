#include "run/execute.h"

#include <pwd.h>
#include <signal.h>
#include <sys/utsname.h>

#include <charconv>
#include <chrono>

#include <fmt/format.h>

#include "check/check.h"
#include "kernel/caps.h"
#include "process/child.h"
#include "process/interrupt.h"
#include "run/collect.h"
#include "run/plan.h"

namespace bpfault::run {
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
    if (!ok) return fail(ErrorKind::bad_input, where, fmt::format("\"{}\" is not a user name, a uid or uid:gid", user), "e.g. nobody, or 65534:65534");
    return std::pair{uid_t{uid}, gid_t{gid}};
  }
  passwd pw{}, *found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) == 0 && found) return std::pair{pw.pw_uid, pw.pw_gid};
  if (user == "nobody") return std::pair{uid_t{65534}, gid_t{65534}};
  return fail(ErrorKind::bad_input, where, fmt::format("no user \"{}\" on this machine", user),
              "name a user of /etc/passwd (such as nobody), or give uid:gid");
}

std::string kernel_release() {
  utsname u{};
  uname(&u);
  return u.release;
}

}  // namespace

RunRecord execute(const scenario::Scenario& s, const Options& o) {
  const auto start = Clock::now();
  RunRecord r;
  r.file = s.file.string();
  r.name = s.name;
  r.kernel = kernel_release();
  auto finish = [&](Error e) {
    r.status = e.kind == ErrorKind::unsupported ? Status::skipped : Status::error;
    r.error = std::move(e);
    r.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return r;
  };

  auto target = resolve_target(s, o);
  if (!target) return finish(target.error());
  r.binary = target->binary.string();
  auto info = binary::analyse(target->binary);
  if (!info) {
    Error e = info.error();
    if (!s.target.binary.empty() && e.kind == ErrorKind::bad_input) {  // the scenario chose this file: point at the choice
      e.what = fmt::format("{}: {}", e.where, e.what);
      e.where = s.file.string() + ":/target/binary";
    }
    return finish(e);
  }
  r.go_version = (*info)->go_version;
  auto plan = make_plan(s, *info);
  if (!plan) return finish(plan.error());

  const kernel::Capabilities& caps = kernel::capabilities();
  if (auto missing = missing_capability(*plan, caps)) {
    const auto& c = caps.get(*missing);
    return finish(Error{ErrorKind::unsupported, "",
                        fmt::format("needs {}, which this kernel ({}) refuses: {}", c.name, caps.kernel_release, c.reason),
                        *missing == kernel::Cap::uprobe
                            ? "run as root (or with CAP_BPF and CAP_PERFMON); `bpfault caps` shows what the kernel allows"
                            : "`bpfault run --vm=always` runs it in a VM whose kernel has it; `bpfault caps` shows what this one allows",
                        {}});
  }

  std::optional<kernel::ProbeSession> session;
  if (!plan->sites.empty()) {
    kernel::SessionConfig config;
    config.binary = target->binary;
    config.sites = plan->sites;
    for (const auto& pp : plan->probes) config.rules.push_back(pp.rule);
    config.goid_offset = (*info)->goid_offset;
    config.stack_hi_offset = (*info)->stack_hi_offset;
    config.ptr_size = static_cast<uint32_t>((*info)->ptr_size());
    config.uprobe_multi = caps.has(kernel::Cap::uprobe_multi);
    auto loaded = kernel::ProbeSession::load(config);
    if (!loaded) return finish(loaded.error());
    session.emplace(std::move(*loaded));
  }

  if (o.attach_pid) {  // someone else's process: watch it until it exits or the user stops us
    if (auto a = session->attach(o.attach_pid); !a) return finish(a.error());
    Collector collector(*plan, r, o.on_hit);
    auto watched = process::watch(o.attach_pid, [&] { collector.take(session->drain()); });
    if (!watched) return finish(watched.error());
    collector.take(session->drain());
    collector.finish(*session);
    session.reset();
    r.status = Status::passed;
    r.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return r;
  }

  process::Command cmd;
  cmd.argv.push_back(target->binary.string());
  cmd.argv.insert(cmd.argv.end(), s.target.args.begin(), s.target.args.end());
  cmd.env = s.target.env;
  cmd.stdin_data = s.target.stdin_data;
  cmd.inherit_output = o.inherit_output;
  cmd.timeout = std::chrono::milliseconds(static_cast<int64_t>(s.target.timeout.count() * o.timeout_scale));
  cmd.quit_grace = std::chrono::milliseconds(static_cast<int64_t>(1000 * o.timeout_scale));  // Go dumps its goroutines on SIGQUIT
  if (const std::string& user = o.user.empty() ? s.target.user : o.user; !user.empty()) {
    // Least privilege: the tracee drops to this user; bpfault keeps what the probes need.
    auto ids = user_ids(user, o.user.empty() ? s.file.string() + ":/target/user" : "--user");
    if (!ids) return finish(ids.error());
    cmd.uid = ids->first;
    cmd.gid = ids->second;
  }
  auto child = process::Child::spawn(cmd, /*held=*/true);
  if (!child) return finish(child.error());
  if (session)
    if (auto a = session->attach(child->pid()); !a) return finish(a.error());
  if (auto rel = child->release(); !rel) return finish(rel.error());
  Collector collector(*plan, r, o.on_hit);
  Pauses pauses(child->pid());
  process::Outcome out = child->wait(
      [&] {
        if (!session) return;
        for (uint32_t ms : collector.take(session->drain())) pauses.add(ms);
        pauses.tick();
      },
      std::chrono::milliseconds(10), session ? session->wake_fd() : -1);

  if (out.exit_code >= 0) r.exit_code = out.exit_code;
  if (out.signal) r.signal = out.signal;
  r.timed_out = out.timed_out;
  r.stdout_text = std::move(out.out);
  r.stderr_text = std::move(out.err);
  r.tracee_ms = out.wall_ms;
  if (session) collector.finish(*session);
  session.reset();  // detach before the clock stops: it is part of what a scenario costs
  check::evaluate(s, r);
  check::diagnose(s, r);
  r.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return r;
}

}  // namespace bpfault::run
