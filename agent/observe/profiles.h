// pprof captures from the stack's services over one measured window: a CPU profile from the
// window's start (/profile?seconds=N), heap profiles before and after it and every N seconds
// inside it, and other profiles (goroutine, allocs, ...) at its end. Each capture is written to
// the attempt journal as a content-addressed blob and referenced from the repetition's result;
// a capture that fails becomes a gap naming the error.
#pragma once

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/exec/bench_context.h"
#include "perfgate/v1/results.pb.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

inline constexpr size_t kMaxProfileDownloadBytes = 64 << 20;

// GET base_url + suffix within `timeout`; the body of a 200 answer.
absl::StatusOr<std::string> FetchProfile(const std::string& base_url, const std::string& suffix,
                                         absl::Duration timeout);

class ProfileCapture {
 public:
  ProfileCapture(const google::protobuf::RepeatedPtrField<v1::ProfileSpec>& specs,
                 BenchContext& ctx);
  ~ProfileCapture();  // joins what still runs

  // Heap "before" profiles now; CPU and periodic heap captures start in the background.
  void BeginWindow();
  // A heap profile of every service now, at `point` (a soak's start and end: soak.start), kept
  // with the window's captures.
  void HeapSnapshot(const std::string& point);
  // Waits for the background captures, takes "after" and extra profiles, and appends
  // ProfileRefs and gaps to `out`.
  void EndWindow(v1::RepetitionResult* out);

 private:
  void Capture(const v1::ProfileSpec& spec, const std::string& base, const std::string& kind,
               const std::string& point, const std::string& suffix, absl::Duration timeout);
  void Join();

  std::vector<v1::ProfileSpec> specs_;
  std::vector<std::string> bases_;  // expanded URLs ("" when the template failed)
  BenchContext& ctx_;
  absl::Time window_start_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<v1::ProfileRef> refs_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Gap> gaps_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace perfgate::agent
