// --html: one page per run that a browser shows without anything else: CSS and SVG inline, no
// script, nothing fetched (CI artifacts are opened offline, and a report must not phone home).
// Each scenario: its verdicts, a timeline of its hits and injections from the tracee's start,
// its latency histograms as bar charts, its injections' writes, and the tracee's output.
// Everything from the record is escaped: the tracee's bytes that are not UTF-8, and control
// characters, as \xNN (record::printable), then HTML's five special characters.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <tuple>

#include "report/report.h"

namespace bpfault::report {
namespace {

std::string html(std::string_view bytes) { return record::markup(bytes); }

std::string value_text(const nlohmann::json& v) { return html(record::printable_value(v)); }

std::string status_of(const record::RunRecord& r) {
  return r.interrupted ? "interrupted" : std::string(record::status_name(r.status));
}

// 1.5 ms, 250 µs, 2.3 s
std::string duration(double us) {
  if (us >= 1e6) return fmt::format("{:.3g} s", us / 1e6);
  if (us >= 1e3) return fmt::format("{:.3g} ms", us / 1e3);
  return fmt::format("{:.3g} µs", us);
}

// The latency buckets' labels, as the console's histogram names them.
std::string bucket_label(uint64_t lo) {
  auto human = [](uint64_t v) {
    const char* suffix[] = {"", "K", "M", "G", "T"};
    int i = 0;
    while (v >= 1024 && v % 1024 == 0 && i < 4) v /= 1024, ++i;
    return fmt::format("{}{}", v, suffix[i]);
  };
  return lo <= 1 ? fmt::format("[{}]", lo) : fmt::format("[{}, {})", human(lo), human(lo * 2));
}

constexpr const char* kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:16px 24px}
header h1{margin:0 0 6px;font-size:20px}
main{padding:16px 24px;max-width:1200px}
.chip{display:inline-block;padding:1px 9px;border-radius:10px;font-weight:600;font-size:12px;color:#fff;
  margin-right:6px}
.passed{background:#1a7f37}.failed{background:#cf222e}.skipped{background:#9a6700}
.error,.interrupted{background:#8250df}
section.scenario{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:16px 0;padding:12px 16px}
section.scenario h2{font-size:16px;margin:0 0 4px}
.meta{color:#57606a;font-size:12px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
tr.fail td{background:#ffebe9}
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:8px;overflow:auto;max-height:320px;font-size:12px;
  white-space:pre-wrap}
h3{font-size:14px;margin:14px 0 4px}
svg text{font:11px system-ui,sans-serif;fill:#1f2328}
svg .axis{stroke:#8c959f}
svg .lane{fill:#f6f8fa}
svg .tracee{fill:#ddf4ff;stroke:#54aeff}
svg .mark.call,svg .mark.ret{stroke:#0969da;stroke-width:1.5}
svg .mark.span{fill:#0969da;fill-opacity:.55}
svg .mark.injection{fill:#cf222e;stroke:#fff;stroke-width:.5}
svg .bar{fill:#8250df}
.notes li{color:#57606a}
.banner{background:#ffebe9;border:1px solid #cf222e;padding:8px 12px;border-radius:6px;margin:12px 0}
)";

// A stretch of a scenario's timeline, in ns since its zero (timeline_zero_ns).
struct Window {
  double from_ns = 0, to_ns = 1;
};

// Hits as marks on one lane per probe, over a window of the tracee's run: a call as a tick, a
// timed call as a bar from its call to its RET, a RET without a duration as a tick, an injection
// as a red diamond. Each mark's <title> says what it was (a browser shows it on hover).
std::string timeline(const record::RunRecord& r, Window w, const char* kind) {
  const uint64_t zero = timeline_zero_ns(r);
  constexpr double kLeft = 190, kWidth = 960, kLane = 26, kTop = 8;
  const double plot = kWidth - kLeft - 16, width_ns = std::max(1.0, w.to_ns - w.from_ns);
  auto x = [&](double ns) { return kLeft + std::clamp((ns - w.from_ns) / width_ns, 0.0, 1.0) * plot; };
  auto since = [&](uint64_t ns) { return static_cast<double>(ns) - static_cast<double>(zero); };
  const size_t lanes = r.probes.size() + 1;
  const double height = kTop + lanes * kLane + 30;
  std::string out = fmt::format(
      R"(<svg class="timeline {2}" width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img">)", kWidth, height, kind);
  // lane 0: the tracee, from its start to its exit
  out += fmt::format(R"(<text x="4" y="{}">tracee</text>)", kTop + 17);
  if (r.tracee_ms > 0)
    out += fmt::format(
        R"(<rect class="tracee" x="{:.1f}" y="{}" width="{:.1f}" height="{}"><title>the tracee ran {}</title></rect>)",
        x(0), kTop + 5, x(r.tracee_ms * 1e6) - x(0), kLane - 10, duration(r.tracee_ms * 1000));
  for (size_t i = 0; i < r.probes.size(); ++i) {
    const record::ProbeRecord& p = r.probes[i];
    const double y = kTop + (i + 1) * kLane;
    out +=
        fmt::format(R"(<rect class="lane" x="{}" y="{}" width="{:.1f}" height="{}"/>)", kLeft, y + 2, plot, kLane - 4);
    // a long name keeps its end (the method), cut on a character's boundary
    std::string name = record::printable(p.function);
    if (name.size() > 30) {
      size_t cut = name.size() - 29;
      while (cut < name.size() && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) ++cut;
      name = "…" + name.substr(cut);
    }
    out += fmt::format(R"(<text x="4" y="{}">{}<title>{}: {} calls, {} kept on the timeline</title></text>)", y + 17,
                       html(name), html(p.function), p.calls, p.hits.size());
    for (const auto& h : p.hits) {
      std::string what = fmt::format("{} call {} {} at {}", html(p.function), h.call,
                                     h.site == "ret" ? "returned" : "called", duration(since(h.time_ns) / 1000));
      if (h.goid >= 0) what += fmt::format(", goroutine {}", h.goid);
      if (!h.values.empty()) what += " " + value_text(h.values);
      if (h.site == "ret" && h.duration_ns) {
        const double start = since(h.time_ns - std::min(h.time_ns, h.duration_ns));
        out += fmt::format(
            R"(<rect class="mark span" x="{:.1f}" y="{}" width="{:.1f}" height="{}"><title>{}, took {}</title></rect>)",
            x(start), y + 6, std::max(1.0, x(since(h.time_ns)) - x(start)), kLane - 12, what,
            duration(h.duration_ns / 1000.0));
      } else {
        const double at = x(since(h.time_ns));
        out += fmt::format(R"(<line class="mark {}" x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}"><title>{}</title></line>)",
                           h.site, at, at, y + 5, y + kLane - 5, what);
      }
      if (h.injection) {
        const record::Injection& inj = *h.injection;
        const double at = x(since(h.time_ns)), mid = y + kLane / 2;
        out += fmt::format(
            R"(<path class="mark injection" d="M{0:.1f} {1} l6 6 l-6 6 l-6 -6 z">)"
            R"(<title>injection at {2} call {3}: {4}{5}{6}</title></path>)",
            at, mid - 6, html(p.function), h.call, html(inj.action), inj.done ? ", done" : ", not done",
            inj.pending_ret_writes ? fmt::format(" (its {} write(s) at the RET)", *inj.pending_ret_writes) : "");
      }
    }
  }
  // the time axis: its start, a quarter, half, three quarters, its end (since the tracee's start)
  const double axis_y = kTop + lanes * kLane + 4;
  out += fmt::format(R"(<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>)", kLeft, kLeft + plot, axis_y, axis_y);
  for (int q = 0; q <= 4; ++q) {
    const double at = kLeft + plot * q / 4;
    out += fmt::format(R"(<line class="axis" x1="{0:.1f}" x2="{0:.1f}" y1="{1}" y2="{2}"/>)"
                       R"(<text x="{0:.1f}" y="{3}" text-anchor="{4}">{5}</text>)",
                       at, axis_y, axis_y + 4, axis_y + 16,
                       q == 0   ? "start"
                       : q == 4 ? "end"
                                : "middle",
                       duration((w.from_ns + width_ns * q / 4) / 1000));
  }
  return out + "</svg>\n";
}

// The whole run; and when its events fill less than half of it (a Go program's start alone takes
// milliseconds), the stretch from its first event to its last as well, so they can be told apart.
std::string timelines(const record::RunRecord& r) {
  double first = 0, last = 0;
  size_t marks = 0;
  const uint64_t zero = timeline_zero_ns(r);
  for (const auto& p : r.probes)
    for (const auto& h : p.hits) {
      const double start =
          static_cast<double>(h.time_ns - std::min(h.time_ns, h.duration_ns)) - static_cast<double>(zero);
      const double end = static_cast<double>(h.time_ns) - static_cast<double>(zero);
      first = marks ? std::min(first, start) : start, last = marks ? std::max(last, end) : end, ++marks;
    }
  if (!marks && !r.started_ns) return "";
  const double run_ns = std::max({r.tracee_ms * 1e6, last, 1.0});
  std::string out = "<h3>Timeline (from the tracee's start)</h3>\n" + timeline(r, {0, run_ns}, "run");
  if (marks > 1 && last > first && last - first < run_ns / 2) {
    const double margin = (last - first) / 50;
    out += fmt::format("<h3>Its events, from {} to {}</h3>\n", duration(first / 1000), duration(last / 1000));
    out += timeline(r, {std::max(0.0, first - margin), last + margin}, "events");
  }
  return out;
}

// One bar per log2 bucket from the lowest to the highest, the empty ones too (as the console's
// histogram), its count above it and its bucket below. Heights are logarithmic (log(1 + calls)):
// the slow tail, a handful of calls beside thousands, is what one looks for, and linear bars
// would draw it a pixel high.
std::string histogram_chart(const record::ProbeRecord& p) {
  const record::Latency& l = *p.latency;
  std::vector<std::pair<uint64_t, uint64_t>> buckets;
  size_t k = 0;
  for (uint64_t lo = l.log2_us.front().first;; lo = lo == 0 ? 1 : lo * 2) {
    buckets.emplace_back(lo, k < l.log2_us.size() && l.log2_us[k].first == lo ? l.log2_us[k++].second : 0);
    if (lo >= l.log2_us.back().first || lo >= (uint64_t{1} << 62)) break;
  }
  uint64_t most = 1;
  for (auto [lo, n] : buckets) most = std::max(most, n);
  constexpr double kBar = 56, kGap = 8, kPlot = 140, kTop = 18;
  const double width = 20 + buckets.size() * (kBar + kGap), height = kTop + kPlot + 36;
  std::string out = fmt::format(R"(<svg class="histogram" width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img">)",
                                width, height);
  for (size_t i = 0; i < buckets.size(); ++i) {
    const auto [lo, n] = buckets[i];
    const double h = kPlot * std::log1p(static_cast<double>(n)) / std::log1p(static_cast<double>(most));
    const double x = 10 + i * (kBar + kGap);
    out += fmt::format(
        R"(<rect class="bar" x="{:.1f}" y="{:.1f}" width="{}" height="{:.1f}"><title>{} µs: {} call{}</title></rect>)",
        x, kTop + kPlot - h, kBar, h, bucket_label(lo), n, n == 1 ? "" : "s");
    out += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>)", x + kBar / 2,
                       kTop + kPlot - h - 4, n);
    out += fmt::format(R"(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)", x + kBar / 2, kTop + kPlot + 16,
                       bucket_label(lo));
  }
  out += fmt::format(R"(<line class="axis" x1="6" x2="{}" y1="{}" y2="{}"/>)", width - 6, kTop + kPlot, kTop + kPlot);
  out += fmt::format(R"(<text x="10" y="{}">µs, log2 buckets; bar heights on a log scale</text>)", height - 4);
  return out + "</svg>\n";
}

// Tracee output can be megabytes: the page shows its first and last 32 KiB (the --json record has it all).
std::string output_block(const char* what, const std::string& bytes) {
  if (bytes.empty()) return fmt::format("<h3>{}</h3><p class=\"meta\">(empty)</p>\n", what);
  constexpr size_t kPart = 32 * 1024;
  std::string shown =
      bytes.size() <= 2 * kPart
          ? html(bytes)
          : html(bytes.substr(0, kPart)) +
                fmt::format("\n[… {} bytes left out: the --json record has them …]\n", bytes.size() - 2 * kPart) +
                html(bytes.substr(bytes.size() - kPart));
  return fmt::format("<h3>{} ({} bytes)</h3><pre class=\"output {}\">{}</pre>\n", what, bytes.size(), what, shown);
}

std::string injections_table(const record::RunRecord& r) {
  std::string rows;
  for (const auto& p : r.probes)
    for (const auto& h : p.hits) {
      if (!h.injection) continue;
      const record::Injection& inj = *h.injection;
      std::string writes;
      if (inj.pending_ret_writes) writes = fmt::format("{} write(s) at its RET", *inj.pending_ret_writes);
      if (inj.pending_error) writes += " <b>" + html(*inj.pending_error) + "</b>";
      for (const auto& w : inj.writes) {
        writes += fmt::format("{}{}: ", writes.empty() ? "" : "<br>", html(w.target));
        writes += w.attempted ? fmt::format("{} → {} (asked {})", value_text(w.before), value_text(w.after),
                                            value_text(w.asked))
                              : "not attempted";
        if (w.error) writes += " <b>" + html(*w.error) + "</b>";
      }
      rows += fmt::format("<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                          inj.done || inj.writes.empty() ? "" : " class=\"fail\"", html(p.function), h.call, inj.step,
                          html(inj.action), inj.done ? "yes" : "no", writes);
    }
  if (rows.empty()) return "";
  return "<h3>Injections</h3>\n<table "
         "class=\"injections\"><tr><th>function</th><th>call</th><th>step</th><th>action</th><th>done</th>"
         "<th>writes (before → read back)</th></tr>\n" +
         rows + "</table>\n";
}

std::string scenario_section(const record::RunRecord& r, size_t index) {
  const std::string status = status_of(r);
  std::string out = fmt::format(
      "<section class=\"scenario\" id=\"s{}\" data-status=\"{}\">\n<h2><span class=\"chip {}\">{}</span>{}</h2>\n",
      index, status, status, status, html(r.name));
  std::string ended = r.timed_out   ? "timed out"
                      : r.signal    ? "killed by " + signal_name(*r.signal)
                      : r.exit_code ? fmt::format("exit {}", *r.exit_code)
                                    : "";
  out +=
      fmt::format("<p class=\"meta\">{} · {}{} · {}{} · took {} (the tracee {}){}</p>\n", html(r.file), html(r.where),
                  r.kernel.empty() ? "" : " " + html(r.kernel), html(r.binary.empty() ? "no binary" : r.binary),
                  r.go_version.empty() ? "" : " (" + html(r.go_version) + ")", duration(r.duration_ms * 1000),
                  duration(r.tracee_ms * 1000), ended.empty() ? "" : " · " + ended);
  if (r.error) out += fmt::format("<pre class=\"error\">{}</pre>\n", html(r.error->format()));
  if (r.diagnosis) {
    const record::Diagnosis& d = *r.diagnosis;
    out += fmt::format("<p class=\"banner\"><b>diagnosis:</b> {}{}{}</p>\n", html(d.summary),
                       d.location.empty() ? "" : " (in " + html(d.location) + ")",
                       d.harness_caused ? "<br>harness-caused: the tracee crashed after bpfault injected into " +
                                              html(d.injections) + ", and the scenario asked for no crash"
                                        : "");
  }
  if (!r.verdicts.empty()) {
    out +=
        "<h3>Verdicts</h3>\n<table "
        "class=\"verdicts\"><tr><th></th><th>check</th><th>expected</th><th>actual</th><th>where</th></tr>\n";
    for (const auto& v : r.verdicts)
      out += fmt::format("<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                         v.passed ? "pass" : "fail", v.passed ? "✓" : "✗", html(v.check), html(v.expected),
                         html(v.actual), html(v.pointer));
    out += "</table>\n";
  }
  if (!r.probes.empty()) {
    out +=
        "<h3>Probes</h3>\n<table "
        "class=\"probes\"><tr><th>function</th><th>calls</th><th>returns</th><th>injected</th><th>hits "
        "kept</th></tr>\n";
    for (const auto& p : r.probes)
      out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", html(p.function),
                         p.calls, p.returns, p.injected, p.hits.size());
    out += "</table>\n";
  }
  out += timelines(r);
  for (const auto& p : r.probes) {
    if (!p.latency || !p.latency->count || p.latency->log2_us.empty()) continue;
    const record::Latency& l = *p.latency;
    out += fmt::format("<h3>Latency of {}: {} calls, p50 {}, p90 {}, p99 {}, max {}</h3>\n", html(p.function), l.count,
                       duration(l.p50_us), duration(l.p90_us), duration(l.p99_us), duration(l.max_us));
    out += histogram_chart(p);
  }
  out += injections_table(r);
  if (!r.tests.empty()) {
    out += "<h3>Go tests</h3>\n<table class=\"tests\"><tr><th>test</th><th>result</th><th>seconds</th></tr>\n";
    for (const auto& t : r.tests)
      out += fmt::format("<tr{}><td>{}</td><td>{}</td><td>{:.2f}</td></tr>\n",
                         t.result == "fail" ? " class=\"fail\"" : "", html(t.name), html(t.result), t.seconds);
    out += "</table>\n";
  }
  if (r.started_ns || !r.stdout_text.empty() || !r.stderr_text.empty())
    out += output_block("stdout", r.stdout_text) + output_block("stderr", r.stderr_text);
  return out + "</section>\n";
}

}  // namespace

std::string html_document(const std::vector<record::RunRecord>& records, double wall_ms, const Ending& end) {
  const Summary s = summarize(records, wall_ms);
  const int rc = end.exit_code;
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  out += fmt::format(
      "<title>bpfault: {} passed, {} failed, {} skipped, {} errors</title>\n<style>{}</style></head><body>\n", s.passed,
      s.failed, s.skipped, s.errors, kStyle);
  // the counts that are not 0, each in its status's colour
  std::string counts;
  const std::tuple<size_t, const char*, const char*> chips[] = {
      {s.passed, "passed", "passed"},
      {s.failed, "failed", "failed"},
      {s.skipped, "skipped", "skipped"},
      {s.errors, "error", s.errors == 1 ? "error" : "errors"}};
  for (auto [n, status, label] : chips)
    if (n) counts += fmt::format("<span class=\"chip {}\">{} {}</span>", status, n, label);
  out += fmt::format("<header><h1>bpfault run: exit {}</h1><div class=\"summary\">{} in {}</div></header>\n<main>\n",
                     rc, counts.empty() ? "nothing ran" : counts, duration(wall_ms * 1000));
  if (end.interrupted_by) {
    size_t finished = 0;
    for (const auto& r : records) finished += !r.interrupted;
    out +=
        fmt::format("<p class=\"banner\">Interrupted by {} after {} of {} scenarios; the others did not finish.</p>\n",
                    signal_name(end.interrupted_by), finished, records.size());
  }
  if (!end.notes.empty()) {
    out += "<ul class=\"notes\">\n";
    for (const auto& n : end.notes) out += "<li>" + html(n) + "</li>\n";
    out += "</ul>\n";
  }
  if (records.empty())
    out += "<p class=\"banner\">No scenario ran.</p>\n";
  else {
    out += "<table class=\"index\"><tr><th>scenario</th><th>status</th><th>where</th><th>time</th></tr>\n";
    for (size_t i = 0; i < records.size(); ++i) {
      const auto& r = records[i];
      out += fmt::format(
          "<tr><td><a href=\"#s{}\">{}</a></td><td><span class=\"chip {}\">{}</span></td><td>{}</td><td>{}</td></tr>\n",
          i, html(r.name), status_of(r), status_of(r), html(r.where == "vm" ? "vm " + r.kernel : r.where),
          duration(r.duration_ms * 1000));
    }
    out += "</table>\n";
  }
  for (size_t i = 0; i < records.size(); ++i) out += scenario_section(records[i], i);
  return out + "</main></body></html>\n";
}

Result<void> write_html(const std::filesystem::path& file, const std::vector<record::RunRecord>& records,
                        double wall_ms, const Ending& end) {
  std::ofstream out(file);
  out << html_document(records, wall_ms, end);
  if (!out)
    return fail(ErrorKind::environment, file.string(), "cannot write the HTML report",
                "check the folder exists and is writable");
  return {};
}

}  // namespace bpfault::report
