/* Whether a fault fires for a call: argument predicates, caller, goroutine (matches), then the
 * first step of the chain not yet exhausted (decide). Included by probe.bpf.c, and built for the
 * host by tests/bpf (its unit tests). */
#ifndef BPFAULT_PROBE_RULES_H
#define BPFAULT_PROBE_RULES_H

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct probe_rule);
} rules SEC(".maps");

/* Per probe the calls that matched its conditions; per probe and step the injections made; per
 * probe the goroutine a G_FIRST rule settled on. */
COUNTER_MAP(probe_matches, PROBE_MAX_PROBES);
COUNTER_MAP(step_fired, PROBE_MAX_PROBES *PROBE_MAX_STEPS);
COUNTER_MAP(pinned_goid, PROBE_MAX_PROBES);

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

/* Whether the call instruction ending at `call` (its last byte: a call from an inlined copy may
 * be its last instruction, and then returns to the first byte past the copy) lies in one of the
 * rule's caller ranges. Global, like holds(). */
__noinline int called_from(const struct probe_rule *r, __u64 call, __u64 bias)
{
	if (!r)
		return 0;
	/* bounded by a constant, as the verifier of 6.1 wants */
	for (int i = 0; i < PROBE_MAX_CALLER_RANGES; i++) {
		if (i >= r->ncallers)
			break;
		if (call >= r->callers[i].lo + bias && call < r->callers[i].hi + bias)
			return 1;
	}
	return 0;
}

/* The conditions every injection needs: argument predicates, the caller, the goroutine. */
static __always_inline int matches(const __u64 regs[NREGS], __u64 sp, __u32 probe,
				   const struct probe_rule *r, __s64 goid, __u64 bias,
				   __u64 entry_sp)
{
	for (int i = 0; i < PROBE_MAX_PREDS; i++)
		if (i < r->npreds && !holds((const struct regs_copy *)regs, sp, &r->preds[i]))
			return 0;
	if (r->ncallers) {
		__u64 ret = 0;

		bpf_probe_read_user(&ret, ptr_size == 4 ? 4 : 8, (void *)entry_sp);
		if (!called_from(r, ret - 1, bias))
			return 0;
	}
	/* an unknown goroutine matches no goroutine condition (goid_misses says how many) */
	if (r->goroutine != G_ANY && goid < 0)
		return 0;
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

/* A probability roll: with a seed, a pure function of (seed, probe, step, matching call), so a
 * run with the same seed injects into the same calls whatever the threads' interleaving
 * (splitmix64's finalizer); without one, the kernel's PRNG. */
static __always_inline __u32 roll(__u32 probe, int t, __u64 match)
{
	if (!seed)
		return bpf_get_prandom_u32();
	__u64 z = seed + (match ^ ((__u64)probe << 40) ^ ((__u64)t << 56)) * 0x9E3779B97F4A7C15ULL;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return (__u32)((z ^ (z >> 31)) >> 32);
}

/* The step that fires for this matching call, or -1. */
/* Global, like holds(): verified once. */
__noinline int decide(__u32 probe, const struct probe_rule *r, __u64 match)
{
	if (!r)
		return -1;
	for (int t = 0; t < PROBE_MAX_STEPS; t++) {
		if (t >= r->nsteps)
			break;
		const struct probe_step *step = &r->steps[t];
		__u64 *fired = counter(&step_fired, probe * PROBE_MAX_STEPS + t);

		if (!fired)
			return -1;
		if (step->times && *fired >= step->times)
			continue; /* exhausted: the chain moves on */
		if (step->nth && match != step->nth)
			return -1;
		if (step->every && match % step->every)
			return -1;
		/* failpoint's semantics: a step whose roll fails hands the call to the next one */
		if (step->probability < 1000000 &&
		    roll(probe, t, match) % 1000000 >= step->probability)
			continue;
		if (step->times && __sync_fetch_and_add(fired, 1) >= step->times)
			return -1; /* another CPU took the last one */
		if (!step->times)
			__sync_fetch_and_add(fired, 1);
		return t;
	}
	return -1;
}

#endif
