#include "binary/analysis_cache.h"

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <span>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <xxhash.h>

#include "diag/cache_files.h"

namespace bpfault::binary {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "bpfault analysis\n";
constexpr uint32_t kFormat = 6;     // bump when the layout below changes
constexpr size_t kKeepFiles = 256;  // focused analyses (~0.3 MB for a fixture) each take one
constexpr uint32_t kNone = UINT32_MAX;

// The layout, once for both directions: `fields` lists what is stored of each part, and the
// Writer and the Reader each walk it. Types form a graph (a struct may point to itself): they
// are stored once each, as a table ahead of the analysis, and referred to by index.
using TypeRef = std::shared_ptr<const Type>;

template <typename Ar>
void fields(Ar& ar, Loc& l) {
  ar(l.kind, Loc::Kind::none)(l.reg, Reg::r11)(l.xmm)(l.sp_offset);
}
template <typename Ar>
void fields(Ar& ar, Piece& p) {
  ar(p.path)(p.offset)(p.size)(p.kind, TypeKind::other)(p.is_signed)(p.loc);
}
template <typename Ar>
void fields(Ar& ar, Value& v) {
  ar(v.name)(v.type)(v.hidden)(v.on_stack)(v.pieces);
}
template <typename Ar>
void fields(Ar& ar, std::pair<std::string, std::string>& p) {
  ar(p.first)(p.second);
}
template <typename Ar>
void fields(Ar& ar, InlinedCopy& c) {
  ar(c.mark)(c.outer)(c.caller)(c.at)(c.file)(c.line)(c.not_countable)(c.params)(c.unlocated)(c.params_why);
}
template <typename Ar>
void fields(Ar& ar, Function& f) {
  ar(f.name)(f.symbol)(f.entry)(f.end)(f.body)(f.body_sp_delta)(f.rets)(f.no_ret)(f.abi0)(f.wrapper)(f.has_signature)(
      f.args_size);
  ar(f.params)(f.results)(f.not_probeable)(f.inlined_at)(f.inlined_copies)(f.warnings)(f.analysed);
}
template <typename Ar>
void fields(Ar& ar, Field& f) {
  ar(f.name)(f.offset)(f.type);
}
template <typename Ar>
void fields(Ar& ar, Type& t) {
  ar(t.name)(t.kind, TypeKind::other)(t.size)(t.is_signed)(t.is_error)(t.elem)(t.len)(t.fields);
}
template <typename Ar>
void fields(Ar& ar, BinaryInfo& b, std::optional<uint64_t>& runtime_text) {
  ar(b.arch, Arch::i386)(b.go_version)(b.build_id)(b.stripped)(b.has_dwarf)(b.detail,
                                                                            Detail::full)(b.pie)(b.external_link);
  ar(b.text_base)(b.goid_offset)(b.stack_hi_offset)(b.string_type)(b.writable_end);
  ar(runtime_text)(b.warnings)(b.focus)(b.functions);
}

class Writer {
 public:
  template <typename T>
  requires std::is_arithmetic_v<T> || std::is_enum_v<T> Writer& operator()(T v, T = {}) {
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  Writer& operator()(const std::string& s) {
    (*this)(static_cast<uint32_t>(s.size()));
    out_ += s;
    return *this;
  }
  Writer& operator()(const std::optional<uint64_t>& v) { return (*this)(v.has_value())(v.value_or(0)); }
  Writer& operator()(const TypeRef& t) { return (*this)(t ? ids_.at(t.get()) : kNone); }
  template <typename T>
  Writer& operator()(const std::vector<T>& v) {
    (*this)(static_cast<uint32_t>(v.size()));
    for (const T& x : v) (*this)(x);
    return *this;
  }
  template <typename T>
  requires std::is_class_v<T> &&(!std::is_same_v<T, std::string>)Writer& operator()(const T& x) {
    fields(*this, const_cast<T&>(x));  // fields() only reads through a Writer
    return *this;
  }

  // The type table: every type the functions' values reach, then the types themselves.
  void types(const BinaryInfo& info) {
    for (const Function& f : info.functions) {
      for (const auto* values : {&f.params, &f.results})
        for (const Value& v : *values) number(v.type);
      for (const InlinedCopy& c : f.inlined_copies)
        for (const Value& v : c.params) number(v.type);
    }
    (*this)(static_cast<uint32_t>(order_.size()));
    for (const Type* t : order_) (*this)(*t);
  }
  std::string& bytes() { return out_; }

 private:
  void number(const TypeRef& t) {
    if (!t || !ids_.try_emplace(t.get(), static_cast<uint32_t>(order_.size())).second) return;
    order_.push_back(t.get());
    number(t->elem);
    for (const Field& f : t->fields) number(f.type);
  }
  std::string out_;
  std::map<const Type*, uint32_t> ids_;
  std::vector<const Type*> order_;
};

// Bounds-checked: a short or garbled payload makes ok() false and reads zeros from then on.
class Reader {
 public:
  explicit Reader(std::span<const char> in) : in_(in) {}
  template <typename T>
  requires std::is_arithmetic_v<T> Reader& operator()(T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      uint8_t b = 0;  // any other byte in a bool would be undefined behaviour
      (*this)(b);
      v = b != 0;
    } else {
      v = T{};
      if (take(sizeof v)) std::memcpy(&v, in_.data() + pos_ - sizeof v, sizeof v);
    }
    return *this;
  }
  // An enumerator up to `last`; anything else fails the read.
  template <typename E>
  requires std::is_enum_v<E> Reader& operator()(E& e, E last) {
    std::underlying_type_t<E> v = 0;
    (*this)(v);
    if (v > static_cast<std::underlying_type_t<E>>(last)) ok_ = false;
    e = ok_ ? static_cast<E>(v) : E{};
    return *this;
  }
  Reader& operator()(std::string& s) {
    uint32_t n = 0;
    (*this)(n);
    s = take(n) ? std::string(in_.data() + pos_ - n, n) : std::string();
    return *this;
  }
  Reader& operator()(std::optional<uint64_t>& v) {
    bool has = false;
    uint64_t x = 0;
    (*this)(has)(x);
    v = has ? std::optional(x) : std::nullopt;
    return *this;
  }
  Reader& operator()(TypeRef& t) {
    uint32_t i = kNone;
    (*this)(i);
    if (i != kNone && i >= types_.size()) ok_ = false;
    t = ok_ && i != kNone ? types_[i] : nullptr;
    return *this;
  }
  template <typename T>
  Reader& operator()(std::vector<T>& v) {
    uint32_t n = 0;
    (*this)(n);
    v.clear();
    if (n > in_.size() - pos_) ok_ = false;  // each element takes at least a byte
    if (ok_) v.reserve(n);
    for (uint32_t i = 0; i < n && ok_; ++i) (*this)(v.emplace_back());
    return *this;
  }
  template <typename T>
  requires std::is_class_v<T> &&(!std::is_same_v<T, std::string>)Reader& operator()(T& x) {
    fields(*this, x);
    return *this;
  }

