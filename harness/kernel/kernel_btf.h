// What the probe programs take from the running kernel's BTF (/sys/kernel/btf/vmlinux), made
// once per boot and kept in /run/bpfault. libbpf would otherwise parse the whole BTF (5 MB,
// ~125 000 types on 6.18: ~10 ms) in every process that loads them, for the offsets of five
// fields and the ids of two kfuncs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "diag/error.h"

struct bpf_program;

namespace bpfault::kernel {

struct KernelBtf {
  // The kernel's layout of the types the object's CO-RE views name (structs NAME___FLAVOUR, as
  // bpf/probe/task.h's), with only the fields the views have: libbpf's `btf_custom_path`.
  std::filesystem::path core;
  // The BTF ids of the kfuncs bpf_preempt_disable and bpf_preempt_enable; 0: the kernel has not
  // got them (before 6.10).
  int32_t preempt_disable = 0, preempt_enable = 0;
  bool kept = false;  // read back from this boot's file, not made by this process
};

// For the BPF object whose ELF bytes are `object` (the skeleton's). Fails when the kernel has no
// BTF, which CO-RE needs. With BPFAULT_NO_BTF_CACHE=1 (or where /run/bpfault cannot be written)
// the process reads the whole BTF itself, once, and keeps the types in memory.
Result<KernelBtf> kernel_btf(std::span<const std::byte> object);

// Rewrites the two helper calls that stand for bpf_preempt_disable() and bpf_preempt_enable() in
// a probe program (bpf/probe.h) into those kfunc calls, or into `r0 = 0` where the kernel has not
// got them. Before the object is loaded; fails unless the program makes one call of each.
Result<void> call_preempt_kfuncs(bpf_program* prog, const KernelBtf& k);

}  // namespace bpfault::kernel
