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

struct Memory {  // what a recording site copied from behind a value's pointer
  const __u8* data;
  uint32_t size;
};

// An integer, bool or pointer as its JSON value (pointers as "0x..." strings); a string as its
// text when its bytes were copied whole ({"text": first bytes, "len": n} when cut), else its
// words; a slice as {"len", "cap", "first": [elements]}; interfaces by word; structs by field.
nlohmann::json decode(const binary::Value& v, const Capture& c, const Memory* memory = nullptr);
nlohmann::json decode(const binary::Piece& p, const Capture& c);

// What an injection did, for the record: the step, all arguments before and after, and each write.
nlohmann::json describe_injection(const PlannedProbe& pp, const probe_injection& inj, bool at_call);

}  // namespace bpfault::run
