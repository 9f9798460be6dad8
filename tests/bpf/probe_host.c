/* bpf/probe/rules.h and pairing.h, unchanged, built for the host (bpf_host_shim.h), with the
 * globals probe.bpf.c would define and entry points for the C++ tests (probe_host.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "bpf_host_shim.h"

#include "probe.h"

/* probe.bpf.c's load-time settings: plain globals here, so that the tests set them */
__u64 goid_offset = 0;
__u64 stack_hi_offset = 8;
__u64 ptr_size = 8;
__u64 seed = 0;

#include "probe/counters.h"
#include "probe/pairing.h"
#include "probe/regs.h"
#include "probe/rules.h"

#include "probe_host.h"

__u64 host_pid_tgid = 0;
__u32 host_prandom = 0;

/* ---- maps: an array is max_entries values; a hash is open addressing over twice its capacity,
 * full (E2BIG) at max_entries as the kernel's is. Keys and values start on 8 bytes, as the
 * kernel's do (the headers load them as structs of 8-byte fields). */
struct host_map {
  void* id;
  int type;
  size_t key_size, value_size, max_entries, slots, count;
  unsigned char* data; /* arrays: the values; hashes: per slot a state word, the key, the value */
};
static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }
/* Bytes per entry: an array's value; a hash slot's state, key and value. */
static size_t stride(const struct host_map* m) {
  return m->type == BPF_MAP_TYPE_HASH ? 8 + round8(m->key_size) + round8(m->value_size) : round8(m->value_size);
}
enum { SLOT_FREE = 0, SLOT_USED = 1, SLOT_GONE = 2 };
static struct host_map maps[16];
static size_t nmaps;

void host_map_register(void* map, int type, size_t key_size, size_t value_size, size_t max_entries) {
  for (size_t i = 0; i < nmaps; i++)
    if (maps[i].id == map) return;
  if (nmaps == sizeof(maps) / sizeof(maps[0])) abort();
  struct host_map* m = &maps[nmaps++];

  m->id = map;
  m->type = type;
  m->key_size = key_size;
  m->value_size = value_size;
  m->max_entries = max_entries;
  m->slots = type == BPF_MAP_TYPE_HASH ? 2 * max_entries : max_entries;
  m->data = calloc(m->slots, stride(m));
  if (!m->data) abort();
}

void host_maps_clear(void) {
  for (size_t i = 0; i < nmaps; i++) {
    struct host_map* m = &maps[i];

    memset(m->data, 0, m->slots * stride(m));
    m->count = 0;
  }
}

static struct host_map* find(void* id) {
  for (size_t i = 0; i < nmaps; i++)
    if (maps[i].id == id) return &maps[i];
  abort(); /* a map the test did not register: a test bug */
}

static unsigned char* slot(struct host_map* m, size_t i) { return m->data + i * stride(m); }
static unsigned char* slot_key(unsigned char* s) { return s + 8; }
static unsigned char* slot_value(struct host_map* m, unsigned char* s) { return s + 8 + round8(m->key_size); }

/* The slot holding `key`, or the first reusable one on its probe path when absent (*found = 0). */
static size_t probe_slot(struct host_map* m, const void* key, int* found) {
  __u64 h = 1469598103934665603ULL; /* FNV-1a */
  size_t reuse = SIZE_MAX;

  for (size_t i = 0; i < m->key_size; i++) h = (h ^ ((const unsigned char*)key)[i]) * 1099511628211ULL;
  for (size_t n = 0, i = h % m->slots; n < m->slots; n++, i = (i + 1) % m->slots) {
    unsigned char* s = slot(m, i);

    if (s[0] == SLOT_USED && !memcmp(slot_key(s), key, m->key_size)) {
      *found = 1;
      return i;
    }
    if (s[0] != SLOT_USED && reuse == SIZE_MAX) reuse = i;
    if (s[0] == SLOT_FREE) break;
  }
  *found = 0;
  return reuse;
}

void* bpf_map_lookup_elem(void* map, const void* key) {
  struct host_map* m = find(map);
  int found;

  if (m->type == BPF_MAP_TYPE_ARRAY) {
    __u32 i = *(const __u32*)key;

    return i < m->max_entries ? m->data + (size_t)i * stride(m) : NULL;
  }
  size_t i = probe_slot(m, key, &found);

  return found ? slot_value(m, slot(m, i)) : NULL;
}

