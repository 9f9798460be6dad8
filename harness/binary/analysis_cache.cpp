#include "binary/analysis_cache.h"

#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <xxhash.h>

namespace bpfault::binary {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "bpfault analysis\n";
constexpr uint32_t kFormat = 1;  // bump when the layout below changes
constexpr size_t kKeepFiles = 64;
constexpr uint32_t kNone = UINT32_MAX;

// What wrote the file: the analysis is bpfault's code, so another build may analyse differently.
// The linker's GNU build id of the running executable, from its loaded notes (no file read);
// empty, and then no caching, for an executable linked without one.
const std::string& self_identity() {
  static const std::string id = [] {
    std::string out;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) -> int {
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_NOTE) continue;
            const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
            const char* end = p + ph.p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
              const auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
              const char* name = p + sizeof *n;
              const char* desc = name + ((n->n_namesz + 3) & ~3u);
              if (desc + n->n_descsz > end) break;
              if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
                auto& id = *static_cast<std::string*>(data);
                for (uint32_t k = 0; k < n->n_descsz; ++k) id += fmt::format("{:02x}", static_cast<unsigned char>(desc[k]));
                return 1;
              }
              p = desc + ((n->n_descsz + 3) & ~3u);
            }
          }
          return 1;  // the first object is the executable: look no further
        },
        &out);
    return out;
  }();
  return id;
}

fs::path file_for(const fs::path& dir, const std::string& key, Detail detail) {
  const std::string id = key + "/" + self_identity();
  const XXH128_hash_t h = XXH3_128bits(id.data(), id.size());
  return dir / fmt::format("{:016x}{:016x}-{}.bin", h.high64, h.low64, detail == Detail::full ? "full" : "functions");
}

