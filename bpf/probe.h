/* Shared by bpf/probe.bpf.c and the harness (harness/kernel/probe_session.cpp): the per-site
 * and per-probe configuration the harness writes before attaching, and the records the probes
 * emit. Fixed-width types only; the C++ side static_asserts the sizes. */
#ifndef BPFAULT_PROBE_H
#define BPFAULT_PROBE_H

#include <linux/types.h>

#define PROBE_MAX_SITES	  1024 /* attach points of one run (a function's call site + its RETs) */
#define PROBE_MAX_PROBES  64   /* probes (functions) of one scenario */
#define PROBE_INT_REGS	  9    /* Go's integer ABI registers: RAX RBX RCX RDI RSI R8 R9 R10 R11 */
#define PROBE_STACK_BYTES 128  /* bytes copied from SP: the return address and stack-ABI values */
#define PROBE_MAX_STEPS	  4    /* steps of a failpoint-like chain (`2*off->return(x)`) */
#define PROBE_MAX_WRITES  8    /* writes of one step, at the call and at the returns each */
#define PROBE_MAX_PREDS	  4    /* conditions on argument values */
#define PROBE_BYTES	  32   /* bytes a write or a predicate carries (string contents) */
#define PROBE_MAX_CAPTURES                                                                         \
	4 /* memory captures of a recording site (string bytes, slice elements) */
#define PROBE_CAPTURE_BYTES 64
/* Code ranges of a `when.caller`: its own code and each range of every copy of it the compiler
 * inlined elsewhere (a function with more is refused, with the count). */
#define PROBE_MAX_CALLER_RANGES 16
/* Bytes of the user stack a site recording stacks copies from SP, for the harness to unwind
 * with the binary's pc->SP-delta table as Go's traceback does. 4 KiB, about 4.4 KB a record:
 * fixtures/tracebacks' 8 frames (6 physical) take 430 to 630 bytes (Go 1.19 to 1.27); a
 * deeper stack is cut there and its record says so. */
#define PROBE_STACK_COPY 4096
/* The ring buffer's bytes. 16 MiB: the drain may not run at all for a while when the tracee's
 * threads hold every CPU. Measured in the VM under TCG (one host thread runs the vCPUs in turn):
 * the soak's 15 k injections/s (1.7 KB each) left up to ~4.4 MB undrained, which overflowed the
 * former 2 MiB (2 364 drops of 10^5); 16 MiB holds ~9 600 injections or ~20 000 stack records.
 * The harness makes a process's first ring while its first scenario prepares. */
#define PROBE_RING_BYTES (16 << 20)

enum probe_record {
	RECORD_NONE = 0,
	RECORD_VALUES = 1, /* registers and stack: a probe_event (or probe_event_ext) */
	RECORD_TIMING = 2, /* only the call's duration: a probe_timing */
};

enum probe_site_kind {
	SITE_CALL = 0, /* first instruction after the stack-check prologue: once per call */
	SITE_RET = 1,  /* a RET instruction of the function */
};

enum probe_loc_kind {
	LOC_NONE = 0,
	LOC_REG = 1,   /* a Go ABI integer register */
	LOC_STACK = 2, /* memory at SP + sp_offset */
};

/* Where a value is at a site. */
struct probe_loc {
	__u8 kind; /* enum probe_loc_kind */
	__u8 reg;  /* LOC_REG: 0..8 in Go's ABI order */
	__u8 size; /* bytes, 1..8 */
	__u8 pad;
	__s32 sp_offset; /* LOC_STACK */
};

/* Memory behind a pointer a recording site copies: a string's bytes, a slice's first elements. */
struct probe_capture {
	struct probe_loc ptr; /* where the pointer is */
	struct probe_loc len; /* where the element count is (LOC_NONE: copy `max` bytes) */
	__u16 elem;	      /* bytes per element */
	__u16 max;	      /* bytes to copy at most (<= PROBE_CAPTURE_BYTES) */
	__u8 through; /* the bytes of the string whose header (pointer, length: a pointer size
		       * each) is `offset` bytes into what the pointer points to: an error's
		       * message behind its data word */
	__u8 pad;
	__u16 offset;
};

