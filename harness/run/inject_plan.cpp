// Compiles a probe's injection (scenario steps and conditions) into the probe_rule the BPF
// program evaluates: every assignment becomes register or memory writes at exact locations,
// every value is checked against the Go type it lands in.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "run/plan.h"

namespace bpfault::run {
namespace {

using nlohmann::json;
using binary::Loc;
using binary::TypeKind;

struct Ctx {
  const scenario::Scenario& s;
  const binary::BinaryInfo& bin;
  const binary::Function& f;
  std::vector<kernel::Cap>& needs;
};

tl::unexpected<Error> refuse(const Ctx& c, const std::string& ptr, std::string what, std::string hint) {
  return fail(ErrorKind::bad_input, c.s.file.string() + ":" + ptr, std::move(what), std::move(hint));
}

void need(Ctx& c, kernel::Cap cap) {
  if (std::find(c.needs.begin(), c.needs.end(), cap) == c.needs.end()) c.needs.push_back(cap);
}

// A piece's location as the BPF side reads it; stack offsets moved by `sp_shift` (results
// written at the call site, where SP is lower than at a RET by the prologue's push).
probe_loc loc_of(const binary::Piece& p, int32_t sp_shift = 0) {
  probe_loc l{};
  l.size = static_cast<uint8_t>(std::min<uint32_t>(p.size, 8));
  if (p.loc.kind == Loc::Kind::reg) {
    l.kind = LOC_REG;
    l.reg = static_cast<uint8_t>(p.loc.reg);
  } else if (p.loc.kind == Loc::Kind::stack) {
    l.kind = LOC_STACK;
    l.sp_offset = p.loc.sp_offset + sp_shift;
  }
  return l;
}

const binary::Piece* piece(const binary::Value& v, std::string_view path) {
  for (const auto& p : v.pieces)
    if (p.path == path) return &p;
  return nullptr;
}

std::string type_name(const binary::Value& v) { return v.type ? v.type->name : "?"; }

// "its fields: X, Y" for a struct (or a pointer to one), for hints.
std::string fields_hint(const binary::Type* t) {
  if (t && t->kind == TypeKind::pointer) t = t->elem.get();
  if (!t || t->kind != TypeKind::struct_ || t->fields.empty()) return "";
  std::vector<std::string> names;
  for (const auto& f : t->fields) names.push_back(f.name);
  return fmt::format("the fields of {}: {}", t->name, fmt::join(names, ", "));
}

// "its arguments: a1, a2" for hints.
std::string params_hint(const binary::Function& f) {
  std::vector<std::string> names;
  for (const auto& x : f.params)
    if (!x.hidden) names.push_back(x.name);
  return names.empty() ? fmt::format("{} has no arguments", f.name) : fmt::format("its arguments: {}", fmt::join(names, ", "));
}

// A store of `bits` into one piece (register or stack).
Result<PlannedWrite> store(Ctx& c, const std::string& ptr, const std::string& target, const binary::Value& v,
                           const binary::Piece& p, uint8_t src, uint64_t bits, int32_t sp_shift) {
  if (p.loc.kind == Loc::Kind::xmm)
    return refuse(c, ptr, fmt::format("{} of {} is passed in xmm{}: BPF cannot write XMM registers (struct pt_regs has none)", target, c.f.name, p.loc.xmm),
                  "change a value that reaches it through an integer register or memory, or build the fixture for 386, where floats are on the stack");
  if (p.loc.kind == Loc::Kind::none)
    return refuse(c, ptr, fmt::format("the location of {} in {} is unknown", target, c.f.name), "`bpfault list -v` shows what the analysis knows");
  PlannedWrite w{target, &v, {}, &p, sp_shift};
  w.write.kind = W_STORE;
  w.write.src = src;
  w.write.loc = loc_of(p, sp_shift);
  w.write.len = w.write.loc.size;
  w.write.value = bits;
  need(c, p.loc.kind == Loc::Kind::reg ? kernel::Cap::write_regs : kernel::Cap::write_user);
  return w;
}

// The bits of an integer or bool for a piece of `size` bytes, range-checked.
Result<uint64_t> scalar_bits(Ctx& c, const std::string& ptr, const std::string& target, const binary::Piece& p, const json& v) {
  if (p.kind == TypeKind::bool_) {
    if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
    return refuse(c, ptr, fmt::format("{} is a bool; got {}", target, v.dump()), "use true or false");
  }
  if (!v.is_number_integer())
    return refuse(c, ptr, fmt::format("{} is an integer ({} bytes); got {}", target, p.size, v.dump()), "use a JSON integer");
  const unsigned bits = 8 * std::min<uint32_t>(p.size, 8);
  if (p.is_signed) {
    int64_t n = v.get<int64_t>();
    int64_t lo = bits == 64 ? std::numeric_limits<int64_t>::min() : -(int64_t{1} << (bits - 1));
    int64_t hi = bits == 64 ? std::numeric_limits<int64_t>::max() : (int64_t{1} << (bits - 1)) - 1;
    if (n < lo || n > hi) return refuse(c, ptr, fmt::format("{} does not fit in {} ({} to {})", n, target, lo, hi), "");
    return static_cast<uint64_t>(n);
  }
  if (v.is_number_unsigned() || v.get<int64_t>() >= 0) {
    uint64_t n = v.get<uint64_t>();
    if (bits < 64 && n >> bits) return refuse(c, ptr, fmt::format("{} does not fit in {} ({} bytes, unsigned)", n, target, p.size), "");
    return n;
  }
  return refuse(c, ptr, fmt::format("{} is unsigned; got {}", target, v.dump()), "");
}

// The pieces that make up `target` of v: the whole value, or a field path ".X" of it.
std::vector<const binary::Piece*> pieces_under(const binary::Value& v, const std::string& path) {
  std::vector<const binary::Piece*> out;
  for (const auto& p : v.pieces)
    if (path.empty() || p.path == path || p.path.starts_with(path + ".") || p.path.starts_with(path + "["))
      out.push_back(&p);
  return out;
}

Result<std::vector<PlannedWrite>> assign(Ctx& c, const std::string& ptr, const std::string& name, const scenario::Assigned& a,
                                         bool result, int32_t sp_shift);

// A package-level variable's address, for pointers and error values.
Result<uint64_t> variable(Ctx& c, const std::string& ptr, const std::string& name) {
  auto addr = c.bin.variable(name);
  if (!addr)
    return refuse(c, ptr, fmt::format("no package-level variable \"{}\" in {}", name, c.bin.path.string()),
                  c.bin.stripped ? "the binary is stripped (no .symtab): use an unstripped build"
                                 : "name it as Go does: io.EOF, io/fs.ErrNotExist, os.ErrDeadlineExceeded, main.ErrBoom");
  return *addr;
}

}  // namespace

kernel::Program program_for(const std::vector<PlannedWrite>& writes) {
  kernel::Program p = kernel::Program::read;  // the rule logic, no writes (signals, pauses, steps that write at the RET)
  for (const auto& w : writes) {
    if (w.write.kind == W_RETURN || (w.write.kind == W_STORE && w.write.loc.kind == LOC_REG)) return kernel::Program::write_regs;
    p = kernel::Program::write_user;
  }
  return p;
}

namespace {

Result<std::vector<PlannedWrite>> assign(Ctx& c, const std::string& ptr, const std::string& name, const scenario::Assigned& a,
                                         bool result, int32_t sp_shift) {
  // "p.X": a field of a struct (by value), or of what a pointer points to
  std::string base = name, path;
  if (auto dot = name.find('.'); dot != std::string::npos) base = name.substr(0, dot), path = name.substr(dot);
  const binary::Value* v = result ? c.f.result(base) : c.f.param(base);
  if (!v) {
    std::vector<std::string> names;
    for (const auto& x : result ? c.f.results : c.f.params)
      if (!x.hidden) names.push_back(x.name);
    return refuse(c, ptr, fmt::format("{} has no {} named \"{}\"", c.f.name, result ? "result" : "argument", base),
                  names.empty() ? fmt::format("it has no {}", result ? "results" : "arguments")
                                : fmt::format("its {}: {}{}", result ? "results" : "arguments", fmt::join(names, ", "), result ? " (or r0, r1, ...)" : ""));
  }
  const binary::Type* t = v->type.get();
  std::vector<PlannedWrite> out;

  // Through a pointer: W_THROUGH at the field's offset in the pointee.
  if (!path.empty() && t && t->kind == TypeKind::pointer) {
    const binary::Type* pointee = t->elem.get();
    uint64_t offset = 0;
    std::string rest = path.substr(1);
    while (pointee && !rest.empty()) {
      std::string field = rest.substr(0, rest.find('.'));
      rest = rest.find('.') == std::string::npos ? "" : rest.substr(rest.find('.') + 1);
      const binary::Field* fld = pointee->kind == TypeKind::struct_ ? pointee->field(field) : nullptr;
      if (!fld) return refuse(c, ptr, fmt::format("{} ({}) has no field \"{}\"", base, t->name, field), fields_hint(pointee));
      offset += fld->offset;
      pointee = fld->type.get();
    }
    if (!pointee || !(pointee->kind == TypeKind::int_ || pointee->kind == TypeKind::uint_ || pointee->kind == TypeKind::bool_ ||
                      pointee->kind == TypeKind::pointer))
      return refuse(c, ptr, fmt::format("{} has type {}: bpfault writes integer, bool and pointer fields through a pointer", name,
                                        pointee ? pointee->name : "?"), "");
    const binary::Piece* p = piece(*v, "");
    if (!p || p->loc.kind == Loc::Kind::xmm || p->loc.kind == Loc::Kind::none)
      return refuse(c, ptr, fmt::format("the pointer {} has no readable location", base), "");
    binary::Piece leaf{path, 0, static_cast<uint32_t>(pointee->size), pointee->kind, pointee->is_signed, {}};
    PlannedWrite w{name, v, {}};
    w.write.kind = W_THROUGH;
    w.write.loc = loc_of(*p, sp_shift);
    w.write.offset = static_cast<int32_t>(offset);
    w.write.len = static_cast<uint8_t>(pointee->size);
    if (pointee->kind == TypeKind::pointer) {
      if (!a.value.is_null()) return refuse(c, ptr, fmt::format("{} is a pointer: bpfault sets it to nil only through another pointer", name), "");
    } else {
      auto bits = scalar_bits(c, ptr, name, leaf, a.value);
      if (!bits) return tl::unexpected(bits.error());
      w.write.value = *bits;
    }
    need(c, kernel::Cap::write_user);
    return std::vector<PlannedWrite>{w};
  }

  std::vector<const binary::Piece*> leaves = pieces_under(*v, path);
  if (leaves.empty()) return refuse(c, ptr, fmt::format("{} ({}) has no field \"{}\"", base, type_name(*v), path.substr(1)), fields_hint(t));
  const binary::Piece& first = *leaves.front();
  const bool whole = leaves.size() == 1 && (first.path == path);
  const TypeKind kind = path.empty() && t ? t->kind : first.kind;

  if (a.len) {  // a string's or slice's length
    const binary::Piece* len = piece(*v, path + ".len");
    if (!len) return refuse(c, ptr, fmt::format("{} has type {}: only strings and slices have a length", name, type_name(*v)), "");
    auto w = store(c, ptr, name + ".len", *v, *len, SRC_IMM, *a.len, sp_shift);
    if (!w) return tl::unexpected(w.error());
    return std::vector<PlannedWrite>{*w};
  }
  if (a.bytes || (kind == TypeKind::string && a.value.is_string())) {
    const binary::Piece* data = piece(*v, path + ".ptr");
    const binary::Piece* len = piece(*v, path + ".len");
    if (!data || !len) return refuse(c, ptr, fmt::format("{} has type {}, not string", name, type_name(*v)), "strings take {\"len\": n} or \"text\"");
    std::string text = a.bytes ? *a.bytes : a.value.get<std::string>();
    if (text.size() > PROBE_BYTES) return refuse(c, ptr, fmt::format("{} bytes; bpfault writes at most {}", text.size(), PROBE_BYTES), "");
    PlannedWrite w{name, v, {}};
    w.write.kind = W_THROUGH;
    w.write.src = SRC_BYTES;
    w.write.loc = loc_of(*data, sp_shift);
    w.write.limit = loc_of(*len, sp_shift);
    w.write.len = static_cast<uint8_t>(text.size());
    std::memcpy(w.write.bytes, text.data(), text.size());
    need(c, kernel::Cap::write_user);
    if (!text.empty()) out.push_back(w);
    if (!a.bytes) {  // "text": the new contents and length
      auto lw = store(c, ptr, name + ".len", *v, *len, SRC_IMM, text.size(), sp_shift);
      if (!lw) return tl::unexpected(lw.error());
      out.push_back(std::move(*lw));
    }
    return out;
  }
  if (a.value.is_null()) {  // nil: every word zero (pointer, error, interface, slice, map, chan, func)
    if (kind == TypeKind::int_ || kind == TypeKind::uint_ || kind == TypeKind::bool_ || kind == TypeKind::float_ || kind == TypeKind::struct_ ||
        kind == TypeKind::string)
      return refuse(c, ptr, fmt::format("{} has type {}: it cannot be nil", name, type_name(*v)), "");
    for (const auto* p : leaves) {
      auto w = store(c, ptr, name, *v, *p, SRC_IMM, 0, sp_shift);
      if (!w) return tl::unexpected(w.error());
      out.push_back(std::move(*w));
    }
    return out;
  }
  if (kind == TypeKind::interface) {  // an error or interface value from a package-level variable
    if (!a.value.is_string()) return refuse(c, ptr, fmt::format("{} has type {}: set it to null or to a variable such as \"io.EOF\"", name, type_name(*v)), "");
    auto addr = variable(c, ptr, a.value.get<std::string>());
    if (!addr) return tl::unexpected(addr.error());
    // the interface words are read from the tracee when the fault fires: an itab pointer, a data pointer
    const binary::Piece* type_word = piece(*v, path + ".type");
    const binary::Piece* data_word = piece(*v, path + ".data");
    if (!type_word || !data_word) return refuse(c, ptr, fmt::format("{} ({}) is not laid out as an interface", name, type_name(*v)), "");
    for (auto [p, off] : {std::pair{type_word, 0}, std::pair{data_word, c.bin.ptr_size()}}) {
      auto w = store(c, ptr, name, *v, *p, SRC_USER, *addr + off, sp_shift);
      if (!w) return tl::unexpected(w.error());
      out.push_back(std::move(*w));
    }
    return out;
  }
  if (!whole) return refuse(c, ptr, fmt::format("{} has type {}: set its fields one by one (\"{}.Field\")", name, type_name(*v), name), "");
  if (kind == TypeKind::pointer || kind == TypeKind::unsafe_pointer) {
    if (!a.value.is_string()) return refuse(c, ptr, fmt::format("{} is a pointer: bpfault sets it to null or to a package-level variable's address", name),
                                            "give the variable's name, e.g. \"main.config\"");
    auto addr = variable(c, ptr, a.value.get<std::string>());
    if (!addr) return tl::unexpected(addr.error());
    auto w = store(c, ptr, name, *v, first, SRC_ADDR, *addr, sp_shift);
    if (!w) return tl::unexpected(w.error());
    return std::vector<PlannedWrite>{*w};
  }
  if (kind == TypeKind::float_ || kind == TypeKind::complex_)
    return refuse(c, ptr, fmt::format("{} has type {}: bpfault does not write floats", name, type_name(*v)),
                  first.loc.kind == Loc::Kind::xmm ? "it is in an XMM register, which BPF cannot reach" : "");
  if (kind != TypeKind::int_ && kind != TypeKind::uint_ && kind != TypeKind::bool_)
    return refuse(c, ptr, fmt::format("bpfault cannot set {} ({})", name, type_name(*v)), "");
  auto bits = scalar_bits(c, ptr, name, first, a.value);
  if (!bits) return tl::unexpected(bits.error());
  auto w = store(c, ptr, name, *v, first, SRC_IMM, *bits, sp_shift);
  if (!w) return tl::unexpected(w.error());
  return std::vector<PlannedWrite>{*w};
}

// A return(...) term's positional values, mapped to result names. One error-like value (a
// variable name or nil) for a function whose last result is an error sets that error.
std::map<std::string, scenario::Assigned> results_by_name(const binary::Function& f, const std::map<std::string, scenario::Assigned>& given) {
  bool positional = !given.empty();
  for (const auto& [k, v] : given) positional &= k.size() > 1 && k[0] == 'r' && std::all_of(k.begin() + 1, k.end(), ::isdigit);
  if (positional && given.size() == 1 && f.results.size() > 1 && f.results.back().type && f.results.back().type->is_error) {
    const auto& v = given.begin()->second.value;
    if (v.is_null() || v.is_string()) return {{f.results.back().name, given.begin()->second}};
  }
  return given;
}

Result<probe_pred> predicate(Ctx& c, const scenario::Predicate& p) {
  const binary::Value* v = c.f.param(p.arg);
  if (!v) return refuse(c, p.pointer, fmt::format("{} has no argument named \"{}\"", c.f.name, p.arg), params_hint(c.f));
  probe_pred out{};
  const bool text = p.op == "prefix" || p.op == "equals";
  if (text) {
    const binary::Piece* data = piece(*v, ".ptr");
    const binary::Piece* len = piece(*v, ".len");
    if (!data || !len) return refuse(c, p.pointer, fmt::format("{} has type {}: prefix and equals compare strings", p.arg, type_name(*v)), "");
    std::string bytes = p.value.get<std::string>();
    out.op = p.op == "prefix" ? P_PREFIX : P_STREQ;
    out.loc = loc_of(*data);
    out.len_loc = loc_of(*len);
    out.nbytes = static_cast<uint8_t>(bytes.size());
    std::memcpy(out.bytes, bytes.data(), bytes.size());
    return out;
  }
  const binary::Piece* s = piece(*v, "");
  if (!s || v->pieces.size() != 1)
    return refuse(c, p.pointer, fmt::format("{} has type {}: {} compares integers and bools", p.arg, type_name(*v), p.op), "strings take prefix or equals");
  if (s->loc.kind == Loc::Kind::xmm) return refuse(c, p.pointer, fmt::format("{} is in xmm{}: BPF cannot read XMM registers", p.arg, s->loc.xmm), "");
  static const std::map<std::string, uint8_t> ops = {{"eq", P_EQ}, {"ne", P_NE}, {"lt", P_LT}, {"le", P_LE}, {"gt", P_GT}, {"ge", P_GE}};
  out.op = ops.at(p.op);
  out.loc = loc_of(*s);
  out.is_signed = s->is_signed;
  out.value = p.value.is_boolean() ? (p.value.get<bool>() ? 1 : 0) : p.value.get<int64_t>();
  return out;
}

}  // namespace

Result<void> plan_injection(const scenario::Scenario& s, const binary::BinaryInfo& bin, PlannedProbe& pp, std::vector<kernel::Cap>& needs) {
  Ctx c{s, bin, *pp.function, needs};
  const scenario::Probe& probe = *pp.probe;
  probe_rule& r = pp.rule;
  r = probe_rule{};
  if (probe.conditions.size() > PROBE_MAX_PREDS)
    return refuse(c, probe.pointer + "/when/args", fmt::format("{} conditions; bpfault evaluates up to {}", probe.conditions.size(), PROBE_MAX_PREDS), "");
  for (const auto& cond : probe.conditions) {
    auto p = predicate(c, cond);
    if (!p) return tl::unexpected(p.error());
    r.preds[r.npreds++] = *p;
  }
  if (!probe.caller.empty()) {
    const binary::Function* caller = bin.find(probe.caller);
    if (!caller || !caller->entry)
      return refuse(c, probe.pointer + "/when/caller", fmt::format("{} is not a function of {}", probe.caller, bin.path.string()),
                    "name the calling function as Go prints it (bpfault list BINARY shows them)");
    r.caller_lo = caller->entry;
    r.caller_hi = caller->end;
  }
  if (probe.goroutine_first) r.goroutine = G_FIRST;
  if (probe.goroutine) r.goroutine = G_ID, r.goid = *probe.goroutine;
  if (r.goroutine != G_ANY && !bin.goid_offset)
    return refuse(c, probe.pointer + "/when/goroutine", "this binary's goroutine ids are unknown (no runtime.g offset)",
                  bin.arch == binary::Arch::i386 ? "386 binaries keep g in TLS, not R14: goroutine conditions need amd64" : "use an unstripped build");

  const int32_t delta = pp.function->body_sp_delta;
  for (size_t t = 0; t < probe.steps.size(); ++t) {
    const scenario::Step& st = probe.steps[t];
    PlannedStep ps{&st, {}, {}};
    probe_term& term = r.terms[t];
    term.nth = st.nth;
    term.every = st.every;
    term.times = st.times;
    term.probability = static_cast<uint32_t>(std::lround(st.probability * 10000));
    term.pause_ms = st.pause_ms;
    term.signal = static_cast<uint8_t>(st.signal);
    switch (st.action) {
      case scenario::Step::Action::off: term.action = ACT_OFF; break;
      case scenario::Step::Action::signal: term.action = ACT_SIGNAL; need(c, kernel::Cap::send_signal); break;
      case scenario::Step::Action::pause: term.action = ACT_PAUSE; need(c, kernel::Cap::send_signal); break;
      case scenario::Step::Action::write: term.action = ACT_WRITE; break;
    }
    for (const auto& [name, a] : st.set_args) {
      auto ws = assign(c, fmt::format("{}/set_args/{}", st.pointer, name), name, a, false, 0);
      if (!ws) return tl::unexpected(ws.error());
      ps.call.insert(ps.call.end(), ws->begin(), ws->end());
    }
    auto results = st.early_return ? results_by_name(*pp.function, st.set_results) : st.set_results;
    const std::string rptr = st.pointer + (st.pointer.ends_with("/term") ? "" : st.early_return ? "/return" : "/set_results");
    if (st.early_return) {
      if (delta != 0 && delta != bin.ptr_size())
        return refuse(c, rptr, fmt::format("{}'s probe point is {} bytes into its frame; an early return can undo only a `push rbp`", pp.function->name, delta),
                      "use set_results instead");
      // every result not given is zero; at the call site SP is `delta` below the RET's
      for (const auto& res : pp.function->results)
        if (!results.count(res.name)) results[res.name] = scenario::Assigned{json(nullptr), std::nullopt, std::nullopt};
      for (const auto& [name, a] : results) {
        const binary::Value* v = pp.function->result(name);
        scenario::Assigned zero = a;
        if (v && a.value.is_null() && v->type && (v->type->kind == TypeKind::int_ || v->type->kind == TypeKind::uint_ || v->type->kind == TypeKind::bool_))
          zero.value = v->type->kind == TypeKind::bool_ ? json(false) : json(0);
        if (v && a.value.is_null() && v->type && (v->type->kind == TypeKind::string || v->type->kind == TypeKind::struct_ || v->type->kind == TypeKind::float_)) {
          for (const auto& p : v->pieces) {  // zero every word
            auto w = store(c, rptr + "/" + name, name, *v, p, SRC_IMM, 0, delta);
            if (!w) return tl::unexpected(w.error());
            ps.call.push_back(std::move(*w));
          }
          continue;
        }
        auto ws = assign(c, rptr + "/" + name, name, zero, true, delta);
        if (!ws) return tl::unexpected(ws.error());
        ps.call.insert(ps.call.end(), ws->begin(), ws->end());
      }
      PlannedWrite ret{"return", nullptr, {}};
      ret.write.kind = W_RETURN;
      ps.call.push_back(ret);
      need(c, kernel::Cap::write_regs);
      need(c, kernel::Cap::write_ip);
    } else {
      for (const auto& [name, a] : results) {
        auto ws = assign(c, rptr + "/" + name, name, a, true, 0);
        if (!ws) return tl::unexpected(ws.error());
        ps.ret.insert(ps.ret.end(), ws->begin(), ws->end());
      }
    }
    if (ps.call.size() > PROBE_MAX_WRITES || ps.ret.size() > PROBE_MAX_WRITES)
      return refuse(c, st.pointer, fmt::format("{} writes in one step; bpfault does up to {}", std::max(ps.call.size(), ps.ret.size()), PROBE_MAX_WRITES), "");
    term.ncall = static_cast<uint8_t>(ps.call.size());
    term.nret = static_cast<uint8_t>(ps.ret.size());
    for (size_t i = 0; i < ps.call.size(); ++i) term.call[i] = ps.call[i].write;
    for (size_t i = 0; i < ps.ret.size(); ++i) term.ret[i] = ps.ret[i].write;
    pp.steps.push_back(std::move(ps));
  }
  r.nterms = static_cast<uint8_t>(probe.steps.size());
  return {};
}

}  // namespace bpfault::run
