// Go types as bpfault sees them: one table per binary that owns every Type, and the two
// questions the ABI asks of a type, its alignment and its scalar leaves in field order.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "binary/binary_info.h"

namespace bpfault::binary {

// Owns every Type of one binary. Links between types are non-owning shared_ptrs (aliasing an
// empty owner), so recursive types cost no cycle; what a Value holds owns the whole table.
class TypeTable : public std::enable_shared_from_this<TypeTable> {
 public:
  Type& add(Type t);
  std::shared_ptr<const Type> owning(const Type* t) const { return {shared_from_this(), t}; }
  static std::shared_ptr<const Type> link(const Type* t) { return {std::shared_ptr<const Type>(), t}; }

 private:
  std::deque<Type> types_;  // deque: adding never moves the others
};

// The scalar leaves of a value of type `t` (see Piece), and whether the register ABI may
// assign it: false when it holds an array of more than one element.
struct Leaves {
  std::vector<Piece> pieces;
  bool register_ok = true;
  int ints = 0, floats = 0;  // registers it would take
};
Leaves leaves(const Type& t, int ptr_size);

uint64_t alignment(const Type& t, int ptr_size);

}  // namespace bpfault::binary
