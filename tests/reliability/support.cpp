#include "support.h"

#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/fixtures.h"

namespace bpfault::test {
namespace fs = std::filesystem;

process::Outcome run_bpfault(const std::vector<std::string>& args, std::optional<uid_t> uid,
                             const std::map<std::string, std::string>& env) {
  process::Command cmd;
  cmd.env = env;
  cmd.argv = {BPFAULT_EXE};
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  cmd.timeout = std::chrono::seconds(300);
  if (uid) cmd.uid = *uid, cmd.gid = *uid;
  auto r = process::run(cmd);
  EXPECT_TRUE(r) << (r ? "" : r.error().format());
  return r ? *r : process::Outcome{};
}

bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<pid_t> children_of(pid_t ppid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');  // comm may hold spaces and parentheses
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    pid_t parent = 0;
    if (rest >> state >> parent && parent == ppid) out.push_back(std::stoi(name));
  }
  return out;
}

std::string exe_of(pid_t pid) {
  std::error_code ec;
  auto p = fs::read_symlink(fmt::format("/proc/{}/exe", pid), ec);
  return ec ? "" : p.string();
}

bool alive(pid_t pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z' && line[close + 2] != 'X';
}

BpfIds bpf_ids_of(pid_t pid) {
  BpfIds ids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fmt::format("/proc/{}/fdinfo", pid), ec)) {
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) {
      auto take = [&](const char* key, std::set<uint32_t>& into) {
        if (line.rfind(key, 0) == 0) into.insert(static_cast<uint32_t>(std::stoul(line.substr(std::strlen(key)))));
      };
      take("prog_id:\t", ids.progs);
      take("link_id:\t", ids.links);
      take("map_id:\t", ids.maps);
    }
  }
  return ids;
}

