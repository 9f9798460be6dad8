// failpoint's term grammar (github.com/pingcap/failpoint, "terms"), as Go developers write it:
//   term  := step ("->" step)*
//   step  := [P "%"] [N "*"] action
//   action:= off | print | return(v, ...) | sleep(ms) | delay(ms) | panic | kill | crash(SIGNAL)
// As in failpoint, a step whose probability roll fails hands the call to the next step, and
// `N*` counts the calls a step acted on.
#include <cctype>
#include <charconv>
#include <optional>

#include <fmt/format.h>

#include "scenario/scenario.h"

namespace bpfault::scenario {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// "io.EOF" stays a name; numbers, true/false and nil become JSON values.
nlohmann::json literal(const std::string& v) {
  if (v == "nil") return nullptr;
  if (v == "true") return true;
  if (v == "false") return false;
  if (!v.empty() &&
      (std::isdigit(static_cast<unsigned char>(v[0])) || ((v[0] == '-' || v[0] == '+') && v.size() > 1))) {
    try {
      size_t used = 0;
      long long n = std::stoll(v, &used, 0);
      if (used == v.size()) return n;
    } catch (...) {
    }
  }
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
  return v;
}

// All of `s` as a number: "3x" and "" are not numbers (std::stoll would take the 3).
template <class T>
std::optional<T> whole_number(const std::string& s) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<std::vector<Step>> parse_term(const std::string& term, const std::string& where) {
  std::vector<Step> steps;
  const std::string grammar =
      "[P%][N*]action, chained with ->; actions: off, print, return(v, ...), sleep(ms), panic, kill, crash(SIGNAL)";
  size_t arrows = 0;
  for (size_t a = term.find("->"); a != std::string::npos; a = term.find("->", a + 2)) ++arrows;
  if (arrows >= 4)  // before parsing: a huge chain would only be parsed to be refused
    return fail(ErrorKind::bad_input, where, fmt::format("{} steps; bpfault supports up to 4 in a chain", arrows + 1),
                "");
  size_t pos = 0;
  while (pos <= term.size()) {
    size_t arrow = term.find("->", pos);
    std::string text = trim(term.substr(pos, arrow == std::string::npos ? std::string::npos : arrow - pos));
    pos = arrow == std::string::npos ? term.size() + 1 : arrow + 2;
    Step step;
    step.pointer = where;
    auto bad = [&](const std::string& what) {
      return fail(ErrorKind::bad_input, where, fmt::format("in term step \"{}\": {}", text, what), grammar);
    };
    if (text.empty())
      return fail(ErrorKind::bad_input, where,
                  fmt::format("step {} of \"{}\" is empty (a -> with nothing on one side)", steps.size() + 1, term),
                  grammar);
    if (auto pct = text.find('%'); pct != std::string::npos && pct < text.find('(')) {
      auto p = whole_number<double>(trim(text.substr(0, pct)));
      if (!p) return bad("the probability before % is not a number");
      step.probability = *p;
      if (!(step.probability > 0 && step.probability <= 100))
        return bad("the probability must be above 0 and at most 100");  // NaN too
      text = trim(text.substr(pct + 1));
    }
    if (auto star = text.find('*'); star != std::string::npos && star < text.find('(')) {
      auto n = whole_number<long long>(trim(text.substr(0, star)));
      if (!n) return bad("the count before * is not a number");
      if (*n < 1) return bad("the count before * must be at least 1");
      step.times = static_cast<uint64_t>(*n);
      text = trim(text.substr(star + 1));
    }
    std::string name = text, args;
    if (auto open = text.find('('); open != std::string::npos) {
      if (text.back() != ')') return bad("missing )");
      name = trim(text.substr(0, open));
      args = text.substr(open + 1, text.size() - open - 2);
    }
    if ((name == "off" || name == "print" || name == "panic" || name == "kill") && !trim(args).empty()) {
      return bad(fmt::format("{} takes no arguments", name));
    } else if (name == "off") {
      step.action = Step::Action::off;
    } else if (name == "print") {
      step.action = Step::Action::print;
    } else if (name == "return") {
      step.action = Step::Action::write;
      step.early_return = true;
      size_t i = 0;
      for (size_t a = 0; !trim(args).empty() && a <= args.size();) {
        size_t comma = args.find(',', a);
        std::string v = trim(args.substr(a, comma == std::string::npos ? std::string::npos : comma - a));
        if (v.empty()) return bad("an empty return value");
        step.set_results[fmt::format("r{}", i++)] = Assigned{literal(v), std::nullopt, std::nullopt};
        a = comma == std::string::npos ? args.size() + 1 : comma + 1;
      }
    } else if (name == "sleep" || name == "delay") {
      step.action = Step::Action::delay;
      auto ms = whole_number<long long>(trim(args));
      if (!ms) return bad("sleep takes milliseconds: sleep(10)");
      if (*ms < 1 || *ms > 600000) return bad("the delay must be from 1 to 600000 ms");
      step.delay_ms = static_cast<uint32_t>(*ms);
    } else if (name == "panic") {
      step.action = Step::Action::panic;  // as failpoint's: a Go panic that recover() sees (crash(SIGABRT): the dump)
    } else if (name == "kill") {
      step.action = Step::Action::signal;
      step.signal = 9;
    } else if (name == "crash") {
      step.action = Step::Action::signal;
      auto sig = signal_number(trim(args));
      if (!sig) return bad(fmt::format("unknown signal \"{}\"", trim(args)));
      step.signal = *sig;
    } else {
      return bad(fmt::format("unknown action \"{}\"", name));
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

}  // namespace bpfault::scenario
