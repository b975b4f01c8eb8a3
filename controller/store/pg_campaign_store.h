// CampaignStore over PostgreSQL (migration 0009): a campaign row and a tier row per run; every
// tier's state and verdict are read from its run.
#pragma once

#include "controller/campaign/campaign_store.h"
#include "controller/store/pg_pool.h"

namespace perfgate::controller {

// Inserts the campaign and one run per tier inside `tx` (schedules and webhooks submit through
// it); its id, and the tiers' run ids in `run_ids` when given.
absl::StatusOr<int64_t> InsertCampaign(pqxx::work& tx, const v1::Campaign& c,
                                       std::vector<int64_t>* run_ids = nullptr);

class PgCampaignStore : public CampaignStore {
 public:
  explicit PgCampaignStore(PgPool& pool) : pool_(pool) {}
  absl::StatusOr<v1::Campaign> SubmitCampaign(const v1::Campaign& c, const Submission& by) override;
  absl::StatusOr<v1::Campaign> GetCampaign(int64_t id) override;
  absl::StatusOr<v1::ListCampaignsResponse> ListCampaigns(
      const v1::ListCampaignsRequest& req) override;
  absl::StatusOr<std::vector<StopOrder>> CancelCampaign(int64_t id,
                                                        const std::string& actor) override;
  absl::StatusOr<int64_t> CampaignOfRun(int64_t run_id) override;

 private:
  PgPool& pool_;
};

}  // namespace perfgate::controller
