#include "process/fixture.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <xxhash.h>

#include "process/child.h"

namespace bpfault::process {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kFormat = "bpfault-fixture-1";  // bump when the build recipe changes

Result<std::string> source_hash(const fs::path& dir, const GoToolchain& go, const FixtureVariant& v) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file()) files.push_back(it->path());
  if (ec) return fail(ErrorKind::bad_input, dir.string(), fmt::format("cannot read the fixture: {}", ec.message()));
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
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    add(fs::relative(f, dir).string());
    add(ss.str());
  }
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
  return t;
}

fs::path default_fixture_cache() {
  if (const char* env = std::getenv("BPFAULT_FIXTURE_CACHE"); env && *env) return env;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return (ec ? fs::current_path() : exe.parent_path()) / "fixtures-build";
}

Result<BuiltFixture> build_fixture(const fs::path& source_dir, const GoToolchain& go, const FixtureVariant& variant,
                                   const fs::path& cache_dir, const std::function<void(const std::string&)>& progress) {
  std::error_code ec;
  if (!fs::is_regular_file(source_dir / "go.mod", ec))
    return fail(ErrorKind::bad_input, source_dir.string(), "not a Go fixture: no go.mod",
                "a fixture is a folder under fixtures/ with a go.mod and package main");
  auto hash = source_hash(source_dir, go, variant);
  if (!hash) return tl::unexpected(hash.error());
  const std::string name = source_dir.filename().string();
  const std::string base = name + variant.tag() + "-go" + go.release;
  const fs::path out = cache_dir / fmt::format("{}-{}", base, *hash);
  fs::create_directories(cache_dir, ec);
  if (ec) return fail(ErrorKind::environment, cache_dir.string(), fmt::format("cannot create the fixture cache: {}", ec.message()),
                      "set BPFAULT_FIXTURE_CACHE to a writable folder");
  BuiltFixture built{out, go.version, true};
  if (!fs::exists(out, ec)) {
    built.from_cache = false;
    if (progress) progress(fmt::format("building fixture {} with go{} ({}{})", name, go.version, variant.goarch, variant.stripped ? ", stripped" : ""));
    const fs::path tmp = private_tmp(out);
    Command cmd;
    cmd.argv = {go.go().string(), "build", "-o", tmp.string()};
    if (variant.stripped) cmd.argv.push_back("-ldflags=-s -w");
    cmd.argv.push_back(".");
    cmd.cwd = source_dir;
    cmd.unset_env = {"GOROOT", "GOFLAGS", "GOENV"};
    cmd.env = {{"GOARCH", variant.goarch}, {"GOOS", "linux"}, {"CGO_ENABLED", "0"}, {"GO111MODULE", "on"},
               {"GOTOOLCHAIN", "local"}, {"GOPROXY", "off"}, {"GOFLAGS", "-mod=mod"}, {"GOTELEMETRY", "off"},
               {"GOCACHE", (cache_dir / ".gocache").string()}, {"GOPATH", (cache_dir / ".gopath").string()},
               // go build's work folder: under the build tree, not /tmp, so a build killed with
               // bpfault (Ctrl-C, SIGKILL) leaves nothing behind outside it
               {"GOTMPDIR", (cache_dir / ".gotmp").string()}};
    fs::create_directories(cache_dir / ".gotmp", ec);
    cmd.timeout = std::chrono::minutes(5);
    auto r = run(cmd);
    if (!r) return tl::unexpected(r.error());
    if (!r->ok()) {
      fs::remove(tmp, ec);
      return fail(ErrorKind::bad_input, source_dir.string(),
                  fmt::format("go build with go{} failed ({}):\n{}", go.version, r->describe(), r->err),
                  "fix the fixture's Go code; fixtures may use the standard library only");
    }
    // link() never replaces: when a parallel run built the same file first, keep theirs.
    if (link(tmp.c_str(), out.c_str()) != 0 && errno != EEXIST)
      return fail(ErrorKind::environment, out.string(), fmt::format("cannot store the build: {}", strerror(errno)));
    fs::remove(tmp, ec);
  }
  repoint(cache_dir / base, out);
  auto default_go = find_toolchain("");
  if (default_go && default_go->version == go.version)
    repoint(cache_dir / (name + variant.tag()), out);  // fixtures-build/demo: the default toolchain's build
  return built;
}

}  // namespace bpfault::process
