// bpfault list BINARY [GLOB] [-v]: the probe-able functions of a Go binary, one per line in
// bpftrace's uprobe:PATH:FUNC form; -v adds each signature with the argument and result
// locations, the probe points, warnings, and the functions that cannot be probed with why.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "binary/binary_info.h"
#include "binary/build_info.h"
#include "cli/commands.h"
#include "run/stdlib_signatures.h"

namespace {

struct ListOptions {
  std::string binary;
  std::string glob = "*";
  bool verbose = false;
};

std::string probe_points(const bpfault::binary::Function& f) {
  std::string rets;
  for (uint64_t r : f.rets) rets += fmt::format("{}+{:#x}", rets.empty() ? "" : ",", r - f.entry);
  std::string s = fmt::format("entry {:#x}, body +{:#x}", f.entry, f.body - f.entry);
  if (f.body_sp_delta) s += fmt::format(" (sp = entry sp - {})", f.body_sp_delta);
  s += ", RET " + (rets.empty() ? std::string("none") : rets);
  if (f.abi0) s += ", ABI0 (stack arguments)";
  if (f.wrapper) s += ", compiler-made wrapper";
  return s;
}

// What `go version -m` prints: the main package and module, each dependency, each setting.
std::string build_info_lines(const bpfault::binary::BuildInfo& b) {
  if (b.path.empty() && b.main.path.empty()) return {};
  auto module = [](const bpfault::binary::GoModule& m) {
    std::string s = m.path;
    if (!m.version.empty()) s += " " + m.version;
    if (!m.replaced_by.empty()) s += " => " + m.replaced_by;
    return s;
  };
  std::string out = fmt::format("# build info: {}, package {}", b.go_version, b.path);
  if (!b.main.path.empty()) out += ", module " + module(b.main);
  out += "\n";
  for (const auto& d : b.deps) out += fmt::format("#   dependency {}\n", module(d));
  for (const auto& [k, v] : b.settings) out += fmt::format("#   build {}={}\n", k, v);
  return out;
}

bpfault::Result<bpfault::cli::Outcome> run_list(const ListOptions& o) {
  using namespace bpfault::binary;
  // Without -v only names are printed: no DWARF and no machine-code sweep are needed (Detail::names).
  // With a GLOB only the functions it names are analysed further than their names.
  std::vector<std::string> focus;
  if (o.glob != "*") focus.push_back(o.glob);
  auto info = analyse(o.binary, o.verbose ? Detail::full : Detail::names, focus);
  if (!info) return tl::unexpected(info.error());
  if (o.verbose && !(*info)->has_dwarf) {
    // A stripped binary: its standard-library functions' signatures from the same toolchain.
    bpfault::target::Options to;
    to.progress = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    *info = bpfault::run::add_stdlib_signatures(*info, to).info;
  }
  const BinaryInfo& bi = **info;
  const auto matched = bi.match(o.glob);
  std::string out;
  out.reserve(matched.size() * (o.verbose ? 200 : 60));
  size_t probeable = 0;
  bool xmm = false;
  if (o.verbose) {
    out += fmt::format("# {}: {} {}, {}{}, {} linking{}, goid at g+{}\n", o.binary,
                       bi.go_version.empty() ? "go?" : bi.go_version, arch_name(bi.arch),
                       bi.stripped ? "stripped" : "with symbols", bi.has_dwarf ? " and DWARF" : ", no DWARF",
                       bi.external_link ? "external" : "internal", bi.pie ? ", PIE" : "", bi.goid_offset);
    out += build_info_lines(read_build_info(bi));
    for (const auto& w : bi.warnings) out += fmt::format("# warning: {}\n", w);
    if (!bi.has_dwarf) {
      out +=
          "# no DWARF: the program's own signatures are unknown (?); build without -ldflags='-s -w' to see them "
          "(functions inlined everywhere are listed from the inline trees)\n";
      if (!bi.stdlib_signatures.empty()) out += fmt::format("# {}\n", bi.stdlib_signatures);
    }
  }
  // Each inlined copy: where, and whether a count at its mark is exact (README, "Inlined functions").
  // With DWARF, what `record` reads there: each argument the copy's DWARF places at its mark.
  auto copies = [&](const Function& f, std::string_view indent) {
    for (const InlinedCopy& c : f.inlined_copies) {
      out += fmt::format("{}inlined into {} at {}, mark {:#x}{}\n", indent, c.caller, c.at, c.mark,
                         c.not_countable.empty() ? "" : ": not countable: " + c.not_countable);
      if (!bi.has_dwarf) continue;
      if (!c.params_why.empty()) {
        out += fmt::format("{}  record: nothing ({})\n", indent, c.params_why);
        continue;
      }
      std::vector<std::string> at;
      for (const Value& v : c.params)
        if (!v.hidden) at.push_back(fmt::format("{} {} @{}", v.name, v.type ? v.type->name : "?", v.describe_loc()));
      out +=
          fmt::format("{}  record: {}\n", indent, at.empty() ? "no argument" : fmt::format("{}", fmt::join(at, ", ")));
      for (const auto& [name, why] : c.unlocated) out += fmt::format("{}  not {}: {}\n", indent, name, why);
    }
  };
  for (const Function* f : matched) {
    if (!f->probeable()) {
      if (!o.verbose) continue;
      out += fmt::format("# {}: not probe-able: {}\n", f->name, f->not_probeable);
      if (!f->inlined_copies.empty())
        out += fmt::format("#   count, stack and record probes attach at its {} inlined cop{}:\n",
                           f->inlined_copies.size(), f->inlined_copies.size() == 1 ? "y" : "ies");
      copies(*f, "#     ");
      continue;
    }
    ++probeable;
    out += fmt::format("uprobe:{}:{}\n", o.binary, f->symbol.empty() ? f->name : f->symbol);
    if (!o.verbose) continue;
    out += "    " + signature(*f) + "\n";
    if (!f->signature_from.empty()) out += fmt::format("    signature from {}\n", f->signature_from);
    out += "    " + probe_points(*f) + "\n";
    if (!f->no_ret.empty())
      out += fmt::format("    no RET: {}; its results cannot be recorded or set, nor its latency timed\n", f->no_ret);
    for (const auto& w : f->warnings) out += "    warning: " + w + "\n";
    copies(*f, "    ");
    for (const auto* vs : {&f->params, &f->results})
      for (const Value& v : *vs)
        for (const Piece& p : v.pieces) xmm |= p.loc.kind == Loc::Kind::xmm;
  }
  if (o.verbose && xmm)
    out +=
        "# @xmmN: a float register; BPF sees no XMM state (pt_regs), so it can neither read nor write those values\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (matched.empty()) {
    return bpfault::fail(bpfault::ErrorKind::bad_input, o.binary, fmt::format("no function matches '{}'", o.glob),
                         "globs use * and ?, e.g. 'main.*'");
  }
  return bpfault::cli::Outcome{};
}

bpfault::cli::Runner add_list(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "list", "List a Go binary's probe-able functions (uprobe:PATH:FUNC), with -v their signatures");
  auto o = std::make_shared<ListOptions>();
  sub->add_option("BINARY", o->binary, "the Go executable")->required();
  sub->add_option("GLOB", o->glob, "only functions whose Go name matches (* and ?), e.g. 'main.*'");
  sub->add_flag(
      "-v,--verbose", o->verbose,
      "add signatures with argument/result locations, probe points, warnings, and what cannot be probed and why");
  return [o] { return run_list(*o); };
}

bpfault::cli::CommandRegistration reg(20, add_list);

}  // namespace
