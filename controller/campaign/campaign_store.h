// Scale-tier campaigns (docs/campaigns.md): one run per tier of a suite at one commit. The runs
// are ordinary runs (queued, claimed, analysed, compared with the tier's own baseline through
// their JOB@TIER names); a campaign groups them and derives its state from theirs.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/queue/job_store.h"
#include "perfgate/v1/campaign.pb.h"

namespace perfgate::controller {

// QUEUED until a tier's run has started, RUNNING while any is open, then FAILED if any failed,
// else CANCELLED if any was cancelled, else SUCCEEDED.
v1::RunState CampaignState(const v1::Campaign& c);

class CampaignStore {
 public:
  virtual ~CampaignStore() = default;
  // Stores the campaign and one run per tier (each tier's spec already validated, with the
  // campaign's project, branch, commit, kind and suite name) in one transaction.
  virtual absl::StatusOr<v1::Campaign> SubmitCampaign(const v1::Campaign& c) = 0;
  // NOT_FOUND for an unknown id.
  virtual absl::StatusOr<v1::Campaign> GetCampaign(int64_t id) = 0;
  virtual absl::StatusOr<v1::ListCampaignsResponse> ListCampaigns(
      const v1::ListCampaignsRequest& req) = 0;
  // Cancels every tier's run (idempotent); the live attempts whose agents must stop.
  virtual absl::StatusOr<std::vector<StopOrder>> CancelCampaign(int64_t id,
                                                                const std::string& actor) = 0;
  // The campaign run `run_id` is a tier of; 0 when none.
  virtual absl::StatusOr<int64_t> CampaignOfRun(int64_t run_id) = 0;
};

}  // namespace perfgate::controller