  // The type table, built before it is filled in so that types may refer to each other.
  void types() {
    uint32_t n = 0;
    (*this)(n);
    if (n > in_.size() - pos_) ok_ = false;
    types_.clear();
    for (uint32_t i = 0; i < n && ok_; ++i) types_.push_back(std::make_shared<Type>());
    keep_forever(types_);
    for (auto& t : types_)
      if (ok_) (*this)(*t);
  }
  bool ok() const { return ok_ && pos_ == in_.size(); }

 private:
  bool take(size_t n) {
    if (!ok_ || n > in_.size() - pos_) return ok_ = false;
    pos_ += n;
    return true;
  }
  // Types may form cycles that shared_ptr never frees: like every analysis (see analyse()),
  // they live as long as the process.
  static void keep_forever(const std::vector<std::shared_ptr<Type>>& types) {
    static std::mutex mu;
    static auto& kept = *new std::vector<std::vector<std::shared_ptr<Type>>>;
    std::lock_guard lock(mu);
    kept.push_back(types);
  }
  std::span<const char> in_;
  size_t pos_ = 0;
  bool ok_ = true;
  std::vector<std::shared_ptr<Type>> types_;
};

std::string payload_of(const BinaryInfo& info, std::optional<uint64_t> runtime_text) {
  Writer w;
  w.types(info);
  fields(w, const_cast<BinaryInfo&>(info), runtime_text);  // fields() only reads through a Writer
  return std::move(w.bytes());
}

std::optional<CachedAnalysis> from_payload(std::span<const char> payload) {
  Reader r(payload);
  r.types();
  CachedAnalysis out{std::make_shared<BinaryInfo>(), std::nullopt};
  fields(r, *out.info, out.runtime_text);
  if (!r.ok()) return std::nullopt;
  return out;
}

}  // namespace

fs::path analysis_file(const fs::path& dir, const std::string& key, Detail detail,
                       const std::vector<std::string>& focus) {
  const std::string id = key + "/" + diag::executable_build_id();
  const XXH128_hash_t h = XXH3_128bits(id.data(), id.size());
  std::string name = fmt::format("{:016x}{:016x}-{}", h.high64, h.low64, detail == Detail::full ? "full" : "names");
  if (!focus.empty()) {
    const std::string globs = fmt::format("{}", fmt::join(focus, "\n"));
    name += fmt::format("-focus-{:016x}", XXH3_64bits(globs.data(), globs.size()));
  }
  return dir / (name + ".bin");
}

std::optional<CachedAnalysis> load_analysis(const fs::path& dir, const std::string& key, Detail detail,
                                            const std::vector<std::string>& focus) {
  if (diag::executable_build_id().empty()) return std::nullopt;
  std::ifstream in(analysis_file(dir, key, detail, focus), std::ios::binary | std::ios::ate);
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
  if (!cached || cached->info->detail != detail || cached->info->focus != focus) return std::nullopt;
  return cached;
}

void store_analysis(const fs::path& dir, const std::string& key, const BinaryInfo& info,
                    std::optional<uint64_t> runtime_text) {
  if (diag::executable_build_id().empty()) return;
  const std::string payload = payload_of(info, runtime_text);
  const uint64_t hash = XXH3_64bits(payload.data(), payload.size());
  std::string bytes(kMagic);
  bytes.append(reinterpret_cast<const char*>(&kFormat), sizeof kFormat);
  bytes.append(reinterpret_cast<const char*>(&hash), sizeof hash);
  bytes += payload;
  // atomic: a parallel run reads the old file, the new one, or none; one that cannot be written is only slower
  if (diag::write_atomically(analysis_file(dir, key, info.detail, info.focus), bytes)) return;
  diag::keep_newest(dir, "", ".bin", kKeepFiles);
}

}  // namespace bpfault::binary
