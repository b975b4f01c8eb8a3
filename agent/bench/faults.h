// A workload's fault schedule (proto FaultSchedule, docs/faults.md), run beside the load in
// each measured window:
//  - FaultRunner fires each action at its offset from the window's start, on a thread of its
//    own, against the stack's test hosts (HostControl), and undoes it after its duration; what
//    is still in force at the window's end is undone then (a killed instance restarted and
//    waited for), so every repetition starts whole. Each action and undo is recorded with its
//    scheduled and applied time and the host it landed on (a "leader" resolved by the
//    schedule's probe when the action fires). An action that cannot be applied stops the
//    schedule and fails the repetition with the reason: a window is never measured without
//    the fault it was meant to have.
//  - AddFaultResults reads the load's timeline (agent/load/http_load.h) around each fault:
//    latency and errors before, during and after it, and its recovery time.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/bench/stack.h"
#include "agent/exec/bench_context.h"
#include "agent/load/http_load.h"
#include "perfgate/v1/results.pb.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

// How long a `leader` target waits for a cluster that has no leader right now (an election).
inline constexpr absl::Duration kLeaderWait = absl::Seconds(5);

class FaultRunner {
 public:
  // `seed` draws the hosts of random:ROLE targets (the attempt and repetition: reproducible).
  FaultRunner(const v1::FaultSchedule& schedule, HostControl& hosts, BenchContext& ctx,
              uint64_t seed);
  ~FaultRunner();  // Finish()es

  // Fires the schedule from `start_ns` (MonotonicNowNs(), the load's time zero).
  void Start(int64_t start_ns);
  // Stops firing, undoes every fault still in force and returns the records. `not_applied`
  // names the fault that could not be applied and why (empty when all were): the repetition
  // does not count. An error when the stack could not be made whole again (an undo failed, or
  // a restarted instance did not get ready): the attempt cannot go on.
  absl::Status Finish(std::vector<v1::FaultRecord>* records, std::string* not_applied);

 private:
  struct Event {
    int64_t at_ns;  // from the start
    size_t fault;
    bool undo;
  };
  void Loop();
  absl::Status Apply(size_t i);
  absl::Status Undo(size_t i);
  absl::StatusOr<std::string> ResolveHost(const v1::FaultSpec& f, std::string* detail);
  absl::StatusOr<std::string> AskLeader();
  bool Stopping();

  const v1::FaultSchedule& schedule_;
  HostControl& hosts_;
  BenchContext& ctx_;
  std::mt19937_64 rng_;
  std::vector<Event> events_;
  int64_t start_ns_ = 0;
  std::thread thread_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Written by the fault thread, read after it is joined.
  std::vector<v1::FaultRecord> records_;
  std::vector<bool> in_force_;
  std::string not_applied_;
  absl::Status broken_;
  bool finished_ = false;
};

// Adds the figures of each recorded fault from the load's timeline (slices of `slice`, the
// first starting at the window's start): fault.NAME.{before,during,after}.{p99,error_ratio}
// (the stretches from the previous fault's undo to this one, while it is in force, and from its
// undo to the next fault or the window's end), and fault.NAME.recovery (ms from the fault until
// errors and p99 stay within `band` of their pre-fault level for its hold time). Sets each
// record's recovery_ms and recovery_note.
void AddFaultResults(const v1::RecoveryBand& band, const std::vector<TimelineSlice>& timeline,
                     absl::Duration slice, int64_t window_ms, std::vector<v1::FaultRecord>* records,
                     v1::RepetitionResult* out);

}  // namespace perfgate::agent
