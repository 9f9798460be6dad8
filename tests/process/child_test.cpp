// Child::at_exec: the program is stopped right after exec, before its first instruction, for
// what must be in place before it runs (an injected panic's memory), then goes on as usual.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "process/child.h"

namespace bpfault::process {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(Child, AtExecRunsWhileTheNewProgramIsStoppedBeforeItsFirstInstruction) {
  Command cmd;
  cmd.argv = {"/bin/sh", "-c", "echo ran"};
  cmd.timeout = std::chrono::milliseconds(10000);
  std::string exe, state;
  cmd.at_exec = [&](pid_t pid) {
    std::error_code ec;
    exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size()) state = stat.substr(paren + 2, 1);
  };
  auto child = Child::spawn(cmd, /*held=*/true);
  ASSERT_TRUE(child) << child.error().format();
  ASSERT_TRUE(child->release());
  const Outcome out = child->wait();
  EXPECT_NE(exe.find("sh"), std::string::npos) << exe << ": the new program, not bpfault";
  EXPECT_EQ(state, "t") << "stopped by the tracer at exec";
  EXPECT_TRUE(out.ok()) << out.describe();
  EXPECT_EQ(out.out, "ran\n");
}

// The drain's thread outranks a busy tracee (the VM soak dropped events without it), and
// nothing it starts inherits that: not the programs, not threads.
TEST(FavouredThread, RaisesTheDrainOnlyAndRestoresIt) {
  const int before = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  {
    FavouredThread favoured;
    const int during = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
    if (during == before) GTEST_SKIP() << "this process may not raise a thread's priority (not root, no CAP_SYS_NICE)";
    EXPECT_EQ(during, -20);
    Command cmd;
    cmd.argv = {"/bin/sh", "-c", "cut -d' ' -f19 /proc/self/stat"};  // the field `nice`
    cmd.timeout = std::chrono::milliseconds(10000);
    auto child = Child::spawn(cmd, /*held=*/false);
    ASSERT_TRUE(child) << child.error().format();
    const Outcome out = child->wait();
    EXPECT_EQ(out.out, "0\n") << "a program started meanwhile runs at the default priority";
    int in_thread = -99;
    std::thread([&] { in_thread = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())); }).join();
    EXPECT_EQ(in_thread, 0) << "so does a thread";
  }
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())), before) << "restored";
}

}  // namespace
}  // namespace bpfault::process
