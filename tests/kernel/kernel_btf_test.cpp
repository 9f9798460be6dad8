// The kernel's BTF as the probe programs take it (label bpf): the few types their CO-RE views
// read, kept per boot, give the kernel the very programs libbpf makes from the whole BTF, and
// the kfunc calls written into them are the kernel's bpf_preempt_disable/enable.
#include "kernel/kernel_btf.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "diag/cache_files.h"
#include "probe.skel.h"
#include "support/fixtures.h"

namespace bpfault::kernel {
namespace {

constexpr const char* kVmlinux = "/sys/kernel/btf/vmlinux";

std::span<const std::byte> probe_object() {
  size_t size = 0;
  const void* elf = probe_bpf__elf_bytes(&size);
  return {static_cast<const std::byte*>(elf), size};
}

// The instructions the kernel runs (xlated) of the programs that load under lockdown (observe,
// decide), CO-RE-relocated against `core`. Maps are named by the order in which each program
// first uses them: their ids differ from load to load.
std::map<std::string, std::vector<bpf_insn>> loaded_programs(const std::string& core, const KernelBtf& k) {
  std::map<std::string, std::vector<bpf_insn>> out;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = core.c_str());
  std::unique_ptr<probe_bpf, void (*)(probe_bpf*)> skel(probe_bpf__open_opts(&opts), probe_bpf__destroy);
  if (!skel) return out;
  bpf_program* programs[] = {skel->progs.uprobe_observe, skel->progs.uprobe_decide};
  bpf_program__set_autoload(skel->progs.uprobe_write_user, false);
  bpf_program__set_autoload(skel->progs.uprobe_write_regs, false);
  for (bpf_program* p : programs) EXPECT_TRUE(call_preempt_kfuncs(p, k)) << bpf_program__name(p);
  skel->rodata->preempt_off = k.preempt_disable > 0 && k.preempt_enable > 0;
  EXPECT_EQ(probe_bpf__load(skel.get()), 0) << core;
  for (bpf_program* p : programs) {
    const int fd = bpf_program__fd(p);
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (fd < 0 || bpf_prog_get_info_by_fd(fd, &info, &len)) continue;
    std::vector<bpf_insn> insns(info.xlated_prog_len / sizeof(bpf_insn));
    info = {};
    info.xlated_prog_len = insns.size() * sizeof(bpf_insn);
    info.xlated_prog_insns = reinterpret_cast<uint64_t>(insns.data());
    len = sizeof info;
    EXPECT_EQ(bpf_prog_get_info_by_fd(fd, &info, &len), 0);
    std::map<int32_t, int32_t> maps;
    for (size_t i = 0; i + 1 < insns.size(); ++i)
      if (insns[i].code == (BPF_LD | BPF_IMM | BPF_DW) && insns[i].src_reg != 0) {
        insns[i].imm = maps.emplace(insns[i].imm, static_cast<int32_t>(maps.size())).first->second;
        ++i;  // the second half of the 16-byte load
      }
    out[bpf_program__name(p)] = std::move(insns);
  }
  return out;
}

bool same(const std::vector<bpf_insn>& a, const std::vector<bpf_insn>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(bpf_insn)) == 0;
}

class KernelBtfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::can_load_bpf()) GTEST_SKIP() << "loading BPF programs needs root (CAP_BPF and CAP_PERFMON)";
    if (access(kVmlinux, R_OK) != 0) GTEST_SKIP() << "this kernel has no BTF (" << kVmlinux << ")";
  }
};

// The kept types are few (a few hundred bytes for 5 MB), and the programs made from them are
// those libbpf makes from the whole BTF (given as the same option): every CO-RE offset and
// existence check agrees, instruction for instruction.
TEST_F(KernelBtfTest, KeptTypesMakeTheProgramsTheWholeBtfMakes) {
  auto k = kernel_btf(probe_object());
  ASSERT_TRUE(k) << k.error().what;
  ASSERT_NE(k->core, kVmlinux) << "nothing kept: no boot id or build id?";
  std::unique_ptr<btf, void (*)(btf*)> core(btf__parse(k->core.c_str(), nullptr), btf__free);
  ASSERT_TRUE(core);
  EXPECT_LT(btf__type_cnt(core.get()), 32u);
  for (const char* view : {"task_struct", "thread_struct", "mm_struct"})
    EXPECT_GT(btf__find_by_name_kind(core.get(), view, BTF_KIND_STRUCT), 0) << view;

  const auto from_kept = loaded_programs(k->core.string(), *k);
  const auto from_whole = loaded_programs(kVmlinux, *k);
  ASSERT_EQ(from_kept.size(), 2u);
  ASSERT_EQ(from_whole.size(), 2u);
  for (const auto& [name, insns] : from_whole) {
    EXPECT_GT(insns.size(), 100u) << name;
    EXPECT_TRUE(same(from_kept.at(name), insns)) << name << ": the kernel runs other instructions";
  }
}

