// The --html page of a real run, as headless Chromium shows it. bpfault runs three scenarios
// natively (a recorded call, 1000 timed calls, a failing expectation); Chromium loads the page
// with a measuring script appended to a copy (the page itself has none) and reports what it laid
// out: each scenario's name and status colour, the timeline's marks inside their chart, the
// histogram's bars and their heights, the failed verdict, the tracee's output. Then it takes a
// screenshot, kept as an artifact (its path is printed), whose pixels must show the verdicts'
// colours and the charts. Needs root (BPF) and chromium (`ci/setup --browser`); skips without.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "process/child.h"
#include "report/report.h"
#include "support/fixtures.h"

namespace bpfault {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<fs::path> find_chromium() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    for (const char* name : {"chromium", "chromium-browser"})
      if (fs::path p = fs::path(dir) / name; access(p.c_str(), X_OK) == 0) return p;
  return std::nullopt;
}

process::Outcome run(std::vector<std::string> argv, std::chrono::seconds timeout = std::chrono::seconds(180)) {
  process::Command cmd;
  cmd.argv = std::move(argv);
  cmd.timeout = timeout;
  auto r = process::run(cmd);
  EXPECT_TRUE(r) << (r ? "" : r.error().format());
  return r ? *r : process::Outcome{};
}

// Chromium's flags for a machine without a display, a GPU or a user namespace (root in CI).
std::vector<std::string> chromium_argv(const fs::path& chromium, const fs::path& profile) {
  return {chromium.string(),
          "--headless",
          "--disable-gpu",
          "--no-sandbox",
          "--no-first-run",
          "--hide-scrollbars",
          "--user-data-dir=" + profile.string()};
}

// Runs in the copy of the page: what the browser laid out, as JSON in <pre id="measured">,
// percent-encoded so that --dump-dom's HTML escaping does not touch it.
constexpr const char* kMeasure = R"(<script>
const box = e => e.getBoundingClientRect();
const inside = (r, o) => r.left >= o.left - 1 && r.right <= o.right + 1 &&
                         r.top >= o.top - 1 && r.bottom <= o.bottom + 1;
const out = {height: document.documentElement.scrollHeight, sections: []};
for (const s of document.querySelectorAll('section.scenario')) {
  const chip = s.querySelector('h2 .chip');
  const views = [...s.querySelectorAll('svg.timeline')].map(t => {
    const marks = [...t.querySelectorAll('.mark')];
    const shown = marks.filter(m => inside(box(m), box(t)) && (box(m).width > 0 || box(m).height > 0));
    return {marks: marks.length, inside: shown.length};
  });
  const hist = s.querySelector('svg.histogram');
  out.sections.push({
    name: s.querySelector('h2').textContent.slice(chip.textContent.length),
    status: chip.textContent,
    chip_colour: getComputedStyle(chip).backgroundColor,
    timelines: views,
    bars: hist ? [...hist.querySelectorAll('rect.bar')].map(b => ({height: box(b).height, title: b.textContent}))
               : null,
    failed_verdicts: [...s.querySelectorAll('table.verdicts tr.fail')].map(r => r.textContent),
    stdout: (s.querySelector('pre.output.stdout') || {textContent: ''}).textContent,
  });
}
const pre = document.createElement('pre');
pre.id = 'measured';
pre.textContent = encodeURIComponent(JSON.stringify(out));
document.body.appendChild(pre);
</script>
)";

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] == '%' && i + 2 < s.size())
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)), i += 2;
    else
      out += s[i];
  return out;
}

// An 8-bit RGB or RGBA PNG (what Chromium writes), decoded to RGB pixels.
struct Image {
  uint32_t width = 0, height = 0;
  std::vector<std::array<uint8_t, 3>> pixels;
};

