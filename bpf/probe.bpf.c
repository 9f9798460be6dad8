// SPDX-License-Identifier: GPL-2.0
/* The probes bpfault attaches to a Go tracee. One handler serves every site (the attach cookie
 * selects its configuration): it counts calls exactly (call sites sit after the stack-check
 * prologue, which morestack re-enters), decides whether a fault fires (conditions, then the
 * first step of the chain not yet exhausted), applies it, and records what it saw and did.
 *
 * Three programs share the handler and differ only in what they may write, because a kernel
 * that refuses one kind of write refuses the whole program that contains it:
 *   uprobe_read        counts, conditions, signals, records  (every kernel with uprobes)
 *   uprobe_write_user  + tracee memory (bpf_probe_write_user; not under lockdown)
 *   uprobe_write_regs  + registers, ip and sp (uprobe ctx writes, 7.x)  */
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>

#include "probe.h"

char LICENSE[] SEC("license") = "GPL";

#define SIGSTOP 19

/* Set by the harness before load, from the binary's analysis. */
const volatile __u64 goid_offset = 0;     /* runtime.g.goid; 0: goroutine ids unknown */
const volatile __u64 stack_hi_offset = 8; /* runtime.g.stack.hi */
const volatile __u32 preempt_off = 1;     /* hits run with preemption off (see handle()) */
const volatile __u64 ptr_size = 8;        /* 4 for a 386 tracee */
/* The harness drains on a timer: a wakeup per event would double a hit's cost. It is woken
 * only when the ring fills past half, so a burst cannot outrun the timer. */
#define RING_BYTES (2 << 20)


/* Set by the harness after load, before the tracee execs. */
__u32 target_tgid = 0;

__u64 drops = 0; /* events lost because the ring buffer was full: a run with drops fails */
__u64 goid_misses = 0; /* hits whose goroutine (g.goid, g.stack.hi behind R14) could not be read */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_MAX_SITES);
	__type(key, __u32);
	__type(value, struct probe_site);
} sites SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct probe_rule);
} rules SEC(".maps");

/* Counters: hits per site; per probe its calls and the calls that matched its conditions;
 * per probe and step the injections made; per probe the goroutine a G_FIRST rule settled on. */
#define COUNTER_MAP(name, n)                      \
	struct {                                  \
		__uint(type, BPF_MAP_TYPE_ARRAY); \
		__uint(max_entries, n);           \
		__type(key, __u32);               \
		__type(value, __u64);             \
	} name SEC(".maps")
COUNTER_MAP(site_hits, PROBE_MAX_SITES);
COUNTER_MAP(probe_calls, PROBE_MAX_PROBES);
COUNTER_MAP(probe_matches, PROBE_MAX_PROBES);
COUNTER_MAP(term_fired, PROBE_MAX_PROBES *PROBE_MAX_TERMS);
COUNTER_MAP(pinned_goid, PROBE_MAX_PROBES);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* calls in flight: goroutines x recursion depth */
	__type(key, struct probe_call_key);
	__type(value, struct probe_call_state);
} in_flight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RING_BYTES); /* ~200 k events/s with a 10 ms drain fill ~70 KB */
} events SEC(".maps");

static __always_inline __u64 submit_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > RING_BYTES / 2 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline __u64 *counter(void *map, __u32 key)
{
	return bpf_map_lookup_elem(map, &key);
}

/* Registers are copied out of ctx with constant offsets and written back the same way: the
 * verifier refuses a ctx access through a computed pointer, which a switch over the register
 * index compiles to. The copy has 16 slots so that `reg & 15` bounds every index. */
#define NREGS 16

static __always_inline void read_regs(struct pt_regs *ctx, __u64 regs[NREGS])
{
	__builtin_memset(regs, 0, NREGS * sizeof(__u64));
	regs[0] = ctx->rax;
	regs[1] = ctx->rbx;
	regs[2] = ctx->rcx;
	regs[3] = ctx->rdi;
	regs[4] = ctx->rsi;
	regs[5] = ctx->r8;
	regs[6] = ctx->r9;
	regs[7] = ctx->r10;
	regs[8] = ctx->r11;
}

