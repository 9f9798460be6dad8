/* Shared by bpf/probe.bpf.c and the harness (harness/kernel/probe_session.cpp): the per-site
 * and per-probe configuration the harness writes before attaching, and the records the probes
 * emit. Fixed-width types only; the C++ side static_asserts the sizes. */
#ifndef BPFAULT_PROBE_H
#define BPFAULT_PROBE_H

#include <linux/types.h>

#define PROBE_MAX_SITES 1024  /* attach points of one run (a function's call site + its RETs) */
#define PROBE_MAX_PROBES 64   /* probes (functions) of one scenario */
#define PROBE_INT_REGS 9      /* Go's integer ABI registers: RAX RBX RCX RDI RSI R8 R9 R10 R11 */
#define PROBE_STACK_BYTES 128 /* bytes copied from SP: the return address and stack-ABI values */
#define PROBE_MAX_TERMS 4     /* steps of a failpoint-like chain (`2*off->return(x)`) */
#define PROBE_MAX_WRITES 8    /* writes of one step, at the call and at the returns each */
#define PROBE_MAX_PREDS 4     /* conditions on argument values */
#define PROBE_BYTES 32        /* bytes a write or a predicate carries (string contents) */
#define PROBE_MAX_CAPTURES 4  /* memory captures of a recording site (string bytes, slice elements) */
#define PROBE_CAPTURE_BYTES 64
#define PROBE_MAX_FRAMES 32   /* user stack frames of a recording site */

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
	__u16 elem;           /* bytes per element */
	__u16 max;            /* bytes to copy at most (<= PROBE_CAPTURE_BYTES) */
	__u32 pad;
};

/* One attach point; the attach cookie is its index in the `sites` map. */
struct probe_site {
	__u32 probe;     /* index of the scenario's probe (its function) */
	__u8 kind;       /* enum probe_site_kind */
	__u8 record;     /* emit a probe_event at this site (RECORD_*) */
	__u8 inject;     /* the probe has a rule: evaluate it here */
	__u8 sp_delta;   /* SP at the site = SP at the entry - sp_delta (a `push rbp` before the site) */
	__u8 latency;    /* time calls: the start at the call site, the duration at every RET */
	__u8 stack;      /* record the user stack (frame-pointer walk): a probe_event_ext */
	__u8 ncaptures;  /* memory captures: a probe_event_ext */
	__u8 pad[5];
	__u64 vaddr;     /* the site's link-time address: the load bias of a PIE is ip - vaddr */
	struct probe_capture captures[PROBE_MAX_CAPTURES];
};

enum probe_write_kind {
	W_STORE = 1,   /* `loc` = the value: a register, or stack memory (bpf_probe_write_user) */
	W_THROUGH = 2, /* *(pointer at `loc` + offset) = the value: memory behind a pointer */
	W_RETURN = 3,  /* return to the caller now: ip = [entry sp], sp = entry sp + pointer size */
};

enum probe_value_src {
	SRC_IMM = 0,   /* `value` */
	SRC_ADDR = 1,  /* `value` + the load bias: the address of a package-level variable */
	SRC_USER = 2,  /* the 8 bytes at `value` + the load bias: a word of a variable (io.EOF's itab) */
	SRC_BYTES = 3, /* `len` bytes of `bytes` (string contents) */
};

struct probe_write {
	__u8 kind; /* enum probe_write_kind */
	__u8 src;  /* enum probe_value_src */
	__u8 len;  /* bytes written to memory (1..PROBE_BYTES); registers take all 8 */
	__u8 pad;
	__s32 offset; /* W_THROUGH: from the pointer */
	struct probe_loc loc;
	struct probe_loc limit; /* SRC_BYTES through a pointer: only when the length here is >= len */
	__u64 value;
	__u8 bytes[PROBE_BYTES];
};

enum probe_pred_op {
	P_EQ = 1, P_NE, P_LT, P_LE, P_GT, P_GE,
	P_PREFIX, /* a string starts with `bytes` */
	P_STREQ,  /* a string equals `bytes` */
};

