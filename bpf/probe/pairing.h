/* Which goroutine a hit runs on, and the pairing of a call with its RET by goroutine and depth.
 * Included by probe.bpf.c, and built for the host by tests/bpf (its unit tests). */
#ifndef BPFAULT_PROBE_PAIRING_H
#define BPFAULT_PROBE_PAIRING_H

#include "task.h"

__u64 goid_misses = 0; /* hits whose goroutine (g.goid, g.stack.hi; g from R14, or the TLS on 386)
			  could not be read */
__u64 unpaired = 0;    /* calls whose RET cannot be paired: in_flight was full, or the kernel had no
			  memory for    an entry (a run with any fails) */

/* Elements allocated as calls come (the kernel's per-CPU caches since 6.1), not 65 536 of them
 * made before the first scenario: preallocating cost a first load 2.5 ms. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536); /* calls in flight: goroutines x recursion depth */
	__type(key, struct probe_call_key);
	__type(value, struct probe_call_state);
} in_flight SEC(".maps");

#define GDT_ENTRY_TLS_MIN     12 /* x86_64's GDT: the three TLS entries set_thread_area fills */
#define GDT_ENTRY_TLS_ENTRIES 3

/* The GS base of a 386 thread: the base of the TLS descriptor its GS selector names. The
 * selector the kernel saved at the thread's last switch-out is stale until the first one after
 * the runtime's set_thread_area; then the only TLS entry the process set up is the one (a Go
 * program sets up one: the runtime's own, or libc's with cgo). 0: unknown. */
static __always_inline __u64 gs_base(void)
{
	struct task_struct___bpfault *task = (void *)bpf_get_current_task();
	struct desc_struct___bpfault descs[GDT_ENTRY_TLS_ENTRIES];
	unsigned short sel = 0;

	if (!bpf_core_field_exists(task->thread.tls_array) ||
	    !bpf_core_field_exists(task->thread.gsindex))
		return 0;
	if (bpf_core_read(&descs, sizeof(descs), &task->thread.tls_array) ||
	    bpf_core_read(&sel, sizeof(sel), &task->thread.gsindex))
		return 0;
	int pick = -1, present = 0, last = 0;

	for (int i = 0; i < GDT_ENTRY_TLS_ENTRIES; i++)
		if (descs[i].raw[5] & 0x80) { /* the descriptor's present bit */
			present++;
			last = i;
		}
	__u32 idx = (sel >> 3) - GDT_ENTRY_TLS_MIN;

	if (!(sel & 4) && idx < GDT_ENTRY_TLS_ENTRIES && (descs[idx].raw[5] & 0x80))
		pick = idx;
	else if (present == 1)
		pick = last;
	if (pick < 0)
		return 0;
	const __u8 *d = descs[pick & 3].raw;

	return d[2] | (__u32)d[3] << 8 | (__u32)d[4] << 16 | (__u32)d[7] << 24;
}

/* The current g, as the Go runtime finds it: R14 on amd64 (register ABI); on linux/386 through
 * the thread's TLS, `mov ecx, gs:[0]; mov ecx, [ecx-4]` (the linker's rewrite of 0(TLS),
 * runtime/sys_linux_386.s setldt). 0: unknown. */
static __always_inline __u64 current_g(struct pt_regs *ctx)
{
	if (ptr_size == 8)
		return ctx->r14;
	__u64 base = gs_base();
	__u32 tp = 0, g = 0;

	if (!base || bpf_probe_read_user(&tp, 4, (void *)base) ||
	    bpf_probe_read_user(&g, 4, (void *)((__u64)tp - 4)))
		return 0;
	return g;
}

static __always_inline __s64 read_goid(struct pt_regs *ctx, __u64 *stack_hi)
{
	__s64 goid = -1;

	*stack_hi = 0;
	if (!goid_offset)
		return -1;
	__u64 g = current_g(ctx);

	if (!g || bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + goid_offset))) {
		__sync_fetch_and_add(&goid_misses, 1);
		return -1;
	}
	/* a uintptr: 4 bytes on 386 */
	if (bpf_probe_read_user(stack_hi, ptr_size == 4 ? 4 : 8, (void *)(g + stack_hi_offset))) {
		__sync_fetch_and_add(&goid_misses, 1);
		*stack_hi = 0;
	}
	return goid;
}

/* A call in flight: its goroutine (or thread) and its depth below the goroutine's stack top,
 * which stays put when the stack moves. */
static __always_inline struct probe_call_key call_key(__s64 goid, __u64 stack_hi, __u64 entry_sp)
{
	struct probe_call_key key = {goid >= 0 ? goid : (__s64)(__u32)bpf_get_current_pid_tgid(),
				     stack_hi ? stack_hi - entry_sp : entry_sp};
	return key;
}

/* At a call site: keeps the call for its RETs (to time it, or to apply the step's result
 * writes). Returns 0, or the map update's errno (the call's RETs will not find it). */
static __always_inline long pair_call(__s64 goid, __u64 stack_hi, __u64 entry_sp, __u32 probe,
				      int t, __u64 call, __u64 now)
{
	struct probe_call_state st = {probe, t, call, now};
	struct probe_call_key key = call_key(goid, stack_hi, entry_sp);
	long err = bpf_map_update_elem(&in_flight, &key, &st, BPF_ANY);

	if (err)
		__sync_fetch_and_add(&unpaired, 1);
	return err;
}

/* At a RET: takes the call it returns from out of in_flight; 0 when there is none. */
static __always_inline int pair_ret(__s64 goid, __u64 stack_hi, __u64 entry_sp,
				    struct probe_call_state *out)
{
	struct probe_call_key key = call_key(goid, stack_hi, entry_sp);
	struct probe_call_state *st = bpf_map_lookup_elem(&in_flight, &key);

	if (!st)
		return 0;
	*out = *st;
	bpf_map_delete_elem(&in_flight, &key);
	return 1;
}

/* At a call site whose call is not kept: drops what an earlier call at the same depth left. */
static __always_inline void pair_forget(__s64 goid, __u64 stack_hi, __u64 entry_sp)
{
	struct probe_call_key key = call_key(goid, stack_hi, entry_sp);

	bpf_map_delete_elem(&in_flight, &key);
}

#endif
