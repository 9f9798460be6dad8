/* The kernel's view of the current task that the probe reads, as CO-RE views: only the fields
 * read, matched by name against the running kernel's BTF ("___" is libbpf's flavour suffix:
 * these match task_struct, thread_struct and mm_struct wherever the fields are in that kernel).
 * Included by pairing.h (a 386 thread's TLS) and writes.h (the end of the environment). */
#ifndef BPFAULT_PROBE_TASK_H
#define BPFAULT_PROBE_TASK_H

/* A TLS descriptor, read as its 8 raw bytes. */
struct desc_struct___bpfault {
	__u8 raw[8];
};
struct thread_struct___bpfault {
	struct desc_struct___bpfault tls_array[3];
	unsigned short gsindex;
} __attribute__((preserve_access_index));
struct mm_struct___bpfault {
	unsigned long env_end;
} __attribute__((preserve_access_index));
struct task_struct___bpfault {
	struct thread_struct___bpfault thread;
	struct mm_struct___bpfault *mm;
} __attribute__((preserve_access_index));

#endif
