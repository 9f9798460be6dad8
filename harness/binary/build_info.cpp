#include "binary/build_info.h"

#include <cstring>
#include <optional>
#include <sstream>

#include "binary/go_tables.h"
#include "binary/image.h"

namespace bpfault::binary {
namespace {

// A varint-prefixed string at `off` (Go's binary.Uvarint), advancing `off`.
std::optional<std::string> varint_string(std::span<const uint8_t> b, uint64_t& off) {
  uint64_t len = 0;
  for (int shift = 0;; shift += 7) {
    if (off >= b.size() || shift > 63) return std::nullopt;
    const uint8_t c = b[off++];
    len |= uint64_t(c & 0x7f) << shift;
    if (!(c & 0x80)) break;
  }
  if (len > b.size() - off) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(b.data() + off), len);
  off += len;
  return s;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  return out;
}

GoModule module_of(const std::vector<std::string>& f) {
  GoModule m;
  if (f.size() > 1) m.path = f[1];
  if (f.size() > 2) m.version = f[2];
  if (f.size() > 3) m.sum = f[3];
  return m;
}

// runtime/debug's modinfo text between its two 16-byte sentinels: "path\t...", "mod\t...",
// "dep\t...", "=>\t..." (the line before it was replaced), "build\tKEY=VALUE".
void parse_modinfo(std::string text, BuildInfo& bi) {
  if (text.size() >= 33 && text[text.size() - 17] == '\n') text = text.substr(16, text.size() - 32);
  GoModule* last = nullptr;
  for (const std::string& line : split(text, '\n')) {
    const auto f = split(line, '\t');
    if (f.empty()) continue;
    if (f[0] == "path" && f.size() > 1) {
      bi.path = f[1];
    } else if (f[0] == "mod") {
      bi.main = module_of(f);
      last = &bi.main;
    } else if (f[0] == "dep") {
      bi.deps.push_back(module_of(f));
      last = &bi.deps.back();
    } else if (f[0] == "=>" && last) {
      const GoModule r = module_of(f);
      last->replaced_by = r.version.empty() ? r.path : r.path + " " + r.version;
    } else if (f[0] == "build" && f.size() > 1) {
      const auto eq = f[1].find('=');
      std::string key = f[1].substr(0, eq), value = eq == std::string::npos ? "" : f[1].substr(eq + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      bi.settings.emplace_back(std::move(key), std::move(value));
    }
  }
}

}  // namespace

const std::string* BuildInfo::setting(std::string_view key) const {
  for (const auto& [k, v] : settings)
    if (k == key) return &v;
  return nullptr;
}

BuildInfo read_build_info(const BinaryInfo& info) {
  BuildInfo bi;
  bi.go_version = info.go_version;
  if (!info.image) return bi;
  const auto table = find_buildinfo(info.image->elf);
  if (!table) return bi;
  const auto b = table->bytes;
  if (b.size() < 32 || std::memcmp(b.data(), "\xff Go buildinf:", 14) != 0 || !(b[15] & 2)) return bi;
  uint64_t off = 32;
  if (auto version = varint_string(b, off); version && !version->empty()) bi.go_version = *version;
  if (auto modinfo = varint_string(b, off)) parse_modinfo(*modinfo, bi);
  return bi;
}

}  // namespace bpfault::binary
