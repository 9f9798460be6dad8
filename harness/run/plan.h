// From a scenario and the binary's analysis to what the kernel will do: which sites get a
// probe, what each records. Everything that cannot work is refused here, before anything is
// loaded, with the reason and an alternative.
#pragma once

#include <memory>
#include <vector>

#include "binary/binary_info.h"
#include "kernel/caps.h"
#include "kernel/probe_session.h"
#include "scenario/scenario.h"

namespace bpfault::run {

struct PlannedProbe {
  const scenario::Probe* probe;
  const binary::Function* function;
  std::vector<const binary::Value*> record_args;     // read at the call site
  std::vector<const binary::Value*> record_results;  // read at every RET
};

struct Plan {
  std::shared_ptr<const binary::BinaryInfo> binary;
  std::vector<PlannedProbe> probes;      // in scenario order; index = probe_site.probe
  std::vector<kernel::Site> sites;       // index = attach cookie
  std::vector<kernel::Cap> needs;        // what the kernel must allow for this plan
};

// The first capability in `needs` the kernel lacks, if any.
std::optional<kernel::Cap> missing_capability(const Plan& plan, const kernel::Capabilities& caps);

Result<Plan> make_plan(const scenario::Scenario& s, std::shared_ptr<const binary::BinaryInfo> binary);

}  // namespace bpfault::run
