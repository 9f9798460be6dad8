// Site extraction and classification on real run records: data/errpaths-report.json is the
// --json report of `bpfault explore --vm=always` on tests/explore/errpaths.json (fixtures/errpaths),
// which holds the baseline's, the control's and every site run's whole RunRecord.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>

#include "binary/binary_info.h"
#include "explore/explore.h"
#include "support/fixtures.h"

namespace {

using namespace bpfault;
using explore::Class;

const nlohmann::json& report() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::string(EXPLORE_DATA) + "/errpaths-report.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

record::RunRecord record_at(const nlohmann::json& j) {
  auto r = record::record_from_json(j);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().format());
  return r ? *r : record::RunRecord{};
}

record::RunRecord site_record(const std::string& function, const std::string& caller, uint64_t nth) {
  for (const auto& s : report()["sites"])
    if (s["function"] == function && s["caller"] == caller && s["nth"] == nth) return record_at(s["record"]);
  ADD_FAILURE() << "no site " << function << " <- " << caller << " #" << nth;
  return {};
}

explore::Site site(const std::string& function, const std::string& caller, uint64_t nth) {
  explore::Site s;
  s.function = function;
  s.caller = caller;
  s.nth = nth;
  return s;
}

TEST(ErrorSites, TheBaselineOfErrpathsHasTheSevenPlantedSitesSortedWithTheirCallers) {
  const auto sites = explore::error_sites(record_at(report()["baseline_record"]));
  std::vector<std::string> labels;
  for (const auto& s : sites) {
    labels.push_back(s.label());
    EXPECT_TRUE(s.not_injectable.empty()) << s.label() << ": " << s.not_injectable;
    ASSERT_TRUE(s.stack.is_array());
    EXPECT_EQ(s.stack[0]["function"], s.function);
  }
  EXPECT_EQ(labels, (std::vector<std::string>{"main.fetchToken <- main.connect #1", "main.loadConfig <- main.run #1",
                                              "main.parseRecord <- main.run #1", "main.parseRecord <- main.run #2",
                                              "main.process <- main.worker #1", "main.process <- main.worker #2",
                                              "main.saveStats <- main.report #1"}));
  // the goroutine sites ran on two goroutines other than main's
  EXPECT_NE(sites[4].goid, sites[5].goid);
}

// Calls of a function from the same calling stack are one site: the loop's second record and the
// second worker's call come from the same lines as the first ones (FIFUZZ's context), so they
// name their first call and are pruned; every other site has a stack of its own.
TEST(ErrorSites, CallsFromTheSameCallingStackAreOneSite) {
  std::map<std::string, std::string> duplicate_of;
  for (const auto& s : explore::error_sites(record_at(report()["baseline_record"]))) {
    EXPECT_FALSE(s.context.empty()) << s.label();
    EXPECT_TRUE(s.context.starts_with(s.caller + ":")) << s.label() << ": " << s.context;
    duplicate_of[s.label()] = s.duplicate_of;
  }
  EXPECT_EQ(duplicate_of,
            (std::map<std::string, std::string>{{"main.fetchToken <- main.connect #1", ""},
                                                {"main.loadConfig <- main.run #1", ""},
                                                {"main.parseRecord <- main.run #1", ""},
                                                {"main.parseRecord <- main.run #2", "main.parseRecord <- main.run #1"},
                                                {"main.process <- main.worker #1", ""},
                                                {"main.process <- main.worker #2", "main.process <- main.worker #1"},
                                                {"main.saveStats <- main.report #1", ""}}));
}

