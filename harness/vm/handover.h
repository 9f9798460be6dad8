/* How the host hands a boot its files once they are built (vm/vm.cpp), and how the guest's
 * bpfault-vm-fetch (vm/vm_fetch.c) takes them: a cpio archive in memory the two share through
 * qemu's ivshmem device (BAR 2), behind a header the host writes last. Plain C: both include it. */
#ifndef BPFAULT_VM_HANDOVER_H
#define BPFAULT_VM_HANDOVER_H

#define HANDOVER_MAGIC 0x31726576646e6168ULL /* "handver1": the archive is all there */
#define HANDOVER_DATA 4096                   /* the archive's offset, past the header's page */

struct handover_header {
  unsigned long long magic; /* HANDOVER_MAGIC once `bytes` and the archive are written */
  unsigned long long bytes; /* the archive's length */
};

#endif
