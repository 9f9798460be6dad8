/* A fault's writes, all or nothing, and their read-back: registers, tracee memory, the ip of an
 * early return. Included by probe.bpf.c only. */
#ifndef BPFAULT_PROBE_WRITES_H
#define BPFAULT_PROBE_WRITES_H

#include "task.h"

/* The end of the tracee's environment when it ends with bpfault's strings (PROBE_ENV_MARKER, then
 * the NUL), else 0. The kernel placed it there at exec, on the initial stack above everything
 * the main thread's stack ever holds: nothing in the process writes there or frees it. */
static __always_inline __u64 env_strings_end(void)
{
	struct task_struct___bpfault *task = (void *)bpf_get_current_task();
	__u64 end = BPF_CORE_READ(task, mm, env_end), marker = 0;

	if (!end || bpf_probe_read_user(&marker, sizeof(marker), (void *)(end - 9)) ||
	    marker != PROBE_ENV_MARKER)
		return 0;
	return end;
}

static __always_inline __u64 value_of(const struct probe_write *w, __u64 bias, __u64 env_end)
{
	__u64 v = w->value;

	if (w->src == SRC_ENV)
		v = env_end - w->value;
	else if (w->src == SRC_ADDR)
		v += bias;
	else if (w->src == SRC_USER &&
		 bpf_probe_read_user(&v, sizeof(v), (void *)(w->value + bias)))
		v = 0;
	return v;
}

#define ECANCELED 125

/* Bytes a memory write covers, 1..PROBE_BYTES (0: none): a string's new bytes, else the value's
 * size. */
static __always_inline __u32 write_len(const struct probe_write *w)
{
	__u32 len = w->kind == W_STORE ? w->loc.size : w->len;

	return len > PROBE_BYTES ? PROBE_BYTES : len;
}

/* Phase one of a write to a register or to memory: everything that can fail, with nothing
 * changed. A memory target is read and its own bytes written back (writing what is there
 * changes nothing and proves the place writable). Returns 1 when the write can be done.
 * Global (not inlined): the verifier checks it once, on its own, instead of once per write slot
 * with every combination of the slots before it; inlined, it was most of the write programs'
 * verification. Called only by the programs that may write memory (can_mem). */
__noinline int try_write(const struct regs_copy *rc, __u64 sp, const struct probe_write *w,
			 __u64 bias, struct probe_write_result *res)
{
	if (!rc || !w || !res)
		return 0;
	const __u64 *regs = rc->r;
	__u64 env_end = 0;

	res->err = -95; /* EOPNOTSUPP: this program may not write there (the plan prevents it) */
	if (w->src == SRC_ENV) {
		env_end = env_strings_end();
		if (!env_end) {
			res->err =
				-2; /* ENOENT: no bpfault strings at the end of the environment */
			return 0;
		}
	}
	res->asked = value_of(w, bias, env_end);
	/* a slice's new length: never beyond its capacity */
	if (w->kind == W_STORE && w->limit.kind != LOC_NONE &&
	    load(regs, sp, &w->limit) < res->asked) {
		res->err = -34; /* ERANGE */
		return 0;
	}
	if (w->kind == W_STORE && w->loc.kind == LOC_REG) {
		res->len = 8;
		__builtin_memcpy(res->before, &regs[w->loc.reg & (NREGS - 1)], 8);
		res->err = 0; /* the caller refuses it where registers may not be written */
		return 1;
	}
	__u32 len = write_len(w);

	if (!len)
		return 0;
	if (w->kind == W_STORE)
		res->addr = sp + w->loc.sp_offset;
	else if (w->kind == W_AT)
		res->addr = w->addr + bias;
	else
		res->addr = load(regs, sp, &w->loc) + w->offset;
	res->len = len;
	if (w->src == SRC_BYTES && w->limit.kind != LOC_NONE && load(regs, sp, &w->limit) < len) {
		res->err = -28; /* ENOSPC: the string is shorter than the bytes to write */
		return 0;
	}
	/* a size the verifier can prove to be 1..32 */
	__u32 m = ((len - 1) & (PROBE_BYTES - 1)) + 1;

	res->err = bpf_probe_read_user(res->before, m, (void *)res->addr);
	if (!res->err)
		res->err = bpf_probe_write_user((void *)res->addr, res->before, m);
	return !res->err;
}

/* Where an early return or a tail call leaves the function from: the state its phase one reads
 * and its phase two writes into ctx. */
struct exit_frame {
	__u64 ip;
	__u64 sp;
	__u64 entry_sp;
	__u64 rbp;	   /* the caller's frame pointer, restored when restore_rbp */
	__u64 restore_rbp; /* the probe is past a `push rbp` */
};

/* Phase one of an early return or a tail call: reads the return address (and, past a
 * `push rbp`, the caller's frame pointer at [sp]). Returns 1 when it can be done. Global, like
 * try_write(); called only by the programs that may write registers. */
__noinline int try_exit(const struct probe_write *w, __u64 bias, struct exit_frame *f,
			struct probe_write_result *res)
{
	if (!w || !f || !res)
		return 0;
	__u64 ret = 0;

	res->len = 8;
	__builtin_memcpy(res->before, &f->ip, 8);
	/* the return address: where an early return goes; a tail call's callee returns there */
	res->err = bpf_probe_read_user(&ret, ptr_size == 4 ? 4 : 8, (void *)f->entry_sp);
	res->asked = w->kind == W_RETURN ? ret : value_of(w, bias, 0);
	if (!res->err && f->entry_sp != f->sp) {
		res->err = bpf_probe_read_user(&f->rbp, ptr_size == 4 ? 4 : 8, (void *)f->sp);
		f->restore_rbp = 1;
	}
	return !res->err;
}

