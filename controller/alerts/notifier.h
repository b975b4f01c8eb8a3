// Delivers alerts: to an outgoing webhook (the alert as JSON, signed with HMAC-SHA256 of the
// "TIMESTAMP.BODY" under a shared secret, headers X-Perfgate-Timestamp: unix seconds and
// X-Perfgate-Signature: sha256=<hex>) and to Alertmanager's
// v2 API (POST /api/v2/alerts). Delivery state lives with the alert in the database; failures
// are retried with backoff up to a limit, so a receiver that is down for a while loses nothing.
// Delivery is at least once: receivers can tell repeats by X-Perfgate-Alert-Id / the alert_id
// label.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "common/time/clock.h"
#include "controller/analysis/analysis_store.h"
#include "controller/events/event_bus.h"

namespace perfgate::controller {

struct NotifierOptions {
  std::string webhook_url;       // http://host:port/path; "" off
  std::string webhook_secret;    // HMAC key; "" sends unsigned
  std::string alertmanager_url;  // http://host:port; "" off
  absl::Duration poll = absl::Seconds(2);
  absl::Duration timeout = absl::Seconds(5);
  int max_attempts = 10;  // per alert; backoff doubles from 2 s, at most 5 min
  // How long a firing alert stays active in Alertmanager without a resolve.
  absl::Duration alertmanager_active_for = absl::Hours(24 * 7);
};

class Notifier {
 public:
  Notifier(AnalysisStore& store, NotifierOptions opts,
           const common::Clock& clock = common::RealClock::Get())
      : store_(store), opts_(std::move(opts)), clock_(clock) {}
  ~Notifier() { Stop(); }
  void Start();
  void Stop();
  // Tries every due delivery once; returns how many succeeded.
  int RunOnce();

  // The bodies sent, exposed for tests.
  static std::string WebhookBody(const v1::Alert& a);
  // Alertmanager's alert: active from the alert's creation until `now` + active_for, or ending
  // `now` once resolved.
  static std::string AlertmanagerBody(const v1::Alert& a, absl::Duration active_for,
                                      absl::Time now);

 private:
  absl::Status Post(const std::string& url, const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers);

  AnalysisStore& store_;
  const NotifierOptions opts_;
  const common::Clock& clock_;
  EventBus stop_signal_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace perfgate::controller
