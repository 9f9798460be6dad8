// Targets (issue 19) through build/bpfault as a user runs it: exit codes, messages, records.
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "binary/binary_info.h"
#include "process/go_toolchain.h"
#include "reliability/support.h"
#include "support/fixtures.h"
#include "target/target.h"

namespace bpfault {
namespace {
namespace fs = std::filesystem;

class Targets : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir("target-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
  }
  void TearDown() override {
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(dir_, ec);
  }
  fs::path write(const std::string& name, const nlohmann::json& j) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << j.dump(2);
    return p;
  }
  fs::path dir_;
};

// A scenario on the demo fixture's binary, as a prebuilt binary target.
nlohmann::json demo_binary_scenario(const fs::path& binary) {
  return {{"version", 1},
          {"name", "demo as a binary"},
          {"target", {{"binary", binary.string()}}},
          {"probes", {{{"function", "main.ebpfDemo"}}}},
          {"expect", {{"events", {{{"function", "main.ebpfDemo"}, {"count", 1}}}}}}};
}

// --go and --variants build a fixture; on a binary they would be silently meaningless.
TEST_F(Targets, GoAndVariantsOnABinaryAreRefusedWithTheReason) {
  const fs::path bin = test::fixture("demo");
  ASSERT_FALSE(bin.empty());
  const fs::path s = write("binary.json", demo_binary_scenario(bin));
  for (std::vector<std::string> opts :
       {std::vector<std::string>{"--go=newest"}, {"--go=1.19,newest"}, {"--variants=all"}}) {
    SCOPED_TRACE(opts.front());
    std::vector<std::string> args = {"run", "--vm=never", "--json", (dir_ / "run.json").string()};
    args.insert(args.end(), opts.begin(), opts.end());
    args.push_back(s.string());
    auto r = test::run_bpfault(args);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    const std::string flag = opts.front().substr(0, opts.front().find('='));
    EXPECT_NE(r.out.find(s.string() + ":/target/binary: error: " + flag), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("cannot apply: this target is a prebuilt binary"), std::string::npos) << r.out;
    auto rec = nlohmann::json::parse(test::slurp(dir_ / "run.json"));
    ASSERT_EQ(rec["scenarios"].size(), 1u) << rec.dump(1);
    EXPECT_EQ(rec["scenarios"][0]["status"], "error");
    EXPECT_EQ(rec["scenarios"][0]["name"], "demo as a binary");
  }
}

// A package of a module with a vendored dependency and a build tag, built offline with every
// toolchain; the probe sits on the vendored dependency's function (its code is in the binary).
TEST_F(Targets, BuildVendoredPackageWithTagsOnEveryToolchain) {
  if (!test::can_load_bpf()) GTEST_SKIP() << "needs root to load BPF programs (CAP_BPF, CAP_PERFMON)";
  const std::string scenario = (test::source_dir() / "scenarios" / "build-vendored-tags.json").string();
  const fs::path json = dir_ / "run.json";
  auto r = test::run_bpfault(
      {"run", "--vm=never", "--go=all", "--fixtures", dir_.string(), "--json", json.string(), scenario});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto rec = nlohmann::json::parse(test::slurp(json));
  ASSERT_EQ(rec["scenarios"].size(), test::go_releases().size()) << rec.dump(1);
  for (const auto& sc : rec["scenarios"]) {
    EXPECT_EQ(sc["status"], "passed") << sc.dump(1);
    EXPECT_NE(sc["stdout"].get<std::string>().find("audit: on"), std::string::npos) << sc["stdout"];  // -tags=audit
    ASSERT_EQ(sc["probes"][0]["hits"].size(), 1u) << sc.dump(1);
    EXPECT_EQ(sc["probes"][0]["hits"][0]["values"]["key"], "apple");
    EXPECT_EQ(sc["go_version"].get<std::string>().substr(0, 4), "go1.");
  }
}

// A copy of fixtures/shop in the test's folder (to change and break).
fs::path copy_shop(const fs::path& dir) {
  const fs::path to = dir / "shop";
  fs::copy(test::fixture_dir("shop"), to, fs::copy_options::recursive);
  return to;
}

