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

#include "plan/probe_config.h"

namespace bpfault::kernel {

// The capabilities themselves are plan data (a plan lists those it needs), defined with it.
using plan::all_caps;
using plan::Cap;

struct CapResult {
  Cap cap;
  std::string name;          // "write_regs": the word scenarios, reports and `bpfault caps` use
  std::string first_kernel;  // the first kernel known to have it ("6.6")
  bool available = false;    // loaded, attached, and the self-test saw the effect
  std::string reason;        // why not: the verifier's line, or what the self-test saw; empty if available
  std::string log;           // the full verifier log of a refused load
};

struct Capabilities {
  std::string kernel_release;      // uname -r
  std::string lockdown;            // "none", "integrity", "confidentiality", or "unknown (...)"
  std::vector<CapResult> results;  // in all_caps order
  double probe_ms = 0;             // what probing cost

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
