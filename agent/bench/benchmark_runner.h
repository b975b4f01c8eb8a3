// Runs a BenchmarkJob for one attempt:
//   build at the commit (cached) -> stack up (ready) -> fixtures -> warm-up ->
//   observers up (a private Prometheus) ->
//   N x [observers + resource sampling + load generator window -> result spooled and uploaded]
//   -> observers down -> stack down
// then checks the suite's limits on the medians of the valid repetitions. Every step's output
// goes to the attempt's log. A failing build, stack, fixture or generator fails the attempt as
// a test failure (not retried); the stack is torn down in every case, also on cancel and
// timeout. Run() blocks; Cancel() may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "agent/exec/command_runner.h"
#include "agent/observe/observer.h"
#include "agent/spool/attempt_journal.h"
#include "common/time/clock.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

class BenchmarkRunner {
 public:
  // `cache_dir` holds repository mirrors and builds; `workdir` is the attempt's scratch
  // directory; `result_added` is called after each repetition's result is spooled.
  BenchmarkRunner(AttemptJournal& journal, std::string cache_dir, std::string workdir,
                  std::function<void()> result_added, ObserveConfig observe = {},
                  const common::Clock& clock = common::RealClock::Get())
      : clock_(clock),
        journal_(journal),
        cache_dir_(std::move(cache_dir)),
        workdir_(std::move(workdir)),
        result_added_(std::move(result_added)),
        observe_(std::move(observe)) {}

  RunOutcome Run(const v1::BenchmarkJob& job);
  // The prefix of the test hosts this runner's stacks make (BenchContext::hosts_prefix).
  void set_hosts_prefix(std::string prefix) { hosts_prefix_ = std::move(prefix); }
  // Job code runs in `sandbox` (agent/exec/job_sandbox.h; not owned; null: none).
  void set_sandbox(const JobSandbox* sandbox) { sandbox_ = sandbox; }
  // The agent's ssh host pool (BenchContext::host_pool); not owned.
  void set_host_pool(HostPool* pool) { host_pool_ = pool; }
  void Cancel(const std::string& reason);

 private:
  RunOutcome RunInner(const v1::BenchmarkJob& job, class StepRunner& steps,
                      std::vector<v1::RepetitionResult>* results);
  // The measured part: `repetitions` windows of the workload's generator, each sampled and
  // observed; or `repetitions` runs of a harness, each giving the repetitions it reports.
  absl::Status RunWindows(const v1::WorkloadSpec& w, struct BenchContext& ctx, class Stack* stack,
                          Observer& observer, std::vector<v1::RepetitionResult>* results);
  absl::Status RunHarnessRuns(const v1::WorkloadSpec& w, struct BenchContext& ctx,
                              std::vector<v1::RepetitionResult>* results);
  // Spools a finished repetition and tells the uploader.
  absl::Status Keep(const v1::RepetitionResult& r, std::vector<v1::RepetitionResult>* results);

  const common::Clock& clock_;
  AttemptJournal& journal_;
  const std::string cache_dir_, workdir_;
  std::function<void()> result_added_;
  const ObserveConfig observe_;
  std::string hosts_prefix_ = "pgh";
  const JobSandbox* sandbox_ = nullptr;
  HostPool* host_pool_ = nullptr;
  std::atomic<bool> cancel_{false};
  absl::Mutex mu_;
  std::string cancel_reason_ ABSL_GUARDED_BY(mu_);
};

// The limits a set of results breaks, one line each ("http.latency.p99: median 63.2 ms > max
// 50"); a limit on a metric no valid repetition reported is broken too.
std::vector<std::string> CheckLimits(
    const google::protobuf::RepeatedPtrField<v1::MetricLimit>& limits,
    const std::vector<v1::RepetitionResult>& results);

}  // namespace perfgate::agent
