// The bisector (docs/bisect.md): starts bisections (asked through the API, or for each new change
// point of a project that bisects automatically) and moves each one on as its runs finish: the
// commit listing an agent made, then one interleaved step after another (bisect_plan.h), each
// decided from the step run's comparison once the analyser has stored it. Works off the
// database, woken by run state changes and a slow poll; a bisection is moved under its row's
// lock, so replicas share the work.
#pragma once

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "controller/analysis/analysis_store.h"
#include "controller/bisect/bisect_store.h"
#include "controller/events/event_bus.h"
#include "controller/queue/job_store.h"

namespace perfgate::controller {

struct BisectorOptions {
  int min_repetitions = 6;  // a side, per step (the verdict's minimum)
  absl::Duration poll = absl::Seconds(5);
  bool auto_start = true;  // bisect change points of projects with bisect: auto
};

class Bisector {
 public:
  Bisector(BisectStore& store, JobStore& jobs, AnalysisStore& analysis, EventBus& run_states,
           BisectorOptions opts)
      : store_(store), jobs_(jobs), analysis_(analysis), run_states_(run_states), opts_(opts) {}
  ~Bisector() { Stop(); }
  void Start();
  void Stop();

  // Validates the request and stores the bisection with its commit listing. INVALID_ARGUMENT
  // naming the field; NOT_FOUND for an unknown change point or run; FAILED_PRECONDITION when
  // the job cannot be bisected (no build section, no agent known).
  absl::StatusOr<v1::Bisection> StartBisection(const v1::StartBisectionRequest& req,
                                               const std::string& actor);
  // A person's decision on a commit of a waiting (or running) bisection, which then goes on.
  absl::StatusOr<v1::Bisection> Mark(const v1::MarkBisectionRequest& req);

  // Moves every active bisection on (and starts automatic ones); returns how many changed.
  int RunOnce();

 private:
  absl::StatusOr<std::optional<v1::RunSpec>> Advance(v1::Bisection* b);
  // The step run's end read into the last step (outcome, measurements, agent time); false
  // while the run is not finished or not analysed yet.
  absl::StatusOr<bool> ReadStep(v1::Bisection* b);
  // The run that measures the bisection's last step.
  static v1::RunSpec StepSpec(const v1::Bisection& b, const v1::BisectionStep& step);
  // `last` measured again as a new step with `repetitions` a side; returns its run.
  static v1::RunSpec RepeatStep(v1::Bisection* b, const v1::BisectionStep& last, int repetitions);
  // A side's repetitions a step may grow to: the bisection's, else the suite's
  // analysis.max_repetitions, else the confirmation budget's default.
  static int MaxRepetitions(const v1::Bisection& b);
  void StartAutomatic();
  void Report(const v1::Bisection& b);

  BisectStore& store_;
  JobStore& jobs_;
  AnalysisStore& analysis_;
  EventBus& run_states_;
  const BisectorOptions opts_;
  std::set<int64_t> refused_;  // change points an automatic start failed for (said once)
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace perfgate::controller