/* One attach point; the attach cookie is its index in the `sites` map. */
struct probe_site {
	__u32 probe;   /* index of the scenario's probe (its function) */
	__u8 kind;     /* enum probe_site_kind */
	__u8 record;   /* emit a probe_event at this site (RECORD_*) */
	__u8 inject;   /* the probe has a rule: evaluate it here */
	__u8 sp_delta; /* SP at the site = SP at the entry - sp_delta (a `push rbp` before the site)
			*/
	__u8 latency;  /* time calls: the start at the call site, the duration at every RET */
	__u8 stack;    /* copy the user stack for unwinding: a probe_event_ext with its `stack` */
	__u8 ncaptures; /* memory captures: a probe_event_ext */
	__u8 pad[5];
	__u64 vaddr; /* the site's link-time address: the load bias of a PIE is ip - vaddr */
	struct probe_capture captures[PROBE_MAX_CAPTURES];
};

enum probe_write_kind {
	W_STORE = 1,   /* `loc` = the value: a register, or stack memory (bpf_probe_write_user) */
	W_THROUGH = 2, /* *(pointer at `loc` + offset) = the value: memory behind a pointer */
	W_RETURN = 3,  /* return to the caller now: ip = [entry sp], sp = entry sp + pointer size */
	W_AT = 4,      /* memory at `addr` + the load bias (a panic's value, past the last writable
			  section) */
	W_TAILCALL = 5, /* leave as W_RETURN does but keep the return address, and enter the value
			 * (its address + the load bias): ip = value, sp = entry sp, as if the
			 * caller had called it instead (the panic fault: runtime.gopanic) */
};

enum probe_value_src {
	SRC_IMM = 0,   /* `value` */
	SRC_ADDR = 1,  /* `value` + the load bias: the address of a package-level variable */
	SRC_USER = 2,  /* the 8 bytes at `value` + the load bias: a word of a variable (io.EOF's
			  itab) */
	SRC_BYTES = 3, /* `len` bytes of `bytes` (string contents) */
	SRC_ENV = 4,   /* the end of the tracee's environment (mm->env_end) - `value`: new text of a
			* string, in the BPFAULT_STRINGS variable bpfault puts last in it */
};

/* The last bytes of BPFAULT_STRINGS before its NUL, ":bpfault": the probe finds them just below
 * mm->env_end before it points a string there (a process started some other way has not got
 * them, and its injection fails with ENOENT instead of pointing at someone else's bytes). */
#define PROBE_ENV_MARKER 0x746c75616670623aULL

/* The two helper calls that stand for bpf_preempt_disable() and bpf_preempt_enable() in the
 * programs (probe.bpf.c, handle()): helpers the programs call nowhere else, which the harness
 * rewrites before load into the kfunc calls (harness/kernel/kernel_btf.cpp). */
#define PROBE_PREEMPT_DISABLE_HELPER BPF_FUNC_get_numa_node_id
#define PROBE_PREEMPT_ENABLE_HELPER  BPF_FUNC_jiffies64

struct probe_write {
	__u8 kind; /* enum probe_write_kind */
	__u8 src;  /* enum probe_value_src */
	__u8 len;  /* bytes written to memory (1..PROBE_BYTES); registers take all 8 */
	__u8 pad;
	__s32 offset; /* W_THROUGH: from the pointer */
	struct probe_loc loc;
	struct probe_loc
		limit; /* SRC_BYTES through a pointer: only when the length here is >= len;
			* a W_STORE (a slice's length): only when the capacity here is >= value */
	__u64 value;
	__u64 addr; /* W_AT: the link-time address written */
	__u8 bytes[PROBE_BYTES];
};