std::optional<std::set<uint32_t>> bpftool_ids(const std::string& object) {
  process::Command cmd;
  for (const char* p : {"/usr/sbin/bpftool", "/sbin/bpftool", "/usr/bin/bpftool"})
    if (access(p, X_OK) == 0) cmd.argv = {p, "-j", object, "show"};
  if (cmd.argv.empty()) return std::nullopt;
  auto r = process::run(cmd);
  if (!r || r->exit_code != 0) return std::nullopt;
  auto doc = nlohmann::json::parse(r->out, nullptr, false);
  if (!doc.is_array()) return std::nullopt;
  std::set<uint32_t> ids;
  for (const auto& o : doc)
    if (o.contains("id")) ids.insert(o["id"].get<uint32_t>());
  return ids;
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path here(const std::string& rel) { return source_dir() / "tests" / "reliability" / rel; }

fs::path scratch_dir(const std::string& name) {
  fs::path d = fs::path(BPFAULT_BINARY_DIR) / "reliability-scratch" / fmt::format("{}-{}", name, getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

Result<process::Child> start_bpfault(const std::vector<std::string>& args, const fs::path& log,
                                     const fs::path& tmpdir) {
  fs::create_directories(tmpdir);
  process::Command cmd;
  // exec: the shell only redirects, the pid the test signals is bpfault's
  cmd.argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" >\"$LOG\" 2>&1", BPFAULT_EXE};
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  cmd.env = {{"TMPDIR", tmpdir.string()}, {"LOG", log.string()}};
  cmd.timeout = std::chrono::seconds(900);
  return process::Child::spawn(cmd, false);
}

void expect_interrupted_server_run(const fs::path& dir, const std::string& vm, int sig,
                                   const std::function<pid_t(pid_t bpfault, const fs::path& log)>& serving,
                                   std::chrono::milliseconds limit, const std::string& where) {
  const fs::path log = dir / "console.txt", rec = dir / "run.json", junit_file = dir / "junit.xml";
  const fs::path html_file = dir / "run.html", trace_file = dir / "trace.json";
  auto bpfault = start_bpfault(
      {"run", "--vm=" + vm, here("interrupt/quick.json").string(), here("interrupt/server.json").string(), "--json",
       rec.string(), "--junit", junit_file.string(), "--html", html_file.string(), "--trace-json", trace_file.string()},
      log, dir / "tmp");
  ASSERT_TRUE(bpfault) << bpfault.error().format();
  const pid_t server = serving(bpfault->pid(), log);
  ASSERT_GT(server, 0) << "the server did not start\n" << slurp(log);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(bpfault->pid(), sig), 0);
  const process::Outcome out = bpfault->wait();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  EXPECT_LT(took, limit) << "stopping took " << took.count() << " ms (a Go goroutine dump alone takes over a second)";
  EXPECT_FALSE(alive(server)) << "pid " << server << " outlived bpfault";
  EXPECT_TRUE(fs::is_empty(dir / "tmp")) << "bpfault left files in its TMPDIR";
  const std::string console = slurp(log), junit = slurp(junit_file);
  const nlohmann::json record = nlohmann::json::parse(slurp(rec), nullptr, false);
  const std::string name = fmt::format("SIG{}", sigabbrev_np(sig));
  EXPECT_EQ(out.signal, 0) << out.describe();
  EXPECT_EQ(out.exit_code, 128 + sig) << console;
  EXPECT_NE(console.find(fmt::format("[INTERRUPTED] by {} after 1 of 2 scenarios", name)), std::string::npos)
      << console;
  EXPECT_EQ(record.value("interrupted", nlohmann::json()), name) << record.dump(2);
  EXPECT_EQ(record.value("exit_code", 0), 128 + sig);
  const nlohmann::json runs = record.value("scenarios", nlohmann::json::array());
  ASSERT_EQ(runs.size(), 2u) << record.dump(2);
  EXPECT_EQ(runs[0]["name"], "interrupt: a scenario that finishes before the interruption");
  EXPECT_EQ(runs[0]["status"], "passed") << runs[0].dump(2);
  EXPECT_EQ(runs[0]["where"], where);
  EXPECT_EQ(runs[0].value("interrupted", false), false);
  EXPECT_EQ(runs[1]["name"], "interrupt: a server that runs until it is stopped");
  EXPECT_EQ(runs[1]["status"], "error");
  EXPECT_EQ(runs[1].value("interrupted", false), true) << runs[1].dump(2);
  EXPECT_NE(runs[1]["error"].value("what", "").find("interrupted by " + name), std::string::npos) << runs[1].dump(2);
  EXPECT_NE(junit.find("classname=\"interrupt.quick\""), std::string::npos) << junit;
  EXPECT_NE(
      junit.find(fmt::format(
          "<error message=\"bpfault was interrupted by {} after 1 of 2 scenarios\" type=\"interrupted\"/>", name)),
      std::string::npos)
      << junit;
  // --html and --trace-json are written too, the run marked interrupted
  const std::string html = slurp(html_file);
  EXPECT_NE(html.find(fmt::format("Interrupted by {} after 1 of 2 scenarios", name)), std::string::npos) << html;
  EXPECT_NE(html.find("<span class=\"chip interrupted\">interrupted</span>"), std::string::npos) << html;
  const nlohmann::json trace = nlohmann::json::parse(slurp(trace_file), nullptr, false);
  ASSERT_FALSE(trace.is_discarded()) << slurp(trace_file);
  EXPECT_EQ(trace["otherData"]["interrupted"], name);
  EXPECT_EQ(trace["otherData"]["exit_code"], 128 + sig);
}

void ScratchTest::SetUp() {
  if (!can_load_bpf()) GTEST_SKIP() << "needs root to load BPF programs (CAP_BPF, CAP_PERFMON)";
  dir_ = scratch_dir(name_);
}

void ScratchTest::TearDown() {
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

nlohmann::json ScratchTest::run_record(const fs::path& file) const {
  auto doc = nlohmann::json::parse(slurp(file), nullptr, false);
  EXPECT_TRUE(doc.is_object()) << file << " is not a run record";
  return doc.is_object() ? doc : nlohmann::json::object();
}

}  // namespace bpfault::test
