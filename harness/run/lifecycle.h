// A service's lifecycle (README, "Testing a service"): once the target runs, wait until it is
// ready (target.ready), run the scenario's steps in order (a command, an HTTP request, or a Go
// program under probes of its own: execute() again) with each probe's fault armed only in the
// steps its "during" names, then stop it (target.stop: a signal, SIGKILL after the grace
// period; a process bpfault attached to is never stopped). It runs in a thread of its own
// while execute() drains the probes and collects the target's output; the results go into the
// record (service, steps, each hit's step), and check/ judges them.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kernel/probe_session.h"
#include "process/child.h"
#include "record/record.h"
#include "run/execute.h"
#include "scenario/scenario.h"

namespace bpfault::run {

class Lifecycle {
 public:
  // `session` may be null (nothing probed); o.timeout_scale stretches every wait (the VM); a
  // program step runs its program with `o` as prepared in `prepared.programs`.
  Lifecycle(const scenario::Scenario& s, const kernel::ProbeSession* session, const Options& o,
            const Prepared& prepared);
  Lifecycle(const Lifecycle&) = delete;
  Lifecycle& operator=(const Lifecycle&) = delete;
  ~Lifecycle();  // joins

  // The target's output as it arrives (process::Command::on_output, wait()'s thread).
  void on_output(int stream, std::string_view chunk);
  // Starts driving process `pid`: `child`, just released (it must outlive finish()), or a
  // process bpfault attached to (`child` null: nothing stops it; an interrupt ends the steps).
  void start(pid_t pid, const process::Child* child);
  // True once the steps are over (ready failed, all ran, or the rest were not run).
  bool done() const { return done_.load(); }
  void join();
  // After the target exited: joins, and puts the service's run and the steps into the record,
  // each hit into the step it happened in.
  void finish(record::RunRecord& r);

 private:
  void drive(pid_t pid, const process::Child* child);
  bool wait_ready(int exit_fd);
  record::StepResult run_step(const scenario::LifecycleStep& step);
  void arm(const std::string& step, bool on, std::vector<std::string>* armed);
  void stop(const process::Child* child, int exit_fd);
  std::string stderr_tail();

  const scenario::Scenario& s_;
  const kernel::ProbeSession* session_;
  const Options& o_;
  const Prepared& prepared_;
  double scale_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::mutex output_mutex_;
  std::string stdout_, stderr_;  // what the target wrote so far (for readiness and the not-ready message)
  uint64_t start_ns_ = 0;
  // the thread's results, read by finish() after the join
  record::ServiceRun service_;
  std::vector<record::StepResult> steps_;
};

}  // namespace bpfault::run
