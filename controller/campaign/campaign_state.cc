#include "controller/campaign/campaign_store.h"

namespace perfgate::controller {

v1::RunState CampaignState(const v1::Campaign& c) {
  bool open = false, started = false, failed = false, cancelled = false;
  for (const v1::CampaignTier& t : c.tiers()) {
    switch (t.state()) {
      case v1::RUN_STATE_QUEUED:
        open = true;
        break;
      case v1::RUN_STATE_RUNNING:
      case v1::RUN_STATE_CANCELLING:
        open = started = true;
        break;
      case v1::RUN_STATE_FAILED:
        failed = started = true;
        break;
      case v1::RUN_STATE_CANCELLED:
        cancelled = true;
        break;
      default:
        started = true;
        break;
    }
  }
  if (c.tiers().empty()) return v1::RUN_STATE_UNSPECIFIED;
  if (open) return started ? v1::RUN_STATE_RUNNING : v1::RUN_STATE_QUEUED;
  if (failed) return v1::RUN_STATE_FAILED;
  if (cancelled) return v1::RUN_STATE_CANCELLED;
  return v1::RUN_STATE_SUCCEEDED;
}

}  // namespace perfgate::controller
