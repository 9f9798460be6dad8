// SPDX-License-Identifier: GPL-2.0
/* The probes bpfault attaches to a Go tracee. One handler serves every site (the attach cookie
 * selects its configuration): it counts calls exactly (call sites sit after the stack-check
 * prologue, which morestack re-enters), decides whether a fault fires (conditions, then the
 * first step of the chain not yet exhausted), applies it, and records what it saw and did.
 *
 * Four programs share the handler and differ only in what they may do, because a kernel that
 * refuses one kind of write refuses the whole program that contains it, and a program without
 * rule logic verifies in a fraction of the time:
 *   uprobe_observe     counts, records, times: no rule  (every kernel with uprobes)
 *   uprobe_decide      + conditions, steps, signals, delays  (every kernel with uprobes)
 *   uprobe_write_user  + tracee memory (bpf_probe_write_user; not under lockdown)
 *   uprobe_write_regs  + registers, ip and sp (uprobe ctx writes, 7.x)  */
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

#define SIGSTOP 19

/* Set by the harness before load: one choice for the whole process. */
const volatile __u32 preempt_off = 1; /* hits run with preemption off (see handle()) */

/* Set by the harness for each run, from the binary's analysis: one loaded object serves every
 * run of a process in turn (harness/kernel/probe_session.cpp), so these are data, not rodata
 * (in a section of their own, whatever their initial values: skel->data_settings). */
#define SETTING __attribute__((section(".data.settings")))
__u64 goid_offset SETTING = 0;	   /* runtime.g.goid; 0: goroutine ids unknown */
__u64 stack_hi_offset SETTING = 8; /* runtime.g.stack.hi */
__u64 ptr_size SETTING = 8;	   /* 4 for a 386 tracee */
__u64 seed SETTING = 0; /* 0: random probability rolls; else reproducible ones (see roll()) */

/* Set by the harness when it attaches, before the tracee execs; 0 between runs. */
__u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_MAX_SITES);
	__type(key, __u32);
	__type(value, struct probe_site);
} sites SEC(".maps");

#include "probe/counters.h"

/* Counters: hits per site, calls per probe. */
COUNTER_MAP(site_hits, PROBE_MAX_SITES);
COUNTER_MAP(probe_calls, PROBE_MAX_PROBES);

#include "probe/regs.h"
#include "probe/rules.h"
#include "probe/writes.h"

/* One hit as the handler sees it: where, the values there, whose call it is. */
struct hit {
	const struct probe_site *site;
	__u32 site_id;
	__u32 probe;
	__u64 call; /* the probe's call number this hit belongs to */
	__u64 sp;
	__u64 entry_sp; /* SP at the function's entry: the return address is at [entry_sp] */
	__u64 bias;	/* 0 unless the binary is position-independent */
	__u64 now;
	__u64 duration; /* at a RET of a timed call: since its call site */
	__s64 goid;	/* -1 when unknown */
	__u64 stack_hi; /* g.stack.hi, 0 when unknown */
	__u64 regs[NREGS];
};

#include "probe/pairing.h"
#include "probe/records.h"

/* Counts the hit and its call; returns 1 when the site does anything beyond counting. */
static __always_inline int count_hit(struct hit *h)
{
	__u64 *hits = counter(&site_hits, h->site_id);

	if (hits)
		__sync_fetch_and_add(hits, 1);
	__u64 *calls = counter(&probe_calls, h->probe);

	h->call = 0;
	if (calls)
		h->call = h->site->kind == SITE_CALL ? __sync_fetch_and_add(calls, 1) + 1 : *calls;
	return h->site->record || h->site->inject || h->site->latency;
}

/* At a call site: the step of the rule that fires for this call (-1: none), and the call kept
 * for its RETs when they need it; *pending_err says whether the RET writes could be kept. */
static __always_inline int on_call(struct pt_regs *ctx, struct hit *h, struct probe_rule *rule,
				   int have_g, const struct probe_step **step, __s32 *pending_err)
{
	int t = -1;

	if (rule && !rule->disarmed &&
	    matches(h->regs, h->sp, h->probe, rule, h->goid, h->bias, h->entry_sp)) {
		__u64 *m = counter(&probe_matches, h->probe);

		if (m)
			t = decide(h->probe, rule, __sync_fetch_and_add(m, 1) + 1);
		/* here, where rule is known: 6.1's verifier cannot carry `t >= 0 && rule` from a
		 * global function's result through a merged test */
		if (t >= 0)
			*step = &rule->steps[t &
					     (PROBE_MAX_STEPS -
					      1)]; /* the mask bounds the index for the verifier */
	}
	if (*step && !have_g)
		h->goid = read_goid(ctx, &h->stack_hi);
	int ret_writes = *step && (*step)->action == ACT_WRITE && (*step)->nret;

	/* a RET will need this call: to write its results, or to time it */
	if ((h->site->latency || ret_writes) && !(*step && (*step)->early_return)) {
		long err = pair_call(h->goid, h->stack_hi, h->entry_sp, h->probe,
				     ret_writes ? t : -1, h->call, h->now);

		if (ret_writes)
			*pending_err = err;
	} else if (h->site->inject) {
		/* a call at this depth means any earlier one there has ended, maybe without a RET
		 * (a panic unwound it): its entry must not pair with this unselected call's RET */
		if (!have_g && !*step)
			h->goid = read_goid(ctx, &h->stack_hi);
		pair_forget(h->goid, h->stack_hi, h->entry_sp);
	}
	return t;
}

