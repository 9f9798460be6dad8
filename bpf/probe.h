/* Shared by bpf/probe.bpf.c and the harness (harness/kernel/probe_session.cpp): the per-site
 * configuration the harness writes before attaching, and the event records the probes emit.
 * Fixed-width types only; the C++ side static_asserts the sizes. */
#ifndef BPFAULT_PROBE_H
#define BPFAULT_PROBE_H

#include <linux/types.h>

#define PROBE_MAX_SITES 1024 /* attach points of one run (a function's call site + its RETs) */
#define PROBE_MAX_PROBES 64  /* probes (functions) of one scenario */
#define PROBE_INT_REGS 9     /* Go's integer ABI registers: RAX RBX RCX RDI RSI R8 R9 R10 R11 */
#define PROBE_STACK_BYTES 128 /* bytes copied from SP: the return address and stack-ABI values */

enum probe_site_kind {
	SITE_CALL = 0, /* first instruction after the stack-check prologue: once per call */
	SITE_RET = 1,  /* a RET instruction of the function */
};

/* One attach point; the attach cookie is its index in the `sites` map. */
struct probe_site {
	__u32 probe;  /* index of the scenario's probe (its function) */
	__u8 kind;    /* enum probe_site_kind */
	__u8 record;  /* emit a probe_event at this site */
	__u8 pad[2];
};

/* One hit of a recording site. Register and stack values are as the probe found them. */
struct probe_event {
	__u64 time_ns;
	__u32 site;
	__u32 tid;
	__s64 goid; /* -1 when unknown */
	__u64 sp;
	__u64 stack_hi; /* g.stack.hi: stack_hi - sp survives stack copying */
	__u64 call;     /* the probe's call number (1 = first call) at the time of this hit */
	__u64 regs[PROBE_INT_REGS];
	__u8 stack[PROBE_STACK_BYTES];
};

#endif