long bpf_map_update_elem(void* map, const void* key, const void* value, __u64 flags) {
  struct host_map* m = find(map);
  int found;

  (void)flags; /* BPF_ANY: the only one the probe uses */
  if (m->type == BPF_MAP_TYPE_ARRAY) {
    void* v = bpf_map_lookup_elem(map, key);

    if (!v) return -E2BIG;
    memcpy(v, value, m->value_size);
    return 0;
  }
  size_t i = probe_slot(m, key, &found);

  if (!found && (m->count >= m->max_entries || i == SIZE_MAX)) return -E2BIG;
  unsigned char* s = slot(m, i);

  if (!found) m->count++;
  s[0] = SLOT_USED;
  memcpy(slot_key(s), key, m->key_size);
  memcpy(slot_value(m, s), value, m->value_size);
  return 0;
}

long bpf_map_delete_elem(void* map, const void* key) {
  struct host_map* m = find(map);
  int found;
  size_t i = probe_slot(m, key, &found);

  if (m->type != BPF_MAP_TYPE_HASH || !found) return -ENOENT;
  slot(m, i)[0] = SLOT_GONE;
  m->count--;
  return 0;
}

long bpf_probe_read_user(void* dst, __u32 size, const void* src) {
  if ((uintptr_t)src < 4096) {
    memset(dst, 0, size);
    return -EFAULT;
  }
  memcpy(dst, src, size);
  return 0;
}

/* ---- entry points for the tests */

void host_reset(void) {
  HOST_MAP(rules);
  HOST_MAP(probe_matches);
  HOST_MAP(step_fired);
  HOST_MAP(pinned_goid);
  HOST_MAP(in_flight);
  host_maps_clear();
  goid_offset = 0;
  stack_hi_offset = 8;
  ptr_size = 8;
  seed = 0;
  goid_misses = 0;
  unpaired = 0;
  host_pid_tgid = 0;
  host_prandom = 0;
}

void host_set(__u64 a_seed, __u64 a_ptr_size, __u64 a_goid_offset, __u64 a_stack_hi_offset) {
  seed = a_seed;
  ptr_size = a_ptr_size;
  goid_offset = a_goid_offset;
  stack_hi_offset = a_stack_hi_offset;
}

void host_set_kernel(__u64 pid_tgid, __u32 prandom) {
  host_pid_tgid = pid_tgid;
  host_prandom = prandom;
}

int host_decide(__u32 probe, const struct probe_rule* r, __u64 match) { return decide(probe, r, match); }

int host_holds(const __u64 regs[PROBE_INT_REGS], __u64 sp, const struct probe_pred* p) {
  struct regs_copy rc = {{0}};

  memcpy(rc.r, regs, PROBE_INT_REGS * sizeof(__u64));
  return holds(&rc, sp, p);
}

int host_matches(const __u64 regs[PROBE_INT_REGS], __u64 sp, __u32 probe, const struct probe_rule* r, __s64 goid,
                 __u64 bias, __u64 entry_sp) {
  __u64 all[NREGS] = {0};

  memcpy(all, regs, PROBE_INT_REGS * sizeof(__u64));
  return matches(all, sp, probe, r, goid, bias, entry_sp);
}

__u64 host_step_fired(__u32 probe, __u32 step) {
  __u64* n = counter(&step_fired, probe * PROBE_MAX_STEPS + step);

  return n ? *n : 0;
}

__s64 host_read_goid(__u64 g, __u64* stack_hi) {
  struct pt_regs ctx;

  memset(&ctx, 0, sizeof(ctx));
  ctx.r14 = g;
  return read_goid(&ctx, stack_hi);
}

long host_pair_call(__s64 goid, __u64 stack_hi, __u64 entry_sp, __u32 probe, int step, __u64 call, __u64 now) {
  return pair_call(goid, stack_hi, entry_sp, probe, step, call, now);
}

int host_pair_ret(__s64 goid, __u64 stack_hi, __u64 entry_sp, struct probe_call_state* out) {
  return pair_ret(goid, stack_hi, entry_sp, out);
}

void host_pair_forget(__s64 goid, __u64 stack_hi, __u64 entry_sp) { pair_forget(goid, stack_hi, entry_sp); }

__u64 host_unpaired(void) { return unpaired; }

__u64 host_goid_misses(void) { return goid_misses; }
