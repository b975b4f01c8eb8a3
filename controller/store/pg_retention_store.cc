#include "controller/store/pg_retention_store.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "common/status/macros.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {
namespace {

int32_t Days(absl::Duration d) { return static_cast<int32_t>(absl::ToInt64Hours(d) / 24); }

// The next batch of runs finished before the cutoff whose `column` (logs_removed_at,
// profiles_removed_at) is unset, after `after` (ids ascending).
std::vector<int64_t> NextRuns(pqxx::work& tx, const char* column, absl::Duration age, int64_t after,
                              int limit) {
  auto rows = Exec(tx,
                   absl::StrCat("SELECT id FROM runs WHERE finished_at < now() - make_interval("
                                "secs => $1) AND ",
                                column, " IS NULL AND id > $2 ORDER BY id LIMIT $3"),
                   absl::ToDoubleSeconds(age), after, limit);
  std::vector<int64_t> ids;
  for (const auto& r : rows) ids.push_back(r[0].as<int64_t>());
  return ids;
}

// Which kind of data each table holds (a table not named here counts as "other").
const std::map<std::string, std::string>& TableKinds() {
  static const auto* k = new std::map<std::string, std::string>{
      {"log_chunks", "logs"},
      {"profiles", "profiles"},
      {"blobs", "profiles"},
      {"blob_chunks", "profiles"},
      {"repetitions", "measurements"},
      {"measurements", "measurements"},
      {"histograms", "measurements"},
      {"gaps", "measurements"},
      {"series", "measurements"},
      {"dbstats", "measurements"},
      {"faults", "measurements"},
      {"phases", "measurements"},
      {"comparisons", "analysis"},
      {"change_points", "analysis"},
      {"alerts", "analysis"},
      {"runs", "queue"},
      {"jobs", "queue"},
      {"attempts", "queue"},
      {"agents", "queue"},
      {"campaigns", "queue"},
      {"campaign_tiers", "queue"},
      {"schedules", "queue"},
      {"projects", "ci"},
      {"project_suites", "ci"},
      {"webhook_deliveries", "ci"},
      {"pull_requests", "ci"},
      {"forge_runs", "ci"},
      {"outbox", "ci"},
  };
  return *k;
}

}  // namespace

absl::StatusOr<v1::CollectGarbageResponse> PgRetentionStore::Collect(const RetentionAges& ages,
                                                                     bool dry_run,
                                                                     absl::Time deadline) {
  v1::CollectGarbageResponse resp;
  resp.set_dry_run(dry_run);
  auto* logs = resp.add_kinds();
  logs->set_kind("logs");
  logs->set_older_than_days(Days(ages.logs));
  bool done = true;
  if (ages.logs > absl::ZeroDuration()) {
    ASSIGN_OR_RETURN(done, CollectLogs(ages.logs, dry_run, deadline, logs));
  }
  auto* profiles = resp.add_kinds();
  profiles->set_kind("profiles");
  profiles->set_older_than_days(Days(ages.profiles));
  if (done && ages.profiles > absl::ZeroDuration()) {
    ASSIGN_OR_RETURN(done, CollectProfiles(ages.profiles, dry_run, deadline, profiles));
  }
  resp.set_more(!done);
  return resp;
}

absl::StatusOr<bool> PgRetentionStore::ForEachBatch(const char* column, absl::Duration age,
                                                    bool dry_run, absl::Time deadline,
                                                    const RemoveBatch& remove,
                                                    v1::CollectedKind* out) {
  int64_t after = 0;
  for (;;) {
    std::vector<int64_t> runs;
    Removed removed;
    // Counted after the commit: Transact runs the body again after a serialization failure.
    RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
      runs = NextRuns(tx, column, age, after, batch_);
      if (runs.empty()) return absl::OkStatus();
      const std::string ids = BigintArray(runs);
      removed = remove(tx, ids);
      if (!dry_run)
        Exec(tx, absl::StrCat("UPDATE runs SET ", column, " = now() WHERE id = ANY($1::bigint[])"),
             ids);
      return absl::OkStatus();
    }));
    if (runs.empty()) return true;
    out->set_runs(out->runs() + static_cast<int64_t>(runs.size()));
    out->set_items(out->items() + removed.items);
    out->set_bytes(out->bytes() + removed.bytes);
    after = runs.back();
    if (absl::Now() >= deadline) return false;
  }
}