enum probe_pred_op {
	P_EQ = 1,
	P_NE,
	P_LT,
	P_LE,
	P_GT,
	P_GE,
	P_PREFIX, /* a string starts with `bytes` */
	P_STREQ,  /* a string equals `bytes` */
};

struct probe_pred {
	__u8 op;	/* enum probe_pred_op */
	__u8 is_signed; /* compare as signed integers */
	__u8 nbytes;	/* string predicates: bytes to compare */
	__u8 pad;
	__u32 pad2;
	struct probe_loc loc;	  /* the value, or a string's data pointer */
	struct probe_loc len_loc; /* a string's length */
	__u64 value;
	__u8 bytes[PROBE_BYTES];
};

enum probe_action {
	ACT_OFF = 0,	/* do nothing (a step of a chain that lets calls through; `print` too: its
			 * injection record is the call's record) */
	ACT_WRITE = 1,	/* the writes: set arguments, results, or return early */
	ACT_SIGNAL = 2, /* bpf_send_signal(signal): crash injection */
	ACT_DELAY = 3,	/* SIGSTOP now; the harness sends SIGCONT after delay_ms */
};

/* One step of the chain: the first one not yet exhausted (`times`) whose probability roll
 * succeeds acts on the call; `times` counts the calls it acted on. */
struct probe_step {
	__u64 nth;	   /* only the nth matching call (0: any) */
	__u64 every;	   /* only every k-th matching call (0: any) */
	__u64 times;	   /* at most this many injections (0: unlimited) */
	__u32 probability; /* per million matching calls; 1000000 = always */
	__u8 action;	   /* enum probe_action */
	__u8 signal;
	__u8 ncall; /* writes at the call site */
	__u8 nret;  /* writes at every RET of the same call */
	__u32 delay_ms;
	__u8 early_return; /* the call writes end with W_RETURN: no RET of this call will run */
	__u8 pad[3];
	struct probe_write call[PROBE_MAX_WRITES];
	struct probe_write ret[PROBE_MAX_WRITES];
};

enum probe_goroutine { G_ANY = 0, G_FIRST = 1, G_ID = 2 };

/* [lo, hi) of file addresses (the load bias is added in the kernel) */
struct probe_range {
	__u64 lo;
	__u64 hi;
};

/* What may be injected into one probe's calls, and when. */
struct probe_rule {
	__u8 npreds;
	__u8 nsteps;
	__u8 goroutine; /* enum probe_goroutine */
	__u8 disarmed;	/* set by the harness outside a probe's lifecycle steps ("during"): its
			 * calls are counted and recorded, and no condition or step is evaluated */
	__u8 pad[4];
	__s64 goid;    /* G_ID */
	__u8 ncallers; /* the call instruction (return address - 1) must lie in one of the ranges
			* (0: any caller) */
	__u8 pad2[7];
	struct probe_range callers[PROBE_MAX_CALLER_RANGES];
	struct probe_pred preds[PROBE_MAX_PREDS];
	struct probe_step steps[PROBE_MAX_STEPS];
};

enum probe_event_type {
	EV_HIT = 1,	  /* struct probe_event */
	EV_INJECTION = 2, /* struct probe_injection */
	EV_HIT_EXT = 3,	  /* struct probe_event_ext */
	EV_TIMING = 4,	  /* struct probe_timing */
};

/* One hit of a recording site. Register and stack values are as the probe found them. */
struct probe_event {
	__u32 type; /* enum probe_event_type */
	__u32 site;
	__u64 time_ns;
	__u32 tid;
	__u32 pad;
	__s64 goid; /* -1 when unknown */
	__u64 sp;
	__u64 stack_hi;	   /* g.stack.hi: stack_hi - sp survives stack copying */
	__u64 call;	   /* the probe's call number (1 = first call) this hit belongs to */
	__u64 ret_addr;	   /* the return address at the entry SP: the caller, also where no frame is
			      set up */
	__u64 duration_ns; /* at a RET of a timed call: since its call site; 0 otherwise */
	__u64 regs[PROBE_INT_REGS];
	__u8 stack[PROBE_STACK_BYTES];
};

