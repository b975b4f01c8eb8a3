#include "agent/spool/uploader.h"

#include <optional>

#include "absl/strings/match.h"
#include "common/fault/failpoint.h"
#include "common/log/log.h"
#include "common/wire/upload_limits.h"

namespace perfgate::agent {
namespace {

// How a repetition the controller refused is reported (its invalid_reason starts so).
constexpr char kRefusedPrefix[] = "refused by the controller: ";
constexpr int kPayloadFailuresBeforeRefused = 5;

// What is left of a repetition the controller refused: its number, timing and generator, marked
// invalid with the controller's words, so that the run shows it and counts it.
v1::RepetitionResult RefusedRepetition(const v1::RepetitionResult& r, const std::string& why) {
  v1::RepetitionResult bare;
  bare.set_repetition(r.repetition());
  bare.set_generator(r.generator());
  *bare.mutable_started_at() = r.started_at();
  *bare.mutable_ended_at() = r.ended_at();
  bare.set_valid(false);
  bare.set_invalid_reason((kRefusedPrefix + why).substr(0, 900));
  return bare;
}

}  // namespace

Uploader::Uploader(v1::AgentGateway::StubInterface& stub, ContextFactory ctx, RefusedFn refused,
                   prometheus::Registry& registry)
    : stub_(stub), ctx_(std::move(ctx)), refused_(std::move(refused)) {
  chunks_uploaded_ = &prometheus::BuildCounter()
                          .Name("perfgate_agent_log_chunks_uploaded_total")
                          .Help("Log chunks acknowledged by the controller")
                          .Register(registry)
                          .Add({});
  results_uploaded_ = &prometheus::BuildCounter()
                           .Name("perfgate_agent_results_uploaded_total")
                           .Help("Benchmark repetitions acknowledged by the controller")
                           .Register(registry)
                           .Add({});
  upload_errors_ = &prometheus::BuildCounter()
                        .Name("perfgate_agent_upload_errors_total")
                        .Help("Failed upload or completion calls (retried)")
                        .Register(registry)
                        .Add({});
}

Uploader::~Uploader() { Stop(); }

void Uploader::Start() {
  thread_ = std::thread([this] {
    absl::Duration backoff = absl::Milliseconds(100);
    while (true) {
      uint64_t seen;
      std::vector<std::shared_ptr<AttemptJournal>> todo;
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
        seen = wake_;
        for (auto& [id, j] : journals_) todo.push_back(j);
      }
      bool ok = true;
      for (auto& j : todo) ok &= Drain(j);
      backoff = ok ? absl::Milliseconds(100) : std::min(backoff * 2, absl::Seconds(5));
      absl::MutexLock lock(&mu_);
      auto woken = [this, seen]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || wake_ != seen; };
      // Healthy: sleep until woken (new output, a result); failing: retry after the backoff.
      mu_.AwaitWithTimeout(absl::Condition(&woken), ok ? absl::Seconds(1) : backoff);
    }
  });
}

void Uploader::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Uploader::Add(std::shared_ptr<AttemptJournal> j) {
  absl::MutexLock lock(&mu_);
  journals_[j->attempt_id()] = std::move(j);
  ++wake_;
}

void Uploader::Drop(int64_t attempt_id) {
  absl::MutexLock lock(&mu_);
  journals_.erase(attempt_id);
}

void Uploader::Wake() {
  absl::MutexLock lock(&mu_);
  ++wake_;
}

std::vector<v1::HeldAttempt> Uploader::Held() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::HeldAttempt> out;
  for (auto& [id, j] : journals_) {
    v1::HeldAttempt h;
    h.set_attempt_id(id);
    h.set_epoch(j->assign().epoch());
    h.set_running(!j->result().has_value());
    out.push_back(h);
  }
  return out;
}

bool Uploader::Idle() {
  absl::MutexLock lock(&mu_);
  return journals_.empty();
}

bool IsFinalRefusal(const grpc::Status& s) {
  auto c = s.error_code();
  return c == grpc::StatusCode::FAILED_PRECONDITION || c == grpc::StatusCode::NOT_FOUND ||
         c == grpc::StatusCode::PERMISSION_DENIED || c == grpc::StatusCode::INVALID_ARGUMENT;
}

