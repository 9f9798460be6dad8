// Turns what a probe captured (registers, stack bytes) into Go values by name, using the
// locations the binary analysis computed.
#pragma once

#include <nlohmann/json.hpp>

#include "binary/binary_info.h"
#include "probe.h"

namespace bpfault::run {

// An integer, bool or pointer as its JSON value (pointers as "0x..." strings); strings,
// slices and interfaces as objects of their words ({"ptr": "0x..", "len": 13}); structs by field.
nlohmann::json decode(const binary::Value& v, const probe_event& e, binary::Arch arch);

}  // namespace bpfault::run