static __always_inline void write_regs(struct pt_regs *ctx, const __u64 regs[NREGS])
{
	ctx->rax = regs[0];
	ctx->rbx = regs[1];
	ctx->rcx = regs[2];
	ctx->rdi = regs[3];
	ctx->rsi = regs[4];
	ctx->r8 = regs[5];
	ctx->r9 = regs[6];
	ctx->r10 = regs[7];
	ctx->r11 = regs[8];
}

static __always_inline void capture(const __u64 regs[NREGS], __u64 sp, __u64 out_regs[PROBE_INT_REGS],
				    __u8 stack[PROBE_STACK_BYTES])
{
	__builtin_memcpy(out_regs, regs, PROBE_INT_REGS * sizeof(__u64));
	/* near the top of a stack the whole window may not be mapped: keep what can be read */
	if (bpf_probe_read_user(stack, PROBE_STACK_BYTES, (void *)sp)) {
		__builtin_memset(stack, 0, PROBE_STACK_BYTES);
		bpf_probe_read_user(stack, 32, (void *)sp);
	}
}

/* A value at a site, zero-extended from its size. */
static __always_inline __u64 load(const __u64 regs[NREGS], __u64 sp, const struct probe_loc *loc)
{
	__u64 v = 0;

	if (loc->kind == LOC_REG)
		v = regs[loc->reg & (NREGS - 1)];
	else if (loc->kind == LOC_STACK)
		bpf_probe_read_user(&v, sizeof(v), (void *)(sp + loc->sp_offset));
	if (loc->size && loc->size < 8)
		v &= (1ULL << (loc->size * 8)) - 1;
	return v;
}

static __always_inline __s64 sign_extend(__u64 v, __u8 size)
{
	if (size && size < 8 && (v >> (size * 8 - 1)) & 1)
		v |= ~0ULL << (size * 8);
	return (__s64)v;
}

/* The register copy as one object, so that a global function knows its size. */
struct regs_copy {
	__u64 r[NREGS];
};

/* Global (not inlined): the verifier checks it once, on its own, instead of once per predicate
 * slot in every program; inlined, the predicates were 60 % of the programs' verification. */
__noinline int holds(const struct regs_copy *rc, __u64 sp, const struct probe_pred *p)
{
	if (!rc || !p)
		return 0;
	const __u64 *regs = rc->r;
	__u64 v = load(regs, sp, &p->loc);

	if (p->op == P_PREFIX || p->op == P_STREQ) {
		__u8 buf[PROBE_BYTES] = {};
		__u64 len = load(regs, sp, &p->len_loc);
		__u32 n = p->nbytes & (PROBE_BYTES - 1);

		if (p->nbytes == PROBE_BYTES)
			n = PROBE_BYTES;
		if (p->op == P_STREQ ? len != n : len < n)
			return 0;
		if (n && bpf_probe_read_user(buf, ((n - 1) & (PROBE_BYTES - 1)) + 1, (void *)v))
			return 0;
		for (int i = 0; i < PROBE_BYTES; i++)
			if (i < n && buf[i] != p->bytes[i])
				return 0;
		return 1;
	}
	if (p->is_signed) {
		__s64 a = sign_extend(v, p->loc.size), b = (__s64)p->value;

		switch (p->op) {
		case P_EQ: return a == b;
		case P_NE: return a != b;
		case P_LT: return a < b;
		case P_LE: return a <= b;
		case P_GT: return a > b;
		default: return a >= b;
		}
	}
	switch (p->op) {
	case P_EQ: return v == p->value;
	case P_NE: return v != p->value;
	case P_LT: return v < p->value;
	case P_LE: return v <= p->value;
	case P_GT: return v > p->value;
	default: return v >= p->value;
	}
}

