#include "controller/store/pg_forge_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controller/queue/rerun.h"
#include "controller/store/pg_campaign_store.h"
#include "controller/store/pg_queue_tx.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {
namespace {

constexpr char kProjectColumns[] =
    "p.name, p.body, extract(epoch from p.created_at)::float8, "
    "extract(epoch from p.updated_at)::float8";

// A project row with its current suites.
absl::StatusOr<v1::Project> ProjectFromRow(pqxx::work& tx, const pqxx::row& r) {
  v1::Project p;
  if (!ParseProto(r[1], &p))
    return absl::DataLossError(absl::StrCat("stored project ", r[0].c_str(), " unreadable"));
  p.set_name(r[0].as<std::string>());
  SetTimestamp(r[2], p.mutable_created_at());
  SetTimestamp(r[3], p.mutable_updated_at());
  for (const auto& s : Exec(tx,
                            "SELECT name, version, yaml, path FROM project_suites WHERE "
                            "project = $1 AND current ORDER BY name",
                            p.name())) {
    v1::ProjectSuite* ps = p.add_suites();
    ps->set_name(s[0].as<std::string>());
    ps->set_version(s[1].as<int>());
    ps->set_yaml(s[2].as<std::string>());
    ps->set_path(s[3].as<std::string>());
  }
  return p;
}

absl::StatusOr<v1::Project> LoadProject(pqxx::work& tx, const std::string& name) {
  auto r =
      Exec(tx, absl::StrCat("SELECT ", kProjectColumns, " FROM projects p WHERE name = $1"), name);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("project ", name, " not found"));
  return ProjectFromRow(tx, r[0]);
}

std::optional<PullRequestRecord> LoadPullRequest(pqxx::work& tx, const std::string& project,
                                                 int number) {
  auto r = Exec(tx,
                "SELECT head_sha, head_branch, base_branch, from_fork, open, "
                "array_to_string(labels, E'\\n') FROM pull_requests "
                "WHERE project = $1 AND number = $2 FOR UPDATE",
                project, number);
  if (r.empty()) return std::nullopt;
  PullRequestRecord pr;
  pr.number = number;
  pr.head_sha = r[0][0].as<std::string>();
  pr.head_branch = r[0][1].as<std::string>();
  pr.base_branch = r[0][2].as<std::string>();
  pr.from_fork = r[0][3].as<bool>();
  pr.open = r[0][4].as<bool>();
  const std::string labels = r[0][5].as<std::string>();
  if (!labels.empty()) pr.labels = absl::StrSplit(labels, '\n');
  return pr;
}

void StorePullRequest(pqxx::work& tx, const std::string& project, const PullRequestRecord& pr) {
  Exec(
      tx,
      "INSERT INTO pull_requests (project, number, head_sha, head_branch, base_branch, from_fork, "
      "open, labels) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[]) ON CONFLICT (project, number) "
      "DO UPDATE SET head_sha = $3, head_branch = $4, base_branch = $5, from_fork = $6, open = $7, "
      "labels = $8::text[], updated_at = now()",
      project, pr.number, pr.head_sha, pr.head_branch, pr.base_branch, pr.from_fork, pr.open,
      TextArray(pr.labels));
}

// Marks an outbox row due (inserting it, or bumping its version and pointing it at `run_id`).
void TouchOutbox(pqxx::work& tx, const std::string& project, const std::string& kind,
                 const std::string& target, int64_t run_id, int pr, int64_t installation,
                 const std::string& body = "") {
  Exec(tx,
       "INSERT INTO outbox (project, kind, target, run_id, pr_number, installation_id, body) "
       "VALUES ($1, $2, $3, nullif($4, 0), $5, $6, $7) ON CONFLICT (project, target) DO UPDATE "
       "SET run_id = coalesce(nullif($4, 0), outbox.run_id), installation_id = $6, "
       "version = outbox.version + 1, state = 'pending', next_at = now(), attempts = 0, "
       "updated_at = now()",
       project, kind, target, run_id, pr, installation, body);
}

