// The controller's own Prometheus metrics. Labelled series are looked up once, here; label
// values are bounded (states, method names), never ids. Safe for concurrent use.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace perfgate::controller {

class ControllerMetrics {
 public:
  ControllerMetrics();

  std::shared_ptr<prometheus::Registry> registry() { return registry_; }
  // Jobs per state (all states known to the state machine are pre-created at 0).
  void SetJobsByState(const std::map<std::string, int64_t>& counts);
  // The store's bytes per kind of data (RetentionStore::Usage), and what retention removed.
  void SetStoreBytes(const std::map<std::string, int64_t>& bytes);
  prometheus::Counter& retention_removed_bytes(const std::string& kind);
  prometheus::Histogram& dispatch_latency() { return *dispatch_latency_; }
  prometheus::Counter& claims() { return *claims_; }
  prometheus::Gauge& agents_connected() { return *agents_connected_; }
  // The private PostgreSQL (controller/store/postgres_supervisor.h): up, and restarts.
  prometheus::Gauge& postgres_up() { return *postgres_up_; }
  prometheus::Counter& postgres_restarts() { return *postgres_restarts_; }
  // The latency histogram of one RPC method; methods outside the known set share "other".
  prometheus::Histogram& rpc_latency(const std::string& method);
  // Calls refused because the caller's credentials do not allow them (PERMISSION_DENIED): an
  // agent acting for another agent's attempt, a token without the role a call needs.
  prometheus::Counter& calls_refused(const std::string& method);
  // Webhooks by forge and result (accepted, duplicate, ignored, refused, error).
  prometheus::Counter& webhooks(const std::string& forge, const std::string& result);
  prometheus::Histogram& webhook_latency() { return *webhook_latency_; }
  // Outbox sends by result (sent, retry, refused).
  prometheus::Counter& outbox_sends(const std::string& result);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::map<std::string, prometheus::Gauge*> jobs_by_state_;
  prometheus::Family<prometheus::Gauge>* store_bytes_;
  prometheus::Family<prometheus::Counter>* retention_removed_;
  prometheus::Histogram* dispatch_latency_;
  prometheus::Counter* claims_;
  prometheus::Gauge* agents_connected_;
  prometheus::Gauge* postgres_up_;
  prometheus::Counter* postgres_restarts_;
  std::map<std::string, prometheus::Histogram*> rpc_latency_;
  std::map<std::string, prometheus::Counter*> calls_refused_;
  std::map<std::pair<std::string, std::string>, prometheus::Counter*> webhooks_;
  prometheus::Histogram* webhook_latency_;
  std::map<std::string, prometheus::Counter*> outbox_sends_;
};

// Observes the lifetime of a scope into a histogram (seconds).
class ScopedLatency {
 public:
  explicit ScopedLatency(prometheus::Histogram& h)
      : h_(h), start_(std::chrono::steady_clock::now()) {}
  ~ScopedLatency() {
    h_.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }

 private:
  prometheus::Histogram& h_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace perfgate::controller
