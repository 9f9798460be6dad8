/* The host build of bpf/probe/rules.h and pairing.h (probe_host.c), for the C++ tests. */
#ifndef BPFAULT_TESTS_BPF_PROBE_HOST_H
#define BPFAULT_TESTS_BPF_PROBE_HOST_H

#include "probe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every map empty, settings as at load (no seed, 8-byte pointers, goroutines unknown). */
void host_reset(void);
void host_set(__u64 seed, __u64 ptr_size, __u64 goid_offset, __u64 stack_hi_offset);
void host_set_kernel(__u64 pid_tgid, __u32 prandom); /* bpf_get_current_pid_tgid, bpf_get_prandom_u32 */

/* rules.h: the step that fires for the `match`-th matching call (-1: none); one predicate;
 * all the conditions of a rule (regs in Go's ABI order) */
int host_decide(__u32 probe, const struct probe_rule* r, __u64 match);
int host_holds(const __u64 regs[PROBE_INT_REGS], __u64 sp, const struct probe_pred* p);
int host_matches(const __u64 regs[PROBE_INT_REGS], __u64 sp, __u32 probe, const struct probe_rule* r, __s64 goid,
                 __u64 bias, __u64 entry_sp);
__u64 host_step_fired(__u32 probe, __u32 step); /* calls the step acted on */

/* pairing.h */
__s64 host_read_goid(__u64 g, __u64* stack_hi); /* with R14 = g */
long host_pair_call(__s64 goid, __u64 stack_hi, __u64 entry_sp, __u32 probe, int step, __u64 call, __u64 now);
int host_pair_ret(__s64 goid, __u64 stack_hi, __u64 entry_sp, struct probe_call_state* out);
void host_pair_forget(__s64 goid, __u64 stack_hi, __u64 entry_sp);
__u64 host_unpaired(void);
__u64 host_goid_misses(void);

#ifdef __cplusplus
}
#endif

#endif
