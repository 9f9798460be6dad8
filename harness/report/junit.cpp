// JUnit XML as Jenkins, GitLab and GitHub test reporters read it: one <testsuite> per place a
// scenario ran (native, or the VM with its kernel), one <testcase> per scenario.
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "report/report.h"

namespace bpfault::report {
namespace {

std::string xml(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') out += fmt::format("\\x{:02x}", c);  // not allowed in XML 1.0
        else out += static_cast<char>(c);
    }
  }
  return out;
}

std::string classname(const std::string& file) {
  std::filesystem::path p(file);
  std::string dir = p.parent_path().filename().string();
  return (dir.empty() ? "" : dir + ".") + p.stem().string();
}

// Under the exit code's failure: how the tracee ended, and whether bpfault's injection is the suspect.
std::string diagnosis(const run::Diagnosis& d) {
  std::string out = "\ndiagnosis: " + d.summary + (d.location.empty() ? "" : " (in " + d.location + ")");
  if (d.harness_caused) out += "\nharness-caused: the tracee crashed after bpfault injected into " + d.injections + ", and the scenario asked for no crash";
  return out;
}

}  // namespace

Result<void> write_junit(const std::filesystem::path& file, const std::vector<run::RunRecord>& records, double wall_ms) {
  std::map<std::string, std::vector<const run::RunRecord*>> groups;
  for (const auto& r : records) groups[r.where == "vm" ? "vm " + r.kernel : "native"].push_back(&r);
  Summary all = summarize(records, wall_ms);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format("<testsuites name=\"bpfault\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
                     all.total(), all.failed, all.errors, all.skipped, wall_ms / 1000);
  for (const auto& [where, group] : groups) {
    std::vector<run::RunRecord> copy;
    double time = 0;
    for (const auto* r : group) copy.push_back(*r), time += r->duration_ms;
    Summary s = summarize(copy, time);
    out += fmt::format("  <testsuite name=\"bpfault ({})\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
                       xml(where), s.total(), s.failed, s.errors, s.skipped, time / 1000);
    out += fmt::format("    <properties>\n      <property name=\"where\" value=\"{}\"/>\n      <property name=\"kernel\" value=\"{}\"/>\n    </properties>\n",
                       group.front()->where, xml(group.front()->kernel));
    for (const auto* r : group) {
      out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3f}\">\n", xml(classname(r->file)), xml(r->name),
                         xml(r->file), r->duration_ms / 1000);
      if (r->status == run::Status::failed)
        for (const auto& v : r->verdicts)
          if (!v.passed)
            out += fmt::format("      <failure message=\"{}\" type=\"assertion\">{}{}\nexpected: {}\nactual:   {}{}</failure>\n",
                               xml(v.check + ": expected " + v.expected), xml(r->file), xml(":" + v.pointer), xml(v.expected), xml(v.actual),
                               xml(r->diagnosis && (v.check == "exit_code" || v.check == "signal") ? diagnosis(*r->diagnosis) : ""));
      if (r->status == run::Status::skipped)
        out += fmt::format("      <skipped message=\"{}\"/>\n", xml(r->error ? r->error->what : "skipped"));
      if (r->status == run::Status::error)
        out += fmt::format("      <error message=\"{}\" type=\"bad input\">{}</error>\n", xml(r->error ? r->error->what : "error"),
                           xml(r->error ? r->error->format() : ""));
      if (!r->stdout_text.empty()) out += fmt::format("      <system-out>{}</system-out>\n", xml(r->stdout_text));
      if (!r->stderr_text.empty()) out += fmt::format("      <system-err>{}</system-err>\n", xml(r->stderr_text));
      out += "    </testcase>\n";
    }
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  std::ofstream f(file);
  f << out;
  if (!f) return fail(ErrorKind::environment, file.string(), "cannot write the JUnit report", "check the folder exists and is writable");
  return {};
}

}  // namespace bpfault::report
