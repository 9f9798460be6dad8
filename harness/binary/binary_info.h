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
std::string_view arch_name(Arch a);  // "amd64", "386"

// Go's integer argument registers on amd64 in ABI order (abi-internal.md). The BPF side
// captures them in this order, so a register is named by its ABI index everywhere.
enum class Reg : uint8_t { rax, rbx, rcx, rdi, rsi, r8, r9, r10, r11 };
inline constexpr int kIntRegs = 9;
inline constexpr int kFloatRegs = 15;  // X0..X14; X15 is the fixed zero register
std::string_view reg_name(Reg r);      // "rax"

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
  bool operator==(const Loc&) const = default;
};

enum class TypeKind : uint8_t {
  int_,
  uint_,
  bool_,
  float_,
  complex_,
  string,
  slice,
  pointer,
  unsafe_pointer,
  interface,
  struct_,
  array,
  map,
  chan,
  func,
  other,
};

struct Type;
struct Field {
  std::string name;
  uint64_t offset = 0;
  std::shared_ptr<const Type> type;
};

// A Go type, as far as bpfault needs it: size and layout, element and fields.
// Types live in one table per binary: `Value::type` keeps that table alive, and the types it
// reaches (elem, fields) stay valid as long as some Value::type or the BinaryInfo is held.
// (Links inside the table do not own, so recursive types like `type Node struct{ Next *Node }`
// form no ownership cycle.)
struct Type {
  std::string name;  // Go spelling: "int", "string", "*main.Point", "error", "[]uint8"
  TypeKind kind = TypeKind::other;
  uint64_t size = 0;
  bool is_signed = false;            // int kinds
  bool is_error = false;             // the `error` interface
  std::shared_ptr<const Type> elem;  // pointer, slice, array, chan, map value
  uint64_t len = 0;                  // array length
  std::vector<Field> fields;         // struct fields in order

  const Field* field(std::string_view name) const;
};

// One scalar leaf of a value, in field order: strings have ptr and len, slices ptr/len/cap,
// interfaces type and data, complex numbers real and imag, structs their fields' leaves.
// An array too long to spell out leaf by leaf (always on the stack) is one piece of kind array.
struct Piece {
  std::string path;     // "" for a scalar, ".ptr", ".len", ".cap", ".type", ".data", ".X", ".X.ptr", "[1]"
  uint32_t offset = 0;  // within the value's memory layout
  uint32_t size = 0;
  TypeKind kind = TypeKind::other;
  bool is_signed = false;
  Loc loc;  // params: at the probe point `Function::body`; results: at every RET
};

struct Value {       // a parameter or a result
  std::string name;  // Go name; "~r0" for an unnamed result; ".dict" for the generic dictionary
  std::shared_ptr<const Type> type;
  bool hidden = false;    // inserted by the compiler (.dict, a blank `_` parameter)
  bool on_stack = false;  // the ABI put the whole value in memory (386, ABI0, spill-over, arrays)
  std::vector<Piece> pieces;

  std::string describe_loc() const;  // "rcx,rdi", "sp+16" (the value's start), "xmm0"
};

// A copy of a function the compiler inlined into another (from the binary's own inline trees,
// pclntab's FUNCDATA_InlTree and PCDATA_InlTreeIndex, which survive stripping).
struct InlinedCopy {
  uint64_t mark = 0;   // the PC Go marks as the call's site in `outer` (runtime.inlinedCall.parentPc)
  std::string outer;   // the out-of-line function whose code holds the copy
  std::string caller;  // who calls it: `outer`, or a function inlined into it
  std::string at;      // the call's file:line
  // Where the copy's own code is (its first instruction with its own inline index), as Go's
  // traceback names a PC inside it; "" and 0 when the compiler left it no code.
  std::string file;
  int line = 0;
  // Empty when a probe at `mark` runs exactly once per call of the copy; else why not.
  std::string not_countable;
  // The function's parameters where the copy's DWARF (DW_TAG_inlined_subroutine) places them at
  // `mark`, as a probe there reads them: registers the probe captures, stack slots from SP. Only
  // those it places whole; `unlocated` says why each other one is not (README, "Inlined
  // functions"). Both empty when `params_why` says why the copy has no DWARF of its own.
  std::vector<Value> params;
  std::vector<std::pair<std::string, std::string>> unlocated;  // name, why record cannot read it at `mark`
  std::string params_why;

  const Value* param(std::string_view name) const;
  std::string unlocated_why(std::string_view name) const;  // "" when located or unknown
};

