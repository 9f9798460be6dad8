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
  EXPECT_NE(all.find(":/steps/0: error: neither \"run\" nor \"http\" is set"), std::string::npos) << all;
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

}  // namespace
}  // namespace bpfault::scenario
