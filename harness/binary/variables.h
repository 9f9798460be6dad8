// The Go types of package-level variables, from DWARF: what a pointer set to `&var` points to;
// and the runtime's own type facts (type descriptors, itabs) that an interface value is made of.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "binary/binary_info.h"

namespace bpfault::binary {

// The Go type name of a package-level variable as DWARF names it ("main.config" ->
// "main.Config"); nullopt when the binary has no DWARF entry for it.
std::optional<std::string> variable_type(const BinaryInfo& bin, std::string_view name);

// The address of the runtime's type descriptor (runtime._type) of the Go type DWARF names
// `type_name` ("syscall.Errno", "error", "*main.T"): runtime.types plus the type's
// DW_AT_go_runtime_type. nullopt without DWARF, without runtime.types, or when the program
// has no descriptor for that type.
struct TypeDescriptor {
  uint64_t addr = 0;
  bool interface = false;     // an interface type (its kind)
  bool direct_iface = false;  // pointer-shaped: an interface's data word is the value itself, not a pointer to it
};
std::optional<TypeDescriptor> type_descriptor(const BinaryInfo& bin, std::string_view type_name);

// The itab that makes a value of type `concrete` an `iface` (Go's go:itab.<concrete>,<iface>):
// by that symbol when the linker named it (Go 1.26 and older), else found among the binary's
// itabs by its first words, {inter: iface's descriptor, _type: concrete's} and the hash the
// runtime copies from the concrete type's descriptor (Go 1.27's linker names no itab, and puts
// them in read-only data). nullopt when the program never makes that conversion.
struct Itab {
  uint64_t addr = 0;
  std::string symbol;  // "go:itab.syscall.Errno,error", or "" when found by its contents
};
std::optional<Itab> itab(const BinaryInfo& bin, std::string_view concrete, std::string_view iface);
// The same itab found by its contents only, whatever the symbols say.
std::optional<uint64_t> itab_by_contents(const BinaryInfo& bin, std::string_view concrete, std::string_view iface);

// The Go name (as %v of reflect.Type prints it: "*fs.PathError", "syscall.Errno") of the type
// an interface's type word designates: the word is an itab for a non-empty interface, the
// type's descriptor itself for `any`. Read from the descriptor's name in runtime.types, so it
// works on stripped binaries too when runtime.types is known. nullopt when the word is not a
// descriptor (or itab) in the file: a type made at run time (reflect), or garbage.
std::optional<std::string> dynamic_type(const BinaryInfo& bin, uint64_t type_word, bool empty_interface);

// The number of a syscall.Errno from its interface's data word, where the binary holds the box:
// runtime.staticuint64s, where Go's conversion points small values, or the copy the compiler
// made in the file's data for a package variable set to a constant (the syscall package's
// errENOENT); nullopt for a box on the heap.
std::optional<int> boxed_errno(const BinaryInfo& bin, uint64_t data_word);

// Go's own text of errno `n`, as syscall.Errno(n).Error() gives it ("no such file or
// directory"), from the binary's table of them (`syscall.errors`, in its data, relocated in a
// PIE); nullopt without that table (a stripped binary, one that never prints an errno) or past
// its end.
std::optional<std::string> errno_text(const BinaryInfo& bin, int n);

}  // namespace bpfault::binary
