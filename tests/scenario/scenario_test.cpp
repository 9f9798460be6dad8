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
  EXPECT_NE(all.find("x.json:/target/timeout_ms: error: expected an integer from 1 to 3600000, got the string \"5s\""),
            std::string::npos)
      << all;
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
  EXPECT_NE(all.find("none of \"fixture\", \"binary\", \"build\", \"test\" or \"pid\" is set"), std::string::npos)
      << all;
}

TEST(Scenario, BadRegexIsNamed) {
  std::string text = kSeed;
  text.replace(text.find("r3=test"), 7, "r3=(test");
  std::string all = parse_error(text).format();
  EXPECT_NE(all.find("x.json:/expect/stdout/matches/0: error: invalid regular expression /r3=(test/"),
            std::string::npos)
      << all;
}

TEST(Scenario, ComparedValuesMustBeRecorded) {
  std::string text = kSeed;
  text.replace(text.find("\"a2\": true"), 10, "\"a3\": true");
  std::string all = parse_error(text).format();
  EXPECT_NE(all.find("/expect/events/0/args/a3: error: \"a3\" is compared but not recorded"), std::string::npos) << all;
}

// "hangs": the program must still run at its timeout; it cannot also be expected to end, and a
// service (which bpfault stops) cannot hang.
TEST(Scenario, HangsIsExpectedAloneAndNotOfAService) {
  auto s = parse(R"({"version": 1, "name": "x", "target": {"fixture": "hang", "timeout_ms": 500},
                     "expect": {"hangs": true}})",
                 "x.json");
  ASSERT_TRUE(s) << s.error().format();
  EXPECT_TRUE(s->expect.hangs);
  std::string both = parse_error(R"({"version": 1, "name": "x", "target": {"fixture": "hang"},
                                     "expect": {"hangs": true, "exit_code": 0}})")
                         .format();
  EXPECT_NE(both.find("x.json:/expect/hangs: error: \"hangs\" expects the program still running when its timeout "
                      "passes, and \"exit_code\" expects it to end"),
            std::string::npos)
      << both;
  std::string service = parse_error(R"({"version": 1, "name": "x",
      "target": {"fixture": "hang", "ready": {"tcp": "127.0.0.1:1"}, "stop": {}}, "expect": {"hangs": true}})")
                            .format();
  EXPECT_NE(service.find("x.json:/expect/hangs: error: \"hangs\" is for a program that should end by itself"),
            std::string::npos)
      << service;
}

