#include "process/fixture.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <xxhash.h>

#include "diag/cache_files.h"
#include "process/child.h"

namespace bpfault::process {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kFormat = "bpfault-fixture-2";  // bump when the build recipe changes

// What one build reads and how it runs: build_fixture and build_package fill it in.
struct Recipe {
  fs::path source;                // hashed recursively (dot-folders such as .git left out)
  std::vector<std::string> keys;  // what else decides the output: flags, tags (none for a fixture)
  std::string base;               // the output's name before its hash
  std::vector<std::string> args;  // after `go`
  std::map<std::string, std::string> env;
  std::string describe;  // "fixture demo", "package ./cmd/shop of /src/shop"
  std::function<Error(const Outcome&)> failed;
};

Result<std::string> source_hash(const Recipe& recipe, const GoToolchain& go, const FixtureVariant& v) {
  const fs::path& dir = recipe.source;
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory() && it->path().filename().string().starts_with("."))
      it.disable_recursion_pending();
    else if (it->is_regular_file())
      files.push_back(it->path());
  }
  if (ec) return fail(ErrorKind::bad_input, dir.string(), fmt::format("cannot read the sources: {}", ec.message()));
  std::sort(files.begin(), files.end());
  XXH3_state_t* st = XXH3_createState();
  XXH3_128bits_reset(st);
  auto add = [&](std::string_view s) {
    XXH3_128bits_update(st, s.data(), s.size());
    XXH3_128bits_update(st, "\0", 1);
  };
  add(kFormat);
  add(go.version);
  add(v.goarch);
  add(v.stripped ? "stripped" : "");
  for (const auto& pkg : v.no_inline) add("noinline " + pkg);
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    add(fs::relative(f, dir).string());
    add(ss.str());
  }
  for (const auto& k : recipe.keys) add(k);
  XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  return fmt::format("{:016x}{:016x}", h.high64, h.low64).substr(0, 20);
}

// Points `link` at `target` atomically (a symlink renamed over the old one).
// A name of our own beside `path`: per thread, since `run -j` builds on several threads.
fs::path private_tmp(const fs::path& path) {
  fs::path tmp = path;
  tmp += fmt::format(".tmp{}", gettid());
  return tmp;
}

void repoint(const fs::path& link, const fs::path& target) {
  const fs::path tmp = private_tmp(link);
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(target.filename(), tmp, ec);
  if (!ec) fs::rename(tmp, link, ec);
}

}  // namespace

std::string FixtureVariant::tag() const {
  std::string t;
  if (goarch != "amd64") t += "-" + goarch;
  if (stripped) t += "-stripped";
  if (!no_inline.empty()) t += "-noinline";
  return t;
}

fs::path default_fixture_cache() {
  if (const char* env = std::getenv("BPFAULT_FIXTURE_CACHE"); env && *env) return env;
  return diag::cache_root() / "fixtures";
}

