#!/usr/bin/python3
# BCC doing the seed task (bench/run): print main.ebpfDemo's first argument, then exit.
# Go >= 1.17 passes integer arguments in RAX (Go's register ABI), not RDI: ctx->ax, not
# PT_REGS_PARM1. The tracee runs once, with this process's stdout, as under bpftrace -c.
# usage: bcc_arg.py TRACEE [FUNCTION]
import subprocess
import sys

from bcc import BPF  # the clang compile and the load below are most of BCC's cost

PROGRAM = r"""
#include <uapi/linux/ptrace.h>
BPF_RINGBUF_OUTPUT(events, 8);
int on_call(struct pt_regs *ctx) {
    long a1 = ctx->ax;
    events.ringbuf_output(&a1, sizeof(a1), 0);
    return 0;
}
"""


def main():
    tracee = sys.argv[1]
    function = sys.argv[2] if len(sys.argv) > 2 else "main.ebpfDemo"
    b = BPF(text=PROGRAM)
    b.attach_uprobe(name=tracee, sym=function, fn_name="on_call")

    def on_event(ctx, data, size):
        import ctypes
        print(ctypes.cast(data, ctypes.POINTER(ctypes.c_long)).contents.value, flush=True)

    b["events"].open_ring_buffer(on_event)
    sys.stdout.flush()
    rc = subprocess.run([tracee]).returncode
    b.ring_buffer_consume()
    return rc


if __name__ == "__main__":
    sys.exit(main())
