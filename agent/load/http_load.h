// The built-in HTTP/1.1 load generator (also speaking Redis's RESP2: LoadOptions::protocol).
// Keep-alive connections driven by an epoll loop per worker thread, a weighted mix of
// requests, and two modes:
//  - open loop (default when a rate is given): requests have intended start times from the
//    schedule (constant or Poisson arrivals). Latency is measured from the intended time, so a
//    server or generator that falls behind shows up in the numbers instead of hiding
//    (coordinated omission corrected). Requests that find no free connection wait in a queue
//    (never dropped) and their wait shows as scheduling delay.
//  - closed loop (rate 0): every connection sends its next request as soon as the previous
//    response arrives; for max-throughput runs, and labelled as such.
// Per request name it keeps: corrected latency, service time (write -> response), scheduling
// delay (intended -> write), connect time, status counts, errors and timeouts, in HDR
// histograms (memory stays flat over long runs).
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/hist/hdr_histogram.h"

namespace perfgate::agent {

struct LoadRequest {
  std::string name;  // default: METHOD PATH
  std::string method = "GET";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  double weight = 1;
  std::vector<std::string> command;  // redis: the command and its arguments
};

// A stretch of an open-loop schedule: `rate` at its start, `rate_to` at its end (a linear
// ramp; equal for a step).
struct RateStage {
  absl::Duration duration;
  double rate = 0;
  double rate_to = 0;
};

struct LoadOptions {
  // kRedis: each request is a command (LoadRequest::command); a reply counts as status 200, an
  // error reply as 500 (a failed request).
  enum class Protocol { kHttp, kRedis } protocol = Protocol::kHttp;
  std::string host = "127.0.0.1";
  int port = 80;
  // Redis through a failover: instead of host and port, Sentinels ("HOST:PORT") asked for the
  // address of `sentinel_master` at the start and, when a connection fails or is lost, again
  // (at most every 100 ms; the asking blocks that worker for up to 200 ms a Sentinel).
  std::vector<std::string> sentinels;
  std::string sentinel_master;
  std::vector<LoadRequest> mix;
  double rate = 0;  // requests per second over all threads; 0 = closed loop
  // Instead of a constant rate (open loop): the schedule's stages; their durations add up to
  // the run's duration (which is then ignored) and the target rate is their mean.
  std::vector<RateStage> stages;
  bool poisson = false;  // exponential inter-arrival times instead of constant
  absl::Duration duration = absl::Seconds(10);
  int connections = 10;  // over all threads
  int threads = 1;
  absl::Duration timeout = absl::Seconds(5);
  uint64_t seed = 1;
  // Open loop: how long before each send the worker stops sleeping and polls (pacer.h);
  // zero = learnt from how late this machine's wake-ups are.
  absl::Duration spin_window = absl::ZeroDuration();
  // When set and it becomes true, the run stops sending early (in-flight requests finish).
  const std::atomic<bool>* stop = nullptr;
  // A repetition is invalid when the achieved rate is below this fraction of the target, or
  // the generator lag p99 exceeds max_generator_lag_p99 (the generator fell behind).
  double min_rate_fraction = 0.99;
  absl::Duration max_generator_lag_p99 = absl::Milliseconds(10);
  // When the first request is due, on MonotonicNowNs()'s clock (pacer.h); 0: 20 ms from now
  // (connections get that long to open). A fault schedule fixes it to share its time zero.
  int64_t start_ns = 0;
  // When positive: a timeline of the run in slices this long, by intended start
  // (LoadResult::timeline), for what happened before, during and after a fault.
  absl::Duration timeline_slice = absl::ZeroDuration();
};

// What the requests intended in one slice of the run got.
struct TimelineSlice {
  int64_t completed = 0;      // responses, whatever their status
  int64_t server_errors = 0;  // of those, 5xx
  int64_t errors = 0;         // requests without a response: transport errors and timeouts
  int64_t requests() const { return completed + errors; }
  int64_t failed() const { return errors + server_errors; }
  // Latency of the responses (µs from the intended start), to 1 significant digit (~6 %):
  // small enough to keep one per slice.
  common::HdrHistogram latency = *common::HdrHistogram::Create(1, 60'000'000, 1);
  absl::Status Merge(const TimelineSlice& o);
};

struct EndpointStats {
  common::HdrHistogram latency;           // from the intended start (µs)
  common::HdrHistogram service_time;      // write -> complete response (µs)
  common::HdrHistogram scheduling_delay;  // intended start -> write (µs), incl. waiting for a
                                          // free connection while all are busy on the server
  common::HdrHistogram generator_lag;     // max(intended start, a connection came free) ->
                                          // write (µs): the generator's own lateness
  common::HdrHistogram connect_time;      // TCP connect (µs; kept in LoadResult::total only)
  std::map<int, int64_t> status_counts;
  int64_t sent = 0, completed = 0, errors = 0, timeouts = 0;
  static EndpointStats Make();
  absl::Status Merge(const EndpointStats& o);
};

struct LoadResult {
  bool open_loop = false;
  double target_rate = 0;
  double achieved_rate = 0;  // completed responses / elapsed
  absl::Duration duration;   // the schedule's length: the stages' sum, or the options' duration
  absl::Duration elapsed;    // from the first intended start to the last response (>= duration)
  std::map<std::string, EndpointStats> endpoints;
  EndpointStats total = EndpointStats::Make();
  int64_t connect_errors = 0;  // failed connection attempts (each retried)
  bool valid = true;
  std::string invalid_reason;
  int64_t start_ns = 0;  // the first request's intended start (MonotonicNowNs())
  // With LoadOptions::timeline_slice: slice i holds the requests intended in
  // [start + i * slice, start + (i + 1) * slice).
  std::vector<TimelineSlice> timeline;
};

// The master's address as the first Sentinel that answers names it. UNAVAILABLE naming each
// Sentinel's failure when none does.
absl::StatusOr<std::pair<std::string, int>> AskSentinels(const std::vector<std::string>& sentinels,
                                                         const std::string& master,
                                                         absl::Duration timeout);

// Runs the load to completion. INVALID_ARGUMENT for bad options (naming the field);
// UNAVAILABLE when the host cannot be resolved.
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& opts);

// Sets res->valid and res->invalid_reason from the achieved rate and the generator lag (open
// loop only, against res->target_rate; a closed-loop run is always valid). Pure: RunLoad calls
// it once the workers' figures are merged.
void JudgeValidity(const LoadOptions& opts, LoadResult* res);

}  // namespace perfgate::agent