inline constexpr const char* kNotAnalysed = "not analysed";  // Function::not_probeable outside a focus

struct Function {
  std::string name;             // as Go prints it: main.(*T).M, main.F[...], main.main.func1, main.asmAdd
  std::string symbol;           // the ELF symbol ("main.asmAdd.abi0" for an assembly body); "" when stripped
  uint64_t entry = 0, end = 0;  // virtual addresses; 0 for a function inlined everywhere
  // The instruction Go marks prologue_end (.debug_line, or found by decoding the same way):
  // past the stack check, so hit once per call (the entry is hit again after morestack).
  // Since Go 1.21 `push rbp` comes before it: SP there is the entry SP - body_sp_delta, and
  // the parameters' stack pieces say so (first stack argument at sp+16, not sp+8).
  uint64_t body = 0;
  int32_t body_sp_delta = 0;   // from pclntab's pcsp: 0 (Go 1.19, 386, frameless) or 8
  std::vector<uint64_t> rets;  // every RET instruction
  // Why the function has no RET a probe can use ("it ends with a tail jump to main.f", "the
  // instruction at +0x1f (...) cannot be decoded, ..."): its call can still be counted, recorded
  // and faulted, but its results cannot be recorded or set, nor its latency timed. Empty when
  // `rets` is the whole truth.
  std::string no_ret;
  bool abi0 = false;           // stack ABI: an assembly body, or the ABI0 wrapper of a Go function
  bool wrapper = false;        // compiler-made ABI or method wrapper
  bool has_signature = false;  // DWARF described it (false when stripped)
  // Where a stripped binary's signature came from ("the Go 1.24.4 standard library", see
  // binary/stdlib_signatures.h); empty when the binary's own DWARF gave it.
  std::string signature_from;
  // Why a stripped binary's function has no signature ("not in the standard library: ..."),
  // for refusals; empty when it has one, or when nothing was tried (plain analysis).
  std::string no_signature;
  int32_t args_size = 0;      // bytes of stack arguments and results (pclntab), for ABI0 bodies
  std::vector<Value> params;  // receiver first; hidden ones included (.dict, blank _, 1.19 wrappers' .this)
  std::vector<Value> results;
  std::string not_probeable;                // empty when probe-able; else why ("inlined everywhere: ...", no code)
  std::vector<std::string> inlined_at;      // call sites ("main.go:12") where a copy was inlined (DWARF)
  std::vector<InlinedCopy> inlined_copies;  // every inlined copy, by its mark (pclntab: stripped too)
  std::vector<std::string> warnings;        // "also inlined at 2 call sites (main.go:12, ...)", DWARF disagreements
  // false: outside the analysis' focus (BinaryInfo::focus): named, with its code's range, and
  // nothing more; `not_probeable` is then kNotAnalysed (short: a whole program's functions carry
  // it, in memory and in the kept analyses), and whoever reports it says why from the focus.
  bool analysed = true;

  bool probeable() const { return not_probeable.empty(); }
  const Value* param(std::string_view name) const;
  const Value* result(std::string_view name) const;  // by name or "r0"/"~r0"-style index
};

// "main.ebpfDemo(a1 int @rax, a2 bool @rbx, a3 float32 @xmm0) (r1 int64 @rax, r2 int32 @rbx, r3 string @rcx,rdi)"
// Parameters at `body`, results at the RETs; stack locations as the probe sees SP there.
std::string signature(const Function& f);

struct Frame {  // a symbolized program counter
  std::string function;
  uint64_t offset = 0;  // pc - function entry
  std::string file;
  int line = 0;
};

// How much to analyse. `names` is every function's name, code range and whether it can be
// probed at all, and runtime facts from the per-release table: no DWARF (no signatures, no
// inlined-everywhere entries) and no machine-code sweep (no body, no RETs). It is what
// `bpfault list` without -v needs, at a fraction of the cost.
enum class Detail : uint8_t { names, full };

class DonorData;  // stdlib_signatures.h

