// What the running kernel lets bpfault do, found by loading the real tiny programs of
// bpf/caps.bpf.c once per process and checking their effect on functions of bpfault itself
// (never by kernel version: libbpf_probe_bpf_helper() says yes to bpf_probe_write_user on a
// locked-down 6.18, where the verifier refuses it; see notes/vm-kernels.md).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bpfault::kernel {

enum class Cap {
  uprobe,        // a BPF program on a perf-event uprobe, reading registers
  uprobe_multi,  // one uprobe_multi link for many sites
  ringbuf,       // BPF_MAP_TYPE_RINGBUF
  write_user,    // bpf_probe_write_user: the tracee's memory (stack, heap, globals)
  write_regs,    // pt_regs writes: arguments and results in registers
  write_ip,      // pt_regs ip/sp writes honoured: return early without running the body
  send_signal,   // bpf_send_signal from a uprobe
};

inline constexpr std::array<Cap, 7> all_caps = {Cap::uprobe,     Cap::uprobe_multi, Cap::ringbuf,    Cap::write_user,
                                                Cap::write_regs, Cap::write_ip,     Cap::send_signal};

struct CapResult {
  Cap cap;
  std::string name;          // "write_regs": the word scenarios, reports and `bpfault caps` use
  std::string first_kernel;  // the first kernel known to have it ("6.6")
  bool available = false;    // loaded, attached, and the self-test saw the effect
  std::string reason;        // why not: the verifier's line, or what the self-test saw; empty if available
  std::string log;           // the full verifier log of a refused load
};

struct Capabilities {
  std::string kernel_release;  // uname -r
  std::string lockdown;        // "none", "integrity", "confidentiality", or "unknown (...)"
  std::vector<CapResult> results;  // in all_caps order
  double probe_ms = 0;         // what probing cost

  bool has(Cap cap) const { return get(cap).available; }
  const CapResult& get(Cap cap) const;
};

// Probed once per process, on first use; later calls return the same table. The answer is
// kept per boot and per bpfault build in /run/bpfault, so a suite of processes probes once.
const Capabilities& capabilities();

// A fresh probe, for `bpfault caps` and tests that must not see a cached answer.
Capabilities probe_capabilities();

std::string_view cap_name(Cap cap);
std::optional<Cap> cap_from_name(std::string_view name);

}  // namespace bpfault::kernel
