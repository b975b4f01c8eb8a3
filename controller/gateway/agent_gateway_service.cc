#include "controller/gateway/agent_gateway_service.h"

#include "absl/strings/str_cat.h"
#include "common/fault/failpoint.h"
#include "common/log/log.h"
#include "common/spec/suite_parser.h"
#include "common/status/grpc_status.h"
#include "controller/queue/suite_file.h"

namespace perfgate::controller {
namespace {

// A commit_range job's list (the agent lists at most 100000: agent/bench/repository_reader.h).
constexpr int kMaxCommitListCommits = 100000;

}  // namespace
using common::ToGrpcStatus;

grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* AgentGatewayService::Session(
    grpc::CallbackServerContext* ctx) {
  auto agent = identities_.Identify(*ctx);
  if (!agent.ok()) {
    spdlog::warn("msg=\"agent session refused\" peer={} error=\"{}\"", ctx->peer(),
                 agent.status().message());
    return new RejectedSession(ToGrpcStatus(agent.status()));
  }
  auto start = std::chrono::steady_clock::now();
  auto* hist = &metrics_.rpc_latency("Session");
  return new AgentSession(next_session_id_++, *agent, &sessions_, [start, hist] {
    hist->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  });
}

absl::StatusOr<std::string> AgentGatewayService::Caller(const grpc::ServerContextBase& ctx,
                                                        const char* method) {
  auto caller = identities_.Identify(ctx);
  if (!caller.ok()) {
    spdlog::warn("msg=\"agent call refused\" method={} peer={} error=\"{}\"", method, ctx.peer(),
                 caller.status().message());
    if (absl::IsPermissionDenied(caller.status())) metrics_.calls_refused(method).Increment();
  }
  return caller;
}

absl::Status AgentGatewayService::MayTouch(const grpc::ServerContextBase& ctx, const char* method,
                                           const std::string& caller, int64_t attempt_id) {
  if (caller.empty()) return absl::OkStatus();
  std::string owner;
  {
    absl::MutexLock lock(&agents_mu_);
    if (auto it = agent_of_attempt_.find(attempt_id); it != agent_of_attempt_.end())
      owner = it->second;
  }
  if (owner.empty()) owner = sessions_.AssignedAgent(attempt_id);  // assigned here: no query
  if (owner.empty()) {
    auto o = jobs_.AgentOfAttempt(attempt_id);
    if (!o.ok()) return o.status();
    owner = *o;
    absl::MutexLock lock(&agents_mu_);
    if (agent_of_attempt_.size() >= 100'000) agent_of_attempt_.clear();
    agent_of_attempt_[attempt_id] = owner;
  }
  if (owner == caller) return absl::OkStatus();
  spdlog::warn(
      "msg=\"agent call refused: another agent's attempt\" method={} caller={} attempt={} "
      "assigned_to={} peer={}",
      method, caller, attempt_id, owner, ctx.peer());
  metrics_.calls_refused(method).Increment();
  return absl::PermissionDeniedError(
      absl::StrCat("attempt ", attempt_id, " is not assigned to agent '", caller, "'"));
}

grpc::Status AgentGatewayService::AcceptAttempt(grpc::ServerContext* ctx,
                                                const v1::AcceptAttemptRequest* req,
                                                v1::AcceptAttemptResponse*) {
  ScopedLatency t(metrics_.rpc_latency("AcceptAttempt"));
  auto caller = Caller(*ctx, "AcceptAttempt");
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (req->attempt_id() <= 0 || req->epoch() <= 0 || req->agent().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "attempt_id, epoch and agent are required");
  }
  if (auto s = MayTouch(*ctx, "AcceptAttempt", *caller, req->attempt_id()); !s.ok())
    return ToGrpcStatus(s);
  absl::Status s = jobs_.AcceptAttempt(*req);
  common::Failpoint("controller.accept_attempt.after_commit");
  if (absl::IsFailedPrecondition(s)) {
    sessions_.MarkIdleByAttempt(req->attempt_id());
    work_.Notify();
  }
  runs_.Notify();
  return ToGrpcStatus(s);
}

grpc::Status AgentGatewayService::CompleteAttempt(grpc::ServerContext* ctx,
                                                  const v1::CompleteAttemptRequest* req,
                                                  v1::CompleteAttemptResponse*) {
  ScopedLatency t(metrics_.rpc_latency("CompleteAttempt"));
  auto caller = Caller(*ctx, "CompleteAttempt");
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (req->attempt_id() <= 0 || req->epoch() <= 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "attempt_id and epoch are required");
  }
  if (auto s = MayTouch(*ctx, "CompleteAttempt", *caller, req->attempt_id()); !s.ok())
    return ToGrpcStatus(s);
  if (req->outcome() == v1::ATTEMPT_OUTCOME_UNSPECIFIED ||
      !v1::AttemptOutcome_IsValid(req->outcome())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "outcome: must be SUCCEEDED, FAILED, CANCELLED or "
                        "INFRA_FAILURE");
  }
  if (req->message().size() > limits_.max_message_bytes * 64) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "message: too long");
  }
  absl::StatusOr<int64_t> run;
  v1::AttemptOutcome ended_as = req->outcome();  // a refused suite file ends FAILED
  if (req->has_suite_file_text()) {
    if (req->suite_file_text().size() > common::kMaxSuiteBytes) {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("suite_file_text: at most ", common::kMaxSuiteBytes, " bytes"));
    }
    run = CompleteSuiteFile(*req, &ended_as);
  } else if (req->has_commit_list()) {
    // Stored on the job for its bisection: only a commit_range job's, and bounded.
    if (req->commit_list().commits_size() > kMaxCommitListCommits) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("commit_list: at most ", kMaxCommitListCommits, " commits"));
    }
    auto job = jobs_.JobOfAttempt(req->attempt_id());
    if (!job.ok()) return ToGrpcStatus(job.status());
    if (!job->spec.has_commit_range()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "commit_list: only a commit_range job lists commits");
    }
    run = jobs_.CompleteAttempt(*req);
  } else {
    run = jobs_.CompleteAttempt(*req);
  }
  if (!run.ok()) return ToGrpcStatus(run.status());
  common::Failpoint("controller.complete_attempt.after_commit");
  spdlog::info("msg=\"attempt completed\" run={} attempt={} outcome={} exit_code={}", *run,
               req->attempt_id(), v1::AttemptOutcome_Name(ended_as), req->exit_code());
  sessions_.MarkIdleByAttempt(req->attempt_id());
  work_.Notify();
  runs_.Notify();
  return grpc::Status::OK;
}

