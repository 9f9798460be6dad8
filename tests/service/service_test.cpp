// A service driven by bpfault natively: readiness, HTTP and command steps with their own
// expectations, hits placed in their step, the graceful stop; and the failures a user must be
// able to read (readiness that never comes, a wrong status, a stop that is not graceful).
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "net/http.h"
#include "process/child.h"
#include "support/fixtures.h"
#include "support/schema.h"

namespace bpfault {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

process::Outcome bpfault(std::vector<std::string> args) {
  process::Command cmd;
  cmd.env = {{"LD_LIBRARY_PATH", "/bpfault-own-library-path"}};  // must not reach a tracee or a step
  cmd.argv = {BPFAULT_EXE};
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  cmd.timeout = std::chrono::seconds(180);
  auto r = process::run(cmd);
  EXPECT_TRUE(r) << (r ? "" : r.error().format());
  return r ? *r : process::Outcome{};
}

std::string here(const std::string& f) { return (test::source_dir() / "tests" / "service" / f).string(); }
std::string scenario(const std::string& f) { return (test::source_dir() / "scenarios" / f).string(); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Service : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::can_load_bpf()) GTEST_SKIP() << "needs root to load BPF programs (CAP_BPF, CAP_PERFMON)";
    dir_ = fs::temp_directory_path() / fmt::format("bpfault-service-{}", getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(Service, StepsRunInOrderEachHitCarriesItsStepAndTheStopIsGraceful) {
  const fs::path record = dir_ / "record.json", junit = dir_ / "junit.xml";
  auto r = bpfault({"run", scenario("service-steps.json"), "--json", record.string(), "--junit", junit.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("  ready: a TCP connection to 127.0.0.1:18431 after "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  step get-item: HTTP 200 in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  step missing-item: HTTP 500 in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  step a-command: exit 0 in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  stop: SIGTERM, exited after "), std::string::npos) << r.out;

  const json doc = json::parse(slurp(record));
  EXPECT_EQ(
      test::schema_errors(json::parse(slurp(test::source_dir() / "harness/record/run-record-v1.schema.json")), doc),
      std::vector<std::string>{});
  const json& run = doc["scenarios"][0];
  ASSERT_EQ(run["steps"].size(), 4u) << run.dump(2);
  EXPECT_EQ(run["steps"][0]["name"], "get-item");
  EXPECT_EQ(run["steps"][0]["status"], 200);
  EXPECT_EQ(run["steps"][0]["body"], "item 7: value-7\n");
  EXPECT_EQ(run["steps"][1]["status"], 500);
  // the service runs in the scenario's folder: its relative path reads the file beside it
  EXPECT_EQ(run["steps"][2]["body"], "hello from a file beside the scenario\n");
  EXPECT_EQ(run["steps"][3]["exit_code"], 0);
  // the step's env over the documented base, none of bpfault's own (LD_LIBRARY_PATH is set for it)
  EXPECT_EQ(run["steps"][3]["stdout"],
            "from a command step: 42 PATH=/usr/local/bin:/usr/bin:/bin LD_LIBRARY_PATH=unset\n");
  EXPECT_EQ(run["steps"][0]["calls"]["main.store"], 1);
  EXPECT_EQ(run["steps"][3]["calls"]["main.store"], 0);
  // steps ran one after the other
  for (size_t i = 1; i < 4; ++i)
    EXPECT_LE(run["steps"][i - 1]["ended_ns"].get<uint64_t>(), run["steps"][i]["started_ns"].get<uint64_t>());
  // each call of main.store is in the step whose request caused it
  const json& hits = run["probes"][0]["hits"];
  ASSERT_EQ(hits.size(), 2u) << hits.dump(2);
  EXPECT_EQ(hits[0]["step"], "get-item");
  EXPECT_EQ(hits[0]["values"]["id"], 7);
  EXPECT_EQ(hits[1]["step"], "missing-item");
  EXPECT_EQ(hits[1]["values"]["id"], -1);
  EXPECT_EQ(run["service"]["stop_signal"], "SIGTERM");
  EXPECT_EQ(run["service"]["killed"], false);
  EXPECT_FALSE(run["service"]["ready_ms"].is_null());
  EXPECT_EQ(run["exit_code"], 0);

  const std::string xml = slurp(junit);
  EXPECT_NE(xml.find("<property name=\"step get-item\" value=\"passed: HTTP 200 in "), std::string::npos) << xml;
  EXPECT_NE(xml.find("<property name=\"step a-command\" value=\"passed: exit 0 in "), std::string::npos) << xml;
}

TEST_F(Service, ReadinessThatNeverComesFailsNamingWhatWasAwaited) {
  const fs::path record = dir_ / "record.json";
  auto r = bpfault({"run", here("must-fail/never-ready.json"), "--json", record.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find(":/target/ready: Failure\n  ready\n    expected: ready: a TCP connection to 127.0.0.1:18435\n"
                       "    actual:   not ready after 1 s: nothing accepted a TCP connection on 127.0.0.1:18435 "
                       "(cannot connect: Connection refused); last lines of stderr:"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("step never-run\n    expected: it runs\n    actual:   not run: the target was not ready"),
            std::string::npos)
      << r.out;
  const json run = json::parse(slurp(record))["scenarios"][0];
  EXPECT_TRUE(run["service"]["ready_ms"].is_null());
  EXPECT_FALSE(run.contains("steps"));
  EXPECT_EQ(run["service"]["stop_signal"], "SIGTERM");  // stopped all the same, gracefully
  EXPECT_EQ(run["exit_code"], 0);
}

TEST_F(Service, AWrongStatusAndAStopThatIsNotGracefulFail) {
  auto r = bpfault({"run", here("must-fail/not-graceful.json")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("  step healthy: HTTP 200 in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(":/steps/1/expect/status: Failure\n  step wrong-status status\n    expected: 200\n"
                       "    actual:   500: store failed: not found"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  step wrong-status: HTTP 500 in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ms FAILED\n"), std::string::npos) << r.out;
  // Go's default for SIGINT is to die of it: the exit is not the 0 a graceful shutdown gives
  EXPECT_NE(r.out.find("  exit_code\n    expected: exit 0\n    actual:   killed by SIGINT"), std::string::npos)
      << r.out;
}

// Issue 18 item 3: a client and the service both under bpfault in one scenario. The service is
// paused in the step slow only; each step runs the client fixture under probes of its own, and
// its record, with its own hits and checks, is the step's.
TEST_F(Service, AClientUnderItsOwnProbesRunsInAStepWhileTheServiceIsSlowed) {
  const fs::path record = dir_ / "record.json", junit = dir_ / "junit.xml";
  auto r = bpfault({"run", scenario("service-client.json"), "--json", record.string(), "--junit", junit.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("  step slow: its program: exit 2 in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("main.store armed: 1 calls, 1 injected, its main.fetch: 1 calls ok\n"), std::string::npos)
      << r.out;

  const json doc = json::parse(slurp(record));
  EXPECT_EQ(
      test::schema_errors(json::parse(slurp(test::source_dir() / "harness/record/run-record-v1.schema.json")), doc),
      std::vector<std::string>{});
  const json& run = doc["scenarios"][0];
  ASSERT_EQ(run["steps"].size(), 3u) << run.dump(2);
  // the service: paused in slow only
  for (const json& h : run["probes"][0]["hits"]) EXPECT_EQ(h["injection"].is_null(), h["step"] != "slow") << h.dump();
  // the client, step by step: its output, its own probe's values, its own checks
  const json& slow = run["steps"][1];
  EXPECT_EQ(slow["kind"], "program");
  const json& client = slow["program"];
  EXPECT_EQ(client["status"], "passed");
  EXPECT_EQ(client["exit_code"], 2);
  EXPECT_NE(client["stdout"].get<std::string>().find("Client.Timeout exceeded"), std::string::npos) << client["stdout"];
  ASSERT_EQ(client["probes"].size(), 1u);
  EXPECT_EQ(client["probes"][0]["function"], "main.fetch");
  EXPECT_EQ(client["probes"][0]["calls"], 1);
  bool returned = false;
  for (const json& h : client["probes"][0]["hits"])
    if (h["site"] == "ret") {
      returned = true;
      EXPECT_EQ(h["values"]["status"], 0);
      EXPECT_EQ(h["values"]["err"]["dynamic_type"], "*url.Error");
    } else {
      EXPECT_EQ(h["values"]["timeoutMs"], 1000);
      EXPECT_EQ(h["values"]["url"], "http://127.0.0.1:18437/item?id=2");
    }
  EXPECT_TRUE(returned) << client.dump(2);
  EXPECT_EQ(run["steps"][0]["program"]["stdout"], "status 200: item 1: value-1\n");
  EXPECT_EQ(run["steps"][2]["program"]["stdout"], "status 200: item 3: value-3\n");
  // its checks are the scenario's, under the step's name and pointer
  bool lifted = false;
  for (const json& v : run["verdicts"])
    if (v["check"] == "step slow: events main.fetch results.err") {
      lifted = true;
      EXPECT_TRUE(v["passed"].get<bool>());
      EXPECT_EQ(v["step"], "slow");
      EXPECT_EQ(v["pointer"], "/steps/1/program/expect/events/0/results/err");
    }
  EXPECT_TRUE(lifted) << run["verdicts"].dump(2);
  EXPECT_NE(slurp(junit).find("<property name=\"step slow\" value=\"passed: exit 2 in "), std::string::npos)
      << slurp(junit);
}

TEST_F(Service, AClientsFailedChecksFailTheScenarioWhereTheyAreWritten) {
  auto r = bpfault({"run", here("must-fail/client-fails.json")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("  step client: its program: exit 1 in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(":/steps/0/program: Failure\n  step client: exit_code\n    expected: exit 0\n"
                       "    actual:   exit 1"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(":/steps/0/program/expect/events/0/results/status: Failure\n  step client: events main.fetch "
                       "results.status\n    expected: 200\n    actual:   500 at call 1"),
            std::string::npos)
      << r.out;
}

// Issue 18 item 6: a JSON file without "version" in a folder that is run is data, not a broken
// scenario: listed as skipped with the reason, and the run passes.
TEST_F(Service, AFoldersDataFileIsListedAsSkippedNotBroken) {
  const fs::path record = dir_ / "record.json";
  for (const std::string& arg : {here("folder"), here("folder") + "/..."}) {
    auto r = bpfault({"run", arg, "--json", record.string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("[  SKIPPED ] data: not a scenario: a JSON object without \"version\" (data beside the "
                         "scenarios)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("[       OK ] folder: ebpfDemo is called once"), std::string::npos) << r.out;
    const json run = json::parse(slurp(record));
    ASSERT_EQ(run["scenarios"].size(), 2u) << run.dump(2);
    EXPECT_EQ(run["scenarios"][0]["status"], "skipped");
    EXPECT_EQ(run["scenarios"][0]["file"], here("folder") + "/data.json");
  }
  // named on the command line, the same file is a scenario with an error
  auto named = bpfault({"run", here("folder/data.json")});
  EXPECT_EQ(named.exit_code, 2) << named.out;
  EXPECT_NE(named.out.find("missing required key \"version\""), std::string::npos) << named.out;
}

// --- bpfault run --pid: a service started here, outside bpfault, attached to and left running ---

// A loopback address nothing listens on: the kernel's choice of a free port, so that tests that
// ctest runs side by side never start two services on one port (one would not listen, and its
// requests would reach the other).
std::string free_loopback_addr() {
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("no free loopback port");
  close(s);
  return fmt::format("127.0.0.1:{}", ntohs(a.sin_port));
}

std::string item_url(const std::string& addr, int id) { return fmt::format("http://{}/item?id={}", addr, id); }

// GET /item?id=N from the test itself: the body, or "" when it got no 200.
std::string get_item_at(const std::string& addr, int id) {
  net::HttpRequest req;
  req.url = item_url(addr, id);
  req.timeout = std::chrono::seconds(5);
  auto a = net::request(req);
  return a && a->status == 200 ? a->body : "";
}

json attach_scenario_at(const std::string& addr, int pid, int requests) {
  json steps = json::array();
  for (int i = 1; i <= requests; ++i)
    steps.push_back({{"name", fmt::format("get-{}", i)},
                     {"http", {{"url", item_url(addr, i)}}},
                     {"expect", {{"status", 200}, {"body", {{"equals", fmt::format("item {}: value-{}\n", i, i)}}}}}});
  return {{"version", 1},
          {"name", "attached: every request reaches main.store"},
          {"target", {{"pid", pid}, {"ready", {{"tcp", addr}}}}},
          {"probes", {{{"function", "main.store"}, {"record", {"id"}}, {"latency", true}}}},
          {"steps", steps},
          {"expect", {{"events", {{{"function", "main.store"}, {"count", requests}}}}}}};
}

class Attach : public Service {
 protected:
  void SetUp() override {
    Service::SetUp();
    if (IsSkipped()) return;
    const fs::path exe = test::fixture("service");
    ASSERT_FALSE(exe.empty());
    process::Command cmd;
    cmd.argv = {exe.string(), addr_};
    auto c = process::Child::spawn(cmd, /*held=*/false);
    ASSERT_TRUE(c) << c.error().format();
    service_.emplace(std::move(*c));
    for (int i = 0; i < 500 && !net::connect_tcp(addr_, std::chrono::milliseconds(100)); ++i) usleep(20'000);
    ASSERT_TRUE(net::connect_tcp(addr_, std::chrono::milliseconds(1000))) << "the service never listened";
    pid_fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid(), 0));
    ASSERT_GE(pid_fd_, 0);
  }
  void TearDown() override {
    if (pid_fd_ >= 0) close(pid_fd_);
    service_.reset();  // kills it
    Service::TearDown();
  }
  int pid() const { return service_->pid(); }
  // the service is still there (its pidfd says it has not exited) and answers
  void expect_alive_and_serving(int id) {
    pollfd p{pid_fd_, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0) << "the service exited";
    EXPECT_EQ(get_item(id), fmt::format("item {}: value-{}\n", id, id));
  }
  std::string get_item(int id) const { return get_item_at(addr_, id); }
  json attach_scenario(int pid, int requests) const { return attach_scenario_at(addr_, pid, requests); }
  fs::path write(const std::string& name, const json& scenario) {
    const fs::path f = dir_ / name;
    std::ofstream(f) << scenario.dump(2);
    return f;
  }
  const std::string addr_ = free_loopback_addr();
  std::optional<process::Child> service_;
  int pid_fd_ = -1;
};

TEST_F(Attach, PidStepsCountEveryRequestAndTheServiceRunsOn) {
  // before bpfault: calls it must not count
  ASSERT_EQ(get_item(100), "item 100: value-100\n");
  constexpr int kRequests = 5;
  const fs::path record = dir_ / "record.json", junit = dir_ / "junit.xml";
  auto r = bpfault({"run", write("attach.json", attach_scenario(pid(), kRequests)).string(), "--json", record.string(),
                    "--junit", junit.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(fmt::format("  attached: pid {} (", pid())), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("until the steps; ended: the steps were done; detached, it runs on\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  step get-5: HTTP 200 in "), std::string::npos) << r.out;

  const json doc = json::parse(slurp(record));
  EXPECT_EQ(
      test::schema_errors(json::parse(slurp(test::source_dir() / "harness/record/run-record-v1.schema.json")), doc),
      std::vector<std::string>{});
  const json& run = doc["scenarios"][0];
  EXPECT_EQ(run["status"], "passed") << run.dump(2);
  EXPECT_EQ(run["probes"][0]["calls"], kRequests);  // the requests sent, not the one before
  json calls = json::array();                       // the call hits (latency also probes every RET)
  for (const auto& h : run["probes"][0]["hits"])
    if (h["site"] == "call") calls.push_back(h);
  ASSERT_EQ(calls.size(), static_cast<size_t>(kRequests)) << run.dump(2);
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(calls[i]["values"]["id"], i + 1);
    EXPECT_EQ(calls[i]["step"], fmt::format("get-{}", i + 1));
  }
  EXPECT_EQ(run["probes"][0]["latency"]["count"], kRequests);
  EXPECT_EQ(run["attached"]["pid"], pid());
  EXPECT_EQ(run["attached"]["executable"], fs::canonical(test::fixture("service")).string());
  EXPECT_EQ(run["attached"]["exited"], false);
  EXPECT_EQ(run["attached"]["until"], "the steps");
  EXPECT_TRUE(run["exit_code"].is_null());       // not bpfault's to see
  EXPECT_EQ(run["service"]["stop_signal"], "");  // nothing was stopped
  for (const auto& v : run["verdicts"]) EXPECT_NE(v["check"], "exit_code") << v.dump();
  const std::string xml = slurp(junit);
  EXPECT_NE(xml.find("<property name=\"step get-1\" value=\"passed: HTTP 200 in "), std::string::npos) << xml;
  EXPECT_NE(xml.find(fmt::format("<property name=\"attached\" value=\"pid {} (", pid())), std::string::npos) << xml;

  // detached: the service runs on and answers, and a second attachment counts from zero
  expect_alive_and_serving(42);
  auto again = bpfault({"run", write("attach.json", attach_scenario(pid(), 2)).string()});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  expect_alive_and_serving(43);
}

// A client under probes of its own, run in a step against a service bpfault attached to: both
// observed, the service left running.
TEST_F(Attach, AProgramStepRunsAClientAgainstTheServiceAttachedTo) {
  const json scenario = {
      {"version", 1},
      {"name", "attached, with a client"},
      {"target", {{"pid", pid()}}},
      {"probes", {{{"function", "main.store"}, {"record", {"id"}}}}},
      {"steps",
       {{{"name", "client"},
         {"program",
          {{"target", {{"fixture", "client"}, {"args", {fmt::format("http://{}/item?id=7", addr_), "10000"}}}},
           {"probes", {{{"function", "main.fetch"}, {"record", {"status", "body"}}}}},
           {"expect",
            {{"stdout", {{"equals", "status 200: item 7: value-7\n"}}},
             {"events", {{{"function", "main.fetch"}, {"count", 1}, {"results", {{"status", 200}}}}}}}}}}}}},
      {"expect",
       {{"events", {{{"function", "main.store"}, {"step", "client"}, {"count", 1}, {"args", {{"id", 7}}}}}}}}};
  const fs::path record = dir_ / "record.json";
  auto r = bpfault({"run", "--fixtures", (test::source_dir() / "fixtures").string(),
                    write("client.json", scenario).string(), "--json", record.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("  step client: its program: exit 0 in "), std::string::npos) << r.out;
  const json run = json::parse(slurp(record))["scenarios"][0];
  const json& client = run["steps"][0]["program"];
  EXPECT_EQ(client["probes"][0]["calls"], 1) << client.dump(2);
  bool returned = false;
  for (const auto& h : client["probes"][0]["hits"])
    if (h["site"] == "ret") returned = h["values"]["body"] == "item 7: value-7\n";
  EXPECT_TRUE(returned) << client.dump(2);
  expect_alive_and_serving(44);
}

// --pid gives a scenario written for a started service this process: the same probes and steps;
// what only a started program has a use for is refused, by its JSON pointer.
TEST_F(Attach, PidFlagOverridesTheTargetAndRefusesLaunchOnlyKeys) {
  json s = attach_scenario(1, 3);  // pid 1: --pid replaces it
  s["target"] = {{"fixture", "service"}, {"ready", {{"tcp", addr_}}}};
  auto r = bpfault({"run", "--pid", std::to_string(pid()), write("override.json", s).string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[       OK ] attached: every request reaches main.store"), std::string::npos) << r.out;

  s["target"]["args"] = {addr_};
  s["expect"]["exit_code"] = 0;
  s["expect"]["stdout"] = {{"contains", "listening"}};
  auto refused = bpfault({"run", "--pid", std::to_string(pid()), write("launch.json", s).string()});
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_NE(
      refused.out.find("launch.json:/target/args: error: \"args\" is given to a program bpfault starts; a running "
                       "process has its own (this scenario attaches to a running process: --pid "),
      std::string::npos)
      << refused.out;
  EXPECT_NE(refused.out.find("launch.json:/expect/exit_code: "), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("launch.json:/expect/stdout: "), std::string::npos) << refused.out;
  expect_alive_and_serving(44);
}

// Without steps: --for bounds the attachment; without --for, Ctrl-C ends it and the run is
// reported like any other (exit 0, not 130). The test sends its requests once bpfault says it
// attached, and every one is counted.
TEST_F(Attach, ForAndCtrlCEndAnAttachmentWithoutSteps) {
  json s = {{"version", 1},
            {"name", "attached without steps"},
            {"target", {{"pid", pid()}}},
            {"probes", {{{"function", "main.store"}, {"record", {"id"}}}}},
            {"expect", {{"events", {{{"function", "main.store"}, {"min_count", 1}}}}}}};
  const fs::path file = write("watch.json", s);
  for (bool interrupt : {false, true}) {
    SCOPED_TRACE(interrupt ? "Ctrl-C" : "--for");
    const fs::path record = dir_ / "watch-record.json";
    process::Command cmd;
    cmd.argv = {BPFAULT_EXE, "run", file.string(), "--json", record.string()};
    if (!interrupt) cmd.argv.insert(cmd.argv.end(), {"--pid", std::to_string(pid()), "--for", "5s"});
    cmd.timeout = std::chrono::seconds(120);
    std::atomic<bool> attached{false};
    std::string seen;  // wait()'s thread only
    cmd.on_output = [&](int stream, std::string_view chunk) {
      if (stream != 1) return;
      seen += chunk;
      if (seen.find(fmt::format("attached to pid {} ", pid())) != std::string::npos) attached = true;
    };
    auto b = process::Child::spawn(cmd, false);
    ASSERT_TRUE(b) << b.error().format();
    process::Outcome out;
    std::thread waiter([&] { out = b->wait(); });
    for (int i = 0; i < 1200 && !attached; ++i) usleep(50'000);
    EXPECT_TRUE(attached) << "bpfault never said it attached";
    constexpr int kRequests = 7;
    for (int i = 0; i < kRequests; ++i)
      EXPECT_EQ(get_item(1000 + i), fmt::format("item {}: value-{}\n", 1000 + i, 1000 + i));
    if (interrupt) b->signal(SIGINT);
    waiter.join();
    EXPECT_EQ(out.exit_code, 0) << out.out << out.err;
    const json run = json::parse(slurp(record))["scenarios"][0];
    EXPECT_EQ(run["status"], "passed") << run.dump(2);
    EXPECT_EQ(run["attached"]["until"], interrupt ? "Ctrl-C" : "--for 5s");
    EXPECT_EQ(run["attached"]["ended"], interrupt ? "SIGINT" : "--for 5s passed");
    EXPECT_EQ(run["attached"]["exited"], false);
    EXPECT_FALSE(run.value("interrupted", false));
    EXPECT_EQ(run["probes"][0]["calls"], kRequests) << run.dump(2);
    ASSERT_EQ(run["probes"][0]["hits"].size(), static_cast<size_t>(kRequests));
    for (int i = 0; i < kRequests; ++i) EXPECT_EQ(run["probes"][0]["hits"][i]["values"]["id"], 1000 + i);
    expect_alive_and_serving(45);
  }
}

TEST_F(Attach, RefusedClearly) {
  const fs::path file = write("attach.json", attach_scenario(pid(), 1));
  const std::string p = std::to_string(pid());
  // a host process is not in the guest
  auto vm = bpfault({"run", "--pid", p, "--vm=always", file.string()});
  EXPECT_EQ(vm.exit_code, 2) << vm.out << vm.err;
  EXPECT_NE(vm.err.find("--vm=always: a process running on this host is not in the VM"), std::string::npos) << vm.err;
  // a pid that cannot exist (pids are below pid_max)
  const std::string none = std::to_string(std::stoi(slurp("/proc/sys/kernel/pid_max")));
  auto missing = bpfault({"run", "--pid", none, file.string()});
  EXPECT_EQ(missing.exit_code, 2) << missing.out << missing.err;
  EXPECT_NE(missing.out.find(fmt::format("pid {}: error: no such process", none)), std::string::npos) << missing.out;
  // a process that is not a Go program
  process::Command sleep_cmd;
  sleep_cmd.argv = {"sleep", "60"};
  auto sleeper = process::Child::spawn(sleep_cmd, false);
  ASSERT_TRUE(sleeper);
  auto not_go = bpfault({"run", "--pid", std::to_string(sleeper->pid()), file.string()});
  EXPECT_EQ(not_go.exit_code, 2) << not_go.out << not_go.err;
  EXPECT_NE(not_go.out.find(fmt::format("pid {} runs ", sleeper->pid())), std::string::npos) << not_go.out;
  EXPECT_NE(not_go.out.find("which bpfault cannot probe: "), std::string::npos) << not_go.out;
  // options that only make sense for a program bpfault starts
  for (const std::vector<std::string>& extra : std::vector<std::vector<std::string>>{
           {"--user", "nobody"}, {"--count", "2"}, {"--timeout", "1m"}, {"--variants", "386"}}) {
    std::vector<std::string> args = {"run", "--pid", p, file.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto o = bpfault(args);
    EXPECT_EQ(o.exit_code, 2) << extra[0] << o.out << o.err;
  }
  auto for_alone = bpfault({"run", "--for", "1s", file.string()});
  EXPECT_EQ(for_alone.exit_code, 2) << for_alone.out << for_alone.err;
  EXPECT_NE(for_alone.err.find("it goes with --pid"), std::string::npos) << for_alone.err;
  // new text for a string is in the environment bpfault gives a program it starts
  json text = attach_scenario(pid(), 1);
  text["probes"][0]["set_results"] = {{"r0", "new text"}};
  auto t = bpfault({"run", write("text.json", text).string()});
  EXPECT_EQ(t.exit_code, 2) << t.out << t.err;
  EXPECT_NE(t.out.find("text.json:/target/pid: error: new text for a string is given to a program in its environment"),
            std::string::npos)
      << t.out;
  expect_alive_and_serving(46);
}

}  // namespace
}  // namespace bpfault
