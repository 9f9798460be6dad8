#include "scenario/scenario.h"

#include <csignal>
#include <cstring>
#include <fstream>
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
    if (text[i] == '\n') ++line, col = 1;
    else ++col;
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

// Rules the schema cannot say. Each error points at the offending value.
void check_semantics(const json& doc, const Scenario& s, const std::string& file, std::vector<Error>& errors) {
  auto add = [&](const std::string& ptr, std::string what, std::string hint) {
    errors.push_back(Error{ErrorKind::bad_input, file + ":" + ptr, std::move(what), std::move(hint), {}});
  };
  const json& t = doc["target"];
  if (t.contains("fixture") == t.contains("binary"))
    add("/target", t.contains("fixture") ? "both \"fixture\" and \"binary\" are set" : "neither \"fixture\" nor \"binary\" is set",
        "name exactly one: \"fixture\": \"demo\" builds fixtures/demo; \"binary\": \"path/to/prog\" runs a Go program you built");
  if (t.contains("variants") && (t.contains("goarch") || t.contains("stripped")))
    add("/target/variants", "\"variants\" with \"goarch\" or \"stripped\"", "list the builds in \"variants\" only: [\"amd64\", \"386\"]");
  if (t.contains("binary") && (t.contains("go") || t.contains("goarch") || t.contains("stripped") || t.contains("variants")))
    add("/target", "\"go\", \"goarch\", \"stripped\" and \"variants\" choose how a fixture is built; this target is a prebuilt binary",
        "drop them, or use \"fixture\"");
  for (const TextExpect* te : {&s.expect.stdout_text, &s.expect.stderr_text})
    for (size_t i = 0; i < te->matches.size(); ++i) {
      try {
        std::regex re(te->matches[i], std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        std::string ptr = te->pointer + "/matches" + (doc.at(json::json_pointer(te->pointer + "/matches")).is_array() ? fmt::format("/{}", i) : "");
        add(ptr, fmt::format("invalid regular expression /{}/: {}", te->matches[i], e.what()),
            "the syntax is ECMAScript's (as in JavaScript); escape ( ) [ ] . * + ? with a backslash to match them literally");
      }
    }
  if (doc.contains("expect") && doc["expect"].contains("signal") && !s.expect.signal)
    add("/expect/signal", fmt::format("unknown signal \"{}\"", doc["expect"]["signal"].get<std::string>()),
        "use a Linux signal name such as SIGKILL, SIGABRT, SIGSEGV, SIGTERM");
  if (s.expect.exit_code && s.expect.signal)
    add("/expect", "both \"exit_code\" and \"signal\" are expected; a process either exits or is killed", "keep one");
  for (const auto& ev : s.expect.events) {
    bool probed = false;
    for (const auto& p : s.probes) probed |= p.function == ev.function;
    if (!probed)
      add(ev.pointer + "/function", fmt::format("events of {} are expected, but no probe names it", ev.function),
          fmt::format("add {{\"function\": \"{}\"}} to \"probes\"", ev.function));
    if ((ev.injected || !ev.args_before.empty() || !ev.args_after.empty()) && probed) {
      bool injects = false;
      for (const auto& p : s.probes) injects |= p.function == ev.function && p.injects();
      if (!injects)
        add(ev.pointer, fmt::format("injections into {} are expected, but its probe injects nothing", ev.function),
            "add set_args, set_results, return, crash, delay_ms or term to the probe");
    }
    for (const auto& p : s.probes) {
      if (p.function != ev.function) continue;
      if (!ev.stack.empty() && !p.stack)
        add(ev.pointer + "/stack", "stacks are compared but not recorded", fmt::format("add \"stack\": true to the probe on {}", ev.function));
      if (!ev.latency.empty() && !p.latency)
        add(ev.pointer + "/latency", "latency is compared but not measured", fmt::format("add \"latency\": true to the probe on {}", ev.function));
    }
    if (ev.count && (ev.min_count || ev.max_count))
      add(ev.pointer, "\"count\" with \"min_count\"/\"max_count\"", "an exact count already bounds both sides: keep one");
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
  }
  for (size_t i = 0; i < s.probes.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (s.probes[i].function == s.probes[j].function)
        add(s.probes[i].pointer + "/function", fmt::format("{} is probed twice (also at {})", s.probes[i].function, s.probes[j].pointer),
            "merge the two probes into one");
}

std::map<std::string, Assigned> assignments(const json& v) {
  std::map<std::string, Assigned> out;
  for (auto it = v.begin(); it != v.end(); ++it) {
    Assigned a;
    if (it->is_object()) {
      if (it->contains("len")) a.len = (*it)["len"].get<uint64_t>();
      if (it->contains("bytes")) a.bytes = (*it)["bytes"].get<std::string>();
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
        probe.conditions.push_back({it.key(), op.key(), *op, fmt::format("{}/when/args/{}/{}", probe.pointer, it.key(), op.key())});
  probe.caller = when.value("caller", "");
  if (when.contains("goroutine")) {
    if (when["goroutine"].is_string()) probe.goroutine_first = true;
    else probe.goroutine = when["goroutine"].get<int64_t>();
  }
  const char* actions[] = {"set_args", "set_results", "return", "crash", "delay_ms", "term"};
  std::vector<std::string> given;
  for (const char* a : actions)
    if (p.contains(a)) given.push_back(a);
  bool picks = when.contains("nth") || when.contains("every") || when.contains("times") || when.contains("probability");
  if (given.empty()) {
    if (p.contains("when")) return error("/when", "\"when\" without anything to inject", "add set_args, set_results, return, crash, delay_ms or term");
    return {};
  }
  if (p.contains("term")) {
    if (given.size() > 1) return error("/term", fmt::format("\"term\" with {}", given[0] == "term" ? given[1] : given[0]), "a term says everything it does: keep one form");
    if (picks) return error("/when", "nth/every/times/probability with a \"term\"", "the term carries its own: 50%3*return(io.EOF) is 50 %, at most 3 times");
    auto steps = parse_term(p["term"], file + ":" + probe.pointer + "/term");
    if (!steps) return steps.error();
    probe.steps = std::move(*steps);
    return {};
  }
  bool writes = p.contains("set_args") || p.contains("set_results");
  if (p.contains("return") && p.contains("set_args"))
    return error("/set_args", "set_args with return: the body does not run, so the arguments do not matter", "keep one");
  if ((p.contains("crash") || p.contains("delay_ms")) && (writes || p.contains("return") || (p.contains("crash") && p.contains("delay_ms"))))
    return error("", fmt::format("{} together", fmt::join(given, " and ")), "one probe does one thing: use a term chain, or two scenarios");
  Step step;
  step.pointer = probe.pointer;
  step.nth = when.value("nth", uint64_t{0});
  step.every = when.value("every", uint64_t{0});
  step.times = when.value("times", uint64_t{0});
  step.probability = when.value("probability", 100.0);
  if (p.contains("crash")) {
    auto sig = signal_number(p["crash"].get<std::string>());
    if (!sig) return error("/crash", fmt::format("unknown signal \"{}\"", p["crash"].get<std::string>()), "use a Linux signal name such as SIGKILL or SIGABRT");
    step.action = Step::Action::signal;
    step.signal = *sig;
  } else if (p.contains("delay_ms")) {
    step.action = Step::Action::pause;
    step.pause_ms = p["delay_ms"].get<uint32_t>();
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
    return fail(ErrorKind::bad_input, where + ":" + position(text, e.byte ? e.byte - 1 : 0),
                "invalid JSON: " + (colon == std::string::npos ? what : what.substr(colon)),
                what.find("UTF-8") != std::string::npos ? "save the file as UTF-8"
                : "a scenario is one JSON object; check for a missing comma, quote or bracket just before this point");
  } catch (const Refused& r) {
    return fail(ErrorKind::bad_input, where + ":" + r.pointer, r.what, r.hint);
  } catch (const json::exception& e) {  // a number out of range (1e999) and the like
    std::string what = e.what();
    auto close = what.find("] ");
    return fail(ErrorKind::bad_input, where, "invalid JSON: " + (close == std::string::npos ? what : what.substr(close + 2)),
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
  const json& t = doc["target"];
  s.target.fixture = t.value("fixture", "");
  if (t.contains("binary")) {
    fs::path b = t["binary"].get<std::string>();
    s.target.binary = b.is_absolute() ? b : fs::absolute(file).parent_path() / b;
  }
  if (t.contains("args")) s.target.args = t["args"].get<std::vector<std::string>>();
  if (t.contains("env")) s.target.env = t["env"].get<std::map<std::string, std::string>>();
  s.target.stdin_data = t.value("stdin", "");
  s.target.timeout = std::chrono::milliseconds(t.value("timeout_ms", 10000));
  s.target.go = t.value("go", "");
  s.target.goarch = t.value("goarch", "amd64");
  s.target.stripped = t.value("stripped", false);
  s.target.user = t.value("user", "");
  if (t.contains("variants")) {
    s.target.variants = t["variants"].get<std::vector<std::string>>();
    apply_variant(s.target, s.target.variants.front());
  } else {
    s.target.variants = {variant_name(s.target.goarch, s.target.stripped)};
  }
  if (doc.contains("probes"))
    for (size_t i = 0; i < doc["probes"].size(); ++i) {
      const json& p = doc["probes"][i];
      Probe probe;
      probe.function = p["function"];
      probe.pointer = fmt::format("/probes/{}", i);
      if (p.contains("record")) probe.record = p["record"].get<std::vector<std::string>>();
      probe.stack = p.value("stack", false);
      probe.latency = p.value("latency", false);
      if (auto err = parse_injection(p, probe, where); !err.what.empty()) errors.push_back(std::move(err));
      s.probes.push_back(std::move(probe));
    }
  if (doc.contains("expect")) {
    const json& e = doc["expect"];
    if (e.contains("exit_code")) s.expect.exit_code = e["exit_code"].get<int>();
    if (e.contains("signal")) s.expect.signal = signal_number(e["signal"].get<std::string>());
    if (e.contains("stdout")) s.expect.stdout_text = text_expect(e["stdout"], "/expect/stdout");
    if (e.contains("stderr")) s.expect.stderr_text = text_expect(e["stderr"], "/expect/stderr");
    if (e.contains("events"))
      for (size_t i = 0; i < e["events"].size(); ++i) {
        const json& v = e["events"][i];
        EventExpect ev;
        ev.function = v["function"];
        ev.pointer = fmt::format("/expect/events/{}", i);
        if (v.contains("count")) ev.count = v["count"].get<uint64_t>();
        if (v.contains("min_count")) ev.min_count = v["min_count"].get<uint64_t>();
        if (v.contains("max_count")) ev.max_count = v["max_count"].get<uint64_t>();
        if (v.contains("args")) ev.args = v["args"].get<std::map<std::string, json>>();
        if (v.contains("results")) ev.results = v["results"].get<std::map<std::string, json>>();
        if (v.contains("injected")) ev.injected = v["injected"].get<uint64_t>();
        if (v.contains("args_before")) ev.args_before = v["args_before"].get<std::map<std::string, json>>();
        if (v.contains("args_after")) ev.args_after = v["args_after"].get<std::map<std::string, json>>();
        if (v.contains("stack")) ev.stack = v["stack"].get<std::vector<std::string>>();
        if (v.contains("latency")) ev.latency = v["latency"].get<std::map<std::string, double>>();
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

Result<Scenario> load(const fs::path& file) {
  std::error_code ec;
  const auto st = fs::status(file, ec);
  if (st.type() == fs::file_type::not_found) return fail(ErrorKind::bad_input, file.string(), "no such file", "check the path");
  if (ec) return fail(ErrorKind::bad_input, file.string(), fmt::format("cannot read: {}", ec.message()), "check the path and its permissions");
  if (st.type() == fs::file_type::directory) return fail(ErrorKind::bad_input, file.string(), "is a folder, not a scenario file", "");
  // A FIFO would block and /dev/zero never end: only regular files are read.
  if (st.type() != fs::file_type::regular)
    return fail(ErrorKind::bad_input, file.string(), "not a regular file", "a scenario is a .json file");
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(ErrorKind::bad_input, file.string(), fmt::format("cannot read: {}", strerror(errno)), "check its permissions");
  std::string text;
  char buf[65536];
  // Read at most one byte past the limit: the size is checked on what was read, not on a
  // stat that a growing file would outrun.
  while (text.size() <= kMaxFileBytes && in.read(buf, sizeof buf).gcount() > 0) text.append(buf, static_cast<size_t>(in.gcount()));
  if (in.bad()) return fail(ErrorKind::bad_input, file.string(), fmt::format("cannot read: {}", strerror(errno)), "");
  if (text.size() > kMaxFileBytes) {
    auto size = fs::file_size(file, ec);
    return fail(ErrorKind::bad_input, file.string(),
                fmt::format("{} bytes is too big for a scenario (limit {} bytes)", ec ? text.size() : size, kMaxFileBytes),
                "is this the right file?");
  }
  return parse(text, file);
}

Result<std::vector<fs::path>> expand(const std::vector<std::string>& args) {
  std::vector<fs::path> out;
  for (const auto& a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::directory_iterator(a, ec)) {
        std::string n = e.path().filename().string();
        if (e.is_regular_file() && n.size() > 5 && n.ends_with(".json") && !n.ends_with(".schema.json")) found.push_back(e.path());
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