std::optional<Image> decode_png(const std::string& png) {
  auto be32 = [&](size_t at) {
    return uint32_t(uint8_t(png[at])) << 24 | uint32_t(uint8_t(png[at + 1])) << 16 |
           uint32_t(uint8_t(png[at + 2])) << 8 | uint8_t(png[at + 3]);
  };
  if (png.size() < 33 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return std::nullopt;
  Image img;
  int channels = 0;
  std::string idat;
  for (size_t at = 8; at + 8 <= png.size();) {
    const uint32_t len = be32(at);
    const std::string type = png.substr(at + 4, 4);
    if (type == "IHDR") {
      img.width = be32(at + 8), img.height = be32(at + 12);
      const int depth = uint8_t(png[at + 16]), colour = uint8_t(png[at + 17]), interlace = uint8_t(png[at + 20]);
      if (depth != 8 || interlace || (colour != 2 && colour != 6)) return std::nullopt;
      channels = colour == 6 ? 4 : 3;
    } else if (type == "IDAT") {
      idat += png.substr(at + 8, len);
    }
    at += 12 + len;
  }
  const size_t stride = size_t(img.width) * channels;
  std::vector<uint8_t> raw((stride + 1) * img.height);
  uLongf raw_size = raw.size();
  if (!channels ||
      uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK ||
      raw_size != raw.size())
    return std::nullopt;
  std::vector<uint8_t> prev(stride, 0), row(stride);
  for (uint32_t y = 0; y < img.height; ++y) {
    const uint8_t filter = raw[y * (stride + 1)];
    const uint8_t* in = &raw[y * (stride + 1) + 1];
    for (size_t x = 0; x < stride; ++x) {
      const int a = x >= size_t(channels) ? row[x - channels] : 0, b = prev[x],
                c = x >= size_t(channels) ? prev[x - channels] : 0;
      int pred = 0;
      switch (filter) {
        case 0:
          pred = 0;
          break;
        case 1:
          pred = a;
          break;
        case 2:
          pred = b;
          break;
        case 3:
          pred = (a + b) / 2;
          break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          return std::nullopt;
      }
      row[x] = uint8_t(in[x] + pred);
    }
    for (uint32_t x = 0; x < img.width; ++x)
      img.pixels.push_back({row[x * channels], row[x * channels + 1], row[x * channels + 2]});
    prev = row;
  }
  return img;
}

size_t pixels_of(const Image& img, std::array<uint8_t, 3> colour) {
  size_t n = 0;
  for (const auto& p : img.pixels) n += p == colour;
  return n;
}

TEST(HtmlInChromium, ShowsTheRunsVerdictsTimelinesAndHistograms) {
  if (!test::can_load_bpf()) GTEST_SKIP() << "needs root to load BPF programs (CAP_BPF, CAP_PERFMON)";
  const auto chromium = find_chromium();
  if (!chromium) GTEST_SKIP() << "chromium is not installed (`ci/setup --browser` installs it from Debian)";
  const fs::path out = fs::path(BPFAULT_BINARY_DIR) / "test-artifacts" / "html-report";
  fs::remove_all(out);
  fs::create_directories(out);
  const fs::path src = test::source_dir();
  auto ran = run({BPFAULT_EXE, "run", "--vm=never", (src / "scenarios" / "seed-trace-args.json").string(),
                  (src / "scenarios" / "trace-latency.json").string(),
                  (src / "tests" / "cli" / "must-fail" / "wrong-arg-value.json").string(), "--html",
                  (out / "report.html").string(), "--json", (out / "run.json").string(), "--trace-json",
                  (out / "trace.json").string()});
  ASSERT_EQ(ran.exit_code, 1) << "one scenario must fail\n" << ran.out << ran.err;
  std::vector<record::RunRecord> records;
  const json run_record = json::parse(slurp(out / "run.json"));
  for (const json& s : run_record.at("scenarios")) records.push_back(*record::record_from_json(s));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_FALSE(json::parse(slurp(out / "trace.json")).at("traceEvents").empty());

  // what Chromium laid out
  std::ofstream(out / "measure.html") << slurp(out / "report.html") << kMeasure;
  auto dom = run([&] {
    auto argv = chromium_argv(*chromium, out / "profile");
    argv.insert(argv.end(), {"--window-size=1280,1000", "--dump-dom", "file://" + (out / "measure.html").string()});
    return argv;
  }());
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  const size_t at = dom.out.find("<pre id=\"measured\">");
  ASSERT_NE(at, std::string::npos) << "the measuring script did not run:\n" << dom.out.substr(0, 2000);
  const size_t from = at + std::strlen("<pre id=\"measured\">");
  const json shown = json::parse(percent_decode(dom.out.substr(from, dom.out.find("</pre>", from) - from)));
  const json& sections = shown.at("sections");
  ASSERT_EQ(sections.size(), records.size());
  const std::map<std::string, std::string> colours = {{"passed", "rgb(26, 127, 55)"}, {"failed", "rgb(207, 34, 46)"}};
  size_t timed = records.size(), failed = records.size(), seed = records.size();
  for (size_t i = 0; i < records.size(); ++i) {
    const record::RunRecord& r = records[i];
    const json& s = sections[i];
    if (r.file.ends_with("trace-latency.json")) timed = i;
    if (r.file.ends_with("wrong-arg-value.json")) failed = i;
    if (r.file.ends_with("seed-trace-args.json")) seed = i;
    EXPECT_EQ(s["name"], r.name);
    EXPECT_EQ(s["status"].get<std::string>(), record::status_name(r.status));
    EXPECT_EQ(s["chip_colour"], colours.at(s["status"].get<std::string>())) << r.name;
    size_t marks = 0;
    for (const auto& p : r.probes)
      for (const auto& h : p.hits) marks += 1 + h.injection.has_value();
    EXPECT_GT(marks, 0u) << r.name;
    ASSERT_FALSE(s["timelines"].empty()) << r.name;
    for (const json& view : s["timelines"]) {
      EXPECT_EQ(view["marks"], marks) << r.name;
      EXPECT_EQ(view["inside"], marks) << r.name << ": marks laid out outside their timeline";
    }
    EXPECT_EQ(s["stdout"], r.stdout_text) << r.name;
  }
  ASSERT_LT(timed, records.size());
  ASSERT_LT(failed, records.size());
  ASSERT_LT(seed, records.size());
  EXPECT_EQ(sections[timed]["status"], "passed");
  EXPECT_EQ(sections[seed]["status"], "passed");
  EXPECT_EQ(sections[failed]["status"], "failed");
  // 1000 timed calls: a bar per log2 bucket from the lowest to the highest (the empty ones too),
  // each carrying its count, its height log(1 + calls) (140 px for the most: a log scale, so that
  // the slow tail shows)
  const record::Latency& latency = *records[timed].probes.at(0).latency;
  EXPECT_EQ(latency.count, 1000u);
  std::vector<uint64_t> expected;  // calls per bucket, in order
  std::map<uint64_t, uint64_t> by_bucket(latency.log2_us.begin(), latency.log2_us.end());
  for (uint64_t lo = latency.log2_us.front().first; lo <= latency.log2_us.back().first; lo = lo ? lo * 2 : 1)
    expected.push_back(by_bucket[lo]);
  const uint64_t most = *std::max_element(expected.begin(), expected.end());
  const json& bars = sections[timed]["bars"];
  ASSERT_TRUE(bars.is_array());
  ASSERT_EQ(bars.size(), expected.size());
  for (size_t b = 0; b < bars.size(); ++b) {
    const std::string title = bars[b]["title"];
    EXPECT_EQ(std::stoull(title.substr(title.find(": ") + 2)), expected[b]) << title;
    EXPECT_NEAR(bars[b]["height"].get<double>(), 140.0 * std::log1p(expected[b]) / std::log1p(most), 0.6) << title;
  }
  EXPECT_TRUE(sections[seed]["bars"].is_null()) << "no latency asked, no chart";
  // the failed expectation, as the scenario wrote it and as it was
  ASSERT_EQ(sections[failed]["failed_verdicts"].size(), 1u);
  const std::string verdict = sections[failed]["failed_verdicts"][0];
  EXPECT_NE(verdict.find("2021"), std::string::npos) << verdict;
  EXPECT_NE(verdict.find("100"), std::string::npos) << verdict;

  // the screenshot: the whole page, kept
  const int height = std::clamp(shown.at("height").get<int>(), 600, 16000);
  const fs::path png = out / "report.png";
  auto shot = run([&] {
    auto argv = chromium_argv(*chromium, out / "profile");
    argv.insert(argv.end(), {fmt::format("--window-size=1280,{}", height), "--screenshot=" + png.string(),
                             "file://" + (out / "report.html").string()});
    return argv;
  }());
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  std::printf("screenshot of the --html page: %s\n", png.c_str());
  auto img = decode_png(slurp(png));
  ASSERT_TRUE(img) << png << " is not an 8-bit RGB(A) PNG";
  EXPECT_EQ(img->width, 1280u);
  // a chip is ~60 x 18 px (the header shows only the counts that are not 0; no injection, so no
  // red diamond); the charts are thousands of pixels
  EXPECT_GT(pixels_of(*img, {26, 127, 55}), 600u) << "the green of passed scenarios";
  EXPECT_GT(pixels_of(*img, {207, 34, 46}), 300u) << "the red of the failed one";
  EXPECT_GT(pixels_of(*img, {130, 80, 223}), 4000u) << "the histogram's purple bars";
  EXPECT_GT(pixels_of(*img, {221, 244, 255}), 2000u) << "the tracee's light-blue run on the timelines";
}

}  // namespace
}  // namespace bpfault
