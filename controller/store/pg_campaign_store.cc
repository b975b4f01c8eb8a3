#include "controller/store/pg_campaign_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status/macros.h"
#include "controller/queue/job_state.h"
#include "controller/store/pg_queue_tx.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {
namespace {

constexpr char kCampaignColumns[] =
    "id, project, branch, commit_sha, kind, suite_name, extract(epoch from created_at)::float8";

void CampaignFromRow(const pqxx::row& r, v1::Campaign* c) {
  c->set_id(r[0].as<int64_t>());
  c->set_project(r[1].as<std::string>());
  c->set_branch(r[2].as<std::string>());
  c->set_commit(r[3].as<std::string>());
  c->set_kind(ParseRunKind(r[4].as<std::string>()));
  c->set_suite_name(r[5].as<std::string>());
  SetTimestamp(r[6], c->mutable_created_at());
}

// The tiers of the campaigns in `c` (by id), with their runs' states; then each one's state.
void LoadTiers(pqxx::work& tx, std::vector<v1::Campaign*> cs) {
  if (cs.empty()) return;
  std::vector<int64_t> ids;
  for (const v1::Campaign* c : cs) ids.push_back(c->id());
  auto rows =
      Exec(tx,
           "SELECT t.campaign_id, t.name, t.run_id, t.hosts, t.params::text, r.state, "
           "r.verdict, extract(epoch from r.finished_at)::float8, r.analysed_at IS NOT NULL "
           "FROM campaign_tiers t "
           "JOIN runs r ON r.id = t.run_id WHERE t.campaign_id = ANY($1::bigint[]) "
           "ORDER BY t.campaign_id, t.idx",
           BigintArray(ids));
  for (const auto& row : rows) {
    auto it = std::find_if(cs.begin(), cs.end(),
                           [&](const v1::Campaign* c) { return c->id() == row[0].as<int64_t>(); });
    v1::Campaign* c = *it;
    v1::CampaignTier* t = c->add_tiers();
    t->set_name(row[1].as<std::string>());
    t->set_run_id(row[2].as<int64_t>());
    t->set_hosts(row[3].as<int>());
    LabelsFromJson(row[4].as<std::string>(), t->mutable_params());
    t->set_state(ParseRunState(row[5].as<std::string>()));
    t->set_verdict(row[6].as<std::string>());
    t->set_analysed(row[8].as<bool>());
    if (!row[7].is_null() &&
        (!c->has_finished_at() || row[7].as<double>() > c->finished_at().seconds()))
      SetTimestamp(row[7], c->mutable_finished_at());
  }
  for (v1::Campaign* c : cs) {
    c->set_state(CampaignState(*c));
    if (IsTerminal(c->state()) == false) c->clear_finished_at();
  }
}

absl::StatusOr<v1::Campaign> LoadCampaign(pqxx::work& tx, int64_t id) {
  auto rows =
      Exec(tx, absl::StrCat("SELECT ", kCampaignColumns, " FROM campaigns WHERE id = $1"), id);
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("campaign ", id, " not found"));
  v1::Campaign c;
  CampaignFromRow(rows[0], &c);
  LoadTiers(tx, {&c});
  return c;
}

}  // namespace

absl::StatusOr<int64_t> InsertCampaign(pqxx::work& tx, const v1::Campaign& c,
                                       std::vector<int64_t>* run_ids) {
  const int64_t id =
      Exec(tx,
           "INSERT INTO campaigns (project, branch, commit_sha, kind, suite_name) "
           "VALUES ($1, $2, $3, $4, $5) RETURNING id",
           c.project(), c.branch(), c.commit(), RunKindName(c.kind()), c.suite_name())[0][0]
          .as<int64_t>();
  for (int i = 0; i < c.tiers_size(); ++i) {
    const v1::CampaignTier& t = c.tiers(i);
    ASSIGN_OR_RETURN(int64_t run_id, pgq::InsertRun(tx, t.spec()));
    if (run_ids) run_ids->push_back(run_id);
    Exec(tx,
         "INSERT INTO campaign_tiers (campaign_id, idx, name, run_id, hosts, params) "
         "VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
         id, i, t.name(), run_id, static_cast<int>(t.hosts()), LabelsToJson(t.params()));
  }
  return id;
}

