// Prometheus for a benchmark attempt: a private `prometheus` server (Debian's package) scraping
// the attempt's targets every second on loopback with its own temporary storage, or one given
// in the agent's config; and the HTTP API queries run over each repetition's window.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/exec/bench_context.h"
#include "common/wire/upload_limits.h"
#include "perfgate/v1/results.pb.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

class PrivatePrometheus {
 public:
  explicit PrivatePrometheus(BenchContext& ctx) : ctx_(ctx) {}
  ~PrivatePrometheus() { Stop(); }

  // Writes prometheus.yml for `targets` (templates expanded) under `dir`, starts the server on
  // a free loopback port and waits until it is ready and has scraped every target once.
  // FAILED_PRECONDITION (saying why) when it cannot.
  absl::Status Start(const std::string& binary, const std::string& dir,
                     const google::protobuf::RepeatedPtrField<v1::ScrapeTarget>& targets);
  void Stop();
  const std::string& url() const { return url_; }

 private:
  BenchContext& ctx_;
  pid_t pid_ = 0;
  std::string url_;
};

struct PromSample {
  std::map<std::string, std::string> labels;
  std::vector<std::pair<int64_t, double>> points;  // (unix ms, value)
};

// A Prometheus HTTP API client (GET /api/v1/query and /api/v1/query_range).
class PromClient {
 public:
  explicit PromClient(std::string base_url) : base_(std::move(base_url)) {}
  // An instant query at `at`: one sample per series (scalar results have no labels).
  // UNAVAILABLE when Prometheus cannot be reached; INVALID_ARGUMENT with Prometheus's
  // error text when it refuses the query.
  absl::StatusOr<std::vector<PromSample>> Instant(const std::string& expr, absl::Time at) const;
  absl::StatusOr<std::vector<PromSample>> Range(const std::string& expr, absl::Time start,
                                                absl::Time end, absl::Duration step) const;

 private:
  absl::StatusOr<std::vector<PromSample>> Get(
      const std::string& path,
      const std::vector<std::pair<std::string, std::string>>& params) const;
  std::string base_;
};

// Parses an answer of the query API (the JSON body and HTTP status Prometheus sent): its samples,
// INVALID_ARGUMENT with Prometheus's error text when it refused the query, UNAVAILABLE when the
// body is not a well-formed answer. Any bytes are safe to pass (fuzzed: tests/fuzz/).
absl::StatusOr<std::vector<PromSample>> ParsePromAnswer(int http_status, const std::string& body);

// Runs the suite's queries over one repetition's window [start, end]: instant queries become
// measurements prom.NAME (exactly one value expected), range queries stored series; a query
// that fails or returns nothing becomes a gap naming Prometheus's error. A repetition keeps at
// most `max_series` series and `max_points` points in all (what the controller takes, by
// default); the series past them are dropped with a gap saying how many.
struct SeriesCaps {
  int max_series = common::kMaxSeriesPerRepetition;
  size_t max_points = common::kMaxSeriesPointsPerRepetition;
};
void RunPromQueries(const PromClient& client,
                    const google::protobuf::RepeatedPtrField<v1::PromQuery>& queries,
                    absl::Time start, absl::Time end, v1::RepetitionResult* out,
                    const SeriesCaps& caps = {});

}  // namespace perfgate::agent
