// The BPF side of one run: bpf/probe.bpf.c opened, configured, loaded and attached to the
// sites of one binary, filtered to one tracee, with its ring buffer drained on demand. Move-only; the destructor detaches every link and frees every map (the kernel
// would too, when bpfault exits: links are file descriptors).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "diag/error.h"
#include "probe.h"

struct probe_bpf;
struct bpf_link;
struct ring_buffer;

namespace bpfault::kernel {

// Which program serves a site: the least capable one that can do its job. `record` has no
// rule logic at all (counting, recording, timing), so it verifies in a fraction of the time.
enum class Program : uint8_t { record, read, write_user, write_regs };

struct Site {
  probe_site config;     // what the BPF program does here (the cookie is the site's index)
  uint64_t file_offset;  // where: offset in the binary's file
  Program program = Program::record;
};

struct SessionConfig {
  std::filesystem::path binary;
  std::vector<Site> sites;
  std::vector<probe_rule> rules;  // index = probe; only probes with sites marked `inject` use theirs
  uint64_t goid_offset = 0;
  uint64_t stack_hi_offset = 8;
  uint32_t ptr_size = 8;
  bool uprobe_multi = true;  // one link per program for all its sites (kernel >= 6.6); else one perf-event uprobe per site
};

class ProbeSession {
 public:
  // open -> configure -> load: everything but the attach, which needs the tracee's pid.
  // Programs no site uses are not loaded, so a kernel that refuses writes still loads a read-only run.
  static Result<ProbeSession> load(const SessionConfig& config);
  ProbeSession(ProbeSession&&) noexcept;
  ProbeSession& operator=(ProbeSession&&) = delete;
  ~ProbeSession();

  Result<void> attach(pid_t tgid);  // only this process's hits count (its threads included)

  // What the probes emitted since the last drain, by record type.
  struct Events {
    std::vector<probe_event> hits;
    std::vector<probe_event_ext> hits_ext;  // with stacks, memory captures
    std::vector<probe_timing> timings;      // returns of timed calls that record nothing else
    std::vector<probe_injection> injections;
  };
  Events drain();
  int wake_fd() const;  // readable when the probes ask for an early drain (the ring is filling up)

  uint64_t drops() const;
  uint64_t goid_misses() const;  // hits whose goroutine id could not be read
  uint64_t site_hits(uint32_t site) const;
  uint64_t probe_calls(uint32_t probe) const;

 private:
  using Sink = Events;
  ProbeSession() = default;
  static int on_sample(void* ctx, void* data, size_t size);

  SessionConfig config_;
  probe_bpf* skel_ = nullptr;
  std::vector<bpf_link*> links_;
  ring_buffer* ring_ = nullptr;
  // heap-held so the ring buffer's callback context survives a move of the session
  std::unique_ptr<Sink> sink_ = std::make_unique<Sink>();
};

}  // namespace bpfault::kernel
