// Sends the outbox (forge_store.h): wakes on the database's "outbox" event (or every `poll`),
// claims due rows, renders each from the run's current state (so a run that moved three times
// while a forge was down is reported once, as it is now), sends it with the forge's client and
// records the answer. A row whose forge has no client configured waits (retried every 5 min)
// and says so in its last error.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/time/clock.h"
#include "controller/analysis/analysis_store.h"
#include "controller/campaign/campaign_store.h"
#include "controller/events/event_bus.h"
#include "controller/forge/forge_client.h"
#include "controller/forge/forge_store.h"
#include "controller/metrics/controller_metrics.h"
#include "controller/queue/job_store.h"
#include "controller/queue/result_store.h"

namespace perfgate::controller {

struct OutboxSenderOptions {
  absl::Duration poll = absl::Seconds(5);  // backstop; the trigger's NOTIFY wakes it
  absl::Duration lease = absl::Seconds(60);
  int batch = 16;
  std::string external_url;  // links to pages
};

class OutboxSender {
 public:
  OutboxSender(ForgeStore& forge, JobStore& jobs, AnalysisStore& analysis, ResultStore& results,
               CampaignStore& campaigns,
               std::map<std::string, std::unique_ptr<ForgeClient>> clients, EventBus& wake,
               ControllerMetrics& metrics, OutboxSenderOptions opts,
               const common::Clock& clock = common::RealClock::Get())
      : forge_(forge),
        jobs_(jobs),
        analysis_(analysis),
        results_(results),
        campaigns_(campaigns),
        clients_(std::move(clients)),
        wake_(wake),
        metrics_(metrics),
        opts_(std::move(opts)),
        clock_(clock) {}
  ~OutboxSender() { Stop(); }
  void Start();
  void Stop();
  // Sends every due row once; returns how many were sent.
  int RunOnce();
  void SetExternalUrl(const std::string& url) { opts_.external_url = url; }

  // What a row sends, from the stores' current state. NOT_FOUND when its run is gone.
  absl::StatusOr<OutboxContent> Render(const OutboxItem& item);

 private:
  absl::StatusOr<ReportInput> Input(int64_t run_id, int64_t superseded_by);
  SendOutcome SendOne(const OutboxItem& item);

  ForgeStore& forge_;
  JobStore& jobs_;
  AnalysisStore& analysis_;
  ResultStore& results_;
  CampaignStore& campaigns_;
  std::map<std::string, std::unique_ptr<ForgeClient>> clients_;
  EventBus& wake_;
  ControllerMetrics& metrics_;
  OutboxSenderOptions opts_;
  const common::Clock& clock_;
  EventBus stop_signal_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace perfgate::controller
