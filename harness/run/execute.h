// Runs one scenario for real: resolve and build the program, analyse it, plan the probes,
// start the tracee held before exec, load and attach, release it, drain events until it
// exits, decode, check. Every failure becomes part of the record, never an exception.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "binary/binary_info.h"
#include "kernel/caps.h"
#include "plan/plan.h"
#include "record/record.h"
#include "run/stdlib_signatures.h"
#include "scenario/scenario.h"
#include "target/target.h"

namespace bpfault::run {

// What to run (target::Options: fixtures, --go, prebuilt builds), and how.
struct Options : target::Options {
  double timeout_scale = 1;     // the VM runs everything ~15x slower than the host (TCG)
  bool inherit_output = false;  // the tracee uses bpfault's stdio (trace): output not captured, stdin relayed
  // A scenario that attaches (target.pid): stay attached at least this long from the attach
  // (`--for`, its text in `attach_for_text`); 0: until the steps are done, or Ctrl-C without steps.
  std::chrono::milliseconds attach_for{0};
  std::string attach_for_text;
  std::string user;   // --user: run every tracee as this user (overrides target.user)
  uint64_t seed = 0;  // --seed: probability decisions reproducible from this seed, over the scenario's (0: its own)
  // Sees every hit once, in the order they happened: held until a drain begins
  // run::kTimeOrderWindowNs (20 ms) after it (bpfault trace prints them live; run/time_order.h).
  std::function<void(const record::ProbeRecord& probe, const record::Hit& hit)> on_hit;
};

struct Prepared;
struct Unprepared;
using Preparation = tl::expected<Prepared, Unprepared>;

// Everything about a scenario that needs no kernel: its program (built if need be), that
// program's analysis and the plan. Computed once per scenario: the suite decides native or VM
// from `plan.needs`, and execute() runs that same plan.
struct Prepared {
  target::ResolvedTarget target;
  std::shared_ptr<const binary::BinaryInfo> binary;
  plan::Plan plan;
  std::vector<std::string> no_inline;  // packages built with inlining off: a probed function was inlined everywhere
  double ms = 0;                       // what preparing cost (part of the scenario's duration)
  std::optional<StdlibDonor> stdlib_donor;  // a stripped binary's standard-library signatures came from it
  // A target that attaches (target.pid): the device and inode of the executable analysed, which
  // the process must still run when bpfault attaches (not a new process given the same pid).
  std::pair<uint64_t, uint64_t> running_file{0, 0};
  // Per lifecycle step: a program step's own preparation (null for the other steps). Their
  // capabilities are in plan.needs too: the scenario runs where all of its programs can.
  std::vector<std::shared_ptr<const Preparation>> programs;
};

// What stopped a preparation, with what it had found by then (the record names the program).
struct Unprepared {
  Error error;
  std::string binary, go_version;
  double ms = 0;
};

// A probed function inlined everywhere has no code of its own to probe, and a count at inlined
// copies must be exact at every copy: a target bpfault builds is built again with inlining off
// in those functions' packages only (sorted), and that build is the one probed. Empty for a
// prebuilt binary (its refusal names the flag).
std::vector<std::string> packages_to_build_without_inlining(const scenario::Scenario& s,
                                                            const binary::BinaryInfo& info);
Preparation prepare(const scenario::Scenario& s, const Options& o);

// The first capability the plan needs that the kernel lacks, if any.
std::optional<plan::Cap> missing_capability(const plan::Plan& plan, const kernel::Capabilities& caps);

// The record of one scenario run, checked (status passed/failed), or with the error that
// stopped it (status error for bad input, skipped for a missing capability).
record::RunRecord execute(const scenario::Scenario& s, const Preparation& prepared, const Options& o);
// The same, prepared here (one scenario on its own: trace, or the VM guest's).
record::RunRecord execute(const scenario::Scenario& s, const Options& o);

}  // namespace bpfault::run