nlohmann::json shop_build_scenario(const fs::path& module) {
  return {
      {"version", 1},
      {"name", "shop"},
      {"target", {{"build", {{"module", module.string()}, {"package", "./cmd/shop"}}}}},
      {"probes", {{{"function", "example.com/kv.Put"}}}},
      {"expect",
       {{"stdout", {{"contains", {"audit: off"}}}}, {"events", {{{"function", "example.com/kv.Put"}, {"count", 1}}}}}}};
}

// Built once, then from the cache until a file the build reads changes.
TEST_F(Targets, BuildIsCachedByTheContentOfTheModule) {
  if (!test::can_load_bpf()) GTEST_SKIP() << "needs root to load BPF programs (CAP_BPF, CAP_PERFMON)";
  const fs::path shop = copy_shop(dir_);
  const fs::path s = write("shop.json", shop_build_scenario(shop));
  const std::map<std::string, std::string> env = {{"BPFAULT_FIXTURE_CACHE", (dir_ / "cache").string()}};
  auto run = [&] { return test::run_bpfault({"run", "--vm=never", s.string()}, std::nullopt, env); };
  auto first = run();
  EXPECT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("building package ./cmd/shop of " + shop.string()), std::string::npos) << first.out;
  auto second = run();
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_EQ(second.out.find("building"), std::string::npos) << second.out;
  std::ofstream(shop / "vendor" / "example.com" / "kv" / "kv.go", std::ios::app) << "\n// changed\n";
  auto third = run();
  EXPECT_EQ(third.exit_code, 0) << third.out << third.err;
  EXPECT_NE(third.out.find("building package"), std::string::npos) << "a changed vendored file must rebuild:\n"
                                                                   << third.out;
}

