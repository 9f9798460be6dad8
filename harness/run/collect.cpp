#include "run/collect.h"

#include <signal.h>

#include <algorithm>

#include <fmt/format.h>

#include "binary/unwind.h"
#include "run/decode.h"

namespace bpfault::run {

using plan::PlannedProbe;
using record::Hit;
using record::ProbeRecord;

namespace {

// Frames innermost first, unwound from the stack the probe copied with the binary's own tables
// (works after the tracee exits, on 386 without frame pointers, and on stripped binaries),
// inlined calls expanded. A stack deeper than the copy ends with a frame saying where and why.
nlohmann::json symbolize_stack(const binary::BinaryInfo& bin, const probe_site& site, const probe_event& hit,
                               const probe_stack& copy) {
  const uint64_t bias = copy.ip - site.vaddr;
  const size_t len = std::min<size_t>(copy.len, PROBE_STACK_COPY);
  binary::Stack st = binary::unwind(bin, site.vaddr, hit.sp, std::span<const uint8_t>(copy.copy, len), bias);
  nlohmann::json out = nlohmann::json::array();
  for (const binary::StackFrame& f : st.frames) {
    nlohmann::json fr = {{"function", f.function}, {"file", f.file}, {"line", f.line}};
    if (f.inlined)
      fr["inlined"] = true;
    else
      fr["offset"] = fmt::format("+{:#x}", f.offset);
    out.push_back(std::move(fr));
  }
  if (copy.err) st.cut = fmt::format("the stack could not be copied (error {})", copy.err);
  if (!st.cut.empty()) out.push_back({{"cut", st.cut}});
  return out;
}

}  // namespace

Collector::Collector(const plan::Plan& plan, record::RunRecord& record, OnHit on_hit)
    : plan_(plan),
      record_(record),
      on_hit_(std::move(on_hit)),
      durations_(plan.probes.size()),
      raw_kept_(plan.probes.size()) {
  for (const auto& pp : plan.probes) {
    ProbeRecord pr;
    pr.function = pp.function->name;
    pr.signature_from = pp.function->signature_from;
    record_.probes.push_back(std::move(pr));
  }
}

Hit Collector::decode_hit(const probe_event& e, const probe_event_ext* ext, const probe_injection* inj,
                          const record::Injection* injection) const {
  const probe_site& site = plan_.sites[e.site].config;
  const PlannedProbe& pp = plan_.probes[site.probe];
  Hit h;
  h.site = site.kind == SITE_CALL ? "call" : "ret";
  h.call = e.call;
  h.time_ns = e.time_ns;
  h.tid = e.tid;
  h.goid = e.goid;
  h.duration_ns = e.duration_ns;
  // an injection's values are read back after its writes; those of a call that leaves at once
  // (an early return, a panic) are the arguments it was called with: the registers now hold its
  // results or gopanic's argument
  const bool returned_early = inj && inj->step < pp.steps.size() && pp.steps[inj->step].step->leaves_at_call();
  Capture c = inj && !returned_early ? Capture{inj->regs_after, inj->stack_after} : Capture{e.regs, e.stack};
  if (injection) h.injection = *injection;
  // An inlined copy's mark reads the arguments where that copy's DWARF places them.
  const int32_t at_copy = plan_.sites[e.site].inlined_copy;
  const bool copy_values = at_copy >= 0 && size_t(at_copy) < pp.copy_args.size();
  const auto& captured = copy_values              ? pp.copy_captured[at_copy]
                         : site.kind == SITE_CALL ? pp.captured
                                                  : pp.captured_results;
  for (const binary::Value* v : copy_values              ? pp.copy_args[at_copy]
                                : site.kind == SITE_CALL ? pp.record_args
                                                         : pp.record_results) {
    const std::vector<Memory> mem = ext    ? memory_of(captured, *v, ext->captured, ext->capture)
                                    : !inj ? std::vector<Memory>{}
                                    : returned_early
                                        ? memory_of(captured, *v, inj->captured_before, inj->capture_before)
                                        : memory_of(captured, *v, inj->captured, inj->capture);
    auto label = pp.labels.find(v);
    h.values[label == pp.labels.end() ? v->name : label->second] = decode(*v, c, mem, plan_.binary.get());
  }
  if (ext && site.stack) h.stack = symbolize_stack(*plan_.binary, site, e, ext->stack);
  if (inj && site.stack) h.stack = symbolize_stack(*plan_.binary, site, e, inj->stack);  // the injected call's too
  if (const int32_t copy = plan_.sites[e.site].inlined_copy; copy >= 0) {
    // At the mark the copy's code has not begun: the stack there is its caller's, so the probed
    // function comes first, inlined, where its own code is.
    const binary::InlinedCopy& c = pp.function->inlined_copies[copy];
    h.inlined_into = c.caller;
    if (h.stack.is_array())
      h.stack.insert(
          h.stack.begin(),
          nlohmann::json{{"function", pp.function->name}, {"file", c.file}, {"line", c.line}, {"inlined", true}});
  }
  return h;
}

bool Collector::add(const probe_event& e, const probe_event_ext* ext, const probe_injection* inj,
                    const record::Injection* injection) {
  if (e.site >= plan_.sites.size()) return false;
  const uint32_t probe = plan_.sites[e.site].config.probe;
  if (e.duration_ns) durations_[probe].add(e.duration_ns);
  ProbeRecord& pr = record_.probes[probe];
  const bool full = pr.hits.size() + raw_kept_[probe] >= record::kMaxHitsPerProbe;
  if (on_hit_) {
    Hit h = decode_hit(e, ext, inj, injection);
    order_.push(probe, h, emit());
    if (!full) pr.hits.push_back(std::move(h));
  } else if (!full) {  // decoded by finish()
    if (inj)
      raw_injections_.push_back(*inj);
    else if (ext)
      raw_hits_ext_.push_back(*ext);
    else
      raw_hits_.push_back(e);
    ++raw_kept_[probe];
  }
  if (full) ++(inj ? pr.injections_not_kept : pr.hits_not_kept);
  return !full;
}

TimeOrder::Emit Collector::emit() {
  return [this](uint32_t probe, const Hit& h) { on_hit_(record_.probes[probe], h); };
}

std::vector<uint32_t> Collector::take(const kernel::ProbeSession::Events& events, uint64_t drained_ns) {
  std::vector<uint32_t> delays;
  // Injections first: when a probe's hits reach the limit, what was written is what to keep.
  for (const probe_injection& inj : events.injections) {
    if (inj.hit.site >= plan_.sites.size()) continue;
    const probe_site& site = plan_.sites[inj.hit.site].config;
    const PlannedProbe& pp = plan_.probes[site.probe];
    // without on_hit_, only the writes: the values are decoded by finish(), for the hits kept
    const record::Injection injection =
        describe_injection(pp, inj, site.kind == SITE_CALL, bool(on_hit_), plan_.binary.get());
    if (site.kind == SITE_CALL) {
      // counted whether or not the hit is kept: calls whose step was carried out, not `off` ones
      if (injection.done) ++record_.probes[site.probe].injected;
      if (inj.step < PROBE_MAX_STEPS && pp.rule.steps[inj.step].action == ACT_DELAY)
        delays.push_back(pp.rule.steps[inj.step].delay_ms);
    }
    if (add(inj.hit, nullptr, &inj, &injection)) continue;  // the hit carries its injection
    // not kept: a failed write is still counted
    if (std::any_of(injection.writes.begin(), injection.writes.end(),
                    [](const record::WriteProof& w) { return w.error.has_value(); }))
      ++record_.probes[site.probe].failed_writes_not_kept;
  }
  for (const probe_event& e : events.hits) add(e, nullptr);
  for (const probe_event_ext& e : events.hits_ext) add(e.hit, &e);
  for (const probe_timing& t : events.timings) {
    if (t.site >= plan_.sites.size()) continue;
    const uint32_t probe = plan_.sites[t.site].config.probe;
    if (t.duration_ns) durations_[probe].add(t.duration_ns);
    Hit h{"ret", t.call, t.time_ns, t.tid, t.goid, nlohmann::json::object(), {}, {}, t.duration_ns};
    ProbeRecord& pr = record_.probes[probe];
    if (on_hit_) order_.push(probe, h, emit());
    if (pr.hits.size() + raw_kept_[probe] < record::kMaxHitsPerProbe)
      pr.hits.push_back(std::move(h));
    else
      ++pr.timings_not_kept;
  }
  if (on_hit_) order_.release(drained_ns, emit());
  return delays;
}

void Collector::finish(const kernel::ProbeSession& session) {
  if (on_hit_) order_.flush(emit());  // the tracee is gone: nothing earlier can come
  // the kept hits' values, decoded now that the tracee no longer waits for the drain
  for (const probe_injection& inj : raw_injections_) {
    const probe_site& site = plan_.sites[inj.hit.site].config;
    const record::Injection injection =
        describe_injection(plan_.probes[site.probe], inj, site.kind == SITE_CALL, true, plan_.binary.get());
    record_.probes[site.probe].hits.push_back(decode_hit(inj.hit, nullptr, &inj, &injection));
  }
  for (const probe_event& e : raw_hits_)
    record_.probes[plan_.sites[e.site].config.probe].hits.push_back(decode_hit(e, nullptr, nullptr, nullptr));
  for (const probe_event_ext& e : raw_hits_ext_)
    record_.probes[plan_.sites[e.hit.site].config.probe].hits.push_back(decode_hit(e.hit, &e, nullptr, nullptr));
  raw_injections_ = {};
  raw_hits_ = {};
  raw_hits_ext_ = {};
  std::fill(raw_kept_.begin(), raw_kept_.end(), 0);
  for (uint32_t i = 0; i < plan_.probes.size(); ++i) {
    ProbeRecord& p = record_.probes[i];
    p.calls = session.probe_calls(i);
    for (uint32_t s = 0; s < plan_.sites.size(); ++s)
      if (plan_.sites[s].config.probe == i && plan_.sites[s].config.kind == SITE_RET) p.returns += session.site_hits(s);
    // injections and hits arrive apart: restore the order they happened in
    std::stable_sort(p.hits.begin(), p.hits.end(), [](const Hit& a, const Hit& b) { return a.time_ns < b.time_ns; });
    if (plan_.probes[i].probe->latency) p.latency = durations_[i].latency();
  }
  record_.drops = session.drops();
  record_.goid_misses = session.goid_misses();
  record_.unpaired = session.unpaired();
}

void Delays::add(uint32_t ms) {
  resume_at_.push_back(std::chrono::steady_clock::now() + std::chrono::milliseconds(ms));
}

void Delays::tick() {
  auto now = std::chrono::steady_clock::now();
  std::erase_if(resume_at_, [&](auto t) {
    if (t > now) return false;
    kill(pid_, SIGCONT);
    return true;
  });
}

void Delays::resume_all() {
  if (!resume_at_.empty()) kill(pid_, SIGCONT);
  resume_at_.clear();
}

}  // namespace bpfault::run
