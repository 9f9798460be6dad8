#include "kernel/kernel_btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "diag/cache_files.h"
#include "probe.h"

namespace bpfault::kernel {
namespace {

namespace fs = std::filesystem;

constexpr const char* kVmlinux = "/sys/kernel/btf/vmlinux";

struct BtfFree {
  void operator()(btf* b) const { btf__free(b); }
};
struct ObjectClose {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};

// The type under typedefs and modifiers (const, volatile, restrict, type tags): CO-RE compares
// fields by what they are, not by how they are spelled.
const btf_type* resolved(const btf* b, uint32_t& id) {
  const btf_type* t = btf__type_by_id(b, id);
  while (t && (btf_is_mod(t) || btf_is_typedef(t))) {
    id = t->type;
    t = btf__type_by_id(b, id);
  }
  return t;
}

struct Member {
  uint32_t type, bit_offset, bit_size;
};

// The member `name` of a struct or union, also inside its anonymous members (as libbpf's CO-RE
// finds fields: mm_struct's env_end is in an anonymous struct), at its offset from `composite`.
std::optional<Member> find_member(const btf* b, uint32_t composite, std::string_view name, uint32_t base = 0) {
  const btf_type* t = btf__type_by_id(b, composite);
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); ++i, ++m) {
    const char* n = btf__name_by_offset(b, m->name_off);
    const uint32_t offset = base + btf_member_bit_offset(t, i);
    if (n && *n && name == n) return Member{m->type, offset, btf_member_bitfield_size(t, i)};
    uint32_t inner = m->type;
    const btf_type* it = resolved(b, inner);
    if ((!n || !*n) && it && btf_is_composite(it))
      if (auto found = find_member(b, inner, name, offset)) return found;
  }
  return std::nullopt;
}

// A minimal BTF with the kernel's layout of what CO-RE views read (bpftool's `gen min_core_btf`,
// driven by the views instead of by the relocations: a view has only the fields the programs
// read). Anonymous members are flattened: CO-RE matches fields by name, at the same offsets.
class CoreTypes {
 public:
  CoreTypes(const btf* kernel, const btf* local) : kernel_(kernel), local_(local), out_(btf__new_empty()) {}

  // Every struct or union of the object named NAME___FLAVOUR, shaped on the kernel's NAME.
  void add_views() {
    for (uint32_t id = 1; id < btf__type_cnt(local_); ++id) {
      const btf_type* t = btf__type_by_id(local_, id);
      const std::string name = btf__name_by_offset(local_, t->name_off);
      const auto flavour = name.find("___");
      if (!btf_is_composite(t) || flavour == std::string::npos) continue;
      const int k = btf__find_by_name_kind(kernel_, name.substr(0, flavour).c_str(), btf_kind(t));
      if (k > 0) want(k, id);
    }
  }

  Result<std::string> raw() {
    if (!out_) return fail(ErrorKind::internal, kVmlinux, "out of memory for a BTF");
    for (const auto& [k, fields] : fields_)
      if (int id = make(k); id < 0) return fail(ErrorKind::internal, kVmlinux, error_of(id));
    uint32_t size = 0;
    const void* data = btf__raw_data(out_.get(), &size);
    if (!data) return fail(ErrorKind::internal, kVmlinux, "writing the CO-RE types' BTF failed");
    return std::string(static_cast<const char*>(data), size);
  }

 private:
  static std::string error_of(int err) { return fmt::format("copying a type failed: {}", strerror(-err)); }

  // The kernel's composite `k` is wanted with the fields of the view `v` that it has (a field it
  // has not got stays out, so bpf_core_field_exists() says false, as with the whole BTF).
  void want(uint32_t k, uint32_t v) {
    auto& fields = fields_[k];
    if (!seen_.emplace(k, v).second) return;
    const btf_type* view = btf__type_by_id(local_, v);
    const btf_member* m = btf_members(view);
    for (int i = 0; i < btf_vlen(view); ++i, ++m) {
      const std::string name = btf__name_by_offset(local_, m->name_off);
      auto found = find_member(kernel_, k, name);
      if (!found) continue;
      if (std::find(fields.begin(), fields.end(), name) == fields.end()) fields.push_back(name);
      follow(found->type, m->type);
    }
  }

  // A field's kernel type shaped by the view's type of it: through pointers and arrays to the
  // composites the views describe.
  void follow(uint32_t k, uint32_t v) {
    const btf_type* kt = resolved(kernel_, k);
    const btf_type* vt = resolved(local_, v);
    if (!kt || !vt) return;
    if (btf_is_composite(kt) && btf_is_composite(vt)) want(k, v);
    if (btf_is_ptr(kt) && btf_is_ptr(vt)) follow(kt->type, vt->type);
    if (btf_is_array(kt) && btf_is_array(vt)) follow(btf_array(kt)->type, btf_array(vt)->type);
  }

