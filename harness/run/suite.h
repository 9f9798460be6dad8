// A suite: scenario files, each loaded, executed and checked on its own, so one bad file is
// reported and the others still run. Scenarios whose plan needs a capability this kernel
// lacks go to one VM boot for all of them (--vm=auto), or are skipped naming it (--vm=never).
#pragma once

#include <filesystem>
#include <functional>
#include <vector>

#include "run/execute.h"
#include "run/record.h"

namespace bpfault::run {

enum class VmMode { auto_, always, never };

struct SuiteOptions {
  Options run;                     // run.go: one toolchain for every fixture (no expansion)
  std::vector<std::string> go_each;  // each scenario once per toolchain ("1.19", "1.27"), named [go1.27]
  std::string variants;            // "": each scenario's default build; "all": every build it declares;
                                   // "386,amd64-stripped": those of them it declares (named [386])
  int jobs = 1;              // native scenarios at once
  VmMode vm = VmMode::auto_;
  std::string kernel;        // --kernel: the VM's kernel ("" = default)
  bool verbose = false;
};

struct SuiteResult {
  std::vector<RunRecord> records;  // in file order
  int vm_exit = 0;                 // 124/125 when the VM itself broke (see vm::exit_code), else 0
};

// The record of a file that could not be loaded (status error, with the loader's error).
RunRecord load_error_record(const std::filesystem::path& file, const Error& e);

// on_done sees each record as it completes (serialized); on_note gets progress lines.
SuiteResult run_suite(const std::vector<std::filesystem::path>& files, const SuiteOptions& o,
                      const std::function<void(const RunRecord&)>& on_done,
                      const std::function<void(const std::string&)>& on_note);

}  // namespace bpfault::run
