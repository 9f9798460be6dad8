#include "target/go_test.h"

#include <algorithm>
#include <regex>
#include <string>

namespace bpfault::target {

std::vector<std::string> test_args(const scenario::Target& t) {
  std::vector<std::string> args = {"-test.v"};
  if (t.build && !t.build->run.empty()) args.push_back("-test.run=" + t.build->run);
  args.insert(args.end(), t.args.begin(), t.args.end());
  return args;
}

std::vector<record::GoTest> parse_test_output(std::string_view out) {
  static const std::regex result(R"(^\s*--- (PASS|FAIL|SKIP): (\S+) \(([0-9.]+)s\))");
  static const std::regex started(R"(^=== RUN\s+(\S+))");
  std::vector<record::GoTest> tests;
  std::vector<std::string> running;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string_view::npos) nl = out.size();
    const std::string line(out.substr(pos, nl - pos));
    pos = nl + 1;
    std::smatch m;
    if (std::regex_search(line, m, started)) {
      running.push_back(m[1]);
    } else if (std::regex_search(line, m, result)) {
      std::string verdict = m[1];
      std::transform(verdict.begin(), verdict.end(), verdict.begin(), [](unsigned char c) { return std::tolower(c); });
      tests.push_back({m[2], verdict, std::stod(m[3])});
      std::erase(running, m[2].str());
    }
  }
  for (const auto& name : running) tests.push_back({name, "unfinished", 0});
  return tests;
}

}  // namespace bpfault::target