// Offline means a dependency in neither vendor/ nor the module cache is an error that names
// it and says how to fetch it, and the module's go.mod is left as it was.
TEST_F(Targets, MissingDependencyIsNamedAndNothingIsFetched) {
  const fs::path shop = copy_shop(dir_);
  fs::remove_all(shop / "vendor");
  const std::string go_mod = test::slurp(shop / "go.mod");
  const fs::path s = write("shop.json", shop_build_scenario(shop));
  auto r = test::run_bpfault(
      {"run", "--vm=never", s.string()}, std::nullopt,
      {{"BPFAULT_FIXTURE_CACHE", (dir_ / "cache").string()}, {"GOMODCACHE", (dir_ / "modcache").string()}});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.out.find(s.string() + ":/target/build: error: " + shop.string() + ": dependency example.com/kv"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("is neither in vendor/ nor in the module cache: bpfault builds offline (GOPROXY=off)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("go mod download example.com/kv"), std::string::npos) << r.out;
  EXPECT_EQ(test::slurp(shop / "go.mod"), go_mod);
  EXPECT_FALSE(fs::exists(shop / "go.sum"));
}

// GOPROXY and GOFLAGS would undo "offline" and "never -mod=mod": refused by the schema.
TEST_F(Targets, BuildEnvCannotTurnTheNetworkOn) {
  nlohmann::json j = shop_build_scenario(test::fixture_dir("shop"));
  j["target"]["build"]["env"] = {{"GOPROXY", "https://proxy.golang.org"}};
  const fs::path s = write("proxy.json", j);
  auto r = test::run_bpfault({"run", "--vm=never", s.string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(
      r.out.find(s.string() + ":/target/build/env/GOPROXY: error: GOPROXY is bpfault's to set: it builds offline"),
      std::string::npos)
      << r.out;
}

// A package's tests as the target: results parsed from -test.v into the record, the console
// and JUnit; expect.tests checks each, and an expectation the run contradicts fails (exit 1).
TEST_F(Targets, TestTargetResultsInRecordConsoleAndJunit) {
  if (!test::can_load_bpf()) GTEST_SKIP() << "needs root to load BPF programs (CAP_BPF, CAP_PERFMON)";
  nlohmann::json j = {
      {"version", 1},
      {"name", "store tests"},
      {"target", {{"test", {{"module", test::fixture_dir("shop").string()}, {"package", "./store"}}}}},
      {"probes", {{{"function", "example.com/kv.Put"}, {"record", {"key"}}}}},
      {"expect",
       {{"tests", {{"TestWrite", "pass"}, {"TestRead", "pass"}}},
        {"events", {{{"function", "example.com/kv.Put"}, {"count", 1}, {"args", {{"key", "apple"}}}}}}}}};
  const fs::path pass = write("pass.json", j);
  j["name"] = "store tests, wrong expectation";
  j["expect"]["tests"]["TestRead"] = "fail";
  j["expect"]["tests"]["TestMissing"] = "pass";
  const fs::path wrong = write("wrong.json", j);
  const fs::path json = dir_ / "run.json", junit = dir_ / "junit.xml";
  auto r = test::run_bpfault(
      {"run", "--vm=never", "--json", json.string(), "--junit", junit.string(), pass.string(), wrong.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("go tests: TestWrite pass, TestRead pass"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("go test TestRead\n    expected: fail\n    actual:   pass"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("go test TestMissing\n    expected: pass\n    actual:   did not run"), std::string::npos)
      << r.out;
  auto rec = nlohmann::json::parse(test::slurp(json));
  ASSERT_EQ(rec["scenarios"].size(), 2u);
  EXPECT_EQ(rec["scenarios"][0]["status"], "passed") << rec["scenarios"][0].dump(1);
  EXPECT_EQ(rec["scenarios"][1]["status"], "failed");
  for (const auto& sc : rec["scenarios"]) {
    ASSERT_EQ(sc["tests"].size(), 2u) << sc.dump(1);
    EXPECT_EQ(sc["tests"][0]["name"], "TestWrite");
    EXPECT_EQ(sc["tests"][0]["result"], "pass");
    EXPECT_EQ(sc["tests"][1]["name"], "TestRead");
    EXPECT_EQ(sc["probes"][0]["hits"][0]["values"]["key"], "apple");
  }
  const std::string xml = test::slurp(junit);
  EXPECT_NE(xml.find("<property name=\"go test TestWrite\" value=\"pass ("), std::string::npos) << xml;
}

TEST(NoInliningFlag, NamesTheFunctionsPackageOnly) {
  EXPECT_EQ(binary::no_inlining_flag("example.com/kv.Put"), "-gcflags=example.com/kv=-l");
  EXPECT_EQ(binary::no_inlining_flag("example.com/kv.(*Store).Put"), "-gcflags=example.com/kv=-l");
  EXPECT_EQ(binary::no_inlining_flag("example.com/kv.Map[...].Get"), "-gcflags=example.com/kv=-l");
  EXPECT_EQ(binary::no_inlining_flag("os.ReadFile"), "-gcflags=os=-l");
  EXPECT_EQ(binary::no_inlining_flag("main.smallAdd"), "-gcflags=-l");
}

// A prebuilt binary cannot be rebuilt by bpfault: the refusal gives the exact flag.
TEST_F(Targets, InlinedEverywhereOnABinaryNamesTheRebuildFlag) {
  const fs::path bin = test::fixture("sigs");
  ASSERT_FALSE(bin.empty());
  nlohmann::json j = demo_binary_scenario(bin);
  j["probes"][0]["function"] = "main.smallAdd";
  j["probes"][0]["record"] = {"a", "b"};  // recorded at its copies, whose shared mark cannot count them
  j["expect"]["events"][0]["function"] = "main.smallAdd";
  const fs::path s = write("inlined.json", j);
  auto r = test::run_bpfault({"run", "--vm=never", s.string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.out.find(s.string() + ":/probes/0/function: error: main.smallAdd cannot be recorded at its copies "
                                    "exactly: 2 of its 2 inlined copies cannot be counted"),
            std::string::npos)
      << r.out;
  j["probes"][0].erase("record");
  j["probes"][0]["latency"] = true;  // never at its copies
  const fs::path timed = write("timed.json", j);
  r = test::run_bpfault({"run", "--vm=never", timed.string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(
      r.out.find(timed.string() + ":/probes/0/function: error: main.smallAdd cannot be probed: inlined everywhere"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("hint: rebuild with inlining off in its package only (-gcflags=-l)"), std::string::npos)
      << r.out;
}

// A function inlined everywhere in another package of a build target (strconv.Itoa, inlined
// into store.SetStock and strconv's own callers): bpfault builds the target again with inlining
// off in that package only (after the build's own gcflags: a package compiled with -l exports
// no inline bodies, so no caller inlines it), and probes that build; the record names the
// package, and the build is cached apart.
TEST_F(Targets, InlinedEverywhereInABuildIsRebuiltWithInliningOffInItsPackageOnly) {
  if (!test::can_load_bpf()) GTEST_SKIP() << "needs root to load BPF programs (CAP_BPF, CAP_PERFMON)";
  const fs::path shop = copy_shop(dir_);
  nlohmann::json j = shop_build_scenario(shop);
  j["target"]["build"]["gcflags"] = "-m";  // kept for the rebuilt package: go prints its inlining decisions
  j["probes"] = {{{"function", "strconv.Itoa"}, {"record", {"i"}}}};
  j["expect"]["events"] = {{{"function", "strconv.Itoa"}, {"count", 1}, {"args", {{"i", 3}}}}};
  const fs::path s = write("shop.json", j);
  const fs::path json = dir_ / "run.json";
  const std::map<std::string, std::string> env = {{"BPFAULT_FIXTURE_CACHE", (dir_ / "cache").string()}};
  auto r = test::run_bpfault({"run", "--vm=never", "--json", json.string(), s.string()}, std::nullopt, env);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("inlining off in strconv"), std::string::npos) << r.out;
  const auto rec = nlohmann::json::parse(test::slurp(json))["scenarios"][0];
  EXPECT_EQ(rec["inlining_off"], nlohmann::json({"strconv"})) << rec.dump(1);
  EXPECT_NE(rec["binary"].get<std::string>().find("-noinline-"), std::string::npos) << rec["binary"];
  // Without the rebuild there is nothing to probe: the first build had Itoa inlined everywhere.
  auto listed =
      test::run_bpfault({"list", "-v", (dir_ / "cache" / "shop-cmd-shop").string(), "strconv.Itoa"}, std::nullopt, env);
  EXPECT_NE(listed.out.find("inlined everywhere"), std::string::npos) << listed.out << listed.err;
  auto again = test::run_bpfault({"run", "--vm=never", s.string()}, std::nullopt, env);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(again.out.find("building"), std::string::npos) << "both builds are cached:\n" << again.out;
}

// A count where an inlined copy cannot be counted exactly (the sigs fixture's main.smallAdd: both
// copies' marks are one instruction of main.main's line 279, shared): refused on a prebuilt
// binary, naming the copy and why; a fixture is built again with inlining off in main instead,
// and counted there.
TEST_F(Targets, ACountWhereACopyCannotBeCountedExactlyIsRefusedOrRebuilt) {
  if (!test::can_load_bpf()) GTEST_SKIP() << "needs root to load BPF programs (CAP_BPF, CAP_PERFMON)";
  const fs::path bin = test::fixture("sigs");
  ASSERT_FALSE(bin.empty());
  nlohmann::json j = demo_binary_scenario(bin);
  j["probes"][0]["function"] = "main.smallAdd";
  j["expect"]["events"][0] = {{"function", "main.smallAdd"}, {"count", 2}};
  auto refused = test::run_bpfault({"run", "--vm=never", write("binary.json", j).string()});
  EXPECT_EQ(refused.exit_code, 2) << refused.out;
  EXPECT_NE(refused.out.find("main.smallAdd cannot be counted exactly: 2 of its 2 inlined copies cannot be counted "
                             "(the copy inlined into main.main at "),
            std::string::npos)
      << refused.out;
  EXPECT_NE(refused.out.find("its mark is an instruction it shares with"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("hint: rebuild with inlining off in its package only (-gcflags=-l)"), std::string::npos)
      << refused.out;

  j["target"] = {{"fixture", "sigs"}};
  const fs::path record = dir_ / "rebuilt.json";
  auto rebuilt = test::run_bpfault({"run", "--vm=never", "--json", record.string(), write("fixture.json", j).string()});
  EXPECT_EQ(rebuilt.exit_code, 0) << rebuilt.out << rebuilt.err;
  const auto rec = nlohmann::json::parse(test::slurp(record))["scenarios"][0];
  EXPECT_EQ(rec["inlining_off"], nlohmann::json({"main"})) << rec.dump(1);
  EXPECT_EQ(rec["probes"][0]["calls"], 2);
}

// A function inlined everywhere (fixtures/inlines' main.twice: no out-of-line copy, inlined into
// loop, once and maybe) on a prebuilt binary, with and without symbols, on every toolchain:
// counted at its inlined copies as often as the program counts its own calls, each hit's stack
// starting with twice, inlined, above the caller the record names; recording x, which the copy
// in loop has no DWARF location for, and timing it are refused with the reason; main.scale's
// arguments are recorded at its copies, each hit with the values the program passed there.
TEST_F(Targets, InlinedEverywhereIsCountedAtItsCopiesOnTheBinaryAsBuilt) {
  if (!test::can_load_bpf()) GTEST_SKIP() << "needs root to load BPF programs (CAP_BPF, CAP_PERFMON)";
  for (const std::string& release : test::go_releases())
    for (bool stripped : {false, true}) {
      SCOPED_TRACE(release + (stripped ? " stripped" : ""));
      process::FixtureVariant v;
      v.stripped = stripped;
      const fs::path bin = test::fixture("inlines", release, v);
      ASSERT_FALSE(bin.empty());
      nlohmann::json j = {{"version", 1},
                          {"name", "twice at its copies"},
                          {"target", {{"binary", bin.string()}}},
                          {"probes", {{{"function", "main.twice"}, {"stack", true}}}},
                          {"expect", {{"exit_code", 0}, {"stdout", {{"contains", "twice: 10 calls"}}}}}};
      const fs::path record = dir_ / "inlined.json";
      auto r = test::run_bpfault({"run", "--vm=never", "--json", record.string(), write("copies.json", j).string()});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
      const auto probe = nlohmann::json::parse(test::slurp(record))["scenarios"][0]["probes"][0];
      EXPECT_EQ(probe["calls"], 10);  // as the program counted them
      std::vector<std::string> callers;
      for (const auto& h : probe["hits"]) {
        callers.push_back(h.value("inlined_into", ""));
        ASSERT_TRUE(h["stack"].is_array() && h["stack"].size() > 2) << h.dump();
        EXPECT_EQ(h["stack"][0]["function"], "main.twice");
        EXPECT_EQ(h["stack"][0]["inlined"], true);
        EXPECT_TRUE(h["stack"][0]["line"] == 18 || h["stack"][0]["line"] == 19) << h.dump();  // its body's lines
        EXPECT_EQ(h["stack"][1]["function"], h["inlined_into"]) << h.dump();
        EXPECT_EQ(h["stack"][2]["function"], "main.main") << h.dump();
      }
      std::vector<std::string> expected(5, "main.loop");
      expected.insert(expected.end(), 3, "main.once");
      expected.insert(expected.end(), 2, "main.maybe");
      EXPECT_EQ(callers, expected);

      // x has no DWARF location at the mark of the copy in loop (every toolchain, amd64 and 386):
      // refused naming that copy, never recorded at the two copies that have it
      j["probes"][0]["record"] = {"x"};
      auto refused = test::run_bpfault({"run", "--vm=never", write("record.json", j).string()});
      EXPECT_EQ(refused.exit_code, 2) << refused.out;
      EXPECT_NE(refused.out.find("x of main.twice cannot be recorded at its copy inlined into main.loop at "),
                std::string::npos)
          << refused.out;
      EXPECT_NE(refused.out.find(stripped ? "the binary has no DWARF (stripped)" : "DWARF gives it no location at 0x"),
                std::string::npos)
          << refused.out;
      EXPECT_NE(refused.out.find(stripped ? "record from an unstripped build" : "-gcflags=-l"), std::string::npos)
          << refused.out;

      j["probes"][0]["record"] = nlohmann::json::array();
      j["probes"][0]["latency"] = true;
      auto untimed = test::run_bpfault({"run", "--vm=never", write("latency.json", j).string()});
      EXPECT_EQ(untimed.exit_code, 2) << untimed.out;
      EXPECT_NE(untimed.out.find("its 3 inlined copies can be counted, stacked and their arguments recorded, but not "
                                 "timed: a copy has no RET of its own"),
                std::string::npos)
          << untimed.out;
      if (stripped) continue;

      // main.scale's copies in area and volume: each hit read where its own copy's DWARF puts x and k
      nlohmann::json rec = {{"version", 1},
                            {"name", "scale at its copies"},
                            {"target", {{"binary", bin.string()}}},
                            {"probes", {{{"function", "main.scale"}, {"record", {"x", "k"}}}}},
                            {"expect", {{"exit_code", 0}, {"stdout", {{"contains", "scale: 3 calls"}}}}}};
      auto recorded =
          test::run_bpfault({"run", "--vm=never", "--json", record.string(), write("scale.json", rec).string()});
      ASSERT_EQ(recorded.exit_code, 0) << recorded.out << recorded.err;
      const auto scale = nlohmann::json::parse(test::slurp(record))["scenarios"][0]["probes"][0];
      ASSERT_EQ(scale["hits"].size(), 3u) << scale.dump(1);
      const std::vector<std::tuple<std::string, int, int>> want = {
          {"main.area", 2, 3}, {"main.area", 4, 5}, {"main.volume", 6, 7}};  // as the program prints them
      for (size_t i = 0; i < want.size(); ++i) {
        const auto& h = scale["hits"][i];
        EXPECT_EQ(h["inlined_into"], std::get<0>(want[i])) << h.dump();
        EXPECT_EQ(h["values"]["x"], std::get<1>(want[i])) << h.dump();
        EXPECT_EQ(h["values"]["k"], std::get<2>(want[i])) << h.dump();
      }
    }
}

// A Go program nobody here wrote, as Debian ships it: the newest toolchain's own gofmt (stripped,
// no DWARF, built by the cmd module, whose vendored packages the program that describes the
// standard library cannot import). os.OpenFile's arguments are read by name through the
// signatures of that program: every .go file of the folder gofmt lists is among them.
// os.Open, inlined everywhere, is counted at its inlined copies.
TEST_F(Targets, DebiansStrippedGofmtIsTracedByArgumentName) {
  if (!test::can_load_bpf()) GTEST_SKIP() << "needs root to load BPF programs (CAP_BPF, CAP_PERFMON)";
  const auto toolchains = process::find_toolchains();
  if (toolchains.empty() || toolchains.back().release == "1.19")
    GTEST_SKIP() << "no Go toolchain newer than 1.19 (bpfault setup --go newest)";
  const process::GoToolchain& go = toolchains.back();
  const fs::path gofmt = go.goroot / "bin" / "gofmt", folder = go.goroot / "src" / "go" / "ast";
  auto info = binary::analyse(gofmt);
  ASSERT_TRUE(info) << info.error().format();
  ASSERT_FALSE((*info)->has_dwarf) << gofmt << " is expected stripped, as Debian ships it";
  std::set<std::string> sources;
  for (const auto& e : fs::directory_iterator(fs::canonical(folder)))
    if (e.path().extension() == ".go") sources.insert(e.path().string());
  ASSERT_FALSE(sources.empty());
  const fs::path record = dir_ / "record.json";
  auto r = test::run_bpfault(
      {"run", "--vm=never", "--json", record.string(),
       write("gofmt.json", {{"version", 1},
                            {"name", "gofmt -l opens every file"},
                            {"target", {{"binary", gofmt.string()}, {"args", {"-l", fs::canonical(folder).string()}}}},
                            {"probes",
                             {{{"function", "os.OpenFile"}, {"record", {"name", "flag"}}, {"stack", true}},
                              {{"function", "os.Open"}}}},  // inlined everywhere: counted at its copies
                            {"expect", {{"exit_code", 0}}}})
           .string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto run = nlohmann::json::parse(test::slurp(record))["scenarios"][0];
  EXPECT_EQ(run["probes"][0]["signature_from"], "the Go " + go.version + " standard library");
  // a name longer than the record keeps (64 bytes) is {"len", "text": its first bytes}
  auto seen = [&](const std::string& file) {
    for (const auto& h : run["probes"][0]["hits"]) {
      const auto& name = h["values"]["name"];
      const bool same = name.is_string()
                            ? name == file
                            : name["len"] == file.size() && file.starts_with(name["text"].get<std::string>());
      if (same && h["values"]["flag"] == 0) return true;  // O_RDONLY
    }
    return false;
  };
  for (const auto& f : sources) EXPECT_TRUE(seen(f)) << f << " was not seen opened: " << run.dump(2);
  // os.Open, which has no out-of-line copy, was counted at its copies as often as os.OpenFile's
  // own stacks say os.Open called it
  size_t through_open = 0;
  for (const auto& h : run["probes"][0]["hits"])
    through_open += h["stack"].size() > 1 && h["stack"][1].value("function", "") == "os.Open";
  EXPECT_GE(through_open, sources.size());
  EXPECT_EQ(run["probes"][1]["calls"], through_open) << run["probes"][1].dump(2);
}

}  // namespace
}  // namespace bpfault
