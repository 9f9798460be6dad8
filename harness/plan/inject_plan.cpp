// Compiles a probe's injection (scenario steps and conditions) into the probe_rule the BPF
// program evaluates: every assignment becomes register or memory writes at exact locations,
// every value is checked against the Go type it lands in.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include <fmt/format.h>

#include "binary/unwind.h"
#include "binary/variables.h"
#include "plan/plan.h"

namespace bpfault::plan {
namespace {

using binary::Loc;
using binary::TypeKind;
using nlohmann::json;

struct Ctx {
  const scenario::Scenario& s;
  const binary::BinaryInfo& bin;
  const binary::Function& f;
  std::vector<Cap>& needs;
  TraceeStrings& strings;
};

tl::unexpected<Error> refuse(const Ctx& c, const std::string& ptr, std::string what, std::string hint) {
  return fail(ErrorKind::bad_input, c.s.file.string() + ":" + ptr, std::move(what), std::move(hint));
}

void need(Ctx& c, Cap cap) {
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
  return names.empty() ? fmt::format("{} has no arguments", f.name)
                       : fmt::format("its arguments: {}", fmt::join(names, ", "));
}

// A store of `bits` into one piece (register or stack).
Result<PlannedWrite> store(Ctx& c, const std::string& ptr, const std::string& target, const binary::Value& v,
                           const binary::Piece& p, uint8_t src, uint64_t bits, int32_t sp_shift) {
  if (p.loc.kind == Loc::Kind::xmm)
    return refuse(c, ptr,
                  fmt::format("{} of {} is passed in xmm{}: BPF cannot write XMM registers (struct pt_regs has none)",
                              target, c.f.name, p.loc.xmm),
                  "change a value that reaches it through an integer register or memory, or build the fixture for 386, "
                  "where floats are on the stack");
  if (p.loc.kind == Loc::Kind::none)
    return refuse(c, ptr, fmt::format("the location of {} in {} is unknown", target, c.f.name),
                  "`bpfault list -v` shows what the analysis knows");
  PlannedWrite w{target, &v, {}, &p, sp_shift};
  w.write.kind = W_STORE;
  w.write.src = src;
  w.write.loc = loc_of(p, sp_shift);
  w.write.len = w.write.loc.size;
  w.write.value = bits;
  need(c, p.loc.kind == Loc::Kind::reg ? Cap::write_regs : Cap::write_user);
  return w;
}

// The bits of an integer or bool for a piece of `size` bytes, range-checked.
Result<uint64_t> scalar_bits(Ctx& c, const std::string& ptr, const std::string& target, const binary::Piece& p,
                             const json& v) {
  if (p.kind == TypeKind::bool_) {
    if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
    return refuse(c, ptr, fmt::format("{} is a bool; got {}", target, v.dump()), "use true or false");
  }
  if (p.kind == TypeKind::float_) {  // IEEE 754 bits, as Go stores a float32 or float64 in memory
    if (!v.is_number())
      return refuse(c, ptr, fmt::format("{} is a float{}; got {}", target, 8 * p.size, v.dump()), "use a JSON number");
    const double d = v.get<double>();
    if (p.size == 8) return std::bit_cast<uint64_t>(d);
    if (std::isfinite(d) && std::fabs(d) > std::numeric_limits<float>::max())
      return refuse(c, ptr, fmt::format("{} does not fit in {} (a float32)", v.dump(), target), "");
    return std::bit_cast<uint32_t>(static_cast<float>(d));
  }
  if (!v.is_number_integer())
    return refuse(c, ptr, fmt::format("{} is an integer ({} bytes); got {}", target, p.size, v.dump()),
                  "use a JSON integer");
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
    if (bits < 64 && n >> bits)
      return refuse(c, ptr, fmt::format("{} does not fit in {} ({} bytes, unsigned)", n, target, p.size), "");
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

Result<std::vector<PlannedWrite>> assign(Ctx& c, const std::string& ptr, const std::string& name,
                                         const scenario::Assigned& a, bool result, int32_t sp_shift);

// A package-level variable's address, for pointers and error values.
Result<uint64_t> variable(Ctx& c, const std::string& ptr, const std::string& name) {
  auto addr = c.bin.variable(name);
  if (!addr)
    return refuse(c, ptr, fmt::format("no package-level variable \"{}\" in {}", name, c.bin.path.string()),
                  c.bin.stripped
                      ? "the binary is stripped (no .symtab): only the standard library's variables are found "
                        "(through the code of a program the same toolchain builds); for the program's own, use an "
                        "unstripped build"
                      : "name it as Go does: io.EOF, io/fs.ErrNotExist, os.ErrDeadlineExceeded, main.ErrBoom");
  return *addr;
}

// {"errno": "ENOSPC"}: the error value Go builds when a syscall fails, `error(syscall.Errno(28))`,
// from what is already in the binary: the type word is the itab for syscall.Errno as error, the
// data word points at runtime.staticuint64s[28], where Go's own conversion points small
// integers (convT64/convT32), so the tracee sees exactly the value the kernel's failure gives.
Result<std::vector<PlannedWrite>> errno_error(Ctx& c, const std::string& ptr, const std::string& name,
                                              const binary::Value& v, const std::string& path, TypeKind kind,
                                              const std::string& errno_name, int32_t sp_shift) {
  const binary::Type* t = path.empty() ? v.type.get() : nullptr;
  if (kind != TypeKind::interface || (t && !t->is_error))
    return refuse(c, ptr,
                  fmt::format("{} has type {}: an errno is a syscall.Errno error, for an error result or argument",
                              name, type_name(v)),
                  "");
  int number = 0;
  for (int n = 1; n < 4096 && !number; ++n)
    if (const char* known = strerrorname_np(n); known && errno_name == known) number = n;
  if (!number)
    return refuse(c, ptr, fmt::format("unknown errno \"{}\"", errno_name),
                  "use a Linux errno name: ENOSPC, EIO, EACCES, ENOENT, EAGAIN, ...");
  const auto itab = binary::itab(c.bin, "syscall.Errno", "error");
  if (!itab)
    return refuse(c, ptr,
                  fmt::format("{} has no itab for syscall.Errno as an error (no go:itab.syscall.Errno,error symbol, "
                              "and none among its itabs): the program never turns a syscall.Errno into an error",
                              c.bin.path.string()),
                  c.bin.stripped || !c.bin.has_dwarf
                      ? "the binary is stripped: without .symtab and DWARF its itabs cannot be named; use an "
                        "unstripped build"
                      : "inject the error the function really returns, a variable such as \"io.ErrShortWrite\"");
  const std::string itab_name = itab->symbol.empty() ? "the itab of syscall.Errno as error" : itab->symbol;
  auto small = c.bin.variable("runtime.staticuint64s");
  if (!small)
    return refuse(c, ptr, "no runtime.staticuint64s in the binary: there is no Errno value to point at",
                  "use an unstripped build");
  const binary::Piece* type_word = piece(v, path + ".type");
  const binary::Piece* data_word = piece(v, path + ".data");
  if (!type_word || !data_word)
    return refuse(c, ptr, fmt::format("{} ({}) is not laid out as an interface", name, type_name(v)), "");
  std::vector<PlannedWrite> out;
  for (auto [p, addr, variable] :
       {std::tuple{type_word, itab->addr, itab_name}, std::tuple{data_word, *small + 8 * static_cast<uint64_t>(number),
                                                                 fmt::format("runtime.staticuint64s[{}]", number)}}) {
    auto w = store(c, ptr, name, v, *p, SRC_ADDR, addr, sp_shift);
    if (!w) return tl::unexpected(w.error());
    w->variable = variable;
    w->identity = json{{"errno", errno_name}};
    out.push_back(std::move(*w));
  }
  return out;
}

// `panic`: a Go panic raised at the call, as if the function's first statement were
// panic("bpfault: injected panic in main.store"). The call is left as an early return leaves
// it (the caller's frame pointer restored), but its return address stays and runtime.gopanic is
// entered: a tail call. To Go the caller called gopanic(e any) at that call instruction, so the
// unwinder, every caller's defers and recover() see an ordinary panic; the function itself is
// not on the stack (it had not started). Why not a call pushed inside the function: gopanic
// stores its two argument registers in the 16 bytes above its return address at once, which at
// the probe point are the function's saved frame pointer and its return address. Above the
// caller's return address they are the function's own argument slots, dead once it is left:
// hence at least two words of arguments. On 386 (ABI0) gopanic reads its argument from those
// same two slots, where it is written.
// The value is a string: the type word is the binary's descriptor for string, the data word
// points at a string header, which points at the message. Both are written past the end of the
// last writable section (its bss), in the rest of that page: mapped and zeroed by the kernel
// with the bss, and used by nothing (Go allocates its heap with mmap elsewhere; a C heap's brk
// starts at a page boundary beyond it), so the value outlives the call, the recover() and the
// program's later use of it. Every panicking call writes the same bytes there.
Result<std::vector<PlannedWrite>> panic_writes(Ctx& c, const std::string& ptr, int32_t delta) {
  const binary::Function& f = c.f;
  const std::string instead =
      "crash(SIGABRT) in a term (or \"crash\": \"SIGABRT\") ends the program with Go's goroutine dump instead";
  if (f.abi0)
    return refuse(c, ptr,
                  fmt::format("{} is an assembly function: gopanic relies on Go's register conventions (g in R14), "
                              "which need not hold in it",
                              f.name),
                  "inject the panic into its Go caller; or " + instead);
  if (delta != 0 && delta != c.bin.ptr_size())
    return refuse(c, ptr,
                  fmt::format("{}'s probe point is {} bytes into its frame; the panic leaves the function as an early "
                              "return does, which can undo only a `push rbp`",
                              f.name, delta),
                  instead);
  if (f.args_size < 2 * c.bin.ptr_size())
    return refuse(c, ptr,
                  fmt::format("{} takes {} bytes of arguments: runtime.gopanic stores its argument (two words) in the "
                              "16 bytes above the return address, which are the function's argument slots in its "
                              "caller's frame; with fewer it would overwrite the caller's own variables",
                              f.name, f.args_size),
                  "inject the panic into a function with at least two words of arguments (a string, or two ints), "
                  "such as its caller; or " +
                      instead);
  if (c.bin.pie)
    return refuse(c, ptr,
                  "panic is not done in a position-independent executable yet: its value's memory is made "
                  "present at exec by its link-time address",
                  "build without -buildmode=pie; or " + instead);
  const binary::Function* gopanic = c.bin.find("runtime.gopanic");
  if (!gopanic || !gopanic->entry)
    return refuse(c, ptr, fmt::format("no runtime.gopanic in {}", c.bin.path.string()), instead);
  if (!c.bin.string_type)
    return refuse(c, ptr,
                  "the runtime's type descriptor for string is unknown: it comes from DWARF "
                  "(DW_AT_go_runtime_type) and .symtab (runtime.types)",
                  "use an unstripped build; or " + instead);
  std::string message = fmt::format("bpfault: injected panic in {}", f.name);
  constexpr size_t kMessageWrites = 3;  // with the header's 2, the value's 2 and the tail call: PROBE_MAX_WRITES
  static_assert(2 + kMessageWrites + 2 + 1 <= PROBE_MAX_WRITES);
  if (message.size() > kMessageWrites * PROBE_BYTES) message.resize(kMessageWrites * PROBE_BYTES - 3), message += "...";
  const uint64_t word = c.bin.ptr_size();
  const uint64_t header = (c.bin.writable_end + 7) & ~uint64_t{7}, text = header + 2 * word;
  const uint64_t page_end = (c.bin.writable_end + 4095) & ~uint64_t{4095};
  if (!c.bin.writable_end || text + message.size() > page_end)
    return refuse(
        c, ptr,
        fmt::format("no room for the panic's value: the last writable section ends at {:#x}, {} bytes "
                    "before its page does; {} are needed",
                    c.bin.writable_end, page_end - c.bin.writable_end, text + message.size() - c.bin.writable_end),
        instead);
  std::vector<PlannedWrite> out;
  auto at = [&](std::string target, uint64_t addr, uint8_t src, uint64_t value, uint8_t len) {
    PlannedWrite w{std::move(target), nullptr, {}};
    w.write.kind = W_AT;
    w.write.src = src;
    w.write.addr = addr;
    w.write.value = value;
    w.write.len = len;
    out.push_back(std::move(w));
    return &out.back();
  };
  for (size_t off = 0; off < message.size(); off += PROBE_BYTES) {
    const size_t n = std::min<size_t>(PROBE_BYTES, message.size() - off);
    PlannedWrite* w = at("panic message", text + off, SRC_BYTES, 0, static_cast<uint8_t>(n));
    std::memcpy(w->write.bytes, message.data() + off, n);
  }
  at("panic string.ptr", header, SRC_ADDR, text, static_cast<uint8_t>(word));
  at("panic string.len", header + word, SRC_IMM, message.size(), static_cast<uint8_t>(word));
  // gopanic(e any): ABIInternal (amd64) passes e's type word in RAX, its data word in RBX; ABI0
  // (386) on the stack right above the return address, in the function's own argument slots
  for (auto [target, index, value] :
       {std::tuple{"panic value.type", 0, c.bin.string_type}, std::tuple{"panic value.data", 1, header}}) {
    PlannedWrite w{target, nullptr, {}};
    w.write.kind = W_STORE;
    w.write.src = SRC_ADDR;
    w.write.loc.size = static_cast<uint8_t>(word);
    if (c.bin.arch == binary::Arch::amd64) {
      w.write.loc.kind = LOC_REG;
      w.write.loc.reg = static_cast<uint8_t>(index);
    } else {
      w.write.loc.kind = LOC_STACK;
      w.write.loc.sp_offset = delta + static_cast<int32_t>(word * (1 + index));
    }
    w.write.len = static_cast<uint8_t>(word);
    w.write.value = value;
    out.push_back(std::move(w));
  }
  PlannedWrite call{"runtime.gopanic", nullptr, {}};
  call.write.kind = W_TAILCALL;
  call.write.src = SRC_ADDR;
  call.write.value = gopanic->entry;
  out.push_back(std::move(call));
  need(c, Cap::write_user);
  need(c, Cap::write_regs);
  need(c, Cap::write_ip);
  return out;
}

}  // namespace

Program program_for(const std::vector<PlannedWrite>& writes) {
  Program p = Program::decide;  // the rule logic, no writes (signals, delays, steps that write at the RET)
  for (const auto& w : writes) {
    const bool regs = w.write.kind == W_STORE && w.write.loc.kind == LOC_REG;
    if (w.write.kind == W_RETURN || w.write.kind == W_TAILCALL || regs) return Program::write_regs;
    p = Program::write_user;
  }
  return p;
}

namespace {

// What an assignment lands in: "p.X" is the field X of argument (or result) p, by value or
// through p when it is a pointer; its leaves are the pieces under that path.
struct Target {
  std::string name, base, path;  // "p.X": base "p", path ".X"
  const binary::Value* v = nullptr;
  const binary::Type* t = nullptr;  // v's type
  std::vector<const binary::Piece*> leaves;
  const binary::Piece* first = nullptr;
  bool whole = false;  // the path names one piece (a scalar), not a group of them
  TypeKind kind = TypeKind::other;
};

// The argument or result `name` names, or a refusal naming the ones there are.
Result<Target> resolve(Ctx& c, const std::string& ptr, const std::string& name, bool result) {
  Target x{name, name, ""};
  if (auto dot = name.find('.'); dot != std::string::npos) x.base = name.substr(0, dot), x.path = name.substr(dot);
  x.v = result ? c.f.result(x.base) : c.f.param(x.base);
  if (!x.v) {
    std::vector<std::string> names;
    for (const auto& y : result ? c.f.results : c.f.params)
      if (!y.hidden) names.push_back(y.name);
    return refuse(c, ptr, fmt::format("{} has no {} named \"{}\"", c.f.name, result ? "result" : "argument", x.base),
                  names.empty() ? fmt::format("it has no {}", result ? "results" : "arguments")
                                : fmt::format("its {}: {}{}", result ? "results" : "arguments", fmt::join(names, ", "),
                                              result ? " (or r0, r1, ...)" : ""));
  }
  x.t = x.v->type.get();
  return x;
}

// Where a string's new text is, for the write of its pointer: in the tracee's environment
// (TraceeStrings), as a distance back from its end.
Result<uint64_t> new_text(Ctx& c, const std::string& ptr, const std::string& text) {
  if (text.size() > TraceeStrings::max_text)
    return refuse(
        c, ptr,
        fmt::format("new text of {} bytes; bpfault gives a string at most {}", text.size(), TraceeStrings::max_text),
        "a shorter text, or keep the string's own bytes and shorten it with {\"len\": n}");
  if (text.find('\0') != std::string::npos)
    return refuse(c, ptr,
                  "the new text has a NUL byte: it is given to the tracee in an environment variable, which "
                  "cannot hold one",
                  "write bytes in place with {\"bytes\": \"...\"} (at most " + std::to_string(PROBE_BYTES) +
                      ", into the string's own memory)");
  if (c.strings.value.size() + text.size() > TraceeStrings::max_total)
    return refuse(c, ptr,
                  fmt::format("the scenario's new texts add up to more than {} bytes", TraceeStrings::max_total),
                  "fewer or shorter texts (one text given to several strings is kept once)");
  return c.strings.add(text);
}

// A field behind a pointer ("p.X" with p a *T): W_THROUGH at the field's offset in the pointee.
Result<std::vector<PlannedWrite>> through_pointer(Ctx& c, const std::string& ptr, const Target& x,
                                                  const scenario::Assigned& a, int32_t sp_shift) {
  const std::string& name = x.name;
  const std::string& path = x.path;
  const binary::Value* v = x.v;
  const std::string& base = x.base;
  const binary::Type* t = x.t;
  const binary::Type* pointee = t->elem.get();
  uint64_t offset = 0;
  std::string rest = path.substr(1);
  while (pointee && !rest.empty()) {
    std::string field = rest.substr(0, rest.find('.'));
    rest = rest.find('.') == std::string::npos ? "" : rest.substr(rest.find('.') + 1);
    const binary::Field* fld = pointee->kind == TypeKind::struct_ ? pointee->field(field) : nullptr;
    if (!fld)
      return refuse(c, ptr, fmt::format("{} ({}) has no field \"{}\"", base, t->name, field), fields_hint(pointee));
    offset += fld->offset;
    pointee = fld->type.get();
  }
  const bool text = pointee && pointee->kind == TypeKind::string && a.value.is_string() && !a.bytes;
  if (!pointee ||
      !(text || pointee->kind == TypeKind::int_ || pointee->kind == TypeKind::uint_ ||
        pointee->kind == TypeKind::bool_ || pointee->kind == TypeKind::float_ || pointee->kind == TypeKind::pointer))
    return refuse(c, ptr,
                  fmt::format("{} has type {}: bpfault writes integer, bool, float and pointer fields, and new text "
                              "for a string field, through a pointer",
                              name, pointee ? pointee->name : "?"),
                  "");
  const binary::Piece* p = piece(*v, "");
  if (!p || p->loc.kind == Loc::Kind::xmm || p->loc.kind == Loc::Kind::none)
    return refuse(c, ptr, fmt::format("the pointer {} has no readable location", base), "");
  if (text) {  // the field's two words: the pointer to its new text, then its length
    const std::string s = a.value.get<std::string>();
    const auto word = static_cast<uint8_t>(c.bin.ptr_size());
    std::vector<PlannedWrite> out;
    for (const bool len : {false, true}) {
      if (!len && s.empty()) continue;  // a pointer is not read at length 0
      PlannedWrite w{name + (len ? ".len" : ".ptr"), v, {}};
      w.write.kind = W_THROUGH;
      w.write.loc = loc_of(*p, sp_shift);
      w.write.offset = static_cast<int32_t>(offset + (len ? word : 0));
      w.write.len = word;
      w.write.src = len ? SRC_IMM : SRC_ENV;
      if (len) {
        w.write.value = s.size();
      } else {
        auto at = new_text(c, ptr, s);
        if (!at) return tl::unexpected(at.error());
        w.write.value = *at;
      }
      out.push_back(std::move(w));
    }
    need(c, Cap::write_user);
    return out;
  }
  binary::Piece leaf{path, 0, static_cast<uint32_t>(pointee->size), pointee->kind, pointee->is_signed, {}};
  PlannedWrite w{name, v, {}};
  w.write.kind = W_THROUGH;
  w.write.loc = loc_of(*p, sp_shift);
  w.write.offset = static_cast<int32_t>(offset);
  w.write.len = static_cast<uint8_t>(pointee->size);
  if (pointee->kind == TypeKind::pointer) {
    if (!a.value.is_null())
      return refuse(c, ptr, fmt::format("{} is a pointer: bpfault sets it to nil only through another pointer", name),
                    "");
  } else {
    auto bits = scalar_bits(c, ptr, name, leaf, a.value);
    if (!bits) return tl::unexpected(bits.error());
    w.write.value = *bits;
  }
  need(c, Cap::write_user);
  return std::vector<PlannedWrite>{w};
}

// {"len": n}: a string's or slice's length.
Result<std::vector<PlannedWrite>> length(Ctx& c, const std::string& ptr, const Target& x, const scenario::Assigned& a,
                                         int32_t sp_shift) {
  const std::string& name = x.name;
  const std::string& path = x.path;
  const binary::Value* v = x.v;
  const binary::Piece* len = piece(*v, path + ".len");
  if (!len)
    return refuse(c, ptr, fmt::format("{} has type {}: only strings and slices have a length", name, type_name(*v)),
                  "");
  auto w = store(c, ptr, name + ".len", *v, *len, SRC_IMM, *a.len, sp_shift);
  if (!w) return tl::unexpected(w.error());
  // a slice's length beyond its capacity would let Go read and write past its array: the
  // probe checks the capacity at the call, and refuses the whole injection when it is less
  if (const binary::Piece* cap = piece(*v, path + ".cap")) w->write.limit = loc_of(*cap, sp_shift);
  return std::vector<PlannedWrite>{*w};
}

// "text": the string points at new text of any length (its pointer and length written; the
// bytes it pointed at are left as they were). {"bytes": "..."}: new bytes in the string's own
// memory, in place (its length unchanged; a literal's read-only bytes fail with EFAULT).
Result<std::vector<PlannedWrite>> string_text(Ctx& c, const std::string& ptr, const Target& x,
                                              const scenario::Assigned& a, int32_t sp_shift) {
  const std::string& name = x.name;
  const std::string& path = x.path;
  const binary::Value* v = x.v;
  std::vector<PlannedWrite> out;
  const binary::Piece* data = piece(*v, path + ".ptr");
  const binary::Piece* len = piece(*v, path + ".len");
  if (!data || !len)
    return refuse(c, ptr, fmt::format("{} has type {}, not string", name, type_name(*v)),
                  "strings take {\"len\": n} or \"text\"");
  if (a.bytes) {
    const std::string& bytes = *a.bytes;
    if (bytes.size() > PROBE_BYTES)
      return refuse(c, ptr, fmt::format("{} bytes; bpfault writes at most {} in place", bytes.size(), PROBE_BYTES),
                    "give the string new text (\"" + name + "\": \"...\"), up to " +
                        std::to_string(TraceeStrings::max_text) + " bytes");
    PlannedWrite w{name, v, {}};
    w.write.kind = W_THROUGH;
    w.write.src = SRC_BYTES;
    w.write.loc = loc_of(*data, sp_shift);
    w.write.limit = loc_of(*len, sp_shift);
    w.write.len = static_cast<uint8_t>(bytes.size());
    std::memcpy(w.write.bytes, bytes.data(), bytes.size());
    need(c, Cap::write_user);
    if (!bytes.empty()) out.push_back(w);
    return out;
  }
  const std::string text = a.value.get<std::string>();
  if (!text.empty()) {  // "": only the length (a pointer is not read at length 0)
    auto at = new_text(c, ptr, text);
    if (!at) return tl::unexpected(at.error());
    auto pw = store(c, ptr, name + ".ptr", *v, *data, SRC_ENV, *at, sp_shift);
    if (!pw) return tl::unexpected(pw.error());
    out.push_back(std::move(*pw));
  }
  auto lw = store(c, ptr, name + ".len", *v, *len, SRC_IMM, text.size(), sp_shift);
  if (!lw) return tl::unexpected(lw.error());
  out.push_back(std::move(*lw));
  return out;
}

// null: every word zero (pointer, error, interface, slice, map, chan, func).
Result<std::vector<PlannedWrite>> nil(Ctx& c, const std::string& ptr, const Target& x, const scenario::Assigned& /*a*/,
                                      int32_t sp_shift) {
  const std::string& name = x.name;
  const binary::Value* v = x.v;
  const TypeKind kind = x.kind;
  std::vector<PlannedWrite> out;
  if (kind == TypeKind::int_ || kind == TypeKind::uint_ || kind == TypeKind::bool_ || kind == TypeKind::float_ ||
      kind == TypeKind::struct_ || kind == TypeKind::string)
    return refuse(c, ptr, fmt::format("{} has type {}: it cannot be nil", name, type_name(*v)), "");
  for (const auto* p : x.leaves) {
    auto w = store(c, ptr, name, *v, *p, SRC_IMM, 0, sp_shift);
    if (!w) return tl::unexpected(w.error());
    out.push_back(std::move(*w));
  }
  return out;
}

// The type of the field `path` (".X.Y") of a value of type `t`; nullptr when not a field path.
const binary::Type* field_type(const binary::Type* t, std::string_view path) {
  while (t && !path.empty()) {
    if (path[0] != '.') return nullptr;
    path.remove_prefix(1);
    const size_t end = path.find_first_of(".[");
    const binary::Field* f = t->field(path.substr(0, end));
    if (!f) return nullptr;
    t = f->type.get();
    path = end == std::string_view::npos ? std::string_view() : path.substr(end);
  }
  return t;
}

// An error or interface value from a package-level variable: one of that interface type
// ("io.EOF" for an error) is copied word for word; one of a concrete type becomes the value Go's
// conversion makes, the binary's itab for that type as that interface (the type's descriptor for
// `any`) and a data word that is the variable's own word when the type is pointer-shaped, else
// its address (the interface then shares the variable's memory, where Go would copy it).
// Anything else is refused: Go would never see such a value.
Result<std::vector<PlannedWrite>> interface_from_variable(Ctx& c, const std::string& ptr, const Target& x,
                                                          const scenario::Assigned& a, int32_t sp_shift) {
  const std::string& name = x.name;
  const binary::Value* v = x.v;
  std::vector<PlannedWrite> out;
  if (!a.value.is_string())
    return refuse(
        c, ptr, fmt::format("{} has type {}: set it to null or to a variable such as \"io.EOF\"", name, type_name(*v)),
        "");
  const std::string var = a.value.get<std::string>();
  auto addr = variable(c, ptr, var);
  if (!addr) return tl::unexpected(addr.error());
  const binary::Piece* type_word = piece(*v, x.path + ".type");
  const binary::Piece* data_word = piece(*v, x.path + ".data");
  if (!type_word || !data_word)
    return refuse(c, ptr, fmt::format("{} ({}) is not laid out as an interface", name, type_name(*v)), "");
  const binary::Type* iface = field_type(x.t, x.path);
  const auto var_type = binary::variable_type(c.bin, var);
  if (!iface || !var_type)
    return refuse(
        c, ptr,
        fmt::format("the type of {} is unknown ({}): bpfault cannot check that it is a {}", var,
                    c.bin.has_dwarf ? "the binary's DWARF does not describe it" : "the binary has no DWARF",
                    iface ? iface->name : name),
        c.bin.has_dwarf ? "name a variable the program declares" : "use a build with DWARF (not -ldflags=-w)");
  struct Word {
    const binary::Piece* piece;
    uint8_t src;
    uint64_t value;
    std::string variable;
  };
  std::vector<Word> words;
  if (*var_type == iface->name) {
    // the interface words are read from the tracee when the fault fires: an itab pointer, a data pointer
    words = {{type_word, SRC_USER, *addr, var}, {data_word, SRC_USER, *addr + c.bin.ptr_size(), var}};
  } else {
    const auto d = binary::type_descriptor(c.bin, *var_type);
    if (!d)
      return refuse(c, ptr,
                    fmt::format("{} is a {}, which has no type descriptor in {}: no interface value of it exists there",
                                var, *var_type, c.bin.path.string()),
                    fmt::format("name a variable of type {}", iface->name));
    if (d->interface)
      return refuse(c, ptr,
                    fmt::format("{} is a {}, not a {}: converting one interface to another is done by Go at run time",
                                var, *var_type, iface->name),
                    fmt::format("name a variable of type {}, or of a concrete type that implements it", iface->name));
    std::string type_variable = fmt::format("the type descriptor of {}", *var_type);
    uint64_t type_addr = d->addr;
    if (iface->name != "interface {}" && iface->name != "any") {
      const auto itab = binary::itab(c.bin, *var_type, iface->name);
      if (!itab)
        return refuse(
            c, ptr,
            fmt::format("{} is a {}, and {} has no itab for {} as {}: the program never makes that "
                        "conversion (or {} is not a {})",
                        var, *var_type, c.bin.path.string(), *var_type, iface->name, *var_type, iface->name),
            fmt::format("name a variable of type {}, or of a type the program itself uses as one", iface->name));
      type_addr = itab->addr;
      type_variable = itab->symbol.empty() ? fmt::format("the itab of {} as {}", *var_type, iface->name) : itab->symbol;
    }
    words = {{type_word, SRC_ADDR, type_addr, type_variable},
             d->direct_iface ? Word{data_word, SRC_USER, *addr, var} : Word{data_word, SRC_ADDR, *addr, "&" + var}};
  }
  for (const Word& word : words) {
    auto w = store(c, ptr, name, *v, *word.piece, word.src, word.value, sp_shift);
    if (!w) return tl::unexpected(w.error());
    w->variable = word.variable;
    w->identity = var;
    out.push_back(std::move(*w));
  }
  return out;
}

// A pointer set to a package-level variable's address, when that variable is what it points to.
Result<std::vector<PlannedWrite>> pointer_to_variable(Ctx& c, const std::string& ptr, const Target& x,
                                                      const scenario::Assigned& a, int32_t sp_shift) {
  const std::string& name = x.name;
  const binary::Value* v = x.v;
  const binary::Type* t = x.t;
  const TypeKind kind = x.kind;
  const binary::Piece& first = *x.first;
  if (!a.value.is_string())
    return refuse(
        c, ptr, fmt::format("{} is a pointer: bpfault sets it to null or to a package-level variable's address", name),
        "give the variable's name, e.g. \"main.config\"");
  const std::string var = a.value.get<std::string>();
  auto addr = variable(c, ptr, var);
  if (!addr) return tl::unexpected(addr.error());
  // &var is a *T only when var is a T: anything else is garbage to the code that follows it
  if (kind == TypeKind::pointer && t && t->elem) {
    const auto var_type = binary::variable_type(c.bin, var);
    if (!var_type)
      return refuse(c, ptr,
                    fmt::format("the type of {} is unknown (the binary's DWARF does not describe it): bpfault cannot "
                                "check that it is the {} {} points to",
                                var, t->elem->name, name),
                    "name a variable the program declares, of that type");
    if (*var_type != t->elem->name)
      return refuse(
          c, ptr,
          fmt::format("{} is a {}, not the {} that {} ({}) points to", var, *var_type, t->elem->name, name, t->name),
          fmt::format("name a variable of type {}", t->elem->name));
  }
  auto w = store(c, ptr, name, *v, first, SRC_ADDR, *addr, sp_shift);
  if (!w) return tl::unexpected(w.error());
  w->variable = a.value.get<std::string>();
  return std::vector<PlannedWrite>{*w};
}

// An integer, bool or float.
Result<std::vector<PlannedWrite>> scalar(Ctx& c, const std::string& ptr, const Target& x, const scenario::Assigned& a,
                                         int32_t sp_shift) {
  const std::string& name = x.name;
  const binary::Value* v = x.v;
  const TypeKind kind = x.kind;
  const binary::Piece& first = *x.first;
  if (kind == TypeKind::complex_)
    return refuse(c, ptr, fmt::format("{} has type {}: bpfault does not write complex numbers", name, type_name(*v)),
                  "");
  // a float in memory (the 386 stack, a spilled argument) is written as its bits; one in an XMM
  // register is refused by store(): BPF cannot reach those
  if (kind != TypeKind::int_ && kind != TypeKind::uint_ && kind != TypeKind::bool_ && kind != TypeKind::float_)
    return refuse(c, ptr, fmt::format("bpfault cannot set {} ({})", name, type_name(*v)), "");
  auto bits = scalar_bits(c, ptr, name, first, a.value);
  if (!bits) return tl::unexpected(bits.error());
  auto w = store(c, ptr, name, *v, first, SRC_IMM, *bits, sp_shift);
  if (!w) return tl::unexpected(w.error());
  return std::vector<PlannedWrite>{*w};
}

// One assignment of a step (`set_args`, `set_results`, a result of `return`): the writes that
// make argument or result `name` hold `a` at a site where SP is `sp_shift` below where it was analysed.
Result<std::vector<PlannedWrite>> assign(Ctx& c, const std::string& ptr, const std::string& name,
                                         const scenario::Assigned& a, bool result, int32_t sp_shift) {
  auto resolved = resolve(c, ptr, name, result);
  if (!resolved) return tl::unexpected(resolved.error());
  Target& x = *resolved;
  if (!x.path.empty() && x.t && x.t->kind == TypeKind::pointer) return through_pointer(c, ptr, x, a, sp_shift);
  x.leaves = pieces_under(*x.v, x.path);
  if (x.leaves.empty())
    return refuse(c, ptr, fmt::format("{} ({}) has no field \"{}\"", x.base, type_name(*x.v), x.path.substr(1)),
                  fields_hint(x.t));
  x.first = x.leaves.front();
  x.whole = x.leaves.size() == 1 && x.first->path == x.path;
  x.kind = x.path.empty() && x.t ? x.t->kind : x.first->kind;

  if (a.errno_name) return errno_error(c, ptr, name, *x.v, x.path, x.kind, *a.errno_name, sp_shift);
  if (a.len) return length(c, ptr, x, a, sp_shift);
  if (a.bytes || (x.kind == TypeKind::string && a.value.is_string())) return string_text(c, ptr, x, a, sp_shift);
  if (a.value.is_null()) return nil(c, ptr, x, a, sp_shift);
  if (x.kind == TypeKind::interface) return interface_from_variable(c, ptr, x, a, sp_shift);
  if (!x.whole)
    return refuse(c, ptr,
                  fmt::format("{} has type {}: set its fields one by one (\"{}.Field\")", name, type_name(*x.v), name),
                  "");
  if (x.kind == TypeKind::pointer || x.kind == TypeKind::unsafe_pointer)
    return pointer_to_variable(c, ptr, x, a, sp_shift);
  return scalar(c, ptr, x, a, sp_shift);
}

// A return(...) term's positional values, mapped to result names. One error-like value (a
// variable name or nil) for a function whose last result is an error sets that error.
std::map<std::string, scenario::Assigned> results_by_name(const binary::Function& f,
                                                          const std::map<std::string, scenario::Assigned>& given) {
  bool positional = !given.empty();
  for (const auto& [k, v] : given)
    positional &= k.size() > 1 && k[0] == 'r' && std::all_of(k.begin() + 1, k.end(), ::isdigit);
  if (positional && given.size() == 1 && f.results.size() > 1 && f.results.back().type &&
      f.results.back().type->is_error) {
    const scenario::Assigned& a = given.begin()->second;
    if (a.value.is_null() || a.value.is_string() || a.errno_name) return {{f.results.back().name, a}};
  }
  return given;
}

// One result a step assigns: the name the scenario used (for the record) and the result it
// names ("r0", "~r0" and a named result's own name are the same result).
struct ResultAssignment {
  std::string name;
  const binary::Value* value;
  scenario::Assigned assigned;
};

// "err.X" -> {"err", ".X"}
std::pair<std::string, std::string> split_name(const std::string& name) {
  const size_t dot = name.find('.');
  return dot == std::string::npos ? std::pair{name, std::string()} : std::pair{name.substr(0, dot), name.substr(dot)};
}

// The step's results, each named once: two names for one slot ("r0" and "~r0", or "r0" and
// "r0.X") would be two writes to it, the last one winning, so they are refused.
Result<std::vector<ResultAssignment>> results_named_once(Ctx& c,
                                                         const std::function<std::string(const std::string&)>& ptr_of,
                                                         const std::map<std::string, scenario::Assigned>& given) {
  std::vector<ResultAssignment> out;
  for (const auto& [name, a] : given) {
    const auto [base, path] = split_name(name);
    const binary::Value* v = c.f.result(base);
    for (const auto& seen : out) {
      const std::string seen_path = split_name(seen.name).second;
      if (v && seen.value == v && (path.empty() || seen_path.empty() || path == seen_path))
        return refuse(c, ptr_of(name),
                      fmt::format("\"{}\" and \"{}\" name the same result of {}: it would be written twice", seen.name,
                                  name, c.f.name),
                      "name each result once (r0, r1, ... count the results from 0, named or not)");
    }
    out.push_back({name, v, a});
  }
  return out;
}

Result<probe_pred> predicate(Ctx& c, const scenario::Predicate& p) {
  const binary::Value* v = c.f.param(p.arg);
  if (!v && !c.f.has_signature)  // a stripped binary's function: say why its arguments are unknown
    return refuse(c, p.pointer,
                  c.f.no_signature.empty()
                      ? fmt::format("the binary has no DWARF: the arguments of {} are unknown", c.f.name)
                      : c.f.no_signature,
                  "match arguments in an unstripped build of the same program");
  if (!v)
    return refuse(c, p.pointer, fmt::format("{} has no argument named \"{}\"", c.f.name, p.arg), params_hint(c.f));
  probe_pred out{};
  const bool text = p.op == "prefix" || p.op == "equals";
  if (text) {
    const binary::Piece* data = piece(*v, ".ptr");
    const binary::Piece* len = piece(*v, ".len");
    if (!data || !len)
      return refuse(c, p.pointer,
                    fmt::format("{} has type {}: prefix and equals compare strings", p.arg, type_name(*v)), "");
    std::string bytes = p.value.get<std::string>();
    // the schema's maxLength counts characters; the kernel's buffer holds UTF-8 bytes
    if (bytes.size() > PROBE_BYTES)
      return refuse(c, p.pointer,
                    fmt::format("{} bytes in UTF-8; bpfault compares at most {}", bytes.size(), PROBE_BYTES),
                    p.op == "prefix" ? "match a shorter prefix"
                                     : fmt::format("compare a prefix of at most {} bytes instead", PROBE_BYTES));
    out.op = p.op == "prefix" ? P_PREFIX : P_STREQ;
    out.loc = loc_of(*data);
    out.len_loc = loc_of(*len);
    out.nbytes = static_cast<uint8_t>(bytes.size());
    std::memcpy(out.bytes, bytes.data(), bytes.size());
    return out;
  }
  const binary::Piece* s = piece(*v, "");
  if (!s || v->pieces.size() != 1)
    return refuse(c, p.pointer,
                  fmt::format("{} has type {}: {} compares integers and bools", p.arg, type_name(*v), p.op),
                  "strings take prefix or equals");
  if (s->loc.kind == Loc::Kind::xmm)
    return refuse(c, p.pointer, fmt::format("{} is in xmm{}: BPF cannot read XMM registers", p.arg, s->loc.xmm), "");
  static const std::map<std::string, uint8_t> ops = {{"eq", P_EQ}, {"ne", P_NE}, {"lt", P_LT},
                                                     {"le", P_LE}, {"gt", P_GT}, {"ge", P_GE}};
  out.op = ops.at(p.op);
  out.loc = loc_of(*s);
  out.is_signed = s->is_signed;
  out.value = p.value.is_boolean() ? (p.value.get<bool>() ? 1 : 0) : p.value.get<int64_t>();
  return out;
}

}  // namespace

Result<void> plan_injection(const scenario::Scenario& s, const binary::BinaryInfo& bin, PlannedProbe& pp,
                            std::vector<Cap>& needs, TraceeStrings& strings) {
  Ctx c{s, bin, *pp.function, needs, strings};
  const scenario::Probe& probe = *pp.probe;
  probe_rule& r = pp.rule;
  r = probe_rule{};
  if (probe.conditions.size() > PROBE_MAX_PREDS)
    return refuse(c, probe.pointer + "/when/args",
                  fmt::format("{} conditions; bpfault evaluates up to {}", probe.conditions.size(), PROBE_MAX_PREDS),
                  "");
  for (const auto& cond : probe.conditions) {
    auto p = predicate(c, cond);
    if (!p) return tl::unexpected(p.error());
    r.preds[r.npreds++] = *p;
  }
  if (!probe.caller.empty()) {
    // The kernel compares the call instruction (return address - 1) with the caller's code: its
    // own, and every copy of it the compiler inlined elsewhere, where a call from the copy
    // returns into the function it was inlined into.
    const auto ranges = binary::inlined_ranges(bin, probe.caller);
    if (ranges.empty()) {
      const binary::Function* named = bin.find(probe.caller);
      return refuse(
          c, probe.pointer + "/when/caller",
          named ? fmt::format("{} has no code in {}: the compiler inlined it everywhere and no inline "
                              "tree keeps a copy of it",
                              probe.caller, bin.path.string())
                : fmt::format("{} is not a function of {}", probe.caller, bin.path.string()),
          named ? fmt::format("name the function that calls {}, or mark {} //go:noinline", probe.function, probe.caller)
                : "name the calling function as Go prints it (bpfault list BINARY shows them)");
    }
    if (ranges.size() > PROBE_MAX_CALLER_RANGES) {
      std::vector<std::string> into;
      for (const auto& range : ranges)
        if (range.function != probe.caller && std::ranges::find(into, range.function) == into.end())
          into.push_back(range.function);
      return refuse(
          c, probe.pointer + "/when/caller",
          fmt::format("{}'s code lies in {} ranges (its copies inlined into {}{}{}), at most {} can be matched",
                      probe.caller, ranges.size(),
                      fmt::join(into.begin(), into.begin() + std::min<size_t>(into.size(), 3), ", "),
                      into.size() > 3 ? fmt::format(" and {} more", into.size() - 3) : "",
                      std::ranges::any_of(ranges, [&](const auto& range) { return range.function == probe.caller; })
                          ? ", and its own code"
                          : "",
                      PROBE_MAX_CALLER_RANGES),
          fmt::format("name the function it is inlined into instead ({}), or mark {} //go:noinline",
                      into.empty() ? probe.caller : into[0], probe.caller));
    }
    for (const auto& range : ranges) r.callers[r.ncallers++] = {range.lo, range.hi};
  }
  if (probe.goroutine_first) r.goroutine = G_FIRST;
  if (probe.goroutine) r.goroutine = G_ID, r.goid = *probe.goroutine;
  if (r.goroutine != G_ANY && !bin.goid_offset)
    return refuse(c, probe.pointer + "/when/goroutine", "this binary's goroutine ids are unknown (no runtime.g offset)",
                  bin.arch == binary::Arch::i386
                      ? "386 binaries keep g in TLS, not R14: goroutine conditions need amd64"
                      : "use an unstripped build");

  const int32_t delta = pp.function->body_sp_delta;
  for (size_t t = 0; t < probe.steps.size(); ++t) {
    const scenario::Step& st = probe.steps[t];
    PlannedStep ps{&st, {}, {}};
    probe_step& kstep = r.steps[t];
    kstep.nth = st.nth;
    kstep.every = st.every;
    kstep.times = st.times;
    kstep.probability = static_cast<uint32_t>(std::lround(st.probability * 10000));
    kstep.delay_ms = st.delay_ms;
    kstep.signal = static_cast<uint8_t>(st.signal);
    kstep.early_return = st.early_return;  // no RET of the call runs: none is waited for
    switch (st.action) {
      case scenario::Step::Action::off:
      case scenario::Step::Action::print:
        kstep.action = ACT_OFF;
        break;  // a print's record is its injection event
      case scenario::Step::Action::signal:
        kstep.action = ACT_SIGNAL;
        need(c, Cap::send_signal);
        break;
      case scenario::Step::Action::delay:
        kstep.action = ACT_DELAY;
        need(c, Cap::send_signal);
        break;
      case scenario::Step::Action::write:
        kstep.action = ACT_WRITE;
        break;
      case scenario::Step::Action::panic: {
        kstep.action = ACT_WRITE;
        kstep.early_return = 1;  // the call is left at once: none of its RETs runs
        auto ws = panic_writes(c, st.pointer, delta);
        if (!ws) return tl::unexpected(ws.error());
        ps.call = std::move(*ws);
        break;
      }
    }
    for (const auto& [name, a] : st.set_args) {
      auto ws = assign(c, fmt::format("{}/set_args/{}", st.pointer, name), name, a, false, 0);
      if (!ws) return tl::unexpected(ws.error());
      ps.call.insert(ps.call.end(), ws->begin(), ws->end());
    }
    if (!pp.function->has_signature && (st.early_return || !st.set_results.empty() || !st.set_args.empty()))
      return refuse(c,
                    st.pointer + (st.pointer.ends_with("/term") ? ""
                                  : st.early_return             ? "/return"
                                  : !st.set_results.empty()     ? "/set_results"
                                                                : "/set_args"),
                    pp.function->no_signature.empty()
                        ? fmt::format("the binary has no DWARF: the {} of {} are unknown",
                                      st.set_args.empty() ? "results" : "arguments", pp.function->name)
                        : pp.function->no_signature,
                    "inject into an unstripped build of the same program (crash, delay_ms and terms without "
                    "return(...) work stripped)");
    const bool in_term = st.pointer.ends_with("/term");
    const std::string rptr = st.pointer + (in_term ? "" : st.early_return ? "/return" : "/set_results");
    // a term is one string: its results have no pointer of their own
    auto result_ptr = [&](const std::string& name) { return in_term ? rptr : rptr + "/" + name; };
    // only a term's values are positional; "r0" in a JSON object names the first result
    auto named =
        results_named_once(c, result_ptr, in_term ? results_by_name(*pp.function, st.set_results) : st.set_results);
    if (!named) return tl::unexpected(named.error());
    std::vector<ResultAssignment>& results = *named;
    if (st.early_return) {
      if (delta != 0 && delta != bin.ptr_size())
        return refuse(
            c, rptr,
            fmt::format("{}'s probe point is {} bytes into its frame; an early return can undo only a `push rbp`",
                        pp.function->name, delta),
            "use set_results instead");
      // every result not given is zero; at the call site SP is `delta` below the RET's
      for (const auto& res : pp.function->results)
        if (std::none_of(results.begin(), results.end(), [&](const ResultAssignment& r) { return r.value == &res; }))
          results.push_back({res.name, &res, scenario::Assigned{json(nullptr), std::nullopt, std::nullopt}});
      for (const auto& [name, v, a] : results) {
        scenario::Assigned zero = a;
        const bool nil = a.value.is_null() && !a.len && !a.bytes && !a.errno_name;  // not given, or null
        if (v && nil && v->type &&
            (v->type->kind == TypeKind::int_ || v->type->kind == TypeKind::uint_ || v->type->kind == TypeKind::bool_))
          zero.value = v->type->kind == TypeKind::bool_ ? json(false) : json(0);
        // zero every word: a string, struct or float result (an empty string too: its pointer
        // is whatever the register held, and no bytes are written through it)
        const bool empty_string = v && v->type && v->type->kind == TypeKind::string && a.value == json("");
        if (v && (nil || empty_string) && v->type &&
            (v->type->kind == TypeKind::string || v->type->kind == TypeKind::struct_ ||
             v->type->kind == TypeKind::float_)) {
          for (const auto& p : v->pieces) {
            auto w = store(c, result_ptr(name), name, *v, p, SRC_IMM, 0, delta);
            if (!w) return tl::unexpected(w.error());
            ps.call.push_back(std::move(*w));
          }
          continue;
        }
        if (v && v->type && v->type->kind == TypeKind::string && (a.len || a.bytes))
          return refuse(c, result_ptr(name),
                        fmt::format("{} of {} is a string: an early return's result has no bytes of its own to keep "
                                    "or change (its pointer register holds whatever it held)",
                                    name, c.f.name),
                        "give it new text (\"" + name + "\": \"...\") or \"\"");
        auto ws = assign(c, result_ptr(name), name, zero, true, delta);
        if (!ws) return tl::unexpected(ws.error());
        ps.call.insert(ps.call.end(), ws->begin(), ws->end());
      }
      PlannedWrite ret{"return", nullptr, {}};
      ret.write.kind = W_RETURN;
      ps.call.push_back(ret);
      need(c, Cap::write_regs);
      need(c, Cap::write_ip);
    } else {
      for (const auto& [name, v, a] : results) {
        auto ws = assign(c, result_ptr(name), name, a, true, 0);
        if (!ws) return tl::unexpected(ws.error());
        ps.ret.insert(ps.ret.end(), ws->begin(), ws->end());
      }
    }
    if (ps.call.size() > PROBE_MAX_WRITES || ps.ret.size() > PROBE_MAX_WRITES)
      return refuse(c, st.pointer,
                    fmt::format("{} writes in one step; bpfault does up to {}", std::max(ps.call.size(), ps.ret.size()),
                                PROBE_MAX_WRITES),
                    "");
    kstep.ncall = static_cast<uint8_t>(ps.call.size());
    kstep.nret = static_cast<uint8_t>(ps.ret.size());
    for (size_t i = 0; i < ps.call.size(); ++i) kstep.call[i] = ps.call[i].write;
    for (size_t i = 0; i < ps.ret.size(); ++i) kstep.ret[i] = ps.ret[i].write;
    pp.steps.push_back(std::move(ps));
  }
  r.nsteps = static_cast<uint8_t>(probe.steps.size());
  return {};
}

}  // namespace bpfault::plan
