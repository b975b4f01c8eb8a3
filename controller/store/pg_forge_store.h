// ForgeStore over PostgreSQL (migration 0006_forge.sql). The outbox rows of a run's reports are
// marked due by a trigger on runs, in the transaction that changes the run.
#pragma once

#include "controller/forge/forge_store.h"
#include "controller/store/pg_pool.h"

namespace perfgate::controller {

class PgForgeStore : public ForgeStore {
 public:
  explicit PgForgeStore(PgPool& pool) : pool_(pool) {}

  absl::StatusOr<v1::Project> PutProject(const v1::Project& p, bool create) override;
  absl::StatusOr<v1::Project> GetProject(const std::string& name) override;
  absl::StatusOr<std::vector<v1::Project>> ListProjects() override;
  absl::StatusOr<v1::Project> RemoveProject(const std::string& name) override;
  absl::StatusOr<std::optional<v1::Project>> FindProject(const std::string& forge,
                                                         const ForgeEvent& e) override;
  absl::StatusOr<DeliveryResult> ApplyDelivery(const std::string& forge,
                                               const std::string& delivery_id, const ForgeEvent& e,
                                               const v1::Project* project,
                                               const DeliveryPlanner& plan,
                                               const ReplyFormatter& reply) override;
  absl::StatusOr<std::vector<OutboxItem>> ClaimOutbox(int limit, absl::Duration lease) override;
  absl::Status FinishOutbox(const OutboxItem& item, const SendOutcome& out) override;
  absl::StatusOr<std::vector<v1::OutboxEntry>> ListOutbox(const std::string& project,
                                                          const std::string& state,
                                                          int limit) override;

 private:
  PgPool& pool_;
};

}  // namespace perfgate::controller
