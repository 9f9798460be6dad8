#include "run/collect.h"

#include <signal.h>

#include <algorithm>

#include <fmt/format.h>

#include "run/decode.h"

namespace bpfault::run {
namespace {

// Frames innermost first, symbolized from the binary itself (works after the tracee exits and
// on stripped binaries). Where the probe sits before the frame is set up (a RET, or a call site
// before `mov rbp, rsp`), the kernel's frame-pointer walk skips the caller: its return address
// at the entry SP is put back.
nlohmann::json symbolize_stack(const binary::BinaryInfo& bin, const probe_event_ext& e) {
  std::vector<uint64_t> pcs;
  for (int i = 0; i < e.nframes && i < PROBE_MAX_FRAMES; ++i) pcs.push_back(e.frames[i]);
  if (!pcs.empty() && e.hit.ret_addr && (pcs.size() < 2 || pcs[1] != e.hit.ret_addr)) pcs.insert(pcs.begin() + 1, e.hit.ret_addr);
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < pcs.size(); ++i) {
    // a return address points after its call: look up the call's line
    auto f = bin.symbolize(i == 0 ? pcs[i] : pcs[i] - 1);
    if (!f) {
      out.push_back({{"function", fmt::format("{:#x}", pcs[i])}});
      continue;
    }
    out.push_back({{"function", f->function}, {"offset", fmt::format("+{:#x}", i == 0 ? f->offset : f->offset + 1)}, {"file", f->file}, {"line", f->line}});
  }
  return out;
}

}  // namespace

Collector::Collector(const Plan& plan, RunRecord& record, OnHit on_hit)
    : plan_(plan), record_(record), on_hit_(std::move(on_hit)), durations_(plan.probes.size()), truncated_(plan.probes.size()) {
  for (const auto& pp : plan.probes) {
    ProbeRecord pr;
    pr.function = pp.function->name;
    record_.probes.push_back(std::move(pr));
  }
}

Hit* Collector::add(const probe_event& e, const probe_event_ext* ext) {
  if (e.site >= plan_.sites.size()) return nullptr;
  const probe_site& site = plan_.sites[e.site].config;
  const PlannedProbe& pp = plan_.probes[site.probe];
  if (e.duration_ns) durations_[site.probe].push_back(e.duration_ns);
  ProbeRecord& pr = record_.probes[site.probe];
  Hit h;
  h.site = site.kind == SITE_CALL ? "call" : "ret";
  h.call = e.call;
  h.time_ns = e.time_ns;
  h.tid = e.tid;
  h.goid = e.goid;
  h.duration_ns = e.duration_ns;
  Capture c{e.regs, e.stack};
  const auto& captured = site.kind == SITE_CALL ? pp.captured : pp.captured_results;
  for (const binary::Value* v : site.kind == SITE_CALL ? pp.record_args : pp.record_results) {
    std::optional<Memory> mem;
    for (size_t k = 0; ext && k < captured.size(); ++k)
      if (captured[k] == v) mem = Memory{ext->capture[k], ext->captured[k]};
    auto label = pp.labels.find(v);
    h.values[label == pp.labels.end() ? v->name : label->second] = decode(*v, c, mem ? &*mem : nullptr);
  }
  if (ext && site.stack) h.stack = symbolize_stack(*plan_.binary, *ext);
  if (on_hit_) on_hit_(pr, h);
  if (pr.hits.size() >= kMaxHits) {
    ++truncated_[site.probe];
    return nullptr;
  }
  pr.hits.push_back(std::move(h));
  return &pr.hits.back();
}

std::vector<uint32_t> Collector::take(kernel::ProbeSession::Events events) {
  std::vector<uint32_t> pauses;
  for (const probe_event& e : events.hits) add(e, nullptr);
  for (const probe_event_ext& e : events.hits_ext) add(e.hit, &e);
  for (const probe_timing& t : events.timings) {
    if (t.site >= plan_.sites.size()) continue;
    const uint32_t probe = plan_.sites[t.site].config.probe;
    if (t.duration_ns) durations_[probe].push_back(t.duration_ns);
    Hit h{"ret", t.call, t.time_ns, t.tid, t.goid, nlohmann::json::object(), {}, {}, t.duration_ns};
    ProbeRecord& pr = record_.probes[probe];
    if (on_hit_) on_hit_(pr, h);
    if (pr.hits.size() < kMaxHits) pr.hits.push_back(std::move(h));
  }
  for (const probe_injection& inj : events.injections) {
    if (inj.hit.site >= plan_.sites.size()) continue;
    const probe_site& site = plan_.sites[inj.hit.site].config;
    const PlannedProbe& pp = plan_.probes[site.probe];
    if (site.kind == SITE_CALL) {
      ++record_.probes[site.probe].injected;
      if (inj.term < PROBE_MAX_TERMS && pp.rule.terms[inj.term].action == ACT_PAUSE) pauses.push_back(pp.rule.terms[inj.term].pause_ms);
    }
    if (Hit* h = add(inj.hit, nullptr)) h->injection = describe_injection(pp, inj, site.kind == SITE_CALL);
  }
  return pauses;
}

void Collector::finish(const kernel::ProbeSession& session) {
  for (uint32_t i = 0; i < plan_.probes.size(); ++i) {
    ProbeRecord& p = record_.probes[i];
    p.calls = session.probe_calls(i);
    for (uint32_t s = 0; s < plan_.sites.size(); ++s)
      if (plan_.sites[s].config.probe == i && plan_.sites[s].config.kind == SITE_RET) p.returns += session.site_hits(s);
    // injections and hits arrive apart: restore the order they happened in
    std::stable_sort(p.hits.begin(), p.hits.end(), [](const Hit& a, const Hit& b) { return a.time_ns < b.time_ns; });
    if (plan_.probes[i].probe->latency) p.latency = Latency::of(std::move(durations_[i]));
  }
  record_.drops = session.drops();
  record_.goid_misses = session.goid_misses();
}

void Pauses::add(uint32_t ms) { resume_at_.push_back(std::chrono::steady_clock::now() + std::chrono::milliseconds(ms)); }

void Pauses::tick() {
  auto now = std::chrono::steady_clock::now();
  std::erase_if(resume_at_, [&](auto t) {
    if (t > now) return false;
    kill(pid_, SIGCONT);
    return true;
  });
}

}  // namespace bpfault::run
