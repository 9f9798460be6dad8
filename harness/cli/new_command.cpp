// bpfault new BINARY_OR_FIXTURE FUNC... [-o FILE] [-- ARGS...]
// A starting scenario for a QA engineer: the program runs once under recording probes, and
// what it did becomes the scenario's expectations (its exit, its first lines of output, each
// function's call count and the argument and result values every call had), ready to be
// edited into a fault scenario. The scenario is run again before it is written: a starting
// point that does not pass on the program it was written from is not written.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "binary/binary_info.h"
#include "cli/commands.h"
#include "record/record.h"
#include "run/execute.h"
#include "scenario/scenario.h"
#include "target/target.h"

namespace {
namespace fs = std::filesystem;
using namespace bpfault;
using ordered = nlohmann::ordered_json;

struct NewArgs {
  std::vector<std::string> positional;  // BINARY_OR_FIXTURE FUNC...
  std::vector<std::string> args;        // after --
  std::string output, name, fixtures;
};

constexpr size_t kStdoutLines = 3;  // the program's first lines, as `stdout.contains`

// `path` as the scenario in `dir` should name it: relative when the two share a folder below
// the root (they move together), else absolute.
std::string as_seen_from(const fs::path& path, const fs::path& dir) {
  const fs::path a = fs::absolute(path).lexically_normal(), b = fs::absolute(dir).lexically_normal();
  auto ai = a.begin(), bi = b.begin();
  int shared = 0;
  for (; ai != a.end() && bi != b.end() && *ai == *bi; ++ai, ++bi) ++shared;
  return shared > 1 ? a.lexically_relative(b).string() : a.string();
}

// The schema for "$schema": installed beside bpfault (share/bpfault), or the build tree's copy.
std::string schema_reference(const fs::path& scenario_file) {
  std::error_code ec;
  const fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (const fs::path& p : {exe_dir.parent_path() / "share" / "bpfault" / "scenario-v1.schema.json",
                            exe_dir / "share" / "bpfault" / "scenario-v1.schema.json"})
    if (fs::is_regular_file(p, ec)) {
      return scenario_file.empty() ? fs::absolute(p).lexically_normal().string()
                                   : as_seen_from(p, fs::absolute(scenario_file).parent_path());
    }
  return "";
}

// A value a scenario file can hold: its strings are UTF-8 (a recorded string may not be).
bool is_text(const nlohmann::json& v) {
  if (v.is_string()) return record::valid_utf8(v.get_ref<const std::string&>());
  if (v.is_structured())
    for (const auto& e : v)
      if (!is_text(e)) return false;
  return true;
}

// The values every call (site "call") or every return ("ret") had alike: what an expectation
// can hold without failing on the program it was written from.
ordered common_values(const record::ProbeRecord& p, const std::string& site, std::vector<std::string>& varying) {
  std::map<std::string, nlohmann::json> first;
  std::set<std::string> differs;
  for (const auto& h : p.hits) {
    if (h.site != site) continue;
    for (auto it = h.values.begin(); it != h.values.end(); ++it) {
      auto [at, inserted] = first.emplace(it.key(), it.value());
      if (!inserted && at->second != it.value()) differs.insert(it.key());
    }
  }
  ordered out = ordered::object();
  for (const auto& [name, value] : first)
    if (differs.count(name) || !is_text(value))  // bytes that are not text: named, not expected
      varying.push_back(name);
    else
      out[name] = value;
  return out;
}

// The first non-empty lines of what the program printed, when they are text (a JSON string
// in a scenario must be UTF-8; bytes that are not are left out, not mangled).
std::vector<std::string> first_lines(const std::string& out) {
  std::vector<std::string> lines;
  for (size_t start = 0; start < out.size() && lines.size() < kStdoutLines;) {
    size_t nl = std::min(out.find('\n', start), out.size());
    std::string line = out.substr(start, nl - start);
    if (!line.empty() && record::valid_utf8(line)) lines.push_back(std::move(line));
    start = nl + 1;
  }
  return lines;
}

Result<cli::Outcome> write_new(const NewArgs& a) {
  if (a.positional.size() < 2) {
    return fail(ErrorKind::bad_input, "", "bpfault new needs a Go binary or a fixture, and at least one function",
                "bpfault new BINARY_OR_FIXTURE FUNC... [-o FILE] [-- ARGS]");
  }
  scenario::Scenario s;
  s.file = "bpfault new";  // errors name the command line's argument (" argument 2")
  run::Options o;
  o.fixtures_dir = a.fixtures;
  const fs::path program = a.positional.front();
  std::error_code ec;
  if (fs::is_regular_file(program, ec)) {
    s.target.binary = fs::absolute(program);
  } else if (fs::is_regular_file(program / "go.mod", ec)) {  // a fixture's folder
    fs::path dir = fs::absolute(program).lexically_normal();
    if (dir.filename().empty()) dir = dir.parent_path();  // "fixtures/demo/"
    s.target.fixture = dir.filename().string();
    o.fixtures_dir = dir.parent_path();
  } else {
    s.target.fixture = program.string();  // a fixture's name: --fixtures, $BPFAULT_FIXTURES, ./fixtures
    if (o.fixtures_dir.empty() && !std::getenv("BPFAULT_FIXTURES")) o.fixtures_dir = fs::current_path() / "fixtures";
  }
  s.target.args = a.args;
  s.name = a.name.empty() ? fmt::format("{}: {}", program.filename().string(),
                                        fmt::join(a.positional.begin() + 1, a.positional.end(), ", "))
                          : a.name;

  auto resolved = target::resolve(s, o);
  if (!resolved) return tl::unexpected(resolved.error());
  auto info = binary::analyse(resolved->binary);
  if (!info) return tl::unexpected(info.error());
  for (size_t i = 1; i < a.positional.size(); ++i) {
    scenario::Probe p;
    p.function = a.positional[i];
    p.pointer = fmt::format(" argument {}", i + 1);
    if (const binary::Function* f = (*info)->find(p.function)) p.record = cli::readable_values(*f, true);
    s.probes.push_back(std::move(p));
  }

  record::RunRecord seen = run::execute(s, o);
  // A skip: a capability is missing (exit 77).
  if (seen.status == record::Status::error || seen.status == record::Status::skipped)
    return tl::unexpected(seen.error.value_or(Error{ErrorKind::internal, "", "the program could not be run", "", {}}));

  ordered j = ordered::object();
  if (std::string schema = schema_reference(a.output); !schema.empty()) j["$schema"] = schema;
  j["version"] = 1;
  j["name"] = s.name;
  std::vector<std::string> notes;
  ordered t = ordered::object();
  if (!s.target.fixture.empty())
    t["fixture"] = s.target.fixture;
  else if (a.output.empty() || a.output == "-")
    t["binary"] = s.target.binary.string();
  else  // relative to the scenario, as scenarios are moved with their programs
    t["binary"] = as_seen_from(s.target.binary, fs::absolute(a.output).parent_path());
  if (!s.target.args.empty()) t["args"] = s.target.args;
  j["target"] = t;
  ordered probes = ordered::array(), events = ordered::array();
  for (size_t i = 0; i < seen.probes.size(); ++i) {
    const record::ProbeRecord& p = seen.probes[i];
    ordered probe = {{"function", p.function}};
    if (i < s.probes.size() && !s.probes[i].record.empty()) probe["record"] = s.probes[i].record;
    probes.push_back(probe);
    ordered ev = {{"function", p.function}, {"count", p.calls}};
    std::vector<std::string> varying;
    if (auto args = common_values(p, "call", varying); !args.empty()) ev["args"] = args;
    if (auto results = common_values(p, "ret", varying); !results.empty()) ev["results"] = results;
    if (p.hits_not_kept)  // the values were compared over the hits kept, and so is the expectation
      notes.push_back(fmt::format("{}: values seen on the first {} hits only ({} more not kept)", p.function,
                                  p.hits.size(), p.hits_not_kept));
    if (!varying.empty()) {
      std::vector<std::string> firsts;  // what the first call had, as a start for a `when.args` predicate
      for (const auto& h : p.hits)
        for (const auto& v : varying)
          if (h.values.contains(v) &&
              std::none_of(firsts.begin(), firsts.end(), [&](const std::string& f) { return f.starts_with(v + "="); }))
            firsts.push_back(fmt::format("{}={}", v, record::printable_value(h.values[v])));
      notes.push_back(fmt::format("{}: {} differed between calls or are not text (first seen: {})", p.function,
                                  fmt::join(varying, ", "), fmt::join(firsts, ", ")));
    }
    events.push_back(ev);
  }
  j["probes"] = probes;
  ordered expect = ordered::object();
  if (seen.signal)
    expect["signal"] = fmt::format("SIG{}", sigabbrev_np(*seen.signal));
  else
    expect["exit_code"] = seen.exit_code.value_or(0);
  if (auto lines = first_lines(seen.stdout_text); !lines.empty()) expect["stdout"] = ordered{{"contains", lines}};
  expect["events"] = events;
  j["expect"] = expect;
  j["description"] = fmt::format(
      "Written by `bpfault new` from one run of the program: what it did, as expectations. "
      "Add a fault to a probe (set_args, set_results, return, term...) and change what must happen.{}",
      notes.empty() ? "" : fmt::format(" {}.", fmt::join(notes, "; ")));
  // "description" after "name" in the file, as people write it
  ordered out = ordered::object();
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "description") continue;
    out[it.key()] = it.value();
    if (it.key() == "name") out["description"] = j["description"];
  }
  const std::string text =
      out.dump(2, ' ', false, ordered::error_handler_t::replace) + "\n";  // argv may hold any bytes

  // The scenario must pass on the program it was written from before anyone edits it.
  // (read as the file it becomes: a relative binary is resolved against it)
  const bool to_stdout = a.output.empty() || a.output == "-";
  auto parsed = scenario::parse(text, to_stdout ? fs::current_path() / "new.json" : fs::absolute(a.output));
  if (!parsed)
    return fail(ErrorKind::internal, "bpfault new",
                "wrote a scenario it cannot read:\n" + parsed.error().format() + text);
  record::RunRecord again = run::execute(*parsed, o);
  if (again.status != record::Status::passed) {
    fmt::print(stderr, "error: the program does not do the same thing twice, so these expectations would not hold:\n");
    for (const auto& v : again.verdicts)
      if (!v.passed) fmt::print(stderr, "  {}: expected {}, got {}\n", v.check, v.expected, v.actual);
    fmt::print(stderr, "  hint: the scenario is below; edit what varies between runs\n{}", text);
    return cli::Outcome{cli::Outcome::Kind::failed};
  }
  if (to_stdout) {
    fmt::print("{}", text);
  } else {
    std::ofstream f(a.output);
    f << text;
    if (!f)
      return fail(ErrorKind::environment, a.output, "cannot write the scenario",
                  "check the folder exists and is writable");
    fmt::print(stderr, "wrote {} ({} probe{}, passes as written); run it with: bpfault run {}\n", a.output,
               seen.probes.size(), seen.probes.size() == 1 ? "" : "s", a.output);
  }
  return cli::Outcome{};
}

bpfault::cli::Runner add_new(CLI::App& app) {
  auto a = std::make_shared<NewArgs>();
  auto* sub = app.add_subcommand(
      "new", "Write a starting scenario from one run of a program: its output, calls and values as expectations");
  sub->add_option("target_and_functions", a->positional,
                  "BINARY_OR_FIXTURE FUNC... (a Go binary, a fixture's folder, or a fixture's name)")
      ->required();
  sub->add_option("-o,--output", a->output, "Write the scenario to FILE (default: stdout)");
  sub->add_option("--name", a->name, "The scenario's name (default: the program and the functions)");
  sub->add_option("--fixtures", a->fixtures, "Where fixtures are found (default: $BPFAULT_FIXTURES, else ./fixtures)");
  sub->footer(
      "Arguments after -- go to the program. The program runs twice: once to see what it does, once to check that the\n"
      "scenario written from it passes. Exit status: 0 written, 1 the second run differed, 2 bad input, 77 a "
      "capability is missing.");
  bpfault::cli::starts_a_program(sub);
  return [a] {
    a->args = bpfault::cli::program_args();
    return write_new(*a);
  };
}

bpfault::cli::CommandRegistration reg(17, add_new);

}  // namespace
