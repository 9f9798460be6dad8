// SPDX-License-Identifier: GPL-2.0
/* The floor under any uprobe harness (bench/floor.c): the least a BPF uprobe can do.
 * Like bpf/probe.bpf.c it reads x86-64 `struct pt_regs` (user ABI), so it needs no kernel
 * BTF, and it is loaded for uprobe_multi links, the way bpfault attaches. */
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <linux/bpf.h>

#include "floor.h"

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} events SEC(".maps");

/* The empty probe: what the int3 + single-step round trip costs with a program attached. */
SEC("uprobe.multi")
int uprobe_empty(struct pt_regs* ctx) { return 0; }

/* The seed task done by hand: the first argument of the call, to user space. */
SEC("uprobe.multi")
int uprobe_arg(struct pt_regs* ctx) {
  struct floor_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

  if (!e) return 0;
  e->ax = ctx->rax;
  bpf_ringbuf_submit(e, 0);
  return 0;
}
