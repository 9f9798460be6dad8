/* Registers and stack values at a site: copied out of ctx, read by location, written back.
 * Included by probe.bpf.c, and built for the host by tests/bpf (its unit tests). */
#ifndef BPFAULT_PROBE_REGS_H
#define BPFAULT_PROBE_REGS_H

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

static __always_inline void capture(const __u64 regs[NREGS], __u64 sp,
				    __u64 out_regs[PROBE_INT_REGS], __u8 stack[PROBE_STACK_BYTES])
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

#endif
