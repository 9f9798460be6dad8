#include "binary/stdlib_signatures.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>

#include <elf.h>
#include <fmt/format.h>
#include <xxhash.h>

#include "binary/code.h"
#include "binary/image.h"

namespace bpfault::binary {
namespace {

bool is_exported_ident(std::string_view s) {
  if (s.empty() || !std::isupper(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// A package the donor can import: not internal, not vendored (those come with the packages
// that use them), not the Go commands' own packages (cmd/..., which only the commands import:
// gofmt's cmd/vendor/golang.org/x/...), not the pseudo-packages.
bool importable(std::string_view pkg) {
  if (pkg == "main" || pkg == "unsafe" || pkg == "C" || pkg.starts_with("vendor/") || pkg.starts_with("cmd/") ||
      pkg.starts_with("type:") || pkg.starts_with("go:") || pkg.starts_with("go."))
    return false;
  const std::string p = "/" + std::string(pkg) + "/";
  return p.find("/internal/") == std::string::npos;
}

// The Go expression naming function `rest` of the package imported as `alias`:
// "ReadFile" → p0.ReadFile, "(*File).Write" → (*p0.File).Write, "FileMode.String" →
// p0.FileMode.String; "" when Go code outside the package cannot name it (unexported,
// generic, a closure, an init).
std::string expression(std::string_view alias, std::string_view rest) {
  if (rest.starts_with("(*")) {
    const auto close = rest.find(").");
    if (close == std::string_view::npos) return {};
    const auto type = rest.substr(2, close - 2), method = rest.substr(close + 2);
    if (!is_exported_ident(type) || !is_exported_ident(method)) return {};
    return fmt::format("(*{}.{}).{}", alias, type, method);
  }
  const auto dot = rest.find('.');
  if (dot == std::string_view::npos) return is_exported_ident(rest) ? fmt::format("{}.{}", alias, rest) : "";
  const auto type = rest.substr(0, dot), method = rest.substr(dot + 1);
  if (!is_exported_ident(type) || !is_exported_ident(method)) return {};
  return fmt::format("{}.{}.{}", alias, type, method);
}

std::string release_of(std::string_view go_version) {  // "go1.24.4" → "1.24"
  if (!go_version.starts_with("go1.")) return {};
  const auto end = go_version.find_first_not_of("0123456789", 4);
  return std::string(go_version.substr(2, end == std::string_view::npos ? std::string_view::npos : end - 2));
}

std::vector<uint64_t> ret_offsets(const Function& f) {
  std::vector<uint64_t> out;
  for (uint64_t r : f.rets) out.push_back(r - f.entry);
  return out;
}

// Why `d`'s signature does not describe `f`, or "" when the code agrees.
std::string code_differs(const Function& f, const Function& d) {
  if (f.end - f.entry != d.end - d.entry)
    return fmt::format("{:#x} bytes of code here, {:#x} there", f.end - f.entry, d.end - d.entry);
  if (f.args_size != d.args_size)
    return fmt::format("{} bytes of stack arguments here, {} there (pclntab)", f.args_size, d.args_size);
  if (ret_offsets(f) != ret_offsets(d)) return "its RETs are at other offsets";
  return {};
}

std::shared_ptr<BinaryInfo> copy_of(const BinaryInfo& b) { return std::make_shared<BinaryInfo>(b); }

}  // namespace

bool is_standard_library(std::string_view name) {
  const std::string pkg = go_package(name);
  if (pkg == "main" || name.starts_with("type:") || name.starts_with("go:") || name.starts_with("go.")) return false;
  const std::string_view first = std::string_view(pkg).substr(0, pkg.find('/'));
  return first == "vendor" || first.find('.') == std::string_view::npos;
}

std::optional<StdlibProgram> stdlib_program(const BinaryInfo& stripped) {
  if (stripped.has_dwarf || stripped.go_version.empty()) return std::nullopt;
  const BuildInfo bi = read_build_info(stripped);
  StdlibProgram p;
  p.go_version = bi.go_version.empty() ? stripped.go_version : bi.go_version;
  p.release = release_of(p.go_version);
  p.goarch = std::string(arch_name(stripped.arch));
  // The settings that change the standard library's code; -ldflags (-s -w) only the link.
  for (const char* key : {"CGO_ENABLED", "GOAMD64", "GO386", "GOEXPERIMENT"})
    if (const std::string* v = bi.setting(key)) p.env[key] = *v;
  if (!p.env.count("CGO_ENABLED")) p.env["CGO_ENABLED"] = "0";
  if (const std::string* tags = bi.setting("-tags")) {
    std::istringstream in(*tags);
    for (std::string t; std::getline(in, t, ',');)
      if (!t.empty()) p.tags.push_back(t);
  }

  std::map<std::string, std::set<std::string>> by_package;  // import path → expressions' rest
  for (const Function& f : stripped.functions) {
    if (f.has_signature || !f.probeable() || !is_standard_library(f.name)) continue;
    const std::string pkg = go_package(f.name);
    if (!importable(pkg)) continue;
    const std::string rest = f.name.substr(pkg.size() + 1);
    if (!expression("p", rest).empty()) by_package[pkg].insert(rest);
  }
  std::string imports, refs;
  size_t n = 0;
  for (const auto& [pkg, rests] : by_package) {
    const std::string alias = fmt::format("p{}", n++);
    imports += fmt::format("\t{} \"{}\"\n", alias, pkg);
    for (const auto& rest : rests) {
      refs += fmt::format("\t{},\n", expression(alias, rest));
      ++p.references;
    }
  }
  p.main_go = fmt::format(
      "// Generated by bpfault: names the standard-library functions of {} so that this\n"
      "// program links them, and its DWARF describes them.\n"
      "package main\n\n"
      "import (\n{})\n\n"
      "var keep = []any{{\n{}}}\n\n"
      "// keep is read, so the linker keeps every function it names.\n"
      "func main() {{ println(len(keep)) }}\n",
      stripped.path.filename().string(), imports, refs);
  XXH3_state_t* st = XXH3_createState();
  XXH3_128bits_reset(st);
  auto add = [&](std::string_view s) {
    XXH3_128bits_update(st, s.data(), s.size());
    XXH3_128bits_update(st, "\0", 1);
  };
  add(p.go_version);
  add(p.goarch);
  for (const auto& [k, v] : p.env) add(k + "=" + v);
  for (const auto& t : p.tags) add(t);
  add(p.main_go);
  const XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  p.key = fmt::format("stdlib-{}-{}-{:016x}", p.go_version, p.goarch, h.high64);
  return p;
}

std::string drop_failing_references(const std::string& main_go, const std::string& compiler_errors) {
  static const std::regex line_re(R"(main\.go:(\d+)(:\d+)?:)");
  std::set<size_t> bad;
  for (auto it = std::sregex_iterator(compiler_errors.begin(), compiler_errors.end(), line_re);
       it != std::sregex_iterator(); ++it)
    bad.insert(std::stoul((*it)[1]));
  // Only an import ("\tp3 \"pkg\"") or a reference ("\tp3.F," or "\t(*p3.T).M,") can go: the
  // rest is the program's frame. Each is known by its alias, so that the program stays whole: a
  // dropped import takes its references along, and an import left without any goes too (Go
  // rejects both an undefined alias and an unused import, each a build of its own otherwise).
  static const std::regex import_re(R"(\t(p\d+) ".*")"), ref_re(R"(\t(\(\*)?(p\d+)\..*,)");
  struct Line {
    std::string text, alias;
    bool is_import = false, dropped = false;
  };
  std::vector<Line> lines;
  std::istringstream in(main_go);
  std::set<std::string> dropped_imports, referenced;
  for (std::string text; std::getline(in, text);) {
    Line l{text, "", false, false};
    std::smatch m;
    if (std::regex_match(text, m, import_re))
      l.alias = m[1], l.is_import = true;
    else if (std::regex_match(text, m, ref_re))
      l.alias = m[2];
    l.dropped = !l.alias.empty() && bad.count(lines.size() + 1);
    if (l.dropped && l.is_import) dropped_imports.insert(l.alias);
    lines.push_back(std::move(l));
  }
  for (Line& l : lines)
    if (!l.is_import && !l.alias.empty()) {
      l.dropped = l.dropped || dropped_imports.count(l.alias);
      if (!l.dropped) referenced.insert(l.alias);
    }
  std::string out;
  for (const Line& l : lines)
    if (!l.dropped && !(l.is_import && !referenced.count(l.alias))) out += l.text + "\n";
  return out;
}

DonorData::DonorData(const BinaryInfo& stripped, std::shared_ptr<const BinaryInfo> donor,
                     std::vector<SameCode> same_code)
    : stripped_(stripped.image), arch_(stripped.arch), donor_(std::move(donor)), same_code_(std::move(same_code)) {}

void DonorData::decode() const {
  if (!stripped_ || !donor_->image) return;
  // the donor's data symbols, for addresses inside one
  std::vector<ElfFile::Symbol> symbols;
  donor_->image->elf.for_each_symbol([&](const ElfFile::Symbol& s) {
    if (s.type == STT_OBJECT && s.size) symbols.push_back(s);
    return true;
  });
  std::sort(symbols.begin(), symbols.end(), [](const auto& a, const auto& b) { return a.value < b.value; });
  std::unordered_map<uint64_t, uint64_t> here;
  std::set<uint64_t> conflicting;
  const auto add = [&](uint64_t there, uint64_t at) {
    if (conflicting.contains(there)) return;
    auto [it, added] = here.emplace(there, at);
    if (!added && it->second != at) {
      here.erase(it);
      conflicting.insert(there);
    }
  };
  const CodeDecoder decoder(arch_);
  for (const SameCode& c : same_code_) {
    const auto mine = decoder.data_refs(stripped_->elf.at_vaddr(c.here, c.size), c.here);
    const auto theirs = decoder.data_refs(donor_->image->elf.at_vaddr(c.there, c.size), c.there);
    if (!mine || !theirs || mine->size() != theirs->size()) continue;
    bool same = true;
    for (size_t i = 0; i < mine->size() && same; ++i) {
      const DataRef &a = (*mine)[i], &b = (*theirs)[i];
      same = a.insn == b.insn && a.operand == b.operand && a.mnemonic == b.mnemonic;
    }
    if (!same) continue;
    for (size_t i = 0; i < mine->size(); ++i) {
      const uint64_t there = (*theirs)[i].addr, at = (*mine)[i].addr;
      add(there, at);
      auto s = std::upper_bound(symbols.begin(), symbols.end(), there,
                                [](uint64_t a, const ElfFile::Symbol& sym) { return a < sym.value; });
      if (s != symbols.begin() && there - (s - 1)->value < (s - 1)->size && there != (s - 1)->value)
        add((s - 1)->value, at - (there - (s - 1)->value));
    }
  }
  here_ = std::move(here);
}

std::optional<uint64_t> DonorData::here(uint64_t there) const {
  std::call_once(decoded_, [this] { decode(); });
  auto it = here_.find(there);
  if (it == here_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint64_t> DonorData::variable(std::string_view name) const {
  if (!is_standard_library(name)) return std::nullopt;
  const auto there = donor_->variable(name);
  return there ? here(*there) : std::nullopt;
}

std::shared_ptr<const BinaryInfo> with_stdlib_signatures(const BinaryInfo& stripped,
                                                         const std::shared_ptr<const BinaryInfo>& donor_info) {
  const BinaryInfo& donor = *donor_info;
  auto out = copy_of(stripped);
  std::vector<DonorData::SameCode> same_code;
  const std::string from = fmt::format("the Go {} standard library", donor.go_version.substr(2));
  std::unordered_map<std::string_view, std::vector<const Function*>> by_name;
  for (const Function& d : donor.functions)
    if (d.entry != 0) by_name[d.name].push_back(&d);
  size_t adopted = 0, differ = 0;
  for (Function& f : out->functions) {
    if (f.has_signature || f.entry == 0) continue;
    if (!is_standard_library(f.name)) {
      f.no_signature = fmt::format(
          "{} is not in the standard library: the stripped binary has no DWARF for it, and only standard-library "
          "signatures can come from elsewhere",
          f.name);
      continue;
    }
    const Function* d = nullptr;
    if (auto it = by_name.find(f.name); it != by_name.end())
      for (const Function* c : it->second)
        if (c->wrapper == f.wrapper && c->abi0 == f.abi0) d = c;
    const std::string why = d ? code_differs(f, *d) : std::string();
    // the same code names the same data (the runtime's too, which has no signatures to give)
    if (d && why.empty()) same_code.push_back({f.entry, d->entry, f.end - f.entry});
    if (!d || !d->has_signature) {
      f.no_signature = fmt::format(
          "{}'s signature is unknown: the binary has no DWARF, and the program bpfault built with {} to describe "
          "the standard library does not link it (unexported, generic, or a closure)",
          f.name, from);
      continue;
    }
    if (!why.empty()) {
      ++differ;
      f.no_signature = fmt::format(
          "{}'s code is not the one {} has ({}): the binary was built with other flags or another patch release, "
          "so that signature may not describe it",
          f.name, from, why);
      continue;
    }
    // The donor's body (its push rbp, else .debug_line's prologue_end, which decoding only
    // approximates): the same code has it at the same offset, and the parameters' locations
    // are as seen there.
    f.body = f.entry + (d->body - d->entry);
    f.body_sp_delta = d->body_sp_delta;
    f.has_signature = true;
    f.params = d->params;  // locations too: the same code at the same offsets with the same SP
    f.results = d->results;
    f.signature_from = from;
    ++adopted;
  }
  if (!stripped.image || !stripped.image->elf.has_symtab())
    out->donor_data = std::make_shared<const DonorData>(stripped, donor_info, std::move(same_code));
  out->stdlib_signatures =
      fmt::format("{} function(s) have signatures from {} ({}){}", adopted, from, donor.path.string(),
                  differ ? fmt::format("; {} whose code differs have none", differ) : "");
  return out;
}

std::shared_ptr<const BinaryInfo> without_stdlib_signatures(const BinaryInfo& stripped, const std::string& why) {
  auto out = copy_of(stripped);
  out->stdlib_signatures = "no standard-library signatures: " + why;
  for (Function& f : out->functions)
    if (!f.has_signature && f.entry != 0)
      f.no_signature =
          is_standard_library(f.name)
              ? fmt::format("{}'s signature is unknown: the binary has no DWARF, and {}", f.name, why)
              : fmt::format("{} is not in the standard library: the stripped binary has no DWARF for it", f.name);
  return out;
}

}  // namespace bpfault::binary
