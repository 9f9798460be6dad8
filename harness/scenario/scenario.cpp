#include "scenario/scenario.h"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "scenario/validate.h"

namespace bpfault::scenario {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr size_t kMaxFileBytes = 4 << 20;  // a scenario is a page of JSON; 4 MiB is a mistake

// "line 3, column 5" from a byte offset, for syntax errors
std::string position(const std::string& text, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n')
      ++line, col = 1;
    else
      ++col;
  }
  return fmt::format("{}:{}", line, col);
}

// Nesting deeper than any scenario needs (the deepest key is about 6 levels down) is refused
// while parsing: validating, printing and destroying a value recurse once per level.
constexpr int kMaxDepth = 64;

// Thrown by the parse callback: a duplicate key (JSON allows it; nlohmann keeps the last one,
// so the first would be ignored without a word) or nesting beyond kMaxDepth.
struct Refused {
  std::string pointer, what, hint;
};

// Parses `text`, refusing duplicate keys and deep nesting with the JSON pointer of the object.
json parse_strict(const std::string& text) {
  struct Frame {
    bool array = false;
    std::string key;
    size_t index = 0;
    std::set<std::string> keys;
  };
  std::vector<Frame> frames;
  auto pointer = [&](size_t upto) {
    json::json_pointer p;
    for (size_t i = 0; i < upto; ++i) p = frames[i].array ? p / frames[i].index : p / frames[i].key;
    return p.to_string().empty() ? std::string("/") : p.to_string();
  };
  auto element_done = [&] {
    if (!frames.empty() && frames.back().array) ++frames.back().index;
  };
  return json::parse(text, [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxDepth)
          throw Refused{pointer(frames.size()), fmt::format("nested more than {} levels deep", kMaxDepth),
                        "a scenario is a few levels of objects and arrays; is this the right file?"};
        frames.push_back(Frame{event == json::parse_event_t::array_start, {}, 0, {}});
        break;
      case json::parse_event_t::key:
        frames.back().key = parsed.get<std::string>();
        if (!frames.back().keys.insert(frames.back().key).second)
          throw Refused{pointer(frames.size() - 1), fmt::format("duplicate key \"{}\"", frames.back().key),
                        "JSON readers keep only one of them (nlohmann the last, others the first): keep one"};
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        frames.pop_back();
        element_done();
        break;
      case json::parse_event_t::value:
        element_done();
        break;
    }
    return true;
  });
}

std::vector<std::string> strings(const json& v) {
  if (v.is_string()) return {v.get<std::string>()};
  return v.get<std::vector<std::string>>();
}

TextExpect text_expect(const json& v, std::string pointer) {
  TextExpect t;
  t.pointer = std::move(pointer);
  if (v.contains("contains")) t.contains = strings(v["contains"]);
  if (v.contains("not_contains")) t.not_contains = strings(v["not_contains"]);
  if (v.contains("matches")) t.matches = strings(v["matches"]);
  if (v.contains("equals")) t.equals = v["equals"].get<std::string>();
  return t;
}

// An expected value (README, "Expected values"): objects whose keys start with `$` are operators
// on a string, never mixed with field names; each operator's argument is a string, and a regex
// compiles. Errors point at the operator.
void check_value_pattern(const json& v, const std::string& ptr,
                         const std::function<void(const std::string&, std::string, std::string)>& add) {
  if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) check_value_pattern(v[i], fmt::format("{}/{}", ptr, i), add);
    return;
  }
  if (!v.is_object()) return;
  std::vector<std::string> operators, fields;
  for (auto it = v.begin(); it != v.end(); ++it) (it.key().starts_with('$') ? operators : fields).push_back(it.key());
  if (operators.empty()) {
    for (auto it = v.begin(); it != v.end(); ++it) check_value_pattern(*it, ptr + "/" + it.key(), add);
    return;
  }
  const std::string known = "$prefix (the string starts with it), $matches (an ECMAScript regex found in it)";
  if (!fields.empty())
    add(ptr, fmt::format("operator \"{}\" beside field \"{}\"", operators[0], fields[0]),
        fmt::format("an object with a $ key tests a string; to test a field, nest it: {{\"{}\": {{\"{}\": ...}}}}",
                    fields[0], operators[0]));
  for (const auto& op : operators) {
    const std::string at = ptr + "/" + op;
    if (std::find(std::begin(kValueOperators), std::end(kValueOperators), op) == std::end(kValueOperators)) {
      std::string near;
      for (std::string_view k : kValueOperators)
        if (edit_distance(op, k) <= 2) near = fmt::format("did you mean \"{}\"? ", k);
      add(at, fmt::format("unknown operator \"{}\"", op),
          fmt::format("{}the operators are {}; a key starting with $ is never a field (Go names cannot start with $)",
                      near, known));
      continue;
    }
    if (!v[op].is_string()) {
      add(at, fmt::format("\"{}\" expects a string, got {}", op, v[op].dump()),
          fmt::format("write {{\"{}\": \"...\"}}; for a number or a length, compare it directly: {{\"len\": 44}}", op));
      continue;
    }
    if (op != "$matches") continue;
    try {
      std::regex re(v[op].get<std::string>(), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      add(at, fmt::format("invalid regular expression /{}/: {}", v[op].get<std::string>(), e.what()),
          "the syntax is ECMAScript's (as in JavaScript); escape ( ) [ ] . * + ? with a backslash to match them "
          "literally");
    }
  }
}

// --- attaching to a running process: target.pid, `bpfault run --pid` ---

