// The on-disk record of one attempt on this agent, so that neither an agent restart nor a
// controller outage loses a log line or a completion:
//   <dir>/assign.pb    the assignment, written before the agent accepts it
//   <dir>/process      "pgid start_ticks" per line: the attempt's live process groups (to find
//                      orphans after a restart: the command, or a benchmark's services)
//   <dir>/log.spool    log chunks, appended as framed records [len u32][stream u8][data]
//   <dir>/acked        how many chunks the controller has acknowledged
//   <dir>/results/N.pb a benchmark repetition's result (renamed N.acked once stored upstream)
//   <dir>/blobs/SHA256 a captured profile's bytes, named by their hash (uploaded before the
//                      result that names them)
//   <dir>/result.pb    the completion, once the attempt has ended
// Chunk seq numbers are record indexes, so a replay after any crash resends the same
// (attempt, seq) pairs and the controller keeps the first copy. A torn last record (crash
// mid-append) is cut off on open. Safe for concurrent use (one runner appends, one uploader
// reads and acks).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "perfgate/v1/agent_gateway.pb.h"

namespace perfgate::agent {

struct ProcessRecord {
  pid_t pgid = 0;
  uint64_t start_ticks = 0;
};

class AttemptJournal {
 public:
  // A new attempt. ALREADY_EXISTS if `dir` exists (the same Assign delivered twice).
  static absl::StatusOr<std::unique_ptr<AttemptJournal>> Create(const std::string& dir,
                                                                const v1::Assign& assign);
  // An attempt found on disk after a restart.
  static absl::StatusOr<std::unique_ptr<AttemptJournal>> Open(const std::string& dir);

  const v1::Assign& assign() const { return assign_; }
  int64_t attempt_id() const { return assign_.attempt_id(); }
  const std::string& dir() const { return dir_; }

  // Process groups started for the attempt, recorded before they can outlive an agent crash.
  absl::Status AddProcess(const ProcessRecord& p);
  absl::Status RemoveProcess(pid_t pgid);
  std::vector<ProcessRecord> processes() const;

  // A repetition's result, durably, before it is uploaded. Rewriting one is allowed until it
  // is acknowledged.
  absl::Status AddResult(const v1::RepetitionResult& r);
  // Results not yet acknowledged, by repetition.
  absl::StatusOr<std::vector<v1::RepetitionResult>> UnackedResults() const;
  absl::Status AckResults(const std::vector<int>& repetitions);
  int result_count() const;
  // Stores `bytes` durably under their sha256 (hex), which is returned.
  absl::StatusOr<std::string> AddBlob(const std::string& bytes);
  std::string BlobPath(const std::string& sha256) const { return dir_ + "/blobs/" + sha256; }

  // Appends one chunk durably (fdatasync) and returns its seq.
  absl::StatusOr<int64_t> AppendLog(v1::LogStream stream, const std::string& data);
  int64_t chunk_count() const;
  int64_t acked() const;
  // Up to `max_bytes` and `max_chunks` of chunks not yet acknowledged (at least one if any
  // remain).
  absl::StatusOr<std::vector<v1::LogChunk>> Unacked(size_t max_bytes,
                                                    size_t max_chunks = SIZE_MAX) const;
  // Chunks [0, upto) are safely stored by the controller.
  absl::Status Ack(int64_t upto);

  // Records the end of the attempt (written once; later calls are ignored). The completion is
  // kept in memory even when writing it fails (the disk is full), so that the uploader still
  // ends the attempt; only a restart would then lose it.
  absl::Status Finish(const v1::CompleteAttemptRequest& result);
  std::optional<v1::CompleteAttemptRequest> result() const;

  // The first write that failed (a log chunk, a result, a blob), or OK: an attempt whose
  // output could not be spooled lost some of it and must not pass as complete (the executor
  // ends it as an infrastructure failure with this reason).
  absl::Status WriteError() const;

  // Deletes the directory; the journal must not be used afterwards.
  absl::Status Remove();

 private:
  explicit AttemptJournal(std::string dir) : dir_(std::move(dir)) {}
  absl::Status LoadSpool() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  v1::Assign assign_;
  mutable absl::Mutex mu_;
  int spool_fd_ ABSL_GUARDED_BY(mu_) = -1;
  std::vector<uint64_t> offsets_ ABSL_GUARDED_BY(mu_);  // start of each record
  uint64_t end_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<ProcessRecord> processes_ ABSL_GUARDED_BY(mu_);
  absl::Status WriteProcesses() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<v1::CompleteAttemptRequest> result_ ABSL_GUARDED_BY(mu_);
  absl::Status write_error_ ABSL_GUARDED_BY(mu_);
  // Keeps the first failed write (for WriteError) and returns `s`.
  absl::Status Noted(absl::Status s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

 public:
  ~AttemptJournal();
};

// Writes `data` to `path` atomically (temp file, fsync, rename).
absl::Status WriteFileAtomic(const std::string& path, const std::string& data);
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace perfgate::agent