class Writer {
 public:
  template <typename T>
    requires std::is_arithmetic_v<T> || std::is_enum_v<T>
  void put(T v) {
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put(const std::string& s) {
    put(static_cast<uint32_t>(s.size()));
    out_ += s;
  }
  template <typename T, typename F>
  void list(const std::vector<T>& v, F each) {
    put(static_cast<uint32_t>(v.size()));
    for (const T& x : v) each(x);
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

// Bounds-checked: a short or garbled payload makes ok() false and reads zeros from then on.
class Reader {
 public:
  explicit Reader(std::span<const char> in) : in_(in) {}
  template <typename T>
    requires std::is_arithmetic_v<T>
  T get() {
    if constexpr (std::is_same_v<T, bool>) {
      return get<uint8_t>() != 0;  // any other byte in a bool would be undefined behaviour
    } else {
      T v{};
      if (!take(sizeof v)) return v;
      std::memcpy(&v, in_.data() + pos_ - sizeof v, sizeof v);
      return v;
    }
  }
  // An enumerator up to `last`; anything else fails the read.
  template <typename E>
    requires std::is_enum_v<E>
  E get(E last) {
    const auto v = get<std::underlying_type_t<E>>();
    if (v > static_cast<std::underlying_type_t<E>>(last)) ok_ = false;
    return ok_ ? static_cast<E>(v) : E{};
  }
  std::string str() {
    const uint32_t n = get<uint32_t>();
    if (!take(n)) return {};
    return std::string(in_.data() + pos_ - n, n);
  }
  template <typename T, typename F>
  std::vector<T> list(F each) {
    const uint32_t n = get<uint32_t>();
    std::vector<T> v;
    if (n > in_.size() - pos_) {  // each element takes at least a byte
      ok_ = false;
      return v;
    }
    v.reserve(n);
    for (uint32_t i = 0; i < n && ok_; ++i) v.push_back(each());
    return v;
  }
  bool ok() const { return ok_ && pos_ == in_.size(); }
  void fail() { ok_ = false; }

 private:
  bool take(size_t n) {
    if (!ok_ || n > in_.size() - pos_) return ok_ = false;
    pos_ += n;
    return true;
  }
  std::span<const char> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Types form a graph (a struct may point to itself): they are written once each, as a table,
// and referred to by index.
class TypeTableWriter {
 public:
  uint32_t index(const std::shared_ptr<const Type>& t) {
    if (!t) return kNone;
    auto [it, added] = ids_.try_emplace(t.get(), static_cast<uint32_t>(order_.size()));
    if (added) {
      order_.push_back(t.get());
      if (t->elem) index(t->elem);
      for (const Field& f : t->fields) index(f.type);
    }
    return it->second;
  }
  void write(Writer& w) {
    w.put(static_cast<uint32_t>(order_.size()));
    for (const Type* t : order_) {
      w.put(t->name);
      w.put(t->kind);
      w.put(t->size);
      w.put(t->is_signed);
      w.put(t->is_error);
      w.put(ids_.at(t->elem.get()));
      w.put(t->len);
      w.list(t->fields, [&](const Field& f) {
        w.put(f.name);
        w.put(f.offset);
        w.put(f.type ? ids_.at(f.type.get()) : kNone);
      });
    }
  }

 private:
  std::map<const Type*, uint32_t> ids_{{nullptr, kNone}};
  std::vector<const Type*> order_;
};

void write_loc(Writer& w, const Loc& l) {
  w.put(l.kind);
  w.put(l.reg);
  w.put(l.xmm);
  w.put(l.sp_offset);
}

Loc read_loc(Reader& r) {
  Loc l;
  l.kind = r.get(Loc::Kind::none);
  l.reg = r.get(Reg::r11);
  l.xmm = r.get<uint8_t>();
  l.sp_offset = r.get<int32_t>();
  return l;
}

void write_value(Writer& w, TypeTableWriter& types, const Value& v) {
  w.put(v.name);
  w.put(types.index(v.type));
  w.put(v.hidden);
  w.put(v.on_stack);
  w.list(v.pieces, [&](const Piece& p) {
    w.put(p.path);
    w.put(p.offset);
    w.put(p.size);
    w.put(p.kind);
    w.put(p.is_signed);
    write_loc(w, p.loc);
  });
}

using Types = std::vector<std::shared_ptr<Type>>;

std::shared_ptr<const Type> type_at(Reader& r, const Types& types) {
  const uint32_t i = r.get<uint32_t>();
  if (i == kNone) return nullptr;
  if (i >= types.size()) {
    r.fail();
    return nullptr;
  }
  return types[i];
}

Value read_value(Reader& r, const Types& types) {
  Value v;
  v.name = r.str();
  v.type = type_at(r, types);
  v.hidden = r.get<bool>();
  v.on_stack = r.get<bool>();
  v.pieces = r.list<Piece>([&] {
    Piece p;
    p.path = r.str();
    p.offset = r.get<uint32_t>();
    p.size = r.get<uint32_t>();
    p.kind = r.get(TypeKind::other);
    p.is_signed = r.get<bool>();
    p.loc = read_loc(r);
    return p;
  });
  return v;
}

std::string payload_of(const BinaryInfo& info, std::optional<uint64_t> runtime_text) {
  // the types first, so that reading can build the graph before the values refer to it
  TypeTableWriter types;
  for (const Function& f : info.functions) {
    for (const Value& v : f.params) types.index(v.type);
    for (const Value& v : f.results) types.index(v.type);
  }
  Writer w;
  types.write(w);
  w.put(info.arch);
  w.put(info.go_version);
  w.put(info.build_id);
  w.put(info.stripped);
  w.put(info.has_dwarf);
  w.put(info.detail);
  w.put(info.pie);
  w.put(info.external_link);
  w.put(info.text_base);
  w.put(info.goid_offset);
  w.put(info.stack_hi_offset);
  w.put(runtime_text.has_value());
  w.put(runtime_text.value_or(0));
  w.list(info.warnings, [&](const std::string& s) { w.put(s); });
  w.list(info.functions, [&](const Function& f) {
    w.put(f.name);
    w.put(f.symbol);
    w.put(f.entry);
    w.put(f.end);
    w.put(f.body);
    w.put(f.body_sp_delta);
    w.list(f.rets, [&](uint64_t a) { w.put(a); });
    w.put(f.abi0);
    w.put(f.wrapper);
    w.put(f.has_signature);
    w.put(f.args_size);
    w.list(f.params, [&](const Value& v) { write_value(w, types, v); });
    w.list(f.results, [&](const Value& v) { write_value(w, types, v); });
    w.put(f.not_probeable);
    w.list(f.inlined_at, [&](const std::string& s) { w.put(s); });
    w.list(f.warnings, [&](const std::string& s) { w.put(s); });
  });
  return std::move(w.bytes());
}

// Types may form cycles (a struct pointing to itself) that shared_ptr never frees: like every
// analysis (see analyse()), they live as long as the process.
void keep_forever(const Types& types) {
  static std::mutex mu;
  static auto& kept = *new std::vector<Types>;
  std::lock_guard lock(mu);
  kept.push_back(types);
}

std::optional<CachedAnalysis> from_payload(std::span<const char> payload) {
  Reader r(payload);
  const uint32_t ntypes = r.get<uint32_t>();
  if (ntypes > payload.size()) return std::nullopt;
  Types types(ntypes);
  for (auto& t : types) t = std::make_shared<Type>();
  keep_forever(types);
  for (auto& t : types) {
    t->name = r.str();
    t->kind = r.get(TypeKind::other);
    t->size = r.get<uint64_t>();
    t->is_signed = r.get<bool>();
    t->is_error = r.get<bool>();
    t->elem = type_at(r, types);
    t->len = r.get<uint64_t>();
    t->fields = r.list<Field>([&] {
      Field f;
      f.name = r.str();
      f.offset = r.get<uint64_t>();
      f.type = type_at(r, types);
      return f;
    });
  }
  CachedAnalysis out{std::make_shared<BinaryInfo>(), std::nullopt};
  BinaryInfo& info = *out.info;
  info.arch = r.get(Arch::i386);
  info.go_version = r.str();
  info.build_id = r.str();
  info.stripped = r.get<bool>();
  info.has_dwarf = r.get<bool>();
  info.detail = r.get(Detail::full);
  info.pie = r.get<bool>();
  info.external_link = r.get<bool>();
  info.text_base = r.get<uint64_t>();
  info.goid_offset = r.get<uint64_t>();
  info.stack_hi_offset = r.get<uint64_t>();
  const bool has_text = r.get<bool>();
  const uint64_t text = r.get<uint64_t>();
  if (has_text) out.runtime_text = text;
  info.warnings = r.list<std::string>([&] { return r.str(); });
  info.functions = r.list<Function>([&] {
    Function f;
    f.name = r.str();
    f.symbol = r.str();
    f.entry = r.get<uint64_t>();
    f.end = r.get<uint64_t>();
    f.body = r.get<uint64_t>();
    f.body_sp_delta = r.get<int32_t>();
    f.rets = r.list<uint64_t>([&] { return r.get<uint64_t>(); });
    f.abi0 = r.get<bool>();
    f.wrapper = r.get<bool>();
    f.has_signature = r.get<bool>();
    f.args_size = r.get<int32_t>();
    f.params = r.list<Value>([&] { return read_value(r, types); });
    f.results = r.list<Value>([&] { return read_value(r, types); });
    f.not_probeable = r.str();
    f.inlined_at = r.list<std::string>([&] { return r.str(); });
    f.warnings = r.list<std::string>([&] { return r.str(); });
    return f;
  });
  if (!r.ok()) return std::nullopt;
  return out;
}

// Each bpfault build and each binary writes its own files: keep the newest.
void prune(const fs::path& dir) {
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".bin") files.emplace_back(e.last_write_time(ec), e.path());
  if (files.size() <= kKeepFiles) return;
  std::sort(files.begin(), files.end(), std::greater<>());
  for (size_t i = kKeepFiles; i < files.size(); ++i) fs::remove(files[i].second, ec);
}

}  // namespace

std::optional<CachedAnalysis> load_analysis(const fs::path& dir, const std::string& key, Detail detail) {
  if (self_identity().empty()) return std::nullopt;
  std::ifstream in(file_for(dir, key, detail), std::ios::binary | std::ios::ate);
  if (!in) return std::nullopt;
  std::string bytes(static_cast<size_t>(in.tellg()), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) return std::nullopt;
  const size_t head = kMagic.size() + sizeof(uint32_t) + sizeof(uint64_t);
  if (bytes.size() < head || bytes.compare(0, kMagic.size(), kMagic) != 0) return std::nullopt;
  uint32_t format;
  uint64_t hash;
  std::memcpy(&format, bytes.data() + kMagic.size(), sizeof format);
  std::memcpy(&hash, bytes.data() + kMagic.size() + sizeof format, sizeof hash);
  const std::span<const char> payload(bytes.data() + head, bytes.size() - head);
  if (format != kFormat || XXH3_64bits(payload.data(), payload.size()) != hash) return std::nullopt;
  auto cached = from_payload(payload);
  if (!cached || cached->info->detail != detail) return std::nullopt;
  return cached;
}

void store_analysis(const fs::path& dir, const std::string& key, const BinaryInfo& info, std::optional<uint64_t> runtime_text) {
  if (self_identity().empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string payload = payload_of(info, runtime_text);
  const uint64_t hash = XXH3_64bits(payload.data(), payload.size());
  const fs::path file = file_for(dir, key, info.detail);
  fs::path tmp = file;
  tmp += fmt::format(".{}", gettid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(kMagic.data(), static_cast<std::streamsize>(kMagic.size()));
    out.write(reinterpret_cast<const char*>(&kFormat), sizeof kFormat);
    out.write(reinterpret_cast<const char*>(&hash), sizeof hash);
    out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
    if (!out) {
      out.close();
      fs::remove(tmp, ec);
      return;  // a cache that cannot be written is only slower
    }
  }
  fs::rename(tmp, file, ec);  // atomic: a parallel run reads the old file, the new one, or none
  if (ec) fs::remove(tmp, ec);
  prune(dir);
}

}  // namespace bpfault::binary