// The keys of `doc` that only a program bpfault starts has a use for (Target::launch_only).
std::vector<Target::LaunchOnly> launch_only_keys(const json& doc) {
  std::vector<Target::LaunchOnly> out;
  const json& t = doc["target"];
  const std::string keep =
      "drop it: bpfault attaches to the process as it runs (or run the scenario on a program "
      "it starts, without --pid or \"pid\")";
  for (const char* k : {"args", "env", "stdin"})
    if (t.contains(k))
      out.push_back({fmt::format("/target/{}", k),
                     fmt::format("\"{}\" is given to a program bpfault starts; a running process has its own", k),
                     keep});
  if (t.contains("user"))
    out.push_back(
        {"/target/user", "\"user\" is who bpfault starts the program as; a running process has its own", keep});
  if (t.contains("timeout_ms"))
    out.push_back({"/target/timeout_ms",
                   "\"timeout_ms\" limits how long a program bpfault starts may run; a process bpfault attached to "
                   "is never stopped by it",
                   "drop it; the steps' end, `--for DURATION` or Ctrl-C end the attachment"});
  if (t.contains("stop"))
    out.push_back({"/target/stop",
                   "\"stop\" is how bpfault stops a program it started; a process it attached to keeps running "
                   "after bpfault detaches",
                   "drop it; stop the process yourself if you must"});
  for (const char* k : {"go", "goarch", "stripped", "variants"})
    if (t.contains(k))
      out.push_back({fmt::format("/target/{}", k),
                     fmt::format("\"{}\" chooses how bpfault builds the program; a running process runs the "
                                 "executable it was started from",
                                 k),
                     "drop it"});
  if (t.contains("ready"))
    for (const char* k : {"stdout", "stderr"})
      if (t["ready"].contains(k))
        out.push_back({fmt::format("/target/ready/{}", k),
                       fmt::format("readiness by a line of its {}: bpfault does not see the output of a process it "
                                   "did not start",
                                   k),
                       "wait for \"tcp\", \"unix\", \"http\" or \"hit\" instead"});
  if (!doc.contains("expect")) return out;
  const json& e = doc["expect"];
  for (const char* k : {"exit_code", "signal", "hangs"})
    if (e.contains(k))
      out.push_back({fmt::format("/expect/{}", k),
                     fmt::format("\"{}\": bpfault neither ends a process it attached to nor sees how it ends (its "
                                 "parent does)",
                                 k),
                     "drop it; bpfault leaves the process running, and reports it if it ends while attached"});
  for (const char* k : {"stdout", "stderr"})
    if (e.contains(k))
      out.push_back(
          {fmt::format("/expect/{}", k),
           fmt::format("the {} of a process bpfault did not start goes where its parent sent it: bpfault does not "
                       "see it",
                       k),
           "expect a step's \"stdout\", an HTTP step's \"body\", or the recorded values (\"events\")"});
  if (e.contains("tests"))
    out.push_back(
        {"/expect/tests", "Go test results are read from the output of a test binary bpfault runs", "drop it"});
  return out;
}

// --- a service's lifecycle: target.ready, target.stop, steps (README, "Testing a service") ---

void parse_lifecycle(const json& doc, const fs::path& file, Scenario& s) {
  const json& t = doc["target"];
  if (t.contains("ready")) {
    const json& r = t["ready"];
    Ready ready;
    ready.tcp = r.value("tcp", "");
    if (r.contains("unix")) {
      fs::path u = r["unix"].get<std::string>();
      ready.unix_socket = (u.is_absolute() ? u : fs::absolute(file).parent_path() / u).lexically_normal().string();
    }
    ready.http = r.value("http", "");
    ready.http_status = r.value("status", 200);
    ready.stdout_matches = r.value("stdout", "");
    ready.stderr_matches = r.value("stderr", "");
    ready.hit = r.value("hit", "");
    ready.timeout = std::chrono::milliseconds(r.value("timeout_ms", 10000));
    s.target.ready = std::move(ready);
  }
  if (t.contains("stop") || t.contains("ready") || doc.contains("steps")) {
    Stop stop;
    if (t.contains("stop")) {
      const json& st = t["stop"];
      if (st.contains("signal")) stop.signal = signal_number(st["signal"].get<std::string>()).value_or(0);
      stop.grace = std::chrono::milliseconds(st.value("grace_ms", 5000));
    }
    s.target.stop = stop;
  }
  if (doc.contains("files"))
    for (const auto& f : doc["files"]) {
      fs::path p = f.get<std::string>();
      s.files.push_back((p.is_absolute() ? p : fs::absolute(file).parent_path() / p).lexically_normal());
    }
  if (!doc.contains("steps")) return;
  for (size_t i = 0; i < doc["steps"].size(); ++i) {
    const json& j = doc["steps"][i];
    LifecycleStep step;
    step.pointer = fmt::format("/steps/{}", i);
    step.name = j.value("name", "");
    if (j.contains("run")) step.run = j["run"].get<std::vector<std::string>>();
    if (j.contains("http")) {
      const json& h = j["http"];
      HttpRequest req;
      req.method = h.value("method", "GET");
      req.url = h.value("url", "");
      req.body = h.value("body", "");
      if (h.contains("headers")) req.headers = h["headers"].get<std::map<std::string, std::string>>();
      step.http = std::move(req);
    }
    if (j.contains("env")) step.env = j["env"].get<std::map<std::string, std::string>>();
    step.stdin_data = j.value("stdin", "");
    step.timeout = std::chrono::milliseconds(j.value("timeout_ms", 10000));
    if (j.contains("expect")) {
      const json& e = j["expect"];
      if (e.contains("exit_code")) step.expect.exit_code = e["exit_code"].get<int>();
      if (e.contains("status")) step.expect.status = e["status"].get<int>();
      if (e.contains("stdout")) step.expect.stdout_text = text_expect(e["stdout"], step.pointer + "/expect/stdout");
      if (e.contains("stderr")) step.expect.stderr_text = text_expect(e["stderr"], step.pointer + "/expect/stderr");
      if (e.contains("body")) step.expect.body = text_expect(e["body"], step.pointer + "/expect/body");
    }
    s.steps.push_back(std::move(step));
  }
}

// --- a step's own program (README, "Several programs under bpfault") ---

