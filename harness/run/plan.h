// From a scenario and the binary's analysis to what the kernel will do: which sites get a
// probe, which program serves each, what each records, and for injecting probes the rule
// (conditions and steps, with every write spelled out). Everything that cannot work is
// refused here, before anything is loaded, with the reason and an alternative.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "binary/binary_info.h"
#include "kernel/caps.h"
#include "kernel/probe_session.h"
#include "scenario/scenario.h"

namespace bpfault::run {

// One write of a step, as the record will name it.
struct PlannedWrite {
  std::string target;                   // "a1", "s.len", "p.X", "err", "return"
  const binary::Value* value = nullptr; // the argument or result written (null for "return")
  probe_write write{};
  const binary::Piece* piece = nullptr; // a store's piece (its location as analysed) ...
  int32_t sp_shift = 0;                 // ... moved this much for the site it is written at
};

struct PlannedStep {
  const scenario::Step* step;
  std::vector<PlannedWrite> call;  // at the call site
  std::vector<PlannedWrite> ret;   // at the RETs of the same call
};

struct PlannedProbe {
  const scenario::Probe* probe;
  const binary::Function* function;
  std::vector<const binary::Value*> record_args;     // read at the call site
  std::vector<const binary::Value*> record_results;  // read at every RET
  std::map<const binary::Value*, std::string> labels; // the name the scenario used ("r0" for "~r0")
  std::vector<PlannedStep> steps;                    // empty: the probe only observes
  std::vector<const binary::Value*> captured;        // record_args whose memory the call site copies, by capture index
  std::vector<const binary::Value*> captured_results;  // the same for record_results at the RETs
  probe_rule rule{};                                 // what the kernel evaluates (steps compiled)
};

struct Plan {
  std::shared_ptr<const binary::BinaryInfo> binary;
  std::vector<PlannedProbe> probes;      // in scenario order; index = probe_site.probe
  std::vector<kernel::Site> sites;       // index = attach cookie
  std::vector<kernel::Cap> needs;        // what the kernel must allow for this plan
};

Result<Plan> make_plan(const scenario::Scenario& s, std::shared_ptr<const binary::BinaryInfo> binary);

// The first capability in `needs` the kernel lacks, if any.
std::optional<kernel::Cap> missing_capability(const Plan& plan, const kernel::Capabilities& caps);

// Compiles a probe's steps and conditions into pp.rule and pp.steps (inject_plan.cpp).
// Adds the capabilities the writes need to `needs`.
Result<void> plan_injection(const scenario::Scenario& s, const binary::BinaryInfo& bin, PlannedProbe& pp,
                            std::vector<kernel::Cap>& needs);

// The program a list of writes needs: registers (and ip) need write_regs, memory write_user.
kernel::Program program_for(const std::vector<PlannedWrite>& writes);

}  // namespace bpfault::run
