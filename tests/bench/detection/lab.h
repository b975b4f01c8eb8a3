// The detection benchmark's lab: a controller on its embedded PostgreSQL and one agent as real
// processes, a git repository of the sample target with a commit per injected level, and the
// example suite pointed at it. Runs are submitted with the perfgate CLI and read back over the
// controller's gRPC API. Not thread-safe; one per benchmark. Failures it cannot go on from end
// the benchmark with a message saying where to look.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "perfgate/v1/controller.grpc.pb.h"

namespace perfgate::bench {

// The metric whose power is measured: the latency every benchmark suite reports.
inline constexpr char kPrimary[] = "http.latency.p50";

// The median of `v` (0 when empty), as the controller's summaries compute it.
double Median(std::vector<double> v);
// Polls `cond` every 200 ms until it holds or `timeout` passes; whether it held.
bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout);

class Lab {
 public:
  Lab(std::string bin_dir, std::string dir);
  ~Lab();  // stops the agent and the controller

  // Starts the controller and the agent, makes the repository and the suite (the example suite
  // with `suite_extra`, top-level YAML such as an analysis section, appended).
  // confirm false: the controller schedules no confirmation runs (--no-confirm-inconclusive).
  // suite_file: another suite than the example (relative to source_dir), whose build repository
  // is written as the example's (/tmp/perfgate-demo/sut) and pointed at the lab's.
  bool Start(const std::string& source_dir, const std::string& suite_extra = "",
             bool confirm = true,
             const std::string& suite_file = "deploy/examples/sample-target-suite.yaml");
  // A commit whose flags file (the sample target's flags) holds `flags`.
  std::string Commit(const std::string& flags);
  // kind "baseline" (branch main) or "candidate" (on `branch`, compared with main).
  int64_t Submit(const std::string& commit, const std::string& kind, const std::string& branch);
  v1::Run GetRun(int64_t id);
  static bool Terminal(const v1::Run& r);
  void WaitSucceeded(int64_t id);
  // against 0: the stored latest comparison (the decision, once a confirmation decided).
  absl::StatusOr<v1::Comparison> Compare(int64_t cand, int64_t against);
  v1::Comparison MustCompare(int64_t cand, int64_t against);
  // The candidate's final verdict: its stored comparison once the analyser made it, and the
  // decision of its confirmation run when it got one; `confirmation` is that run's id (0: none).
  v1::Comparison FinalComparison(int64_t cand, int64_t* confirmation);
  // The median over a run's valid repetitions of kPrimary.
  double RunP50(int64_t id);
  v1::Controller::Stub& stub() { return *stub_; }
  const std::string& dir() const { return dir_; }

 private:
  class Child;
  std::string bin_, dir_, addr_, sut_, suite_;
  std::unique_ptr<Child> controller_, agent_;
  std::unique_ptr<v1::Controller::Stub> stub_;
};

}  // namespace perfgate::bench
