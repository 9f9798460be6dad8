// SPDX-License-Identifier: GPL-2.0
/* Capability probes: one tiny uprobe program per kernel feature bpfault may need. The harness
 * loads each alone (a refusal must not hide the others), attaches it to a function of its own
 * and checks the effect (harness/kernel/caps.cpp). Never decided by kernel version. */
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>

#include "caps.h"

char LICENSE[] SEC("license") = "GPL";

__u64 hits = 0;
long write_ret = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} records SEC(".maps");

SEC("uprobe")
int uprobe_read(struct pt_regs *ctx)
{
	hits++;
	return 0;
}

/* BPF_TRACE_UPROBE_MULTI is fixed at load time: the load fails before 6.6 */
SEC("uprobe.multi")
int uprobe_multi_read(struct pt_regs *ctx)
{
	hits++;
	return 0;
}

SEC("uprobe")
int uprobe_ringbuf(struct pt_regs *ctx)
{
	struct caps_record *r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);

	if (!r)
		return 0;
	r->magic = CAPS_RECORD;
	r->rdi = ctx->rdi;
	bpf_ringbuf_submit(r, 0);
	hits++;
	return 0;
}

/* Refused by the verifier ("cannot use helper") under lockdown=integrity or stricter. */
SEC("uprobe")
int uprobe_write_user(struct pt_regs *ctx)
{
	__u64 v = CAPS_WRITTEN;

	write_ret = bpf_probe_write_user((void *)ctx->rdi, &v, sizeof(v));
	hits++;
	return 0;
}

/* Writes to pt_regs need Jiri Olsa's "bpf: Allow uprobe program to change context registers"
 * (kprobe_prog_is_valid_access() accepts BPF_WRITE); before it: "invalid bpf_context access". */
SEC("uprobe")
int uprobe_write_regs(struct pt_regs *ctx)
{
	ctx->rax = CAPS_FORCED;
	hits++;
	return 0;
}

/* Early return at a function's entry: pop the return address into ip. The same series'
 * "uprobe: Do not emulate/sstep original instruction when ip is changed" makes it take effect.
 * Only rax is set: rbx is callee-saved in the C ABI of the function probed here. */
SEC("uprobe")
int uprobe_write_ip(struct pt_regs *ctx)
{
	__u64 ret;

	if (bpf_probe_read_user(&ret, sizeof(ret), (void *)ctx->rsp))
		return 0;
	ctx->rip = ret;
	ctx->rsp += 8;
	ctx->rax = CAPS_FORCED;
	hits++;
	return 0;
}

SEC("uprobe")
int uprobe_send_signal(struct pt_regs *ctx)
{
	bpf_send_signal(CAPS_SIGNAL);
	hits++;
	return 0;
}