  // The copy of kernel type `k` (under its typedefs and modifiers): its id in out_, or -errno.
  int make(uint32_t k) {
    const btf_type* t = resolved(kernel_, k);
    if (k == 0 || !t) return 0;
    if (auto it = made_.find(k); it != made_.end()) return it->second;
    btf* out = out_.get();
    const char* name = btf__name_by_offset(kernel_, t->name_off);
    int id = 0;
    if (btf_is_int(t)) {
      id = btf__add_int(out, name, static_cast<size_t>(t->size), btf_int_encoding(t));
    } else if (btf_is_float(t)) {
      id = btf__add_float(out, name, t->size);
    } else if (btf_is_enum(t)) {
      id = btf__add_enum(out, name, t->size);
      const struct btf_enum* e = btf_enum(t);
      for (int i = 0; id > 0 && i < btf_vlen(t); ++i, ++e)
        if (int err = btf__add_enum_value(out, btf__name_by_offset(kernel_, e->name_off), e->val)) id = err;
    } else if (btf_is_enum64(t)) {
      id = btf__add_enum64(out, name, t->size, btf_kflag(t));
      const struct btf_enum64* e = btf_enum64(t);
      for (int i = 0; id > 0 && i < btf_vlen(t); ++i, ++e)
        if (int err = btf__add_enum64_value(out, btf__name_by_offset(kernel_, e->name_off), btf_enum64_value(e)))
          id = err;
    } else if (btf_is_ptr(t)) {
      // CO-RE takes any pointer for any pointer; the pointee is copied when a view describes it
      // (a view is found by its own name, for the reads through the pointer), else void
      uint32_t to = t->type;
      const btf_type* target = resolved(kernel_, to);
      const bool described = target && btf_is_composite(target) && fields_.contains(to) && !making_.contains(to);
      const int pointee = described ? make(to) : 0;
      id = pointee < 0 ? pointee : btf__add_ptr(out, pointee);
    } else if (btf_is_array(t)) {
      const struct btf_array* a = btf_array(t);
      const int elem = make(a->type), index = make(a->index_type);
      id = elem < 0 ? elem : index < 0 ? index : btf__add_array(out, index, elem, a->nelems);
    } else if (btf_is_composite(t)) {
      id = make_composite(k, t, name);
    } else if (btf_is_fwd(t)) {
      id = btf__add_fwd(out, name, btf_kflag(t) ? BTF_FWD_UNION : BTF_FWD_STRUCT);
    }  // anything else (a function's prototype behind a pointer) is void: CO-RE reads no field there
    if (id > 0) made_[k] = id;
    return id;
  }

  // A struct or union with the kernel's name and size and the wanted fields at the kernel's offsets.
  int make_composite(uint32_t k, const btf_type* t, const char* name) {
    making_.insert(k);
    std::vector<std::pair<std::string, Member>> members;
    std::vector<int> types;
    if (auto it = fields_.find(k); it != fields_.end())
      for (const std::string& field : it->second) {
        const Member m = *find_member(kernel_, k, field);
        const int type = make(m.type);  // before the struct: its fields must follow it directly
        if (type < 0) return type;
        members.emplace_back(field, m);
        types.push_back(type);
      }
    making_.erase(k);
    btf* out = out_.get();
    int id = btf_is_struct(t) ? btf__add_struct(out, name, t->size) : btf__add_union(out, name, t->size);
    for (size_t i = 0; id > 0 && i < members.size(); ++i)
      if (int err = btf__add_field(out, members[i].first.c_str(), types[i], members[i].second.bit_offset,
                                   members[i].second.bit_size))
        id = err;
    return id;
  }

  const btf* kernel_;
  const btf* local_;
  std::unique_ptr<btf, BtfFree> out_;
  std::map<uint32_t, std::vector<std::string>> fields_;  // kernel composite -> the fields wanted
  std::set<std::pair<uint32_t, uint32_t>> seen_;         // (kernel composite, view) pairs walked
  std::map<uint32_t, int> made_;                         // kernel type -> its copy
  std::set<uint32_t> making_;                            // composites being copied (a pointer cycle)
};

int32_t kfunc_id(const btf* kernel, const char* name) {
  const int id = btf__find_by_name_kind(kernel, name, BTF_KIND_FUNC);
  return id > 0 ? id : 0;
}

// The CO-RE types for this process alone, in memory: a file libbpf can open by name that goes
// away with the process.
std::optional<fs::path> in_memory(const std::string& raw) {
  const int fd = memfd_create("bpfault-core-btf", MFD_CLOEXEC);
  if (fd < 0) return std::nullopt;
  if (write(fd, raw.data(), raw.size()) != static_cast<ssize_t>(raw.size())) {
    close(fd);
    return std::nullopt;
  }
  return fmt::format("/proc/self/fd/{}", fd);  // open for the process's life: it is loaded again on a retry
}

