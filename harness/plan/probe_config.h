// What a plan asks of the kernel, as plain data: the BPF configuration of each attach point
// (`probe_site` from bpf/probe.h, which program serves it, where it is) and the capabilities
// the plan needs. kernel/ loads exactly this; the planner itself never touches libbpf.
#pragma once

#include <array>
#include <cstdint>

#include "probe.h"

namespace bpfault::plan {

// What the kernel may allow; each is proven by kernel/caps (a real load and its effect).
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

// Which program serves a site: the least capable one that can do its job. `observe` has no
// rule logic at all (counting, recording, timing), so it verifies in a fraction of the time;
// `decide` evaluates rules and acts without writing (signals, delays, steps that write only at
// the RET, which another program serves).
enum class Program : uint8_t { observe, decide, write_user, write_regs };

struct Site {
  probe_site config;     // what the BPF program does here (the cookie is the site's index)
  uint64_t file_offset;  // where: offset in the binary's file
  Program program = Program::observe;
  int32_t inlined_copy = -1;  // the site is this inlined copy's mark (index into Function::inlined_copies)
};

}  // namespace bpfault::plan
