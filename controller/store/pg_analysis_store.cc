// One file on purpose (a little over 500 lines): every method is one transaction of the
// AnalysisStore interface, over the same tables; splitting it would divide one schema's SQL.
#include "controller/store/pg_analysis_store.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "controller/queue/job_state.h"
#include "controller/store/pg_queue_tx.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {
namespace {

template <typename M>
absl::StatusOr<M> Decode(const pqxx::field& f, const char* what) {
  M m;
  if (!ParseProto(f, &m)) return absl::DataLossError(absl::StrCat("stored ", what, " unreadable"));
  return m;
}

pqxx::binarystring Bytes(const google::protobuf::Message& m, std::string* buf) {
  return ProtoBytes(m, buf);
}

void ChangePointFromRow(const pqxx::row& r, v1::ChangePointRecord* c) {
  c->set_id(r[0].as<int64_t>());
  c->set_project(r[1].as<std::string>());
  c->set_branch(r[2].as<std::string>());
  c->set_suite_name(r[3].as<std::string>());
  c->set_machine_class(r[4].as<std::string>());
  c->set_job_name(r[5].as<std::string>());
  c->set_metric(r[6].as<std::string>());
  c->set_run_id(r[7].as<int64_t>());
  c->set_commit(r[8].as<std::string>());
  c->set_before(r[9].as<double>());
  c->set_after(r[10].as<double>());
  c->set_p(r[11].as<double>());
  c->set_state(r[12].as<std::string>());
  c->set_note(r[13].as<std::string>());
  SetTimestamp(r[14], c->mutable_created_at());
  c->set_direction(static_cast<v1::Direction>(r[15].as<int>()));
  c->set_triaged_by(r[16].as<std::string>());
  c->set_bisection_id(r[17].as<int64_t>());
  c->set_culprit(r[18].as<std::string>());
  c->set_gating(r[19].as<bool>());
}

constexpr char kChangePointColumns[] =
    "id, project, branch, suite_name, machine_class, job_name, metric, run_id, commit_sha, "
    "before_value, after_value, p, state, note, extract(epoch from created_at)::float8, direction, "
    "triaged_by, coalesce(bisection_id, 0), culprit, gating";

absl::StatusOr<v1::Alert> AlertFromRow(const pqxx::row& r) {
  // id, body, state, webhook, alertmanager, last_error, note, delivery_attempts
  auto a = Decode<v1::Alert>(r[1], "alert");
  if (!a.ok()) return a.status();
  a->set_id(r[0].as<int64_t>());
  a->set_state(r[2].as<std::string>());
  a->set_webhook(r[3].as<std::string>());
  a->set_alertmanager(r[4].as<std::string>());
  a->set_last_error(r[5].as<std::string>());
  a->set_note(r[6].as<std::string>());
  SetTimestamp(r[8], a->mutable_created_at());
  a->set_triaged_by(r[9].as<std::string>());
  a->set_culprit(r[10].as<std::string>());
  return a;
}

constexpr char kAlertColumns[] =
    "id, body, state, webhook, alertmanager, last_error, note, delivery_attempts, "
    "extract(epoch from created_at)::float8, triaged_by, culprit";

// Inserts an alert (at most one per comparison metric or change point); sets its id. The id
// and delivery state live in columns (AlertFromRow reads them there), not in the body.
void InsertAlert(pqxx::work& tx, v1::Alert* a, const AnalysisOutcome& o) {
  a->set_webhook(o.webhook ? "pending" : "off");
  a->set_alertmanager(o.alertmanager ? "pending" : "off");
  std::string buf;
  auto r = Exec(tx,
                "INSERT INTO alerts (kind, run_id, comparison_id, change_point_id, job_name, "
                "metric, body, webhook, alertmanager) VALUES ($1, $2, nullif($3, 0), "
                "nullif($4, 0), $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING id",
                a->kind(), a->run_id(), a->comparison_id(), a->change_point_id(), a->job_name(),
                a->metric(), Bytes(*a, &buf), a->webhook(), a->alertmanager());
  if (!r.empty()) a->set_id(r[0][0].as<int64_t>());
}

}  // namespace

