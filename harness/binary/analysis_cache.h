// Analyses kept on disk, so that a suite of bpfault processes over one fixture analyses it
// once (the analysis is most of a scenario's own cost: DWARF and a decode of every function).
// A file is named by the analysed file's identity (build id and content hash), the detail, and
// the identity of the bpfault that wrote it: another build of bpfault never reads it. The
// payload carries its own hash; anything unexpected in it is a miss, never an error.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "binary/binary_info.h"

namespace bpfault::binary {

// The parts of a BinaryInfo that are not the mapped file: everything but `path` and `image`,
// plus what rebuilding the image needs.
struct CachedAnalysis {
  std::shared_ptr<BinaryInfo> info;
  std::optional<uint64_t> runtime_text;  // for Pclntab::parse
};

// The file in `dir` that holds (or would hold) the analysis of `key` at `detail` with `focus`
// (BinaryInfo::focus, sorted: a focused analysis is kept under its own name).
std::filesystem::path analysis_file(const std::filesystem::path& dir, const std::string& key, Detail detail,
                                    const std::vector<std::string>& focus = {});
std::optional<CachedAnalysis> load_analysis(const std::filesystem::path& dir, const std::string& key, Detail detail,
                                            const std::vector<std::string>& focus = {});
void store_analysis(const std::filesystem::path& dir, const std::string& key, const BinaryInfo& info,
                    std::optional<uint64_t> runtime_text);

}  // namespace bpfault::binary
