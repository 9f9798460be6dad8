#include "binary/go_type.h"

#include <algorithm>

#include <fmt/format.h>

namespace bpfault::binary {
namespace {

// Arrays longer than this many leaves become one opaque piece: they are on the stack anyway.
constexpr size_t kMaxArrayLeaves = 16;

void walk(const Type& t, const std::string& path, uint64_t base, int ptr_size, int depth, Leaves& out) {
  auto scalar = [&](std::string p, uint64_t off, uint64_t size, TypeKind kind, bool is_signed) {
    out.pieces.push_back(
        Piece{std::move(p), static_cast<uint32_t>(off), static_cast<uint32_t>(size), kind, is_signed, {}});
    if (kind == TypeKind::float_)
      ++out.floats;
    else
      ++out.ints;
  };
  const uint64_t w = ptr_size;
  if (depth > 32) {  // absurd nesting: keep it one opaque piece
    out.register_ok = false;
    scalar(path, base, t.size, TypeKind::other, false);
    return;
  }
  switch (t.kind) {
    case TypeKind::int_:
    case TypeKind::uint_:
    case TypeKind::bool_:
      if (t.size > w) out.register_ok = false;  // int64 on 386: two words, stack only here
      scalar(path, base, t.size, t.kind, t.is_signed);
      return;
    case TypeKind::float_:
      scalar(path, base, t.size, t.kind, false);
      return;
    case TypeKind::complex_:
      scalar(path + ".real", base, t.size / 2, TypeKind::float_, false);
      scalar(path + ".imag", base + t.size / 2, t.size / 2, TypeKind::float_, false);
      return;
    case TypeKind::pointer:
    case TypeKind::unsafe_pointer:
    case TypeKind::map:
    case TypeKind::chan:
    case TypeKind::func:
      scalar(path, base, w, t.kind, false);
      return;
    case TypeKind::string:
      scalar(path + ".ptr", base, w, TypeKind::pointer, false);
      scalar(path + ".len", base + w, w, TypeKind::int_, true);
      return;
    case TypeKind::slice:
      scalar(path + ".ptr", base, w, TypeKind::pointer, false);
      scalar(path + ".len", base + w, w, TypeKind::int_, true);
      scalar(path + ".cap", base + 2 * w, w, TypeKind::int_, true);
      return;
    case TypeKind::interface:
      scalar(path + ".type", base, w, TypeKind::pointer, false);
      scalar(path + ".data", base + w, w, TypeKind::pointer, false);
      return;
    case TypeKind::struct_:
      for (const Field& f : t.fields)
        if (f.type) walk(*f.type, path + "." + f.name, base + f.offset, ptr_size, depth + 1, out);
      return;
    case TypeKind::array: {
      if (!t.elem &&
          t.size > 0) {  // bytes of unknown elements (a blank DWARF left out): one opaque piece, on the stack
        out.register_ok = false;
        scalar(path, base, t.size, TypeKind::other, false);
        return;
      }
      if (t.len == 0 || !t.elem) return;
      if (t.len > 1) out.register_ok = false;
      Leaves one;
      walk(*t.elem, "", 0, ptr_size, depth + 1, one);
      if (one.pieces.size() * t.len > kMaxArrayLeaves) {
        out.register_ok = false;
        out.pieces.push_back(
            Piece{path, static_cast<uint32_t>(base), static_cast<uint32_t>(t.size), TypeKind::array, false, {}});
        return;
      }
      for (uint64_t i = 0; i < t.len; ++i)
        walk(*t.elem, fmt::format("{}[{}]", path, i), base + i * t.elem->size, ptr_size, depth + 1, out);
      return;
    }
    case TypeKind::other:
      if (t.size == 0) return;
      out.register_ok = false;
      scalar(path, base, t.size, TypeKind::other, false);
      return;
  }
}

}  // namespace

Type& TypeTable::add(Type t) { return types_.emplace_back(std::move(t)); }

Leaves leaves(const Type& t, int ptr_size) {
  Leaves out;
  walk(t, "", 0, ptr_size, 0, out);
  return out;
}

uint64_t alignment(const Type& t, int ptr_size) {
  const uint64_t w = ptr_size;
  switch (t.kind) {
    case TypeKind::int_:
    case TypeKind::uint_:
    case TypeKind::bool_:
    case TypeKind::float_:
      return std::clamp<uint64_t>(t.size, 1, w);  // 64-bit values align to 4 on 386
    case TypeKind::complex_:
      return std::clamp<uint64_t>(t.size / 2, 1, w);
    case TypeKind::array:
      return t.elem ? alignment(*t.elem, ptr_size) : 1;
    case TypeKind::struct_: {
      uint64_t a = 1;
      for (const Field& f : t.fields)
        if (f.type) a = std::max(a, alignment(*f.type, ptr_size));
      return a;
    }
    case TypeKind::other:
      return std::clamp<uint64_t>(t.size, 1, w);
    default:
      return w;  // pointers, strings, slices, interfaces, maps, chans, funcs
  }
}

}  // namespace bpfault::binary
