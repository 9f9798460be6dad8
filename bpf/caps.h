/* Shared by bpf/caps.bpf.c and harness/kernel/caps.cpp: the values the capability self-tests
 * force, so that each side checks what the other wrote. Fixed-width types only. */
#ifndef BPFAULT_CAPS_H
#define BPFAULT_CAPS_H

#include <linux/types.h>

#define CAPS_WRITTEN 777    /* bpf_probe_write_user stores this through the first argument */
#define CAPS_FORCED  2021   /* the ctx writes force this into rax (the C and Go result register) */
#define CAPS_SIGNAL  23	    /* SIGURG: ignored by default, so a late or stray one harms nobody */
#define CAPS_RECORD  0xb9fa /* what the ring buffer program submits */

struct caps_record {
	__u64 magic; /* CAPS_RECORD */
	__u64 rdi;   /* the probed function's first argument, as the probe read it */
};

#endif