/* The conditions every injection needs: argument predicates, the caller, the goroutine. */
static __always_inline int matches(const __u64 regs[NREGS], __u64 sp, __u32 probe, const struct probe_rule *r, __s64 goid,
				   __u64 bias, __u64 entry_sp)
{
	for (int i = 0; i < PROBE_MAX_PREDS; i++)
		if (i < r->npreds && !holds((const struct regs_copy *)regs, sp, &r->preds[i]))
			return 0;
	if (r->caller_hi) {
		__u64 ret = 0;

		bpf_probe_read_user(&ret, ptr_size == 4 ? 4 : 8, (void *)entry_sp);
		if (ret < r->caller_lo + bias || ret >= r->caller_hi + bias)
			return 0;
	}
	if (r->goroutine == G_ID && goid != r->goid)
		return 0;
	if (r->goroutine == G_FIRST) {
		__u64 *pin = counter(&pinned_goid, probe);

		/* goid + 1 is stored, so that 0 means "not settled yet" */
		if (!pin)
			return 0;
		if (*pin == 0)
			__sync_val_compare_and_swap(pin, 0, (__u64)goid + 1);
		if (*pin != (__u64)goid + 1)
			return 0;
	}
	return 1;
}

/* The step that fires for this matching call, or -1. */
/* Global, like holds(): verified once. */
__noinline int decide(__u32 probe, const struct probe_rule *r, __u64 match)
{
	if (!r)
		return -1;
	for (int t = 0; t < PROBE_MAX_TERMS; t++) {
		if (t >= r->nterms)
			break;
		const struct probe_term *term = &r->terms[t];
		__u64 *fired = counter(&term_fired, probe * PROBE_MAX_TERMS + t);

		if (!fired)
			return -1;
		if (term->times && *fired >= term->times)
			continue; /* exhausted: the chain moves on */
		if (term->nth && match != term->nth)
			return -1;
		if (term->every && match % term->every)
			return -1;
		if (term->probability < 1000000 && bpf_get_prandom_u32() % 1000000 >= term->probability)
			return -1;
		if (term->times && __sync_fetch_and_add(fired, 1) >= term->times)
			return -1; /* another CPU took the last one */
		if (!term->times)
			__sync_fetch_and_add(fired, 1);
		return t;
	}
	return -1;
}

static __always_inline __u64 value_of(const struct probe_write *w, __u64 bias)
{
	__u64 v = w->value;

	if (w->src == SRC_ADDR)
		v += bias;
	else if (w->src == SRC_USER && bpf_probe_read_user(&v, sizeof(v), (void *)(w->value + bias)))
		v = 0;
	return v;
}

/* Applies `n` writes: registers into `regs` (the caller writes them back), memory at once.
 * Their results go into `res`. */
static __always_inline void apply(struct pt_regs *ctx, __u64 regs[NREGS], __u64 sp, const struct probe_write *ws, __u32 n,
				  __u64 bias, __u64 entry_sp, struct probe_write_result *res, const int can_regs, const int can_mem)
{
	for (int i = 0; i < PROBE_MAX_WRITES; i++) {
		if (i >= n)
			break;
		const struct probe_write *w = &ws[i];
		__u64 v = value_of(w, bias);
		__u64 dst = 0;
		__u32 len = w->len > PROBE_BYTES ? PROBE_BYTES : w->len;

		res[i].err = -95; /* EOPNOTSUPP: this program may not write there (the plan prevents it) */
		if (w->kind == W_RETURN) {
			__u64 ret = 0;

			if (!can_regs || bpf_probe_read_user(&ret, ptr_size == 4 ? 4 : 8, (void *)entry_sp))
				continue;
			/* past a `push rbp`, the caller's frame pointer is at [sp]: restore it */
			if (entry_sp != sp) {
				__u64 rbp = 0;

				if (bpf_probe_read_user(&rbp, ptr_size == 4 ? 4 : 8, (void *)sp))
					continue;
				ctx->rbp = rbp;
			}
			ctx->rip = ret;
			ctx->rsp = entry_sp + ptr_size;
			res[i].err = 0;
			continue;
		}
		if (w->kind == W_STORE && w->loc.kind == LOC_REG) {
			if (can_regs) {
				regs[w->loc.reg & (NREGS - 1)] = v;
				res[i].err = 0;
			}
			continue;
		}
		if (w->kind == W_STORE)
			dst = sp + w->loc.sp_offset;
		else
			dst = load(regs, sp, &w->loc) + w->offset;
		if (!can_mem || !len)
			continue;
		if (w->src == SRC_BYTES && w->limit.kind != LOC_NONE && load(regs, sp, &w->limit) < len) {
			res[i].err = -28; /* ENOSPC: the string is shorter than the bytes to write */
			continue;
		}
		/* sizes the verifier can prove to be 1..32 and 1..8 (len is 1..32 here) */
		__u32 n = ((len - 1) & (PROBE_BYTES - 1)) + 1, n8 = ((len - 1) & 7) + 1;

		bpf_probe_read_user(res[i].before, n8, (void *)dst);
		if (w->src == SRC_BYTES)
			res[i].err = bpf_probe_write_user((void *)dst, w->bytes, n);
		else
			res[i].err = bpf_probe_write_user((void *)dst, &v, len > 8 ? 8 : n8);
	}
}

