// explore's --html: one self-contained page, the sites' table, each site's baseline stack and
// its run's output against the control run's, line by line.
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "explore/explore.h"

namespace bpfault::explore {

namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The lines of `run` the control did not print (+), and the control's the run did not (-),
// each in its own order; the others as context.
std::string diff(const std::string& control, const std::string& run) {
  const auto a = lines(control), b = lines(run);
  const std::set<std::string> in_a(a.begin(), a.end()), in_b(b.begin(), b.end());
  std::string out;
  for (const auto& l : a)
    if (!in_b.contains(l)) out += fmt::format("<span class=del>- {}</span>\n", record::markup(l));
  for (const auto& l : b)
    out += in_a.contains(l) ? fmt::format("  {}\n", record::markup(l))
                            : fmt::format("<span class=add>+ {}</span>\n", record::markup(l));
  return out;
}

std::string stack_text(const nlohmann::json& stack) {
  std::string out;
  if (!stack.is_array()) return out;
  for (const auto& f : stack) {
    if (!f.is_object()) continue;
    if (f.contains("cut")) {
      out += fmt::format("… {}\n", record::markup(record::printable_value(f["cut"])));
      continue;
    }
    out += fmt::format("{}{}  {}:{}\n", record::markup(f.value("function", "?")),
                       f.value("inlined", false) ? " (inlined)" : "", record::markup(f.value("file", "")),
                       f.value("line", 0));
  }
  return out;
}

}  // namespace

std::string html_page(const Report& r) {
  std::string rows, details;
  size_t i = 0;
  for (const auto& f : r.findings) {
    const std::string cls(class_name(f.cls));
    const std::string css = cls == "not injectable" || cls == "not run" ? "none" : cls;
    rows +=
        fmt::format("<tr class={}><td><a href='#s{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    css, i, record::markup(f.site.label()), record::markup(cls), record::markup(f.evidence),
                    f.error_value.is_null() ? "" : record::markup(f.error_value.dump()), record::markup(f.reproducer));
    details += fmt::format(
        "<h3 id='s{}'>{} <small class={}>{}</small></h3>\n<p>{}</p>\n<h4>baseline stack</h4><pre>{}</pre>\n", i,
        record::markup(f.site.label()), css, record::markup(cls), record::markup(f.evidence), stack_text(f.site.stack));
    if (f.record) {
      details += fmt::format("<h4>stdout against the control run</h4><pre>{}</pre>\n",
                             diff(r.control.stdout_text, f.record->stdout_text));
      details += fmt::format("<h4>stderr against the control run</h4><pre>{}</pre>\n",
                             diff(r.control.stderr_text, f.record->stderr_text));
    }
    ++i;
  }
  const double coverage =
      r.sites_seen ? 100.0 * static_cast<double>(r.injected) / static_cast<double>(r.sites_seen) : 0.0;
  std::string notes;
  for (const auto& n : r.notes) notes += fmt::format("<li>{}</li>", record::markup(n));
  return fmt::format(
      R"(<!doctype html>
<html><head><meta charset="utf-8"><title>bpfault explore: {}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
tr.crashed td:nth-child(2), .crashed {{ color: #b00020; font-weight: bold; }}
tr.hung td:nth-child(2), .hung {{ color: #c05000; font-weight: bold; }}
tr.swallowed td:nth-child(2), .swallowed {{ color: #8a2be2; font-weight: bold; }}
tr.handled td:nth-child(2), .handled {{ color: #1b7f3b; }} .none {{ color: #777; }}
pre {{ background: #f6f6f6; padding: 6px; }} .add {{ background: #e6ffed; }} .del {{ background: #ffeef0; }}
</style></head><body>
<h1>bpfault explore: {}</h1>
<p>{}: {} functions returning an error probed; {} error sites seen, {} tried, {} injected:
<b>error-path coverage {}/{} = {:.0f} %</b>; {} crashed, {} hung, {} swallowed, {} handled, {} not injectable, {} not run.</p>
<ul>{}</ul>
<table><tr><th>site (function &lt;- caller #n-th call from it)</th><th>class</th><th>evidence</th><th>error returned</th><th>reproducer</th></tr>
{}</table>
{}
</body></html>
)",
      record::markup(r.name), record::markup(r.name), record::markup(r.scenario), r.functions.size(), r.sites_seen,
      r.sites_run, r.injected, r.injected, r.sites_seen, coverage, r.count(Class::crashed), r.count(Class::hung),
      r.count(Class::swallowed), r.count(Class::handled), r.count(Class::not_injectable), r.count(Class::not_run),
      notes, rows, details);
}

}  // namespace bpfault::explore