namespace {

// One -gcflags per package whose inlining is off, after the build's own: go applies the last
// pattern that matches a package, so the build's flags for every package ("-N", "all=-N") are
// kept for it, with -l added. "main" is the package built (a flag without a pattern).
std::vector<std::string> no_inline_flags(const FixtureVariant& v, std::string_view gcflags) {
  std::string args;
  const size_t eq = gcflags.find('=');
  if (gcflags.starts_with('-') || eq == std::string_view::npos)
    args = gcflags;
  else if (gcflags.substr(0, eq) == "all")
    args = gcflags.substr(eq + 1);
  if (!args.empty()) args += ' ';
  std::vector<std::string> flags;
  for (const auto& pkg : v.no_inline)
    flags.push_back(fmt::format("-gcflags={}{}-l", pkg == "main" ? "" : pkg + "=", args));
  return flags;
}

Result<BuiltFixture> build(const Recipe& recipe, const GoToolchain& go, const FixtureVariant& variant,
                           const fs::path& cache_dir, const std::function<void(const std::string&)>& progress) {
  auto hash = source_hash(recipe, go, variant);
  if (!hash) return tl::unexpected(hash.error());
  const std::string base = recipe.base + variant.tag() + "-go" + go.release;
  const fs::path out = cache_dir / fmt::format("{}-{}", base, *hash);
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  if (ec)
    return fail(ErrorKind::environment, cache_dir.string(),
                fmt::format("cannot create the fixture cache: {}", ec.message()),
                "set BPFAULT_FIXTURE_CACHE to a writable folder");
  BuiltFixture built{out, go.version, true};
  if (!fs::exists(out, ec)) {
    built.from_cache = false;
    if (progress)
      progress(fmt::format(
          "building {} with go{} ({}{}{})", recipe.describe, go.version, variant.goarch,
          variant.stripped ? ", stripped" : "",
          variant.no_inline.empty() ? "" : fmt::format(", inlining off in {}", fmt::join(variant.no_inline, ", "))));
    const fs::path tmp = private_tmp(out);
    Command cmd;
    cmd.argv = {go.go().string()};
    cmd.argv.insert(cmd.argv.end(), recipe.args.begin(), recipe.args.end());
    cmd.argv.insert(cmd.argv.end() - 1, {"-o", tmp.string()});  // before the package, the last argument
    cmd.cwd = recipe.source;
    cmd.unset_env = {"GOROOT", "GOFLAGS", "GOENV"};
    cmd.env = {{"GOARCH", variant.goarch},
               {"GOOS", "linux"},
               {"CGO_ENABLED", "0"},
               {"GO111MODULE", "on"},
               {"GOTOOLCHAIN", "local"},
               {"GOPROXY", "off"},
               {"GOTELEMETRY", "off"},
               {"GOCACHE", (cache_dir / ".gocache").string()},
               // go build's work folder: under the build tree, not /tmp, so a build killed with
               // bpfault (Ctrl-C, SIGKILL) leaves nothing behind outside it
               {"GOTMPDIR", (cache_dir / ".gotmp").string()}};
    for (const auto& [k, v] : recipe.env) cmd.env[k] = v;
    fs::create_directories(cache_dir / ".gotmp", ec);
    cmd.timeout = std::chrono::minutes(5);
    auto r = run(cmd);
    if (!r) return tl::unexpected(r.error());
    if (!r->ok()) {
      fs::remove(tmp, ec);
      return tl::unexpected(recipe.failed(*r));
    }
    // link() never replaces: when a parallel run built the same file first, keep theirs.
    if (link(tmp.c_str(), out.c_str()) != 0 && errno != EEXIST)
      return fail(ErrorKind::environment, out.string(), fmt::format("cannot store the build: {}", strerror(errno)));
    fs::remove(tmp, ec);
  }
  repoint(cache_dir / base, out);
  auto default_go = find_toolchain("");
  if (default_go && default_go->version == go.version)
    repoint(cache_dir / (recipe.base + variant.tag()), out);  // fixtures-build/demo: the default toolchain's build
  return built;
}

// "go: example.com/kv@v0.1.0: module lookup disabled by GOPROXY=off" and the like: the
// dependency the module cache lacks, or "" when the output names none.
std::string missing_dependency(const std::string& err) {
  static const std::regex patterns[] = {
      std::regex(R"(([^\s:]+@v[^\s:]+): module lookup disabled)"),
      std::regex(R"(missing go\.sum entry for module providing package ([^\s;]+))"),
      std::regex(R"(no required module provides package ([^\s;]+))"),
      std::regex(R"(cannot find module providing package ([^\s:]+))"),
  };
  std::smatch m;
  for (const auto& re : patterns)
    if (std::regex_search(err, m, re)) return m[1];
  return {};
}

}  // namespace

Result<BuiltFixture> build_fixture(const fs::path& source_dir, const GoToolchain& go, const FixtureVariant& variant,
                                   const fs::path& cache_dir, const std::function<void(const std::string&)>& progress) {
  std::error_code ec;
  if (!fs::is_regular_file(source_dir / "go.mod", ec))
    return fail(ErrorKind::bad_input, source_dir.string(), "not a Go fixture: no go.mod",
                "a fixture is a folder under fixtures/ with a go.mod and package main");
  Recipe r;
  r.source = source_dir;
  r.base = source_dir.filename().string();
  r.describe = "fixture " + r.base;
  r.args = {"build", "-buildvcs=false"};  // the same source builds the same binary, whatever the checkout
  if (variant.stripped) r.args.push_back("-ldflags=-s -w");
  for (auto& f : no_inline_flags(variant, "")) r.args.push_back(std::move(f));
  r.args.push_back(".");
  // A fixture has no dependencies: its own GOPATH, and -mod=mod for a go.mod without go.sum.
  r.env = {{"GOFLAGS", "-mod=mod"}, {"GOPATH", (cache_dir / ".gopath").string()}};
  r.failed = [&](const Outcome& o) {
    return Error{ErrorKind::bad_input,
                 source_dir.string(),
                 fmt::format("go build with go{} failed ({}):\n{}", go.version, o.describe(), o.err),
                 "fix the fixture's Go code; fixtures may use the standard library only",
                 {}};
  };
  return build(r, go, variant, cache_dir, progress);
}

std::string GoPackage::name() const {
  std::string n = module.filename().string();
  for (const auto& part : fs::path(package).lexically_normal())
    if (part != "." && !part.empty()) n += "-" + part.string();
  return test ? n + ".test" : n;
}