/* The fault of a step that fired: a signal, a pause, or its writes at the call or at a RET
 * (results in res); returns the number of writes. */
static __always_inline __u32 fault(struct pt_regs *ctx, __u64 regs[NREGS], __u64 sp, const struct probe_site *site,
				   const struct probe_term *term, __u64 bias, __u64 entry_sp,
				   struct probe_write_result *res, const int can_regs, const int can_mem)
{
	__u32 nwrites = 0;

	if (site->kind == SITE_CALL) {
		if (term->action == ACT_SIGNAL) {
			bpf_send_signal(term->signal);
		} else if (term->action == ACT_PAUSE) {
			bpf_send_signal(SIGSTOP);
		} else if (term->action == ACT_WRITE) {
			nwrites = term->ncall;
			apply(ctx, regs, sp, term->call, term->ncall, bias, entry_sp, res, can_regs, can_mem);
		}
	} else {
		nwrites = term->nret;
		apply(ctx, regs, sp, term->ret, term->nret, bias, entry_sp, res, can_regs, can_mem);
	}
	if (can_regs)
		write_regs(ctx, regs);
	return nwrites;
}

static __always_inline __s64 read_goid(struct pt_regs *ctx, __u64 *stack_hi)
{
	__s64 goid = -1;

	*stack_hi = 0;
	/* R14 holds the current g in Go's register ABI (amd64, Go >= 1.17) */
	if (!goid_offset || !ctx->r14)
		return -1;
	if (bpf_probe_read_user(&goid, sizeof(goid), (void *)(ctx->r14 + goid_offset))) {
		__sync_fetch_and_add(&goid_misses, 1);
		return -1;
	}
	if (bpf_probe_read_user(stack_hi, sizeof(*stack_hi), (void *)(ctx->r14 + stack_hi_offset))) {
		__sync_fetch_and_add(&goid_misses, 1);
		*stack_hi = 0;
	}
	return goid;
}

/* A call in flight: its goroutine (or thread) and its depth below the goroutine's stack top,
 * which stays put when the stack moves. */
static __always_inline struct probe_call_key call_key(__s64 goid, __u64 stack_hi, __u64 entry_sp)
{
	struct probe_call_key key = { goid >= 0 ? goid : (__s64)(__u32)bpf_get_current_pid_tgid(),
				      stack_hi ? stack_hi - entry_sp : entry_sp };
	return key;
}

static __always_inline void fill_hit(struct probe_event *e, const __u64 regs[NREGS], __u64 sp, __u32 site_id,
				     __s64 goid, __u64 stack_hi, __u64 call, __u64 now, __u64 entry_sp, __u64 duration)
{
	e->type = EV_HIT;
	e->site = site_id;
	e->time_ns = now;
	e->ret_addr = 0;
	bpf_probe_read_user(&e->ret_addr, ptr_size == 4 ? 4 : 8, (void *)entry_sp);
	e->duration_ns = duration;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->goid = goid;
	e->sp = sp;
	e->stack_hi = stack_hi;
	e->call = call;
	capture(regs, sp, e->regs, e->stack);
}

