// bpftrace's hist() layout, so that people who know it read ours at a glance:
//   [2, 4)               123 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
#include <fmt/format.h>

#include "report/report.h"

namespace bpfault::report {
namespace {

std::string human(uint64_t v) {
  const char* suffix[] = {"", "K", "M", "G", "T"};
  int i = 0;
  while (v >= 1024 && v % 1024 == 0 && i < 4) v /= 1024, ++i;
  return fmt::format("{}{}", v, suffix[i]);
}

}  // namespace

std::string histogram(const record::Latency& l, const std::string& indent) {
  if (l.log2_us.empty()) return "";
  uint64_t most = 0;
  for (auto [lo, n] : l.log2_us) most = std::max(most, n);
  std::string out;
  // every bucket from the lowest to the highest, the empty ones too
  uint64_t first = l.log2_us.front().first, last = l.log2_us.back().first;
  size_t k = 0;
  for (uint64_t lo = first;; lo = lo == 0 ? 1 : lo * 2) {
    uint64_t n = k < l.log2_us.size() && l.log2_us[k].first == lo ? l.log2_us[k++].second : 0;
    std::string label = lo <= 1 ? fmt::format("[{}]", lo) : fmt::format("[{}, {})", human(lo), human(lo * 2));
    size_t bar = most ? static_cast<size_t>((n * 52 + most - 1) / most) : 0;
    out += fmt::format("{}{:<16}{:>8} |{:<52}|\n", indent, label, n, std::string(bar, '@'));
    if (lo >= last) break;
  }
  return out;
}

}  // namespace bpfault::report
