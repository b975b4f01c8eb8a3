// Drains attempt journals to the controller: spooled repetition results, then log chunks
// (UploadLog, at most ~1 MiB a call), then, once every chunk is acknowledged, the completion
// (CompleteAttempt). A journal is deleted only after the controller has accepted its completion, or
// has refused it for good (unknown attempt, stale epoch). Transient failures back off and retry
// forever: the journal is on disk, so nothing is lost meanwhile. Runs on its own thread;
// Add()/Wake() and Held() are safe from any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/spool/attempt_journal.h"
#include "perfgate/v1/agent_gateway.grpc.pb.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace perfgate::agent {

// Whether the controller refused for good (the attempt is unknown, superseded or not ours, or
// the request is invalid): retrying cannot help. Anything else is transient.
bool IsFinalRefusal(const grpc::Status& s);

class Uploader {
 public:
  using ContextFactory = std::function<std::unique_ptr<grpc::ClientContext>()>;
  // Called (on the uploader thread) when the controller refuses an attempt for good while it
  // may still run: the agent should stop it.
  using RefusedFn = std::function<void(int64_t attempt_id, const std::string& why)>;

  Uploader(v1::AgentGateway::StubInterface& stub, ContextFactory ctx, RefusedFn refused,
           prometheus::Registry& registry);
  ~Uploader();  // Stop()s

  void Start();
  void Stop();
  void Add(std::shared_ptr<AttemptJournal> j);
  // Forgets a journal without uploading (the controller refused the attempt at accept).
  void Drop(int64_t attempt_id);
  void Wake();
  // Every attempt not yet completed at the controller (running = no result yet).
  std::vector<v1::HeldAttempt> Held();
  // True when nothing is left to upload.
  bool Idle();

 private:
  // Returns false on a transient error (back off).
  bool Drain(const std::shared_ptr<AttemptJournal>& j);
  // Uploads the blobs `r` names (resuming where the controller left off); a blob that cannot be
  // had any more becomes a gap in `r`. False to retry later.
  bool UploadBlobs(AttemptJournal& j, v1::RepetitionResult* r);

  v1::AgentGateway::StubInterface& stub_;
  ContextFactory ctx_;
  RefusedFn refused_;
  prometheus::Counter* chunks_uploaded_;
  prometheus::Counter* results_uploaded_;
  prometheus::Counter* upload_errors_;
  absl::Mutex mu_;
  std::map<int64_t, std::shared_ptr<AttemptJournal>> journals_ ABSL_GUARDED_BY(mu_);
  // RESOURCE_EXHAUSTED/INTERNAL answers to an attempt's results in a row: past
  // kPayloadFailuresBeforeRefused they are taken as a refusal of the content (which retrying
  // cannot change) rather than retried forever.
  std::map<int64_t, int> payload_failures_ ABSL_GUARDED_BY(mu_);
  uint64_t wake_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace perfgate::agent