bool Uploader::UploadBlobs(AttemptJournal& j, v1::RepetitionResult* r) {
  constexpr size_t kChunk = 1 << 20;
  bool changed = false;
  auto* refs = r->mutable_profiles();
  for (int i = 0; i < refs->size();) {
    const v1::ProfileRef& p = refs->Get(i);
    std::string problem;
    auto bytes = ReadFile(j.BlobPath(p.sha256()));
    if (!bytes.ok()) {
      problem = "the spooled profile is gone: " + std::string(bytes.status().message());
    } else {
      v1::UploadBlobChunkRequest req;
      req.set_attempt_id(j.attempt_id());
      req.set_epoch(j.assign().epoch());
      req.set_sha256(p.sha256());
      req.set_size(static_cast<int64_t>(bytes->size()));
      req.set_offset(0);  // an empty chunk first: how much does the controller hold?
      v1::UploadBlobChunkResponse resp;
      while (true) {
        auto ctx = ctx_();
        grpc::Status s = stub_.UploadBlobChunk(ctx.get(), req, &resp);
        if (IsFinalRefusal(s)) {
          problem = "the controller refused the profile: " + s.error_message();
          break;
        }
        if (!s.ok()) {
          upload_errors_->Increment();
          spdlog::warn("msg=\"blob upload failed; will retry\" attempt={} sha256={} error=\"{}\"",
                       j.attempt_id(), p.sha256(), s.error_message());
          return false;
        }
        if (resp.complete()) break;
        req.set_offset(resp.received());
        req.set_data(bytes->substr(static_cast<size_t>(resp.received()), kChunk));
      }
    }
    if (problem.empty()) {
      ++i;
      continue;
    }
    spdlog::error("msg=\"profile dropped\" attempt={} sha256={} error=\"{}\"", j.attempt_id(),
                  p.sha256(), problem);
    v1::Gap* g = r->add_gaps();
    g->set_name("profile." + p.service() + "." + p.kind() + "." + p.point());
    g->set_reason(problem.substr(0, 900));
    refs->DeleteSubrange(i, 1);
    changed = true;
  }
  if (changed) {
    if (auto s = j.AddResult(*r); !s.ok()) {
      spdlog::error("msg=\"cannot rewrite spooled result\" attempt={} error=\"{}\"", j.attempt_id(),
                    s.message());
      return false;
    }
  }
  return true;
}

