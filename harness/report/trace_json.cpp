// Chrome's trace-event format ("JSON Array/Object Format", the one Perfetto and chrome://tracing
// open): {"traceEvents": [...]} with ts and dur in µs. Each scenario run is a process (its name
// is the run's name), each goroutine a thread, so Perfetto lays calls out per goroutine.
#include <fmt/format.h>

#include <fstream>
#include <set>

#include "report/report.h"

namespace bpfault::report {
namespace {
using json = nlohmann::json;

// Hits whose goroutine was unreadable go on a thread of their OS thread, numbered far above any
// goroutine id so that the two never share a row.
constexpr int64_t kThreadRows = int64_t{1} << 40;

int64_t row_of(const record::Hit& h) { return h.goid >= 0 ? h.goid : kThreadRows + h.tid; }

double us_since(uint64_t ns, uint64_t zero) { return (static_cast<double>(ns) - static_cast<double>(zero)) / 1000.0; }

// Names and strings in the document are text: the tracee's bytes that are not UTF-8 as \xNN;
// values keep their record form ({"bytes_b64": ...}), so nothing is lost.
json text(const std::string& bytes) { return record::printable(bytes); }

}  // namespace

uint64_t timeline_zero_ns(const record::RunRecord& r) {
  if (r.started_ns) return r.started_ns;
  uint64_t zero = UINT64_MAX;
  for (const auto& p : r.probes)
    for (const auto& h : p.hits) zero = std::min(zero, h.time_ns - std::min(h.time_ns, h.duration_ns));
  return zero == UINT64_MAX ? 0 : zero;
}

std::string trace_json_document(const std::vector<record::RunRecord>& records, double wall_ms, const Ending& end) {
  json events = json::array();
  for (size_t i = 0; i < records.size(); ++i) {
    const record::RunRecord& r = records[i];
    const int64_t pid = static_cast<int64_t>(i) + 1;
    const uint64_t zero = timeline_zero_ns(r);
    const std::string status = r.interrupted ? "interrupted" : std::string(record::status_name(r.status));
    events.push_back({{"ph", "M"},
                      {"name", "process_name"},
                      {"pid", pid},
                      {"tid", 0},
                      {"args", {{"name", text(fmt::format("{} [{}]", r.name, status))}}}});
    events.push_back(
        {{"ph", "M"}, {"name", "process_sort_index"}, {"pid", pid}, {"tid", 0}, {"args", {{"sort_index", pid}}}});
    // Row 0: the tracee's whole run, from its start to its exit.
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", 0}, {"args", {{"name", "tracee"}}}});
    if (r.started_ns) {
      json args = {{"scenario", text(r.file)},
                   {"status", status},
                   {"binary", text(r.binary)},
                   {"where", r.where},
                   {"kernel", text(r.kernel)}};
      if (r.exit_code) args["exit_code"] = *r.exit_code;
      if (r.signal) args["signal"] = signal_name(*r.signal);
      if (r.timed_out) args["timed_out"] = true;
      events.push_back({{"ph", "X"},
                        {"name", "tracee"},
                        {"cat", "tracee"},
                        {"pid", pid},
                        {"tid", 0},
                        {"ts", 0.0},
                        {"dur", r.tracee_ms * 1000},
                        {"args", std::move(args)}});
    }
    std::set<int64_t> rows;
    for (const auto& p : r.probes) {
      for (const auto& h : p.hits) {
        const int64_t tid = row_of(h);
        if (rows.insert(tid).second)
          events.push_back({{"ph", "M"},
                            {"name", "thread_name"},
                            {"pid", pid},
                            {"tid", tid},
                            {"args",
                             {{"name", h.goid >= 0 ? fmt::format("goroutine {}", h.goid)
                                                   : fmt::format("thread {} (goroutine unknown)", h.tid)}}}});
        json args = {{"call", h.call}, {"thread", h.tid}};
        if (!h.values.empty()) args[h.site == "ret" ? "results" : "args"] = record::encode_bytes(h.values);
        if (!h.stack.is_null()) args["stack"] = record::encode_bytes(h.stack);
        if (h.site == "ret" && h.duration_ns) {  // a timed call: from its call to this RET
          args["duration_us"] = h.duration_ns / 1000.0;
          events.push_back({{"ph", "X"},
                            {"name", text(p.function)},
                            {"cat", "call"},
                            {"pid", pid},
                            {"tid", tid},
                            {"ts", us_since(h.time_ns - std::min(h.time_ns, h.duration_ns), zero)},
                            {"dur", h.duration_ns / 1000.0},
                            {"args", std::move(args)}});
        } else {
          events.push_back({{"ph", "i"},
                            {"s", "t"},
                            {"name", text(h.site == "ret" ? p.function + " returns" : p.function)},
                            {"cat", h.site},
                            {"pid", pid},
                            {"tid", tid},
                            {"ts", us_since(h.time_ns, zero)},
                            {"args", std::move(args)}});
        }
        if (h.injection) {
          const record::Injection& inj = *h.injection;
          events.push_back(
              {{"ph", "i"},
               {"s", "t"},
               {"name", text(fmt::format("{}: {}", inj.action.empty() ? "inject" : inj.action, p.function))},
               {"cat", "injection"},
               {"pid", pid},
               {"tid", tid},
               {"ts", us_since(h.time_ns, zero)},
               {"args", {{"call", h.call}, {"injection", record::encode_bytes(record::to_json(inj))}}}});
        }
      }
    }
  }
  json doc = {{"traceEvents", std::move(events)},
              {"displayTimeUnit", "ms"},
              {"otherData",
               {{"generator", "bpfault"},
                {"wall_ms", wall_ms},
                {"exit_code", end.exit_code},
                {"interrupted", end.interrupted_by ? json(signal_name(end.interrupted_by)) : json(nullptr)}}}};
  return record::dump(doc) + "\n";
}

Result<void> write_trace_json(const std::filesystem::path& file, const std::vector<record::RunRecord>& records,
                              double wall_ms, const Ending& end) {
  std::ofstream out(file);
  out << trace_json_document(records, wall_ms, end);
  if (!out)
    return fail(ErrorKind::environment, file.string(), "cannot write the trace (--trace-json)",
                "check the folder exists and is writable");
  return {};
}

}  // namespace bpfault::report