absl::StatusOr<v1::Campaign> PgCampaignStore::SubmitCampaign(const v1::Campaign& c,
                                                             const Submission& by) {
  v1::Campaign out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    if (!by.request_id.empty()) {
      // Concurrent retries of one request wait here for each other; the first inserts.
      Exec(tx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 18))",
           by.submitted_by + "\n" + by.request_id);
      auto prior = Exec(tx,
                        "SELECT id, request_digest FROM campaigns WHERE submitted_by = $1 AND "
                        "request_id = $2",
                        by.submitted_by, by.request_id);
      if (!prior.empty()) {
        const int64_t id = prior[0][0].as<int64_t>();
        if (prior[0][1].as<std::string>() != by.request_digest)
          return absl::AlreadyExistsError(
              absl::StrCat("request_id: '", by.request_id, "' was used for campaign ", id,
                           ", which had another request; use a new request_id"));
        ASSIGN_OR_RETURN(out, LoadCampaign(tx, id));
        out.set_duplicate(true);
        return absl::OkStatus();
      }
    }
    ASSIGN_OR_RETURN(int64_t id, InsertCampaign(tx, c));
    Exec(tx,
         "UPDATE campaigns SET submitted_by = $2, request_id = NULLIF($3, ''), request_digest = "
         "NULLIF($4, '') WHERE id = $1",
         id, by.submitted_by, by.request_id, by.request_digest);
    ASSIGN_OR_RETURN(out, LoadCampaign(tx, id));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Campaign> PgCampaignStore::GetCampaign(int64_t id) {
  v1::Campaign out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    ASSIGN_OR_RETURN(out, LoadCampaign(tx, id));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListCampaignsResponse> PgCampaignStore::ListCampaigns(
    const v1::ListCampaignsRequest& req) {
  const int limit = req.limit() <= 0 ? 50 : std::min(req.limit(), 500);
  v1::ListCampaignsResponse out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto rows = Exec(tx,
                     absl::StrCat("SELECT ", kCampaignColumns,
                                  " FROM campaigns WHERE ($1 = '' OR project = $1) AND "
                                  "($2 = '' OR branch = $2) ORDER BY id DESC LIMIT $3"),
                     req.project(), req.branch(), limit);
    std::vector<v1::Campaign*> cs;
    for (const auto& row : rows) {
      v1::Campaign* c = out.add_campaigns();
      CampaignFromRow(row, c);
      cs.push_back(c);
    }
    LoadTiers(tx, cs);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<StopOrder>> PgCampaignStore::CancelCampaign(int64_t id,
                                                                       const std::string& actor) {
  std::vector<StopOrder> stops;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    stops.clear();
    auto rows =
        Exec(tx, "SELECT run_id FROM campaign_tiers WHERE campaign_id = $1 ORDER BY idx", id);
    if (rows.empty() && Exec(tx, "SELECT 1 FROM campaigns WHERE id = $1", id).empty())
      return absl::NotFoundError(absl::StrCat("campaign ", id, " not found"));
    for (const auto& row : rows) {
      RETURN_IF_ERROR(pgq::CancelRunTx(tx, row[0].as<int64_t>(),
                                       absl::StrCat("campaign ", id, " cancelled"), &stops));
      Exec(tx,
           "UPDATE runs SET cancelled_by = $2 WHERE id = $1 AND cancelled_by = '' AND "
           "state NOT IN ('SUCCEEDED', 'FAILED')",
           row[0].as<int64_t>(), actor);
    }
    return absl::OkStatus();
  }));
  return stops;
}

absl::StatusOr<int64_t> PgCampaignStore::CampaignOfRun(int64_t run_id) {
  int64_t out = 0;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto rows = Exec(tx, "SELECT campaign_id FROM campaign_tiers WHERE run_id = $1", run_id);
    out = rows.empty() ? 0 : rows[0][0].as<int64_t>();
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace perfgate::controller
