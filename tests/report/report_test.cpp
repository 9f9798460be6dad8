// Reports built from records whatever bytes they hold: the console shows escapes instead of
// raw bytes, JUnit stays well-formed UTF-8 XML, --json stays valid JSON and lossless.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "report/report.h"

namespace bpfault::report {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kHostile = std::string("out \xff\xfe \x1b[2J cut \xc3", 17) + std::string(1, '\0') + " <&> \"";

record::RunRecord failed_with_hostile_output() {
  record::RunRecord r;
  r.file = "scenarios/x.json";
  r.name = "hostile output";
  r.status = record::Status::failed;
  r.exit_code = 2;
  r.stdout_text = kHostile;
  r.stderr_text = kHostile;
  r.verdicts.push_back({"stdout contains", false, "hello", kHostile, "/expect/stdout/contains/0"});
  r.diagnosis = record::Diagnosis{"go_panic", "panic: " + kHostile, "main.f at /src/main.go:3", false, "", kHostile};
  return r;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// No raw byte a terminal or an XML parser would choke on: valid UTF-8, no control character but \n and \t.
void expect_clean(const std::string& text) {
  EXPECT_TRUE(record::valid_utf8(text));
  for (unsigned char c : text)
    EXPECT_FALSE((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) << "raw control byte " << int(c);
}

TEST(ReportBytes, ConsoleEscapesTheTraceesBytes) {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&buf, &size);
  Console console(out);
  console.scenario_end(failed_with_hostile_output());
  std::fclose(out);
  std::string text(buf, size);
  std::free(buf);
  expect_clean(text);
  EXPECT_NE(text.find("out \\xff\\xfe \\x1b[2J cut \\xc3\\x00 <&>"), std::string::npos) << text;
}

TEST(ReportBytes, JunitStaysWellFormed) {
  const fs::path file = fs::path(::testing::TempDir()) / "bytes.xml";
  ASSERT_TRUE(write_junit(file, {failed_with_hostile_output()}, 1));
  const std::string xml = slurp(file);
  fs::remove(file);
  expect_clean(xml);
  EXPECT_NE(xml.find("<system-out>out \\xff\\xfe \\x1b[2J cut \\xc3\\x00 &lt;&amp;&gt; &quot;</system-out>"),
            std::string::npos)
      << xml;
}

TEST(ReportBytes, JsonIsValidAndLossless) {
  const fs::path file = fs::path(::testing::TempDir()) / "bytes.json";
  ASSERT_TRUE(write_json(file, {failed_with_hostile_output()}, 1));
  const json j = json::parse(slurp(file));
  fs::remove(file);
  auto back = record::record_from_json(j.at("scenarios").at(0));
  ASSERT_TRUE(back) << back.error().format();
  EXPECT_EQ(back->stdout_text, kHostile);
  EXPECT_EQ(back->verdicts.at(0).actual, kHostile);
  EXPECT_EQ(back->diagnosis->stderr_tail, kHostile);
}

}  // namespace
}  // namespace bpfault::report
