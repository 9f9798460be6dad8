// A JSON document checked against a JSON Schema with valijson (as bpfault checks scenarios):
// the errors, each with where in the document; none when it is valid.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace bpfault::test {

inline std::vector<std::string> schema_errors(const nlohmann::json& schema, const nlohmann::json& doc) {
  valijson::Schema compiled;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema);
  parser.populateSchema(schema_adapter, compiled);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter doc_adapter(doc);
  std::vector<std::string> out;
  if (validator.validate(compiled, doc_adapter, &results)) return out;
  valijson::ValidationResults::Error e;
  while (results.popError(e)) {
    std::string where;
    for (const auto& c : e.context) where += c;
    out.push_back(where + ": " + e.description);
  }
  return out;
}

}  // namespace bpfault::test
