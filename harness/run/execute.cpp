#include "run/execute.h"

#include <signal.h>
#include <sys/utsname.h>

#include <chrono>

#include <fmt/format.h>

#include "check/check.h"
#include "kernel/caps.h"
#include "process/child.h"
#include "run/decode.h"
#include "run/plan.h"

namespace bpfault::run {
namespace {

using Clock = std::chrono::steady_clock;

std::string kernel_release() {
  utsname u{};
  uname(&u);
  return u.release;
}

// Delay injection: the probe stopped the tracee (SIGSTOP); it resumes `pause_ms` after the
// harness saw the injection, so the pause is at least what the scenario asked for.
class Pauses {
 public:
  Pauses(const Plan& plan, const kernel::ProbeSession& session, pid_t pid) : plan_(plan), session_(session), pid_(pid) {}

  void tick() {
    const auto& injections = session_.injections();
    for (; seen_ < injections.size(); ++seen_) {
      const probe_injection& inj = injections[seen_];
      const kernel::Site& site = plan_.sites.at(inj.hit.site);
      const probe_rule& rule = plan_.probes.at(site.config.probe).rule;
      if (site.config.kind == SITE_CALL && inj.term < PROBE_MAX_TERMS && rule.terms[inj.term].action == ACT_PAUSE)
        resume_at_.push_back(Clock::now() + std::chrono::milliseconds(rule.terms[inj.term].pause_ms));
    }
    auto now = Clock::now();
    std::erase_if(resume_at_, [&](Clock::time_point t) {
      if (t > now) return false;
      kill(pid_, SIGCONT);
      return true;
    });
  }

 private:
  const Plan& plan_;
  const kernel::ProbeSession& session_;
  pid_t pid_;
  size_t seen_ = 0;
  std::vector<Clock::time_point> resume_at_;
};

// The decoded hits of each probe, in the order the ring buffer delivered them.
void collect(const Plan& plan, const kernel::ProbeSession& session, RunRecord& r) {
  for (uint32_t i = 0; i < plan.probes.size(); ++i) {
    ProbeRecord pr;
    pr.function = plan.probes[i].function->name;
    pr.calls = session.probe_calls(i);
    for (uint32_t s = 0; s < plan.sites.size(); ++s)
      if (plan.sites[s].config.probe == i && plan.sites[s].config.kind == SITE_RET) pr.returns += session.site_hits(s);
    r.probes.push_back(std::move(pr));
  }
  auto hit = [&](const probe_event& e) -> Hit* {
    if (e.site >= plan.sites.size()) return nullptr;
    const probe_site& site = plan.sites[e.site].config;
    const PlannedProbe& pp = plan.probes[site.probe];
    Hit h;
    h.site = site.kind == SITE_CALL ? "call" : "ret";
    h.call = e.call;
    h.time_ns = e.time_ns;
    h.tid = e.tid;
    h.goid = e.goid;
    Capture c{e.regs, e.stack};
    for (const binary::Value* v : site.kind == SITE_CALL ? pp.record_args : pp.record_results) h.values[v->name] = decode(*v, c);
    r.probes[site.probe].hits.push_back(std::move(h));
    return &r.probes[site.probe].hits.back();
  };
  for (const probe_event& e : session.events()) hit(e);
  for (const probe_injection& inj : session.injections()) {
    Hit* h = hit(inj.hit);
    if (!h) continue;
    const probe_site& site = plan.sites[inj.hit.site].config;
    h->injection = describe_injection(plan.probes[site.probe], inj, site.kind == SITE_CALL);
    if (site.kind == SITE_CALL) ++r.probes[site.probe].injected;
  }
  for (auto& p : r.probes)  // injections arrive apart from plain hits: restore the order they happened in
    std::stable_sort(p.hits.begin(), p.hits.end(), [](const Hit& a, const Hit& b) { return a.time_ns < b.time_ns; });
  r.drops = session.drops();
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
  if (!info) return finish(info.error());
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

  process::Command cmd;
  cmd.argv.push_back(target->binary.string());
  cmd.argv.insert(cmd.argv.end(), s.target.args.begin(), s.target.args.end());
  cmd.env = s.target.env;
  cmd.stdin_data = s.target.stdin_data;
  cmd.timeout = std::chrono::milliseconds(static_cast<int64_t>(s.target.timeout.count() * o.timeout_scale));
  auto child = process::Child::spawn(cmd, /*held=*/true);
  if (!child) return finish(child.error());
  if (session)
    if (auto a = session->attach(child->pid()); !a) return finish(a.error());
  if (auto rel = child->release(); !rel) return finish(rel.error());
  std::optional<Pauses> pauses;
  if (session) pauses.emplace(*plan, *session, child->pid());
  process::Outcome out = child->wait([&] {
    if (!session) return;
    session->drain();
    pauses->tick();
  });

  if (out.exit_code >= 0) r.exit_code = out.exit_code;
  if (out.signal) r.signal = out.signal;
  r.timed_out = out.timed_out;
  r.stdout_text = std::move(out.out);
  r.stderr_text = std::move(out.err);
  r.tracee_ms = out.wall_ms;
  if (session) collect(*plan, *session, r);
  session.reset();  // detach before the clock stops: it is part of what a scenario costs
  check::evaluate(s, r);
  r.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return r;
}

}  // namespace bpfault::run