/* A hit with the user stack and memory captures. */
static __always_inline int record_ext(struct pt_regs *ctx, const struct probe_site *site, const __u64 regs[NREGS], __u64 sp,
				      __u32 site_id, __s64 goid, __u64 stack_hi, __u64 call, __u64 now, __u64 entry_sp,
				      __u64 duration)
{
	struct probe_event_ext *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&drops, 1);
		return 0;
	}
	fill_hit(&e->hit, regs, sp, site_id, goid, stack_hi, call, now, entry_sp, duration);
	e->hit.type = EV_HIT_EXT;
	e->nframes = 0;
	if (site->stack) {
		long n = bpf_get_stack(ctx, e->frames, sizeof(e->frames), BPF_F_USER_STACK);

		e->nframes = n < 0 ? n : n / sizeof(__u64);
	}
	for (int i = 0; i < PROBE_MAX_CAPTURES; i++) {
		const struct probe_capture *c = &site->captures[i];
		__u64 n = c->max;

		e->captured[i] = 0;
		if (i >= site->ncaptures)
			continue;
		if (c->len.kind != LOC_NONE) {
			__u64 count = load(regs, sp, &c->len);

			if (count * c->elem < n)
				n = count * c->elem;
		}
		if (n == 0 || n > PROBE_CAPTURE_BYTES)
			continue;
		/* 1..64, provably, for the verifier */
		n = ((n - 1) & (PROBE_CAPTURE_BYTES - 1)) + 1;
		if (!bpf_probe_read_user(e->capture[i], n, (void *)load(regs, sp, &c->ptr)))
			e->captured[i] = n;
	}
	bpf_ringbuf_submit(e, submit_flags());
	return 0;
}

