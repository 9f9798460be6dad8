// bpfault explore (README, "Exploring error paths"): a passing scenario is run once with stack
// probes on every function whose last result is an `error`; each distinct call that ran is an
// error site, (function, caller, n-th call from that caller), which the scenario vocabulary
// selects exactly (`when.caller` + `when.nth`: nth counts the calls that match the caller).
// Each site gets a generated scenario making that one call return an error, all of them one
// suite (one VM boot when the writes need the VM), each run classified against a control run
// of the same suite in which nothing is injected.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "binary/binary_info.h"
#include "diag/error.h"
#include "record/record.h"
#include "run/suite.h"

namespace bpfault::explore {

// One error site: the n-th call of `function` whose return address lies in `caller` (the
// out-of-line function holding the call instruction, as `when.caller` compares it).
struct Site {
  std::string function, caller;
  uint64_t nth = 0;
  int64_t goid = -1;           // the goroutine of that call in the baseline
  nlohmann::json stack;        // the baseline's stack of that call, innermost first
  std::string not_injectable;  // why no scenario can select it (a call at an inlined copy)
  // The calling context: up to kContextFrames frames below the function ("main.run:118 <
  // main.main:150 < ..."). Calls of one function with the same context are stack-equivalent:
  // the first is the site, the later ones name it here and are pruned (Options::all_calls).
  std::string context;
  std::string duplicate_of;

  std::string label() const;  // "main.loadConfig <- main.run #1"
  bool operator<(const Site& o) const;
};

constexpr size_t kContextFrames = 8;

// The distinct error sites of a baseline record (the calls whose stack its probes recorded), sorted by
// function, caller and nth: the same record always gives the same sites.
std::vector<Site> error_sites(const record::RunRecord& baseline);

enum class Class { crashed, hung, handled, swallowed, not_injectable, not_run };
std::string_view class_name(Class c);

struct Judgement {
  Class cls = Class::not_run;
  std::string evidence;  // one line
};

// A site's run against the control run (same suite, nothing injected): not injectable unless
// the record shows the call injected and its writes read back; then crashed (panic, fatal
// error, signal), hung (timed out), handled (a service's step answered otherwise, an exit code
// other than the control's, or a stderr line the control did not print), swallowed (the control's exit code and no new
// stderr line: the error vanished, with the same stdout or a changed one, which the evidence says).
Judgement classify(const record::RunRecord& control, const record::RunRecord& run, const Site& site);

// The functions whose last result is `error`: those matching one of `globs` (when given),
// else those of `packages` (import paths; when empty, package main and the main module's).
std::vector<std::string> error_functions(const binary::BinaryInfo& bin, const std::vector<std::string>& globs,
                                         const std::vector<std::string>& packages);

// The name a scenario gives the function's last result ("err", or "r1" when unnamed).
std::string error_result_name(const binary::Function& f);
// The error a site's call returns: an error variable of the function's own package (one its
// code refers to, "main.errNoConfig", else the first by name), else {"errno": "EIO"} when the binary can build it, else
// io.EOF when it has that variable; an error naming why none can be written otherwise.
Result<nlohmann::json> error_value(const binary::BinaryInfo& bin, const binary::Function& f);

struct Options {
  std::filesystem::path scenario;
  std::vector<std::string> functions, packages;
  size_t max_runs = 100;
  bool all_calls = false;  // also the stack-equivalent duplicates (Site::duplicate_of)
  std::optional<std::chrono::milliseconds> budget;
  std::string budget_text;
  std::filesystem::path out;  // reproducers of the findings; empty: none written
  run::SuiteOptions suite;    // vm, go, fixtures, kernel: as `bpfault run`
};

struct Finding {
  Site site;
  Class cls = Class::not_run;
  std::string evidence;
  nlohmann::json error_value;  // what the call was made to return
  std::string run_name;
  std::optional<record::RunRecord> record;
  std::string reproducer;  // the scenario file written for it (crashed, hung, swallowed)
};

struct Report {
  std::string scenario, name;
  std::vector<std::string> functions;  // probed in the baseline
  record::RunRecord baseline, control;
  std::vector<Finding> findings;  // every site seen, sorted; those not run say why
  size_t sites_seen = 0, sites_run = 0, injected = 0;
  size_t duplicates = 0;           // calls stack-equivalent to a site's, pruned (not in sites_seen)
  std::vector<std::string> notes;  // caps, refusals, the environment
  double ms = 0;
  bool vm_failed = false;
  int interrupted_by = 0;
  bool all_skipped = false;  // every site run was skipped: a capability is missing
  size_t count(Class c) const;
};

Result<Report> explore(const Options& o, const std::function<void(const std::string&)>& note);

nlohmann::json to_json(const Report& r);
// One self-contained HTML page: the summary, the sites' table, each site's baseline stack and
// its run's stdout and stderr against the control run's (html.cpp).
std::string html_page(const Report& r);

}  // namespace bpfault::explore