// A scenario on main.g (recording s, b, r0) with one events entry.
std::string with_entry(const std::string& entry) {
  return R"({"version": 1, "name": "x", "target": {"fixture": "demo"},
    "probes": [{"function": "main.g", "record": ["s", "b", "r0"]}],
    "expect": {"events": [)" +
         entry + "]}}";
}

TEST(ExpectedValues, ParsesCallAndSomeAndKeepsPatterns) {
  auto s = parse(with_entry(R"({"function": "main.g", "call": 4, "args": {"s": {"$prefix": "/etc/"}, "b": {"len": 44}}},
                               {"function": "main.g", "call": "some", "results": {"r0": {"$matches": "^a+$"}}},
                               {"function": "main.g", "count": 4, "args": {"s": {"prefix": 1}}})"),
                 "x.json");
  ASSERT_TRUE(s) << s.error().format();
  ASSERT_EQ(s->expect.events.size(), 3u);
  EXPECT_EQ(s->expect.events[0].call, 4u);
  EXPECT_FALSE(s->expect.events[0].some_call);
  EXPECT_EQ(s->expect.events[0].args.at("b"), (nlohmann::json{{"len", 44}}));
  EXPECT_FALSE(s->expect.events[1].call);
  EXPECT_TRUE(s->expect.events[1].some_call);
  // without "$", "prefix" is a field (of a Go struct): no operator, no error
  EXPECT_FALSE(s->expect.events[2].call);
  EXPECT_FALSE(s->expect.events[2].some_call);
}

// Each bad input: the pointer, what is wrong, and the hint.
void refused(const std::string& entry, const std::string& where_what, const std::string& hint) {
  std::string all = parse_error(with_entry(entry)).format();
  EXPECT_NE(all.find(where_what), std::string::npos) << all;
  EXPECT_NE(all.find(hint), std::string::npos) << all;
}

TEST(ExpectedValues, BadPatternsAreRefusedWithPointerAndHint) {
  refused(R"({"function": "main.g", "args": {"s": {"$prefx": "/etc/"}}})",
          R"(x.json:/expect/events/0/args/s/$prefx: error: unknown operator "$prefx")",
          R"(did you mean "$prefix"? the operators are $prefix (the string starts with it), $matches)");
  refused(R"({"function": "main.g", "args": {"s": {"$len": 3}}})",
          R"(x.json:/expect/events/0/args/s/$len: error: unknown operator "$len")",
          "a key starting with $ is never a field (Go names cannot start with $)");
  refused(R"({"function": "main.g", "args": {"s": {"$prefix": "/", "X": 1}}})",
          R"(x.json:/expect/events/0/args/s: error: operator "$prefix" beside field "X")",
          R"(to test a field, nest it: {"X": {"$prefix": ...}})");
  refused(R"({"function": "main.g", "results": {"r0": {"$prefix": 3}}})",
          R"(x.json:/expect/events/0/results/r0/$prefix: error: "$prefix" expects a string, got 3)",
          R"(compare it directly: {"len": 44})");
  refused(R"({"function": "main.g", "args": {"s": {"$matches": "a(b"}}})",
          "x.json:/expect/events/0/args/s/$matches: error: invalid regular expression /a(b/",
          "the syntax is ECMAScript's");
  // nested: a field of a struct, an element of an array
  refused(R"({"function": "main.g", "args": {"b": {"first": [{"$prefx": "a"}]}}})",
          R"(x.json:/expect/events/0/args/b/first/0/$prefx: error: unknown operator "$prefx")", "did you mean");
  refused(R"({"function": "main.g", "args_after": {"s": {"$matches": "("}}})",
          "x.json:/expect/events/0/args_after/s/$matches: error: invalid regular expression", "ECMAScript");
}

TEST(ExpectedValues, BadCallsAreRefusedWithPointerAndHint) {
  refused(R"({"function": "main.g", "call": 2, "count": 3, "args": {"s": "a"}})",
          R"(x.json:/expect/events/0/count: error: "count" with "call": 2: "call": 2 checks the values of one call, )"
          R"("count" is about every call)",
          R"(move "count" to another entry for main.g (one without "call"))");
  refused(R"({"function": "main.g", "call": "some", "stack": ["main.g"], "args": {"s": "a"}})",
          R"(x.json:/expect/events/0/stack: error: "stack" with "call": "some")", R"(move "stack" to another entry)");
  refused(R"({"function": "main.g", "call": 2})",
          R"(x.json:/expect/events/0/call: error: "call": 2 with no values to check)",
          R"(to count calls, use "count" without "call")");
  refused(R"({"function": "main.g", "call": 0, "args": {"s": "a"}})",
          R"(x.json:/expect/events/0/call: error: expected an integer ≥ 1 or "some", got 0)", "");
  refused(R"({"function": "main.g", "call": "any", "args": {"s": "a"}})",
          R"(x.json:/expect/events/0/call: error: expected an integer ≥ 1 or "some", got the string "any")", "");
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

TEST(Term, PrintIsAStepOfItsOwnAndTakesNoArguments) {
  auto steps = parse_term("2*print->50%off->return(io.EOF)", "x.json:/probes/0/term");
  ASSERT_TRUE(steps) << steps.error().format();
  ASSERT_EQ(steps->size(), 3u);
  EXPECT_EQ((*steps)[0].action, Step::Action::print);
  EXPECT_EQ((*steps)[0].times, 2u);
  EXPECT_EQ((*steps)[1].action, Step::Action::off);
  EXPECT_EQ((*steps)[1].probability, 50);
  EXPECT_TRUE((*steps)[2].early_return);
  auto bad = parse_term("print(now)", "x.json:/probes/0/term");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().what.find("print takes no arguments"), std::string::npos) << bad.error().format();
}

}  // namespace
}  // namespace bpfault::scenario
