#include "scenario/scenario.h"
#include "scenario/validate.h"

#include <gtest/gtest.h>

namespace bpfault::scenario {
namespace {

const char* kSeed = R"({
  "version": 1,
  "name": "seed",
  "target": { "fixture": "demo", "timeout_ms": 5000 },
  "probes": [ { "function": "main.ebpfDemo", "record": ["a1", "a2"] } ],
  "expect": {
    "exit_code": 0,
    "stdout": { "contains": "a1=100", "matches": ["r3=test"] },
    "events": [ { "function": "main.ebpfDemo", "count": 1, "args": { "a1": 100, "a2": true } } ]
  }
})";

Error parse_error(const std::string& text) {
  auto s = parse(text, "x.json");
  EXPECT_FALSE(s.has_value()) << "parsed although invalid";
  return s ? Error{} : s.error();
}

TEST(Scenario, ParsesTheSeed) {
  auto s = parse(kSeed, "/tmp/seed.json");
  ASSERT_TRUE(s) << s.error().format();
  EXPECT_EQ(s->name, "seed");
  EXPECT_EQ(s->target.fixture, "demo");
  EXPECT_EQ(s->target.timeout.count(), 5000);
  ASSERT_EQ(s->probes.size(), 1u);
  EXPECT_EQ(s->probes[0].record, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(s->expect.exit_code, 0);
  EXPECT_EQ(s->expect.stdout_text.contains, std::vector<std::string>{"a1=100"});
  ASSERT_EQ(s->expect.events.size(), 1u);
  EXPECT_EQ(s->expect.events[0].count, 1u);
  EXPECT_EQ(s->expect.events[0].args.at("a2"), true);
}

TEST(Scenario, TypoNamesPointerAndSuggestion) {
  std::string text = kSeed;
  text.replace(text.find("\"function\": \"main.ebpfDemo\", \"record\""), 10, "\"fucntion\"");
  Error e = parse_error(text);
  std::string all = e.format();
  EXPECT_NE(all.find("x.json:/probes/0/fucntion"), std::string::npos) << all;
  EXPECT_NE(all.find("unknown key \"fucntion\""), std::string::npos) << all;
  EXPECT_NE(all.find("did you mean \"function\""), std::string::npos) << all;
  EXPECT_NE(all.find("x.json:/probes/0: error: missing required key \"function\""), std::string::npos) << all;
}

TEST(Scenario, WrongTypeSaysExpectedAndFound) {
  std::string text = kSeed;
  text.replace(text.find("5000"), 4, "\"5s\"");
  std::string all = parse_error(text).format();
  EXPECT_NE(all.find("x.json:/target/timeout_ms: error: expected an integer from 1 to 3600000, got the string \"5s\""), std::string::npos) << all;
}

TEST(Scenario, SyntaxErrorHasLineAndColumn) {
  std::string all = parse_error("{\n  \"version\": 1,\n  \"name\": \"x\"\n  \"target\": {}\n}").format();
  EXPECT_NE(all.find("x.json:4:"), std::string::npos) << all;
  EXPECT_NE(all.find("invalid JSON"), std::string::npos) << all;
}

TEST(Scenario, UnknownVersionIsRefused) {
  std::string all = parse_error(R"({"version": 2, "name": "x", "target": {"fixture": "demo"}})").format();
  EXPECT_NE(all.find("x.json:/version: error: expected 1, got 2"), std::string::npos) << all;
}

TEST(Scenario, TargetNeedsExactlyOneProgram) {
  std::string all = parse_error(R"({"version": 1, "name": "x", "target": {}})").format();
  EXPECT_NE(all.find("neither \"fixture\" nor \"binary\""), std::string::npos) << all;
}

TEST(Scenario, BadRegexIsNamed) {
  std::string text = kSeed;
  text.replace(text.find("r3=test"), 7, "r3=(test");
  std::string all = parse_error(text).format();
  EXPECT_NE(all.find("x.json:/expect/stdout/matches/0: error: invalid regular expression /r3=(test/"), std::string::npos) << all;
}

TEST(Scenario, ComparedValuesMustBeRecorded) {
  std::string text = kSeed;
  text.replace(text.find("\"a2\": true"), 10, "\"a3\": true");
  std::string all = parse_error(text).format();
  EXPECT_NE(all.find("/expect/events/0/args/a3: error: \"a3\" is compared but not recorded"), std::string::npos) << all;
}

TEST(Scenario, SignalNames) {
  EXPECT_EQ(signal_number("SIGKILL"), 9);
  EXPECT_EQ(signal_number("SIGABRT"), 6);
  EXPECT_FALSE(signal_number("SIGNOPE"));
  EXPECT_EQ(signal_name(11), "SIGSEGV");
}

TEST(Scenario, EditDistance) {
  EXPECT_EQ(edit_distance("fucntion", "function"), 2u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
}

}  // namespace
}  // namespace bpfault::scenario