// TouchOutbox for a run's check run and commit status at once (one statement, not two).
void TouchOutboxPair(pqxx::work& tx, const std::string& project,
                     std::pair<const char*, std::string> a, std::pair<const char*, std::string> b,
                     int64_t run_id, int pr, int64_t installation) {
  Exec(tx,
       "INSERT INTO outbox (project, kind, target, run_id, pr_number, installation_id, body) "
       "VALUES ($1, $2, $3, $6, $7, $8, ''), ($1, $4, $5, $6, $7, $8, '') "
       "ON CONFLICT (project, target) DO UPDATE SET run_id = excluded.run_id, "
       "installation_id = excluded.installation_id, version = outbox.version + 1, "
       "state = 'pending', next_at = now(), attempts = 0, updated_at = now()",
       project, a.first, a.second, b.first, b.second, run_id, pr, installation);
}

// The runs a new push to the pull request makes obsolete: unfinished ones of the same suites.
// True when it cancelled any.
bool Supersede(pqxx::work& tx, const std::string& project, int pr,
               const std::vector<v1::Run>& newer, std::vector<StopOrder>* stops) {
  bool any = false;
  // A campaign's tiers are runs of one suite submitted together: none supersedes another.
  std::vector<int64_t> newer_ids;
  for (const v1::Run& n : newer) newer_ids.push_back(n.id());
  for (const v1::Run& n : newer) {
    for (const auto& r : Exec(tx,
                              "SELECT f.run_id FROM forge_runs f JOIN runs r ON r.id = f.run_id "
                              "WHERE f.project = $1 AND f.pr_number = $2 AND r.suite_name = $3 "
                              "AND f.run_id < $4 AND f.run_id <> ALL($5::bigint[]) "
                              "AND r.state IN ('QUEUED', 'RUNNING') AND NOT r.cancel_requested",
                              project, pr, n.suite_name(), n.id(), BigintArray(newer_ids))) {
      const int64_t old = r[0].as<int64_t>();
      Exec(tx, "UPDATE forge_runs SET superseded_by = $2 WHERE run_id = $1", old, n.id());
      (void)pgq::CancelRunTx(tx, old, absl::StrCat("superseded by run ", n.id()), stops);
      any = true;
    }
  }
  return any;
}

// The newest runs of a pull request's latest trigger, one per suite: what /perfgate rerun runs
// again.
absl::StatusOr<std::vector<v1::RunSpec>> LatestSpecs(pqxx::work& tx, const std::string& project,
                                                     int pr) {
  std::vector<v1::RunSpec> out;
  for (const auto& r : Exec(tx,
                            "SELECT DISTINCT ON (r.suite_name) r.id FROM forge_runs f JOIN runs r "
                            "ON r.id = f.run_id WHERE f.project = $1 AND f.pr_number = $2 AND "
                            "r.kind = 'CANDIDATE' AND NOT EXISTS (SELECT 1 FROM campaign_tiers t "
                            "WHERE t.run_id = r.id) ORDER BY r.suite_name, r.id DESC",
                            project, pr)) {
    auto run = pgq::LoadRun(tx, r[0].as<int64_t>());
    if (!run.ok()) return run.status();
    auto spec = RerunSpec(*run);
    if (!spec.ok()) return spec.status();
    out.push_back(*std::move(spec));
  }
  if (out.empty())
    return absl::FailedPreconditionError(
        absl::StrCat("pull request #", pr, " has no runs to rerun; use /perfgate run"));
  return out;
}

}  // namespace

