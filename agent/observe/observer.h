// Everything a benchmark attempt observes besides the load generator, around each measured
// window: host figures from /proc, the suite's Prometheus queries, pprof captures and
// PostgreSQL statistics. Start() after the stack is up (it may start a private Prometheus),
// BeginWindow()/EndWindow() around each repetition's load, Stop() before the stack goes down.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "agent/exec/bench_context.h"
#include "agent/observe/host_stats.h"
#include "agent/observe/pg_stats.h"
#include "agent/observe/profiles.h"
#include "agent/observe/prometheus.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

struct ObserveConfig {
  std::string prometheus_url;                 // an existing Prometheus; "" = a private one
  std::string prometheus_bin = "prometheus";  // for the private one
  // Wait after a window ends before querying, so the last scrape inside it has landed.
  absl::Duration prometheus_settle = absl::Milliseconds(1500);
};

class Observer {
 public:
  Observer(const v1::ObserveSpec& spec, BenchContext& ctx, ObserveConfig cfg);
  ~Observer();

  // FAILED_PRECONDITION when a private Prometheus is needed and cannot be started.
  absl::Status Start();
  void BeginWindow(v1::RepetitionResult* out);
  void EndWindow(v1::RepetitionResult* out);
  // Heap profiles of the services with profiles, at `point` inside the window (soak.start).
  void HeapSnapshot(const std::string& point);
  void Stop();

 private:
  const v1::ObserveSpec spec_;
  BenchContext& ctx_;
  const ObserveConfig cfg_;
  std::unique_ptr<PrivatePrometheus> private_prom_;
  std::unique_ptr<PromClient> prom_;
  std::unique_ptr<ProfileCapture> profiles_;
  std::unique_ptr<PgStatsCapture> pg_;
  std::optional<HostSnapshot> host_start_;
  absl::Time window_start_;
};

}  // namespace perfgate::agent
