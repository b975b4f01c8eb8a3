// The AgentGateway gRPC service: the Session stream (callback API, handled by
// SessionManager) and the idempotent, epoch-fenced unary calls (sync API, they do SQL).
#pragma once

#include <atomic>

#include "common/grpc/auth.h"
#include "common/spec/run_spec_rules.h"
#include "controller/events/event_bus.h"
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
                      common::TokenAuth auth, UploadLimits limits = {},
                      common::SpecLimits spec_limits = {})
      : jobs_(jobs),
        results_(results),
        sessions_(sessions),
        work_(work),
        runs_(runs),
        metrics_(metrics),
        auth_(std::move(auth)),
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
  const common::TokenAuth auth_;
  // A suite_file attempt's completion: its suite's jobs added to the run, or the attempt failed
  // with the file's error (`ended_as` then says FAILED).
  absl::StatusOr<int64_t> CompleteSuiteFile(const v1::CompleteAttemptRequest& req,
                                            v1::AttemptOutcome* ended_as);

  const UploadLimits limits_;
  const common::SpecLimits spec_limits_;  // for the jobs a suite_file attempt adds
  std::atomic<uint64_t> next_session_id_{1};
};

}  // namespace perfgate::controller
