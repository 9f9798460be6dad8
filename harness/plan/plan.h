// From a scenario and the binary's analysis to what the kernel will do: which sites get a
// probe, which program serves each, what each records, and for injecting probes the rule
// (conditions and steps, with every write spelled out). Everything that cannot work is
// refused here, before anything is loaded, with the reason and an alternative.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "binary/binary_info.h"
#include "plan/probe_config.h"
#include "scenario/scenario.h"

namespace bpfault::plan {

// One write of a step, as the record will name it.
struct PlannedWrite {
  std::string target;                    // "a1", "s.len", "p.X", "err", "return"
  const binary::Value* value = nullptr;  // the argument or result written (null for "return")
  probe_write write{};
  const binary::Piece* piece = nullptr;  // a store's piece (its location as analysed) ...
  int32_t sp_shift = 0;                  // ... moved this much for the site it is written at
  std::string variable;                  // the package-level variable whose address or word it writes ("io.EOF")
  // What the whole value reads back as when every word of it was written as asked: "io.EOF",
  // {"errno": "ENOSPC"} (null: the plain decoded value)
  nlohmann::json identity;
};

struct PlannedStep {
  const scenario::Step* step;
  std::vector<PlannedWrite> call;  // at the call site
  std::vector<PlannedWrite> ret;   // at the RETs of the same call
};

// The memory copies a recorded `error` takes: the object its data word points to, and the
// bytes of the strings at its first two string fields (an errors.errorString's text; a
// PathError's Op and Path), from which run/decode tells Go's common errors' messages.
constexpr int kErrorCaptures = 3;

struct PlannedProbe {
  const scenario::Probe* probe;
  const binary::Function* function;
  std::vector<const binary::Value*> record_args;       // read at the call site
  std::vector<const binary::Value*> record_results;    // read at every RET
  std::map<const binary::Value*, std::string> labels;  // the name the scenario used ("r0" for "~r0")
  std::vector<PlannedStep> steps;                      // empty: the probe only observes
  // record_args whose memory the call site copies, by capture index: a string or slice once, an
  // `error` kErrorCaptures times in a row (its object, its first string field, its second)
  std::vector<const binary::Value*> captured;
  std::vector<const binary::Value*> captured_results;  // the same for record_results at the RETs
  // At each inlined copy's mark (by index into Function::inlined_copies, when the probe records
  // there): the recorded arguments as that copy's DWARF places them, and its captures.
  std::vector<std::vector<const binary::Value*>> copy_args;
  std::vector<std::vector<const binary::Value*>> copy_captured;
  probe_rule rule{};  // what the kernel evaluates (steps compiled)
};

// New text for strings (README, "New text for a string"): bpfault gives the texts to the tracee in
// the last variable of its environment, BPFAULT_STRINGS, and points the string there. The kernel
// copies the environment onto the new process's stack at exec, above anything the main thread's
// stack ever holds: memory that no Go code writes and that lives as long as the process. The
// probe finds each text a fixed distance back from the environment's end (mm->env_end), past the
// marker the value ends with.
struct TraceeStrings {
  static constexpr std::string_view variable = "BPFAULT_STRINGS";
  static constexpr std::string_view marker = ":bpfault";  // PROBE_ENV_MARKER's bytes
  static constexpr size_t max_text = 4096, max_total = 65536;
  std::string value;  // the texts, the last added first, then the marker; empty: none
  // Where `text` is (added when new): its distance back from the end of the environment.
  uint64_t add(const std::string& text);
};

struct Plan {
  std::shared_ptr<const binary::BinaryInfo> binary;
  std::vector<PlannedProbe> probes;  // in scenario order; index = probe_site.probe
  std::vector<Site> sites;           // index = attach cookie
  std::vector<Cap> needs;            // what the kernel must allow for this plan
  TraceeStrings strings;             // the environment variable the tracee must end with
};

// Whether a probe on `f` attaches at its inlined copies' marks too (README, "Inlined functions"):
// the compiler inlined it somewhere, and the probe counts calls, takes stacks or records
// arguments (what a copy's mark can give; it has no RET of its own to time or to change results
// at, and no call of its own to change). A probe that records attaches there when every copy's
// DWARF places every name it records at the copy's mark, or when `f` has no code of its own
// (then the plan refuses it, naming the copy and why).
bool at_inlined_copies(const scenario::Probe& p, const binary::Function& f);

// Why `name` cannot be recorded at copy `c` of `f`: "" when its DWARF places it at the mark.
std::string copy_cannot_record(const binary::Function& f, const binary::InlinedCopy& c, const std::string& name);
// Every copy of `f` counts its calls exactly and gives every name `p` records.
bool every_copy_gives(const scenario::Probe& p, const binary::Function& f);

Result<Plan> make_plan(const scenario::Scenario& s, std::shared_ptr<const binary::BinaryInfo> binary);

// The functions a scenario names (its probes', their callers', its expected events'): what its
// binary's analysis must cover (binary::analyse's focus), and main.main; make_plan asks nothing
// of the others.
std::vector<std::string> functions_named(const scenario::Scenario& s);

// Compiles a probe's steps and conditions into pp.rule and pp.steps (inject_plan.cpp).
// Adds the capabilities the writes need to `needs`, new string texts to `strings`.
Result<void> plan_injection(const scenario::Scenario& s, const binary::BinaryInfo& bin, PlannedProbe& pp,
                            std::vector<Cap>& needs, TraceeStrings& strings);

// The program a list of writes needs: registers (and ip) need write_regs, memory write_user.
Program program_for(const std::vector<PlannedWrite>& writes);

}  // namespace bpfault::plan
