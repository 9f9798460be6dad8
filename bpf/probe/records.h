/* What a hit emits: plain hits, timings, hits with stacks and captures, injections with their
 * read-back. Included by probe.bpf.c only. */
#ifndef BPFAULT_PROBE_RECORDS_H
#define BPFAULT_PROBE_RECORDS_H

/* The harness drains on a timer: a wakeup per event would double a hit's cost. It is woken
 * only when the ring fills past half, so a burst cannot outrun the timer. Its size:
 * PROBE_RING_BYTES (probe.h). */

__u64 drops = 0; /* events lost because the ring buffer was full: a run with drops fails */

/* An injection's record is built here, per thread (a thread cannot preempt itself, while a
 * per-CPU buffer is shared by preempted hits), then copied to the ring buffer: the fault and
 * its read-back happen whether or not the record fits. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct probe_injection);
} injection_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PROBE_RING_BYTES); /* ~200 k events/s with a 10 ms drain fill ~70 KB */
} events SEC(".maps");

static __always_inline __u64 submit_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > PROBE_RING_BYTES / 2
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_hit(struct probe_event *e, const __u64 regs[NREGS], __u64 sp,
				     __u32 site_id, __s64 goid, __u64 stack_hi, __u64 call,
				     __u64 now, __u64 entry_sp, __u64 duration)
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

/* What one capture copies: up to PROBE_CAPTURE_BYTES, as one object so that a global function
 * knows its size. */
struct capture_bytes {
	__u8 b[PROBE_CAPTURE_BYTES];
};

/* The memory behind one of a site's strings or slices: its first bytes or elements, copied to
 * `out`; returns how many (0: none). Global, like holds(): verified once, not once per capture
 * slot of each of the four records that copy captures. */
__noinline __u32 copy_capture(const struct regs_copy *rc, __u64 sp, const struct probe_capture *c,
			      struct capture_bytes *out)
{
	if (!rc || !c || !out)
		return 0;
	const __u64 *regs = rc->r;
	__u64 n = c->max, at = load(regs, sp, &c->ptr);

	if (c->len.kind != LOC_NONE) {
		__u64 count = load(regs, sp, &c->len);

		if (count * c->elem < n)
			n = count * c->elem;
	}
	if (c->through) {
		/* a string header in the memory `at` points to: {pointer, length} */
		__u64 header[2] = {};

		if (ptr_size == 4) {
			__u32 h32[2] = {};

			if (bpf_probe_read_user(h32, sizeof(h32), (void *)(at + c->offset)))
				return 0;
			header[0] = h32[0];
			header[1] = h32[1];
		} else if (bpf_probe_read_user(header, sizeof(header), (void *)(at + c->offset))) {
			return 0;
		}
		at = header[0];
		if (header[1] < n)
			n = header[1];
	}
	if (n == 0 || n > PROBE_CAPTURE_BYTES)
		return 0;
	/* 1..64, provably, for the verifier */
	n = ((n - 1) & (PROBE_CAPTURE_BYTES - 1)) + 1;
	return bpf_probe_read_user(out->b, n, (void *)at) ? 0 : n;
}

/* The memory behind a site's strings and slices: their first bytes and elements. */
static __always_inline void copy_captures(const struct probe_site *site, const __u64 regs[NREGS],
					  __u64 sp, __u32 captured[PROBE_MAX_CAPTURES],
					  __u8 capture[PROBE_MAX_CAPTURES][PROBE_CAPTURE_BYTES])
{
	for (int i = 0; i < PROBE_MAX_CAPTURES; i++)
		captured[i] = i < site->ncaptures ? copy_capture((const struct regs_copy *)regs, sp,
								 &site->captures[i],
								 (struct capture_bytes *)capture[i])
						  : 0;
}

/* The user stack from SP for the harness to unwind with the binary's tables (Go code on 386
 * keeps no frame pointers, and inlined frames are only in those tables): PROBE_STACK_COPY
 * bytes, fewer where g.stack.hi is nearer (the goroutine's stack ends there). The copy goes
 * straight into the record (ring buffer or task storage), never the 512-byte BPF stack. */
static __always_inline void copy_stack(struct pt_regs *ctx, __u64 sp, __u64 stack_hi,
				       struct probe_stack *s)
{
	__u64 n = PROBE_STACK_COPY;

	s->ip = ctx->rip;
	if (stack_hi > sp && stack_hi - sp < n)
		n = stack_hi - sp;
	n = ((n - 1) & (PROBE_STACK_COPY - 1)) + 1; /* 1..PROBE_STACK_COPY for the verifier */
	s->err = bpf_probe_read_user(s->copy, n, (void *)sp);
	if (s->err) {
		/* g unknown and the copy ran past the stack's mapping: SP's page is mapped */
		n = ((4096 - (sp & 4095) - 1) & (PROBE_STACK_COPY - 1)) + 1;
		s->err = bpf_probe_read_user(s->copy, n, (void *)sp);
	}
	s->len = s->err ? 0 : n;
}

/* A hit with memory captures, and the user stack when `with_stack` (a constant: the verifier
 * sees each reservation's size with the accesses it allows). */