/* A RET of a timed call, when nothing else is recorded there: 48 bytes instead of ~300, so a
 * burst of returns fits the ring buffer. */
struct probe_timing {
	__u32 type; /* EV_TIMING */
	__u32 site;
	__u64 time_ns;
	__u32 tid;
	__u32 pad;
	__s64 goid;
	__u64 call;
	__u64 duration_ns;
};

/* The user stack as a site recording stacks found it. */
struct probe_stack {
	__u64 ip;  /* the probed instruction as mapped: ip - site vaddr is the load bias */
	__u32 len; /* bytes copied from SP into copy[] (at most PROBE_STACK_COPY, not past
		      g.stack.hi) */
	__s32 err; /* the copy's negative errno, 0 when it worked */
	__u8 copy[PROBE_STACK_COPY];
};

/* A hit with what does not fit a plain one: memory captures, and the user stack. A site that
 * records no stack emits it without `stack` (offsetof(struct probe_event_ext, stack) bytes). */
struct probe_event_ext {
	struct probe_event hit;
	__u32 captured[PROBE_MAX_CAPTURES]; /* bytes copied into capture[i] */
	__u8 capture[PROBE_MAX_CAPTURES][PROBE_CAPTURE_BYTES];
	struct probe_stack stack;
};

/* What one write did, read back: the proof that the fault happened as asked. */
struct probe_write_result {
	__s32 err; /* 0, or the helper's negative errno (-EFAULT: read-only or unmapped);
		    * -ECANCELED: not attempted, because another write of the same injection could
		    * not be done */
	__u8 len;  /* bytes in before/after: a memory write's length; 8 for a register or the ip */
	__u8 pad[3];
	__u64 addr;  /* memory writes: where (the tracee's address); 0 for a register */
	__u64 asked; /* the value written, as resolved at the hit (a variable's word read from the
			tracee) */
	__u8 before[PROBE_BYTES]; /* what was there before */
	__u8 after[PROBE_BYTES];  /* read back after every write of the injection was done */
};

/* A hit where a step of the chain fired: what was there before and after. */
struct probe_injection {
	struct probe_event hit; /* before the writes */
	__u32 step;		/* the step that fired */
	__u32 nwrites;
	__s32 pending_err; /* the step writes at the RET: 0 when the call was kept for it, else the
			    * map update's errno (-E2BIG: too many calls in flight) */
	__u32 pad;
	__u64 regs_after[PROBE_INT_REGS]; /* read back from the registers the tracee resumes with */
	__u8 stack_after[PROBE_STACK_BYTES];
	/* a site without stacks or captures sends the record only up to writes[nwrites - 1] */
	struct probe_write_result writes[PROBE_MAX_WRITES];
	/* the site's memory captures (a string's bytes), taken before the writes ... */
	__u32 captured_before[PROBE_MAX_CAPTURES];
	__u8 capture_before[PROBE_MAX_CAPTURES][PROBE_CAPTURE_BYTES];
	/* ... and after them (for an early return, its results': its arguments have no "after") */
	__u32 captured[PROBE_MAX_CAPTURES];
	__u8 capture[PROBE_MAX_CAPTURES][PROBE_CAPTURE_BYTES];
	/* a site recording stacks (else not emitted): copied before the writes */
	struct probe_stack stack;
};

/* calls in flight that a RET needs to know about (a step writing results, a timed call),
 * keyed by goroutine and depth */
struct probe_call_key {
	__s64 who;   /* goid, or the thread id when goroutines are unknown */
	__u64 depth; /* g.stack.hi - entry sp: equal at the call site and at the RET */
};

struct probe_call_state {
	__u32 probe;
	__s32 step; /* the step whose result writes the RET applies; -1: none */
	__u64 call;
	__u64 start_ns;
};

#endif
