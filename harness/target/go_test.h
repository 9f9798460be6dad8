// A test target: the arguments its `go test -c` binary runs with, and the Go test results
// read back from its -test.v output.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "record/record.h"
#include "scenario/scenario.h"

namespace bpfault::target {

// -test.v (each test's start and result, the lines parsed below), -test.run when given,
// then the scenario's own args.
std::vector<std::string> test_args(const scenario::Target& t);

// "--- PASS: TestRead (0.00s)", nested "    --- FAIL: TestX/sub (0.01s)", "--- SKIP: ...":
// the same lines `go tool test2json` reads. A test that printed "=== RUN" and never a
// result (the binary was killed, or it hung) is "unfinished".
std::vector<record::GoTest> parse_test_output(std::string_view out);

}  // namespace bpfault::target