static __always_inline int emit_ext(struct pt_regs *ctx, const struct probe_site *site,
				    const __u64 regs[NREGS], __u64 sp, __u32 site_id, __s64 goid,
				    __u64 stack_hi, __u64 call, __u64 now, __u64 entry_sp,
				    __u64 duration, const int with_stack)
{
	struct probe_event_ext *e = bpf_ringbuf_reserve(
		&events, with_stack ? sizeof(*e) : offsetof(struct probe_event_ext, stack), 0);

	if (!e) {
		__sync_fetch_and_add(&drops, 1);
		return 0;
	}
	fill_hit(&e->hit, regs, sp, site_id, goid, stack_hi, call, now, entry_sp, duration);
	e->hit.type = EV_HIT_EXT;
	if (with_stack)
		copy_stack(ctx, sp, stack_hi, &e->stack);
	copy_captures(site, regs, sp, e->captured, e->capture);
	bpf_ringbuf_submit(e, submit_flags());
	return 0;
}

/* A hit with memory captures, and the user stack where the site records it. */
static __always_inline int record_ext(struct pt_regs *ctx, const struct probe_site *site,
				      const __u64 regs[NREGS], __u64 sp, __u32 site_id, __s64 goid,
				      __u64 stack_hi, __u64 call, __u64 now, __u64 entry_sp,
				      __u64 duration)
{
	if (site->stack)
		return emit_ext(ctx, site, regs, sp, site_id, goid, stack_hi, call, now, entry_sp,
				duration, 1);
	return emit_ext(ctx, site, regs, sp, site_id, goid, stack_hi, call, now, entry_sp, duration,
			0);
}

/* A hit where no fault fires: a timing, a plain hit, or one with stacks and captures. */
static __always_inline int record_hit(struct pt_regs *ctx, const struct hit *h)
{
	const struct probe_site *site = h->site;

	if (!site->record)
		return 0;
	if (site->record == RECORD_TIMING) {
		struct probe_timing *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

		if (!e) {
			__sync_fetch_and_add(&drops, 1);
			return 0;
		}
		e->type = EV_TIMING;
		e->site = h->site_id;
		e->time_ns = h->now;
		e->tid = (__u32)bpf_get_current_pid_tgid();
		e->goid = h->goid;
		e->call = h->call;
		e->duration_ns = h->duration;
		bpf_ringbuf_submit(e, submit_flags());
		return 0;
	}
	if (site->stack || site->ncaptures)
		return record_ext(ctx, site, h->regs, h->sp, h->site_id, h->goid, h->stack_hi,
				  h->call, h->now, h->entry_sp, h->duration);
	struct probe_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&drops, 1);
		return 0;
	}
	fill_hit(e, h->regs, h->sp, h->site_id, h->goid, h->stack_hi, h->call, h->now, h->entry_sp,
		 h->duration);
	bpf_ringbuf_submit(e, submit_flags());
	return 0;
}

/* The part of an injection's record its site fills: a site without stacks or captures sends
 * only the writes done (a third of the whole record for one write), so that a run injecting on
 * every call does not fill the ring buffer three times sooner than it has to. */
static __always_inline __u64 injection_size(const struct probe_site *site, __u32 nwrites)
{
	if (site->stack)
		return sizeof(struct probe_injection);
	if (site->ncaptures)
		return offsetof(struct probe_injection, stack);
	if (nwrites > PROBE_MAX_WRITES)
		nwrites = PROBE_MAX_WRITES;
	return offsetof(struct probe_injection, writes) +
	       nwrites * sizeof(struct probe_write_result);
}

/* A hit where step `t` fires: the fault, and its record with what was there before and after. */
static __always_inline int record_injection(struct pt_regs *ctx, struct hit *h,
					    const struct probe_step *step, int t, __s32 pending_err,
					    const int can_regs, const int can_mem)
{
	const struct probe_site *site = h->site;
	struct probe_injection *inj = bpf_task_storage_get(
		&injection_scratch, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!inj) {
		/* no memory for the record (ENOMEM): a fault without its proof is not done; the
		 * lost record fails the run as a drop */
		__sync_fetch_and_add(&drops, 1);
		return 0;
	}
	fill_hit(&inj->hit, h->regs, h->sp, h->site_id, h->goid, h->stack_hi, h->call, h->now,
		 h->entry_sp, h->duration);
	inj->hit.type = EV_INJECTION;
	inj->step = t;
	inj->pending_err = pending_err;
	if (site->stack)
		copy_stack(ctx, h->sp, h->stack_hi, &inj->stack);
	__builtin_memset(inj->writes, 0, sizeof(inj->writes));
	/* the strings as the call got them, and (below) as the writes left them: a string pointed
	 * at new text shows both texts */
	copy_captures(site, h->regs, h->sp, inj->captured_before, inj->capture_before);
	inj->nwrites = fault(ctx, h->regs, h->sp, site, step, h->bias, h->entry_sp, inj->writes,
			     can_regs, can_mem);
	/* h->regs now holds the registers the tracee resumes with; an early return's results fill
	 * the argument registers, which are not the arguments any more */
	capture(h->regs, h->sp, inj->regs_after, inj->stack_after);
	/* after an early return, the copies of its results (the plan adds them to its call site)
	 * hold their new text */
	copy_captures(site, h->regs, h->sp, inj->captured, inj->capture);
	/* a pause waits for the harness to resume the tracee: wake it; other injections are drained
	 * on its timer like hits (a wakeup per injection doubled the drain's work when every call
	 * injects, and under TCG that work decides whether the ring buffer overflows) */
	if (bpf_ringbuf_output(&events, inj, injection_size(site, inj->nwrites),
			       step->action == ACT_DELAY ? BPF_RB_FORCE_WAKEUP : submit_flags()))
		__sync_fetch_and_add(&drops, 1);
	return 0;
}

#endif
