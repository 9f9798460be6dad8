#include "run/decode.h"

#include <cstring>

#include <fmt/format.h>

namespace bpfault::run {
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
      if (p.loc.sp_offset < 0 || p.loc.sp_offset + std::min<uint32_t>(p.size, 8) > PROBE_STACK_BYTES) return std::nullopt;
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
    case binary::TypeKind::bool_: return v != 0;
    case binary::TypeKind::int_:
      if (is_signed && size < 8 && (v >> (8 * size - 1)) & 1) v |= ~uint64_t{0} << (8 * size);
      return is_signed ? json(static_cast<int64_t>(v)) : json(v);
    case binary::TypeKind::uint_: return v;
    default: return fmt::format("{:#x}", v);
  }
}

std::string errno_text(int32_t err) {
  switch (-err) {
    case 14: return "EFAULT: the memory is read-only or unmapped (a string literal lives in the binary's read-only data)";
    case 28: return "ENOSPC: the string is shorter than the bytes to write; nothing was written";
    case 95: return "EOPNOTSUPP: the program serving this site may not write there";
    default: return fmt::format("error {}", err);
  }
}

}  // namespace

json decode(const binary::Piece& p, const Capture& c) {
  auto bits = raw(p, c);
  return bits ? scalar(p.kind, p.is_signed, p.size, *bits) : json(nullptr);
}

json decode(const binary::Value& v, const Capture& c, const Memory* memory) {
  if (v.pieces.size() == 1 && v.pieces[0].path.empty()) return decode(v.pieces[0], c);
  json out = json::object();
  for (const auto& p : v.pieces) out[p.path.empty() ? "value" : p.path.substr(1)] = decode(p, c);
  if (!memory || !v.type || !out.contains("len") || !out["len"].is_number()) return out;
  const uint64_t len = out["len"].get<uint64_t>();
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

json describe_injection(const PlannedProbe& pp, const probe_injection& inj, bool at_call) {
  Capture before{inj.hit.regs, inj.hit.stack}, after{inj.regs_after, inj.stack_after};
  json j = {{"step", inj.term}, {"returned", false}, {"writes", json::array()}};
  if (at_call) {
    j["before"] = json::object();
    j["after"] = json::object();
    for (const auto& v : pp.function->params) {
      if (v.hidden) continue;
      j["before"][v.name] = decode(v, before);
      j["after"][v.name] = decode(v, after);
    }
  }
  if (inj.term >= pp.steps.size()) return j;
  const auto& writes = at_call ? pp.steps[inj.term].call : pp.steps[inj.term].ret;
  for (size_t i = 0; i < writes.size() && i < inj.nwrites && i < PROBE_MAX_WRITES; ++i) {
    const PlannedWrite& w = writes[i];
    const probe_write_result& res = inj.writes[i];
    json wj = {{"target", w.target}, {"error", res.err ? json(errno_text(res.err)) : json(nullptr)}};
    if (w.write.kind == W_RETURN) {
      j["returned"] = res.err == 0;
    } else if (w.write.kind == W_THROUGH) {
      uint64_t old = 0;
      std::memcpy(&old, res.before, std::min<size_t>(w.write.len, 8));
      if (w.write.src == SRC_BYTES) {
        // the record keeps the first 8 bytes that were there
        wj["before"] = std::string(reinterpret_cast<const char*>(res.before), std::min<size_t>(w.write.len, sizeof res.before));
        wj["after"] = res.err ? wj["before"] : json(std::string(reinterpret_cast<const char*>(w.write.bytes), w.write.len));
      } else {
        wj["before"] = scalar(binary::TypeKind::int_, true, w.write.len, old);
        wj["after"] = res.err ? wj["before"] : scalar(binary::TypeKind::int_, true, w.write.len, w.write.value);
      }
    } else if (w.piece) {
      binary::Piece p = *w.piece;  // where it is in this capture (results written at the call sit lower)
      p.loc.sp_offset += w.sp_shift;
      wj["before"] = decode(p, before);
      wj["after"] = decode(p, after);
    }
    j["writes"].push_back(std::move(wj));
  }
  return j;
}

}  // namespace bpfault::run
