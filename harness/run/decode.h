// Turns what a probe captured (registers, stack bytes) into Go values by name, using the
// locations the binary analysis computed.
#pragma once

#include <nlohmann/json.hpp>

#include <span>
#include <vector>

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

// The copies a site made for `v`, in capture order (plan::PlannedProbe::captured): a string's or
// slice's contents; an error's object and its first two string fields (plan::kErrorCaptures).
std::vector<Memory> memory_of(const std::vector<const binary::Value*>& captured, const binary::Value& v,
                              const __u32 sizes[PROBE_MAX_CAPTURES],
                              const __u8 data[PROBE_MAX_CAPTURES][PROBE_CAPTURE_BYTES]);

// An integer, bool or pointer as its JSON value (pointers as "0x..." strings); a string as its
// text when its bytes were copied whole ({"text": first bytes, "len": n} when cut), else its
// words; a slice as {"len", "cap", "first": [elements]}; interfaces by word, with what `bin`
// says of the type word ("dynamic_type", and "errno" for a syscall.Errno) and, from an error's
// copies, its "message" as Go's Error() makes it for *errors.errorString, *fmt.wrapError(s),
// syscall.Errno, and *fs.PathError and *os.SyscallError wrapping an errno ("message_start" when
// a part was longer than its copy); structs by field.
nlohmann::json decode(const binary::Value& v, const Capture& c, std::span<const Memory> memory = {},
                      const binary::BinaryInfo* bin = nullptr);
nlohmann::json decode(const binary::Piece& p, const Capture& c);

// What an injection did, for the record: the step, all arguments before and after, and each write.
// Without `values`, only the step, its writes and whether it was done (what the counts need):
// no argument or result is decoded.
record::Injection describe_injection(const plan::PlannedProbe& pp, const probe_injection& inj, bool at_call,
                                     bool values = true, const binary::BinaryInfo* bin = nullptr);

}  // namespace bpfault::run
