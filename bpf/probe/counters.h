/* Arrays of counters, and one counter by index. Included by probe.bpf.c, and by the host build
 * of the decision logic (tests/bpf), which gives the map macros and helpers a host meaning. */
#ifndef BPFAULT_PROBE_COUNTERS_H
#define BPFAULT_PROBE_COUNTERS_H

#define COUNTER_MAP(name, n)                                                                       \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                                  \
		__uint(max_entries, n);                                                            \
		__type(key, __u32);                                                                \
		__type(value, __u64);                                                              \
	} name SEC(".maps")

static __always_inline __u64 *counter(void *map, __u32 key)
{
	return bpf_map_lookup_elem(map, &key);
}

#endif
