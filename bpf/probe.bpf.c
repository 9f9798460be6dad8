// SPDX-License-Identifier: GPL-2.0
/* The probes bpfault attaches to a Go tracee: one handler serves every site (the attach cookie
 * selects its configuration); it counts calls exactly (sites sit after the stack-check prologue,
 * which morestack re-enters) and records registers and stack words into a ring buffer. */
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>

#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the harness before load, from the binary's analysis. */
const volatile __u64 goid_offset = 0;     /* runtime.g.goid; 0: goroutine ids unknown */
const volatile __u64 stack_hi_offset = 8; /* runtime.g.stack.hi */
/* the harness drains on a timer: a wakeup per event would double a hit's cost */
const volatile __u64 submit_flags = BPF_RB_NO_WAKEUP;

/* Set by the harness after load, before the tracee execs. */
__u32 target_tgid = 0;

__u64 drops = 0; /* events lost because the ring buffer was full: a run with drops fails */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_MAX_SITES);
	__type(key, __u32);
	__type(value, struct probe_site);
} sites SEC(".maps");

/* hits per site, and calls per probe (counted at its SITE_CALL) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_MAX_SITES);
	__type(key, __u32);
	__type(value, __u64);
} site_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_MAX_PROBES);
	__type(key, __u32);
	__type(value, __u64);
} probe_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* 1 MiB: no drops at ~200 k events/s with a 10 ms drain */
} events SEC(".maps");

static __always_inline __u64 add(void *map, __u32 key)
{
	__u64 *v = bpf_map_lookup_elem(map, &key);

	return v ? __sync_fetch_and_add(v, 1) + 1 : 0;
}

static __always_inline __s64 read_goid(struct pt_regs *ctx, __u64 *stack_hi)
{
	__s64 goid = -1;

	/* R14 holds the current g in Go's register ABI (amd64, Go >= 1.17) */
	if (!goid_offset || !ctx->r14)
		return -1;
	bpf_probe_read_user(&goid, sizeof(goid), (void *)(ctx->r14 + goid_offset));
	bpf_probe_read_user(stack_hi, sizeof(*stack_hi), (void *)(ctx->r14 + stack_hi_offset));
	return goid;
}

static __always_inline int handle(struct pt_regs *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	__u32 site_id = bpf_get_attach_cookie(ctx);
	struct probe_site *site = bpf_map_lookup_elem(&sites, &site_id);

	if (!site)
		return 0;
	add(&site_hits, site_id);
	__u64 call = site->kind == SITE_CALL ? add(&probe_calls, site->probe) : 0;

	if (!site->record)
		return 0;
	struct probe_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&drops, 1);
		return 0;
	}
	if (!call) {
		__u64 *c = bpf_map_lookup_elem(&probe_calls, &site->probe);

		call = c ? *c : 0;
	}
	e->time_ns = bpf_ktime_get_ns();
	e->site = site_id;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->stack_hi = 0;
	e->goid = read_goid(ctx, &e->stack_hi);
	e->sp = ctx->rsp;
	e->call = call;
	e->regs[0] = ctx->rax;
	e->regs[1] = ctx->rbx;
	e->regs[2] = ctx->rcx;
	e->regs[3] = ctx->rdi;
	e->regs[4] = ctx->rsi;
	e->regs[5] = ctx->r8;
	e->regs[6] = ctx->r9;
	e->regs[7] = ctx->r10;
	e->regs[8] = ctx->r11;
	/* near the top of a stack the whole window may not be mapped: keep what can be read */
	if (bpf_probe_read_user(e->stack, sizeof(e->stack), (void *)ctx->rsp)) {
		__builtin_memset(e->stack, 0, sizeof(e->stack));
		bpf_probe_read_user(e->stack, 32, (void *)ctx->rsp);
	}
	bpf_ringbuf_submit(e, submit_flags);
	return 0;
}

/* Read-only: loads on every kernel with uprobes, lockdown or not. */
SEC("uprobe")
int uprobe_read(struct pt_regs *ctx)
{
	return handle(ctx);
}
