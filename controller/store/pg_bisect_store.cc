#include "controller/store/pg_bisect_store.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "common/status/macros.h"
#include "controller/bisect/bisect_plan.h"
#include "controller/store/pg_queue_tx.h"
#include "controller/store/pg_util.h"
#include "perfgate/v1/forge.pb.h"

namespace perfgate::controller {
namespace {

constexpr char kBisectionColumns[] =
    "id, doc::text, extract(epoch from created_at)::float8, extract(epoch from "
    "finished_at)::float8";

absl::StatusOr<v1::Bisection> FromRow(const pqxx::row& r) {
  v1::Bisection b;
  auto st = google::protobuf::util::JsonStringToMessage(r[1].as<std::string>(), &b);
  if (!st.ok()) return absl::DataLossError("stored bisection unreadable: " + st.ToString());
  b.set_id(r[0].as<int64_t>());
  SetTimestamp(r[2], b.mutable_created_at());
  SetTimestamp(r[3], b.mutable_finished_at());
  return b;
}

// The state column: LISTING, RUNNING, ... (the partial index names them).
std::string StateColumn(v1::BisectionState s) { return v1::BisectionState_Name(s).substr(16); }

absl::StatusOr<std::string> ToJson(const v1::Bisection& b) {
  std::string json;
  auto st = google::protobuf::util::MessageToJsonString(b, &json);
  if (!st.ok()) return absl::InternalError("cannot encode bisection: " + st.ToString());
  return json;
}

absl::Status Save(pqxx::work& tx, const v1::Bisection& b) {
  ASSIGN_OR_RETURN(std::string json, ToJson(b));
  Exec(tx,
       "UPDATE bisections SET doc = $2::jsonb, state = $3, finished_at = CASE WHEN $4 THEN "
       "coalesce(finished_at, now()) ELSE NULL END WHERE id = $1",
       b.id(), json, StateColumn(b.state()), IsFinished(b.state()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Bisection> PgBisectStore::CreateBisection(const v1::Bisection& in,
                                                             const v1::RunSpec& listing) {
  v1::Bisection b = in;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    b = in;
    if (b.change_point_id() != 0 &&
        !Exec(tx, "SELECT 1 FROM bisections WHERE change_point_id = $1", b.change_point_id())
             .empty()) {
      return absl::AlreadyExistsError(
          absl::StrCat("change point ", b.change_point_id(), " has a bisection already"));
    }
    ASSIGN_OR_RETURN(std::string json, ToJson(b));
    auto r = Exec(tx,
                  "INSERT INTO bisections (project, suite_name, state, change_point_id, doc) "
                  "VALUES ($1, $2, $3, nullif($4, 0), $5::jsonb) RETURNING id, "
                  "extract(epoch from created_at)::float8",
                  b.project(), b.suite_name(), StateColumn(b.state()), b.change_point_id(), json);
    b.set_id(r[0][0].as<int64_t>());
    SetTimestamp(r[0][1], b.mutable_created_at());
    v1::RunSpec spec = listing;
    spec.set_bisection_id(b.id());
    ASSIGN_OR_RETURN(int64_t run, pgq::InsertRun(tx, spec));
    b.set_active_run_id(run);
    if (b.change_point_id() != 0) {
      // Its siblings (other metrics of the same job that changed at the same run) share the
      // range: one bisection answers for all of them.
      Exec(tx, "UPDATE change_points SET bisection_id = $2 WHERE id = $1", b.change_point_id(),
           b.id());
      Exec(tx,
           "UPDATE change_points c SET bisection_id = $2 FROM change_points o WHERE o.id = $1 "
           "AND c.run_id = o.run_id AND c.job_name = o.job_name AND c.machine_class = "
           "o.machine_class AND c.bisection_id IS NULL",
           b.change_point_id(), b.id());
    }
    return Save(tx, b);
  }));
  return b;
}

absl::StatusOr<v1::Bisection> PgBisectStore::GetBisection(int64_t id) {
  v1::Bisection out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r =
        Exec(tx, absl::StrCat("SELECT ", kBisectionColumns, " FROM bisections WHERE id = $1"), id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("bisection ", id, " not found"));
    ASSIGN_OR_RETURN(out, FromRow(r[0]));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListBisectionsResponse> PgBisectStore::ListBisections(
    const v1::ListBisectionsRequest& req) {
  v1::ListBisectionsResponse out;
  const int limit = req.limit() <= 0 ? 50 : std::min(req.limit(), 500);
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.Clear();
    for (const auto& r : Exec(tx,
                              absl::StrCat("SELECT ", kBisectionColumns,
                                           " FROM bisections WHERE ($1 = '' OR project = $1) "
                                           "ORDER BY id DESC LIMIT $2"),
                              req.project(), limit)) {
      ASSIGN_OR_RETURN(*out.add_bisections(), FromRow(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<int64_t>> PgBisectStore::ActiveBisections() {
  std::vector<int64_t> out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    for (const auto& r :
         Exec(tx, "SELECT id FROM bisections WHERE state IN ('LISTING', 'RUNNING') ORDER BY id"))
      out.push_back(r[0].as<int64_t>());
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<bool> PgBisectStore::Update(int64_t id, const Advance& advance) {
  bool done = false;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    done = false;
    auto r = Exec(tx,
                  absl::StrCat("SELECT ", kBisectionColumns,
                               " FROM bisections WHERE id = $1 FOR UPDATE SKIP LOCKED"),
                  id);
    if (r.empty()) return absl::OkStatus();  // another replica has it (or it is gone)
    ASSIGN_OR_RETURN(v1::Bisection b, FromRow(r[0]));
    ASSIGN_OR_RETURN(std::optional<v1::RunSpec> run, advance(&b));
    if (run) {
      run->set_bisection_id(b.id());
      ASSIGN_OR_RETURN(int64_t run_id, pgq::InsertRun(tx, *run));
      b.set_active_run_id(run_id);
      if (!b.steps().empty() && b.steps().rbegin()->run_id() == 0)
        b.mutable_steps()->rbegin()->set_run_id(run_id);
    }
    RETURN_IF_ERROR(Save(tx, b));
    done = true;
    return absl::OkStatus();
  }));
  return done;
}

absl::StatusOr<std::vector<StopOrder>> PgBisectStore::CancelBisection(int64_t id,
                                                                      const std::string& actor) {
  std::vector<StopOrder> stops;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    stops.clear();
    auto r = Exec(
        tx, absl::StrCat("SELECT ", kBisectionColumns, " FROM bisections WHERE id = $1 FOR UPDATE"),
        id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("bisection ", id, " not found"));
    ASSIGN_OR_RETURN(v1::Bisection b, FromRow(r[0]));
    if (IsFinished(b.state())) {
      return absl::FailedPreconditionError(
          absl::StrCat("bisection ", id, " has finished (", StateText(b.state()), ")"));
    }
    for (const auto& run : Exec(tx,
                                "SELECT id FROM runs WHERE bisection_id = $1 AND state NOT IN "
                                "('SUCCEEDED', 'FAILED', 'CANCELLED')",
                                id)) {
      RETURN_IF_ERROR(pgq::CancelRunTx(tx, run[0].as<int64_t>(),
                                       absl::StrCat("bisection ", id, " cancelled"), &stops));
      Exec(tx, "UPDATE runs SET cancelled_by = $2 WHERE id = $1 AND cancelled_by = ''",
           run[0].as<int64_t>(), actor);
    }
    b.set_state(v1::BISECTION_STATE_CANCELLED);
    b.set_cancelled_by(actor);
    b.set_message(absl::StrCat("cancelled by ", actor.empty() ? "an operator" : actor, " after ",
                               b.steps_size(), " step(s)"));
    for (v1::BisectionStep& s : *b.mutable_steps())
      if (s.outcome() == "running") s.set_outcome("cancelled");
    return Save(tx, b);
  }));
  return stops;
}

absl::StatusOr<int64_t> PgBisectStore::NewestSuiteRun(const std::string& project,
                                                      const std::string& suite) {
  int64_t out = 0;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = Exec(tx,
                  "SELECT r.id FROM runs r WHERE r.project = $1 AND r.suite_name = $2 AND "
                  "r.state = 'SUCCEEDED' AND r.confirms_run_id IS NULL AND r.bisection_id IS NULL "
                  "AND EXISTS (SELECT 1 FROM jobs j WHERE j.run_id = r.id AND j.spec ? "
                  "'benchmark') ORDER BY r.id DESC LIMIT 1",
                  project, suite);
    if (r.empty()) {
      return absl::NotFoundError(absl::StrCat(
          "no succeeded run of suite '", suite, "' in project '", project,
          "' measured a benchmark job: submit one, or name the run to take the job from (--run)"));
    }
    out = r[0][0].as<int64_t>();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<BisectStore::ChangePointEnds> PgBisectStore::ChangePointRange(
    int64_t change_point_id) {
  ChangePointEnds out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto c = Exec(tx,
                  "SELECT project, branch, suite_name, machine_class, job_name, metric, run_id, "
                  "commit_sha, before_value, after_value, direction FROM change_points WHERE id = "
                  "$1",
                  change_point_id);
    if (c.empty()) {
      return absl::NotFoundError(absl::StrCat("change point ", change_point_id, " not found"));
    }
    v1::ChangePointRecord& r = out.record;
    r.set_id(change_point_id);
    r.set_project(c[0][0].as<std::string>());
    r.set_branch(c[0][1].as<std::string>());
    r.set_suite_name(c[0][2].as<std::string>());
    r.set_machine_class(c[0][3].as<std::string>());
    r.set_job_name(c[0][4].as<std::string>());
    r.set_metric(c[0][5].as<std::string>());
    r.set_run_id(c[0][6].as<int64_t>());
    r.set_commit(c[0][7].as<std::string>());
    r.set_before(c[0][8].as<double>());
    r.set_after(c[0][9].as<double>());
    r.set_direction(static_cast<v1::Direction>(c[0][10].as<int>()));
    // The series' baseline run just before the change.
    auto g = Exec(tx,
                  "SELECT r.commit_sha FROM metric_summaries s JOIN runs r ON r.id = s.run_id "
                  "WHERE s.metric = $1 AND s.job_name = $2 AND s.machine_class = $3 AND "
                  "r.kind = 'BASELINE' AND r.state = 'SUCCEEDED' AND r.project = $4 AND "
                  "r.branch = $5 AND r.suite_name = $6 AND r.id < $7 ORDER BY r.id DESC LIMIT 1",
                  r.metric(), r.job_name(), r.machine_class(), r.project(), r.branch(),
                  r.suite_name(), r.run_id());
    if (g.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "change point ", change_point_id, ": no baseline run precedes it to start from"));
    }
    out.good = g[0][0].as<std::string>();
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<int64_t>> PgBisectStore::ChangePointsToBisect(
    int limit, const std::vector<int64_t>& exclude) {
  std::vector<int64_t> out;
  RETURN_IF_ERROR(pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    // The projects that ask for it first (a handful; their rules are in the serialised body),
    // so that the limit counts only change points that will be bisected.
    std::vector<std::string> projects;
    for (const auto& r : Exec(tx, "SELECT name, body FROM projects")) {
      v1::Project p;
      if (ParseProto(r[1], &p) && p.bisect() == "auto") projects.push_back(r[0].as<std::string>());
    }
    if (projects.empty()) return absl::OkStatus();
    // Of the metrics that gate their job, one per run and job (the metrics that changed together
    // share a range; the median latency's, when it is one of them, speaks for them), none whose run
    // and job is being bisected or was refused (`exclude`).
    for (const auto& r :
         Exec(tx,
              "SELECT id FROM (SELECT DISTINCT ON (run_id, job_name, machine_class) id FROM "
              "change_points c WHERE bisection_id IS NULL AND state = 'open' AND gating AND "
              "project = "
              "ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM change_points o WHERE o.run_id = "
              "c.run_id AND o.job_name = c.job_name AND o.machine_class = c.machine_class AND "
              "(o.bisection_id IS NOT NULL OR o.id = ANY($3::bigint[]))) ORDER BY run_id, "
              "job_name, machine_class, (metric = 'http.latency.p50') DESC, id) x ORDER BY id "
              "DESC LIMIT $2",
              TextArray(projects), limit, BigintArray(exclude)))
      out.push_back(r[0].as<int64_t>());
    return absl::OkStatus();
  }));
  return out;
}