struct probe_pred {
	__u8 op;        /* enum probe_pred_op */
	__u8 is_signed; /* compare as signed integers */
	__u8 nbytes;    /* string predicates: bytes to compare */
	__u8 pad;
	__u32 pad2;
	struct probe_loc loc;     /* the value, or a string's data pointer */
	struct probe_loc len_loc; /* a string's length */
	__u64 value;
	__u8 bytes[PROBE_BYTES];
};

enum probe_action {
	ACT_OFF = 0,    /* do nothing (a step of a chain that lets calls through) */
	ACT_WRITE = 1,  /* the writes: set arguments, results, or return early */
	ACT_SIGNAL = 2, /* bpf_send_signal(signal): crash injection */
	ACT_PAUSE = 3,  /* SIGSTOP now; the harness sends SIGCONT after pause_ms */
};

/* One step of the chain; the first step not yet exhausted (`times`) decides. */
struct probe_term {
	__u64 nth;         /* only the nth matching call (0: any) */
	__u64 every;       /* only every k-th matching call (0: any) */
	__u64 times;       /* at most this many injections (0: unlimited) */
	__u32 probability; /* per million matching calls; 1000000 = always */
	__u8 action;       /* enum probe_action */
	__u8 signal;
	__u8 ncall;        /* writes at the call site */
	__u8 nret;         /* writes at every RET of the same call */
	__u32 pause_ms;
	__u8 early_return; /* the call writes end with W_RETURN: no RET of this call will run */
	__u8 pad[3];
	struct probe_write call[PROBE_MAX_WRITES];
	struct probe_write ret[PROBE_MAX_WRITES];
};

enum probe_goroutine { G_ANY = 0, G_FIRST = 1, G_ID = 2 };

/* What may be injected into one probe's calls, and when. */
struct probe_rule {
	__u8 npreds;
	__u8 nterms;
	__u8 goroutine; /* enum probe_goroutine */
	__u8 pad[5];
	__s64 goid;       /* G_ID */
	__u64 caller_lo;  /* the return address must lie in [caller_lo, caller_hi) (0: any caller) */
	__u64 caller_hi;
	struct probe_pred preds[PROBE_MAX_PREDS];
	struct probe_term terms[PROBE_MAX_TERMS];
};

enum probe_event_type {
	EV_HIT = 1,       /* struct probe_event */
	EV_INJECTION = 2, /* struct probe_injection */
	EV_HIT_EXT = 3,   /* struct probe_event_ext */
	EV_TIMING = 4,    /* struct probe_timing */
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
	__u64 stack_hi; /* g.stack.hi: stack_hi - sp survives stack copying */
	__u64 call;     /* the probe's call number (1 = first call) this hit belongs to */
	__u64 ret_addr; /* the return address at the entry SP: the caller, also where no frame is set up */
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

/* A hit with what does not fit a plain one: the user stack and memory captures. */
struct probe_event_ext {
	struct probe_event hit;
	__s32 nframes; /* frames of the kernel's frame-pointer walk, or a negative errno */
	__u32 pad;
	__u64 frames[PROBE_MAX_FRAMES];
	__u32 captured[PROBE_MAX_CAPTURES]; /* bytes copied into capture[i] */
	__u8 capture[PROBE_MAX_CAPTURES][PROBE_CAPTURE_BYTES];
};

struct probe_write_result {
	__s32 err;  /* 0, or the helper's negative errno (-EFAULT: read-only or unmapped) */
	__u32 pad;
	__u8 before[8]; /* memory writes: the first bytes there before */
};

/* A hit where a step of the chain fired: what was there before and after. */
struct probe_injection {
	struct probe_event hit; /* before the writes */
	__u32 term;             /* the step that fired */
	__u32 nwrites;
	__u64 regs_after[PROBE_INT_REGS];
	__u8 stack_after[PROBE_STACK_BYTES];
	struct probe_write_result writes[PROBE_MAX_WRITES];
};

/* calls in flight that a RET needs to know about (a step writing results, a timed call),
 * keyed by goroutine and depth */
struct probe_call_key {
	__s64 who;    /* goid, or the thread id when goroutines are unknown */
	__u64 depth;  /* g.stack.hi - entry sp: equal at the call site and at the RET */
};

struct probe_call_state {
	__u32 probe;
	__s32 term;  /* the step whose result writes the RET applies; -1: none */
	__u64 call;
	__u64 start_ns;
};

#endif
