// Judges a run against the scenario's expectations: one Verdict per expectation, each with
// what was expected and what happened, and the record's status (passed or failed).
#pragma once

#include "record/record.h"
#include "scenario/scenario.h"

namespace bpfault::check {

// Fills r.verdicts and sets r.status. Expectations a scenario does not state still hold:
// the tracee exits 0 unless an exit code or signal is expected, it does not time out, and
// no event is lost.
void evaluate(const scenario::Scenario& s, record::RunRecord& r);

// Sets r.diagnosis when the tracee crashed (a Go panic or fatal error, a signal), was killed or
// timed out: what happened, where, its stderr's last lines, and whether it crashed after an
// injection the scenario did not expect to crash it (diagnose.cpp).
void diagnose(const scenario::Scenario& s, record::RunRecord& r);

}  // namespace bpfault::check
