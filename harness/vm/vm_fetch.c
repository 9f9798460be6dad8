/* bpfault-vm-fetch RESOURCE: the guest's side of the handover (vm/handover.h). Maps RESOURCE,
 * the shared memory of qemu's ivshmem device in sysfs, waits until the host has written the
 * run's files there, and writes their cpio archive to stdout for `cpio -i`. The guest boots
 * while the host still builds what it will run. Freestanding, no libc, like bpfault-vm-exit. */
#include "handover.h"

#define SYS_write 1
#define SYS_open 2
#define SYS_fstat 5
#define SYS_mmap 9
#define SYS_nanosleep 35
#define SYS_exit 60

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;

  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

static void say(const char* msg) {
  long n = 0;

  while (msg[n]) n++;
  sys6(SYS_write, 2, (long)msg, n, 0, 0, 0);
}

static __attribute__((noreturn)) void quit(const char* why) {
  say("bpfault-vm-fetch: ");
  say(why);
  say("\n");
  sys6(SYS_exit, 1, 0, 0, 0, 0, 0);
  __builtin_unreachable();
}

__attribute__((used, noreturn)) void start_c(long* sp) {
  char** argv = (char**)(sp + 1);
  unsigned long st[18];            /* struct stat: st_size is its 7th word on x86_64 */
  const long ts[2] = {0, 5000000}; /* 5 ms between looks: the guest idles, not spins */

  if (sp[0] < 2) quit("usage: bpfault-vm-fetch RESOURCE");
  long fd = sys6(SYS_open, (long)argv[1], 2 /* O_RDWR */, 0, 0, 0, 0);
  if (fd < 0) quit("cannot open the shared memory (no ivshmem device?)");
  if (sys6(SYS_fstat, fd, (long)st, 0, 0, 0, 0)) quit("cannot stat the shared memory");
  unsigned long size = st[6];
  long at = sys6(SYS_mmap, 0, (long)size, 1 /* PROT_READ */, 1 /* MAP_SHARED */, fd, 0);
  if (at < 0 && at > -4096) quit("cannot map the shared memory");
  volatile const struct handover_header* h = (volatile const struct handover_header*)at;

  while (h->magic != HANDOVER_MAGIC) sys6(SYS_nanosleep, (long)ts, 0, 0, 0, 0, 0);
  __asm__ volatile("" ::: "memory"); /* the archive is read after the magic (x86: loads in order) */
  unsigned long bytes = h->bytes;
  if (bytes > size - HANDOVER_DATA) quit("the archive is larger than the shared memory");
  for (unsigned long done = 0; done < bytes;) {
    long n = sys6(SYS_write, 1, at + HANDOVER_DATA + (long)done, (long)(bytes - done), 0, 0, 0);
    if (n <= 0) quit("cannot write the archive to stdout");
    done += (unsigned long)n;
  }
  sys6(SYS_exit, 0, 0, 0, 0, 0, 0);
  __builtin_unreachable();
}

__asm__(".globl _start\n_start:\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall start_c\n\thlt\n");
