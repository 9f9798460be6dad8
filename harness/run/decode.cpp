#include "run/decode.h"

#include <cstring>

#include <fmt/format.h>

namespace bpfault::run {
namespace {

using nlohmann::json;

// The raw bits of one piece, or nullopt when it was not captured.
std::optional<uint64_t> raw(const binary::Piece& p, const probe_event& e) {
  uint64_t v = 0;
  switch (p.loc.kind) {
    case binary::Loc::Kind::reg:
      v = e.regs[static_cast<int>(p.loc.reg)];
      break;
    case binary::Loc::Kind::stack:
      if (p.loc.sp_offset < 0 || p.loc.sp_offset + p.size > PROBE_STACK_BYTES) return std::nullopt;
      std::memcpy(&v, e.stack + p.loc.sp_offset, std::min<uint32_t>(p.size, 8));
      break;
    default:
      return std::nullopt;
  }
  if (p.size < 8) v &= (uint64_t{1} << (8 * p.size)) - 1;  // sub-word values leave garbage above
  return v;
}

json scalar(const binary::Piece& p, uint64_t v) {
  switch (p.kind) {
    case binary::TypeKind::bool_: return v != 0;
    case binary::TypeKind::int_:
      if (p.is_signed && p.size < 8 && (v >> (8 * p.size - 1)) & 1) v |= ~uint64_t{0} << (8 * p.size);
      return p.is_signed ? json(static_cast<int64_t>(v)) : json(v);
    case binary::TypeKind::uint_: return v;
    default: return fmt::format("{:#x}", v);
  }
}

}  // namespace

json decode(const binary::Value& v, const probe_event& e, binary::Arch) {
  if (v.pieces.size() == 1 && v.pieces[0].path.empty()) {
    auto bits = raw(v.pieces[0], e);
    return bits ? scalar(v.pieces[0], *bits) : json(nullptr);
  }
  json out = json::object();
  for (const auto& p : v.pieces) {
    auto bits = raw(p, e);
    std::string key = p.path.empty() ? "value" : p.path.substr(1);
    out[key] = bits ? scalar(p, *bits) : json(nullptr);
  }
  return out;
}

}  // namespace bpfault::run
