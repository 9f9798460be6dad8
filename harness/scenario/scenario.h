// A scenario file, parsed and validated: the JSON is checked against the versioned schema
// (scenario-v1.schema.json, shipped inside bpfault) and then by the semantic rules below.
// Every error names the file and the JSON pointer, what was expected, what was found, and a hint.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diag/error.h"

namespace bpfault::scenario {

inline constexpr int kVersion = 1;

struct Target {
  std::string fixture;               // a folder under fixtures/ that bpfault builds, or
  std::filesystem::path binary;      // a Go executable (absolute, resolved against the scenario file)
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string stdin_data;
  std::chrono::milliseconds timeout{10000};
  std::string go;                    // toolchain for the fixture: "" (default), "1.24", "newest"
  std::string goarch = "amd64";      // "386": the stack ABI
  bool stripped = false;
};

struct Probe {
  std::string function;
  std::vector<std::string> record;   // argument and result names
  std::string pointer;               // "/probes/0": where it is in the file, for errors
};

struct TextExpect {                  // stdout or stderr
  std::vector<std::string> contains, not_contains, matches;
  std::optional<std::string> equals;
  std::string pointer;

  bool empty() const { return contains.empty() && not_contains.empty() && matches.empty() && !equals; }
};

struct EventExpect {
  std::string function;
  std::optional<uint64_t> count, min_count, max_count;
  std::map<std::string, nlohmann::json> args;     // every recorded call must carry these values
  std::map<std::string, nlohmann::json> results;  // every recorded return must carry these
  std::string pointer;
};

struct Expect {
  std::optional<int> exit_code;
  std::optional<int> signal;         // the tracee must die from this signal
  TextExpect stdout_text, stderr_text;
  std::vector<EventExpect> events;
};

struct Scenario {
  std::filesystem::path file;
  std::string name;
  std::string description;
  Target target;
  std::vector<Probe> probes;
  Expect expect;
};

// Reads, parses and validates one scenario file; errors carry kind bad_input.
Result<Scenario> load(const std::filesystem::path& file);
Result<Scenario> parse(const std::string& text, const std::filesystem::path& file);

// The scenario files named on a command line: files as given, folders as their *.json files
// (sorted; *.schema.json excluded).
Result<std::vector<std::filesystem::path>> expand(const std::vector<std::string>& args);

// "SIGKILL" -> 9; nullopt for an unknown name.
std::optional<int> signal_number(std::string_view name);
std::string signal_name(int sig);

// The schema, as shipped (the text of scenario-v1.schema.json).
const std::string& schema_text();

}  // namespace bpfault::scenario