struct BinaryInfo {
  std::filesystem::path path;
  Arch arch = Arch::amd64;
  std::string go_version;  // "go1.27.3", from .go.buildinfo
  std::string build_id;    // Go build id (.note.go.buildid), else a content hash
  bool stripped = false;   // no .symtab
  bool has_dwarf = false;  // DWARF was read (false when absent, unreadable, or Detail::names)
  Detail detail = Detail::full;
  // The functions analysed in full, as globs of their Go names or symbols (`analyse`'s focus);
  // empty: every function. The others have their names and code ranges only, and say so in
  // `not_probeable`.
  std::vector<std::string> focus;
  bool kept = false;  // read from the analyses kept on disk (set_analysis_cache), not made by this process
  bool pie = false;
  bool external_link = false;
  uint64_t text_base = 0;        // where pclntab entry offsets start (moduledata.text)
  uint64_t goid_offset = 0;      // runtime.g.goid; 0 when unknown (see warnings)
  uint64_t stack_hi_offset = 8;  // runtime.g.stack.hi
  // The runtime's type descriptor for `string` (runtime.types + DWARF's offset); 0 when
  // unknown (no DWARF, or no runtime.types symbol). An injected panic's value is a string.
  uint64_t string_type = 0;
  // The end of the last writable PT_LOAD (its bss): the rest of that page is mapped, zero, and
  // used by nothing (Go's heap is mmapped elsewhere, a C heap starts at a page boundary past it).
  uint64_t writable_end = 0;
  std::vector<Function> functions;    // by entry; functions inlined everywhere last
  std::vector<std::string> warnings;  // about the whole binary (e.g. a guessed goid offset)
  // Without DWARF: where standard-library signatures came from ("the Go 1.24.4 standard library
  // (/cache/fixtures/stdlib-…)", with how many functions took one), or why none did.
  std::string stdlib_signatures;
  // Without .symtab: where the standard library's data (its package variables, itabs, the
  // runtime's boxes) lies, through the donor's code (with_stdlib_signatures); variable() asks it.
  std::shared_ptr<const DonorData> donor_data;

  int ptr_size() const { return arch == Arch::amd64 ? 8 : 4; }
  // Whether this analysis answers for the functions `globs` name (empty: all of them).
  bool covers(const std::vector<std::string>& globs) const;
  const Function* find(std::string_view name) const;  // exact Go name (or ELF symbol); prefers the body over wrappers
  std::vector<const Function*> match(std::string_view glob) const;  // "main.*", "*Demo"; `*` and `?`
  const Function* function_at(uint64_t pc) const;                   // the function whose [entry, end) holds pc
  Result<uint64_t> file_offset(uint64_t vaddr) const;               // for attaching uprobes, via PT_LOAD
  std::optional<Frame> symbolize(uint64_t pc) const;                // from .gopclntab: works when stripped
  std::optional<uint64_t> variable(std::string_view name) const;    // package-level variable's address (io.EOF)

  // Implementation state (the mapped file, parsed pclntab) lives behind this pointer.
  std::shared_ptr<const struct Image> image;
};

// Analyses a Go executable; a non-ELF or non-Go file gets a clear error, never a crash.
// `focus`: the functions to analyse in full (globs of Go names or symbols: what a scenario
// probes, `trace` traces, `list GLOB` lists), the DWARF's units they need and their inlined
// copies; empty: the whole binary. Every function is named either way. Results are cached in
// memory per build id (and content): a suite over one binary analyses it once; a `full` result
// also answers later `functions` requests, and a whole one every focus.
Result<std::shared_ptr<const BinaryInfo>> analyse(const std::filesystem::path& file, Detail detail = Detail::full,
                                                  const std::vector<std::string>& focus = {});

// Also keeps analyses on disk in `dir` (binary/analysis_cache.h), for the next process: off
// unless set (bpfault's CLI sets it; tests and fuzzers analyse afresh).
void set_analysis_cache(std::optional<std::filesystem::path> dir);
// The files of that folder that hold analyses of `file` (none when it is off): what a VM
// guest's bpfault, the same build, reads instead of analysing the file again.
std::vector<std::filesystem::path> kept_analyses(const std::filesystem::path& file);

// `*` matches any run of characters, `?` one; everything else (brackets too) is literal,
// because Go names are full of them: "main.(*T).*".
bool glob_match(std::string_view glob, std::string_view name);

// The `go build` flag that turns inlining off for the package of a Go function only:
// "-gcflags=example.com/kv=-l" for example.com/kv.Put, "-gcflags=-l" for main's (the package
// built), so the refusal of a function inlined everywhere names the rebuild that makes it
// probe-able.
std::string no_inlining_flag(std::string_view go_function);
// The import path of a Go function's package: "example.com/kv" for example.com/kv.(*Store).Put,
// "main" for main.run.
std::string go_package(std::string_view go_function);

}  // namespace bpfault::binary