// Reads the kernel's whole BTF once: the kfuncs' ids, and the CO-RE types, kept in `keep` (when
// not empty and writable) or else in memory.
Result<KernelBtf> make(std::span<const std::byte> object, const fs::path& keep) {
  std::unique_ptr<btf, BtfFree> kernel(btf__load_vmlinux_btf());
  if (!kernel)
    return fail(ErrorKind::unsupported, kVmlinux,
                fmt::format("the kernel's BTF could not be read: {}", strerror(errno)),
                "the probes need a kernel built with CONFIG_DEBUG_INFO_BTF=y (every Debian kernel since 11)");
  KernelBtf k;
  k.preempt_disable = kfunc_id(kernel.get(), "bpf_preempt_disable");
  k.preempt_enable = kfunc_id(kernel.get(), "bpf_preempt_enable");
  std::unique_ptr<bpf_object, ObjectClose> obj(bpf_object__open_mem(object.data(), object.size(), nullptr));
  const btf* local = obj ? bpf_object__btf(obj.get()) : nullptr;
  if (!local) return fail(ErrorKind::internal, "bpf/probe.bpf.c", "the object's BTF could not be read");
  CoreTypes types(kernel.get(), local);
  types.add_views();
  auto raw = types.raw();
  if (!raw) return tl::unexpected(raw.error());
  if (!keep.empty() && !diag::write_atomically(keep, *raw)) {
    k.core = keep;
  } else if (auto memory = in_memory(*raw)) {
    k.core = *memory;
  } else {
    k.core = kVmlinux;  // libbpf reads the whole BTF once more
  }
  return k;
}

std::optional<KernelBtf> read_kept(const fs::path& ids) {
  std::ifstream in(ids);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    KernelBtf k{j.at("core").get<std::string>(), j.at("bpf_preempt_disable"), j.at("bpf_preempt_enable"), true};
    // a file that does not parse (or is gone) is made again, not handed to libbpf
    std::unique_ptr<btf, BtfFree> core(btf__parse(k.core.c_str(), nullptr));
    if (!core || btf__type_cnt(core.get()) < 2) return std::nullopt;
    return k;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

Result<KernelBtf> kernel_btf(std::span<const std::byte> object) {
  const char* off = std::getenv("BPFAULT_NO_BTF_CACHE");
  const fs::path ids = off && *off ? fs::path() : diag::per_boot_file("kernel-btf", ".json");
  if (ids.empty()) return make(object, {});
  if (auto kept = read_kept(ids)) return *kept;
  fs::path core = ids;
  core.replace_extension(".btf");
  auto made = make(object, core);
  if (!made || made->core != core) return made;
  const nlohmann::json j = {{"core", core.string()},
                            {"bpf_preempt_disable", made->preempt_disable},
                            {"bpf_preempt_enable", made->preempt_enable}};
  diag::write_atomically(ids, j.dump());  // after the types it names
  diag::keep_newest(ids.parent_path(), "kernel-btf-", ".json", 8);
  diag::keep_newest(ids.parent_path(), "kernel-btf-", ".btf", 8);
  return made;
}

Result<void> call_preempt_kfuncs(bpf_program* prog, const KernelBtf& k) {
  std::vector<bpf_insn> insns(bpf_program__insns(prog), bpf_program__insns(prog) + bpf_program__insn_cnt(prog));
  int disables = 0, enables = 0;
  for (bpf_insn& insn : insns) {
    if (insn.code != (BPF_JMP | BPF_CALL) || insn.src_reg != 0) continue;
    int32_t kfunc = 0;
    if (insn.imm == PROBE_PREEMPT_DISABLE_HELPER) {
      kfunc = k.preempt_disable;
      ++disables;
    } else if (insn.imm == PROBE_PREEMPT_ENABLE_HELPER) {
      kfunc = k.preempt_enable;
      ++enables;
    } else {
      continue;
    }
    if (kfunc > 0)
      insn = {.code = BPF_JMP | BPF_CALL, .dst_reg = 0, .src_reg = BPF_PSEUDO_KFUNC_CALL, .off = 0, .imm = kfunc};
    else
      insn = {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0};
  }
  if (disables != 1 || enables != 1)
    return fail(ErrorKind::internal, "bpf/probe.bpf.c",
                fmt::format("{}: {} calls that stand for bpf_preempt_disable() and {} for bpf_preempt_enable(), "
                            "where handle() makes one of each",
                            bpf_program__name(prog), disables, enables));
  if (int err = bpf_program__set_insns(prog, insns.data(), insns.size()))
    return fail(ErrorKind::internal, "bpf/probe.bpf.c", fmt::format("rewriting the kfunc calls: {}", strerror(-err)));
  return {};
}

}  // namespace bpfault::kernel