TEST(ErrorSites, TheSameRecordInAnyHitOrderGivesTheSameSites) {
  record::RunRecord r = record_at(report()["baseline_record"]);
  const auto expected = explore::error_sites(r);
  std::mt19937 rng(7);
  for (auto& p : r.probes) std::ranges::shuffle(p.hits, rng);
  const auto shuffled = explore::error_sites(r);
  ASSERT_EQ(shuffled.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(shuffled[i].label(), expected[i].label());
}

TEST(ErrorSites, TheCallerIsTheFunctionHoldingTheReturnAddressAndACallAtAnInlinedCopyIsNotInjectable) {
  record::RunRecord r = record_at(report()["baseline_record"]);
  for (auto& p : r.probes) {
    if (p.function != "main.saveStats") continue;
    ASSERT_EQ(p.hits.size(), 1u);
    // main.report inlined into main.run: the return address lies in main.run
    auto& stack = p.hits[0].stack;
    stack[1]["inlined"] = true;
    stack[2]["function"] = "main.run";
    record::Hit copy = p.hits[0];
    copy.call = 2;
    copy.inlined_into = "main.run";
    p.hits.push_back(copy);
  }
  std::vector<explore::Site> save;
  for (auto& s : explore::error_sites(r))
    if (s.function == "main.saveStats") save.push_back(s);
  ASSERT_EQ(save.size(), 2u);
  EXPECT_EQ(save[0].label(), "main.saveStats <- main.run #1");
  EXPECT_TRUE(save[0].not_injectable.empty());
  EXPECT_EQ(save[1].label(), "main.saveStats <- main.run #1");
  EXPECT_NE(save[1].not_injectable.find("inlined into main.run"), std::string::npos) << save[1].not_injectable;
}

TEST(Classify, EachPlantedBugGetsItsClassFromItsRecordAgainstTheControl) {
  const record::RunRecord control = record_at(report()["control_record"]);
  struct Want {
    explore::Site site;
    Class cls;
    std::string evidence;
  };
  const std::vector<Want> want = {
      {site("main.loadConfig", "main.run", 1), Class::crashed, "nil pointer dereference"},
      {site("main.fetchToken", "main.connect", 1), Class::hung, "timed out after"},
      {site("main.saveStats", "main.report", 1), Class::swallowed, "the error vanished"},
      {site("main.parseRecord", "main.run", 2), Class::handled, "exit 1: error: record \"30\": bad input"},
      {site("main.process", "main.worker", 1), Class::handled, "exit 1: error: worker"},
  };
  for (const auto& w : want) {
    const auto j = explore::classify(control, site_record(w.site.function, w.site.caller, w.site.nth), w.site);
    EXPECT_EQ(explore::class_name(j.cls), explore::class_name(w.cls)) << w.site.label() << ": " << j.evidence;
    EXPECT_NE(j.evidence.find(w.evidence), std::string::npos) << w.site.label() << ": " << j.evidence;
  }
}

TEST(Classify, WithoutTheInjectionReadBackNothingCountsAsInjected) {
  const record::RunRecord control = record_at(report()["control_record"]);
  const auto s = site("main.loadConfig", "main.run", 1);
  // the same crash, but the record shows no done injection: not injectable, whatever happened
  record::RunRecord r = site_record(s.function, s.caller, s.nth);
  for (auto& p : r.probes)
    for (auto& h : p.hits)
      if (h.injection) {
        h.injection->done = false;
        for (auto& w : h.injection->writes) w.error = "read back 0x0, not the value written";
      }
  auto j = explore::classify(control, r, s);
  EXPECT_EQ(j.cls, Class::not_injectable);
  EXPECT_NE(j.evidence.find("read back"), std::string::npos) << j.evidence;
  for (auto& p : r.probes) p.hits.clear();
  j = explore::classify(control, r, s);
  EXPECT_EQ(j.cls, Class::not_injectable);
  EXPECT_NE(j.evidence.find("did not happen"), std::string::npos) << j.evidence;
  // a run the planner refused is not injectable, with the refusal
  record::RunRecord refused;
  refused.status = record::Status::error;
  refused.error = Error{ErrorKind::bad_input, "x.json:/probes/0", "main.f is inlined everywhere", "", {}};
  j = explore::classify(control, refused, s);
  EXPECT_EQ(j.cls, Class::not_injectable);
  EXPECT_EQ(j.evidence, "main.f is inlined everywhere");
}

TEST(Classify, AnErrorThatChangesTheOutputWithoutAWordIsSwallowedToo) {
  const record::RunRecord control = record_at(report()["control_record"]);
  const auto s = site("main.saveStats", "main.report", 1);
  record::RunRecord r = site_record(s.function, s.caller, s.nth);
  r.stdout_text = "config demo\ntotal 42\n";  // lost its last lines, exit 0, nothing on stderr
  auto j = explore::classify(control, r, s);
  EXPECT_EQ(j.cls, Class::swallowed);
  EXPECT_NE(j.evidence.find("stdout differs at line 3: (it ends there)"), std::string::npos) << j.evidence;
  r.stderr_text = "warning: stats not saved\n";  // one word of it: handled
  j = explore::classify(control, r, s);
  EXPECT_EQ(j.cls, Class::handled);
  EXPECT_EQ(j.evidence, "stderr: warning: stats not saved");
}

// data/service-report.json: `bpfault explore --vm=always scenarios/service-steps.json` (the
// service fixture; the scenario probes main.store itself, without stacks).
const nlohmann::json& service_report() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::string(EXPLORE_DATA) + "/service-report.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

TEST(ErrorSites, CallsRecordedWithoutAStackAreNoSites) {
  const auto sites = explore::error_sites(record_at(service_report()["baseline_record"]));
  ASSERT_EQ(sites.size(), 1u);  // main.store's hits (the scenario's own probe) have no stack
  EXPECT_EQ(sites[0].label(), "main.readData <- main.main.func2 #1");
}

TEST(Classify, AServiceStepThatAnswersOtherwiseIsHandledAndTheSameAnswersAreSwallowed) {
  const record::RunRecord control = record_at(service_report()["control_record"]);
  const auto s = site("main.readData", "main.main.func2", 1);
  record::RunRecord r = record_at(service_report()["sites"][0]["record"]);
  auto j = explore::classify(control, r, s);
  EXPECT_EQ(j.cls, Class::handled);
  EXPECT_NE(j.evidence.find("step read-file: HTTP 500: read failed: not found (control: HTTP 200"), std::string::npos)
      << j.evidence;
  // had the service answered as in the control run, exiting 0 with the same output, the error vanished
  for (auto& step : r.steps)
    for (const auto& c : control.steps)
      if (c.name == step.name) step = c;
  r.stderr_text = control.stderr_text;
  r.stdout_text = control.stdout_text;
  EXPECT_EQ(explore::classify(control, r, s).cls, Class::swallowed);
}

TEST(Html, ThePageHasEverySiteItsClassItsStackAndItsOutputAgainstTheControl) {
  explore::Report r;
  r.name = "errpaths";
  r.control = record_at(report()["control_record"]);
  r.sites_seen = 7;
  for (const auto& s : explore::error_sites(record_at(report()["baseline_record"]))) {
    explore::Finding f{.site = s};
    f.record = site_record(s.function, s.caller, s.nth);
    const auto j = explore::classify(r.control, *f.record, s);
    f.cls = j.cls;
    f.evidence = j.evidence;
    ++r.injected;
    r.findings.push_back(f);
  }
  const std::string page = explore::html_page(r);
  EXPECT_NE(page.find("error-path coverage 7/7 = 100 %"), std::string::npos);
  EXPECT_NE(page.find("<tr class=crashed><td><a href='#s1'>main.loadConfig &lt;- main.run #1</a>"), std::string::npos);
  EXPECT_NE(page.find("<tr class=swallowed>"), std::string::npos);
  EXPECT_NE(page.find("<tr class=hung>"), std::string::npos);
  // the crash's stderr is all new: its panic line is marked added; the control's "done" is gone from stdout
  EXPECT_NE(page.find("<span class=add>+ panic: runtime error: invalid memory address or nil pointer dereference"),
            std::string::npos);
  EXPECT_NE(page.find("<span class=del>- done</span>"), std::string::npos);
  // the baseline stack of a site, frame by frame
  EXPECT_NE(page.find("main.loadConfig  /"), std::string::npos);
  EXPECT_NE(page.find("main.worker  /"), std::string::npos);
}

TEST(Classify, TheControlItselfIsNotAFinding) {
  const record::RunRecord control = record_at(report()["control_record"]);
  // The control injects nothing: judged as a site run, it is not injectable, never swallowed.
  EXPECT_EQ(explore::classify(control, control, site("main.loadConfig", "main.run", 1)).cls, Class::not_injectable);
}

}  // namespace

