// Runs the attempts the controller assigns, one at a time, in arrival order: journal the
// assignment, accept it (retrying through a short controller outage), run the command or
// benchmark job, journal the result for the uploader to deliver. Cancels may arrive before an
// attempt starts (they are remembered and applied when it does) or while it runs.
// Thread-safe: the session thread calls Enqueue and Cancel, Run owns one thread of its own.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/exec/job_sandbox.h"
#include "agent/observe/observer.h"
#include "agent/spool/uploader.h"
#include "perfgate/v1/agent_gateway.grpc.pb.h"
#include "prometheus/counter.h"

namespace perfgate::agent {

struct ExecutorOptions {
  std::string agent_name;
  std::string work_dir;  // absolute; attempts/ and cache/ below it
  ObserveConfig observe;
  HostPool* host_pool = nullptr;  // for ssh hosts; not owned
  // The job sandbox (agent/exec/job_sandbox.h): a control group per attempt where the machine
  // lets the agent make them, and the unprivileged user jobs run as (--job-user).
  bool attempt_cgroups = false;
  std::optional<JobUser> job_user;
  // Accepting an attempt is retried while the controller is unreachable, within its lease.
  int accept_tries = 60;
  absl::Duration accept_retry_every = absl::Milliseconds(500);
};

// An attempt's control group: named after the agent's work directory, so that the agent's
// next life finds (and kills) what its previous one left (agent.cc).
std::string AttemptCgroupPrefix(const std::string& work_dir);
std::string AttemptCgroupName(const std::string& work_dir, int64_t attempt_id);

class Executor {
 public:
  using ContextFactory = std::function<std::unique_ptr<grpc::ClientContext>(absl::Duration)>;
  Executor(ExecutorOptions opts, v1::AgentGateway::StubInterface& stub, ContextFactory ctx,
           Uploader& uploader, prometheus::Family<prometheus::Counter>& attempts);

  // Runs queued attempts until Stop(); call from the executor's own thread.
  void Run();
  // Cancels the running attempt (if any) and makes Run() return.
  void Stop();
  void Enqueue(const v1::Assign& a);
  // Stops `attempt_id` if it runs here, or marks it cancelled if it is queued or starting.
  void Cancel(int64_t attempt_id, const std::string& reason);

 private:
  void Execute(const v1::Assign& a);
  // True once the controller accepted the attempt; false if it refused or stayed unreachable.
  bool Accept(const v1::Assign& a);

  const ExecutorOptions opts_;
  v1::AgentGateway::StubInterface& stub_;
  const ContextFactory ctx_;
  Uploader& uploader_;
  prometheus::Family<prometheus::Counter>& attempts_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<v1::Assign> pending_ ABSL_GUARDED_BY(mu_);
  int64_t current_attempt_ ABSL_GUARDED_BY(mu_) = 0;
  // Stops the running attempt (set while one runs).
  std::function<void(const std::string&)> cancel_running_ ABSL_GUARDED_BY(mu_);
  // Cancels that arrived for the current or a queued attempt before it started running.
  std::map<int64_t, std::string> cancelled_ ABSL_GUARDED_BY(mu_);
};

}  // namespace perfgate::agent
