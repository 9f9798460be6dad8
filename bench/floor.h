/* Shared by bench/floor.bpf.c and bench/floor.c. */
#ifndef BPFAULT_BENCH_FLOOR_H
#define BPFAULT_BENCH_FLOOR_H

#include <linux/types.h>

/* What `floor --prog arg` sends for every hit: the first integer argument (Go's RAX). */
struct floor_event {
  __u64 ax;
};

#endif
