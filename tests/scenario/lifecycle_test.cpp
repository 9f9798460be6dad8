// A service's lifecycle in the scenario format: target.ready, target.stop, steps, a probe's
// "during" and an expectation's "step" are parsed as written, and what the schema cannot say
// is refused with the JSON pointer and what to write instead.
#include <gtest/gtest.h>

#include "scenario/scenario.h"

namespace bpfault::scenario {
namespace {

// A service scenario with `extra` keys at the top level and `target_extra` in the target.
std::string service(const std::string& target_extra, const std::string& extra) {
  return R"({"version": 1, "name": "svc", "target": {"fixture": "service", "args": ["127.0.0.1:1"])" + target_extra +
         "}" + extra + "}";
}

std::string error_of(const std::string& text) {
  auto s = parse(text, "/s/x.json");
  EXPECT_FALSE(s.has_value()) << "parsed although invalid";
  return s ? "" : s.error().format();
}

TEST(Lifecycle, ParsesReadyStepsStopDuringAndScopedEvents) {
  auto s = parse(
      service(
          R"(, "ready": {"unix": "run/app.sock", "timeout_ms": 2500}, "stop": {"signal": "SIGINT", "grace_ms": 700})",
          R"(, "probes": [{"function": "main.store", "during": ["break"]}],
                            "steps": [
                              {"name": "ok", "http": {"method": "POST", "url": "http://127.0.0.1:1/x", "headers": {"A": "b"}, "body": "hi"},
                               "timeout_ms": 300, "expect": {"status": 201, "body": {"contains": "made"}}},
                              {"name": "break", "run": ["./client", "--once"], "env": {"K": "v"}, "stdin": "in",
                               "expect": {"exit_code": 3, "stderr": {"matches": "^oops"}}}],
                            "expect": {"events": [{"function": "main.store", "step": "break", "count": 1}]})"),
      "/s/x.json");
  ASSERT_TRUE(s) << s.error().format();
  ASSERT_TRUE(s->target.ready);
  EXPECT_EQ(s->target.ready->unix_socket, "/s/run/app.sock");  // relative to the scenario's folder
  EXPECT_EQ(s->target.ready->timeout.count(), 2500);
  ASSERT_TRUE(s->target.stop);
  EXPECT_EQ(s->target.stop->signal, *signal_number("SIGINT"));
  EXPECT_EQ(s->target.stop->grace.count(), 700);
  EXPECT_TRUE(s->serves());
  ASSERT_EQ(s->steps.size(), 2u);
  ASSERT_TRUE(s->steps[0].http);
  EXPECT_EQ(s->steps[0].http->method, "POST");
  EXPECT_EQ(s->steps[0].http->headers.at("A"), "b");
  EXPECT_EQ(s->steps[0].http->body, "hi");
  EXPECT_EQ(s->steps[0].timeout.count(), 300);
  EXPECT_EQ(s->steps[0].expect.status, 201);
  EXPECT_EQ(s->steps[0].expect.body.contains, std::vector<std::string>{"made"});
  EXPECT_EQ(s->steps[1].run, (std::vector<std::string>{"./client", "--once"}));
  EXPECT_EQ(s->steps[1].env.at("K"), "v");
  EXPECT_EQ(s->steps[1].stdin_data, "in");
  EXPECT_EQ(s->steps[1].expect.exit_code, 3);
  EXPECT_EQ(s->steps[1].pointer, "/steps/1");
  EXPECT_EQ(s->probes[0].during, std::vector<std::string>{"break"});
  EXPECT_EQ(s->expect.events[0].step, "break");
}

TEST(Lifecycle, StepsAloneMakeAServiceStoppedBySigtermAfterFiveSeconds) {
  auto s = parse(service("", R"(, "steps": [{"name": "a", "run": ["true"]}])"), "x.json");
  ASSERT_TRUE(s) << s.error().format();
  ASSERT_TRUE(s->target.stop);
  EXPECT_EQ(s->target.stop->signal, *signal_number("SIGTERM"));
  EXPECT_EQ(s->target.stop->grace.count(), 5000);
  auto plain = parse(R"({"version": 1, "name": "p", "target": {"fixture": "demo"}})", "x.json");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->serves());  // a program that is not a service runs to its exit, as before
}

TEST(Lifecycle, ReadinessNamesExactlyOneThing) {
  std::string all = error_of(service(R"(, "ready": {"tcp": "127.0.0.1:1", "stdout": "x"})", ""));
  EXPECT_NE(all.find("/s/x.json:/target/ready: error: \"tcp\", \"stdout\" are all set"), std::string::npos) << all;
  all = error_of(service(R"(, "ready": {"timeout_ms": 5})", ""));
  EXPECT_NE(all.find(":/target/ready: error: no readiness is named"), std::string::npos) << all;
  all = error_of(service(R"(, "ready": {"hit": "main.serve"})", ""));
  EXPECT_NE(all.find(":/target/ready/hit: error: readiness waits for a call of main.serve, but no probe names it"),
            std::string::npos)
      << all;
  all = error_of(service(R"(, "ready": {"stderr": "(oops"})", ""));
  EXPECT_NE(all.find(":/target/ready/stderr: error: invalid regular expression /(oops/"), std::string::npos) << all;
}

TEST(Lifecycle, StepsAreOneKindWithUniqueNamesAndTheirOwnExpectations) {
  std::string all =
      error_of(service("", R"(, "steps": [{"name": "a", "run": ["x"], "http": {"url": "http://h:1/"}}])"));
  EXPECT_NE(all.find(":/steps/0: error: both \"run\" and \"http\" are set"), std::string::npos) << all;
  all = error_of(service("", R"(, "steps": [{"name": "a"}])"));
  EXPECT_NE(all.find(":/steps/0: error: none of \"run\", \"http\" or \"program\" is set"), std::string::npos) << all;
  all = error_of(service("", R"(, "steps": [{"name": "a", "run": ["x"]}, {"name": "a", "run": ["y"]}])"));
  EXPECT_NE(all.find(":/steps/1/name: error: a second step named \"a\""), std::string::npos) << all;
  all = error_of(
      service("", R"(, "steps": [{"name": "a", "http": {"url": "http://h:1/"}, "expect": {"exit_code": 1}}])"));
  EXPECT_NE(all.find(":/steps/0/expect: error: an HTTP step has no exit code, stdout or stderr"), std::string::npos)
      << all;
  all = error_of(service("", R"(, "steps": [{"name": "a", "run": ["x"], "expect": {"status": 200}}])"));
  EXPECT_NE(all.find(":/steps/0/expect: error: a command has no HTTP status or body"), std::string::npos) << all;
  all = error_of(service("", R"(, "steps": [{"name": "a", "http": {"url": "https://h/"}}])"));
  EXPECT_NE(all.find(":/steps/0/http/url: error:"), std::string::npos) << all;
}

TEST(Lifecycle, DuringAndAnEventsStepNameSteps) {
  std::string all = error_of(service("", R"(, "probes": [{"function": "main.f", "during": ["brake"]}],
                                           "steps": [{"name": "break", "run": ["x"]}],
                                           "expect": {"events": [{"function": "main.f", "step": "nope"}]})"));
  EXPECT_NE(all.find(":/probes/0/during/0: error: no step is named \"brake\"\n  hint: the steps are: break"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find(":/expect/events/0/step: error: no step is named \"nope\""), std::string::npos) << all;
}

// Issue 18 item 3: a step's "program" is a scenario of its own in the same file, every pointer
// of it under the step's, so that its errors and its checks name where they are in the file.
TEST(Lifecycle, AProgramStepIsAScenarioOfItsOwnUnderTheStepsPointer) {
  auto s = parse(service("", R"J(, "seed": 7, "steps": [{"name": "h", "http": {"url": "http://h:1/"}},
      {"name": "client", "program": {
         "target": {"fixture": "client", "args": ["http://127.0.0.1:1/", "50"], "timeout_ms": 4000},
         "probes": [{"function": "main.fetch", "record": ["err"], "term": "1*return(7)"}],
         "expect": {"exit_code": 2, "stdout": {"contains": "error"}, "events": [{"function": "main.fetch", "count": 1}]}}}])J"),
                 "/s/x.json");
  ASSERT_TRUE(s) << s.error().format();
  ASSERT_EQ(s->steps.size(), 2u);
  EXPECT_FALSE(s->steps[0].program);
  ASSERT_TRUE(s->steps[1].program);
  const Scenario& p = *s->steps[1].program;
  EXPECT_EQ(p.file, s->file);  // relative paths resolve as the scenario's
  EXPECT_EQ(p.name, "client");
  EXPECT_EQ(p.seed, 7u);  // probability decisions reproducible with the scenario's
  EXPECT_EQ(p.target.fixture, "client");
  EXPECT_EQ(p.target.timeout.count(), 4000);
  EXPECT_FALSE(p.serves());
  ASSERT_EQ(p.probes.size(), 1u);
  EXPECT_EQ(p.probes[0].pointer, "/steps/1/program/probes/0");
  ASSERT_EQ(p.probes[0].steps.size(), 1u);
  EXPECT_EQ(p.probes[0].steps[0].pointer, "/steps/1/program/probes/0/term");
  EXPECT_EQ(p.expect.exit_code, 2);
  EXPECT_EQ(p.expect.stdout_text.pointer, "/steps/1/program/expect/stdout");
  ASSERT_EQ(p.expect.events.size(), 1u);
  EXPECT_EQ(p.expect.events[0].pointer, "/steps/1/program/expect/events/0");
}

TEST(Lifecycle, AProgramStepsMistakesAreNamedWhereTheyAreInTheFile) {
  // what its own scenario would refuse, at its place in this file
  std::string all = error_of(service("", R"(, "steps": [{"name": "c", "program": {"target": {"fixture": "client"},
      "probes": [{"function": "main.fetch", "during": ["c"]}]}}])"));
  EXPECT_NE(all.find("/s/x.json:/steps/0/program/probes/0/during/0: error: no step is named \"c\""), std::string::npos)
      << all;
  all = error_of(service("", R"J(, "steps": [{"name": "c", "program": {"target": {"fixture": "client"},
      "expect": {"stdout": {"matches": "(x"}}}}])J"));
  EXPECT_NE(all.find("/s/x.json:/steps/0/program/expect/stdout/matches: error: invalid regular expression"),
            std::string::npos)
      << all;
  all =
      error_of(service("", R"(, "steps": [{"name": "c", "program": {"target": {"fixture": "client", "fixtur": 1}}}])"));
  EXPECT_NE(all.find("/s/x.json:/steps/0/program/target/fixtur: error: unknown key \"fixtur\""), std::string::npos)
      << all;
  // a program runs to its end inside the step: no lifecycle, no attaching, one build
  for (const std::string key : {"ready", "stop", "pid", "variants"}) {
    const std::string value = key == "pid"        ? "1"
                              : key == "variants" ? R"(["386"])"
                              : key == "ready"    ? R"({"tcp": "h:1"})"
                                                  : "{}";
    all = error_of(service("", R"(, "steps": [{"name": "c", "program": {"target": {"fixture": "client", ")" + key +
                                   "\": " + value + "}}}]"));
    EXPECT_NE(all.find("/s/x.json:/steps/0/program/target/" + key + ": error: a step's program"), std::string::npos)
        << all;
  }
  // what a command step takes itself, a program step takes from its program
  all = error_of(service("", R"(, "steps": [{"name": "c", "program": {"target": {"fixture": "client"}},
      "env": {"A": "b"}, "expect": {"exit_code": 0}}])"));
  EXPECT_NE(all.find(":/steps/0/env: error: a program step takes \"env\" from its program"), std::string::npos) << all;
  EXPECT_NE(all.find("move it into \"program\": {\"target\": {\"env\": ...}}"), std::string::npos) << all;
  EXPECT_NE(all.find(":/steps/0/expect: error: a program step takes \"expect\" from its program"), std::string::npos)
      << all;
  all = error_of(
      service("", R"(, "steps": [{"name": "c", "run": ["x"], "program": {"target": {"fixture": "client"}}}])"));
  EXPECT_NE(all.find(":/steps/0: error: both \"run\" and \"program\" are set"), std::string::npos) << all;
}

}  // namespace
}  // namespace bpfault::scenario
