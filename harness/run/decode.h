// Turns what a probe captured (registers, stack bytes) into Go values by name, using the
// locations the binary analysis computed.
#pragma once

#include <nlohmann/json.hpp>

#include "binary/binary_info.h"
#include "plan/plan.h"
#include "probe.h"
#include "record/record.h"

namespace bpfault::run {

struct Capture {      // the registers and stack window of one moment at a probe
  const __u64* regs;  // PROBE_INT_REGS
  const __u8* stack;  // PROBE_STACK_BYTES from SP
};

struct Memory {  // what a recording site copied from behind a value's pointer
  const __u8* data;
  uint32_t size;
};

// An integer, bool or pointer as its JSON value (pointers as "0x..." strings); a string as its
// text when its bytes were copied whole ({"text": first bytes, "len": n} when cut), else its
// words; a slice as {"len", "cap", "first": [elements]}; interfaces by word, with what `bin`
// says of the type word ("dynamic_type", and "errno" for a syscall.Errno); structs by field.
nlohmann::json decode(const binary::Value& v, const Capture& c, const Memory* memory = nullptr,
                      const binary::BinaryInfo* bin = nullptr);
nlohmann::json decode(const binary::Piece& p, const Capture& c);

// What an injection did, for the record: the step, all arguments before and after, and each write.
// Without `values`, only the step, its writes and whether it was done (what the counts need):
// no argument or result is decoded.
record::Injection describe_injection(const plan::PlannedProbe& pp, const probe_injection& inj, bool at_call,
                                     bool values = true, const binary::BinaryInfo* bin = nullptr);

}  // namespace bpfault::run
