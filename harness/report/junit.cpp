// JUnit XML as Jenkins, GitLab and GitHub test reporters read it: one <testsuite> per place a
// scenario ran (native, or the VM with its kernel), one <testcase> per scenario. Suite names do
// not carry the kernel (a property does), so a CI's history follows a test across kernels.
#include <algorithm>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "report/report.h"

namespace bpfault::report {
namespace {

std::string xml(std::string_view bytes) { return record::markup(bytes); }

std::string classname(const std::string& file) {
  std::filesystem::path p(file);
  std::string dir = p.parent_path().filename().string();
  return (dir.empty() ? "" : dir + ".") + p.stem().string();
}

// Under the exit code's failure: how the tracee ended, and whether bpfault's injection is the suspect.
std::string diagnosis(const record::Diagnosis& d) {
  std::string out = "\ndiagnosis: " + d.summary + (d.location.empty() ? "" : " (in " + d.location + ")");
  if (d.harness_caused)
    out += "\nharness-caused: the tracee crashed after bpfault injected into " + d.injections +
           ", and the scenario asked for no crash";
  return out;
}

// The file as the reader's CI sees it: relative to the working folder (as given when it was).
std::string relative_file(const std::string& file) {
  std::filesystem::path p(file);
  if (!p.is_absolute()) return file;
  std::error_code ec;
  std::filesystem::path cwd = std::filesystem::current_path(ec);
  return ec ? file : p.lexically_relative(cwd).string();
}

// The one <failure> of a failed case: every failed check in its text, the first in its message.
std::string failure(const record::RunRecord& r, const std::string& file) {
  std::vector<const record::Verdict*> failed;
  for (const auto& v : r.verdicts)
    if (!v.passed) failed.push_back(&v);
  if (failed.empty()) return "      <failure message=\"failed\" type=\"assertion\"/>\n";
  std::string message = failed.front()->check + ": expected " + failed.front()->expected;
  if (failed.size() > 1)
    message += fmt::format(" (and {} more failed check{})", failed.size() - 1, failed.size() == 2 ? "" : "s");
  std::string text;
  bool diagnosed = false;
  for (const auto* v : failed) {
    text += fmt::format("{}{}{}\n{}\nexpected: {}\nactual:   {}\n", text.empty() ? "" : "\n", file,
                        v->pointer.empty() ? "" : ":" + v->pointer, v->check, v->expected, v->actual);
    if (r.diagnosis && !diagnosed && (v->check == "exit_code" || v->check == "signal")) {
      text += diagnosis(*r.diagnosis).substr(1) + "\n";
      diagnosed = true;
    }
  }
  return fmt::format("      <failure message=\"{}\" type=\"assertion\">{}</failure>\n", xml(message), xml(text));
}

// A service's steps, each with its verdict and result ("step get-item" = "passed: HTTP 200 in
// 12 ms"); the failed checks of a step are in the test case's <failure>, named "step NAME ...".
std::string step_properties(const record::RunRecord& r) {
  std::string out;
  for (const auto& st : r.steps) {
    bool ok = true;
    for (const auto& v : r.verdicts) ok &= v.step != st.name || v.passed;
    const std::string what = !st.error.empty()   ? st.error
                             : st.kind == "http" ? fmt::format("HTTP {}", st.status.value_or(0))
                                                 : fmt::format("exit {}", st.exit_code.value_or(-1));
    out += fmt::format("        <property name=\"step {}\" value=\"{}: {} in {:.0f} ms\"/>\n", xml(st.name),
                       ok ? "passed" : "failed", xml(what), st.ms);
  }
  return out;
}

}  // namespace

std::string junit_document(const std::vector<record::RunRecord>& records, double wall_ms, const Ending& end) {
  std::map<std::pair<std::string, std::string>, std::vector<const record::RunRecord*>> groups;  // (where, kernel)
  for (const auto& r : records)
    groups[{r.where, r.where == "vm" ? r.kernel : ""}].push_back(&r);  // one VM boot per kernel
  Summary all = summarize(records, wall_ms);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format(
      "<testsuites name=\"bpfault\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
      all.total(), all.failed, all.errors, all.skipped, wall_ms / 1000);
  if (!end.notes.empty()) {
    out += "  <properties>\n";
    for (const auto& n : end.notes) out += fmt::format("    <property name=\"note\" value=\"{}\"/>\n", xml(n));
    out += "  </properties>\n";
  }
  // JUnit's timestamp has no zone: UTC, to the second
  const std::string timestamp = end.started_at.substr(0, std::min<size_t>(end.started_at.size(), 19));
  for (const auto& [place, group] : groups) {
    const std::string& where = place.first;
    std::vector<record::RunRecord> copy;
    double time = 0;
    for (const auto* r : group) copy.push_back(*r), time += r->duration_ms;
    Summary s = summarize(copy, time);
    out += fmt::format(
        "  <testsuite name=\"bpfault ({})\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\" "
        "timestamp=\"{}\" hostname=\"{}\">\n",
        xml(where), s.total(), s.failed, s.errors, s.skipped, time / 1000, xml(timestamp), xml(end.hostname));
    std::string kernel;  // a file that could not be loaded ran on none
    for (const auto* r : group)
      if (kernel.empty()) kernel = r->kernel;
    out += fmt::format(
        "    <properties>\n      <property name=\"where\" value=\"{}\"/>\n      <property name=\"kernel\" "
        "value=\"{}\"/>\n    </properties>\n",
        group.front()->where, xml(kernel));
    for (const auto* r : group) {
      const std::string file = relative_file(r->file);
      out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3f}\">\n",
                         xml(classname(r->file)), xml(r->name), xml(file), r->duration_ms / 1000);
      if (!r->tests.empty() || !r->steps.empty() || r->attached) {
        out += "      <properties>\n";
        if (const auto& a = r->attached)  // a process bpfault attached to (run --pid): which, and how it ended
          out += fmt::format("        <property name=\"attached\" value=\"pid {} ({}) for {:.1f} s; ended: {}\"/>\n",
                             a->pid, xml(a->executable), a->ms / 1000, xml(a->ended));
        for (const auto& t : r->tests)  // a test target's Go tests, each with how it ended
          out += fmt::format("        <property name=\"go test {}\" value=\"{} ({:.2f}s)\"/>\n", xml(t.name),
                             xml(t.result), t.seconds);
        out += step_properties(*r);
        out += "      </properties>\n";
      }
      if (r->status == record::Status::failed) out += failure(*r, file);
      if (r->status == record::Status::skipped)
        out += fmt::format("      <skipped message=\"{}\"/>\n", xml(r->error ? r->error->what : "skipped"));
      if (r->status == record::Status::error)
        out += fmt::format("      <error message=\"{}\" type=\"bad input\">{}</error>\n",
                           xml(r->error ? r->error->what : "error"), xml(r->error ? r->error->format() : ""));
      if (!r->stdout_text.empty()) out += fmt::format("      <system-out>{}</system-out>\n", xml(r->stdout_text));
      if (!r->stderr_text.empty()) out += fmt::format("      <system-err>{}</system-err>\n", xml(r->stderr_text));
      out += "    </testcase>\n";
    }
    out += "  </testsuite>\n";
  }
  if (end.interrupted_by) {  // a cancelled job must not look green: one test case says what stopped it
    size_t finished = 0;
    for (const auto& r : records) finished += !r.interrupted;
    const std::string what = fmt::format("bpfault was interrupted by {} after {} of {} scenarios",
                                         signal_name(end.interrupted_by), finished, records.size());
    out += fmt::format(
        "  <testsuite name=\"bpfault (interrupted)\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" "
        "time=\"0\">\n"
        "    <testcase classname=\"bpfault\" name=\"interrupted\" time=\"0\">\n"
        "      <error message=\"{}\" type=\"interrupted\"/>\n    </testcase>\n  </testsuite>\n",
        xml(what));
  }
  out += "</testsuites>\n";
  return out;
}

Result<void> write_junit(const std::filesystem::path& file, const std::vector<record::RunRecord>& records,
                         double wall_ms, const Ending& end) {
  std::ofstream f(file);
  f << junit_document(records, wall_ms, end);
  if (!f)
    return fail(ErrorKind::environment, file.string(), "cannot write the JUnit report",
                "check the folder exists and is writable");
  return {};
}

}  // namespace bpfault::report
