// Child::at_exec: the program is stopped right after exec, before its first instruction, for
// what must be in place before it runs (an injected panic's memory), then goes on as usual.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

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

}  // namespace
}  // namespace bpfault::process
