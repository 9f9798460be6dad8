#include "kernel/probe_session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "probe.skel.h"

namespace bpfault::kernel {

static_assert(sizeof(probe_site) == 8, "bpf/probe.h: probe_site layout changed");
static_assert(sizeof(probe_event) == 48 + 8 * PROBE_INT_REGS + PROBE_STACK_BYTES, "bpf/probe.h: probe_event layout changed");

namespace {

int quiet(libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_WARN && std::getenv("BPFAULT_LIBBPF_DEBUG")) return vfprintf(stderr, fmt, args);
  return 0;
}

uint64_t read_array(int fd, uint32_t key) {
  uint64_t v = 0;
  bpf_map_lookup_elem(fd, &key, &v);
  return v;
}

}  // namespace

ProbeSession::ProbeSession(ProbeSession&& o) noexcept
    : config_(std::move(o.config_)), skel_(o.skel_), links_(std::move(o.links_)), ring_(o.ring_),
      events_(std::move(o.events_)) {
  o.skel_ = nullptr;
  o.ring_ = nullptr;
  o.links_.clear();
}

ProbeSession::~ProbeSession() {
  for (bpf_link* l : links_) bpf_link__destroy(l);
  if (ring_) ring_buffer__free(ring_);
  if (skel_) probe_bpf__destroy(skel_);
}

Result<ProbeSession> ProbeSession::load(const SessionConfig& config) {
  libbpf_set_print(quiet);
  if (config.sites.empty() || config.sites.size() > PROBE_MAX_SITES)
    return fail(ErrorKind::bad_input, config.binary.string(),
                fmt::format("{} attach points; bpfault supports 1 to {} per run", config.sites.size(), PROBE_MAX_SITES),
                "probe fewer functions, or functions with fewer RET instructions");
  ProbeSession s;
  s.config_ = config;
  s.skel_ = probe_bpf__open();
  if (!s.skel_) return fail(ErrorKind::internal, "bpf/probe.bpf.c", fmt::format("open failed: {}", strerror(errno)));
  if (config.uprobe_multi)
    bpf_program__set_expected_attach_type(s.skel_->progs.uprobe_read, BPF_TRACE_UPROBE_MULTI);
  s.skel_->rodata->goid_offset = config.goid_offset;
  s.skel_->rodata->stack_hi_offset = config.stack_hi_offset;
  if (int err = probe_bpf__load(s.skel_))
    return fail(ErrorKind::environment, "bpf/probe.bpf.c", fmt::format("loading the probe program failed: {}", strerror(-err)),
                "bpfault needs root (or CAP_BPF and CAP_PERFMON) and a kernel with uprobes and BPF ring buffers");
  s.skel_->bss->target_tgid = 0;
  s.skel_->bss->drops = 0;
  int sites_fd = bpf_map__fd(s.skel_->maps.sites);
  for (uint32_t i = 0; i < config.sites.size(); ++i)
    if (bpf_map_update_elem(sites_fd, &i, &config.sites[i].config, BPF_ANY))
      return fail(ErrorKind::internal, "bpf/probe.bpf.c", fmt::format("writing site {} failed: {}", i, strerror(errno)));
  s.ring_ = ring_buffer__new(bpf_map__fd(s.skel_->maps.events), on_sample, s.events_.get(), nullptr);
  if (!s.ring_) return fail(ErrorKind::internal, "bpf/probe.bpf.c", fmt::format("ring buffer: {}", strerror(errno)));
  return s;
}

Result<void> ProbeSession::attach(pid_t tgid) {
  skel_->bss->target_tgid = static_cast<uint32_t>(tgid);
  const std::string path = config_.binary.string();
  bpf_program* prog = skel_->progs.uprobe_read;
  if (config_.uprobe_multi) {
    std::vector<unsigned long> offsets;
    std::vector<__u64> cookies;
    for (uint32_t i = 0; i < config_.sites.size(); ++i) {
      offsets.push_back(config_.sites[i].file_offset);
      cookies.push_back(i);
    }
    LIBBPF_OPTS(bpf_uprobe_multi_opts, opts, .offsets = offsets.data(), .cookies = cookies.data(), .cnt = offsets.size());
    bpf_link* link = bpf_program__attach_uprobe_multi(prog, tgid, path.c_str(), nullptr, &opts);
    if (!link)
      return fail(ErrorKind::environment, path, fmt::format("attaching {} uprobes failed: {}", offsets.size(), strerror(errno)),
                  "is the file a native executable on a local file system? (uprobes need an inode)");
    links_.push_back(link);
    return {};
  }
  for (uint32_t i = 0; i < config_.sites.size(); ++i) {
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = i);
    bpf_link* link = bpf_program__attach_uprobe_opts(prog, tgid, path.c_str(), config_.sites[i].file_offset, &opts);
    if (!link)
      return fail(ErrorKind::environment, path,
                  fmt::format("attaching the uprobe at file offset {:#x} failed: {}", config_.sites[i].file_offset, strerror(errno)));
    links_.push_back(link);
  }
  return {};
}

int ProbeSession::on_sample(void* ctx, void* data, size_t size) {
  if (size >= sizeof(probe_event)) static_cast<std::vector<probe_event>*>(ctx)->push_back(*static_cast<probe_event*>(data));
  return 0;
}

void ProbeSession::drain() { ring_buffer__consume(ring_); }
uint64_t ProbeSession::drops() const { return skel_->bss->drops; }
uint64_t ProbeSession::site_hits(uint32_t site) const { return read_array(bpf_map__fd(skel_->maps.site_hits), site); }
uint64_t ProbeSession::probe_calls(uint32_t probe) const { return read_array(bpf_map__fd(skel_->maps.probe_calls), probe); }

}  // namespace bpfault::kernel
