// Scale-tier campaigns (docs/campaigns.md): one run per tier of a suite at one commit. The runs
// are ordinary runs (queued, claimed, analysed, compared with the tier's own baseline through
// their JOB@TIER names); a campaign groups them and derives its state from theirs.
#pragma once

#include <cstdint>
#include <string>
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
  // Who submits a campaign, and the idempotency key of their request (both optional).
  struct Submission {
    std::string submitted_by;
    std::string request_id;      // "" none
    std::string request_digest;  // of the request as sent: a reused id with another is refused
  };
  // Stores the campaign and one run per tier (each tier's spec already validated, with the
  // campaign's project, branch, commit, kind and suite name) in one transaction. With a
  // request_id the caller used before: that campaign with duplicate set, or ALREADY_EXISTS
  // when the digest differs.
  virtual absl::StatusOr<v1::Campaign> SubmitCampaign(const v1::Campaign& c,
                                                      const Submission& by) = 0;
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
