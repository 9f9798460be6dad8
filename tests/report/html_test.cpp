// --html as text: self-contained, escaped whatever bytes the record holds, one timeline mark per
// kept hit and injection and one histogram bar per latency bucket of a real record. What a browser
// makes of it: tests/report/html_render_test.cpp.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "report/report.h"

namespace bpfault::report {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<record::RunRecord> real_run() {
  std::ifstream in(fs::path(BPFAULT_SOURCE_DIR) / "tests" / "report" / "records" / "real-run.json");
  std::stringstream text;
  text << in.rdbuf();
  std::vector<record::RunRecord> out;
  const json doc = json::parse(text.str());
  for (const json& s : doc.at("scenarios")) {
    auto r = record::record_from_json(s);
    EXPECT_TRUE(r) << (r ? "" : r.error().format());
    if (r) out.push_back(*r);
  }
  return out;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// The part of the page about scenario `i`.
std::string section(const std::string& page, size_t i) {
  const size_t start = page.find(fmt::format("<section class=\"scenario\" id=\"s{}\"", i));
  if (start == std::string::npos) return "";
  return page.substr(start, page.find("</section>", start) - start);
}

TEST(Html, SelfContainedAndOneSectionPerScenario) {
  const auto records = real_run();
  ASSERT_EQ(records.size(), 3u);
  const std::string page =
      html_document(records, 1234, {0, 0, {"the VM ran under tcg (no /dev/kvm): booted in 3.9 s"}});
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(page, "<script"), 0u);
  EXPECT_EQ(count(page, "http://") + count(page, "https://") + count(page, " src="), 0u) << "nothing may be fetched";
  EXPECT_EQ(count(page, "<section class=\"scenario\""), records.size());
  EXPECT_NE(page.find("<li>the VM ran under tcg (no /dev/kvm): booted in 3.9 s</li>"), std::string::npos);
  EXPECT_NE(page.find("<title>bpfault: 3 passed, 0 failed, 0 skipped, 0 errors</title>"), std::string::npos);
}

// Every kept hit is one mark, every injection one more; every log2 bucket from the lowest to the
// highest one bar (the empty ones at height 0), as the console's histogram has a line for each.
TEST(Html, TimelineMarksAndHistogramBarsMatchTheRecord) {
  const auto records = real_run();
  ASSERT_EQ(records.size(), 3u);
  const std::string page = html_document(records, 1234);
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string s = section(page, i);
    ASSERT_FALSE(s.empty()) << i;
    size_t hits = 0, injections = 0, spans = 0;
    for (const auto& p : records[i].probes)
      for (const auto& h : p.hits)
        ++hits, injections += h.injection.has_value(), spans += h.site == "ret" && h.duration_ns;
    // the whole run, and a second view zoomed to the events when they fill less than half of it
    const size_t views = count(s, "<svg class=\"timeline ");
    EXPECT_EQ(views, count(s, "<svg class=\"timeline run\"") + count(s, "<svg class=\"timeline events\""));
    EXPECT_EQ(count(s, "<svg class=\"timeline run\""), 1u);
    EXPECT_EQ(count(s, "class=\"mark "), views * (hits + injections)) << records[i].name;
    EXPECT_EQ(count(s, "class=\"mark injection\""), views * injections) << records[i].name;
    EXPECT_EQ(count(s, "class=\"mark span\""), views * spans) << records[i].name;
    // one event has nothing to zoom into; in the others the Go runtime's start takes most of the run
    EXPECT_EQ(views, records[i].name.starts_with("seed") ? 1u : 2u) << records[i].name;
    size_t buckets = 0;  // the console's histogram has a line per bucket
    for (const auto& p : records[i].probes)
      if (p.latency) buckets += count(histogram(*p.latency), "\n");
    EXPECT_EQ(count(s, "<rect class=\"bar\""), buckets) << records[i].name;
    EXPECT_EQ(count(s, "<svg class=\"histogram\""), buckets ? 1u : 0u) << records[i].name;
  }
}

TEST(Html, TheTraceesBytesAreEscaped) {
  record::RunRecord r;
  r.file = "scenarios/x.json";
  r.name = "<b>not bold</b>";
  r.status = record::Status::failed;
  r.exit_code = 2;
  r.started_ns = 1;
  r.stdout_text = std::string("out \xff\xfe \x1b[2J <script>alert(1)</script> & \"'", 42);
  r.verdicts.push_back({"stdout contains", false, "<hello>", r.stdout_text, "/expect/stdout/contains/0"});
  record::ProbeRecord p;
  p.function = "main.(*T).f<\xc3>";
  p.hits.push_back(
      {.site = "call", .call = 1, .time_ns = 5, .tid = 1, .goid = 1, .values = {{"s", "</title><script>"}}});
  r.probes.push_back(p);
  const std::string page = html_document({r}, 1);
  EXPECT_TRUE(record::valid_utf8(page));
  for (unsigned char c : page)
    EXPECT_FALSE((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) << "raw control byte " << int(c);
  EXPECT_EQ(count(page, "<script"), 0u);
  EXPECT_EQ(count(page, "<b>not bold"), 0u);
  EXPECT_NE(page.find("&lt;b&gt;not bold&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(page.find("out \\xff\\xfe \\x1b[2J &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;&#39;</pre>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("main.(*T).f&lt;\\xc3&gt;"), std::string::npos);
  EXPECT_NE(page.find("&quot;s&quot;:&quot;&lt;/title&gt;&lt;script&gt;&quot;"), std::string::npos);
}

}  // namespace
}  // namespace bpfault::report
