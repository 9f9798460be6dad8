// failpoint's term grammar (github.com/pingcap/failpoint, "terms"), as Go developers write it:
//   term  := step ("->" step)*
//   step  := [P "%"] [N "*"] action
//   action:= off | return(v, ...) | sleep(ms) | delay(ms) | panic | kill | crash(SIGNAL)
#include <cctype>

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
  if (!v.empty() && (std::isdigit(static_cast<unsigned char>(v[0])) || ((v[0] == '-' || v[0] == '+') && v.size() > 1))) {
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

}  // namespace

Result<std::vector<Step>> parse_term(const std::string& term, const std::string& where) {
  std::vector<Step> steps;
  const std::string grammar = "[P%][N*]action, chained with ->; actions: off, return(v, ...), sleep(ms), panic, kill, crash(SIGNAL)";
  size_t pos = 0;
  while (pos <= term.size()) {
    size_t arrow = term.find("->", pos);
    std::string text = trim(term.substr(pos, arrow == std::string::npos ? std::string::npos : arrow - pos));
    pos = arrow == std::string::npos ? term.size() + 1 : arrow + 2;
    Step step;
    step.pointer = where;
    auto bad = [&](const std::string& what) { return fail(ErrorKind::bad_input, where, fmt::format("in term step \"{}\": {}", text, what), grammar); };
    if (auto pct = text.find('%'); pct != std::string::npos) {
      try {
        step.probability = std::stod(text.substr(0, pct));
      } catch (...) {
        return bad("the probability before % is not a number");
      }
      if (step.probability <= 0 || step.probability > 100) return bad("the probability must be above 0 and at most 100");
      text = trim(text.substr(pct + 1));
    }
    if (auto star = text.find('*'); star != std::string::npos && star < text.find('(')) {
      try {
        long long n = std::stoll(text.substr(0, star));
        if (n < 1) return bad("the count before * must be at least 1");
        step.times = static_cast<uint64_t>(n);
      } catch (...) {
        return bad("the count before * is not a number");
      }
      text = trim(text.substr(star + 1));
    }
    std::string name = text, args;
    if (auto open = text.find('('); open != std::string::npos) {
      if (text.back() != ')') return bad("missing )");
      name = trim(text.substr(0, open));
      args = text.substr(open + 1, text.size() - open - 2);
    }
    if (name == "off") {
      step.action = Step::Action::off;
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
      step.action = Step::Action::pause;
      try {
        long long ms = std::stoll(trim(args));
        if (ms < 1) return bad("the pause must be at least 1 ms");
        step.pause_ms = static_cast<uint32_t>(ms);
      } catch (...) {
        return bad("sleep takes milliseconds: sleep(10)");
      }
    } else if (name == "panic" || name == "kill") {
      step.action = Step::Action::signal;
      step.signal = name == "panic" ? 6 : 9;  // Go answers SIGABRT with a goroutine dump and exit 2
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
  if (steps.size() > 4) return fail(ErrorKind::bad_input, where, fmt::format("{} steps; bpfault supports up to 4 in a chain", steps.size()), "");
  return steps;
}

}  // namespace bpfault::scenario
