// WatchRun streams on the gRPC callback API. Every watch is a ServerWriteReactor; one hub
// thread does all the database reads (never a reactor callback) whenever the runs EventBus
// moves (or every second): for each watch it sends the run when it changed and the log chunks
// after its cursor, and finishes the stream once the run has ended and everything is written.
// A client that reads slowly is not sent more until its queue drains. Safe for concurrent use.
#pragma once

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/events/event_bus.h"
#include "controller/queue/job_store.h"
#include "perfgate/v1/controller.pb.h"

namespace perfgate::controller {

class RunWatchHub {
 public:
  RunWatchHub(JobStore& jobs, EventBus& runs);
  ~RunWatchHub();  // Stop()s

  // A reactor for one WatchRun call (the request is validated already).
  grpc::ServerWriteReactor<v1::RunEvent>* Watch(const v1::WatchRunRequest& req);
  // Finishes every open watch (CANCELLED) and stops the thread.
  void Stop();

 private:
  class Stream;
  struct State;
  void Loop();
  void Poll(const std::shared_ptr<State>& w);

  JobStore& jobs_;
  EventBus& runs_;
  absl::Mutex mu_;
  std::set<std::shared_ptr<State>> watches_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace perfgate::controller
