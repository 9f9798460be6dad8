// bpfault explore: error sites from a baseline, one injecting run per site, classified.
#include "explore/explore.h"

#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "binary/build_info.h"
#include "binary/code.h"
#include "binary/image.h"
#include "binary/variables.h"
#include "scenario/scenario.h"

namespace bpfault::explore {

namespace fs = std::filesystem;
using nlohmann::json;
using ojson = nlohmann::ordered_json;  // scenarios keep their keys in the order written

std::string Site::label() const { return fmt::format("{} <- {} #{}", function, caller, nth); }

bool Site::operator<(const Site& o) const {
  return std::tie(function, caller, nth, not_injectable) < std::tie(o.function, o.caller, o.nth, o.not_injectable);
}

std::string_view class_name(Class c) {
  switch (c) {
    case Class::crashed:
      return "crashed";
    case Class::hung:
      return "hung";
    case Class::handled:
      return "handled";
    case Class::swallowed:
      return "swallowed";
    case Class::not_injectable:
      return "not injectable";
    case Class::not_run:
      return "not run";
  }
  return "?";
}

size_t Report::count(Class c) const {
  return static_cast<size_t>(std::ranges::count_if(findings, [c](const Finding& f) { return f.cls == c; }));
}

namespace {

// The function whose code holds the return address: the first frame after the callee's that
// is not a call inlined into the next one.
std::string physical_caller(const json& stack) {
  if (!stack.is_array()) return {};
  for (size_t i = 1; i < stack.size(); ++i) {
    const json& frame = stack[i];
    if (!frame.is_object() || !frame.contains("function") || !frame["function"].is_string()) return {};
    if (frame.value("inlined", false)) continue;
    return frame["function"].get<std::string>();
  }
  return {};
}

// The frames below the callee, up to kContextFrames, as "function:line" (inlined ones too).
std::string calling_context(const json& stack) {
  std::string out;
  if (!stack.is_array()) return out;
  for (size_t i = 1; i < stack.size() && i <= kContextFrames; ++i) {
    const json& frame = stack[i];
    if (!frame.is_object()) break;
    if (!out.empty()) out += " < ";
    out += fmt::format("{}:{}", frame.value("function", std::string("?")), frame.value("line", 0));
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string shorten(std::string text, size_t max = 110) {
  if (text.size() > max) text = text.substr(0, max - 3) + "...";
  return record::printable(text);
}

}  // namespace

std::vector<Site> error_sites(const record::RunRecord& baseline) {
  std::vector<Site> sites;
  for (const auto& probe : baseline.probes) {
    std::vector<const record::Hit*> calls;
    for (const auto& h : probe.hits)
      if (h.site == "call" && h.stack.is_array()) calls.push_back(&h);  // a probe that records no stack: no site
    std::ranges::stable_sort(calls, [](const record::Hit* a, const record::Hit* b) { return a->call < b->call; });
    // The kernel counts `nth` among the calls of the out-of-line body that match the caller;
    // calls at an inlined copy are not among them, so they are numbered apart.
    std::map<std::string, uint64_t> from_caller, at_copy;
    for (const auto* h : calls) {
      Site s;
      s.function = probe.function;
      s.goid = h->goid;
      s.stack = h->stack;
      if (!h->inlined_into.empty()) {
        s.caller = h->inlined_into;
        s.nth = ++at_copy[s.caller];
        s.not_injectable = fmt::format(
            "called at a copy of {} inlined into {}: an early return needs the function's own code (mark it "
            "//go:noinline)",
            probe.function, h->inlined_into);
      } else {
        s.caller = physical_caller(h->stack);
        if (s.caller.empty()) {
          s.caller = "?";
          s.not_injectable = "its recorded stack names no caller";
        }
        s.nth = ++from_caller[s.caller];
      }
      sites.push_back(std::move(s));
    }
  }
  std::sort(sites.begin(), sites.end());
  std::map<std::pair<std::string, std::string>, std::string> first;  // (function, context) -> its site
  for (Site& s : sites) {
    s.context = calling_context(s.stack);
    auto [it, added] = first.emplace(std::pair{s.function, s.context}, s.label());
    if (!added) s.duplicate_of = it->second;
  }
  return sites;
}

Judgement classify(const record::RunRecord& control, const record::RunRecord& run, const Site& site) {
  if (run.status == record::Status::error || run.status == record::Status::skipped)
    return {Class::not_injectable,
            run.error ? shorten(first_line(run.error->what)) : std::string("the run did not happen")};
  const record::Injection* done = nullptr;
  const record::Injection* undone = nullptr;
  for (const auto& p : run.probes) {
    if (p.function != site.function) continue;
    for (const auto& h : p.hits)
      if (h.injection && h.injection->done && !done)
        done = &*h.injection;
      else if (h.injection && !h.injection->done && !undone)
        undone = &*h.injection;
  }
  if (!done) {
    if (undone)
      for (const auto& w : undone->writes)
        if (w.error)
          return {Class::not_injectable, shorten(fmt::format("the write of {} failed: {}", w.target, *w.error))};
    return {Class::not_injectable,
            fmt::format("no injection recorded: call #{} of {} from {} did not happen in this run", site.nth,
                        site.function, site.caller)};
  }
  if (run.timed_out) {
    std::string where = run.diagnosis && !run.diagnosis->location.empty() ? " in " + run.diagnosis->location : "";
    return {Class::hung, shorten(fmt::format("timed out after {:.0f} ms{}", run.tracee_ms, where))};
  }
  if (run.diagnosis || run.signal) {
    std::string what = run.diagnosis ? run.diagnosis->summary : "killed by signal " + std::to_string(*run.signal);
    if (run.diagnosis && !run.diagnosis->location.empty()) what += " at " + run.diagnosis->location;
    return {Class::crashed, shorten(what)};
  }
  // A service answers its steps: a step that answered otherwise than in the control run reported it.
  for (const auto& step : run.steps) {
    const auto c = std::ranges::find(control.steps, step.name, &record::StepResult::name);
    if (c == control.steps.end()) continue;
    auto outcome = [](const record::StepResult& st) {
      if (!st.error.empty()) return st.error;
      if (st.status) return fmt::format("HTTP {}: {}", *st.status, first_line(st.body));
      return fmt::format("exit {}: {}", st.exit_code.value_or(-1),
                         first_line(st.stderr_text.empty() ? st.stdout_text : st.stderr_text));
    };
    if (step.status != c->status || step.exit_code != c->exit_code || step.body != c->body ||
        step.stdout_text != c->stdout_text || step.error != c->error)
      return {Class::handled,
              shorten(fmt::format("step {}: {} (control: {})", step.name, outcome(step), shorten(outcome(*c), 30)))};
  }
  const std::vector<std::string> control_err = lines_of(control.stderr_text);
  const std::set<std::string> known(control_err.begin(), control_err.end());
  std::string new_line;
  for (const auto& line : lines_of(run.stderr_text))
    if (!known.contains(line)) {
      new_line = line;
      break;
    }
  if (run.exit_code != control.exit_code)
    return {Class::handled,
            shorten(fmt::format("exit {}{}", run.exit_code.value_or(-1), new_line.empty() ? "" : ": " + new_line))};
  if (!new_line.empty()) return {Class::handled, shorten(fmt::format("stderr: {}", new_line))};
  if (run.stdout_text != control.stdout_text) {
    const auto a = lines_of(control.stdout_text), b = lines_of(run.stdout_text);
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    // the same exit and no word of it on stderr: not reported, whatever it changed
    return {Class::swallowed,
            shorten(fmt::format("exit {} and no error reported, but stdout differs at line {}: {}",
                                run.exit_code.value_or(-1), i + 1, i < b.size() ? b[i] : "(it ends there)"))};
  }
  return {Class::swallowed,
          fmt::format("exit {} and the control run's output: the error vanished", run.exit_code.value_or(-1))};
}

std::vector<std::string> error_functions(const binary::BinaryInfo& bin, const std::vector<std::string>& globs,
                                         const std::vector<std::string>& packages) {
  const std::string module = binary::read_build_info(bin).main.path;
  std::set<std::string> out;
  for (const auto& f : bin.functions) {
    if (f.wrapper || f.abi0 || f.results.empty() || !f.results.back().type || !f.results.back().type->is_error)
      continue;
    if (!f.entry && f.inlined_copies.empty()) continue;   // no code at all
    if (f.name.find('[') != std::string::npos) continue;  // generic: its shapes are not one function
    bool chosen = false;
    if (!globs.empty()) {
      chosen = std::ranges::any_of(globs, [&](const std::string& g) { return binary::glob_match(g, f.name); });
    } else {
      const std::string pkg = binary::go_package(f.name);
      if (!packages.empty())
        chosen = std::ranges::find(packages, pkg) != packages.end();
      else
        chosen = pkg == "main" || (!module.empty() && (pkg == module || pkg.starts_with(module + "/")));
    }
    if (chosen) out.insert(f.name);
  }
  return {out.begin(), out.end()};
}

std::string error_result_name(const binary::Function& f) {
  const std::string& name = f.results.back().name;
  if (name.empty() || name[0] == '~' || name == "_") return fmt::format("r{}", f.results.size() - 1);
  return name;
}

Result<json> error_value(const binary::BinaryInfo& bin, const binary::Function& f) {
  // The addresses the function's own code names (its instructions' data operands, decoded)
  std::set<uint64_t> named;
  if (f.entry && f.end > f.entry && bin.image)
    if (const auto refs =
            binary::CodeDecoder(bin.arch).data_refs(bin.image->elf.at_vaddr(f.entry, f.end - f.entry), f.entry))
      for (const auto& r : *refs) named.insert(r.addr);
  const std::string prefix = binary::go_package(f.name) + ".";
  std::vector<std::string> own;                     // the package's err*/Err* variables of type error
  std::optional<std::string> own_named, any_named;  // one of them, or another package's, the code names
  if (bin.image && bin.image->elf.has_symtab())
    bin.image->elf.for_each_symbol([&](const binary::ElfFile::Symbol& s) {
      if (s.type != STT_OBJECT) return true;
      const std::string_view rest = s.name.starts_with(prefix) ? s.name.substr(prefix.size()) : std::string_view{};
      const bool mine =
          rest.find('.') == std::string_view::npos && (rest.starts_with("err") || rest.starts_with("Err"));
      if (!mine && !named.contains(s.value)) return true;
      std::string name(s.name);
      if (binary::variable_type(bin, name) != std::optional<std::string>("error")) return true;
      if (named.contains(s.value)) {
        auto& slot = mine ? own_named : any_named;
        if (!slot || name < *slot) slot = name;
      }
      if (mine) own.push_back(std::move(name));
      return true;
    });
  // Its package's variable that its code names (`return errNoConfig`), else another package's
  // (`return 0, io.ErrUnexpectedEOF`), else its package's first by name.
  if (own_named) return json(*own_named);
  if (any_named) return json(*any_named);
  if (!own.empty()) return json(*std::ranges::min_element(own));
  if (binary::itab(bin, "syscall.Errno", "error") && bin.variable("runtime.staticuint64s"))
    return json{{"errno", "EIO"}};
  if (bin.variable("io.EOF")) return json("io.EOF");
  return fail(ErrorKind::unsupported, f.name,
              fmt::format("no error value to return: {} defines no error variable, and the binary has neither "
                          "syscall.Errno as an error nor io.EOF",
                          binary::go_package(f.name)));
}

namespace {

struct Generated {
  fs::path file;
  Site site;
  ojson probe;
  json value;
  size_t finding = 0;  // index in Report::findings
};

// Paths of the scenario made absolute, so that a copy elsewhere (--out) names the same files.
void absolutize(ojson& j, const fs::path& dir) {
  auto fix = [&](ojson& v) {
    if (v.is_string() && !v.get<std::string>().empty()) v = (dir / v.get<std::string>()).lexically_normal().string();
  };
  if (j.contains("files") && j["files"].is_array())
    for (auto& f : j["files"]) fix(f);
  if (!j.contains("target") || !j["target"].is_object()) return;
  ojson& t = j["target"];
  if (t.contains("binary")) fix(t["binary"]);
  for (const char* key : {"build", "test"})
    if (t.contains(key) && t[key].is_object() && t[key].contains("module")) fix(t[key]["module"]);
}

Result<void> write_json(const fs::path& file, const ojson& j) {
  std::ofstream out(file);
  out << j.dump(2) << "\n";
  if (!out.good())
    return fail(ErrorKind::environment, file.string(), "cannot write the file", "check the folder's permissions");
  return {};
}

// The probe that makes exactly the site's call return an error (nth: the site's, or one that
// never comes, for the control run).
ojson site_probe(const Site& s, const std::string& result, const json& value, uint64_t nth) {
  return ojson{{"function", s.function},
               {"when", {{"caller", s.caller}, {"nth", nth}}},
               {"return", {{result, ojson::parse(value.dump())}}},
               {"record", json::array()}};
}

std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return out;
}

record::RunRecord suite_record_for(const std::vector<record::RunRecord>& records, const fs::path& file) {
  for (const auto& r : records)
    if (fs::path(r.file).filename() == file.filename()) return r;
  record::RunRecord missing;
  missing.file = file.string();
  missing.status = record::Status::error;
  missing.error = Error{ErrorKind::internal, file.string(), "the suite returned no record for this run", "", {}};
  return missing;
}

std::string failed_verdicts(const record::RunRecord& r) {
  std::string out;
  if (r.error) out += "\n  " + first_line(r.error->format());
  for (const auto& v : r.verdicts)
    if (!v.passed) out += fmt::format("\n  {}: expected {}, got {}", v.check, v.expected, shorten(v.actual, 200));
  if (r.diagnosis) out += "\n  " + r.diagnosis->summary;
  return out;
}

}  // namespace

Result<Report> explore(const Options& o, const std::function<void(const std::string&)>& note) {
  const auto start = std::chrono::steady_clock::now();
  Report rep;
  rep.scenario = o.scenario.string();
  auto loaded = scenario::load(o.scenario);
  if (!loaded) return tl::unexpected(loaded.error());
  const scenario::Scenario& s = *loaded;
  rep.name = s.name;
  if (s.target.attaches())
    return fail(ErrorKind::bad_input, o.scenario.string() + ":/target/pid",
                "explore starts the program once per error site: a running process can be attached to only once",
                "give the scenario a target bpfault starts (fixture, binary, build, test)");
  ojson raw;
  {
    std::ifstream in(o.scenario);
    raw = ojson::parse(in, nullptr, false);
    if (raw.is_discarded() || !raw.is_object())
      return fail(ErrorKind::bad_input, o.scenario.string(), "cannot read the scenario as JSON");
  }
  const fs::path dir = fs::absolute(o.scenario).parent_path();

  // The program and its analysis: which functions return an error.
  note(fmt::format("analysing the program of {}", o.scenario.string()));
  auto prepared = run::prepare(s, o.suite.run);
  if (!prepared) return tl::unexpected(prepared.error().error);
  // every function of the program, not only what the scenario names (its run's analysis focus)
  auto whole = binary::analyse(prepared->target.binary);
  if (!whole) return tl::unexpected(whole.error());
  const binary::BinaryInfo& bin = **whole;
  std::set<std::string> already;
  for (const auto& p : s.probes) already.insert(p.function);
  for (auto& f : error_functions(bin, o.functions, o.packages))
    if (!already.contains(f))
      rep.functions.push_back(f);
    else
      rep.notes.push_back(fmt::format("{} is probed by the scenario itself: its sites are not explored", f));
  if (rep.functions.empty())
    return fail(ErrorKind::bad_input, o.scenario.string(),
                "no function whose last result is an error was chosen in " + bin.path.string(),
                o.functions.empty() && o.packages.empty()
                    ? "by default the functions of package main and of the main module; --functions GLOB or "
                      "--packages LIST choose others"
                    : "check --functions / --packages against `bpfault list` of the program");

  // The baseline: the scenario as it is, plus a stack at every call of those functions.
  const std::string tag = fmt::format(".explore-{}-", ::getpid());
  std::vector<fs::path> generated_files;
  struct Cleanup {
    std::vector<fs::path>* files;
    ~Cleanup() {
      std::error_code ec;
      for (const auto& f : *files) fs::remove(f, ec);
    }
  } cleanup{&generated_files};
  ojson base = raw;
  base["name"] = s.name + " [explore baseline]";
  if (!base.contains("probes")) base["probes"] = ojson::array();
  for (const auto& f : rep.functions) base["probes"].push_back(ojson{{"function", f}, {"stack", true}});
  const fs::path base_file = dir / (tag + "baseline.json");
  generated_files.push_back(base_file);
  if (auto w = write_json(base_file, base); !w) return tl::unexpected(w.error());
  run::SuiteOptions base_opts = o.suite;
  if (base_opts.vm == run::VmMode::always) base_opts.vm = run::VmMode::auto_;  // reads work natively when they can
  note(fmt::format("baseline: {} functions returning an error, each call's stack recorded", rep.functions.size()));
  auto base_result = run::run_suite(
      {base_file}, base_opts, [](const record::RunRecord&) {}, note);
  if (base_result.interrupted_by) {
    rep.interrupted_by = base_result.interrupted_by;
    return rep;
  }
  if (base_result.records.empty())
    return fail(ErrorKind::internal, o.scenario.string(), "the baseline run produced no record");
  rep.baseline = base_result.records.front();
  if (rep.baseline.status == record::Status::skipped)
    return fail(ErrorKind::unsupported, o.scenario.string(),
                "the baseline cannot run here" + failed_verdicts(rep.baseline), "bpfault caps shows what is missing");
  if (rep.baseline.status != record::Status::passed)
    return fail(ErrorKind::bad_input, o.scenario.string(),
                "the scenario must pass before its error paths are explored; with stack probes on the functions "
                "returning an error it did not:" +
                    failed_verdicts(rep.baseline),
                "bpfault run " + o.scenario.string() + " shows why; --functions narrows the probed functions");

  // The sites, and which of them run: every first call from a caller before any second one.
  std::vector<Site> sites = error_sites(rep.baseline);
  std::erase_if(sites, [&](const Site& site) {  // the scenario's own probes are not explored
    return std::ranges::find(rep.functions, site.function) == rep.functions.end();
  });
  std::vector<size_t> order;
  for (size_t i = 0; i < sites.size(); ++i) {
    rep.findings.push_back(Finding{.site = sites[i]});
    if (!sites[i].duplicate_of.empty() && !o.all_calls) {  // pruned: not a site of its own
      ++rep.duplicates;
      rep.findings.back().evidence =
          fmt::format("pruned: the same calling stack as {} (--all-calls runs it)", sites[i].duplicate_of);
      continue;
    }
    ++rep.sites_seen;
    if (!sites[i].not_injectable.empty()) {
      rep.findings.back().cls = Class::not_injectable;
      rep.findings.back().evidence = sites[i].not_injectable;
    } else {
      order.push_back(i);
    }
  }
  std::ranges::stable_sort(order, [&](size_t a, size_t b) { return sites[a].nth < sites[b].nth; });
  const size_t cap = o.max_runs;
  const std::string cap_why = fmt::format("--max-runs {}", o.max_runs);
  if (order.size() > cap) {
    for (size_t k = cap; k < order.size(); ++k) rep.findings[order[k]].evidence = "not run: " + cap_why;
    rep.notes.push_back(fmt::format("{} of {} injectable sites run, capped by {}; first calls from each caller first",
                                    cap, order.size(), cap_why));
    order.resize(cap);
  }

  // One scenario per site, and a control run that needs what they need and injects nothing.
  const auto timeout = std::chrono::milliseconds(std::min<int64_t>(
      s.target.timeout.count(), std::max<int64_t>(2000, static_cast<int64_t>(rep.baseline.tracee_ms * 20))));
  auto prepare_run = [&](ojson j, const std::string& name, const ojson& probe) {
    j["name"] = name;
    if (!j.contains("probes")) {  // before "expect", where a scenario has them
      ojson ordered;
      for (const auto& [key, value] : j.items()) {
        if (key == "expect") ordered["probes"] = ojson::array();
        ordered[key] = value;
      }
      if (!ordered.contains("probes")) ordered["probes"] = ojson::array();
      j = std::move(ordered);
    }
    j["probes"].push_back(probe);
    if (!s.serves()) j["target"]["timeout_ms"] = timeout.count();
    return j;
  };
  std::vector<Generated> runs;
  for (size_t idx : order) {
    Finding& f = rep.findings[idx];
    const binary::Function* fn = bin.find(f.site.function);
    if (!fn) {
      f.cls = Class::not_injectable;
      f.evidence = "not a function of " + bin.path.string();
      continue;
    }
    auto value = error_value(bin, *fn);
    if (!value) {
      f.cls = Class::not_injectable;
      f.evidence = value.error().what;
      continue;
    }
    f.error_value = *value;
    Generated g{.file = dir / fmt::format("{}{:03}.json", tag, runs.size() + 1),
                .site = f.site,
                .probe = site_probe(f.site, error_result_name(*fn), *value, f.site.nth),
                .value = *value,
                .finding = idx};
    f.run_name = fmt::format("{} [explore {}]", s.name, f.site.label());
    ojson j = prepare_run(raw, f.run_name, g.probe);
    j["expect"] = ojson{{"events", ojson::array({ojson{{"function", f.site.function}, {"injected", 1}}})}};
    if (s.expect.exit_code) j["expect"]["exit_code"] = *s.expect.exit_code;
    generated_files.push_back(g.file);
    if (auto w = write_json(g.file, j); !w) return tl::unexpected(w.error());
    runs.push_back(std::move(g));
  }
  rep.sites_run = runs.size();
  if (!runs.empty()) {
    const Generated& first = runs.front();
    ojson control = prepare_run(
        raw, s.name + " [explore control]",
        site_probe(first.site, error_result_name(*bin.find(first.site.function)), first.value, uint64_t{1} << 40));
    const fs::path control_file = dir / (tag + "000-control.json");
    generated_files.push_back(control_file);
    if (auto w = write_json(control_file, control); !w) return tl::unexpected(w.error());
    std::vector<fs::path> files{control_file};
    for (const auto& g : runs) files.push_back(g.file);
    note(fmt::format("{} sites to inject, each once, and a control run: one suite", runs.size()));
    // The budget counts from explore's start, the baseline and the VM's boot included; the
    // suite starts no run once it is spent (in the VM too), so it holds however slow a run is.
    run::SuiteOptions suite = o.suite;
    if (o.budget) {
      suite.start_before = start + *o.budget;
      suite.start_within_text = o.budget_text;
    }
    size_t finished = 0;
    auto result = run::run_suite(
        files, suite,
        [&](const record::RunRecord& r) {
          ++finished;
          note(fmt::format("  [{}/{}] {}: {}", finished, files.size(), r.name, record::status_name(r.status)));
        },
        note);
    rep.interrupted_by = result.interrupted_by;
    rep.vm_failed = result.vm_failure.has_value();
    for (auto& n : result.notes) rep.notes.push_back(n);
    rep.control = suite_record_for(result.records, control_file);
    if (rep.interrupted_by || rep.vm_failed) return rep;
    auto spent = [&](const record::RunRecord& r) {  // the suite started it no more (--start-within)
      return o.budget && r.not_started == "start_within";
    };
    if (spent(rep.control))
      return fail(ErrorKind::bad_input, "--budget " + o.budget_text,
                  fmt::format("spent before the first run after the baseline (which took {:.0f} ms{})",
                              rep.baseline.duration_ms, o.suite.vm == run::VmMode::never ? "" : ", and the VM's boot"),
                  "a larger --budget, or --max-runs alone");
    if (rep.control.status == record::Status::skipped) {
      rep.all_skipped = true;
      rep.notes.push_back("the injecting runs cannot run here" + failed_verdicts(rep.control));
      const std::string why = rep.control.error ? first_line(rep.control.error->what) : "skipped";
      for (const auto& g : runs) rep.findings[g.finding].evidence = shorten("skipped: " + why);
      return rep;
    }
    if (rep.control.status != record::Status::passed)
      return fail(ErrorKind::bad_input, o.scenario.string(),
                  fmt::format("the control run (the scenario with a fault that never fires, {}) did not pass, so "
                              "nothing can be compared with it:{}",
                              rep.control.where, failed_verdicts(rep.control)),
                  "bpfault run --vm=always " + o.scenario.string() + " shows whether it passes in the VM");
    for (const auto& g : runs) {
      Finding& f = rep.findings[g.finding];
      f.record = suite_record_for(result.records, g.file);
      if (spent(*f.record)) {
        f.cls = Class::not_run;
        f.evidence = fmt::format("not run: --budget {} was spent", o.budget_text);
        --rep.sites_run;
        continue;
      }
      Judgement j = classify(rep.control, *f.record, f.site);
      f.cls = j.cls;
      f.evidence = j.evidence;
      if (f.cls != Class::not_injectable) ++rep.injected;
      if (o.out.empty() || (f.cls != Class::crashed && f.cls != Class::hung && f.cls != Class::swallowed)) continue;
      // A reproducer: the site's fault, expecting what happened (a crash, a hang, the swallowed
      // error's unchanged output): it passes while the bug is there.
      ojson rj = prepare_run(raw, fmt::format("explore: {} {}", class_name(f.cls), f.site.label()), g.probe);
      absolutize(rj, dir);
      const record::RunRecord& r = *f.record;
      ojson expect = {{"events", ojson::array({ojson{{"function", f.site.function}, {"injected", 1}}})}};
      if (f.cls == Class::crashed) {
        if (r.exit_code)
          expect["exit_code"] = *r.exit_code;
        else if (r.signal)
          expect["signal"] = scenario::signal_name(*r.signal);
        if (r.diagnosis && !r.diagnosis->summary.empty() &&
            r.stderr_text.find(r.diagnosis->summary) != std::string::npos)
          expect["stderr"] = {{"contains", ojson::array({r.diagnosis->summary})}};
        rj["description"] = fmt::format(
            "bpfault explore found this crash ({}); this scenario passes while it "
            "is there. When it is fixed, expect the handled outcome instead.",
            f.evidence);
      } else if (f.cls == Class::swallowed) {
        expect["exit_code"] = rep.control.exit_code.value_or(0);
        expect["stdout"] = {{"equals", r.stdout_text}};
        rj["description"] = fmt::format(
            "bpfault explore found this error swallowed ({}): the call returns an error and the program exits as "
            "without it, reporting nothing. This scenario passes while that is so.",
            f.evidence);
      } else {
        expect["hangs"] = true;
        rj["description"] = fmt::format(
            "bpfault explore found this run hung ({}); this scenario passes while it is there (\"hangs\": the "
            "program still runs at its timeout). When it is fixed, expect the handled outcome instead.",
            f.evidence);
      }
      rj["expect"] = expect;
      std::error_code ec;
      fs::create_directories(o.out, ec);
      const fs::path named = o.out / fmt::format("{}-{}-from-{}-{}.json", slug(std::string(class_name(f.cls))),
                                                 slug(f.site.function), slug(f.site.caller), f.site.nth);
      if (auto w = write_json(named, rj); !w) return tl::unexpected(w.error());
      f.reproducer = named.string();
    }
  }
  if (const size_t late = std::ranges::count_if(
          rep.findings, [](const Finding& f) { return f.evidence.starts_with("not run: --budget"); });
      late > 0)
    rep.notes.push_back(
        fmt::format("{} of {} sites run before --budget {} was spent; first calls from each caller first",
                    rep.sites_run, rep.sites_run + late, o.budget_text));
  rep.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return rep;
}

json to_json(const Report& r) {
  json sites = json::array();
  for (const auto& f : r.findings) {
    json j = {{"function", f.site.function},
              {"caller", f.site.caller},
              {"nth", f.site.nth},
              {"context", f.site.context},
              {"duplicate_of", f.site.duplicate_of},
              {"class", class_name(f.cls)},
              {"evidence", f.evidence},
              {"baseline_goroutine", f.site.goid},
              {"stack", f.site.stack}};
    if (!f.error_value.is_null()) j["error_value"] = f.error_value;
    if (!f.reproducer.empty()) j["reproducer"] = f.reproducer;
    if (f.record) {
      const auto& rec = *f.record;
      json run = {{"name", rec.name},
                  {"where", rec.where},
                  {"timed_out", rec.timed_out},
                  {"stdout", rec.stdout_text},
                  {"stderr", rec.stderr_text}};
      if (rec.exit_code) run["exit_code"] = *rec.exit_code;
      if (rec.signal) run["signal"] = scenario::signal_name(*rec.signal);
      if (rec.diagnosis)
        run["diagnosis"] = {
            {"kind", rec.diagnosis->kind}, {"summary", rec.diagnosis->summary}, {"location", rec.diagnosis->location}};
      for (const auto& p : rec.probes)
        for (const auto& h : p.hits)
          if (p.function == f.site.function && h.injection && h.injection->done)
            run["injection"] = record::to_json(*h.injection);
      j["run"] = record::encode_bytes(run);
      j["record"] = record::to_json(rec);  // the whole run record, as `bpfault run --json` has it
    }
    sites.push_back(j);
  }
  json counts = json::object();
  for (Class c : {Class::crashed, Class::hung, Class::handled, Class::swallowed, Class::not_injectable, Class::not_run})
    counts[std::string(class_name(c))] = r.count(c);
  json j = {{"format", "bpfault-explore-1"},
            {"scenario", r.scenario},
            {"name", r.name},
            {"site_definition",
             fmt::format("(function, caller: the function holding the return address, n-th call from it); calls "
                         "with the same function and the same {} frames below it are one site",
                         kContextFrames)},
            {"duplicates", r.duplicates},
            {"functions", r.functions},
            {"sites_seen", r.sites_seen},
            {"sites_run", r.sites_run},
            {"injected", r.injected},
            {"coverage", r.sites_seen ? static_cast<double>(r.injected) / static_cast<double>(r.sites_seen) : 0.0},
            {"classes", counts},
            {"notes", r.notes},
            {"ms", r.ms},
            {"control", {{"where", r.control.where}, {"exit_code", r.control.exit_code.value_or(-1)}}},
            {"sites", sites},
            {"baseline_record", record::to_json(r.baseline)},
            {"control_record", record::to_json(r.control)}};
  return j;
}

}  // namespace bpfault::explore
