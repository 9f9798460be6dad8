#include "run/decode.h"

#include <cstring>
#include <string>

#include <fmt/format.h>

#include "binary/variables.h"

namespace bpfault::run {

using plan::PlannedProbe;
using plan::PlannedStep;
using plan::PlannedWrite;

namespace {

using nlohmann::json;

// The raw bits of one piece, or nullopt when it was not captured.
std::optional<uint64_t> raw(const binary::Piece& p, const Capture& c) {
  uint64_t v = 0;
  switch (p.loc.kind) {
    case binary::Loc::Kind::reg:
      v = c.regs[static_cast<int>(p.loc.reg)];
      break;
    case binary::Loc::Kind::stack:
      if (p.loc.sp_offset < 0 || p.loc.sp_offset + std::min<uint32_t>(p.size, 8) > PROBE_STACK_BYTES)
        return std::nullopt;
      std::memcpy(&v, c.stack + p.loc.sp_offset, std::min<uint32_t>(p.size, 8));
      break;
    default:
      return std::nullopt;
  }
  if (p.size < 8) v &= (uint64_t{1} << (8 * p.size)) - 1;  // sub-word values leave garbage above
  return v;
}

json scalar(binary::TypeKind kind, bool is_signed, uint32_t size, uint64_t v) {
  switch (kind) {
    case binary::TypeKind::float_: {  // only ever read from memory: XMM registers are out of reach
      if (size == 4) {
        float f;
        uint32_t b = static_cast<uint32_t>(v);
        std::memcpy(&f, &b, 4);
        return f;
      }
      double d;
      std::memcpy(&d, &v, 8);
      return d;
    }
    case binary::TypeKind::bool_:
      return v != 0;
    case binary::TypeKind::int_:
      if (is_signed && size < 8 && (v >> (8 * size - 1)) & 1) v |= ~uint64_t{0} << (8 * size);
      return is_signed ? json(static_cast<int64_t>(v)) : json(v);
    case binary::TypeKind::uint_:
      return v;
    default:
      return fmt::format("{:#x}", v);
  }
}

std::string errno_text(int32_t err) {
  switch (-err) {
    case 14:
      return "EFAULT: the memory is read-only or unmapped (a string literal lives in the binary's read-only data)";
    case 2:  // only the write of a string's pointer to new text returns it
      return "ENOENT: the tracee's environment does not end with bpfault's BPFAULT_STRINGS, where the new text is "
             "(the process was not started by bpfault, or something before it in the exec chain reordered the "
             "environment)";
    case 28:
      return "ENOSPC: the string is shorter than the bytes to write";
    case 34:
      return "ERANGE: the slice's capacity is below the length asked for";
    case 95:
      return "EOPNOTSUPP: the program serving this site may not write there";
    case 125:
      return "ECANCELED: not written, because another write of the same injection could not be done (all or nothing)";
    default:
      return fmt::format("error {}", err);
  }
}

std::string action_name(const scenario::Step& st) {
  switch (st.action) {
    case scenario::Step::Action::off:
      return "off";
    case scenario::Step::Action::print:
      return "print";
    case scenario::Step::Action::signal:
      return fmt::format("signal {}", scenario::signal_name(st.signal));
    case scenario::Step::Action::delay:
      return fmt::format("delay {} ms", st.delay_ms);
    case scenario::Step::Action::write:
      return st.early_return ? "return" : "write";
    case scenario::Step::Action::panic:
      return "panic";
  }
  return "?";
}

uint64_t word(const uint8_t* bytes, size_t len) {
  uint64_t v = 0;
  std::memcpy(&v, bytes, std::min<size_t>(len, 8));
  return v;
}

// A value as it is at a site where SP is `shift` bytes lower than where it was analysed
// (results written at the call site of an early return).
binary::Value shifted(const binary::Value& v, int32_t shift) {
  binary::Value out = v;
  for (auto& p : out.pieces)
    if (p.loc.kind == binary::Loc::Kind::stack) p.loc.sp_offset += shift;
  return out;
}

// One write's proof: what was there, what was asked, what was read back after every write
// of the injection; an error when it was not done or the read-back differs.
record::WriteProof describe_write(const PlannedWrite& w, const probe_write_result& res) {
  record::WriteProof wj{.target = w.target};
  const size_t len = std::min<size_t>(res.len, PROBE_BYTES);
  auto bytes_text = [&](const uint8_t* b) { return std::string(reinterpret_cast<const char*>(b), len); };
  // the instruction pointer, the addresses a panic's value is made of and a string's pointer to its
  // new text are shown as addresses
  if (w.write.kind == W_RETURN || w.write.kind == W_TAILCALL || (!w.value && w.write.src == SRC_ADDR) ||
      w.write.src == SRC_ENV) {
    wj.before = fmt::format("{:#x}", word(res.before, 8));
    wj.asked = fmt::format("{:#x}", res.asked);
    wj.after = fmt::format("{:#x}", word(res.after, 8));
  } else if (w.write.src == SRC_BYTES) {
    wj.before = bytes_text(res.before);
    wj.asked = std::string(reinterpret_cast<const char*>(w.write.bytes), std::min<size_t>(w.write.len, PROBE_BYTES));
    wj.after = bytes_text(res.after);
  } else {
    // registers hold the value zero-extended; memory only its bytes
    const binary::Piece* p = w.piece;
    const uint32_t size = p ? std::min<uint32_t>(p->size, 8) : std::min<uint32_t>(w.write.len, 8);
    auto value = [&](uint64_t bits) {
      if (size < 8) bits &= (uint64_t{1} << (8 * size)) - 1;
      return p ? scalar(p->kind, p->is_signed, size, bits) : scalar(binary::TypeKind::int_, true, size, bits);
    };
    wj.before = value(word(res.before, len));
    wj.asked = value(res.asked);
    wj.after = value(word(res.after, len));
    wj.variable = w.variable;
  }
  if (res.addr) wj.address = fmt::format("{:#x}", res.addr);
  if (res.err) {
    wj.error = errno_text(res.err);
  } else if (w.write.kind != W_RETURN && wj.after != wj.asked) {
    wj.error = fmt::format("read back {} after writing {}: something else wrote there, or the write did not take",
                           wj.after.dump(), wj.asked.dump());
  }
  return wj;
}

// An interface value read back as exactly the words an injection wrote for it is what was
// asked ("io.EOF", {"errno": "ENOSPC"}): errors compare by identity, as Go's == does.
json with_identity(const binary::Value& v, json decoded, const std::vector<PlannedWrite>& writes,
                   const probe_injection& inj) {
  if (!decoded.is_object() || !decoded.contains("type") || !decoded.contains("data")) return decoded;
  json identity;
  size_t words = 0;
  for (size_t i = 0; i < writes.size() && i < inj.nwrites && i < PROBE_MAX_WRITES; ++i) {
    const PlannedWrite& w = writes[i];
    if (w.value != &v || w.identity.is_null() || inj.writes[i].err) continue;
    // a word of a 386 interface is 4 bytes: the rest of the 8 read from a variable is its next word
    const size_t len = std::min<size_t>(inj.writes[i].len, 8);
    const uint64_t asked = len < 8 ? inj.writes[i].asked & ((uint64_t{1} << (8 * len)) - 1) : inj.writes[i].asked;
    if (word(inj.writes[i].after, len) != asked) return decoded;
    identity = w.identity;
    ++words;
  }
  return words == 2 ? identity : decoded;
}

// What an interface's words tell of its value, from the binary alone: its dynamic type as %T
// prints it ("dynamic_type": "*fs.PathError"), and for a syscall.Errno that Go boxed where it
// boxes small integers (runtime.staticuint64s, as the syscall package's errors are), its name
// ("errno": "ENOSPC"). The text behind a pointer (an errors.errorString's message) is in the
// tracee's memory, which the probe does not copy for interfaces.
void name_dynamic_type(const binary::BinaryInfo& bin, const binary::Type& t, json& out) {
  const auto word = [&](const char* key) -> std::optional<uint64_t> {
    const json& w = out.value(key, json());
    if (!w.is_string()) return std::nullopt;
    return std::stoull(w.get<std::string>(), nullptr, 16);
  };
  const auto type_word = word("type"), data_word = word("data");
  if (!type_word || !data_word) return;
  const auto dynamic = binary::dynamic_type(bin, *type_word, t.name == "interface {}" || t.name == "any");
  if (!dynamic) return;
  out["dynamic_type"] = *dynamic;
  if (*dynamic != "syscall.Errno") return;
  const auto small = bin.variable("runtime.staticuint64s");
  if (!small || *data_word < *small || *data_word >= *small + 256 * 8 || (*data_word - *small) % 8) return;
  const int n = static_cast<int>((*data_word - *small) / 8);
  if (const char* name = strerrorname_np(n)) out["errno"] = name;
}

}  // namespace

json decode(const binary::Piece& p, const Capture& c) {
  auto bits = raw(p, c);
  return bits ? scalar(p.kind, p.is_signed, p.size, *bits) : json(nullptr);
}

json decode(const binary::Value& v, const Capture& c, const Memory* memory, const binary::BinaryInfo* bin) {
  if (v.pieces.size() == 1 && v.pieces[0].path.empty()) return decode(v.pieces[0], c);
  json out = json::object();
  for (const auto& p : v.pieces) out[p.path.empty() ? "value" : p.path.substr(1)] = decode(p, c);
  // a nil interface (a nil error) is null, as a scenario writes it
  if (v.type && v.type->kind == binary::TypeKind::interface && out.value("type", json()) == "0x0" &&
      out.value("data", json()) == "0x0")
    return nullptr;
  if (bin && v.type && v.type->kind == binary::TypeKind::interface) name_dynamic_type(*bin, *v.type, out);
  if (!v.type || !out.contains("len") || !out["len"].is_number()) return out;
  const uint64_t len = out["len"].get<uint64_t>();
  if (v.type->kind == binary::TypeKind::string && len == 0) return "";  // whatever its pointer
  if (!memory) return out;
  if (v.type->kind == binary::TypeKind::string) {
    std::string text(reinterpret_cast<const char*>(memory->data), std::min<uint64_t>(memory->size, len));
    if (text.size() == len) return text;
    return json{{"text", text}, {"len", len}};
  }
  if (v.type->kind == binary::TypeKind::slice && v.type->elem) {
    const binary::Type& e = *v.type->elem;
    json first = json::array();
    for (uint64_t off = 0; e.size && e.size <= 8 && off + e.size <= memory->size; off += e.size) {
      uint64_t bits = 0;
      std::memcpy(&bits, memory->data + off, e.size);
      first.push_back(scalar(e.kind, e.is_signed, static_cast<uint32_t>(e.size), bits));
    }
    return json{{"len", len}, {"cap", out.value("cap", json())}, {"first", first}};
  }
  return out;
}

record::Injection describe_injection(const PlannedProbe& pp, const probe_injection& inj, bool at_call, bool values,
                                     const binary::BinaryInfo* bin) {
  Capture before{inj.hit.regs, inj.hit.stack}, after{inj.regs_after, inj.stack_after};
  record::Injection j{.step = inj.step};
  const PlannedStep* step = inj.step < pp.steps.size() ? &pp.steps[inj.step] : nullptr;
  static const std::vector<PlannedWrite> none;
  const auto& writes = !step ? none : at_call ? step->call : step->ret;
  const uint8_t action = inj.step < PROBE_MAX_STEPS ? pp.rule.steps[inj.step].action : uint8_t{ACT_OFF};
  bool done = true;
  for (size_t i = 0; i < writes.size() && i < PROBE_MAX_WRITES; ++i) {
    if (i >= inj.nwrites) {  // the kernel did not get to it
      j.writes.push_back({.target = writes[i].target, .attempted = false, .error = "not attempted"});
      done = false;
      continue;
    }
    record::WriteProof wj = describe_write(writes[i], inj.writes[i]);
    done &= !wj.error;
    if (writes[i].write.kind == W_RETURN) j.returned = inj.writes[i].err == 0;
    j.writes.push_back(std::move(wj));
  }
  // the action was carried out: not an `off` (or `print`) step, and every write of it done and read back
  j.done = action != ACT_OFF && done;
  if (step) j.action = action_name(*step->step);
  if (!values) return j;
  // recorded strings and slices show their contents after the writes (the site copied them then)
  auto memory = [&](const binary::Value& v, bool after) -> std::optional<Memory> {
    const auto& captured = at_call ? pp.captured : pp.captured_results;
    for (size_t k = 0; k < captured.size() && k < PROBE_MAX_CAPTURES; ++k)
      if (captured[k] == &v)
        return after ? Memory{inj.capture[k], inj.captured[k]} : Memory{inj.capture_before[k], inj.captured_before[k]};
    return std::nullopt;
  };
  auto after_memory = [&](const binary::Value& v) { return memory(v, true); };
  auto decode_after = [&](const binary::Value& v, const binary::Value& at) {
    auto mem = after_memory(v);
    return with_identity(v, decode(at, after, mem ? &*mem : nullptr, bin), writes, inj);
  };
  const bool early = at_call && step && step->step->early_return;
  if (at_call) {
    // an early return's arguments have no "after": the body never ran, and its results now
    // fill the argument registers
    j.args_before = json::object();
    if (!early) j.args_after = json::object();
    for (const auto& v : pp.function->params) {
      if (v.hidden) continue;
      auto mem = memory(v, false);
      (*j.args_before)[v.name] = decode(v, before, mem ? &*mem : nullptr, bin);
      if (!early) (*j.args_after)[v.name] = decode_after(v, v);
    }
    if (step && !step->ret.empty()) {
      // the RET must apply the rest: the call was kept for it, or the write cannot happen
      j.pending_ret_writes = step->ret.size();
      if (inj.pending_err)
        j.pending_error =
            fmt::format("the call could not be kept for its RET (error {}: too many calls in flight)", inj.pending_err);
    }
  }
  // results: at a RET, and at the call of an early return (where SP is lower by the prologue's push)
  if (!at_call || early) {
    const int32_t shift = early ? pp.function->body_sp_delta : 0;
    j.results_before = json::object();
    j.results_after = json::object();
    for (const auto& v : pp.function->results) {
      const binary::Value at = shifted(v, shift);
      const std::string name = v.name.starts_with("~r") ? v.name.substr(1) : v.name;
      auto mem = memory(v, false);  // a RET's copy (an early return's call site has none of results)
      (*j.results_before)[name] = decode(at, before, mem ? &*mem : nullptr, bin);
      (*j.results_after)[name] = decode_after(v, at);
    }
  }
  return j;
}

}  // namespace bpfault::run