bool Uploader::Drain(const std::shared_ptr<AttemptJournal>& j) {
  const int64_t id = j->attempt_id();
  const int64_t epoch = j->assign().epoch();
  // The completion is read before anything else: the attempt writes its last results and log
  // lines before it finishes, so everything it wrote is in the spool reads below. Read after
  // them, a completion could overtake a result spooled while this pass was uploading.
  const std::optional<v1::CompleteAttemptRequest> result = j->result();
  // Results first: they are what the attempt was for.
  auto results = j->UnackedResults();
  if (!results.ok()) {
    spdlog::error("msg=\"cannot read spooled results\" attempt={} error=\"{}\"", id,
                  results.status().message());
    return false;
  }
  // The blobs the results name go first: the controller takes a result once its blobs are whole.
  for (auto& r : *results) {
    if (!UploadBlobs(*j, &r)) return false;
  }
  // Batches of up to 16; after the controller refuses a batch's content, one at a time, so
  // that one repetition it cannot take is found and reported instead of costing the rest.
  size_t batch_max = 16;
  for (size_t i = 0; i < results->size();) {
    v1::UploadResultsRequest req;
    req.set_attempt_id(id);
    req.set_epoch(epoch);
    std::vector<int> reps;
    size_t bytes = 0;
    const size_t first = i;
    for (; i < results->size() && reps.size() < batch_max && bytes < (2 << 20); ++i) {
      bytes += (*results)[i].ByteSizeLong();
      reps.push_back((*results)[i].repetition());
      *req.add_results() = (*results)[i];
    }
    v1::UploadResultsResponse resp;
    auto ctx = ctx_();
    grpc::Status s = stub_.UploadResults(ctx.get(), req, &resp);
    // The content, not the moment: refused outright, or failing the same way call after call
    // (a message too large for the channel, a decoding error on the other side).
    bool content_refused = s.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
        s.error_code() == grpc::StatusCode::INTERNAL) {
      absl::MutexLock lock(&mu_);
      content_refused = ++payload_failures_[id] >= kPayloadFailuresBeforeRefused;
    }
    if (content_refused) {
      if (reps.size() > 1) {
        batch_max = 1;
        i = first;
        continue;
      }
      v1::RepetitionResult& refused = (*results)[first];
      if (!refused.valid() && absl::StartsWith(refused.invalid_reason(), kRefusedPrefix)) {
        // Even its bare report is refused: nothing of it can be stored.
        spdlog::error("msg=\"repetition dropped\" attempt={} repetition={} error=\"{}\"", id,
                      refused.repetition(), s.error_message());
        if (auto st = j->AckResults(reps); !st.ok()) return false;
        continue;
      }
      spdlog::error(
          "msg=\"controller refused a repetition: reporting it invalid\" attempt={} "
          "repetition={} error=\"{}\"",
          id, refused.repetition(), s.error_message());
      refused = RefusedRepetition(refused, s.error_message());
      if (auto st = j->AddResult(refused); !st.ok()) return false;
      i = first;
      continue;
    }
    if (IsFinalRefusal(s)) {
      spdlog::error("msg=\"controller refused results\" attempt={} error=\"{}\"", id,
                    s.error_message());
      refused_(id, s.error_message());
    } else if (!s.ok()) {
      upload_errors_->Increment();
      spdlog::warn("msg=\"result upload failed; will retry\" attempt={} code={} error=\"{}\"", id,
                   static_cast<int>(s.error_code()), s.error_message());
      return false;
    }
    {
      absl::MutexLock lock(&mu_);
      payload_failures_.erase(id);
    }
    common::Failpoint("agent.upload_results.before_ack");
    if (auto st = j->AckResults(reps); !st.ok()) {
      spdlog::error("msg=\"cannot record result ack\" attempt={} error=\"{}\"", id, st.message());
      return false;
    }
    results_uploaded_->Increment(reps.size());
  }
  while (j->acked() < j->chunk_count()) {
    // Within what the controller takes in one request (common/wire/upload_limits.h).
    auto chunks = j->Unacked(1 << 20, common::kMaxLogChunksPerUpload);
    if (!chunks.ok()) {
      spdlog::error("msg=\"cannot read log spool\" attempt={} error=\"{}\"", id,
                    chunks.status().message());
      return false;
    }
    v1::UploadLogRequest req;
    req.set_attempt_id(id);
    req.set_epoch(epoch);
    for (auto& c : *chunks) *req.add_chunks() = std::move(c);
    v1::UploadLogResponse resp;
    auto ctx = ctx_();
    grpc::Status s = stub_.UploadLog(ctx.get(), req, &resp);
    if (IsFinalRefusal(s)) {
      // The controller will never take this attempt's logs: stop it, then forget it.
      spdlog::warn("msg=\"controller refused attempt logs\" attempt={} error=\"{}\"", id,
                   s.error_message());
      refused_(id, s.error_message());
      break;
    }
    if (!s.ok()) {
      upload_errors_->Increment();
      spdlog::debug("msg=\"log upload failed\" attempt={} error=\"{}\"", id, s.error_message());
      return false;
    }
    int64_t upto = req.chunks(req.chunks_size() - 1).seq() + 1;
    common::Failpoint("agent.upload_log.before_ack");
    if (auto st = j->Ack(upto); !st.ok()) {
      spdlog::error("msg=\"cannot record ack\" attempt={} error=\"{}\"", id, st.message());
      return false;
    }
    chunks_uploaded_->Increment(req.chunks_size());
  }
  if (!result) return true;
  v1::CompleteAttemptRequest req = *result;
  req.set_attempt_id(id);
  req.set_epoch(epoch);
  v1::CompleteAttemptResponse resp;
  auto ctx = ctx_();
  grpc::Status s = stub_.CompleteAttempt(ctx.get(), req, &resp);
  if (!s.ok() && !IsFinalRefusal(s)) {
    upload_errors_->Increment();
    spdlog::debug("msg=\"completion failed\" attempt={} error=\"{}\"", id, s.error_message());
    return false;
  }
  if (!s.ok())
    spdlog::warn("msg=\"controller refused completion\" attempt={} error=\"{}\"", id,
                 s.error_message());
  else
    spdlog::info("msg=\"attempt completion delivered\" attempt={} outcome={}", id,
                 v1::AttemptOutcome_Name(req.outcome()));
  {
    absl::MutexLock lock(&mu_);
    journals_.erase(id);
  }
  if (auto st = j->Remove(); !st.ok())
    spdlog::warn("msg=\"cannot remove journal\" error=\"{}\"", st.message());
  return true;
}

}  // namespace perfgate::agent
