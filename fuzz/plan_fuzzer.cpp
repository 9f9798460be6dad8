// libFuzzer target: a scenario planned against a real Go binary (the demo or sigs fixture, by
// the scenario's "fixture"): every value a scenario can write is checked against the Go type it
// lands in (inject_plan.cpp), every condition compiled. Planning must refuse or succeed, never
// crash; what it plans must fit the BPF side's fixed-size tables.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "binary/binary_info.h"
#include "plan/plan.h"
#include "process/fixture.h"
#include "process/go_toolchain.h"
#include "scenario/scenario.h"

namespace {

using namespace bpfault;
std::map<std::string, std::shared_ptr<const binary::BinaryInfo>> binaries;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto go = process::find_toolchain("");
  if (!go) __builtin_trap();
  for (const char* name : {"demo", "sigs"}) {
    auto built = process::build_fixture(std::filesystem::path(BPFAULT_SOURCE_DIR) / "fixtures" / name, *go, {},
                                        std::filesystem::path(BPFAULT_BINARY_DIR) / "fixtures-build");
    if (!built) __builtin_trap();
    auto info = binary::analyse(built->binary);
    if (!info) __builtin_trap();
    binaries[name] = *info;
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = scenario::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
  if (!s) return 0;
  auto it = binaries.find(s->target.fixture);
  auto plan = plan::make_plan(*s, it != binaries.end() ? it->second : binaries.at("sigs"));
  if (!plan) {
    (void)plan.error().format();
    return 0;
  }
  if (plan->sites.size() > PROBE_MAX_SITES) return 0;  // refused later, when loading
  for (const auto& pp : plan->probes) {
    if (pp.rule.npreds > PROBE_MAX_PREDS || pp.rule.nsteps > PROBE_MAX_STEPS) __builtin_trap();
    for (int i = 0; i < pp.rule.npreds; ++i)
      if (pp.rule.preds[i].nbytes > PROBE_BYTES) __builtin_trap();
    for (int t = 0; t < pp.rule.nsteps; ++t) {
      const probe_step& st = pp.rule.steps[t];
      if (st.ncall > PROBE_MAX_WRITES || st.nret > PROBE_MAX_WRITES) __builtin_trap();
      for (int i = 0; i < st.ncall + st.nret; ++i) {
        const probe_write& w = i < st.ncall ? st.call[i] : st.ret[i - st.ncall];
        if (w.src == SRC_BYTES && w.len > PROBE_BYTES) __builtin_trap();
      }
    }
  }
  return 0;
}