/* Applies `n` writes, all or nothing: registers into `regs` (the caller writes them back),
 * memory at once. Everything that can fail is tried first with nothing changed (try_exit,
 * try_write). One that cannot be done cancels the injection: its result names why, the others
 * say -ECANCELED. Returns 1 when the writes were done. */
static __always_inline int apply(struct pt_regs *ctx, struct regs_copy *rc, __u64 sp,
				 const struct probe_write *ws, __u32 n, __u64 bias, __u64 entry_sp,
				 struct probe_write_result *res, const int can_regs,
				 const int can_mem)
{
	struct exit_frame exit = {.ip = ctx->rip, .sp = sp, .entry_sp = entry_sp};
	__u64 *regs = rc->r;
	int ok = 1;

	for (int i = 0; i < PROBE_MAX_WRITES; i++) {
		if (i >= n)
			break;
		const struct probe_write *w = &ws[i];
		const int exits = w->kind == W_RETURN || w->kind == W_TAILCALL;

		/* the constant tests keep each global function out of the programs that may not
		 * make its writes */
		if (exits ? !can_regs : !can_mem) {
			res[i].err =
				-95; /* EOPNOTSUPP: this program may not (the plan prevents it) */
			ok = 0;
			continue;
		}
		if (exits) {
			if (!try_exit(w, bias, &exit, &res[i]))
				ok = 0;
			continue;
		}
		if (!try_write(rc, sp, w, bias, &res[i])) {
			ok = 0;
		} else if (!can_regs && w->kind == W_STORE && w->loc.kind == LOC_REG) {
			res[i].err =
				-95; /* EOPNOTSUPP: a register, which this program may not write */
			ok = 0;
		}
	}
	if (!ok) {
		for (int i = 0; i < PROBE_MAX_WRITES; i++)
			if (i < n && !res[i].err)
				res[i].err = -ECANCELED;
		return 0;
	}
	for (int i = 0; i < PROBE_MAX_WRITES; i++) {
		if (i >= n)
			break;
		const struct probe_write *w = &ws[i];

		if (w->kind == W_RETURN || w->kind == W_TAILCALL) {
			/* never reached without can_regs (phase one refused it); the constant test
			 * keeps the ctx writes out of the programs that may not make them */
			if (!can_regs)
				continue;
			if (exit.restore_rbp)
				ctx->rbp = exit.rbp;
			ctx->rip = res[i].asked;
			/* a tail call leaves the return address where it is: the callee returns
			 * there */
			ctx->rsp = w->kind == W_RETURN ? entry_sp + ptr_size : entry_sp;
			continue;
		}
		if (w->kind == W_STORE && w->loc.kind == LOC_REG) {
			regs[w->loc.reg & (NREGS - 1)] = res[i].asked;
			continue;
		}
		__u32 m = ((res[i].len - 1) & (PROBE_BYTES - 1)) + 1,
		      m8 = ((res[i].len - 1) & 7) + 1;

		if (w->src == SRC_BYTES)
			res[i].err = bpf_probe_write_user((void *)res[i].addr, w->bytes, m);
		else
			res[i].err = bpf_probe_write_user((void *)res[i].addr, &res[i].asked, m8);
	}
	return 1;
}

/* Reads every written place back once all writes are done: registers from the state the
 * tracee resumes with (left in `now`), memory from the tracee. */
static __always_inline void read_back(struct pt_regs *ctx, const struct probe_write *ws, __u32 n,
				      struct probe_write_result *res, __u64 now[NREGS])
{
	read_regs(ctx, now);
	for (int i = 0; i < PROBE_MAX_WRITES; i++) {
		if (i >= n)
			break;
		const struct probe_write *w = &ws[i];

		if (res[i].err)
			continue;
		if (w->kind == W_RETURN || w->kind == W_TAILCALL) {
			__u64 ip = ctx->rip;

			__builtin_memcpy(res[i].after, &ip, 8);
		} else if (w->kind == W_STORE && w->loc.kind == LOC_REG) {
			__builtin_memcpy(res[i].after, &now[w->loc.reg & (NREGS - 1)], 8);
		} else {
			__u32 m = ((res[i].len - 1) & (PROBE_BYTES - 1)) + 1;

			res[i].err = bpf_probe_read_user(res[i].after, m, (void *)res[i].addr);
		}
	}
}

/* The fault of a step that fired: a signal, a pause, or its writes at the call or at a RET
 * (results in res, read back); returns the number of writes. `regs` is left holding the
 * registers the tracee resumes with: the caller records them without a copy of its own (6.1's
 * verifier allows 512 bytes of stack for a program and the global function it calls). */
static __always_inline __u32 fault(struct pt_regs *ctx, __u64 regs[NREGS], __u64 sp,
				   const struct probe_site *site, const struct probe_step *step,
				   __u64 bias, __u64 entry_sp, struct probe_write_result *res,
				   const int can_regs, const int can_mem)
{
	const struct probe_write *ws = step->ret;
	__u32 n = step->nret;

	if (site->kind == SITE_CALL) {
		if (step->action == ACT_SIGNAL)
			bpf_send_signal(step->signal);
		else if (step->action == ACT_DELAY)
			bpf_send_signal(SIGSTOP);
		if (step->action != ACT_WRITE)
			return 0;
		ws = step->call;
		n = step->ncall;
	}
	if (apply(ctx, (struct regs_copy *)regs, sp, ws, n, bias, entry_sp, res, can_regs,
		  can_mem) &&
	    can_regs)
		write_regs(ctx, regs);
	read_back(ctx, ws, n, res, regs);
	return n;
}

#endif
