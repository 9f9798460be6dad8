#include "scenario/validate.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "scenario/scenario.h"

namespace bpfault::scenario {
namespace {

using json = nlohmann::json;

const json& schema_doc() {
  static const json doc = json::parse(schema_text());
  return doc;
}

const valijson::Schema& compiled_schema() {
  static const std::unique_ptr<valijson::Schema> schema = [] {
    auto s = std::make_unique<valijson::Schema>();
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(schema_doc());
    parser.populateSchema(adapter, *s);
    return s;
  }();
  return *schema;
}

const json& resolve(const json& node) {
  if (node.contains("$ref")) {
    std::string ref = node["$ref"];  // "#/definitions/x": the only form the schema uses
    return schema_doc().at(json::json_pointer(ref.substr(1)));
  }
  return node;
}

// The schema node that describes the data at `tokens` (properties, items, additionalProperties, anyOf).
const json* schema_at(const std::vector<std::string>& tokens) {
  const json* node = &resolve(schema_doc());
  for (const auto& t : tokens) {
    const json* next = nullptr;
    if (node->contains("anyOf"))
      for (const auto& alt : (*node)["anyOf"]) {
        const json& a = resolve(alt);
        if (a.contains("items") || a.contains("properties")) node = &a;
      }
    if (node->contains("properties") && (*node)["properties"].contains(t))
      next = &(*node)["properties"][t];
    else if (node->contains("items"))
      next = &(*node)["items"];
    else if (node->contains("additionalProperties") && (*node)["additionalProperties"].is_object())
      next = &(*node)["additionalProperties"];
    if (!next) return nullptr;
    node = &resolve(*next);
  }
  return node;
}

std::string type_phrase(const std::string& t) {
  if (t == "integer") return "an integer";
  if (t == "boolean") return "true or false";
  if (t == "string") return "a string";
  if (t == "array") return "an array";
  if (t == "object") return "an object";
  if (t == "number") return "a number";
  return t;
}

std::string expected_of(const json& node) {
  if (node.contains("const")) return node["const"].dump();
  if (node.contains("enum")) {
    std::vector<std::string> v;
    for (const auto& e : node["enum"]) v.push_back(e.dump());
    return "one of " + fmt::format("{}", fmt::join(v, ", "));
  }
  if (node.contains("anyOf")) {
    std::vector<std::string> v;
    for (const auto& alt : node["anyOf"]) {
      const json& a = resolve(alt);
      std::string s = expected_of(a);
      if (a.contains("items")) s = fmt::format("an array of {}", expected_of(resolve(a["items"])).substr(2) + "s");
      v.push_back(s);
    }
    return fmt::format("{}", fmt::join(v, " or "));
  }
  std::string out;
  if (node.contains("type")) {
    std::vector<std::string> v;
    if (node["type"].is_array())
      for (const auto& t : node["type"]) v.push_back(type_phrase(t));
    else
      v.push_back(type_phrase(node["type"]));
    out = fmt::format("{}", fmt::join(v, " or "));
  }
  if (node.contains("minimum") && node.contains("maximum"))
    out += fmt::format(" from {} to {}", node["minimum"].dump(), node["maximum"].dump());
  else if (node.contains("exclusiveMinimum") && node.contains("maximum"))
    out += fmt::format(" above {} and at most {}", node["exclusiveMinimum"].dump(), node["maximum"].dump());
  else if (node.contains("minimum"))
    out += node["minimum"] == 0 ? " ≥ 0" : fmt::format(" ≥ {}", node["minimum"].dump());
  else if (node.contains("exclusiveMinimum"))
    out += fmt::format(" above {}", node["exclusiveMinimum"].dump());
  if (node.contains("minLength")) out = "a non-empty string";
  if (node.contains("maxLength")) out = fmt::format("a string of at most {} characters", node["maxLength"].dump());
  if (node.contains("minProperties"))
    out += fmt::format(" with at least {} key{}", node["minProperties"].dump(), node["minProperties"] == 1 ? "" : "s");
  if (node.contains("pattern")) out += fmt::format(" matching /{}/", node["pattern"].get<std::string>());
  return out.empty() ? "something else" : out;
}

std::string found_of(const json* v) {
  if (!v) return "nothing";
  if (v->is_object() && v->empty()) return "an empty object";
  if (v->is_string() && v->get_ref<const std::string&>().size() > 32) {
    // characters, as the schema's maxLength counts them: UTF-8 bytes that do not continue one
    const auto& text = v->get_ref<const std::string&>();
    const auto chars =
        std::ranges::count_if(text, [](char b) { return (static_cast<unsigned char>(b) & 0xC0) != 0x80; });
    return fmt::format("a string of {} characters", chars);
  }
  std::string s = v->dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  const char* kind = v->is_string()    ? "the string"
                     : v->is_boolean() ? ""
                     : v->is_number()  ? ""
                     : v->is_array()   ? "an array"
                     : v->is_object()  ? "an object"
                                       : "";
  if (v->is_array() || v->is_object()) return kind;
  return *kind ? fmt::format("{} {}", kind, s) : s;
}

std::string pointer_of(const std::vector<std::string>& tokens) {
  json::json_pointer p;
  for (const auto& t : tokens) p /= t;
  return p.to_string();
}

std::string hint_for_key(const std::string& key, const json& allowed) {
  std::vector<std::string> names;
  for (auto it = allowed.begin(); it != allowed.end(); ++it)
    if (it.key() != "$schema") names.push_back(it.key());
  std::string best;
  size_t best_d = 3;  // suggest only close names
  for (const auto& n : names) {
    size_t d = edit_distance(key, n);
    if (d < best_d) best_d = d, best = n;
  }
  std::string list = fmt::format("{}", fmt::join(names, ", "));
  return best.empty() ? fmt::format("allowed here: {}", list)
                      : fmt::format("did you mean \"{}\"? (allowed here: {})", best, list);
}

}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::vector<Error> validate_schema(const json& doc, const std::string& file) {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(doc);
  if (validator.validate(compiled_schema(), target, &results)) return {};

  struct Finding {
    std::vector<std::string> tokens;
    std::string description;
  };
  std::vector<Finding> findings;
  valijson::ValidationResults::Error e;
  while (results.popError(e)) {
    Finding f{{}, e.description};
    for (const auto& c : e.context)
      if (c.size() >= 2 && c.front() == '[' && c.back() == ']') f.tokens.push_back(c.substr(1, c.size() - 2));
    findings.push_back(std::move(f));
  }
  auto is_summary = [](const std::string& d) {
    return d.rfind("Failed to validate against schema associated", 0) == 0 ||
           d.rfind("Failed to validate item", 0) == 0 || d.rfind("Failed to validate against child schema", 0) == 0 ||
           d.rfind("Failed to validate against additional properties", 0) == 0;
  };
  // An object or array with a finding inside it: the inner finding says what is wrong.
  auto has_deeper = [&](const std::vector<std::string>& tokens) {
    for (const auto& g : findings)
      if (g.tokens.size() > tokens.size() && std::equal(tokens.begin(), tokens.end(), g.tokens.begin()) &&
          !is_summary(g.description))
        return true;
    return false;
  };

  std::vector<Error> out;
  std::set<std::string> seen;
  auto emit = [&](const std::string& pointer, std::string what, std::string hint) {
    if (!seen.insert(pointer + "\n" + what).second) return;
    out.push_back(Error{
        ErrorKind::bad_input, file + ":" + (pointer.empty() ? "/" : pointer), std::move(what), std::move(hint), {}});
  };
  for (const auto& f : findings) {
    const std::string ptr = pointer_of(f.tokens);
    if (is_summary(f.description)) continue;
    const json* value = doc.contains(json::json_pointer(ptr)) ? &doc.at(json::json_pointer(ptr)) : nullptr;
    const json* node = schema_at(f.tokens);
    if (f.description.rfind("Missing required property '", 0) == 0) {
      std::string key = f.description.substr(27, f.description.find('\'', 27) - 27);
      std::string hint;
      if (node && node->contains("properties") && (*node)["properties"].contains(key)) {
        const json& p = resolve((*node)["properties"][key]);
        hint = p.contains("description") ? p["description"].get<std::string>() : "";
      }
      if (hint.empty() && node && node->contains("description")) hint = (*node)["description"];
      emit(ptr, fmt::format("missing required key \"{}\"", key), hint);
    } else if (f.description.find("could not be validated using 'properties'") != std::string::npos && value &&
               value->is_object() && node && node->contains("properties")) {
      for (auto it = value->begin(); it != value->end(); ++it)
        if (!(*node)["properties"].contains(it.key()))
          emit((json::json_pointer(ptr) / it.key()).to_string(), fmt::format("unknown key \"{}\"", it.key()),
               hint_for_key(it.key(), (*node)["properties"]));
    } else if (node) {
      if (value && (value->is_object() || value->is_array()) && has_deeper(f.tokens)) continue;
      emit(ptr, fmt::format("expected {}, got {}", expected_of(*node), found_of(value)),
           node->contains("description") ? (*node)["description"].get<std::string>() : "");
    } else {
      emit(ptr, f.description, "");
    }
  }
  if (out.empty()) emit("", "does not match the scenario schema", "see harness/scenario/scenario-v1.schema.json");
  return out;
}

}  // namespace bpfault::scenario