// Moves every JSON pointer of a scenario parsed from a part of its file under `base`.
void rebase(Scenario& s, const std::string& base) {
  auto under = [&](std::string& ptr) {
    if (ptr.starts_with("/")) ptr = base + ptr;
  };
  for (auto& k : s.target.launch_only) under(k.pointer);
  for (auto& p : s.probes) {
    under(p.pointer);
    for (auto& c : p.conditions) under(c.pointer);
    for (auto& st : p.steps) under(st.pointer);
  }
  under(s.expect.stdout_text.pointer);
  under(s.expect.stderr_text.pointer);
  for (auto& ev : s.expect.events) under(ev.pointer);
}

Error rebase(Error e, const std::string& file, const std::string& base) {
  if (e.where.starts_with(file + ":/")) e.where.insert(file.size() + 1, base);
  for (auto& a : e.also) a = rebase(std::move(a), file, base);
  return e;
}

// A step's "program" is a scenario of its own in the same file: its target, probes and expect
// are parsed and checked as a file's would be, their pointers under the step's. It runs to its
// end inside the step, so it has no lifecycle, and attaches to nothing.
void parse_programs(const json& doc, const fs::path& file, Scenario& s, std::vector<Error>& errors) {
  const std::string where = file.string();
  for (auto& step : s.steps) {
    const json& j = doc.at(json::json_pointer(step.pointer));
    if (!j.contains("program")) continue;
    const json& prog = j["program"];
    const std::string base = step.pointer + "/program";
    bool usable = true;
    for (const char* key : {"ready", "stop", "pid", "variants"})
      if (prog["target"].contains(key)) {
        usable = false;
        errors.push_back(
            Error{ErrorKind::bad_input,
                  fmt::format("{}:{}/target/{}", where, base, key),
                  std::string_view(key) == "pid"
                      ? "a step's program is one bpfault starts and runs to its end; it cannot attach to a process"
                  : std::string_view(key) == "variants"
                      ? "a step's program is built once, as its target says; the scenario's variants are its target's"
                      : "a step's program runs to its end inside the step; it is not a service with a lifecycle",
                  std::string_view(key) == "variants" ? "choose its build with \"goarch\" and \"stripped\""
                                                      : "drop it; a service is the scenario's own target",
                  {}});
      }
    if (!usable) continue;
    json sub = {{"version", kVersion}, {"name", step.name}, {"target", prog["target"]}};
    for (const char* key : {"probes", "expect"})
      if (prog.contains(key)) sub[key] = prog[key];
    if (s.seed) sub["seed"] = s.seed;
    auto parsed = parse(sub.dump(), file);
    if (!parsed) {
      errors.push_back(rebase(parsed.error(), where, base));
      continue;
    }
    rebase(*parsed, base);
    step.program = std::make_shared<const Scenario>(std::move(*parsed));
  }
}

