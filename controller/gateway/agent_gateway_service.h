// The AgentGateway gRPC service: the Session stream (callback API, handled by
// SessionManager) and the idempotent, epoch-fenced unary calls (sync API, they do SQL).
#pragma once

#include <atomic>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/spec/run_spec_rules.h"
#include "controller/events/event_bus.h"
#include "controller/gateway/agent_identity.h"
#include "controller/gateway/session_manager.h"
#include "controller/metrics/controller_metrics.h"
#include "controller/queue/job_store.h"
#include "controller/queue/result_store.h"
#include "controller/queue/upload_checks.h"
#include "perfgate/v1/agent_gateway.grpc.pb.h"

namespace perfgate::controller {

class AgentGatewayService final
    : public v1::AgentGateway::WithCallbackMethod_Session<v1::AgentGateway::Service> {
 public:
  AgentGatewayService(JobStore& jobs, ResultStore& results, SessionManager& sessions,
                      EventBus& work, EventBus& runs, ControllerMetrics& metrics,
                      AgentIdentities identities, UploadLimits limits = {},
                      common::SpecLimits spec_limits = {})
      : jobs_(jobs),
        results_(results),
        sessions_(sessions),
        work_(work),
        runs_(runs),
        metrics_(metrics),
        identities_(std::move(identities)),
        limits_(limits),
        spec_limits_(std::move(spec_limits)) {}

  grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* Session(
      grpc::CallbackServerContext* ctx) override;
  grpc::Status AcceptAttempt(grpc::ServerContext* ctx, const v1::AcceptAttemptRequest* req,
                             v1::AcceptAttemptResponse* resp) override;
  grpc::Status CompleteAttempt(grpc::ServerContext* ctx, const v1::CompleteAttemptRequest* req,
                               v1::CompleteAttemptResponse* resp) override;
  grpc::Status UploadLog(grpc::ServerContext* ctx, const v1::UploadLogRequest* req,
                         v1::UploadLogResponse* resp) override;
  grpc::Status UploadResults(grpc::ServerContext* ctx, const v1::UploadResultsRequest* req,
                             v1::UploadResultsResponse* resp) override;
  grpc::Status UploadBlobChunk(grpc::ServerContext* ctx, const v1::UploadBlobChunkRequest* req,
                               v1::UploadBlobChunkResponse* resp) override;

 private:
  JobStore& jobs_;
  ResultStore& results_;
  SessionManager& sessions_;
  EventBus& work_;
  EventBus& runs_;
  ControllerMetrics& metrics_;
  const AgentIdentities identities_;
  // The agent the call's credentials name ("" when they name none), checked before anything
  // else a call does: UNAUTHENTICATED / PERMISSION_DENIED (logged, counted) otherwise.
  absl::StatusOr<std::string> Caller(const grpc::ServerContextBase& ctx, const char* method);
  // OK when `caller` may act for attempt `attempt_id` (also when it is ""); PERMISSION_DENIED,
  // logged and counted, when it is another agent's; NOT_FOUND for an unknown attempt.
  absl::Status MayTouch(const grpc::ServerContextBase& ctx, const char* method,
                        const std::string& caller, int64_t attempt_id);
  // A suite_file attempt's completion: its suite's jobs added to the run, or the attempt failed
  // with the file's error (`ended_as` then says FAILED).
  absl::StatusOr<int64_t> CompleteSuiteFile(const v1::CompleteAttemptRequest& req,
                                            v1::AttemptOutcome* ended_as);

  const UploadLimits limits_;
  const common::SpecLimits spec_limits_;  // for the jobs a suite_file attempt adds
  std::atomic<uint64_t> next_session_id_{1};
  // Attempt id -> its agent. An attempt's agent never changes, so entries never go stale; the
  // map is cleared when it grows past a bound.
  absl::Mutex agents_mu_;
  absl::flat_hash_map<int64_t, std::string> agent_of_attempt_ ABSL_GUARDED_BY(agents_mu_);
};

}  // namespace perfgate::controller
