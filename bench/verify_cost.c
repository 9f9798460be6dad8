// verify_cost: what loading each program of a BPF object costs, and how much of it is the
// verifier (bench/run). Every program is loaded alone, for uprobe_multi links as bpfault loads
// them, with the verifier's statistics on (log level 4: they cost nothing extra).
//
// usage: verify_cost [--set VAR=VALUE]... [--runs N] OBJECT.bpf.o
//   --set VAR=VALUE  a `const volatile` global of .rodata before load (e.g. goid_offset=152:
//                    a zero there lets the verifier drop the code that depends on it)
//   --runs N         loads per program (default 5); medians are printed
// Prints one line per program: prog= loaded= insns= processed= states= verify_us= load_ms=
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SETS 16
#define MAX_RUNS 64

struct assignment {
  const char* name;
  unsigned long long value;
};

static double now_ms(void) {
  struct timespec t;

  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;

  return (x > y) - (x < y);
}

static double median(double* v, int n) {
  qsort(v, n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int quiet(enum libbpf_print_level level, const char* fmt, va_list args) { return 0; }

/* Writes VAR into the object's .rodata image, found by name through its BTF datasec. */
static int set_rodata(struct bpf_object* obj, const struct assignment* a) {
  struct bpf_map* map = bpf_object__find_map_by_name(obj, ".rodata");
  const struct btf* btf = bpf_object__btf(obj);
  const struct btf_var_secinfo* vs;
  const struct btf_type* sec;
  size_t size;
  char* data;
  int id, i;

  if (!map || !btf || (id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC)) < 0) return -ENOENT;
  data = bpf_map__initial_value(map, &size);
  sec = btf__type_by_id(btf, id);
  vs = btf_var_secinfos(sec);
  for (i = 0; i < btf_vlen(sec); i++, vs++) {
    const char* name = btf__name_by_offset(btf, btf__type_by_id(btf, vs->type)->name_off);

    if (strcmp(name, a->name) || vs->offset + vs->size > size || vs->size > 8) continue;
    memcpy(data + vs->offset, &a->value, vs->size); /* little-endian: the low bytes */
    return 0;
  }
  return -ENOENT;
}

/* The number after `key` in the verifier's statistics, or -1. */
static long stat_of(const char* log, const char* key) {
  const char* p = strstr(log, key);

  return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

int main(int argc, char** argv) {
  struct assignment sets[MAX_SETS];
  int nsets = 0, runs = 5, i;
  const char* path = NULL;
  static char log[1 << 20];

  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--set") && i + 1 < argc && nsets < MAX_SETS) {
      char* eq = strchr(argv[++i], '=');

      if (!eq) goto usage;
      *eq = 0;
      sets[nsets].name = argv[i];
      sets[nsets++].value = strtoull(eq + 1, NULL, 0);
    } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
      runs = atoi(argv[++i]);
    } else if (argv[i][0] != '-' && !path) {
      path = argv[i];
    } else {
      goto usage;
    }
  }
  if (!path || runs < 1 || runs > MAX_RUNS) goto usage;
  libbpf_set_print(quiet);

  struct bpf_object* names = bpf_object__open(path);
  struct bpf_program* p;

  if (!names) {
    fprintf(stderr, "verify_cost: %s: %s\n", path, strerror(errno));
    return 1;
  }
  bpf_object__for_each_program(p, names) {
    const char* want = bpf_program__name(p);
    double verify_us[MAX_RUNS], load_ms[MAX_RUNS];
    long insns = bpf_program__insn_cnt(p), processed = -1, states = -1;
    int loaded = 0, r;

    for (r = 0; r < runs; r++) {
      struct bpf_object* obj = bpf_object__open(path);
      struct bpf_program *q, *mine = NULL;
      double t;
      int err;

      if (!obj) return 1;
      bpf_object__for_each_program(q, obj) {
        bpf_program__set_autoload(q, !strcmp(bpf_program__name(q), want));
        if (!strcmp(bpf_program__name(q), want)) mine = q;
      }
      bpf_program__set_expected_attach_type(mine, BPF_TRACE_UPROBE_MULTI);
      for (i = 0; i < nsets; i++)
        if (set_rodata(obj, &sets[i])) {
          fprintf(stderr, "verify_cost: no .rodata variable %s in %s\n", sets[i].name, path);
          return 2;
        }
      log[0] = 0;
      bpf_program__set_log_buf(mine, log, sizeof(log));
      bpf_program__set_log_level(mine, 4);
      t = now_ms();
      err = bpf_object__load(obj);
      load_ms[r] = now_ms() - t;
      loaded = !err;
      verify_us[r] = stat_of(log, "verification time ");
      processed = stat_of(log, "processed ");
      states = stat_of(log, "total_states ");
      bpf_object__close(obj);
    }
    printf("prog=%s loaded=%d insns=%ld processed=%ld states=%ld verify_us=%.0f load_ms=%.2f\n", want, loaded, insns,
           processed, states, median(verify_us, runs), median(load_ms, runs));
  }
  bpf_object__close(names);
  return 0;

usage:
  fprintf(stderr, "usage: verify_cost [--set VAR=VALUE]... [--runs N] OBJECT.bpf.o\n");
  return 2;
}
