// What bpfault knows about a Go executable, computed from the file alone (no kernel access):
// its functions, their signatures, where each argument and result lives at the probe points,
// the probe points themselves, and the runtime facts needed for goroutine identity.
// `analyse()` is a pure function of the file's bytes; results are cached per build id.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diag/error.h"

namespace bpfault::binary {

enum class Arch : uint8_t { amd64, i386 };

// Go's integer argument registers on amd64 in ABI order (abi-internal.md). The BPF side
// captures them in this order, so a register is named by its ABI index everywhere.
enum class Reg : uint8_t { rax, rbx, rcx, rdi, rsi, r8, r9, r10, r11 };
inline constexpr int kIntRegs = 9;
std::string_view reg_name(Reg r);  // "rax"

// Where one scalar piece of a value lives at a probe point.
struct Loc {
  enum class Kind : uint8_t {
    reg,    // integer register `reg`
    stack,  // memory at SP + sp_offset (SP as the probe sees it; includes the return address)
    xmm,    // float register X`xmm`: not in pt_regs, so neither readable nor writable by BPF
    none,   // not available (unused part, or the analysis could not place it)
  };
  Kind kind = Kind::none;
  Reg reg = Reg::rax;
  uint8_t xmm = 0;
  int32_t sp_offset = 0;

  std::string describe() const;  // "rax", "sp+16", "xmm0", "?"
};

enum class TypeKind : uint8_t {
  int_, uint_, bool_, float_, complex_, string, slice, pointer, unsafe_pointer, interface,
  struct_, array, map, chan, func, other,
};

struct Type;
struct Field {
  std::string name;
  uint64_t offset = 0;
  std::shared_ptr<const Type> type;
};

// A Go type, as far as bpfault needs it: size and layout, element and fields.
struct Type {
  std::string name;  // Go spelling: "int", "string", "*main.Point", "error", "[]uint8"
  TypeKind kind = TypeKind::other;
  uint64_t size = 0;
  bool is_signed = false;                // int kinds
  bool is_error = false;                 // the `error` interface
  std::shared_ptr<const Type> elem;      // pointer, slice, array, chan, map value
  uint64_t len = 0;                      // array length
  std::vector<Field> fields;             // struct fields in order
};

// One scalar leaf of a value, in field order: strings have ptr and len, slices ptr/len/cap,
// interfaces type and data, structs their fields' leaves.
struct Piece {
  std::string path;  // "" for a scalar, ".ptr", ".len", ".cap", ".type", ".data", ".X", ".X.ptr"
  uint32_t offset = 0;
  uint32_t size = 0;
  TypeKind kind = TypeKind::other;
  bool is_signed = false;
  Loc loc;  // params: at the probe point after the prologue; results: at every RET
};

struct Value {  // a parameter or a result
  std::string name;  // Go name; "~r0" for an unnamed result; ".dict" for the generic dictionary
  std::shared_ptr<const Type> type;
  bool hidden = false;  // inserted by the compiler (.dict, a blank `_` parameter)
  std::vector<Piece> pieces;
};

struct Function {
  std::string name;  // as Go prints it: main.(*T).M, main.F[...], main.main.func1
  uint64_t entry = 0, end = 0;  // virtual addresses; 0 for a function inlined everywhere
  uint64_t body = 0;            // first instruction after the stack-check prologue: counts calls
  std::vector<uint64_t> rets;   // every RET instruction
  bool abi0 = false;            // assembly body: stack ABI
  bool wrapper = false;         // compiler-made ABI or method wrapper
  bool has_signature = false;   // DWARF described it (false when stripped)
  std::vector<Value> params;    // receiver first
  std::vector<Value> results;
  std::string not_probeable;    // empty when probe-able; else why ("no RET: ...", "inlined everywhere: ...")
  std::vector<std::string> warnings;  // "also inlined at 2 call sites (main.go:12, ...)", DWARF disagreements

  const Value* param(std::string_view name) const;
  const Value* result(std::string_view name) const;  // by name or "r0"/"~r0"-style index
};

struct Frame {  // a symbolized program counter
  std::string function;
  uint64_t offset = 0;  // pc - function entry
  std::string file;
  int line = 0;
};

struct BinaryInfo {
  std::filesystem::path path;
  Arch arch = Arch::amd64;
  std::string go_version;  // "go1.27.3", from .go.buildinfo
  std::string build_id;    // Go build id (.note.go.buildid), else a content hash
  bool stripped = false;   // no .symtab
  bool has_dwarf = false;
  bool pie = false;
  bool external_link = false;
  uint64_t goid_offset = 0;      // runtime.g.goid
  uint64_t stack_hi_offset = 8;  // runtime.g.stack.hi
  std::vector<Function> functions;  // by entry; functions inlined everywhere last

  const Function* find(std::string_view name) const;  // exact Go name
  std::vector<const Function*> match(std::string_view glob) const;  // "main.*", "*Demo"
  Result<uint64_t> file_offset(uint64_t vaddr) const;  // for attaching uprobes, via PT_LOAD
  std::optional<Frame> symbolize(uint64_t pc) const;   // from .gopclntab: works when stripped
  std::optional<uint64_t> variable(std::string_view name) const;  // package-level variable's address (io.EOF)

  // Implementation state (parsed pclntab, ELF image) lives behind this pointer.
  std::shared_ptr<const struct Image> image;
};

// Analyses a Go executable; a non-ELF or non-Go file gets a clear error, never a crash.
// Results are cached in memory per build id: a suite over one binary analyses it once.
Result<std::shared_ptr<const BinaryInfo>> analyse(const std::filesystem::path& file);

}  // namespace bpfault::binary
