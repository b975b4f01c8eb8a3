#include "controller/store/pg_schedule_store.h"

#include "absl/strings/str_cat.h"
#include "common/status/macros.h"
#include "common/time/cron.h"
#include "controller/queue/job_state.h"
#include "controller/store/pg_campaign_store.h"
#include "controller/store/pg_queue_tx.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {
namespace {

constexpr char kColumns[] =
    "id, spec, paused, extract(epoch from next_fire_at)::float8, "
    "extract(epoch from last_fired_at)::float8, coalesce(last_run_id, 0), "
    "coalesce(last_campaign_id, 0), last_error, extract(epoch from created_at)::float8";

double Epoch(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }

v1::Schedule FromRow(const pqxx::row& r, bool with_spec) {
  v1::Schedule s;
  ParseProto(r[1], &s);
  if (!with_spec) {
    s.clear_campaign();
    s.clear_run();
  }
  s.set_id(r[0].as<int64_t>());
  s.set_paused(r[2].as<bool>());
  SetTimestamp(r[3], s.mutable_next_fire_at());
  SetTimestamp(r[4], s.mutable_last_fired_at());
  s.set_last_run_id(r[5].as<int64_t>());
  s.set_last_campaign_id(r[6].as<int64_t>());
  s.set_last_error(r[7].as<std::string>());
  SetTimestamp(r[8], s.mutable_created_at());
  return s;
}

absl::StatusOr<v1::Schedule> Load(pqxx::work& tx, int64_t id) {
  auto rows = Exec(tx, absl::StrCat("SELECT ", kColumns, " FROM schedules WHERE id = $1"), id);
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("schedule ", id, " not found"));
  return FromRow(rows[0], false);
}

}  // namespace

absl::StatusOr<v1::Schedule> PgScheduleStore::AddSchedule(const v1::Schedule& s) {
  v1::Schedule out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    std::string buf;
    const double next = s.next_fire_at().seconds() + s.next_fire_at().nanos() / 1e9;
    const int64_t id =
        Exec(tx,
             "INSERT INTO schedules (cron, project, branch, kind, suite_name, spec, paused, "
             "next_fire_at) VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8)) RETURNING id",
             s.cron(), s.project(), s.branch(), RunKindName(s.kind()), s.suite_name(),
             ProtoBytes(s, &buf), s.paused(), next)[0][0]
            .as<int64_t>();
    ASSIGN_OR_RETURN(out, Load(tx, id));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::Schedule>> PgScheduleStore::ListSchedules(bool with_specs) {
  std::vector<v1::Schedule> out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    for (const auto& r : Exec(tx, absl::StrCat("SELECT ", kColumns, " FROM schedules ORDER BY id")))
      out.push_back(FromRow(r, with_specs));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Schedule> PgScheduleStore::SetPaused(int64_t id, bool paused) {
  v1::Schedule out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto row = Exec(tx, "SELECT cron FROM schedules WHERE id = $1 FOR UPDATE", id);
    if (row.empty()) return absl::NotFoundError(absl::StrCat("schedule ", id, " not found"));
    ASSIGN_OR_RETURN(common::CronSchedule cron,
                     common::CronSchedule::Parse(row[0][0].as<std::string>()));
    // Resuming starts from the next slot: what was missed while paused is not made up.
    Exec(tx,
         "UPDATE schedules SET paused = $2, next_fire_at = CASE WHEN $2 THEN next_fire_at ELSE "
         "to_timestamp($3) END WHERE id = $1",
         id, paused, Epoch(cron.Next(absl::Now())));
    ASSIGN_OR_RETURN(out, Load(tx, id));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::Schedule> PgScheduleStore::RemoveSchedule(int64_t id) {
  v1::Schedule out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    ASSIGN_OR_RETURN(out, Load(tx, id));
    Exec(tx, "DELETE FROM schedules WHERE id = $1", id);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<v1::Schedule>> PgScheduleStore::DueSchedules(int limit) {
  std::vector<v1::Schedule> out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    for (const auto& r :
         Exec(tx,
              absl::StrCat("SELECT ", kColumns,
                           " FROM schedules WHERE NOT paused AND next_fire_at <= now() "
                           "ORDER BY next_fire_at LIMIT $1"),
              limit))
      out.push_back(FromRow(r, true));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<bool> PgScheduleStore::Fire(const FireOrder& o) {
  bool fired = false;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    fired = false;
    // Still due at the slot we saw, and no other controller in the middle of firing it.
    auto rows = Exec(tx,
                     "SELECT spec FROM schedules WHERE id = $1 AND NOT paused AND "
                     "abs(extract(epoch from next_fire_at) - $2) < 0.001 "
                     "FOR UPDATE SKIP LOCKED",
                     o.id, Epoch(o.slot));
    if (rows.empty()) return absl::OkStatus();
    v1::Schedule s;
    if (!ParseProto(rows[0][0], &s))
      return absl::InternalError(absl::StrCat("schedule ", o.id, ": stored spec unreadable"));
    int64_t run_id = 0, campaign_id = 0;
    if (o.error.empty()) {
      if (s.has_run()) {
        v1::RunSpec spec = s.run();
        spec.set_commit(o.commit);
        spec.set_submitted_by(absl::StrCat("schedule ", o.id));
        ASSIGN_OR_RETURN(run_id, pgq::InsertRun(tx, spec));
      } else {
        v1::Campaign c = s.campaign().campaign();
        c.set_commit(o.commit);
        for (v1::CampaignTier& t : *c.mutable_tiers()) {
          t.mutable_spec()->set_commit(o.commit);
          t.mutable_spec()->set_submitted_by(absl::StrCat("schedule ", o.id));
        }
        ASSIGN_OR_RETURN(campaign_id, InsertCampaign(tx, c));
      }
    }
    Exec(tx,
         "UPDATE schedules SET next_fire_at = to_timestamp($2), last_fired_at = now(), "
         "last_run_id = CASE WHEN $5 THEN nullif($3, 0) ELSE last_run_id END, "
         "last_campaign_id = CASE WHEN $5 THEN nullif($4, 0) ELSE last_campaign_id END, "
         "last_error = $6 WHERE id = $1",
         o.id, o.next == absl::InfiniteFuture() ? 253402300799.0 : Epoch(o.next), run_id,
         campaign_id, o.error.empty(), o.error);
    fired = true;
    return absl::OkStatus();
  }));
  return fired;
}

}  // namespace perfgate::controller
