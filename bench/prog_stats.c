// prog_stats: what each BPF program costs per run, for programs loaded by another tool
// (bench/run). Turns on the kernel's BPF run-time statistics, runs COMMAND, and samples every
// program while it runs: a tool's programs are gone once it exits, so the last sample counts.
// The statistics add two clock reads to every run (~20-40 ns here): take the per-hit figures
// from runs without it, and these for what the program itself does.
//
// usage: prog_stats [--every MS] -- COMMAND [ARGS...]
// Prints `prog=NAME runs=N ns_per_run=X` for every program that ran, then COMMAND's exit status
// is prog_stats's.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROGS 256

struct seen {
  __u32 id;
  char name[BPF_OBJ_NAME_LEN];
  __u64 runs, ns;
};

static struct seen progs[MAX_PROGS];
static int nprogs;

static void sample(void) {
  __u32 id = 0;

  while (!bpf_prog_get_next_id(id, &id)) {
    struct bpf_prog_info info = {};
    __u32 len = sizeof(info);
    int fd = bpf_prog_get_fd_by_id(id), i;

    if (fd < 0) continue;
    if (!bpf_prog_get_info_by_fd(fd, &info, &len) && info.run_cnt) {
      for (i = 0; i < nprogs && progs[i].id != id; i++)
        ;
      if (i == nprogs && nprogs < MAX_PROGS) {
        progs[nprogs].id = id;
        snprintf(progs[nprogs].name, sizeof(progs[nprogs].name), "%s", info.name);
        nprogs++;
      }
      if (i < nprogs) {
        progs[i].runs = info.run_cnt;
        progs[i].ns = info.run_time_ns;
      }
    }
    close(fd);
  }
}

int main(int argc, char** argv) {
  int every_ms = 20, i, status = 0, stats_fd;
  pid_t pid;

  for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
    if (!strcmp(argv[i], "--every") && i + 1 < argc)
      every_ms = atoi(argv[++i]);
    else
      goto usage;
  }
  if (i + 1 >= argc || every_ms < 1) goto usage;
  stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) {
    fprintf(stderr, "prog_stats: bpf_enable_stats: %s\n", strerror(errno));
    return 1;
  }
  /* programs already loaded (other sessions' tools) count only what they ran meanwhile */
  sample();
  int before = nprogs;
  static struct seen base[MAX_PROGS];
  memcpy(base, progs, sizeof(progs));

  pid = fork();
  if (pid == 0) {
    execvp(argv[i + 1], argv + i + 1);
    perror(argv[i + 1]);
    _exit(127);
  }
  while (waitpid(pid, &status, WNOHANG) == 0) {
    sample();
    usleep(every_ms * 1000);
  }
  close(stats_fd);
  for (int k = 0; k < nprogs; k++) {
    __u64 runs = progs[k].runs, ns = progs[k].ns;

    if (k < before) {
      runs -= base[k].runs;
      ns -= base[k].ns;
    }
    if (runs) printf("prog=%s runs=%llu ns_per_run=%.1f\n", progs[k].name, (unsigned long long)runs, (double)ns / runs);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

usage:
  fprintf(stderr, "usage: prog_stats [--every MS] -- COMMAND [ARGS...]\n");
  return 2;
}
