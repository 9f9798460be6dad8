// A scenario that attaches to a running process (target.pid, `bpfault run --pid`): the pid is
// a target of its own, exactly one kind as ever, and what only a program bpfault starts has a
// use for is refused beside it, each key by its JSON pointer with the reason and what to do.
#include <gtest/gtest.h>

#include "scenario/scenario.h"

namespace bpfault::scenario {
namespace {

std::string attaching(const std::string& target_extra, const std::string& extra = "") {
  return R"({"version": 1, "name": "a", "target": {"pid": 4242)" + target_extra + "}" + extra + "}";
}

TEST(Attach, APidIsATargetThatAttachesAndBuildsNothing) {
  auto s = parse(attaching(R"(, "ready": {"tcp": "127.0.0.1:8080"})",
                           R"(, "probes": [{"function": "main.store", "record": ["id"]}],
                              "steps": [{"name": "get", "http": {"url": "http://127.0.0.1:8080/"}}],
                              "expect": {"events": [{"function": "main.store", "count": 1}]})"),
                 "/s/x.json");
  ASSERT_TRUE(s) << s.error().format();
  EXPECT_EQ(s->target.pid, 4242);
  EXPECT_TRUE(s->target.attaches());
  EXPECT_FALSE(s->target.builds());
  EXPECT_TRUE(s->target.launch_only.empty());
  EXPECT_TRUE(check_attach(*s, "--pid 4242"));

  auto plain = parse(R"({"version": 1, "name": "p", "target": {"fixture": "demo"}})", "/s/x.json");
  ASSERT_TRUE(plain) << plain.error().format();
  EXPECT_FALSE(plain->target.attaches());
}

TEST(Attach, APidIsOneKindOfTargetAndAPositiveNumber) {
  auto both = parse(R"({"version": 1, "name": "a", "target": {"pid": 7, "fixture": "demo"}})", "/s/x.json");
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().where, "/s/x.json:/target");
  EXPECT_EQ(both.error().what, "both \"fixture\" and \"pid\" are set");
  for (const char* bad : {"0", "-3", "\"4242\""}) {
    auto s = parse(attaching("").replace(attaching("").find("4242"), 4, bad), "/s/x.json");
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().where, "/s/x.json:/target/pid") << bad << s.error().format();
  }
}

TEST(Attach, WhatOnlyAStartedProgramHasAUseForIsRefusedByItsPointer) {
  auto s = parse(attaching(R"(, "args": ["x"], "env": {"A": "b"}, "stdin": "in", "user": "nobody", "timeout_ms": 5,
                               "stop": {"signal": "SIGINT"}, "ready": {"stdout": "^listening"})",
                           R"(, "expect": {"exit_code": 0, "signal": "SIGTERM", "stdout": {"contains": "x"},
                                           "stderr": {"contains": "y"}})"),
                 "/s/x.json");
  ASSERT_FALSE(s);
  std::vector<std::string> where = {s.error().where};
  for (const auto& e : s.error().also) where.push_back(e.where);
  for (const char* ptr :
       {"/target/args", "/target/env", "/target/stdin", "/target/user", "/target/timeout_ms", "/target/stop",
        "/target/ready/stdout", "/expect/exit_code", "/expect/stdout", "/expect/stderr"})
    EXPECT_NE(std::ranges::find(where, std::string("/s/x.json:") + ptr), where.end()) << ptr;
  const std::string text = s.error().format();
  EXPECT_NE(
      text.find("/s/x.json:/target/args: error: \"args\" is given to a program bpfault starts; a running process has "
                "its own (this scenario attaches to a running process: \"pid\")"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("/s/x.json:/target/stop: error: \"stop\" is how bpfault stops a program it started"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("readiness by a line of its stdout: bpfault does not see the output of a process it did not "
                      "start (this scenario attaches to a running process: \"pid\")\n  hint: wait for \"tcp\", "
                      "\"unix\", \"http\" or \"hit\" instead"),
            std::string::npos)
      << text;
}

// `bpfault run --pid` gives a scenario written for a program bpfault starts this target: its
// launch-only keys are known from the file and refused then, naming the flag.
TEST(Attach, ALaunchingScenarioKnowsWhatPidWouldRefuse) {
  auto ok = parse(R"({"version": 1, "name": "svc", "target": {"fixture": "service", "args": ["127.0.0.1:1"],
                      "variants": ["amd64", "386"], "ready": {"tcp": "127.0.0.1:1"}}, "expect": {"exit_code": 0}})",
                  "/s/x.json");
  ASSERT_TRUE(ok) << ok.error().format();
  std::vector<std::string> pointers;
  for (const auto& k : ok->target.launch_only) pointers.push_back(k.pointer);
  EXPECT_EQ(pointers, (std::vector<std::string>{"/target/args", "/target/variants", "/expect/exit_code"}));
  auto refused = check_attach(*ok, "--pid 4242");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().where, "/s/x.json:/target/args");
  EXPECT_NE(refused.error().what.find("(this scenario attaches to a running process: --pid 4242)"), std::string::npos);
  ASSERT_EQ(refused.error().also.size(), 2u);
  EXPECT_EQ(refused.error().also[1].where, "/s/x.json:/expect/exit_code");
}

}  // namespace
}  // namespace bpfault::scenario