absl::StatusOr<bool> PgRetentionStore::CollectLogs(absl::Duration age, bool dry_run,
                                                   absl::Time deadline, v1::CollectedKind* out) {
  return ForEachBatch(
      "logs_removed_at", age, dry_run, deadline,
      [dry_run](pqxx::work& tx, const std::string& ids) {
        auto r = Exec(tx,
                      dry_run ? "SELECT count(*), coalesce(sum(octet_length(data)), 0) FROM "
                                "log_chunks WHERE run_id = ANY($1::bigint[])"
                              : "WITH d AS (DELETE FROM log_chunks WHERE run_id = "
                                "ANY($1::bigint[]) RETURNING octet_length(data) AS n) SELECT "
                                "count(*), coalesce(sum(n), 0) FROM d",
                      ids);
        return Removed{r[0][0].as<int64_t>(), r[0][1].as<int64_t>()};
      },
      out);
}

absl::StatusOr<bool> PgRetentionStore::CollectProfiles(absl::Duration age, bool dry_run,
                                                       absl::Time deadline,
                                                       v1::CollectedKind* out) {
  return ForEachBatch(
      "profiles_removed_at", age, dry_run, deadline,
      [dry_run](pqxx::work& tx, const std::string& ids) {
        // The blobs only these runs' profiles name, locked against a results upload naming one
        // of them meanwhile (it takes FOR KEY SHARE on the blob it names).
        auto blobs = Exec(tx,
                          "SELECT b.sha256, b.size FROM blobs b WHERE b.sha256 IN (SELECT "
                          "sha256 FROM profiles WHERE run_id = ANY($1::bigint[])) AND NOT "
                          "EXISTS (SELECT 1 FROM profiles p WHERE p.sha256 = b.sha256 AND NOT "
                          "p.run_id = ANY($1::bigint[])) FOR UPDATE OF b",
                          ids);
        std::vector<std::string> unreferenced;
        Removed removed;
        for (const auto& b : blobs) {
          unreferenced.push_back(b[0].as<std::string>());
          removed.bytes += b[1].as<int64_t>();
        }
        auto n = Exec(tx,
                      dry_run ? "SELECT count(*) FROM profiles WHERE run_id = ANY($1::bigint[])"
                              : "WITH d AS (DELETE FROM profiles WHERE run_id = "
                                "ANY($1::bigint[]) RETURNING 1) SELECT count(*) FROM d",
                      ids);
        removed.items = n[0][0].as<int64_t>();
        // blob_chunks go with their blob (ON DELETE CASCADE).
        if (!dry_run)
          Exec(tx, "DELETE FROM blobs WHERE sha256 = ANY($1::text[])", TextArray(unreferenced));
        return removed;
      },
      out);
}

absl::StatusOr<v1::Storage> PgRetentionStore::Usage() {
  std::map<std::string, int64_t> kinds;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    kinds.clear();
    for (const auto& r : Exec(tx,
                              "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                              "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
                              "current_schema() AND c.relkind IN ('r', 'p')")) {
      auto k = TableKinds().find(r[0].as<std::string>());
      kinds[k == TableKinds().end() ? "other" : k->second] += r[1].as<int64_t>();
    }
    return absl::OkStatus();
  }));
  v1::Storage s;
  int64_t total = 0;
  for (const char* kind :
       {"logs", "profiles", "measurements", "analysis", "queue", "ci", "other"}) {
    auto* k = s.add_kinds();
    k->set_kind(kind);
    k->set_bytes(kinds[kind]);
    total += kinds[kind];
  }
  s.set_total_bytes(total);
  return s;
}

}  // namespace perfgate::controller
