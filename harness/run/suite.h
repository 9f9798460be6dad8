// A suite: scenario files run one after another (or N at a time), each loaded, executed and
// checked on its own, so one bad file is reported and the others still run.
#pragma once

#include <filesystem>
#include <functional>
#include <vector>

#include "run/execute.h"
#include "run/record.h"

namespace bpfault::run {

// The record of a file that could not be loaded (status error, with the loader's error).
RunRecord load_error_record(const std::filesystem::path& file, const Error& e);

// Runs `files` with up to `jobs` at once; on_done sees each record as it completes (serialized).
std::vector<RunRecord> run_suite(const std::vector<std::filesystem::path>& files, const Options& o, int jobs,
                                 const std::function<void(const RunRecord&)>& on_done);

}  // namespace bpfault::run
