// `bpfault list` as a user runs it: the executable from this build, on real fixtures.
#include <gtest/gtest.h>

#include <sstream>

#include "binary/binary_info.h"
#include "process/child.h"
#include "support/fixtures.h"

namespace bpfault::binary {
namespace {
namespace fs = std::filesystem;

const fs::path kBpfault = fs::path(BPFAULT_BINARY_DIR) / "bpfault";

// Each test starts with this: the executable is another target of the same build.
#define REQUIRE_BPFAULT() \
  if (!fs::exists(kBpfault)) GTEST_SKIP() << kBpfault << " missing: build the bpfault target"

process::Outcome bpfault_list(std::vector<std::string> args) {
  process::Command c;
  c.argv = {kBpfault.string(), "list"};
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.timeout = std::chrono::seconds(30);
  auto r = process::run(c);
  if (!r) {
    ADD_FAILURE() << r.error().format();
    return {};
  }
  return *r;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(List, OneBpftraceLinePerProbeableFunction) {
  REQUIRE_BPFAULT();
  const fs::path demo = test::fixture("demo", "newest");
  ASSERT_FALSE(demo.empty());
  auto r = bpfault_list({demo.string(), "main.*"});
  ASSERT_TRUE(r.ok()) << r.describe() << r.err;
  EXPECT_EQ(lines(r.out), (std::vector<std::string>{"uprobe:" + demo.string() + ":main.ebpfDemo",
                                                    "uprobe:" + demo.string() + ":main.main"}));
  // Without a glob: every probe-able function, nothing else.
  auto all = bpfault_list({demo.string()});
  ASSERT_TRUE(all.ok()) << all.err;
  auto bi = analyse(demo);
  ASSERT_TRUE(bi);
  size_t probeable = 0;
  for (const Function& f : (*bi)->functions) probeable += f.probeable();
  const auto got = lines(all.out);
  EXPECT_EQ(got.size(), probeable);
  for (const auto& l : got) EXPECT_TRUE(l.starts_with("uprobe:" + demo.string() + ":")) << l;
}

TEST(List, VerboseAddsTheSignatureTheIssueNames) {
  REQUIRE_BPFAULT();
  const fs::path demo = test::fixture("demo", "newest");
  ASSERT_FALSE(demo.empty());
  auto r = bpfault_list({demo.string(), "main.ebpfDemo", "-v"});
  ASSERT_TRUE(r.ok()) << r.describe() << r.err;
  auto l = lines(r.out);
  ASSERT_GE(l.size(), 4u) << r.out;
  EXPECT_TRUE(l[0].starts_with("# " + demo.string() + ": go1.")) << l[0];
  EXPECT_TRUE(l[1].starts_with("# build info: go1.")) << l[1];  // then its settings, as `go version -m`
  std::erase_if(l, [](const std::string& x) { return x.starts_with("#   "); });
  ASSERT_GE(l.size(), 5u) << r.out;
  EXPECT_EQ(l[2], "uprobe:" + demo.string() + ":main.ebpfDemo");
  EXPECT_EQ(l[3],
            "    main.ebpfDemo(a1 int @rax, a2 bool @rbx, a3 float32 @xmm0) (r1 int64 @rax, r2 int32 @rbx, r3 string "
            "@rcx,rdi)");
  EXPECT_TRUE(l[4].starts_with("    entry 0x")) << l[4];
  EXPECT_NE(r.out.find("@xmmN: a float register"), std::string::npos);
}

TEST(List, VerboseSaysWhyAFunctionCannotBeProbed) {
  REQUIRE_BPFAULT();
  const fs::path sigs = test::fixture("sigs", "newest");
  ASSERT_FALSE(sigs.empty());
  auto r = bpfault_list({sigs.string(), "main.*", "-v"});
  ASSERT_TRUE(r.ok()) << r.err;
  // no RET: listed, with why its results and latency cannot be probed
  EXPECT_NE(r.out.find(":main.fPanic\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RET none\n    no RET: it never returns"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("    no RET: it ends with a tail jump to main.asmAdd; its results cannot be recorded or set"),
            std::string::npos);
  EXPECT_NE(r.out.find("# main.smallAdd: not probe-able: inlined everywhere"), std::string::npos);
  EXPECT_NE(r.out.find("uprobe:" + sigs.string() +
                       ":main.asmAdd.abi0\n    main.asmAdd(a int @sp+8, b int @sp+16) (int @sp+24)"),
            std::string::npos);
  auto plain = bpfault_list({sigs.string(), "main.*"});
  EXPECT_EQ(plain.out.find("smallAdd"), std::string::npos);  // without -v only what can be probed
  EXPECT_NE(plain.out.find(":main.fPanic\n"), std::string::npos) << "its call can be probed";
}

TEST(List, BadInputExitsTwoWithAClearMessage) {
  REQUIRE_BPFAULT();
  auto r = bpfault_list({"/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("/bin/true: error: not a Go program: no .gopclntab section"), std::string::npos) << r.err;
  auto missing = bpfault_list({"/nonexistent/prog"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("cannot open"), std::string::npos) << missing.err;
  const fs::path demo = test::fixture("demo", "newest");
  auto none = bpfault_list({demo.string(), "nosuch.*"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("no function matches 'nosuch.*'"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace bpfault::binary
