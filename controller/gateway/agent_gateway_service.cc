#include "controller/gateway/agent_gateway_service.h"

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/hash/sha256.h"
#include "common/hist/hdr_histogram.h"
#include "common/log/log.h"
#include "common/status/grpc_status.h"

namespace perfgate::controller {
namespace {

// The observation parts of a repetition (gaps, series, profiles, dbstats) within bounds: "" or
// ".field: problem".
std::string CheckObserved(const v1::RepetitionResult& r, const UploadLimits& l) {
  auto long_name = [&](const std::string& v) { return v.empty() || v.size() > l.max_name_bytes; };
  if (r.gaps_size() > l.max_measurements_per_repetition) return ".gaps: too many";
  for (int k = 0; k < r.gaps_size(); ++k) {
    if (long_name(r.gaps(k).name()) || r.gaps(k).reason().size() > l.max_message_bytes)
      return absl::StrCat(".gaps[", k, "]: name must be 1..", l.max_name_bytes,
                          " bytes, reason at most ", l.max_message_bytes);
  }
  if (r.series_size() > l.max_histograms_per_repetition * 4) return ".series: too many";
  size_t points = 0;
  for (int k = 0; k < r.series_size(); ++k) {
    if (long_name(r.series(k).name())) return absl::StrCat(".series[", k, "].name: bad length");
    points += r.series(k).points_size();
  }
  if (points > 1'000'000) return ".series: more than 1,000,000 points";
  if (r.profiles_size() > 256) return ".profiles: at most 256";
  std::set<std::string> keys;
  for (int k = 0; k < r.profiles_size(); ++k) {
    const auto& p = r.profiles(k);
    std::string f = absl::StrCat(".profiles[", k, "]");
    if (!common::IsSha256Hex(p.sha256())) return f + ".sha256: want 64 lowercase hex digits";
    if (long_name(p.service()) || long_name(p.kind()) || long_name(p.point()))
      return f + ": service, kind and point must be 1.." + std::to_string(l.max_name_bytes) +
             " bytes";
    if (!keys.insert(p.service() + "/" + p.kind() + "/" + p.point()).second)
      return f + ": the same service, kind and point twice";
  }
  const auto& d = r.dbstats();
  if (d.statements_size() > 1000) return ".dbstats.statements: at most 1000";
  if (d.explains_size() > 100) return ".dbstats.explains: at most 100";
  for (int k = 0; k < d.statements_size(); ++k) {
    if (d.statements(k).query().size() > 64 * 1024)
      return absl::StrCat(".dbstats.statements[", k, "].query: at most 64 KiB");
  }
  for (int k = 0; k < d.explains_size(); ++k) {
    if (d.explains(k).plan_json().size() > (1 << 20))
      return absl::StrCat(".dbstats.explains[", k, "].plan_json: at most 1 MiB");
  }
  return "";
}

}  // namespace

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

grpc::Status AgentGatewayService::UploadBlobChunk(grpc::ServerContext* ctx,
                                                  const v1::UploadBlobChunkRequest* req,
                                                  v1::UploadBlobChunkResponse* resp) {
  ScopedLatency t(metrics_.rpc_latency("UploadBlobChunk"));
  if (auto s = auth_.Check(*ctx); !s.ok()) return ToGrpcStatus(s);
  if (req->attempt_id() <= 0 || req->epoch() <= 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "attempt_id and epoch are required");
  }
  auto r = results_.StoreBlobChunk(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *r;
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
    if (std::string why = CheckObserved(r, limits_); !why.empty()) return bad(f + why);
  }
  auto run = results_.StoreResults(*req);
  if (!run.ok()) return ToGrpcStatus(run.status());
  return grpc::Status::OK;
}

}  // namespace perfgate::controller
