#include "controller/gateway/agent_gateway_service.h"

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/hist/hdr_histogram.h"
#include "common/log/log.h"
#include "common/status/grpc_status.h"

namespace perfgate::controller {

using common::ToGrpcStatus;

grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>* AgentGatewayService::Session(
    grpc::CallbackServerContext* ctx) {
  if (auto s = auth_.Check(*ctx); !s.ok()) return new RejectedSession(ToGrpcStatus(s));
  auto start = std::chrono::steady_clock::now();
  auto* hist = &metrics_.rpc_latency("Session");
  return new AgentSession(next_session_id_++, &sessions_, [start, hist] {
    hist->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  });
}

grpc::Status AgentGatewayService::AcceptAttempt(grpc::ServerContext* ctx,
                                                const v1::AcceptAttemptRequest* req,
                                                v1::AcceptAttemptResponse*) {
  ScopedLatency t(metrics_.rpc_latency("AcceptAttempt"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  if (req->attempt_id() <= 0 || req->epoch() <= 0 || req->agent().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "attempt_id, epoch and agent are required");
  }
  absl::Status s = jobs_.AcceptAttempt(*req);
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
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  if (req->attempt_id() <= 0 || req->epoch() <= 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "attempt_id and epoch are required");
  }
  if (req->outcome() == v1::ATTEMPT_OUTCOME_UNSPECIFIED ||
      !v1::AttemptOutcome_IsValid(req->outcome())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "outcome: must be SUCCEEDED, FAILED, CANCELLED or "
                        "INFRA_FAILURE");
  }
  if (req->message().size() > limits_.max_message_bytes * 64) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "message: too long");
  }
  auto run = jobs_.CompleteAttempt(*req);
  if (!run.ok()) return ToGrpcStatus(run.status());
  spdlog::info("msg=\"attempt completed\" run={} attempt={} outcome={} exit_code={}", *run,
               req->attempt_id(), v1::AttemptOutcome_Name(req->outcome()), req->exit_code());
  sessions_.MarkIdleByAttempt(req->attempt_id());
  work_.Notify();
  runs_.Notify();
  return grpc::Status::OK;
}

grpc::Status AgentGatewayService::UploadLog(grpc::ServerContext* ctx,
                                            const v1::UploadLogRequest* req,
                                            v1::UploadLogResponse*) {
  ScopedLatency t(metrics_.rpc_latency("UploadLog"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  if (req->attempt_id() <= 0 || req->epoch() <= 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "attempt_id and epoch are required");
  }
  if (req->chunks_size() > limits_.max_chunks_per_request) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("chunks: at most ", limits_.max_chunks_per_request, " per request"));
  }
  for (int i = 0; i < req->chunks_size(); ++i) {
    const auto& c = req->chunks(i);
    if (c.seq() < 0)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("chunks[", i, "].seq: negative"));
    if (c.data().size() > limits_.max_chunk_bytes) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("chunks[", i, "].data: ", c.data().size(),
                                       " bytes; at most ", limits_.max_chunk_bytes));
    }
    if (c.stream() == v1::LOG_STREAM_UNSPECIFIED || !v1::LogStream_IsValid(c.stream())) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("chunks[", i, "].stream: unknown"));
    }
  }
  auto run = jobs_.AppendLogs(*req);
  if (!run.ok()) return ToGrpcStatus(run.status());
  runs_.Notify();
  return grpc::Status::OK;
}

grpc::Status AgentGatewayService::UploadResults(grpc::ServerContext* ctx,
                                                const v1::UploadResultsRequest* req,
                                                v1::UploadResultsResponse*) {
  ScopedLatency t(metrics_.rpc_latency("UploadResults"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  auto bad = [](const std::string& m) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, m);
  };
  if (req->attempt_id() <= 0 || req->epoch() <= 0) return bad("attempt_id and epoch are required");
  if (req->results_size() > limits_.max_repetitions_per_request) {
    return bad(absl::StrCat("results: at most ", limits_.max_repetitions_per_request,
                            " repetitions per request"));
  }
  for (int i = 0; i < req->results_size(); ++i) {
    const auto& r = req->results(i);
    std::string f = absl::StrCat("results[", i, "]");
    if (r.repetition() < 1) return bad(f + ".repetition: must be 1 or more");
    if (r.measurements_size() > limits_.max_measurements_per_repetition)
      return bad(f + ".measurements: too many");
    if (r.histograms_size() > limits_.max_histograms_per_repetition)
      return bad(f + ".histograms: too many");
    if (r.invalid_reason().size() > limits_.max_message_bytes * 64 ||
        r.generator().size() > limits_.max_name_bytes)
      return bad(f + ": invalid_reason or generator too long");
    std::set<std::string> names;
    for (int k = 0; k < r.measurements_size(); ++k) {
      const auto& m = r.measurements(k);
      if (!names.insert(m.name()).second) {
        return bad(absl::StrCat(f, ".measurements[", k, "].name: '", m.name(),
                                "' appears twice in the repetition"));
      }
      if (m.name().empty() || m.name().size() > limits_.max_name_bytes ||
          m.unit().size() > limits_.max_name_bytes) {
        return bad(absl::StrCat(f, ".measurements[", k, "]: name must be 1..",
                                limits_.max_name_bytes, " bytes, unit at most as long"));
      }
      if (!std::isfinite(m.value()))
        return bad(absl::StrCat(f, ".measurements[", k, "].value: not a finite number"));
      if (!v1::Direction_IsValid(m.direction()))
        return bad(absl::StrCat(f, ".measurements[", k, "].direction: unknown"));
    }
    names.clear();
    for (int k = 0; k < r.histograms_size(); ++k) {
      const auto& h = r.histograms(k);
      if (!names.insert(h.name()).second) {
        return bad(absl::StrCat(f, ".histograms[", k, "].name: '", h.name(),
                                "' appears twice in the repetition"));
      }
      if (h.name().empty() || h.name().size() > limits_.max_name_bytes)
        return bad(absl::StrCat(f, ".histograms[", k, "].name: must be 1..", limits_.max_name_bytes,
                                " bytes"));
      if (auto parsed = common::HdrHistogram::FromProto(h.histogram()); !parsed.ok())
        return bad(absl::StrCat(f, ".histograms[", k, "]: ", parsed.status().message()));
    }
  }
  auto run = results_.StoreResults(*req);
  if (!run.ok()) return ToGrpcStatus(run.status());
  return grpc::Status::OK;
}

}  // namespace perfgate::controller
