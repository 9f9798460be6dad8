// libFuzzer target: the record -> JSON -> report path with arbitrary bytes where the tracee's
// output and a probe's reads go, and arbitrary bytes as a line of the VM's stream. The JSON
// must parse and give back exactly the bytes; no report may throw or emit a raw control byte.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "report/report.h"

namespace {
using namespace bpfault;

// The input, cut at 0xFE bytes into the fields of a record (missing ones are empty).
std::vector<std::string> fields(const uint8_t* data, size_t size, size_t n) {
  std::vector<std::string> out(n);
  size_t k = 0;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0xFE && k + 1 < n)
      ++k;
    else
      out[k] += static_cast<char>(data[i]);
  }
  return out;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A guest line: anything, never a crash on the host (record_from_json reports bad records).
  auto line = nlohmann::json::parse(data, data + size, nullptr, false);
  if (line.is_object()) (void)record::record_from_json(line);

  auto f = fields(data, size, 7);
  record::RunRecord r;
  r.file = "fuzz.json";
  r.name = f[6];
  r.status = size % 2 ? record::Status::failed : record::Status::passed;
  r.exit_code = 1;
  r.stdout_text = f[0];
  r.stderr_text = f[1];
  record::Hit h;
  h.site = "call";
  h.values = {{"s", f[2]}, {"t", {{"text", f[3]}, {"len", 99}}}, {"k" + f[4], 1}};
  h.injection = record::Injection{.writes = {{.target = "s", .before = f[5], .after = f[2]}}};
  r.probes.push_back({"main.f", 1, 0, 1, {h}, std::nullopt});
  r.verdicts.push_back({"stdout contains", false, f[3], f[0], "/expect/stdout"});
  r.diagnosis = record::Diagnosis{"go_panic", f[1], f[5], false, "", f[1]};

  const std::string text = record::dump(record::to_json(r));
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  check(!parsed.is_discarded());
  auto back = record::record_from_json(parsed);
  check(back.has_value());
  check(back->stdout_text == r.stdout_text && back->stderr_text == r.stderr_text && back->name == r.name);
  check(back->probes.at(0).hits.at(0).values.at("s") == f[2] &&
        back->probes[0].hits[0].values.at("t").at("text") == f[3]);
  check(back->probes[0].hits[0].injection == h.injection);
  check(back->verdicts.at(0).actual == f[0] && back->diagnosis->stderr_tail == f[1]);

  check(!nlohmann::json::parse(report::json_document({r}, 1), nullptr, false).is_discarded());
  const std::string xml = report::junit_document({r}, 1);
  check(record::valid_utf8(xml));
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* out = open_memstream(&buf, &len);
  report::Console(out).scenario_end(r);
  std::fclose(out);
  const std::string console(buf, len);
  std::free(buf);
  check(record::valid_utf8(console));
  for (const std::string* doc : {&xml, &console})
    for (unsigned char c : *doc) check((c >= 0x20 && c != 0x7F) || c == '\n' || c == '\t');
  return 0;
}
