// floor: the least any uprobe harness can do, to hold bpfault against (bench/run).
// Attaches one tiny program (bench/floor.bpf.c) to functions of a program it starts held
// before exec, runs it, detaches. Per scenario it is the cost floor (open, load, attach,
// detach with nothing else); per hit, `--prog empty` is the floor bpfault's probes are
// compared with.
//
// usage: floor [--prog empty|arg] [--func SYM]... [--perf] [--stats] [--timing] -- PROG [ARGS...]
//   --prog empty  return 0 (default) | arg: print the first integer argument (RAX) of every hit
//   --func SYM    a function to probe, repeatable (default main.work); with --perf, SYM+OFF
//                 probes the instruction OFF bytes into it (what a hit costs by instruction kind)
//   --perf        one perf-event uprobe per function (what bpftrace and BCC use) instead of one
//                 uprobe_multi link (what bpfault uses, kernel >= 6.6)
//   --stats       BPF run-time stats: print the program's own ns per run
//   --timing      print the phases (ms) on stderr: open load attach run detach, and main to exit
// Exit status: PROG's (128 + signal when it was killed); 1 when loading or attaching failed.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "floor.h"
#include "floor.skel.h"

#define MAX_FUNCS 64

static double now_ms(void) {
  struct timespec t;

  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int on_event(void* ctx, void* data, size_t len) {
  const struct floor_event* e = data;

  if (len >= sizeof(*e)) printf("%lld\n", (long long)e->ax);
  return 0;
}

/* Forks PROG held before exec: it execs only once a byte arrives on *release (EOF: it exits
 * 127), so the probes are attached before its first instruction, as bpfault does. */
static pid_t spawn_held(char** argv, int* release) {
  int fds[2];
  pid_t pid;

  if (pipe2(fds, O_CLOEXEC)) return -1;
  pid = fork();
  if (pid == 0) {
    char c;

    close(fds[1]);
    if (read(fds[0], &c, 1) != 1) _exit(127);
    execv(argv[0], argv);
    perror(argv[0]);
    _exit(127);
  }
  close(fds[0]);
  *release = fds[1];
  return pid;
}

static void usage(void) {
  fprintf(stderr, "usage: floor [--prog empty|arg] [--func SYM]... [--perf] [--stats] [--timing] -- PROG [ARGS...]\n");
  exit(2);
}

int main(int argc, char** argv) {
  double t_main = now_ms(), t_open, t_load, t_attach, t_run, t_detach;
  const char *prog_name = "empty", *funcs[MAX_FUNCS];
  int nfuncs = 0, perf = 0, stats = 0, timing = 0, stats_fd = -1, release, status = 0, i;
  struct bpf_link* links[MAX_FUNCS] = {};
  int nlinks = 0;
  struct ring_buffer* rb = NULL;
  struct bpf_program* prog;
  struct floor_bpf* skel;
  pid_t pid;

  for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
    if (!strcmp(argv[i], "--prog") && i + 1 < argc)
      prog_name = argv[++i];
    else if (!strcmp(argv[i], "--func") && i + 1 < argc && nfuncs < MAX_FUNCS)
      funcs[nfuncs++] = argv[++i];
    else if (!strcmp(argv[i], "--perf"))
      perf = 1;
    else if (!strcmp(argv[i], "--stats"))
      stats = 1;
    else if (!strcmp(argv[i], "--timing"))
      timing = 1;
    else
      usage();
  }
  if (i + 1 >= argc) usage();
  char** child = argv + i + 1;
  if (!nfuncs) funcs[nfuncs++] = "main.work";

  skel = floor_bpf__open();
  if (!skel) {
    fprintf(stderr, "floor: open: %s\n", strerror(errno));
    return 1;
  }
  prog = !strcmp(prog_name, "empty") ? skel->progs.uprobe_empty
         : !strcmp(prog_name, "arg") ? skel->progs.uprobe_arg
                                     : NULL;
  if (!prog) usage();
  bpf_program__set_autoload(skel->progs.uprobe_empty, prog == skel->progs.uprobe_empty);
  bpf_program__set_autoload(skel->progs.uprobe_arg, prog == skel->progs.uprobe_arg);
  /* a uprobe_multi program cannot go behind a perf event, nor the other way round */
  if (perf) bpf_program__set_expected_attach_type(prog, 0);
  t_open = now_ms();
  if (floor_bpf__load(skel)) {
    fprintf(stderr, "floor: load: %s\n", strerror(errno));
    return 1;
  }
  if (stats && (stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME)) < 0) {
    fprintf(stderr, "floor: bpf_enable_stats: %s\n", strerror(errno));
    return 1;
  }
  if (prog == skel->progs.uprobe_arg) rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
  t_load = now_ms();

  pid = spawn_held(child, &release);
  if (pid < 0) {
    fprintf(stderr, "floor: fork: %s\n", strerror(errno));
    return 1;
  }
  if (perf) {
    for (i = 0; i < nfuncs; i++) {
      /* SYM+OFF: an instruction inside the function (libbpf adds the offset to SYM's) */
      char name[256];
      char* plus;
      size_t off = 0;

      snprintf(name, sizeof(name), "%s", funcs[i]);
      plus = strchr(name, '+');
      if (plus) {
        *plus = 0;
        off = strtoul(plus + 1, NULL, 0);
      }
      LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = name);

      links[nlinks] = bpf_program__attach_uprobe_opts(prog, pid, child[0], off, &o);
      if (!links[nlinks++]) goto attach_failed;
    }
  } else {
    LIBBPF_OPTS(bpf_uprobe_multi_opts, o, .syms = funcs, .cnt = nfuncs);

    links[nlinks] = bpf_program__attach_uprobe_multi(prog, pid, child[0], NULL, &o);
    if (!links[nlinks++]) goto attach_failed;
  }
  t_attach = now_ms();
  if (write(release, "x", 1) != 1) perror("floor: release");
  close(release);
  /* one event per hit of the seed task: drain once the tracee is gone */
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (rb) ring_buffer__consume(rb);
  fflush(stdout);
  t_run = now_ms();

  if (stats) {
    struct bpf_prog_info info = {};
    __u32 len = sizeof(info);

    bpf_prog_get_info_by_fd(bpf_program__fd(prog), &info, &len);
    printf("bpf_runs=%llu bpf_ns_per_run=%.1f\n", (unsigned long long)info.run_cnt,
           info.run_cnt ? (double)info.run_time_ns / info.run_cnt : 0.0);
    close(stats_fd);
  }
  for (i = 0; i < nlinks; i++) bpf_link__destroy(links[i]);
  t_detach = now_ms();
  ring_buffer__free(rb);
  floor_bpf__destroy(skel);
  if (timing)
    fprintf(
        stderr,
        "floor: mode=%s probes=%d open_ms=%.2f load_ms=%.2f attach_ms=%.2f run_ms=%.2f detach_ms=%.2f total_ms=%.2f\n",
        perf ? "perf" : "multi", nfuncs, t_open - t_main, t_load - t_open, t_attach - t_load, t_run - t_attach,
        t_detach - t_run, now_ms() - t_main);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

attach_failed:
  fprintf(stderr, "floor: attaching to %s failed: %s\n", child[0], strerror(errno));
  close(release);
  waitpid(pid, NULL, 0);
  return 1;
}
