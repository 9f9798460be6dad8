#include "plan/plan.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "scenario/validate.h"

namespace bpfault::plan {
namespace {

std::string where(const scenario::Scenario& s, const std::string& pointer) { return s.file.string() + ":" + pointer; }

std::string closest_function(const binary::BinaryInfo& bin, const std::string& name) {
  std::string best;
  size_t best_d = std::max<size_t>(3, name.size() / 4);
  for (const auto& f : bin.functions) {
    size_t d = scenario::edit_distance(name, f.name);
    if (d < best_d) best_d = d, best = f.name;
  }
  return best;
}

std::string names_of(const binary::Function& f) {
  std::vector<std::string> n;
  for (const auto& v : f.params)
    if (!v.hidden) n.push_back(v.name);
  for (const auto& v : f.results)
    if (!v.hidden) n.push_back(v.name);
  return n.empty() ? "none" : fmt::format("{}", fmt::join(n, ", "));
}

// A value is readable when every piece is in an integer register or on the stack.
Result<void> readable(const scenario::Scenario& s, const std::string& ptr, const binary::Function& f,
                      const binary::Value& v) {
  for (const auto& p : v.pieces) {
    if (p.loc.kind == binary::Loc::Kind::xmm)
      return fail(
          ErrorKind::bad_input, where(s, ptr),
          fmt::format("{} of {} is a {} passed in xmm{}: BPF cannot read XMM registers (struct pt_regs has none)",
                      v.name, f.name, v.type ? v.type->name : "float", p.loc.xmm),
          "floats are readable where they are on the stack: build the fixture for 386 (\"goarch\": \"386\"), or record "
          "a value derived from it");
    if (p.loc.kind == binary::Loc::Kind::none)
      return fail(ErrorKind::bad_input, where(s, ptr),
                  fmt::format("the location of {}{} in {} is unknown", v.name, p.path, f.name),
                  "bpfault list -v BINARY shows what the analysis knows of this function");
    // Found by the differential ABI test (fuzz/abi, seed 1): both used to be recorded silently,
    // as null and as the array's first 8 bytes in hex.
    if (p.loc.kind == binary::Loc::Kind::stack && p.loc.sp_offset + std::min<uint32_t>(p.size, 8) > PROBE_STACK_BYTES)
      return fail(ErrorKind::bad_input, where(s, ptr),
                  fmt::format("{}{} of {} is at sp{:+}: beyond the {} bytes of stack a probe copies", v.name, p.path,
                              f.name, p.loc.sp_offset, PROBE_STACK_BYTES),
                  "record a value that comes earlier in the argument list, or a smaller one");
    if (p.kind == binary::TypeKind::array || p.kind == binary::TypeKind::other)
      return fail(
          ErrorKind::bad_input, where(s, ptr),
          fmt::format(
              "{}{} of {} ({} bytes) has no scalar pieces bpfault can decode (an array of more than 16 scalars)",
              v.name, p.path, f.name, p.size),
          "record a value that holds fewer elements");
  }
  return {};
}

probe_loc loc_of(const binary::Piece& p) {
  probe_loc l{};
  l.size = static_cast<uint8_t>(std::min<uint32_t>(p.size, 8));
  if (p.loc.kind == binary::Loc::Kind::reg) l.kind = LOC_REG, l.reg = static_cast<uint8_t>(p.loc.reg);
  if (p.loc.kind == binary::Loc::Kind::stack) l.kind = LOC_STACK, l.sp_offset = p.loc.sp_offset;
  return l;
}

// Strings and slices among the recorded values get their memory copied (the first bytes, the
// first elements), appended to `out`; `captured` lists them in capture order. An `error` gets
// three (kErrorCaptures), as long as they fit: the object its data word points to, and the
// strings at its first two string fields, of which Go's common errors make their message
// (run/decode.h). `shift`: SP at the site is that much lower than where the values were analysed.
void captures_of(const std::vector<const binary::Value*>& values, std::vector<const binary::Value*>& captured,
                 std::vector<probe_capture>& out, int ptr_size, int32_t shift = 0) {
  const auto at_site = [shift](const binary::Piece& p) {
    probe_loc l = loc_of(p);
    if (l.kind == LOC_STACK) l.sp_offset += shift;
    return l;
  };
  for (const binary::Value* v : values) {
    if (!v->type || out.size() == PROBE_MAX_CAPTURES) continue;
    const bool str = v->type->kind == binary::TypeKind::string, slice = v->type->kind == binary::TypeKind::slice;
    const bool error = v->type->kind == binary::TypeKind::interface && v->type->name == "error";
    if (error) {
      const binary::Piece* data = nullptr;
      for (const auto& p : v->pieces)
        if (p.path == ".data") data = &p;
      if (!data || out.size() + kErrorCaptures > PROBE_MAX_CAPTURES) continue;
      for (int k = 0; k < kErrorCaptures; ++k) {
        probe_capture c{};
        c.ptr = at_site(*data);
        c.elem = 1;
        c.max = PROBE_CAPTURE_BYTES;
        c.through = k > 0;
        c.offset = static_cast<uint16_t>(k == 2 ? 2 * ptr_size : 0);  // the second string field
        out.push_back(c);
        captured.push_back(v);
      }
      continue;
    }
    if (!str && !slice) continue;
    const binary::Piece *ptr = nullptr, *len = nullptr;
    for (const auto& p : v->pieces) {
      if (p.path == ".ptr") ptr = &p;
      if (p.path == ".len") len = &p;
    }
    if (!ptr || !len) continue;
    probe_capture c{};
    c.ptr = at_site(*ptr);
    c.len = at_site(*len);
    c.elem = static_cast<uint16_t>(str ? 1 : (v->type->elem ? std::max<uint64_t>(v->type->elem->size, 1) : 1));
    c.max = PROBE_CAPTURE_BYTES;
    out.push_back(c);
    captured.push_back(v);
  }
}

}  // namespace

uint64_t TraceeStrings::add(const std::string& text) {
  constexpr auto marker_word = [] {
    uint64_t w = 0;
    for (size_t i = 0; i < marker.size(); ++i) w |= uint64_t{static_cast<uint8_t>(marker[i])} << (8 * i);
    return w;
  };
  static_assert(marker.size() == sizeof(uint64_t) && marker_word() == PROBE_ENV_MARKER);
  if (value.empty()) value = marker;
  // texts are prepended, so a text's distance from the end never changes; one already there is
  // used again
  const std::string_view texts(value.data(), value.size() - marker.size());
  if (const size_t at = texts.find(text); !text.empty() && at != std::string_view::npos) return value.size() + 1 - at;
  value.insert(0, text);
  return value.size() + 1;  // the NUL after the value is the last byte of the environment
}

std::string copy_cannot_record(const binary::Function& f, const binary::InlinedCopy& c, const std::string& name) {
  if (!c.params_why.empty()) return c.params_why;
  if (c.param(name)) return {};
  if (std::string why = c.unlocated_why(name); !why.empty()) return why;
  if (f.result(name) || name.starts_with("~r") || (name.size() > 1 && name[0] == 'r' && std::isdigit(name[1])))
    return fmt::format(
        "\"{}\" is a result: a copy has no RET of its own, so its results are never in a place of "
        "their own",
        name);
  std::vector<std::string> names;
  for (const auto& v : c.params)
    if (!v.hidden) names.push_back(v.name);
  for (const auto& [n, why] : c.unlocated) names.push_back(n);
  return fmt::format("its DWARF names no argument \"{}\" (its arguments: {})", name,
                     names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")));
}

bool at_inlined_copies(const scenario::Probe& p, const binary::Function& f) {
  if (f.inlined_copies.empty() || p.injects() || p.latency) return false;
  if (p.record.empty() || f.entry == 0) return true;
  // A function with code of its own records there as before when a copy cannot give every name
  // (its copies' calls are then not seen: `list -v` warns), rather than refusing what worked.
  return every_copy_gives(p, f);
}

bool every_copy_gives(const scenario::Probe& p, const binary::Function& f) {
  return std::ranges::all_of(f.inlined_copies, [&](const binary::InlinedCopy& c) {
    return c.not_countable.empty() && std::ranges::all_of(p.record, [&](const std::string& name) {
             return copy_cannot_record(f, c, name).empty();
           });
  });
}

std::vector<std::string> functions_named(const scenario::Scenario& s) {
  // main.main too: a scenario that probes nothing still names something (an empty focus is the
  // whole binary), and every Go program has it
  std::vector<std::string> names = {"main.main"};
  for (const scenario::Probe& p : s.probes) {
    names.push_back(p.function);
    if (!p.caller.empty()) names.push_back(p.caller);
  }
  for (const scenario::EventExpect& e : s.expect.events) names.push_back(e.function);
  std::ranges::sort(names);
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

Result<Plan> make_plan(const scenario::Scenario& s, std::shared_ptr<const binary::BinaryInfo> bin) {
  Plan plan;
  plan.binary = bin;
  plan.needs = {Cap::uprobe, Cap::ringbuf};
  plan.probes.reserve(s.probes.size());
  std::vector<Error> errors;
  for (const auto& p : s.probes) {
    const binary::Function* f = bin->find(p.function);
    if (!f) {
      std::string near = closest_function(*bin, p.function);
      errors.push_back(
          Error{ErrorKind::bad_input,
                where(s, p.pointer + "/function"),
                fmt::format("{} is not a function of {}", p.function, bin->path.string()),
                (near.empty() ? "" : fmt::format("did you mean {}? ", near)) +
                    fmt::format("`bpfault list {}` lists the functions bpfault can probe", bin->path.string()),
                {}});
      continue;
    }
    const bool copies = at_inlined_copies(p, *f);
    if (!f->not_probeable.empty() && !(f->entry == 0 && copies)) {
      errors.push_back(Error{
          ErrorKind::bad_input,
          where(s, p.pointer + "/function"),
          fmt::format("{} cannot be probed: {}{}", f->name,
                      f->analysed ? f->not_probeable
                                  : fmt::format("not analysed: outside this analysis' focus ({}); a bpfault bug if a "
                                                "scenario asked for it",
                                                fmt::join(bin->focus, ", ")),
                      f->inlined_copies.empty() ? ""
                      : p.latency
                          ? fmt::format(" (its {} inlined copies can be counted, stacked and their arguments "
                                        "recorded, but not timed: a copy has no RET of its own, and the compiler "
                                        "mixes its instructions with its caller's, so no probe marks where it ends)",
                                        f->inlined_copies.size())
                          : fmt::format(" (its {} inlined copies can be counted, stacked and their arguments "
                                        "recorded, but not changed: a copy has no call of its own to return from "
                                        "or fail, its arguments are its caller's registers and slots, which the "
                                        "caller goes on using, and it has no RET where results could be set)",
                                        f->inlined_copies.size())),
          f->entry == 0
              ? fmt::format(
                    "rebuild with inlining off in its package only ({}), mark it //go:noinline, or probe its caller",
                    binary::no_inlining_flag(f->name))
              : "mark it //go:noinline in the fixture, or probe its caller",
          {}});
      continue;
    }
    if (copies) {  // a count that misses or doubles calls is refused, never reported
      std::vector<const binary::InlinedCopy*> uncountable;
      for (const auto& c : f->inlined_copies)
        if (!c.not_countable.empty()) uncountable.push_back(&c);
      if (!uncountable.empty()) {
        const binary::InlinedCopy& c = *uncountable.front();
        errors.push_back(Error{
            ErrorKind::bad_input,
            where(s, p.pointer + "/function"),
            // a record there is a count too: each hit is a call
            fmt::format("{} cannot be {} exactly: {} of its {} inlined copies cannot be counted (the copy inlined "
                        "into {} at {}: {})",
                        f->name, p.record.empty() ? "counted" : "recorded at its copies", uncountable.size(),
                        f->inlined_copies.size(), c.caller, c.at, c.not_countable),
            fmt::format("rebuild with inlining off in its package only ({}), or {} its callers; `bpfault list -v "
                        "BINARY '{}'` lists its copies",
                        binary::no_inlining_flag(f->name), p.record.empty() ? "count" : "record", f->name),
            {}});
        continue;
      }
    }
    PlannedProbe pp{&p, f, {}, {}};
    if (copies && !p.record.empty()) {  // each copy's own locations, from its DWARF at its mark
      pp.copy_args.resize(f->inlined_copies.size());
      for (size_t i = 0; i < p.record.size(); ++i) {
        const std::string ptr = fmt::format("{}/record/{}", p.pointer, i);
        const std::string& name = p.record[i];
        for (size_t k = 0; k < f->inlined_copies.size(); ++k) {
          const binary::InlinedCopy& c = f->inlined_copies[k];
          if (std::string why = copy_cannot_record(*f, c, name); !why.empty()) {
            errors.push_back(Error{
                ErrorKind::bad_input,
                where(s, ptr),
                fmt::format("{} of {} cannot be recorded at its copy inlined into {} at {} (mark {:#x}): {}", name,
                            f->name, c.caller, c.at, c.mark, why),
                !bin->has_dwarf
                    ? std::string("record from an unstripped build of the same program (counts and stacks at the "
                                  "copies work stripped)")
                    : fmt::format("rebuild with inlining off in its package only ({}; a fixture, build or test target "
                                  "is rebuilt so by itself), or record it in the caller; `bpfault list -v BINARY "
                                  "'{}'` shows what each copy's DWARF places",
                                  binary::no_inlining_flag(f->name), f->name),
                {}});
            break;
          }
          const binary::Value* v = c.param(name);
          if (auto r = readable(s, ptr, *f, *v); !r) {
            Error e = r.error();
            e.what += fmt::format(" (at its copy inlined into {} at {}, mark {:#x})", c.caller, c.at, c.mark);
            errors.push_back(std::move(e));
            break;
          }
          pp.copy_args[k].push_back(v);
          pp.labels[v] = name;
        }
      }
    }
    // one error for the probe, not one per name (copies of a function inlined everywhere: above)
    if (!p.record.empty() && !f->has_signature && !(copies && f->entry == 0)) {
      errors.push_back(
          Error{ErrorKind::bad_input,
                where(s, p.pointer + "/record"),
                f->no_signature.empty()
                    ? fmt::format("{} has no known signature: the binary has no DWARF, so its arguments have no names",
                                  f->name)
                    : f->no_signature,
                "record from an unstripped build of the same program (stack traces, counts and latency work stripped)",
                {}});
      continue;
    }
    for (size_t i = 0; i < p.record.size() && f->entry != 0; ++i) {
      const std::string ptr = fmt::format("{}/record/{}", p.pointer, i);
      const std::string& name = p.record[i];
      const binary::Value* v = f->param(name);
      bool is_result = false;
      if (!v && (v = f->result(name))) is_result = true;
      if (!v) {
        std::string what = f->has_signature ? fmt::format("{} has no argument or result named \"{}\"", f->name, name)
                           : !f->no_signature.empty()
                               ? f->no_signature
                               : fmt::format("{} has no known signature (the binary has no DWARF)", f->name);
        std::string hint = f->has_signature
                               ? fmt::format("its names are: {}", names_of(*f))
                               : "build it without -ldflags=-s -w, or probe an unstripped build of the same program";
        errors.push_back(Error{ErrorKind::bad_input, where(s, ptr), what, hint, {}});
        continue;
      }
      if (auto r = readable(s, ptr, *f, *v); !r) {
        errors.push_back(r.error());
        continue;
      }
      (is_result ? pp.record_results : pp.record_args).push_back(v);
      pp.labels[v] = name;
    }
    plan.probes.push_back(std::move(pp));
  }
  if (!errors.empty()) {
    Error first = errors.front();
    first.also.assign(errors.begin() + 1, errors.end());
    return tl::unexpected(first);
  }

  for (uint32_t i = 0; i < plan.probes.size(); ++i) {
    PlannedProbe& pp = plan.probes[i];
    if (pp.probe->injects())
      if (auto r = plan_injection(s, *bin, pp, plan.needs, plan.strings); !r) return tl::unexpected(r.error());
    std::vector<PlannedWrite> call_writes, ret_writes;
    for (const auto& st : pp.steps) {
      call_writes.insert(call_writes.end(), st.call.begin(), st.call.end());
      ret_writes.insert(ret_writes.end(), st.ret.begin(), st.ret.end());
    }
    auto add = [&](uint64_t vaddr, uint8_t kind, uint8_t record, bool inject, Program program, int32_t sp_delta,
                   const std::vector<probe_capture>& captures) -> Result<void> {
      auto off = bin->file_offset(vaddr);
      if (!off) return tl::unexpected(off.error());
      Site site{};
      site.config.probe = i;
      site.config.kind = kind;
      site.config.record = record;
      site.config.inject = inject;
      site.config.sp_delta = static_cast<uint8_t>(sp_delta);
      site.config.vaddr = vaddr;
      site.config.latency = pp.probe->latency;
      site.config.stack = pp.probe->stack && kind == SITE_CALL;
      site.config.ncaptures = static_cast<uint8_t>(captures.size());
      std::copy(captures.begin(), captures.end(), site.config.captures);
      site.file_offset = *off;
      site.program = program;
      plan.sites.push_back(site);
      return {};
    };
    const binary::Function& f = *pp.function;
    std::vector<probe_capture> call_captures, ret_captures;
    captures_of(pp.record_args, pp.captured, call_captures, bin->ptr_size());
    captures_of(pp.record_results, pp.captured_results, ret_captures, bin->ptr_size());
    // An early return's results at its call site, after the writes: a string's new text, an
    // error's message (their locations there are SP-relative to the call site's SP).
    if (std::any_of(pp.steps.begin(), pp.steps.end(), [](const PlannedStep& st) { return st.step->early_return; })) {
      std::vector<const binary::Value*> results;
      for (const auto& v : f.results) results.push_back(&v);
      captures_of(results, pp.captured, call_captures, bin->ptr_size(), f.body_sp_delta);
    }
    if (f.body_sp_delta < 0 || f.body_sp_delta > 255)
      return fail(ErrorKind::internal, f.name,
                  fmt::format("unexpected SP delta {} at the probe point", f.body_sp_delta));
    const uint8_t record_call = !pp.record_args.empty() || pp.probe->stack ? RECORD_VALUES : RECORD_NONE;
    const uint8_t record_ret = !pp.record_results.empty() ? RECORD_VALUES
                               : pp.probe->latency        ? RECORD_TIMING
                                                          : RECORD_NONE;
    const bool injects = pp.probe->injects();
    const Program call_program = injects ? program_for(call_writes) : Program::observe;
    const Program ret_program = !ret_writes.empty() ? program_for(ret_writes) : Program::observe;
    if (f.entry != 0)
      if (auto r = add(f.body, SITE_CALL, record_call, injects, call_program, f.body_sp_delta, call_captures); !r)
        return tl::unexpected(r.error());
    if (at_inlined_copies(*pp.probe, f)) {  // each copy's mark: a call (its own read spec, no RET to pair)
      const uint8_t record_copy = !pp.probe->record.empty() || pp.probe->stack ? RECORD_VALUES : RECORD_NONE;
      pp.copy_captured.resize(pp.copy_args.size());
      for (size_t c = 0; c < f.inlined_copies.size(); ++c) {
        std::vector<probe_capture> copy_captures;
        if (c < pp.copy_args.size()) captures_of(pp.copy_args[c], pp.copy_captured[c], copy_captures, bin->ptr_size());
        if (auto r = add(f.inlined_copies[c].mark, SITE_CALL, record_copy, false, Program::observe, 0, copy_captures);
            !r)
          return tl::unexpected(r.error());
        plan.sites.back().inlined_copy = static_cast<int32_t>(c);
      }
    }
    const std::string ret_ptr = pp.probe->latency            ? pp.probe->pointer + "/latency"  // what asks for RETs
                                : !pp.record_results.empty() ? pp.probe->pointer + "/record"
                                                             : pp.probe->pointer;
    if ((record_ret || !ret_writes.empty()) && f.entry != 0 && f.rets.empty())  // its call is probed as any other's
      return fail(ErrorKind::bad_input, where(s, ret_ptr),
                  fmt::format("{} has no RET a probe can use: {}; its results cannot be recorded or set, nor its "
                              "latency timed",
                              f.name, f.no_ret),
                  "its call can still be counted, recorded, or faulted (an early \"return\", a crash, a delay, "
                  "set_args); to see what comes back, probe its caller, or the function a tail jump goes to (its "
                  "RET returns to this one's caller)");
    if ((record_ret || !ret_writes.empty()) && std::ranges::find(f.rets, f.body) != f.rets.end()) {
      // The probe point is the RET itself: the call site and a RET site would be one address, and
      // the kernel runs two uprobes there in an order of its own, so a RET could pair with the
      // previous call (measured: every latency one iteration long, one call per goroutine untimed).
      return fail(ErrorKind::bad_input, where(s, ret_ptr),
                  fmt::format("{} returns at its first instruction (its body is one RET): its call and its return "
                              "are the same instant, so it has no latency, its results are what it was called with, "
                              "and no RET comes after its body to change them",
                              f.name),
                  "time or record its caller; to change its results, use an early \"return\" (at this "
                  "instruction it is the same thing)");
    }
    if (record_ret || !ret_writes.empty())
      for (uint64_t ret : f.rets)
        if (auto r = add(ret, SITE_RET, record_ret, !ret_writes.empty(), ret_program, 0, ret_captures); !r)
          return tl::unexpected(r.error());
  }
  return plan;
}

}  // namespace bpfault::plan