// Without this boot's file the process makes the same types for itself, in memory.
TEST_F(KernelBtfTest, NotKeptTheTypesAreTheProcesss) {
  auto kept = kernel_btf(probe_object());
  ASSERT_TRUE(kept) << kept.error().what;
  setenv("BPFAULT_NO_BTF_CACHE", "1", 1);
  auto own = kernel_btf(probe_object());
  unsetenv("BPFAULT_NO_BTF_CACHE");
  ASSERT_TRUE(own) << own.error().what;
  EXPECT_FALSE(own->kept);
  EXPECT_TRUE(own->core.string().starts_with("/proc/self/fd/")) << own->core;
  EXPECT_EQ(own->preempt_disable, kept->preempt_disable);
  const auto from_own = loaded_programs(own->core.string(), *own);
  const auto from_kept = loaded_programs(kept->core.string(), *kept);
  ASSERT_EQ(from_own.size(), 2u);
  for (const auto& [name, insns] : from_kept) EXPECT_TRUE(same(from_own.at(name), insns)) << name;
}

// The kfunc ids are the kernel's own, and each loaded program calls exactly those two kfuncs.
TEST_F(KernelBtfTest, PreemptionKfuncsAreTheKernels) {
  auto k = kernel_btf(probe_object());
  ASSERT_TRUE(k) << k.error().what;
  std::unique_ptr<btf, void (*)(btf*)> whole(btf__load_vmlinux_btf(), btf__free);
  ASSERT_TRUE(whole);
  const int disable = btf__find_by_name_kind(whole.get(), "bpf_preempt_disable", BTF_KIND_FUNC);
  const int enable = btf__find_by_name_kind(whole.get(), "bpf_preempt_enable", BTF_KIND_FUNC);
  EXPECT_EQ(k->preempt_disable, disable > 0 ? disable : 0);
  EXPECT_EQ(k->preempt_enable, enable > 0 ? enable : 0);
  if (disable <= 0) GTEST_SKIP() << "this kernel has no bpf_preempt_disable (before 6.10): the calls are `r0 = 0`";
  for (const auto& [name, insns] : loaded_programs(k->core.string(), *k)) {
    int kfuncs = 0;
    for (const bpf_insn& insn : insns)
      kfuncs += insn.code == (BPF_JMP | BPF_CALL) && insn.src_reg == BPF_PSEUDO_KFUNC_CALL;
    EXPECT_EQ(kfuncs, 2) << name;
  }
}

// Read back for the rest of the boot; a damaged record is made again, not believed.
TEST_F(KernelBtfTest, KeptForTheBootAndMadeAgainWhenDamaged) {
  auto first = kernel_btf(probe_object());
  ASSERT_TRUE(first) << first.error().what;
  auto again = kernel_btf(probe_object());
  ASSERT_TRUE(again) << again.error().what;
  EXPECT_TRUE(again->kept);
  EXPECT_EQ(again->core, first->core);
  EXPECT_EQ(again->preempt_disable, first->preempt_disable);

  const auto record = diag::per_boot_file("kernel-btf", ".json");
  ASSERT_FALSE(record.empty());
  std::ofstream(record) << "{\"core\": 12";
  auto remade = kernel_btf(probe_object());
  ASSERT_TRUE(remade) << remade.error().what;
  EXPECT_FALSE(remade->kept);
  EXPECT_EQ(remade->core, first->core);
  EXPECT_EQ(remade->preempt_enable, first->preempt_enable);
  EXPECT_TRUE(kernel_btf(probe_object())->kept);
}

}  // namespace
}  // namespace bpfault::kernel
