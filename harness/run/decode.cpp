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

// An error's message as its Error() method makes it, for the types whose message is plain data in
// the copies `m` (the object, its first two string fields: plan::kErrorCaptures); nullopt when
// the type is another, or a part was not copied. `whole` turns false when a part was cut.
std::optional<std::string> error_message(const binary::BinaryInfo& bin, const std::string& type, uint64_t data_word,
                                         std::span<const Memory> m, bool& whole) {
  const int w = bin.ptr_size();
  auto errno_message = [&](uint64_t type_word, uint64_t data) -> std::optional<std::string> {
    if (binary::dynamic_type(bin, type_word, false) != "syscall.Errno") return std::nullopt;
    const auto n = binary::boxed_errno(bin, data);
    return n ? binary::errno_text(bin, *n) : std::nullopt;
  };
  if (type == "syscall.Errno") {
    const auto n = binary::boxed_errno(bin, data_word);
    return n ? binary::errno_text(bin, *n) : std::nullopt;
  }
  if (m.size() != plan::kErrorCaptures) return std::nullopt;
  auto word = [&](int k) -> std::optional<uint64_t> {  // the object's k-th word
    if (m[0].size < static_cast<uint32_t>((k + 1) * w)) return std::nullopt;
    uint64_t v = 0;
    std::memcpy(&v, m[0].data + k * w, w);
    return v;
  };
  auto field = [&](int k) -> std::optional<std::string> {  // string field k (0 or 1), its length at word 2k+1
    const auto len = word(2 * k + 1);
    if (!len) return std::nullopt;
    const Memory& t = m[1 + k];
    if (*len && !t.size) return std::nullopt;  // not readable
    whole &= t.size == *len;
    return std::string(reinterpret_cast<const char*>(t.data), t.size);
  };
  auto inner = [&](int k) -> std::optional<std::string> {  // the error at words k, k+1
    const auto t = word(k), d = word(k + 1);
    return t && d ? errno_message(*t, *d) : std::nullopt;
  };
  if (type == "*errors.errorString" || type == "*fmt.wrapError" || type == "*fmt.wrapErrors") return field(0);
  if (type == "*fs.PathError" || type == "*os.PathError") {  // Op, Path, Err
    const auto op = field(0), path = field(1), err = inner(4);
    if (op && path && err) return *op + " " + *path + ": " + *err;
  }
  if (type == "*os.SyscallError") {  // Syscall, Err
    const auto call = field(0), err = inner(2);
    if (call && err) return *call + ": " + *err;
  }
  return std::nullopt;
}

// What an interface's words tell of its value, from the binary alone: its dynamic type as %T
// prints it ("dynamic_type": "*fs.PathError"); for a syscall.Errno, its name ("errno":
// "ENOSPC"); for an error whose object the site copied, its message.
void name_dynamic_type(const binary::BinaryInfo& bin, const binary::Type& t, std::span<const Memory> m, json& out) {
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
  if (*dynamic == "syscall.Errno")
    if (const auto n = binary::boxed_errno(bin, *data_word))
      if (const char* name = strerrorname_np(*n)) out["errno"] = name;
  if (t.name != "error") return;
  bool whole = true;
  if (const auto message = error_message(bin, *dynamic, *data_word, m, whole))
    out[whole ? "message" : "message_start"] = *message;
}

}  // namespace

json decode(const binary::Piece& p, const Capture& c) {
  auto bits = raw(p, c);
  return bits ? scalar(p.kind, p.is_signed, p.size, *bits) : json(nullptr);
}

std::vector<Memory> memory_of(const std::vector<const binary::Value*>& captured, const binary::Value& v,
                              const __u32 sizes[PROBE_MAX_CAPTURES],
                              const __u8 data[PROBE_MAX_CAPTURES][PROBE_CAPTURE_BYTES]) {
  std::vector<Memory> out;
  for (size_t k = 0; k < captured.size() && k < PROBE_MAX_CAPTURES; ++k)
    if (captured[k] == &v) out.push_back({data[k], std::min<uint32_t>(sizes[k], PROBE_CAPTURE_BYTES)});
  return out;
}

json decode(const binary::Value& v, const Capture& c, std::span<const Memory> memories, const binary::BinaryInfo* bin) {
  if (v.pieces.size() == 1 && v.pieces[0].path.empty()) return decode(v.pieces[0], c);
  json out = json::object();
  for (const auto& p : v.pieces) out[p.path.empty() ? "value" : p.path.substr(1)] = decode(p, c);
  // a nil interface (a nil error) is null, as a scenario writes it
  if (v.type && v.type->kind == binary::TypeKind::interface && out.value("type", json()) == "0x0" &&
      out.value("data", json()) == "0x0")
    return nullptr;
  if (bin && v.type && v.type->kind == binary::TypeKind::interface) name_dynamic_type(*bin, *v.type, memories, out);
  if (!v.type || !out.contains("len") || !out["len"].is_number()) return out;
  const uint64_t len = out["len"].get<uint64_t>();
  if (v.type->kind == binary::TypeKind::string && len == 0) return "";  // whatever its pointer
  if (memories.empty()) return out;
  const Memory* memory = &memories[0];
  const bool bytes_due = v.type->kind == binary::TypeKind::string ||
                         (v.type->kind == binary::TypeKind::slice && v.type->elem && v.type->elem->size > 0);
  if (bytes_due && len > 0 && memory->size == 0) {
    // The copy failed (bpf_probe_read_user): never an empty text or slice, which it was not.
    out["unreadable"] =
        "its bytes could not be copied at the probe (a page not resident yet: a probe cannot fault one in)";
    return out;
  }
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
  auto memory = [&](const binary::Value& v, bool after) {
    const auto& captured = at_call ? pp.captured : pp.captured_results;
    return after ? memory_of(captured, v, inj.captured, inj.capture)
                 : memory_of(captured, v, inj.captured_before, inj.capture_before);
  };
  auto decode_after = [&](const binary::Value& v, const binary::Value& at) {
    return with_identity(v, decode(at, after, memory(v, true), bin), writes, inj);
  };
  const bool left = at_call && step && step->step->leaves_at_call();
  const bool early = at_call && step && step->step->early_return;
  if (at_call) {
    // the arguments of a call that left at once (an early return, a panic) have no "after": the
    // body never ran, and its results (or gopanic's argument) now fill the argument registers
    j.args_before = json::object();
    if (!left) j.args_after = json::object();
    for (const auto& v : pp.function->params) {
      if (v.hidden) continue;
      (*j.args_before)[v.name] = decode(v, before, memory(v, false), bin);
      if (!left) (*j.args_after)[v.name] = decode_after(v, v);
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
      // a RET's copy; at an early return's call site the results' copies were taken before the
      // writes from what the registers held then, which were no results
      (*j.results_before)[name] = decode(at, before, early ? std::vector<Memory>{} : memory(v, false), bin);
      (*j.results_after)[name] = decode_after(v, at);
    }
  }
  return j;
}

}  // namespace bpfault::run
