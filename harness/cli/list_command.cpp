// bpfault list BINARY [GLOB] [-v]: the probe-able functions of a Go binary, one per line in
// bpftrace's uprobe:PATH:FUNC form; -v adds each signature with the argument and result
// locations, the probe points, warnings, and the functions that cannot be probed with why.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "binary/binary_info.h"
#include "cli/commands.h"

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

int run_list(const ListOptions& o) {
  using namespace bpfault::binary;
  // Without -v no signature is printed: skipping DWARF halves the time on a big binary.
  auto info = analyse(o.binary, o.verbose ? Detail::full : Detail::functions);
  if (!info) {
    std::fputs(info.error().format().c_str(), stderr);
    return bpfault::exit_code(info.error().kind);
  }
  const BinaryInfo& bi = **info;
  const auto matched = bi.match(o.glob);
  std::string out;
  out.reserve(matched.size() * (o.verbose ? 200 : 60));
  size_t probeable = 0;
  bool xmm = false;
  if (o.verbose) {
    out += fmt::format("# {}: {} {}, {}{}, {} linking{}, goid at g+{}\n", o.binary, bi.go_version.empty() ? "go?" : bi.go_version,
                       arch_name(bi.arch), bi.stripped ? "stripped" : "with symbols", bi.has_dwarf ? " and DWARF" : ", no DWARF",
                       bi.external_link ? "external" : "internal", bi.pie ? ", PIE" : "", bi.goid_offset);
    for (const auto& w : bi.warnings) out += fmt::format("# warning: {}\n", w);
    if (!bi.has_dwarf)
      out += "# no DWARF: signatures are unknown (?) and functions inlined everywhere cannot be listed; "
             "build without -ldflags='-s -w' to see them\n";
  }
  for (const Function* f : matched) {
    if (!f->probeable()) {
      if (o.verbose) out += fmt::format("# {}: not probe-able: {}\n", f->name, f->not_probeable);
      continue;
    }
    ++probeable;
    out += fmt::format("uprobe:{}:{}\n", o.binary, f->symbol.empty() ? f->name : f->symbol);
    if (!o.verbose) continue;
    out += "    " + signature(*f) + "\n";
    out += "    " + probe_points(*f) + "\n";
    for (const auto& w : f->warnings) out += "    warning: " + w + "\n";
    for (const auto* vs : {&f->params, &f->results})
      for (const Value& v : *vs)
        for (const Piece& p : v.pieces) xmm |= p.loc.kind == Loc::Kind::xmm;
  }
  if (o.verbose && xmm)
    out += "# @xmmN: a float register; BPF sees no XMM state (pt_regs), so it can neither read nor write those values\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (matched.empty()) {
    std::fputs(fmt::format("{}: error: no function matches '{}'\n  hint: globs use * and ?, e.g. 'main.*'\n", o.binary, o.glob).c_str(),
               stderr);
    return 2;
  }
  return 0;
}

bpfault::cli::Runner add_list(CLI::App& app) {
  auto* sub = app.add_subcommand("list", "List a Go binary's probe-able functions (uprobe:PATH:FUNC), with -v their signatures");
  auto o = std::make_shared<ListOptions>();
  sub->add_option("BINARY", o->binary, "the Go executable")->required();
  sub->add_option("GLOB", o->glob, "only functions whose Go name matches (* and ?), e.g. 'main.*'");
  sub->add_flag("-v,--verbose", o->verbose,
                "add signatures with argument/result locations, probe points, warnings, and what cannot be probed and why");
  return [o] { return run_list(*o); };
}

bpfault::cli::CommandRegistration reg(20, add_list);

}  // namespace