absl::StatusOr<int64_t> AgentGatewayService::CompleteSuiteFile(
    const v1::CompleteAttemptRequest& req, v1::AttemptOutcome* ended_as) {
  auto job = jobs_.JobOfAttempt(req.attempt_id());
  if (!job.ok()) return job.status();
  if (!job->spec.has_suite_file() || req.outcome() != v1::ATTEMPT_OUTCOME_SUCCEEDED)
    return jobs_.CompleteAttempt(req);
  auto added = ExpandSuiteFile(job->spec.suite_file(), req.suite_file_text(), job->run_job_names,
                               spec_limits_);
  if (!added.ok()) {
    // The file is the commit's: reading it again gives the same error, so the job fails (no
    // retry) and says why; a replay of this completion ends as the same failure.
    spdlog::info("msg=\"suite file refused\" run={} attempt={} error=\"{}\"", job->run_id,
                 req.attempt_id(), added.status().message());
    v1::CompleteAttemptRequest failed = req;
    failed.set_outcome(v1::ATTEMPT_OUTCOME_FAILED);
    failed.set_message(std::string(added.status().message()));
    *ended_as = v1::ATTEMPT_OUTCOME_FAILED;
    return jobs_.CompleteAttempt(failed);
  }
  spdlog::info("msg=\"suite file read\" run={} attempt={} jobs_added={}", job->run_id,
               req.attempt_id(), added->size());
  return jobs_.CompleteAttempt(req, &*added);
}

grpc::Status AgentGatewayService::UploadLog(grpc::ServerContext* ctx,
                                            const v1::UploadLogRequest* req,
                                            v1::UploadLogResponse*) {
  ScopedLatency t(metrics_.rpc_latency("UploadLog"));
  auto caller = Caller(*ctx, "UploadLog");
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (auto s = CheckLogUpload(*req, limits_); !s.ok()) return ToGrpcStatus(s);
  if (auto s = MayTouch(*ctx, "UploadLog", *caller, req->attempt_id()); !s.ok())
    return ToGrpcStatus(s);
  auto run = jobs_.AppendLogs(*req);
  if (!run.ok()) return ToGrpcStatus(run.status());
  common::Failpoint("controller.upload_log.after_commit");
  runs_.Notify();
  return grpc::Status::OK;
}

grpc::Status AgentGatewayService::UploadBlobChunk(grpc::ServerContext* ctx,
                                                  const v1::UploadBlobChunkRequest* req,
                                                  v1::UploadBlobChunkResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("UploadBlobChunk"));
  auto caller = Caller(*ctx, "UploadBlobChunk");
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (req->attempt_id() <= 0 || req->epoch() <= 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "attempt_id and epoch are required");
  }
  if (auto s = MayTouch(*ctx, "UploadBlobChunk", *caller, req->attempt_id()); !s.ok())
    return ToGrpcStatus(s);
  auto r = results_.StoreBlobChunk(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  common::Failpoint("controller.upload_blob.after_commit");
  *resp = *r;
  return grpc::Status::OK;
}

grpc::Status AgentGatewayService::UploadResults(grpc::ServerContext* ctx,
                                                const v1::UploadResultsRequest* req,
                                                v1::UploadResultsResponse*) {
  ScopedLatency t(metrics_.rpc_latency("UploadResults"));
  auto caller = Caller(*ctx, "UploadResults");
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (auto s = CheckResultsUpload(*req, limits_); !s.ok()) return ToGrpcStatus(s);
  if (auto s = MayTouch(*ctx, "UploadResults", *caller, req->attempt_id()); !s.ok())
    return ToGrpcStatus(s);
  auto run = results_.StoreResults(*req);
  if (!run.ok()) return ToGrpcStatus(run.status());
  common::Failpoint("controller.upload_results.after_commit");
  return grpc::Status::OK;
}

}  // namespace perfgate::controller