// The lifecycle's rules the schema cannot say: one kind of readiness, one kind of step, step
// names unique, `during` and an event's `step` naming steps, regular expressions that compile.
void check_lifecycle(const json& doc, const Scenario& s,
                     const std::function<void(const std::string&, std::string, std::string)>& add) {
  auto regex_ok = [&](const std::string& re, const std::string& ptr) {
    try {
      std::regex compiled(re, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      add(ptr, fmt::format("invalid regular expression /{}/: {}", re, e.what()),
          "the syntax is ECMAScript's (as in JavaScript)");
    }
  };
  const json& t = doc["target"];
  if (t.contains("ready")) {
    const json& r = t["ready"];
    std::vector<std::string> kinds;
    for (const char* k : {"tcp", "unix", "http", "stdout", "stderr", "hit"})
      if (r.contains(k)) kinds.push_back(fmt::format("\"{}\"", k));
    if (kinds.size() != 1)
      add("/target/ready",
          kinds.empty() ? "no readiness is named" : fmt::format("{} are all set", fmt::join(kinds, ", ")),
          "name exactly one: \"tcp\": \"127.0.0.1:8080\", \"unix\": \"app.sock\", \"http\": "
          "\"http://127.0.0.1:8080/health\", "
          "\"stdout\": \"^listening\", \"stderr\": \"...\" or \"hit\": \"main.serve\"");
    if (r.contains("status") && !r.contains("http"))
      add("/target/ready/status", "\"status\" is the answer an \"http\" readiness waits for",
          "add \"http\": URL, or drop it");
    for (const char* k : {"stdout", "stderr"})
      if (r.contains(k)) regex_ok(r[k].get<std::string>(), fmt::format("/target/ready/{}", k));
    if (r.contains("hit") &&
        std::ranges::none_of(s.probes, [&](const Probe& p) { return p.function == s.target.ready->hit; }))
      add("/target/ready/hit",
          fmt::format("readiness waits for a call of {}, but no probe names it", s.target.ready->hit),
          "add a probe of that function (it may only observe): {\"function\": \"...\"}");
    if (r.contains("tcp") && r["tcp"].get<std::string>().rfind(':') == std::string::npos)
      add("/target/ready/tcp", fmt::format("\"{}\" is not HOST:PORT", r["tcp"].get<std::string>()),
          "e.g. 127.0.0.1:8080");
  }
  if (t.contains("stop") && t["stop"].contains("signal") && s.target.stop && s.target.stop->signal == 0)
    add("/target/stop/signal", fmt::format("unknown signal \"{}\"", t["stop"]["signal"].get<std::string>()),
        "a name such as SIGTERM, SIGINT or SIGQUIT");
  for (size_t i = 0; i < s.files.size(); ++i)
    if (std::error_code ec; !fs::exists(s.files[i], ec))
      add(fmt::format("/files/{}", i), fmt::format("{} does not exist", s.files[i].string()),
          "\"files\" are relative to the scenario's folder; the VM gets each at the same path");
  std::set<std::string> names;
  for (const auto& step : s.steps) {
    const json& j = doc.at(json::json_pointer(step.pointer));
    std::vector<std::string> kinds;
    for (const char* k : {"run", "http", "program"})
      if (j.contains(k)) kinds.push_back(fmt::format("\"{}\"", k));
    if (kinds.size() != 1)
      add(step.pointer,
          kinds.empty()       ? std::string("none of \"run\", \"http\" or \"program\" is set")
          : kinds.size() == 2 ? fmt::format("both {} and {} are set", kinds[0], kinds[1])
                              : std::string("\"run\", \"http\" and \"program\" are all set"),
          "a step is a command, \"run\": [\"prog\", \"arg\"] (no shell), a request, \"http\": {\"url\": ...}, or a "
          "Go program under probes of its own, \"program\": {\"target\": ..., \"probes\": ..., \"expect\": ...}");
    if (j.contains("program"))
      for (const char* k : {"env", "stdin", "timeout_ms", "expect"})
        if (j.contains(k))
          add(fmt::format("{}/{}", step.pointer, k), fmt::format("a program step takes \"{}\" from its program", k),
              std::string_view(k) == "expect"
                  ? "move it into \"program\": {\"expect\": ...}"
                  : fmt::format("move it into \"program\": {{\"target\": {{\"{}\": ...}}}}", k));
    if (!names.insert(step.name).second)
      add(step.pointer + "/name", fmt::format("a second step named \"{}\"", step.name),
          "give each step its own name: probes' \"during\" and events' \"step\" refer to it");
    if (step.http && (step.expect.exit_code || !step.expect.stdout_text.empty() || !step.expect.stderr_text.empty()))
      add(step.pointer + "/expect", "an HTTP step has no exit code, stdout or stderr",
          "expect \"status\" and \"body\"");
    if (!step.run.empty() && (step.expect.status || !step.expect.body.empty()))
      add(step.pointer + "/expect", "a command has no HTTP status or body",
          "expect \"exit_code\", \"stdout\", \"stderr\"");
    if (!step.run.empty() && step.run[0].empty())
      add(step.pointer + "/run/0", "the program is empty", "name a program: [\"curl\", \"-sf\", URL]");
    for (const TextExpect* te : {&step.expect.stdout_text, &step.expect.stderr_text, &step.expect.body})
      for (size_t i = 0; i < te->matches.size(); ++i)
        regex_ok(te->matches[i], fmt::format("{}/matches/{}", te->pointer, i));
  }
  for (const auto& p : s.probes)
    for (size_t i = 0; i < p.during.size(); ++i)
      if (!names.contains(p.during[i]))
        add(fmt::format("{}/during/{}", p.pointer, i), fmt::format("no step is named \"{}\"", p.during[i]),
            names.empty() ? std::string("\"during\" arms the probe only in the named steps of \"steps\"")
                          : fmt::format("the steps are: {}", fmt::join(names, ", ")));
  for (const auto& ev : s.expect.events)
    if (!ev.step.empty() && !names.contains(ev.step))
      add(ev.pointer + "/step", fmt::format("no step is named \"{}\"", ev.step),
          names.empty() ? std::string("\"step\" scopes an expectation to one of \"steps\"")
                        : fmt::format("the steps are: {}", fmt::join(names, ", ")));
}

// Rules the schema cannot say. Each error points at the offending value.
void check_semantics(const json& doc, const Scenario& s, const std::string& file, std::vector<Error>& errors) {
  auto add = [&](const std::string& ptr, std::string what, std::string hint) {
    errors.push_back(Error{ErrorKind::bad_input, file + ":" + ptr, std::move(what), std::move(hint), {}});
  };
  const json& t = doc["target"];
  std::vector<std::string> kinds;
  for (const char* k : {"fixture", "binary", "build", "test", "pid"})
    if (t.contains(k)) kinds.push_back(fmt::format("\"{}\"", k));
  if (kinds.size() != 1)
    add("/target",
        kinds.empty()       ? "none of \"fixture\", \"binary\", \"build\", \"test\" or \"pid\" is set"
        : kinds.size() == 2 ? fmt::format("both {} and {} are set", kinds[0], kinds[1])
                            : fmt::format("{} are all set", fmt::join(kinds, ", ")),
        "name exactly one: \"fixture\": \"demo\" builds fixtures/demo; \"binary\": \"path/to/prog\" runs a Go program "
        "you built; "
        "\"build\": {\"module\": \"..\", \"package\": \"./cmd/x\"} builds your package; \"test\": {...} its tests; "
        "\"pid\": 4242 attaches to a process that is already running");
  if (t.contains("pid"))
    if (auto attach = check_attach(s, "\"pid\""); !attach) {
      Error first = attach.error();
      std::vector<Error> rest = std::move(first.also);
      first.also.clear();
      errors.push_back(std::move(first));
      errors.insert(errors.end(), rest.begin(), rest.end());
    }
  if (t.contains("variants") && (t.contains("goarch") || t.contains("stripped")))
    add("/target/variants", "\"variants\" with \"goarch\" or \"stripped\"",
        "list the builds in \"variants\" only: [\"amd64\", \"386\"]");
  if (t.contains("binary") &&
      (t.contains("go") || t.contains("goarch") || t.contains("stripped") || t.contains("variants")))
    add("/target",
        "\"go\", \"goarch\", \"stripped\" and \"variants\" choose how bpfault builds a program; this target is a "
        "prebuilt binary",
        "drop them, or use \"fixture\", \"build\" or \"test\"");
  for (const char* kind : {"build", "test"})
    if (t.contains(kind) && t[kind].contains("env"))
      for (const char* key : {"GOPROXY", "GOFLAGS", "GOTOOLCHAIN", "GOOS", "GOARCH"})
        if (t[kind]["env"].contains(key))
          add(fmt::format("/target/{}/env/{}", kind, key),
              fmt::format("{} is bpfault's to set: it builds offline (GOPROXY=off, never GOFLAGS=-mod=mod), "
                          "with the toolchain and GOARCH the scenario asks for",
                          key),
              "drop it; \"go\" picks the toolchain and \"variants\" the architecture; vendor or download dependencies "
              "beforehand");
  if (t.contains("build") && t["build"].contains("run"))
    add("/target/build/run", "\"run\" selects Go tests; this target is a program",
        "use \"test\" for a package's tests");
  if (!s.expect.tests.empty() && !t.contains("test"))
    add("/expect/tests", "\"tests\" expects Go test results; this target runs no tests",
        "use \"target\": {\"test\": {...}}");
  for (const TextExpect* te : {&s.expect.stdout_text, &s.expect.stderr_text})
    for (size_t i = 0; i < te->matches.size(); ++i) {
      try {
        std::regex re(te->matches[i], std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        std::string ptr =
            te->pointer + "/matches" +
            (doc.at(json::json_pointer(te->pointer + "/matches")).is_array() ? fmt::format("/{}", i) : "");
        add(ptr, fmt::format("invalid regular expression /{}/: {}", te->matches[i], e.what()),
            "the syntax is ECMAScript's (as in JavaScript); escape ( ) [ ] . * + ? with a backslash to match them "
            "literally");
      }
    }
  if (doc.contains("expect") && doc["expect"].contains("signal") && !s.expect.signal)
    add("/expect/signal", fmt::format("unknown signal \"{}\"", doc["expect"]["signal"].get<std::string>()),
        "use a Linux signal name such as SIGKILL, SIGABRT, SIGSEGV, SIGTERM");
  check_lifecycle(doc, s, add);
  if (s.expect.exit_code && s.expect.signal)
    add("/expect", "both \"exit_code\" and \"signal\" are expected; a process either exits or is killed", "keep one");
  if (s.expect.hangs && (s.expect.exit_code || s.expect.signal))
    add("/expect/hangs",
        fmt::format("\"hangs\" expects the program still running when its timeout passes, and \"{}\" expects it to end",
                    s.expect.exit_code ? "exit_code" : "signal"),
        "keep one");
  if (s.expect.hangs && doc["target"].contains("stop"))
    add("/expect/hangs",
        "\"hangs\" is for a program that should end by itself; a service (\"stop\") runs until bpfault stops it",
        "expect a step to time out instead (its \"timeout_ms\" and the record's step error)");
  for (const auto& ev : s.expect.events) {
    bool probed = false;
    for (const auto& p : s.probes) probed |= p.function == ev.function;
    if (!probed)
      add(ev.pointer + "/function", fmt::format("events of {} are expected, but no probe names it", ev.function),
          fmt::format("add {{\"function\": \"{}\"}} to \"probes\"", ev.function));
    if ((ev.injected || !ev.args_before.empty() || !ev.args_after.empty() || !ev.results_before.empty() ||
         !ev.results_after.empty()) &&
        probed) {
      bool injects = false;
      for (const auto& p : s.probes) injects |= p.function == ev.function && p.injects();
      if (!injects)
        add(ev.pointer, fmt::format("injections into {} are expected, but its probe injects nothing", ev.function),
            "add set_args, set_results, return, crash, delay_ms or term to the probe");
    }
    for (const auto& p : s.probes) {
      if (p.function != ev.function) continue;
      if (!ev.stack.empty() && !p.stack)
        add(ev.pointer + "/stack", "stacks are compared but not recorded",
            fmt::format("add \"stack\": true to the probe on {}", ev.function));
      if (!ev.latency.empty() && !p.latency)
        add(ev.pointer + "/latency", "latency is compared but not measured",
            fmt::format("add \"latency\": true to the probe on {}", ev.function));
    }
    for (auto [values, key] :
         {std::pair{&ev.args, "args"}, std::pair{&ev.results, "results"}, std::pair{&ev.args_before, "args_before"},
          std::pair{&ev.args_after, "args_after"}, std::pair{&ev.results_before, "results_before"},
          std::pair{&ev.results_after, "results_after"}})
      for (const auto& [name, v] : *values) check_value_pattern(v, fmt::format("{}/{}/{}", ev.pointer, key, name), add);
    if (ev.call || ev.some_call) {
      const std::string which = ev.some_call ? "\"call\": \"some\"" : fmt::format("\"call\": {}", *ev.call);
      const json& entry = doc.at(json::json_pointer(ev.pointer));
      for (const char* k : {"count", "min_count", "max_count", "injected", "stack", "latency"})
        if (entry.contains(k))
          add(ev.pointer + "/" + k,
              fmt::format("\"{}\" with {}: {} checks the values of {}, \"{}\" is about every call", k, which, which,
                          ev.some_call ? "one call at least" : "one call", k),
              fmt::format("move \"{}\" to another entry for {} (one without \"call\")", k, ev.function));
      if (ev.args.empty() && ev.results.empty() && ev.args_before.empty() && ev.args_after.empty() &&
          ev.results_before.empty() && ev.results_after.empty())
        add(ev.pointer + "/call", fmt::format("{} with no values to check", which),
            "add \"args\", \"results\", \"args_before\", \"args_after\", \"results_before\" or "
            "\"results_after\"; to count calls, use \"count\" without \"call\"");
    }
    if (ev.count && (ev.min_count || ev.max_count))
      add(ev.pointer, "\"count\" with \"min_count\"/\"max_count\"",
          "an exact count already bounds both sides: keep one");
    if (ev.min_count && ev.max_count && *ev.min_count > *ev.max_count)
      add(ev.pointer, fmt::format("min_count {} is above max_count {}", *ev.min_count, *ev.max_count), "");
    for (const auto* values : {&ev.args, &ev.results})
      for (const auto& [name, v] : *values) {
        bool recorded = false;
        for (const auto& p : s.probes)
          if (p.function == ev.function)
            for (const auto& r : p.record) recorded |= r == name;
        if (!recorded && probed)
          add(ev.pointer + (values == &ev.args ? "/args/" : "/results/") + name,
              fmt::format("\"{}\" is compared but not recorded", name),
              fmt::format("add \"{}\" to \"record\" of the probe on {}", name, ev.function));
      }
    // the injection record keeps arguments and results whole, by name: a field path there would
    // compare to nothing (null) and pass or fail for the wrong reason
    for (auto [values, key] :
         {std::pair{&ev.args_before, "args_before"}, std::pair{&ev.args_after, "args_after"},
          std::pair{&ev.results_before, "results_before"}, std::pair{&ev.results_after, "results_after"}})
      for (const auto& [name, v] : *values)
        if (name.find('.') != std::string::npos)
          add(fmt::format("{}/{}/{}", ev.pointer, key, name),
              fmt::format("\"{}\" names a field: {} compares whole values by name", name, key),
              fmt::format("compare the whole value of \"{}\" (a struct passed by value records its fields), or check "
                          "the field through the program's output",
                          name.substr(0, name.find('.'))));
  }
  for (size_t i = 0; i < s.probes.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (s.probes[i].function == s.probes[j].function)
        add(s.probes[i].pointer + "/function",
            fmt::format("{} is probed twice (also at {})", s.probes[i].function, s.probes[j].pointer),
            "merge the two probes into one");
}

std::map<std::string, Assigned> assignments(const json& v) {
  std::map<std::string, Assigned> out;
  for (auto it = v.begin(); it != v.end(); ++it) {
    Assigned a;
    if (it->is_object()) {
      if (it->contains("len")) a.len = (*it)["len"].get<uint64_t>();
      if (it->contains("bytes")) a.bytes = (*it)["bytes"].get<std::string>();
      if (it->contains("errno")) a.errno_name = (*it)["errno"].get<std::string>();
    } else {
      a.value = *it;
    }
    out[it.key()] = std::move(a);
  }
  return out;
}

// The probe's injection: "when" conditions, and either the structured actions (one step) or a
// failpoint term (a chain of steps). Returns an error with an empty `what` when all is well.
Error parse_injection(const json& p, Probe& probe, const std::string& file) {
  auto error = [&](const std::string& ptr, std::string what, std::string hint) {
    return Error{ErrorKind::bad_input, file + ":" + probe.pointer + ptr, std::move(what), std::move(hint), {}};
  };
  const json when = p.value("when", json::object());
  if (when.contains("args"))
    for (auto it = when["args"].begin(); it != when["args"].end(); ++it)
      for (auto op = it->begin(); op != it->end(); ++op)
        probe.conditions.push_back(
            {it.key(), op.key(), *op, fmt::format("{}/when/args/{}/{}", probe.pointer, it.key(), op.key())});
  probe.caller = when.value("caller", "");
  if (when.contains("goroutine")) {
    if (when["goroutine"].is_string())
      probe.goroutine_first = true;
    else
      probe.goroutine = when["goroutine"].get<int64_t>();
  }
  const char* actions[] = {"set_args", "set_results", "return", "crash", "delay_ms", "term"};
  std::vector<std::string> given;
  for (const char* a : actions)
    if (p.contains(a)) given.push_back(a);
  bool picks = when.contains("nth") || when.contains("every") || when.contains("times") || when.contains("probability");
  if (given.empty()) {
    if (p.contains("when"))
      return error("/when", "\"when\" without anything to inject",
                   "add set_args, set_results, return, crash, delay_ms or term");
    return {};
  }
  if (p.contains("term")) {
    if (given.size() > 1)
      return error("/term", fmt::format("\"term\" with {}", given[0] == "term" ? given[1] : given[0]),
                   "a term says everything it does: keep one form");
    if (picks)
      return error("/when", "nth/every/times/probability with a \"term\"",
                   "the term carries its own: 50%3*return(io.EOF) is 50 %, at most 3 times");
    auto steps = parse_term(p["term"], file + ":" + probe.pointer + "/term");
    if (!steps) return steps.error();
    probe.steps = std::move(*steps);
    for (auto& st : probe.steps) st.pointer = probe.pointer + "/term";  // a pointer, as every Step's (not the place)
    return {};
  }
  bool writes = p.contains("set_args") || p.contains("set_results");
  if (p.contains("return") && p.contains("set_args"))
    return error("/set_args", "set_args with return: the body does not run, so the arguments do not matter",
                 "keep one");
  if ((p.contains("crash") || p.contains("delay_ms")) &&
      (writes || p.contains("return") || (p.contains("crash") && p.contains("delay_ms"))))
    return error("", fmt::format("{} together", fmt::join(given, " and ")),
                 "one probe does one thing: use a term chain, or two scenarios");
  Step step;
  step.pointer = probe.pointer;
  step.nth = when.value("nth", uint64_t{0});
  step.every = when.value("every", uint64_t{0});
  step.times = when.value("times", uint64_t{0});
  step.probability = when.value("probability", 100.0);
  if (p.contains("crash")) {
    auto sig = signal_number(p["crash"].get<std::string>());
    if (!sig)
      return error("/crash", fmt::format("unknown signal \"{}\"", p["crash"].get<std::string>()),
                   "use a Linux signal name such as SIGKILL or SIGABRT");
    step.action = Step::Action::signal;
    step.signal = *sig;
  } else if (p.contains("delay_ms")) {
    step.action = Step::Action::delay;
    step.delay_ms = p["delay_ms"].get<uint32_t>();
  } else {
    step.action = Step::Action::write;
    if (p.contains("set_args")) step.set_args = assignments(p["set_args"]);
    if (p.contains("set_results")) step.set_results = assignments(p["set_results"]);
    if (p.contains("return")) {
      step.early_return = true;
      step.set_results = assignments(p["return"]);
    }
  }
  probe.steps.push_back(std::move(step));
  return {};
}

}  // namespace

Result<Scenario> parse(const std::string& text, const fs::path& file) {
  const std::string where = file.string();
  json doc;
  try {
    doc = parse_strict(text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    auto colon = what.find("syntax error");
    return fail(
        ErrorKind::bad_input, where + ":" + position(text, e.byte ? e.byte - 1 : 0),
        "invalid JSON: " + (colon == std::string::npos ? what : what.substr(colon)),
        what.find("UTF-8") != std::string::npos
            ? "save the file as UTF-8"
            : "a scenario is one JSON object; check for a missing comma, quote or bracket just before this point");
  } catch (const Refused& r) {
    return fail(ErrorKind::bad_input, where + ":" + r.pointer, r.what, r.hint);
  } catch (const json::exception& e) {  // a number out of range (1e999) and the like
    std::string what = e.what();
    auto close = what.find("] ");
    return fail(ErrorKind::bad_input, where,
                "invalid JSON: " + (close == std::string::npos ? what : what.substr(close + 2)),
                "numbers must fit in a double (and integers in 64 bits)");
  }
  if (!doc.is_object())
    return fail(ErrorKind::bad_input, where + ":/", fmt::format("expected a JSON object, got {}", doc.type_name()),
                "a scenario starts with { \"version\": 1, \"name\": ..., \"target\": ... }");
  if (doc.contains("version") && doc["version"] != kVersion)
    return fail(ErrorKind::bad_input, where + ":/version", fmt::format("expected 1, got {}", doc["version"].dump()),
                "this bpfault reads scenario format version 1; a newer file needs a newer bpfault");
  std::vector<Error> errors = validate_schema(doc, where);
  if (!errors.empty()) {
    Error first = errors.front();
    first.also.assign(errors.begin() + 1, errors.end());
    return tl::unexpected(first);
  }

  Scenario s;
  s.file = file;
  s.name = doc["name"];
  s.description = doc.value("description", "");
  s.seed = doc.value("seed", uint64_t{0});
  const json& t = doc["target"];
  s.target.fixture = t.value("fixture", "");
  if (t.contains("binary")) {
    fs::path b = t["binary"].get<std::string>();
    s.target.binary = b.is_absolute() ? b : fs::absolute(file).parent_path() / b;
  }
  for (const char* kind : {"build", "test"}) {
    if (!t.contains(kind)) continue;
    const json& b = t[kind];
    GoBuild g;
    fs::path m = b["module"].get<std::string>();
    g.module = (m.is_absolute() ? m : fs::absolute(file).parent_path() / m).lexically_normal();
    g.package = b.value("package", ".");
    if (b.contains("tags")) g.tags = b["tags"].get<std::vector<std::string>>();
    g.ldflags = b.value("ldflags", "");
    g.gcflags = b.value("gcflags", "");
    g.buildmode = b.value("buildmode", "");
    if (b.contains("env")) g.env = b["env"].get<std::map<std::string, std::string>>();
    g.test = std::string_view(kind) == "test";
    g.run = b.value("run", "");
    s.target.build = std::move(g);
  }
  if (t.contains("args")) s.target.args = t["args"].get<std::vector<std::string>>();
  if (t.contains("env")) s.target.env = t["env"].get<std::map<std::string, std::string>>();
  s.target.stdin_data = t.value("stdin", "");
  s.target.timeout = std::chrono::milliseconds(t.value("timeout_ms", 10000));
  s.target.go = t.value("go", "");
  s.target.goarch = t.value("goarch", "amd64");
  s.target.stripped = t.value("stripped", false);
  s.target.user = t.value("user", "");
  s.target.pid = t.value("pid", 0);
  s.target.launch_only = launch_only_keys(doc);
  if (t.contains("variants")) {
    s.target.variants = t["variants"].get<std::vector<std::string>>();
    apply_variant(s.target, s.target.variants.front());
  } else {
    s.target.variants = {variant_name(s.target.goarch, s.target.stripped)};
  }
  parse_lifecycle(doc, file, s);
  parse_programs(doc, file, s, errors);
  if (doc.contains("probes"))
    for (size_t i = 0; i < doc["probes"].size(); ++i) {
      const json& p = doc["probes"][i];
      Probe probe;
      probe.function = p["function"];
      probe.pointer = fmt::format("/probes/{}", i);
      if (p.contains("record")) probe.record = p["record"].get<std::vector<std::string>>();
      probe.stack = p.value("stack", false);
      probe.latency = p.value("latency", false);
      if (p.contains("during")) probe.during = p["during"].get<std::vector<std::string>>();
      if (auto err = parse_injection(p, probe, where); !err.what.empty()) errors.push_back(std::move(err));
      s.probes.push_back(std::move(probe));
    }
  if (doc.contains("expect")) {
    const json& e = doc["expect"];
    if (e.contains("exit_code")) s.expect.exit_code = e["exit_code"].get<int>();
    if (e.contains("tests")) s.expect.tests = e["tests"].get<std::map<std::string, std::string>>();
    if (e.contains("signal")) s.expect.signal = signal_number(e["signal"].get<std::string>());
    s.expect.hangs = e.value("hangs", false);
    if (e.contains("stdout")) s.expect.stdout_text = text_expect(e["stdout"], "/expect/stdout");
    if (e.contains("stderr")) s.expect.stderr_text = text_expect(e["stderr"], "/expect/stderr");
    if (e.contains("events"))
      for (size_t i = 0; i < e["events"].size(); ++i) {
        const json& v = e["events"][i];
        EventExpect ev;
        ev.function = v["function"];
        ev.pointer = fmt::format("/expect/events/{}", i);
        if (v.contains("call")) {
          if (v["call"].is_string())
            ev.some_call = true;
          else
            ev.call = v["call"].get<uint64_t>();
        }
        if (v.contains("count")) ev.count = v["count"].get<uint64_t>();
        if (v.contains("min_count")) ev.min_count = v["min_count"].get<uint64_t>();
        if (v.contains("max_count")) ev.max_count = v["max_count"].get<uint64_t>();
        if (v.contains("args")) ev.args = v["args"].get<std::map<std::string, json>>();
        if (v.contains("results")) ev.results = v["results"].get<std::map<std::string, json>>();
        if (v.contains("injected")) ev.injected = v["injected"].get<uint64_t>();
        if (v.contains("args_before")) ev.args_before = v["args_before"].get<std::map<std::string, json>>();
        if (v.contains("args_after")) ev.args_after = v["args_after"].get<std::map<std::string, json>>();
        if (v.contains("results_before")) ev.results_before = v["results_before"].get<std::map<std::string, json>>();
        if (v.contains("results_after")) ev.results_after = v["results_after"].get<std::map<std::string, json>>();
        if (v.contains("stack")) ev.stack = v["stack"].get<std::vector<std::string>>();
        if (v.contains("latency")) ev.latency = v["latency"].get<std::map<std::string, double>>();
        ev.step = v.value("step", "");
        s.expect.events.push_back(std::move(ev));
      }
  }
  check_semantics(doc, s, where, errors);
  if (!errors.empty()) {
    Error first = errors.front();
    first.also.assign(errors.begin() + 1, errors.end());
    return tl::unexpected(first);
  }
  return s;
}

Result<void> check_attach(const Scenario& s, const std::string& how) {
  std::vector<Error> errors;
  for (const auto& k : s.target.launch_only)
    errors.push_back(Error{ErrorKind::bad_input,
                           s.file.string() + ":" + k.pointer,
                           fmt::format("{} (this scenario attaches to a running process: {})", k.why, how),
                           k.hint,
                           {}});
  if (errors.empty()) return {};
  Error first = errors.front();
  first.also.assign(errors.begin() + 1, errors.end());
  return tl::unexpected(first);
}

Result<Scenario> load(const fs::path& file) {
  std::error_code ec;
  const auto st = fs::status(file, ec);
  if (st.type() == fs::file_type::not_found)
    return fail(ErrorKind::bad_input, file.string(), "no such file", "check the path");
  if (ec)
    return fail(ErrorKind::bad_input, file.string(), fmt::format("cannot read: {}", ec.message()),
                "check the path and its permissions");
  if (st.type() == fs::file_type::directory)
    return fail(ErrorKind::bad_input, file.string(), "is a folder, not a scenario file", "");
  // A FIFO would block and /dev/zero never end: only regular files are read.
  if (st.type() != fs::file_type::regular)
    return fail(ErrorKind::bad_input, file.string(), "not a regular file", "a scenario is a .json file");
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return fail(ErrorKind::bad_input, file.string(), fmt::format("cannot read: {}", strerror(errno)),
                "check its permissions");
  std::string text;
  char buf[65536];
  // Read at most one byte past the limit: the size is checked on what was read, not on a
  // stat that a growing file would outrun.
  while (text.size() <= kMaxFileBytes && in.read(buf, sizeof buf).gcount() > 0)
    text.append(buf, static_cast<size_t>(in.gcount()));
  if (in.bad()) return fail(ErrorKind::bad_input, file.string(), fmt::format("cannot read: {}", strerror(errno)), "");
  if (text.size() > kMaxFileBytes) {
    auto size = fs::file_size(file, ec);
    return fail(
        ErrorKind::bad_input, file.string(),
        fmt::format("{} bytes is too big for a scenario (limit {} bytes)", ec ? text.size() : size, kMaxFileBytes),
        "is this the right file?");
  }
  return parse(text, file);
}

namespace {

bool is_data_not_scenario(const fs::path& file) {
  std::ifstream in(file);
  auto j = nlohmann::json::parse(in, nullptr, false);
  return !j.is_discarded() && j.is_object() && !j.contains("version");  // a file that does not parse is reported
}

Result<std::vector<fs::path>> under(const std::string& arg, std::vector<fs::path>* data_files) {
  const std::string dir = arg == "..." ? "." : arg.substr(0, arg.size() - 4);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail(ErrorKind::bad_input, arg, fmt::format("{} is not a folder", dir),
                "DIR/... : every scenario under DIR");
  std::vector<fs::path> found;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (it->is_directory(ec)) {
      if (n == "testdata" || n == "vendor" || n.starts_with(".") || n.starts_with("_")) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && n.size() > 5 && n.ends_with(".json") && !n.ends_with(".schema.json")) {
      if (!is_data_not_scenario(it->path()))
        found.push_back(it->path());
      else if (data_files)
        data_files->push_back(it->path());
    }
  }
  if (ec) return fail(ErrorKind::bad_input, arg, fmt::format("cannot read the folder: {}", ec.message()));
  std::sort(found.begin(), found.end());
  if (found.empty()) return fail(ErrorKind::bad_input, arg, "no *.json scenario files under this folder");
  return found;
}

}  // namespace

Result<std::vector<fs::path>> expand(const std::vector<std::string>& args, std::vector<fs::path>* data_files) {
  std::vector<fs::path> out;
  for (const auto& a : args) {
    std::error_code ec;
    if (a == "..." || a.ends_with("/...")) {
      auto found = under(a, data_files);
      if (!found) return tl::unexpected(found.error());
      out.insert(out.end(), found->begin(), found->end());
    } else if (fs::is_directory(a, ec)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::directory_iterator(a, ec)) {
        std::string n = e.path().filename().string();
        if (!e.is_regular_file() || n.size() <= 5 || !n.ends_with(".json") || n.ends_with(".schema.json")) continue;
        if (!is_data_not_scenario(e.path()))
          found.push_back(e.path());
        else if (data_files)
          data_files->push_back(e.path());
      }
      std::sort(found.begin(), found.end());
      if (found.empty()) return fail(ErrorKind::bad_input, a, "no *.json scenario files in this folder", "");
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.emplace_back(a);  // a missing file is reported by load(), with the rest of the suite still run
    }
  }
  return out;
}

std::string Ready::describe() const {
  if (!tcp.empty()) return fmt::format("a TCP connection to {}", tcp);
  if (!unix_socket.empty()) return fmt::format("a connection to the unix socket {}", unix_socket);
  if (!http.empty()) return fmt::format("GET {} to answer {}", http, http_status);
  if (!stdout_matches.empty()) return fmt::format("a line of stdout matching /{}/", stdout_matches);
  if (!stderr_matches.empty()) return fmt::format("a line of stderr matching /{}/", stderr_matches);
  return fmt::format("a call of {}", hit);
}

std::string variant_name(const std::string& goarch, bool stripped) { return goarch + (stripped ? "-stripped" : ""); }

void apply_variant(Target& t, const std::string& variant) {
  t.stripped = variant.ends_with("-stripped");
  t.goarch = t.stripped ? variant.substr(0, variant.size() - 9) : variant;
}

std::optional<int> signal_number(std::string_view name) {
  for (int sig = 1; sig < NSIG; ++sig)
    if (const char* abbrev = sigabbrev_np(sig); abbrev && name == fmt::format("SIG{}", abbrev)) return sig;
  return std::nullopt;
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

}  // namespace bpfault::scenario