absl::Status PgBisectStore::SetCulprit(int64_t change_point_id, int64_t bisection_id,
                                       const std::string& culprit, bool notify) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    // The change point and its siblings (same run and job, not bisected on their own).
    Exec(tx,
         "UPDATE change_points c SET bisection_id = $2, culprit = $3 FROM change_points o WHERE "
         "o.id = $1 AND c.run_id = o.run_id AND c.job_name = o.job_name AND c.machine_class = "
         "o.machine_class AND (c.id = $1 OR c.bisection_id IS NULL OR c.bisection_id = $2)",
         change_point_id, bisection_id, culprit);
    // Their alerts name the culprit and, when told, go out again to the channels that had them.
    Exec(tx,
         "UPDATE alerts SET culprit = $2, webhook = CASE WHEN $3 AND webhook = 'delivered' THEN "
         "'pending' ELSE webhook END, alertmanager = CASE WHEN $3 AND alertmanager = "
         "'delivered' THEN 'pending' ELSE alertmanager END, delivery_attempts = CASE WHEN $3 "
         "AND (webhook = 'delivered' OR alertmanager = 'delivered') THEN 0 ELSE "
         "delivery_attempts END, next_delivery_at = CASE WHEN $3 THEN now() ELSE "
         "next_delivery_at END, updated_at = now() WHERE change_point_id IN (SELECT id FROM "
         "change_points WHERE bisection_id = $1)",
         bisection_id, culprit, notify);
    return absl::OkStatus();
  });
}

}  // namespace perfgate::controller
