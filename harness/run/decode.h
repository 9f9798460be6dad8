// Turns what a probe captured (registers, stack bytes) into Go values by name, using the
// locations the binary analysis computed.
#pragma once

#include <nlohmann/json.hpp>

#include "binary/binary_info.h"
#include "probe.h"
#include "run/plan.h"

namespace bpfault::run {

struct Capture {  // the registers and stack window of one moment at a probe
  const __u64* regs;     // PROBE_INT_REGS
  const __u8* stack;     // PROBE_STACK_BYTES from SP
};

// An integer, bool or pointer as its JSON value (pointers as "0x..." strings); strings,
// slices and interfaces as objects of their words ({"ptr": "0x..", "len": 13}); structs by field.
nlohmann::json decode(const binary::Value& v, const Capture& c);
nlohmann::json decode(const binary::Piece& p, const Capture& c);

// What an injection did, for the record: the step, all arguments before and after, and each write.
nlohmann::json describe_injection(const PlannedProbe& pp, const probe_injection& inj, bool at_call);

}  // namespace bpfault::run
