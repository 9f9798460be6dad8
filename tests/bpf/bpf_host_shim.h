/* The BPF side of bpf/probe/ compiled for the host, so that its decision logic (rules.h) and
 * its call/RET pairing (pairing.h) run in unit tests: BPF_PROG_TEST_RUN does not run uprobe
 * programs. This header gives the map macros and the helpers those headers use a host meaning
 * (maps are arrays or hash tables in memory, user memory is this process's memory); the
 * headers themselves are included unchanged. C only: the BPF headers rely on C's conversions. */
#ifndef BPFAULT_TESTS_BPF_HOST_SHIM_H
#define BPFAULT_TESTS_BPF_HOST_SHIM_H

#include <stddef.h>
#include <string.h>

#include <asm/ptrace.h>
#include <linux/bpf.h>
#include <linux/types.h>

/* libbpf's map definition macros, as libbpf spells them: the map's facts are in the types of
 * its members (an array of N ints for max_entries), which host_map_register() reads back. */
#define SEC(name)
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val)* name
#undef __always_inline /* glibc's <sys/cdefs.h> has one */
#define __always_inline inline __attribute__((always_inline))
#define __noinline __attribute__((noinline))
/* CO-RE: no kernel structures on the host; a field never exists, so gs_base() gives up */
#define preserve_access_index
#define bpf_core_field_exists(field) ((void)sizeof(field), 0)
#define bpf_core_read(dst, sz, src) (memcpy((dst), (src), (sz)), 0)

/* Registers a map defined by the headers: its type, key and value sizes and capacity. */
#define HOST_MAP(m)                                                                              \
  host_map_register(&(m), sizeof(*(m).type) / sizeof(int), sizeof(*(m).key), sizeof(*(m).value), \
                    sizeof(*(m).max_entries) / sizeof(int))
void host_map_register(void* map, int type, size_t key_size, size_t value_size, size_t max_entries);
void host_maps_clear(void); /* every map empty (arrays zeroed), as at load */

void* bpf_map_lookup_elem(void* map, const void* key);
long bpf_map_update_elem(void* map, const void* key, const void* value, __u64 flags);
long bpf_map_delete_elem(void* map, const void* key);

/* User memory is this process's: an address in the first page faults, as NULL would. */
long bpf_probe_read_user(void* dst, __u32 size, const void* src);

/* What the kernel would say, set by the tests. */
extern __u64 host_pid_tgid;
extern __u32 host_prandom;
static inline __u64 bpf_get_current_pid_tgid(void) { return host_pid_tgid; }
static inline __u32 bpf_get_prandom_u32(void) { return host_prandom; }
static inline __u64 bpf_get_current_task(void) { return 0; }

#endif