static __always_inline int handle_hit(struct pt_regs *ctx, const int can_inject, const int can_regs, const int can_mem)
{
	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	__u32 site_id = bpf_get_attach_cookie(ctx);
	struct probe_site *site = bpf_map_lookup_elem(&sites, &site_id);

	if (!site)
		return 0;
	__u32 probe = site->probe;
	__u64 *hits = counter(&site_hits, site_id);

	if (hits)
		__sync_fetch_and_add(hits, 1);
	__u64 call = 0;
	__u64 *calls = counter(&probe_calls, probe);

	if (calls)
		call = site->kind == SITE_CALL ? __sync_fetch_and_add(calls, 1) + 1 : *calls;
	if (!site->record && !site->inject && !site->latency)
		return 0;

	__u64 regs[NREGS];
	__u64 sp = ctx->rsp;

	read_regs(ctx, regs);
	struct probe_rule *rule = can_inject && site->inject ? bpf_map_lookup_elem(&rules, &probe) : 0;
	/* The goroutine is read only when something uses it: a fault whose conditions do not
	 * hold costs no user-memory reads. */
	__u64 stack_hi = 0;
	__s64 goid = -1;
	int have_g = site->record || site->latency || site->kind != SITE_CALL || (rule && rule->goroutine != G_ANY);

	if (have_g)
		goid = read_goid(ctx, &stack_hi);
	__u64 bias = ctx->rip - site->vaddr; /* 0 unless the binary is position-independent */
	__u64 entry_sp = sp + site->sp_delta;
	const struct probe_term *term = 0;
	int t = -1;
	__u64 now = bpf_ktime_get_ns(), duration = 0;

	if (site->kind == SITE_CALL) {
		if (rule && matches(regs, sp, probe, rule, goid, bias, entry_sp)) {
			__u64 *m = counter(&probe_matches, probe);

			if (m)
				t = decide(probe, rule, __sync_fetch_and_add(m, 1) + 1);
			/* here, where rule is known: 6.1's verifier cannot carry `t >= 0 && rule` from a
			 * global function's result through a merged test */
			if (t >= 0)
				term = &rule->terms[t & (PROBE_MAX_TERMS - 1)]; /* the mask bounds the index for the verifier */
		}
		if (term && !have_g)
			goid = read_goid(ctx, &stack_hi);
		int ret_writes = term && term->action == ACT_WRITE && term->nret;

		/* a RET will need this call: to write its results, or to time it */
		if ((site->latency || ret_writes) && !(term && term->early_return)) {
			struct probe_call_state st = { probe, ret_writes ? t : -1, call, now };
			struct probe_call_key key = call_key(goid, stack_hi, entry_sp);

			bpf_map_update_elem(&in_flight, &key, &st, BPF_ANY);
		}
	} else if (site->latency || site->inject) {
		struct probe_call_key key = call_key(goid, stack_hi, entry_sp);
		struct probe_call_state *st = bpf_map_lookup_elem(&in_flight, &key);

		if (st) {
			duration = now - st->start_ns;
			call = st->call;
			if (site->inject && st->term >= 0 && rule)
				term = &rule->terms[st->term & (PROBE_MAX_TERMS - 1)];
			t = st->term;
			bpf_map_delete_elem(&in_flight, &key);
		}
	}

	if (!term) {
		if (!site->record)
			return 0;
		if (site->record == RECORD_TIMING) {
			struct probe_timing *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

			if (!e) {
				__sync_fetch_and_add(&drops, 1);
				return 0;
			}
			e->type = EV_TIMING;
			e->site = site_id;
			e->time_ns = now;
			e->tid = (__u32)bpf_get_current_pid_tgid();
			e->goid = goid;
			e->call = call;
			e->duration_ns = duration;
			bpf_ringbuf_submit(e, submit_flags());
			return 0;
		}
		if (site->stack || site->ncaptures)
			return record_ext(ctx, site, regs, sp, site_id, goid, stack_hi, call, now, entry_sp, duration);
		struct probe_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

		if (!e) {
			__sync_fetch_and_add(&drops, 1);
			return 0;
		}
		fill_hit(e, regs, sp, site_id, goid, stack_hi, call, now, entry_sp, duration);
		bpf_ringbuf_submit(e, submit_flags());
		return 0;
	}

	/* The fault happens whether or not its record fits the ring buffer. The record is built
	 * in place there (each hit owns its memory: a per-CPU scratch buffer would be shared by
	 * programs that preempt each other); what it sees before the writes is taken first. */
	struct probe_injection *inj = bpf_ringbuf_reserve(&events, sizeof(*inj), 0);

	if (!inj) {
		/* its own path: 6.1's verifier takes a second `inj == NULL` test as possible even
		 * where inj is known to be set, and then sees the reservation leak */
		struct probe_write_result res[PROBE_MAX_WRITES] = {};

		__sync_fetch_and_add(&drops, 1);
		fault(ctx, regs, sp, site, term, bias, entry_sp, res, can_regs, can_mem);
		return 0;
	}
	fill_hit(&inj->hit, regs, sp, site_id, goid, stack_hi, call, now, entry_sp, duration);
	inj->hit.type = EV_INJECTION;
	inj->term = t;
	__builtin_memset(inj->writes, 0, sizeof(inj->writes));
	inj->nwrites = fault(ctx, regs, sp, site, term, bias, entry_sp, inj->writes, can_regs, can_mem);
	capture(regs, sp, inj->regs_after, inj->stack_after);
	/* injections are rare and the harness acts on pauses: wake it */
	bpf_ringbuf_submit(inj, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/* Uprobe programs run preemptible (migrate_disable() only). In a 7.3 guest, 4 or 5 runs in 40
 * of callers-goroutine mixed other hits' goroutine ids, keys and registers into a hit's (a RET
 * write landed on the wrong goroutine); with preemption off, none in 120. The likely cause: the
 * JIT's per-CPU private stack (6.13+), which a hit of another thread on the same CPU overwrites
 * while this one is preempted. Hits run with preemption off where the kernel has the kfuncs
 * (6.10+); 6.1 has no private stacks, and loads the programs without them. Some kernels (6.12)
 * refuse the global functions below in such a region: the harness then loads with preempt_off
 * = 0 (harness/kernel/probe_session.cpp). */
extern void bpf_preempt_disable(void) __weak __ksym;
extern void bpf_preempt_enable(void) __weak __ksym;

static __always_inline int handle(struct pt_regs *ctx, const int can_inject, const int can_regs, const int can_mem)
{
	const int kfuncs = preempt_off && bpf_ksym_exists(bpf_preempt_disable) && bpf_ksym_exists(bpf_preempt_enable);

	if (kfuncs)
		bpf_preempt_disable();
	int ret = handle_hit(ctx, can_inject, can_regs, can_mem);

	if (kfuncs)
		bpf_preempt_enable();
	return ret;
}

/* Counts, records and times: no rule to evaluate, so the verifier has little to walk. */
SEC("uprobe")
int uprobe_record(struct pt_regs *ctx)
{
	return handle(ctx, 0, 0, 0);
}

SEC("uprobe")
int uprobe_read(struct pt_regs *ctx)
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
