// Schema validation with messages a person can act on: valijson finds what breaks the schema,
// this file turns each finding into "pointer: expected X, got Y" with a hint (did you mean ...).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/error.h"

namespace bpfault::scenario {

std::vector<Error> validate_schema(const nlohmann::json& doc, const std::string& file);

// Levenshtein distance, for "did you mean".
size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace bpfault::scenario