absl::StatusOr<std::vector<v1::Run>> PgAnalysisStore::RunsToAnalyse(int limit) {
  std::vector<v1::Run> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    for (const auto& r :
         Exec(tx,
              absl::StrCat("SELECT ", pgq::kRunColumns,
                           " FROM runs WHERE analysed_at IS NULL AND state IN ('SUCCEEDED', "
                           "'FAILED', 'CANCELLED') ORDER BY id LIMIT $1"),
              limit)) {
      pgq::RunFromRow(r, &out.emplace_back());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<RunSamples> PgAnalysisStore::LoadRunSamples(int64_t run_id) {
  RunSamples out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out = RunSamples{};
    auto r =
        Exec(tx, absl::StrCat("SELECT ", pgq::kRunColumns, " FROM runs WHERE id = $1"), run_id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
    pgq::RunFromRow(r[0], &out.run);
    for (const auto& j : Exec(tx,
                              "SELECT j.name, j.spec::text, x.attempt_id, a.agent_name FROM jobs j "
                              "CROSS JOIN LATERAL (SELECT results_attempt(j.id) AS attempt_id) x "
                              "LEFT JOIN attempts a ON a.id = x.attempt_id WHERE j.run_id = $1 "
                              "ORDER BY j.idx",
                              run_id)) {
      if (j[2].is_null()) continue;  // no results (a command job, or nothing measured)
      JobSamples js;
      js.job_name = j[0].as<std::string>();
      js.agent = j[3].is_null() ? "" : j[3].as<std::string>();
      if (google::protobuf::util::JsonStringToMessage(j[1].as<std::string>(), &js.spec).ok()) {
        for (const auto& l : js.spec.benchmark().limits()) js.limits.push_back(l);
      }
      const int64_t attempt = j[2].as<int64_t>();
      for (const auto& p : Exec(tx,
                                "SELECT valid, machine_class FROM repetitions WHERE attempt_id = "
                                "$1 ORDER BY repetition",
                                attempt)) {
        ++js.total;
        if (p[0].as<bool>()) {
          ++js.valid;
          js.machine_class = p[1].as<std::string>();
        }
      }
      for (const auto& m :
           Exec(tx,
                "SELECT m.name, m.unit, m.direction, m.value FROM measurements m JOIN "
                "repetitions p USING (attempt_id, repetition) WHERE m.attempt_id = $1 AND p.valid "
                "ORDER BY m.name, m.repetition",
                attempt)) {
        JobSamples::Metric& metric = js.metrics[m[0].as<std::string>()];
        metric.unit = m[1].as<std::string>();
        metric.direction = static_cast<v1::Direction>(m[2].as<int>());
        metric.values.push_back(m[3].as<double>());
      }
      out.jobs.push_back(std::move(js));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<int64_t>> PgAnalysisStore::BaselineRuns(const v1::Run& candidate,
                                                                   const std::string& branch,
                                                                   const std::string& job,
                                                                   const std::string& machine_class,
                                                                   int k) {
  std::vector<int64_t> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    for (const auto& r : Exec(tx,
                              "SELECT r.id FROM runs r WHERE r.kind = 'BASELINE' AND r.state = "
                              "'SUCCEEDED' AND r.project = $1 AND r.branch = $2 AND r.suite_name "
                              "= $3 AND r.id <> $4 AND EXISTS (SELECT 1 FROM jobs j JOIN "
                              "repetitions p ON p.job_id = j.id WHERE j.run_id = r.id AND j.name "
                              "= $5 AND p.machine_class = $6 AND p.valid) ORDER BY r.id DESC "
                              "LIMIT $7",
                              candidate.project(), branch, candidate.suite_name(), candidate.id(),
                              job, machine_class, k)) {
      out.push_back(r[0].as<int64_t>());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::map<std::string, std::vector<std::vector<double>>>>
PgAnalysisStore::NoiseSamples(const v1::Run& run, const std::string& branch, const std::string& job,
                              const std::string& machine_class, int runs) {
  std::map<std::string, std::vector<std::vector<double>>> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    std::map<std::pair<std::string, int64_t>, std::vector<double>> by;
    for (const auto& r :
         Exec(tx,
              // Baseline runs of the branch, and A/A runs measured against it.
              "WITH rs AS (SELECT id FROM runs WHERE ((kind = 'BASELINE' AND branch = $2) OR (aa "
              "AND baseline_branch = $2)) AND state = 'SUCCEEDED' AND project = $1 AND "
              "suite_name = $3 AND id <> $7 ORDER BY id DESC LIMIT $6) "
              "SELECT m.name, p.attempt_id, m.value FROM repetitions p JOIN jobs j ON j.id = "
              "p.job_id JOIN measurements m ON m.attempt_id = p.attempt_id AND m.repetition = "
              "p.repetition WHERE p.run_id IN (SELECT id FROM rs) AND j.name = $4 AND "
              "p.machine_class = $5 AND p.valid AND p.attempt_id = results_attempt(j.id)",
              run.project(), branch, run.suite_name(), job, machine_class, runs, run.id())) {
      by[{r[0].as<std::string>(), r[1].as<int64_t>()}].push_back(r[2].as<double>());
    }
    for (auto& [key, values] : by) out[key.first].push_back(std::move(values));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<v1::HdrHistogram>> PgAnalysisStore::Histograms(int64_t run_id,
                                                                          const std::string& job,
                                                                          const std::string& name) {
  std::vector<v1::HdrHistogram> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    for (const auto& r :
         Exec(tx,
              "SELECT h.data FROM jobs j JOIN repetitions p ON p.job_id = j.id AND p.attempt_id = "
              "results_attempt(j.id) JOIN histograms "
              "h ON h.attempt_id = p.attempt_id AND h.repetition = p.repetition WHERE j.run_id = "
              "$1 AND j.name = $2 AND h.name = $3 AND p.valid ORDER BY p.repetition",
              run_id, job, name)) {
      auto h = Decode<v1::HdrHistogram>(r[0], "histogram");
      if (!h.ok()) return h.status();
      out.push_back(*std::move(h));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::History> PgAnalysisStore::GetHistory(const v1::GetHistoryRequest& req) {
  if (req.suite_name().empty()) return absl::InvalidArgumentError("suite_name: is required");
  if (req.metric().empty()) return absl::InvalidArgumentError("metric: is required");
  if (req.limit() < 0 || req.limit() > 5000)
    return absl::InvalidArgumentError("limit: at most 5000");
  v1::History h;
  h.set_project(req.project());
  h.set_branch(req.branch().empty() ? "main" : req.branch());
  h.set_suite_name(req.suite_name());
  h.set_metric(req.metric());
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    h.clear_points();
    h.clear_change_points();
    // Points are the runs' summaries (metric_summaries, written as each run succeeds), newest
    // first: the cost follows `limit`, not the store. The project spelled out when given, so
    // that its condition is an index's.
    const std::string project = req.project().empty() ? "$1 = ''" : "r.project = $1";
    // Defaults for job and machine class: the newest baseline's that measured the metric.
    std::string job = req.job_name(), machine_class = req.machine_class();
    if (job.empty() || machine_class.empty()) {
      auto d = Exec(tx,
                    absl::StrCat("SELECT s.job_name, s.machine_class FROM metric_summaries s "
                                 "JOIN runs r ON r.id = s.run_id WHERE s.metric = $4 AND ($5 = '' "
                                 "OR s.job_name = $5) AND ($6 = '' OR s.machine_class = $6) AND "
                                 "r.kind = 'BASELINE' AND ",
                                 project,
                                 " AND r.branch = $2 AND r.suite_name = $3 ORDER BY s.run_id "
                                 "DESC LIMIT 1"),
                    req.project(), h.branch(), req.suite_name(), req.metric(), job, machine_class);
      if (d.empty()) {
        return absl::NotFoundError(absl::StrCat("no baseline run of suite ", req.suite_name(),
                                                " on branch ", h.branch(), " measured ",
                                                req.metric()));
      }
      if (job.empty()) job = d[0][0].as<std::string>();
      if (machine_class.empty()) machine_class = d[0][1].as<std::string>();
    }
    h.set_job_name(job);
    h.set_machine_class(machine_class);
    const int limit = req.limit() ? req.limit() : 200;
    auto rows = Exec(
        tx,
        absl::StrCat("SELECT r.id, r.commit_sha, extract(epoch from r.created_at)::float8, "
                     "s.median, s.q1, s.q3, s.n, s.unit, s.direction FROM metric_summaries s "
                     "JOIN runs r ON r.id = s.run_id WHERE s.metric = $6 AND s.job_name = $4 AND "
                     "s.machine_class = $5 AND r.kind = 'BASELINE' AND r.state = 'SUCCEEDED' AND ",
                     project,
                     " AND r.branch = $2 AND r.suite_name = $3 ORDER BY s.run_id DESC LIMIT $7"),
        req.project(), h.branch(), req.suite_name(), job, machine_class, req.metric(), limit);
    for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
      const auto& r = *it;
      v1::HistoryPoint* p = h.add_points();
      p->set_run_id(r[0].as<int64_t>());
      p->set_commit(r[1].as<std::string>());
      SetTimestamp(r[2], p->mutable_at());
      p->set_median(r[3].as<double>());
      p->set_q1(r[4].as<double>());
      p->set_q3(r[5].as<double>());
      p->set_repetitions(r[6].as<int>());
      h.set_unit(r[7].as<std::string>());
      h.set_direction(static_cast<v1::Direction>(r[8].as<int>()));
    }
    for (const auto& r :
         Exec(tx,
              absl::StrCat("SELECT ", kChangePointColumns,
                           " FROM change_points WHERE ($1 = '' OR project = $1) "
                           "AND branch = $2 AND suite_name = $3 AND "
                           "machine_class = $4 AND job_name = $5 AND metric = $6 "
                           "ORDER BY run_id"),
              req.project(), h.branch(), req.suite_name(), machine_class, job, req.metric())) {
      ChangePointFromRow(r, h.add_change_points());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return h;
}

absl::Status PgAnalysisStore::SaveAnalysis(AnalysisOutcome* o) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    const std::string verdict = o->comparison && o->comparison->verdict() != v1::VERDICT_UNSPECIFIED
                                    ? VerdictText(o->comparison->verdict())
                                    : "";
    auto claimed = Exec(tx,
                        "UPDATE runs SET analysed_at = now(), verdict = $2 WHERE id = $1 AND "
                        "analysed_at IS NULL RETURNING id",
                        o->run_id, verdict);
    if (claimed.empty()) return absl::OkStatus();  // another replica analysed it
    std::string buf;
    // The id and time live in columns (LatestComparison reads them there).
    auto insert_comparison = [&](v1::Comparison& c) {
      std::vector<int64_t> base(c.baseline_run_ids().begin(), c.baseline_run_ids().end());
      auto r =
          Exec(tx,
               "INSERT INTO comparisons (candidate_run_id, baseline_run_ids, verdict, body) "
               "VALUES ($1, $2::bigint[], $3, $4) RETURNING id, "
               "extract(epoch from created_at)::float8",
               c.candidate_run_id(), BigintArray(base), VerdictText(c.verdict()), Bytes(c, &buf));
      c.set_id(r[0][0].as<int64_t>());
      SetTimestamp(r[0][1], c.mutable_created_at());
    };
    if (o->comparison) {
      o->comparison->set_candidate_run_id(o->run_id);
      insert_comparison(*o->comparison);
    }
    if (o->decision) {
      insert_comparison(*o->decision);
      Exec(tx, "UPDATE runs SET verdict = $2 WHERE id = $1", o->decision->candidate_run_id(),
           VerdictText(o->decision->verdict()));
      pgq::NotifyRun(tx, o->decision->candidate_run_id());
    }
    const v1::Comparison* alerted = o->decision     ? &*o->decision
                                    : o->comparison ? &*o->comparison
                                                    : nullptr;
    for (v1::Alert& a : o->alerts) {
      if (alerted) a.set_comparison_id(alerted->id());
      InsertAlert(tx, &a, *o);
    }
    if (o->confirmation) {
      auto id = pgq::InsertRun(tx, *o->confirmation);
      if (!id.ok()) return id.status();
      o->confirmation_run_id = *id;
    }
    for (auto& [c, alert] : o->change_points) {
      auto r = Exec(tx,
                    "INSERT INTO change_points (project, branch, suite_name, machine_class, "
                    "job_name, metric, run_id, commit_sha, before_value, after_value, p, "
                    "direction, gating) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
                    "$12, $13) ON CONFLICT DO NOTHING RETURNING id",
                    c.project(), c.branch(), c.suite_name(), c.machine_class(), c.job_name(),
                    c.metric(), c.run_id(), c.commit(), c.before(), c.after(), c.p(),
                    static_cast<int>(c.direction()), c.gating());
      if (r.empty()) continue;  // known already: no second alert
      c.set_id(r[0][0].as<int64_t>());
      alert.set_change_point_id(c.id());
      InsertAlert(tx, &alert, *o);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Comparison> PgAnalysisStore::LatestComparison(int64_t run_id) {
  v1::Comparison out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = Exec(tx,
                  "SELECT body, id, extract(epoch from created_at)::float8 FROM comparisons "
                  "WHERE candidate_run_id = $1 ORDER BY id DESC LIMIT 1",
                  run_id);
    if (r.empty()) {
      auto run = Exec(tx, "SELECT analysed_at IS NOT NULL FROM runs WHERE id = $1", run_id);
      if (run.empty()) return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
      return absl::NotFoundError(absl::StrCat(
          "run ", run_id,
          run[0][0].as<bool>() ? " has no comparison (only candidates are compared)"
                               : " is not analysed yet (it is analysed when it finishes)"));
    }
    auto c = Decode<v1::Comparison>(r[0][0], "comparison");
    if (!c.ok()) return c.status();
    out = *std::move(c);
    out.set_id(r[0][1].as<int64_t>());
    SetTimestamp(r[0][2], out.mutable_created_at());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::ListChangePointsResponse> PgAnalysisStore::ListChangePoints(
    const v1::ListChangePointsRequest& req) {
  v1::ListChangePointsResponse out;
  const int limit = req.limit() <= 0 ? 100 : std::min(req.limit(), 1000);
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.Clear();
    for (const auto& r :
         Exec(tx,
              absl::StrCat("SELECT ", kChangePointColumns,
                           " FROM change_points WHERE ($1 = '' OR state = $1) AND ($2 = '' OR "
                           "suite_name = $2) ORDER BY id DESC LIMIT $3"),
              req.state(), req.suite_name(), limit)) {
      ChangePointFromRow(r, out.add_change_points());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::ChangePointRecord> PgAnalysisStore::TriageChangePoint(
    const v1::TriageChangePointRequest& req, const std::string& actor) {
  static const std::set<std::string> kStates = {"open", "acknowledged", "fixed", "false_positive"};
  if (!kStates.count(req.state()))
    return absl::InvalidArgumentError("state: must be open, acknowledged, fixed or false_positive");
  if (req.note().size() > 4096) return absl::InvalidArgumentError("note: at most 4096 bytes");
  v1::ChangePointRecord out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = Exec(tx,
                  absl::StrCat("UPDATE change_points SET state = $2, note = CASE WHEN $3 = '' "
                               "THEN note ELSE $3 END, updated_at = now(), triaged_by = $4 "
                               "WHERE id = $1 RETURNING ",
                               kChangePointColumns),
                  req.id(), req.state(), req.note(), actor);
    if (r.empty())
      return absl::NotFoundError(absl::StrCat("change point ", req.id(), " not found"));
    ChangePointFromRow(r[0], &out);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::ListAlertsResponse> PgAnalysisStore::ListAlerts(
    const v1::ListAlertsRequest& req) {
  v1::ListAlertsResponse out;
  const int limit = req.limit() <= 0 ? 100 : std::min(req.limit(), 1000);
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.Clear();
    for (const auto& r : Exec(tx,
                              absl::StrCat("SELECT ", kAlertColumns,
                                           " FROM alerts WHERE ($1 = '' OR state = $1) ORDER BY "
                                           "id DESC LIMIT $2"),
                              req.state(), limit)) {
      auto a = AlertFromRow(r);
      if (!a.ok()) return a.status();
      *out.add_alerts() = *std::move(a);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Alert> PgAnalysisStore::UpdateAlert(const v1::UpdateAlertRequest& req,
                                                       const std::string& actor) {
  static const std::set<std::string> kStates = {"firing", "acknowledged", "resolved"};
  if (!kStates.count(req.state()))
    return absl::InvalidArgumentError("state: must be acknowledged, resolved or firing");
  if (req.note().size() > 4096) return absl::InvalidArgumentError("note: at most 4096 bytes");
  v1::Alert out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    // A resolved alert is told to Alertmanager again (with its end time) when it was told before.
    auto r = Exec(tx,
                  absl::StrCat("UPDATE alerts SET state = $2, note = CASE WHEN $3 = '' THEN note "
                               "ELSE $3 END, updated_at = now(), alertmanager = CASE WHEN $2 = "
                               "'resolved' AND alertmanager = 'delivered' THEN 'pending' ELSE "
                               "alertmanager END, next_delivery_at = now(), triaged_by = $4 "
                               "WHERE id = $1 RETURNING ",
                               kAlertColumns),
                  req.id(), req.state(), req.note(), actor);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("alert ", req.id(), " not found"));
    auto a = AlertFromRow(r[0]);
    if (!a.ok()) return a.status();
    out = *std::move(a);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<Delivery>> PgAnalysisStore::DueDeliveries(int limit) {
  std::vector<Delivery> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    for (const auto& r : Exec(tx,
                              absl::StrCat("SELECT ", kAlertColumns,
                                           " FROM alerts WHERE (webhook = 'pending' OR "
                                           "alertmanager = 'pending') AND next_delivery_at <= "
                                           "now() ORDER BY id LIMIT $1"),
                              limit)) {
      auto a = AlertFromRow(r);
      if (!a.ok()) return a.status();
      out.push_back({*std::move(a), r[7].as<int>()});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status PgAnalysisStore::RecordDelivery(int64_t alert_id, const std::string& channel, bool ok,
                                             const std::string& error, absl::Duration retry_in,
                                             int max_attempts) {
  if (channel != "webhook" && channel != "alertmanager")
    return absl::InvalidArgumentError("channel: webhook or alertmanager");
  return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    Exec(tx,
         absl::StrCat("UPDATE alerts SET ", channel,
                      " = CASE WHEN $2 THEN 'delivered' WHEN "
                      "delivery_attempts + 1 >= $5 THEN 'failed' ELSE 'pending' END, "
                      "delivery_attempts = CASE WHEN $2 THEN delivery_attempts ELSE "
                      "delivery_attempts + 1 END, last_error = CASE WHEN $2 THEN last_error ELSE "
                      "$3 END, next_delivery_at = now() + make_interval(secs => $4), updated_at "
                      "= now() WHERE id = $1"),
         alert_id, ok, error.substr(0, 1000), absl::ToDoubleSeconds(retry_in), max_attempts);
    return absl::OkStatus();
  });
}

}  // namespace perfgate::controller