namespace {

// The error a site's call returns is the package's error variable the function's own code names
// (its instructions' data operands: RIP-relative on amd64, absolute on 386), else the first by name.
TEST(ErrorValue, TheVariableTheFunctionsOwnCodeNamesOnEveryToolchain) {
  for (const auto& release : test::go_releases())
    for (const auto& variant : {process::FixtureVariant{}, process::FixtureVariant{"386", false}}) {
      SCOPED_TRACE("go" + release + variant.tag());
      const auto path = test::fixture("errpaths", release, variant);
      ASSERT_FALSE(path.empty());
      auto bin = binary::analyse(path);
      ASSERT_TRUE(bin) << bin.error().format();
      const binary::Function* load = (*bin)->find("main.loadConfig");
      const binary::Function* parse = (*bin)->find("main.parseRecord");
      ASSERT_TRUE(load && parse);
      EXPECT_EQ(explore::error_value(**bin, *load).value_or(nullptr), "main.errNoConfig");
      EXPECT_EQ(explore::error_value(**bin, *parse).value_or(nullptr), "main.errBadInput");
    }
}

// A function whose code names another package's error variable (`return 0, io.EOF`) returns that
// one (its package has none); one that names none gets the fallback, EIO.
TEST(ErrorValue, AnotherPackagesVariableTheCodeNames) {
  for (const auto& release : test::go_releases())
    for (const auto& variant : {process::FixtureVariant{}, process::FixtureVariant{"386", false}}) {
      SCOPED_TRACE("go" + release + variant.tag());
      const auto path = test::fixture("tracebacks", release, variant);
      ASSERT_FALSE(path.empty());
      auto bin = binary::analyse(path);
      ASSERT_TRUE(bin) << bin.error().format();
      const binary::Function* read = (*bin)->find("main.(*slowReader).Read");
      ASSERT_TRUE(read);
      EXPECT_EQ(explore::error_value(**bin, *read).value_or(nullptr), "io.EOF");
      const binary::Function* fill = (*bin)->find("main.fill");
      ASSERT_TRUE(fill);
      // names none (io.ReadFull's are in io.ReadAtLeast): the fallback, not io.EOF
      EXPECT_EQ(explore::error_value(**bin, *fill).value_or(nullptr), (nlohmann::json{{"errno", "EIO"}}));
    }
}

}  // namespace
