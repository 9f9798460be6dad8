#include "binary/binary_info.h"

#include <elf.h>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "binary/image.h"
#include "binary/stdlib_signatures.h"

namespace bpfault::binary {

std::string_view arch_name(Arch a) { return a == Arch::amd64 ? "amd64" : "386"; }

std::string_view reg_name(Reg r) {
  static constexpr std::string_view kNames[kIntRegs] = {"rax", "rbx", "rcx", "rdi", "rsi", "r8", "r9", "r10", "r11"};
  const auto i = static_cast<size_t>(r);
  return i < kIntRegs ? kNames[i] : "?";
}

std::string Loc::describe() const {
  switch (kind) {
    case Kind::reg:
      return std::string(reg_name(reg));
    case Kind::stack:
      return fmt::format("sp{:+}", sp_offset);
    case Kind::xmm:
      return fmt::format("xmm{}", xmm);
    case Kind::none:
      return "?";
  }
  return "?";
}

const Field* Type::field(std::string_view n) const {
  for (const Field& f : fields)
    if (f.name == n) return &f;
  return nullptr;
}

std::string Value::describe_loc() const {
  if (pieces.empty()) return "-";
  if (on_stack) return fmt::format("sp{:+}", pieces[0].loc.sp_offset - int32_t(pieces[0].offset));
  std::string s;
  for (const Piece& p : pieces) s += (s.empty() ? "" : ",") + p.loc.describe();
  return s;
}

const Value* Function::param(std::string_view n) const {
  for (const Value& v : params)
    if (v.name == n) return &v;
  return nullptr;
}

const Value* InlinedCopy::param(std::string_view n) const {
  for (const Value& v : params)
    if (v.name == n) return &v;
  return nullptr;
}

std::string InlinedCopy::unlocated_why(std::string_view n) const {
  for (const auto& [name, why] : unlocated)
    if (name == n) return why;
  return {};
}

const Value* Function::result(std::string_view n) const {
  for (const Value& v : results)
    if (v.name == n) return &v;
  // "r1" or "~r1": the second result, whatever its name
  std::string_view digits = n.starts_with("~r") ? n.substr(2) : n.starts_with("r") ? n.substr(1) : std::string_view{};
  size_t i = 0;  // "r99999999999999999999" is no result, not an overflow
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) return nullptr;
  return i < results.size() ? &results[i] : nullptr;
}

std::string signature(const Function& f) {
  auto values = [](const std::vector<Value>& vs) {
    std::string s;
    for (const Value& v : vs) {
      if (!s.empty()) s += ", ";
      if (!v.name.empty() && !v.name.starts_with("~r")) s += v.name + " ";
      s += v.type ? v.type->name : "?";
      if (!v.pieces.empty()) s += " @" + v.describe_loc();
    }
    return s;
  };
  if (!f.has_signature) {
    if (f.abi0 && f.args_size > 0)
      return fmt::format("{}(? ABI0: {} bytes of arguments and results on the stack)", f.name, f.args_size);
    return f.name + "(?)";
  }
  std::string s = f.name + "(" + values(f.params) + ")";
  if (!f.results.empty()) s += " (" + values(f.results) + ")";
  return s;
}

bool BinaryInfo::covers(const std::vector<std::string>& globs) const {
  if (focus.empty()) return true;
  if (globs.empty()) return false;
  return std::ranges::all_of(globs, [&](const std::string& g) { return std::ranges::find(focus, g) != focus.end(); });
}

const Function* BinaryInfo::find(std::string_view name) const {
  const Function* best = nullptr;
  for (const Function& f : functions) {
    if (f.name != name && f.symbol != name) continue;
    // Two functions may share a name (an assembly body and its ABI wrapper): the body wins.
    if (!best || (best->wrapper && !f.wrapper)) best = &f;
  }
  return best;
}

std::vector<const Function*> BinaryInfo::match(std::string_view glob) const {
  std::vector<const Function*> out;
  for (const Function& f : functions)
    if (glob_match(glob, f.name) || (!f.symbol.empty() && f.symbol != f.name && glob_match(glob, f.symbol)))
      out.push_back(&f);
  return out;
}

const Function* BinaryInfo::function_at(uint64_t pc) const {
  auto it = std::upper_bound(functions.begin(), functions.end(), pc, [](uint64_t v, const Function& f) {
    return f.entry == 0 || v < f.end;  // inlined-everywhere entries (entry 0) sort last
  });
  if (it == functions.end() || it->entry == 0 || pc < it->entry) return nullptr;
  return &*it;
}

Result<uint64_t> BinaryInfo::file_offset(uint64_t vaddr) const {
  if (image)
    if (auto off = image->elf.file_offset(vaddr)) return *off;
  return fail(ErrorKind::bad_input, path.string(),
              fmt::format("address {:#x} is not in a loadable segment of the file", vaddr));
}

std::optional<Frame> BinaryInfo::symbolize(uint64_t pc) const {
  if (!image) return std::nullopt;
  const PclnFunc* pf = image->pclntab.lookup(pc);
  if (!pf) return std::nullopt;
  Frame fr;
  const Function* f = function_at(pc);
  fr.function = f ? f->name : std::string(pf->name);
  fr.offset = pc - pf->entry;
  if (auto fl = image->pclntab.file_line(*pf, pc)) {
    fr.file = std::string(fl->first);
    fr.line = fl->second;
  }
  return fr;
}

std::optional<uint64_t> BinaryInfo::variable(std::string_view name) const {
  if (!image) return std::nullopt;
  std::optional<uint64_t> out;
  image->elf.for_each_symbol([&](const ElfFile::Symbol& s) {
    if ((s.type == STT_OBJECT || s.type == STT_NOTYPE) && s.name == name) out = s.value;
    return !out;
  });
  if (!out && donor_data) return donor_data->variable(name);
  return out;
}

bool glob_match(std::string_view glob, std::string_view name) {
  size_t g = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (g < glob.size() && (glob[g] == '?' || glob[g] == name[n])) {
      ++g, ++n;
    } else if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = n;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

std::string go_package(std::string_view fn) {
  const std::string_view head = fn.substr(0, std::min(fn.find('('), fn.find('[')));
  const size_t slash = head.rfind('/');
  const size_t dot = head.find('.', slash == std::string_view::npos ? 0 : slash);
  return dot == std::string_view::npos ? "main" : std::string(head.substr(0, dot));
}

std::string no_inlining_flag(std::string_view fn) {
  const std::string pkg = go_package(fn);
  return pkg == "main" ? "-gcflags=-l" : fmt::format("-gcflags={}=-l", pkg);
}

}  // namespace bpfault::binary