absl::StatusOr<v1::Project> PgForgeStore::PutProject(const v1::Project& in, bool create) {
  v1::Project out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    v1::Project body = in;
    body.clear_suites();
    body.clear_created_at();
    body.clear_updated_at();
    std::string buf;
    auto other = Exec(tx,
                      "SELECT name FROM projects WHERE forge = $1 AND lower(repository) = "
                      "lower($2) AND name <> $3",
                      in.forge(), in.repository(), in.name());
    if (!other.empty()) {
      return absl::AlreadyExistsError(absl::StrCat("project.repository: ", in.repository(),
                                                   " already belongs to project ",
                                                   other[0][0].c_str()));
    }
    if (create) {
      auto r = Exec(tx,
                    "INSERT INTO projects (name, forge, repository, body) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (name) DO NOTHING RETURNING name",
                    in.name(), in.forge(), in.repository(), ProtoBytes(body, &buf));
      if (r.empty())
        return absl::AlreadyExistsError(absl::StrCat("project ", in.name(), " already exists"));
    } else {
      auto r =
          Exec(tx,
               "UPDATE projects SET forge = $2, repository = $3, body = $4, updated_at = now() "
               "WHERE name = $1 RETURNING name",
               in.name(), in.forge(), in.repository(), ProtoBytes(body, &buf));
      if (r.empty()) return absl::NotFoundError(absl::StrCat("project ", in.name(), " not found"));
    }
    // Suites: an unchanged text (or path) keeps its version, a changed one gets the next, a dropped
    // one stops being current (every version stays).
    std::vector<std::string> names;
    for (const v1::ProjectSuite& suite : in.suites()) {
      names.push_back(suite.name());
      auto cur = Exec(tx,
                      "SELECT yaml, version, path FROM project_suites WHERE project = $1 AND "
                      "name = $2 ORDER BY version DESC LIMIT 1",
                      in.name(), suite.name());
      if (!cur.empty() && cur[0][0].as<std::string>() == suite.yaml() &&
          cur[0][2].as<std::string>() == suite.path()) {
        Exec(tx,
             "UPDATE project_suites SET current = true WHERE project = $1 AND name = $2 AND "
             "version = $3",
             in.name(), suite.name(), cur[0][1].as<int>());
        continue;
      }
      const int version = cur.empty() ? 1 : cur[0][1].as<int>() + 1;
      Exec(tx, "UPDATE project_suites SET current = false WHERE project = $1 AND name = $2",
           in.name(), suite.name());
      Exec(tx,
           "INSERT INTO project_suites (project, name, version, yaml, path) "
           "VALUES ($1, $2, $3, $4, $5)",
           in.name(), suite.name(), version, suite.yaml(), suite.path());
    }
    Exec(tx,
         "UPDATE project_suites SET current = false WHERE project = $1 AND NOT (name = "
         "ANY($2::text[]))",
         in.name(), TextArray(names));
    auto p = LoadProject(tx, in.name());
    if (!p.ok()) return p.status();
    out = *std::move(p);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Project> PgForgeStore::GetProject(const std::string& name) {
  v1::Project out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto p = LoadProject(tx, name);
    if (!p.ok()) return p.status();
    out = *std::move(p);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<v1::Project>> PgForgeStore::ListProjects() {
  std::vector<v1::Project> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    for (const auto& r :
         Exec(tx, absl::StrCat("SELECT ", kProjectColumns, " FROM projects p ORDER BY name"))) {
      auto p = ProjectFromRow(tx, r);
      if (!p.ok()) return p.status();
      out.push_back(*std::move(p));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Project> PgForgeStore::RemoveProject(const std::string& name) {
  v1::Project out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto p = LoadProject(tx, name);
    if (!p.ok()) return p.status();
    out = *std::move(p);
    Exec(tx, "DELETE FROM projects WHERE name = $1", name);
    // Its reports have nowhere to go now (no repository, no credentials): say so.
    Exec(tx,
         "UPDATE outbox SET state = 'failed', last_error = 'project removed', updated_at = now() "
         "WHERE project = $1 AND state = 'pending'",
         name);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<v1::Project>> PgForgeStore::FindProject(const std::string& forge,
                                                                     const ForgeEvent& e) {
  std::optional<v1::Project> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = Exec(tx,
                  absl::StrCat("SELECT ", kProjectColumns,
                               " FROM projects p WHERE forge = $1 AND (lower(repository) = "
                               "lower($2) OR ($3 <> '' AND repository = $3))"),
                  forge, e.repository, e.repository_id);
    if (r.empty()) return absl::OkStatus();
    auto p = ProjectFromRow(tx, r[0]);
    if (!p.ok()) return p.status();
    out = *std::move(p);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<DeliveryResult> PgForgeStore::ApplyDelivery(
    const std::string& forge, const std::string& delivery_id, const ForgeEvent& e,
    const v1::Project* project, const DeliveryPlanner& planner, const ReplyFormatter& reply) {
  DeliveryResult out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out = DeliveryResult();
    bool touched_outbox = false;  // reports due: the outbox sender is woken
    const std::string pname = project ? project->name() : "";
    auto fresh =
        Exec(tx,
             "INSERT INTO webhook_deliveries (forge, delivery_id, event, project, outcome) "
             "VALUES ($1, $2, $3, $4, '') ON CONFLICT DO NOTHING RETURNING delivery_id",
             forge, delivery_id, e.event, pname);
    if (fresh.empty()) {
      out.duplicate = true;
      auto prev =
          Exec(tx, "SELECT outcome FROM webhook_deliveries WHERE forge = $1 AND delivery_id = $2",
               forge, delivery_id);
      out.outcome = prev.empty() ? "" : prev[0][0].as<std::string>();
      return absl::OkStatus();
    }
    std::optional<PullRequestRecord> known;
    if (project && e.pr_number > 0) known = LoadPullRequest(tx, pname, e.pr_number);
    ForgePlan plan;
    if (project) {
      auto p = planner(known);
      if (!p.ok()) return p.status();
      plan = *std::move(p);
    } else {
      plan = PlanWithoutProject(e);
    }
    const int pr = plan.pr ? plan.pr->number : 0;
    if (plan.pr) StorePullRequest(tx, pname, *plan.pr);
    if (plan.rerun_latest) {
      auto specs = LatestSpecs(tx, pname, pr);
      if (!specs.ok() && specs.status().code() != absl::StatusCode::kFailedPrecondition)
        return specs.status();
      if (!specs.ok()) {
        plan.outcome = absl::StrCat("refused: ", specs.status().message());
        plan.reply = absl::StrCat("perfgate: ", specs.status().message());
        plan.reply_lists_runs = false;
      } else {
        plan.runs = *std::move(specs);
      }
    }
    if (plan.cancel_open_runs) {
      for (const auto& r : Exec(tx,
                                "SELECT f.run_id FROM forge_runs f JOIN runs r ON r.id = f.run_id "
                                "WHERE f.project = $1 AND f.pr_number = $2 AND r.state IN "
                                "('QUEUED', 'RUNNING') AND NOT r.cancel_requested",
                                pname, pr)) {
        (void)pgq::CancelRunTx(tx, r[0].as<int64_t>(), "pull request closed", &out.stops);
        touched_outbox = true;
      }
    }
    const std::string head = plan.pr ? plan.pr->head_sha : e.after_sha;
    const bool github = forge == kGitHub;
    auto wants = [&](const char* report) {
      if (project->reports().empty()) return github || std::string(report) == kCommitStatus;
      for (const auto& r : project->reports())
        if (r == report) return true;
      return false;
    };
    // Whether this pull request's head already ran `suite` (a delivery seen twice).
    auto ran_at_head = [&](const std::string& commit, const std::string& suite) {
      return plan.skip_existing_head_runs &&
             !Exec(tx,
                   "SELECT 1 FROM forge_runs f JOIN runs r ON r.id = f.run_id WHERE f.project = "
                   "$1 AND f.pr_number = $2 AND f.head_sha = $3 AND r.suite_name = $4 AND "
                   "f.superseded_by IS NULL",
                   pname, pr, commit, suite)
                  .empty();
    };
    // A new run's forge row; its reports (one check run and commit status per suite and commit,
    // pointing at `report_run`: for a campaign, its first tier's run, which the outbox trigger
    // touches when any tier changes); what callers need of it (links, replies).
    auto add_run = [&](const v1::RunSpec& spec, int64_t id, int64_t report_run) {
      v1::Run run;
      run.set_id(id);
      run.set_state(v1::RUN_STATE_QUEUED);
      run.set_project(spec.project());
      run.set_branch(spec.branch());
      run.set_commit(spec.commit());
      run.set_kind(spec.kind());
      run.set_suite_name(spec.suite_name());
      run.set_aa(spec.aa());
      Exec(tx,
           "INSERT INTO forge_runs (run_id, project, pr_number, head_sha, installation_id, "
           "trigger) VALUES ($1, $2, $3, $4, $5, $6)",
           id, pname, spec.aa() ? 0 : pr, spec.commit(), e.installation_id, plan.trigger);
      if (!spec.aa() && report_run == id) {
        const std::string key = absl::StrCat(spec.commit(), ":", spec.suite_name());
        const bool check = github && wants(kCheckRun), status = wants(kCommitStatus);
        touched_outbox = touched_outbox || check || status;
        if (check && status) {
          TouchOutboxPair(tx, pname, {kCheckRun, "check:" + key}, {kCommitStatus, "status:" + key},
                          id, pr, e.installation_id);
        } else if (check || status) {
          TouchOutbox(tx, pname, check ? kCheckRun : kCommitStatus,
                      (check ? "check:" : "status:") + key, id, pr, e.installation_id);
        }
      }
      out.runs.push_back(std::move(run));
    };
    // Who asked: the forge and the trigger (and the commenter of a "/perfgate" command).
    const std::string source =
        absl::StrCat(e.forge, ":", plan.trigger, e.commenter.empty() ? "" : " by " + e.commenter);
    for (size_t i = 0; i < plan.runs.size(); ++i) {
      v1::RunSpec spec = plan.runs[i];
      if (ran_at_head(spec.commit(), spec.suite_name())) continue;
      spec.set_submitted_by(source);
      // The delivery names the runs it makes (the delivery itself is recorded once, above).
      spec.set_request_id(absl::StrCat(forge, ":", delivery_id, ":", i));
      if (auto st = pgq::FillAaCommit(tx, &spec); !st.ok()) return st;
      auto id = pgq::InsertRun(tx, spec);
      if (!id.ok()) return id.status();
      add_run(spec, *id, *id);
    }
    for (v1::Campaign camp : plan.campaigns) {
      if (camp.tiers_size() == 0 || ran_at_head(camp.commit(), camp.suite_name())) continue;
      for (v1::CampaignTier& t : *camp.mutable_tiers()) {
        if (auto st = pgq::FillAaCommit(tx, t.mutable_spec()); !st.ok()) return st;
        t.mutable_spec()->set_submitted_by(source);
      }
      camp.set_commit(camp.tiers(0).spec().commit());
      std::vector<int64_t> ids;
      auto cid = InsertCampaign(tx, camp, &ids);
      if (!cid.ok()) return cid.status();
      for (int i = 0; i < camp.tiers_size(); ++i) add_run(camp.tiers(i).spec(), ids[i], ids[0]);
    }
    if (pr > 0 && Supersede(tx, pname, pr, out.runs, &out.stops)) touched_outbox = true;
    if (pr > 0 && !out.runs.empty() && project->comment() != "never" && plan.trigger != "push") {
      touched_outbox = true;
      TouchOutbox(tx, pname, kPrComment, absl::StrCat("comment:", pr), 0, pr, e.installation_id);
    }
    // A refused command is answered too: on the request it was made on.
    const int reply_to = pr > 0 ? pr : e.pr_number;
    if (!plan.reply.empty() && reply_to > 0) {
      touched_outbox = true;
      const std::string text = reply(plan, out.runs);
      TouchOutbox(tx, pname, kReply, absl::StrCat("reply:", forge, ":", delivery_id), 0, reply_to,
                  e.installation_id, text);
    }
    std::vector<int64_t> ids;
    for (const auto& r : out.runs) ids.push_back(r.id());
    size_t planned = plan.runs.size();
    for (const auto& c : plan.campaigns) planned += c.tiers_size();
    if (!out.runs.empty() && planned > out.runs.size())
      absl::StrAppend(&plan.outcome, " (", planned - out.runs.size(), " already run at this head)");
    if (out.runs.empty() && (!plan.runs.empty() || !plan.campaigns.empty()))
      plan.outcome = absl::StrCat("nothing new: every suite already ran at ", head.substr(0, 12));
    out.outcome = plan.outcome;
    Exec(tx,
         "UPDATE webhook_deliveries SET outcome = $3, run_ids = $4::bigint[] WHERE forge = $1 "
         "AND delivery_id = $2",
         forge, delivery_id, out.outcome, BigintArray(ids));
    // InsertRun woke the dispatchers already; the outbox sender is woken only when it has work
    // (an ignored delivery must not cost it a claim query).
    if (touched_outbox) pgq::Notify(tx, ControllerEvent::Outbox());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<OutboxItem>> PgForgeStore::ClaimOutbox(int limit, absl::Duration lease) {
  std::vector<OutboxItem> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    for (const auto& r :
         Exec(tx,
              "UPDATE outbox o SET next_at = now() + $2::interval FROM projects p "
              "WHERE p.name = o.project AND o.id IN (SELECT id FROM outbox WHERE state = 'pending' "
              "AND next_at <= now() ORDER BY next_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) "
              "RETURNING o.id, o.project, p.forge, p.repository, o.kind, o.target, "
              "coalesce(o.run_id, 0), o.pr_number, o.installation_id, o.body, o.remote_id, "
              "o.version, o.attempts, p.body",
              limit, pgq::Interval(lease))) {
      OutboxItem it;
      it.id = r[0].as<int64_t>();
      it.project = r[1].as<std::string>();
      it.forge = r[2].as<std::string>();
      it.repository = r[3].as<std::string>();
      it.kind = r[4].as<std::string>();
      it.target = r[5].as<std::string>();
      it.run_id = r[6].as<int64_t>();
      it.pr_number = r[7].as<int>();
      it.installation_id = r[8].as<int64_t>();
      it.body = r[9].as<std::string>();
      it.remote_id = r[10].as<std::string>();
      it.version = r[11].as<int64_t>();
      it.attempts = r[12].as<int>();
      v1::Project p;
      ParseProto(r[13], &p);
      it.comment_mode = p.comment().empty() ? "always" : p.comment();
      if (it.run_id) {
        auto f = Exec(tx, "SELECT coalesce(superseded_by, 0) FROM forge_runs WHERE run_id = $1",
                      it.run_id);
        if (!f.empty()) it.superseded_by = f[0][0].as<int64_t>();
      }
      if (it.kind == kPrComment) {
        auto head =
            Exec(tx, "SELECT head_sha FROM pull_requests WHERE project = $1 AND number = $2",
                 it.project, it.pr_number);
        if (!head.empty()) it.head_sha = head[0][0].as<std::string>();
        for (const auto& h : Exec(tx,
                                  "SELECT DISTINCT ON (r.suite_name) r.id FROM forge_runs f JOIN "
                                  "runs r ON r.id = f.run_id WHERE f.project = $1 AND "
                                  "f.pr_number = $2 AND f.head_sha = $3 AND r.kind = 'CANDIDATE' "
                                  "ORDER BY r.suite_name, r.id DESC",
                                  it.project, it.pr_number, it.head_sha)) {
          it.head_runs.push_back(h[0].as<int64_t>());
        }
      }
      out.push_back(std::move(it));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status PgForgeStore::FinishOutbox(const OutboxItem& item, const SendOutcome& o) {
  // Only a row still pending takes the result: one its project's removal failed while the send
  // was in flight keeps "project removed".
  return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    using K = SendOutcome::Kind;
    if (o.kind == K::kRetry) {
      Exec(tx,
           "UPDATE outbox SET attempts = attempts + 1, next_at = greatest(now(), "
           "to_timestamp($2)), last_status = $3, last_error = $4, updated_at = now() "
           "WHERE id = $1 AND state = 'pending'",
           item.id, absl::ToDoubleSeconds(o.retry_at - absl::UnixEpoch()), o.http_status, o.error);
      return absl::OkStatus();
    }
    // Sent or refused at item.version: done (or failed) unless the content changed meanwhile.
    const std::string final_state = o.kind == K::kSent ? "done" : "failed";
    Exec(tx,
         "UPDATE outbox SET sent_version = greatest(sent_version, $2), "
         "remote_id = CASE WHEN $3 <> '' THEN $3 ELSE remote_id END, last_status = $4, "
         "last_error = $5, attempts = CASE WHEN version > $2 THEN 0 ELSE attempts + 1 END, "
         "state = CASE WHEN version > $2 THEN 'pending' ELSE $6 END, "
         "next_at = CASE WHEN version > $2 THEN now() ELSE next_at END, updated_at = now() "
         "WHERE id = $1 AND state = 'pending'",
         item.id, item.version, o.remote_id, o.http_status, o.error, final_state);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<v1::OutboxEntry>> PgForgeStore::ListOutbox(const std::string& project,
                                                                      const std::string& state,
                                                                      int limit) {
  std::vector<v1::OutboxEntry> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.clear();
    for (const auto& r : Exec(tx,
                              "SELECT id, project, kind, target, coalesce(run_id, 0), pr_number, "
                              "state, attempts, extract(epoch from next_at)::float8, last_status, "
                              "last_error, remote_id, version, sent_version, "
                              "extract(epoch from updated_at)::float8 FROM outbox "
                              "WHERE ($1 = '' OR project = $1) AND ($2 = '' OR state = $2) "
                              "ORDER BY id DESC LIMIT $3",
                              project, state, limit)) {
      v1::OutboxEntry e;
      e.set_id(r[0].as<int64_t>());
      e.set_project(r[1].as<std::string>());
      e.set_kind(r[2].as<std::string>());
      e.set_target(r[3].as<std::string>());
      e.set_run_id(r[4].as<int64_t>());
      e.set_pr_number(r[5].as<int>());
      e.set_state(r[6].as<std::string>());
      e.set_attempts(r[7].as<int>());
      SetTimestamp(r[8], e.mutable_next_at());
      e.set_last_status(r[9].as<int>());
      e.set_last_error(r[10].as<std::string>());
      e.set_remote_id(r[11].as<std::string>());
      e.set_version(r[12].as<int64_t>());
      e.set_sent_version(r[13].as<int64_t>());
      SetTimestamp(r[14], e.mutable_updated_at());
      out.push_back(std::move(e));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace perfgate::controller