Result<BuiltFixture> build_package(const GoPackage& pkg, const GoToolchain& go, const FixtureVariant& variant,
                                   const fs::path& cache_dir, const std::function<void(const std::string&)>& progress) {
  std::error_code ec;
  if (!fs::is_regular_file(pkg.module / "go.mod", ec))
    return fail(ErrorKind::bad_input, pkg.module.string(), "not a Go module: no go.mod",
                "\"module\" is the folder holding go.mod");
  const bool vendored = fs::is_regular_file(pkg.module / "vendor" / "modules.txt", ec);
  Recipe r;
  r.source = pkg.module;
  r.base = pkg.name();
  r.describe = fmt::format("{} {} of {}", pkg.test ? "the tests of" : "package", pkg.package, pkg.module.string());
  r.args = {pkg.test ? "test" : "build"};
  if (pkg.test) r.args.push_back("-c");
  r.args.push_back(vendored ? "-mod=vendor" : "-mod=readonly");
  if (!pkg.tags.empty()) r.args.push_back(fmt::format("-tags={}", fmt::join(pkg.tags, ",")));
  if (!pkg.buildmode.empty()) r.args.push_back("-buildmode=" + pkg.buildmode);
  std::string ldflags = pkg.ldflags;
  if (variant.stripped) ldflags += ldflags.empty() ? "-s -w" : " -s -w";
  if (!ldflags.empty()) r.args.push_back("-ldflags=" + ldflags);
  if (!pkg.gcflags.empty()) r.args.push_back("-gcflags=" + pkg.gcflags);
  for (auto& f : no_inline_flags(variant, pkg.gcflags)) r.args.push_back(std::move(f));
  r.args.push_back(pkg.package);
  r.keys = r.args;  // the flags decide the output as much as the files do
  for (const auto& [k, v] : pkg.env) r.keys.push_back(k + "=" + v);
  // The user's module cache (GOPATH, GOMODCACHE as set), never the network; go's config file
  // is ignored because it may set GOFLAGS=-mod=mod or a proxy.
  r.env = {{"GOENV", "off"}, {"GOWORK", "off"}, {"GOFLAGS", ""}};
  for (const auto& [k, v] : pkg.env) r.env[k] = v;
  r.failed = [&](const Outcome& o) {
    const std::string dep = missing_dependency(o.err);
    if (!dep.empty()) {
      const std::string name = dep.substr(0, dep.find('@'));
      return Error{
          ErrorKind::bad_input,
          pkg.module.string(),
          fmt::format(
              "dependency {} is neither in vendor/ nor in the module cache: bpfault builds offline (GOPROXY=off)", dep),
          fmt::format("fetch it once with the network: cd {} && go mod download {} (or go mod vendor)",
                      pkg.module.string(), name),
          {}};
    }
    return Error{ErrorKind::bad_input,
                 pkg.module.string(),
                 fmt::format("go {} {} with go{} failed ({}):\n{}", pkg.test ? "test -c" : "build", pkg.package,
                             go.version, o.describe(), o.err),
                 o.err.find("inconsistent vendoring") != std::string::npos
                     ? "run go mod vendor in the module"
                     : "fix the package's Go code (it must build with this toolchain)",
                 {}};
  };
  return build(r, go, variant, cache_dir, progress);
}

Result<BuiltFixture> build_generated(const GeneratedProgram& program, const GoToolchain& go, const std::string& goarch,
                                     const fs::path& cache_dir,
                                     const std::function<void(const std::string&)>& progress) {
  const XXH128_hash_t h = XXH3_128bits(program.main_go.data(), program.main_go.size());
  const fs::path dir = cache_dir / ".generated" / fmt::format("{}-{:016x}", program.name, h.high64);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return fail(ErrorKind::environment, dir.string(), fmt::format("cannot create the folder: {}", ec.message()),
                "set BPFAULT_FIXTURE_CACHE to a writable folder");
  // Written whole under a private name, then renamed: a parallel run reads either file whole.
  auto write = [&](const char* name, const std::string& text) {
    const fs::path tmp = private_tmp(dir / name);
    std::ofstream(tmp, std::ios::binary) << text;
    fs::rename(tmp, dir / name, ec);
  };
  write("go.mod", fmt::format("module bpfault.generated/{}\n\ngo {}\n", program.name, go.release));
  write("main.go", program.main_go);
  Recipe r;
  r.source = dir;
  r.base = program.name;
  r.describe = "the standard-library signature program " + program.name;
  r.args = {"build", "-buildvcs=false", "-gcflags=-e"};  // -e: every error, so one retry drops them all
  if (!program.tags.empty()) r.args.push_back(fmt::format("-tags={}", fmt::join(program.tags, ",")));
  r.args.push_back(".");
  r.keys = r.args;
  for (const auto& [k, v] : program.env) r.keys.push_back(k + "=" + v);
  r.env = program.env;
  r.env["GOFLAGS"] = "-mod=mod";
  r.env["GOPATH"] = (cache_dir / ".gopath").string();
  r.failed = [&](const Outcome& o) {
    return Error{ErrorKind::environment,
                 dir.string(),
                 fmt::format("go build with go{} failed ({}):\n{}", go.version, o.describe(), o.err),
                 "a standard-library function of the binary is not one this toolchain builds",
                 {}};
  };
  FixtureVariant v;
  v.goarch = goarch;
  return build(r, go, v, cache_dir, progress);
}

}  // namespace bpfault::process
