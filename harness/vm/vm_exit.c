/* bpfault-vm-exit CODE: the guest's last command. Makes qemu exit with status (CODE << 1) | 1
 * through its isa-debug-exit device at port 0xf4, since Debian kernels have no /dev/port
 * (# CONFIG_DEVPORT is not set). Freestanding, no libc: it adds a few hundred bytes to the
 * initramfs. Embedded into bpfault_vm as vm_exit_blob.h. */
#define SYS_write 1
#define SYS_exit 60
#define SYS_ioperm 173

static long sys3(long n, long a, long b, long c) {
  long ret;

  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return ret;
}

__attribute__((used, noreturn)) void start_c(long* sp) {
  static const char msg[] = "bpfault-vm-exit: ioperm(0xf4) failed\n";
  char** argv = (char**)(sp + 1);
  unsigned code = 0;

  if (sp[0] > 1)
    for (const char* p = argv[1]; *p >= '0' && *p <= '9'; p++) code = code * 10 + (unsigned)(*p - '0');
  if (sys3(SYS_ioperm, 0xf4, 4, 1))
    sys3(SYS_write, 2, (long)msg, sizeof(msg) - 1);
  else
    __asm__ volatile("outl %0, %w1" : : "a"(code), "Nd"(0xf4));
  sys3(SYS_exit, 1, 0, 0); /* only without the device */
  __builtin_unreachable();
}

__asm__(".globl _start\n_start:\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall start_c\n\thlt\n");