/* At a RET: the call it returns from (its number, its duration), and the step whose result
 * writes apply here (-1: none). */
static __always_inline int on_ret(struct hit *h, struct probe_rule *rule,
				  const struct probe_step **step)
{
	struct probe_call_state st;

	if (!pair_ret(h->goid, h->stack_hi, h->entry_sp, &st) || st.probe != h->probe)
		return -1;
	h->duration = h->now - st.start_ns;
	h->call = st.call;
	if (h->site->inject && st.step >= 0 && rule)
		*step = &rule->steps[st.step & (PROBE_MAX_STEPS - 1)];
	return st.step;
}

static __always_inline int handle_hit(struct pt_regs *ctx, const int can_inject, const int can_regs,
				      const int can_mem)
{
	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	struct hit h;

	h.site_id = bpf_get_attach_cookie(ctx);
	h.site = bpf_map_lookup_elem(&sites, &h.site_id);
	if (!h.site)
		return 0;
	const struct probe_site *site = h.site;

	h.probe = site->probe;
	if (!count_hit(&h))
		return 0;
	h.sp = ctx->rsp;
	read_regs(ctx, h.regs);
	struct probe_rule *rule =
		can_inject && site->inject ? bpf_map_lookup_elem(&rules, &h.probe) : 0;
	/* The goroutine is read only when something uses it: a fault whose conditions do not
	 * hold costs no user-memory reads. */
	int have_g = site->record || site->latency || site->kind != SITE_CALL ||
		     (rule && rule->goroutine != G_ANY);

	h.stack_hi = 0;
	h.goid = -1;
	if (have_g)
		h.goid = read_goid(ctx, &h.stack_hi);
	h.bias = ctx->rip - site->vaddr;
	h.entry_sp = h.sp + site->sp_delta;
	h.now = bpf_ktime_get_ns();
	h.duration = 0;
	const struct probe_step *step = 0;
	int t = -1;
	__s32 pending_err = 0;

	if (site->kind == SITE_CALL)
		t = on_call(ctx, &h, rule, have_g, &step, &pending_err);
	else if (site->latency || site->inject)
		t = on_ret(&h, rule, &step);
	if (!step)
		return record_hit(ctx, &h);
	return record_injection(ctx, &h, step, t, pending_err, can_regs, can_mem);
}

/* Uprobe programs run preemptible (migrate_disable() only). In a 7.3 guest, 4 or 5 runs in 40
 * of callers-goroutine mixed other hits' goroutine ids, keys and registers into a hit's (a RET
 * write landed on the wrong goroutine); with preemption off, none in 120. The likely cause: the
 * JIT's per-CPU private stack (6.13+), which a hit of another thread on the same CPU overwrites
 * while this one is preempted. Hits run with preemption off where the kernel has the kfuncs
 * bpf_preempt_disable/enable (6.10+); 6.1 has no private stacks. Some kernels (6.12) refuse the
 * global functions below in such a region: the harness then loads with preempt_off = 0
 * (harness/kernel/probe_session.cpp).
 *
 * The kfuncs are not libbpf externs: resolving one makes libbpf parse the kernel's whole BTF,
 * ~10 ms of every process's first load. Each is called as a stand-in, a helper the programs
 * call nowhere else (probe.h), and the harness rewrites those two calls before load into the
 * kfunc calls, with the ids it keeps per boot (harness/kernel/kernel_btf.cpp), or into
 * `r0 = 0` where the kernel has no such kfunc (and sets preempt_off = 0). */
static long (*const preempt_disable_stand_in)(void) = (void *)PROBE_PREEMPT_DISABLE_HELPER;
static long (*const preempt_enable_stand_in)(void) = (void *)PROBE_PREEMPT_ENABLE_HELPER;

static __always_inline int handle(struct pt_regs *ctx, const int can_inject, const int can_regs,
				  const int can_mem)
{
	if (preempt_off)
		preempt_disable_stand_in();
	int ret = handle_hit(ctx, can_inject, can_regs, can_mem);

	if (preempt_off)
		preempt_enable_stand_in();
	return ret;
}

/* Counts, records and times: no rule to evaluate, so the verifier has little to walk. */
SEC("uprobe")
int uprobe_observe(struct pt_regs *ctx)
{
	return handle(ctx, 0, 0, 0);
}

SEC("uprobe")
int uprobe_decide(struct pt_regs *ctx)
{
	return handle(ctx, 1, 0, 0);
}

SEC("uprobe")
int uprobe_write_user(struct pt_regs *ctx)
{
	return handle(ctx, 1, 0, 1);
}

SEC("uprobe")
int uprobe_write_regs(struct pt_regs *ctx)
{
	return handle(ctx, 1, 1, 1);
}
