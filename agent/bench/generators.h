// The load generators a workload can use, each run for one window (a warm-up or a measured
// repetition) and turned into the same kind of result:
//  - http: the built-in generator (agent/load/http_load.h), open or closed loop, with stages;
//    redis: the same generator speaking RESP (commands; a Sentinel-aware master address);
//  - wrk: Debian's wrk, its --latency report parsed into the http.* metrics;
//  - pgbench: PostgreSQL's pgbench, its summary plus its per-transaction log (-l) folded into
//    a latency histogram;
//  - command: any program that prints a JSON document (format in proto/perfgate/v1/suite.proto).
// (A harness workload is run by agent/bench/harness.h: one run gives many repetitions.)
#pragma once

#include "absl/status/status.h"
#include "agent/exec/bench_context.h"
#include "agent/load/http_load.h"
#include "perfgate/v1/results.pb.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

// Runs the workload's generator for `window` (`warmup`: a warm-up window, whose result is
// thrown away; a staged http workload then runs at its first stage's rate). Fills `out`'s
// measurements, histograms, validity and generator label. FAILED_PRECONDITION when the generator
// cannot run or its output cannot be read; CANCELLED on cancel.
absl::Status RunGenerator(const v1::WorkloadSpec& w, absl::Duration window, bool warmup,
                          BenchContext& ctx, v1::RepetitionResult* out,
                          struct LoadTimeline* timeline = nullptr);

// What a fault schedule asks of the load (http generator only): the run starts at `start_ns`
// (MonotonicNowNs(), the schedule's time zero) and keeps a timeline in slices of `slice`.
struct LoadTimeline {
  int64_t start_ns = 0;
  absl::Duration slice = absl::Milliseconds(100);
  std::vector<TimelineSlice> slices;  // filled by the run
  absl::Duration window;              // the load's planned length, filled by the run
};

// Short names for the directions measurements are added with.
inline constexpr auto kLower = v1::DIRECTION_LOWER_IS_BETTER;
inline constexpr auto kHigher = v1::DIRECTION_HIGHER_IS_BETTER;

// One measurement appended to `out`.
void AddMeasurement(v1::RepetitionResult* out, const std::string& name, const std::string& unit,
                    double v, v1::Direction d);

// The pieces, exposed for tests.
// `kind`: the metrics' prefix, http (http.latency.p99, ...) or redis.
void AddHttpLoadResult(const LoadResult& r, v1::RepetitionResult* out,
                       const std::string& kind = "http");
absl::Status ParseWrkOutput(const std::string& text, v1::RepetitionResult* out);
absl::Status ParsePgbenchOutput(const std::string& text, v1::RepetitionResult* out);
absl::Status ParseCommandOutput(const std::string& json, v1::RepetitionResult* out);

}  // namespace perfgate::agent
