// The ring buffer of ProbeSession::make_ring_ahead (label bpf): the process's first load takes
// the ring made ahead instead of making its own, a later load makes its own, and no child of
// the process maps either (a fork would copy their 8 k page table entries). That records arrive
// through the ring made ahead is every scenario test's (each is its process's first scenario);
// its effect on a first scenario's time is measured by bench/run, not here.
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "kernel/caps.h"
#include "kernel/probe_session.h"
#include "probe.h"
#include "support/fixtures.h"

namespace bpfault::kernel {
namespace {

constexpr int kRingbufMapType = 27;  // BPF_MAP_TYPE_RINGBUF

// The probes' ring buffer maps this process holds a file descriptor of, by map id (an object
// holds its own descriptor of a map made ahead; the capability probes' small rings, released
// on threads of their own, are not counted).
std::set<int> ring_buffer_maps() {
  std::set<int> ids;
  DIR* d = opendir("/proc/self/fdinfo");
  if (!d) return ids;
  while (const dirent* e = readdir(d)) {
    std::ifstream info(std::string("/proc/self/fdinfo/") + e->d_name);
    long type = -1, id = -1, bytes = -1;
    for (std::string line; std::getline(info, line);) {
      if (line.starts_with("map_type:")) type = std::stol(line.substr(9));
      if (line.starts_with("map_id:")) id = std::stol(line.substr(7));
      if (line.starts_with("max_entries:")) bytes = std::stol(line.substr(12));
    }
    if (type == kRingbufMapType && bytes == PROBE_RING_BYTES) ids.insert(static_cast<int>(id));
  }
  closedir(d);
  return ids;
}

// How many ring buffers the calling process has mapped (a ring's data pages are mapped twice).
int mapped_rings() {
  const unsigned long bytes = 2UL * PROBE_RING_BYTES + static_cast<unsigned long>(getpagesize());
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) {
    unsigned long lo = 0, hi = 0;
    if (line.ends_with("anon_inode:bpf-map") && std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && hi - lo == bytes)
      ++n;
  }
  return n;
}

// How many ring buffers a child forked now finds mapped.
int mapped_rings_in_a_child() {
  const pid_t pid = fork();
  if (pid == 0) _exit(mapped_rings());
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

SessionConfig observing() {
  SessionConfig c;
  c.binary = "/proc/self/exe";  // load() attaches nothing: any path
  c.sites.push_back(Site{probe_site{}, 0, Program::observe, -1});
  c.uprobe_multi = capabilities().has(Cap::uprobe_multi);
  return c;
}

TEST(RingAhead, TheFirstLoadTakesTheRingMadeAheadAndNoChildMapsARing) {
  if (!test::can_load_bpf()) GTEST_SKIP() << "loading BPF programs needs root (CAP_BPF and CAP_PERFMON)";
  ASSERT_TRUE(ring_buffer_maps().empty());
  ProbeSession::make_ring_ahead();
  ProbeSession::make_ring_ahead();  // once per process
  // made on a thread of its own, before any load asks (a bound for liveness, not a timing)
  std::set<int> ahead;
  for (int i = 0; i < 3000 && ahead.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ahead = ring_buffer_maps();
  }
  ASSERT_EQ(ahead.size(), 1u) << "make_ring_ahead() made no ring within 30 s";
  auto first = ProbeSession::load(observing());
  ASSERT_TRUE(first) << first.error().what;
  EXPECT_EQ(ring_buffer_maps(), ahead) << "the first load made a ring of its own instead of taking the one made ahead";
  EXPECT_EQ(mapped_rings(), 1);
  EXPECT_EQ(mapped_rings_in_a_child(), 0) << "a child maps the ring made ahead";
  // the first object is still held: the next load makes its own ring, kept from children too
  auto second = ProbeSession::load(observing());
  ASSERT_TRUE(second) << second.error().what;
  EXPECT_FALSE(second->reused());
  EXPECT_EQ(ring_buffer_maps().size(), 2u);
  EXPECT_EQ(mapped_rings(), 2);
  EXPECT_EQ(mapped_rings_in_a_child(), 0) << "a child maps the ring a load made";
}

}  // namespace
}  // namespace bpfault::kernel
