// The bisection store's change-point side over a real PostgreSQL (issue 19): automatic starts
// pick one change point per run and job (the metrics that changed together share a range) and
// only for projects with `bisect: auto`; a bisection answers for the siblings of its change
// point; the culprit lands on all of them and their alerts go out again.
#include "controller/store/pg_bisect_store.h"

#include <gmock/gmock.h>

#include "absl/strings/str_cat.h"
#include "controller/store/pg_forge_store.h"
#include "controller/store/pg_job_store.h"
#include "tests/store/store_test_support.h"

namespace perfgate::controller {
namespace {

using ::testing::ElementsAre;

class PgBisectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = testing::MigratedPool();
    ASSERT_NE(pool_, nullptr);
    jobs_ = std::make_unique<PgJobStore>(*pool_, RetryPolicy{}, QueueTimings{});
    store_ = std::make_unique<PgBisectStore>(*pool_);
    PgForgeStore forge(*pool_);
    for (const char* name : {"auto", "manual"}) {
      v1::Project p;
      p.set_name(name);
      p.set_forge("github");
      p.set_repository(absl::StrCat("acme/", name));
      if (std::string(name) == "auto") p.set_bisect("auto");
      ASSERT_TRUE(forge.PutProject(p, /*create=*/true).ok());
    }
  }

  int64_t Run() {
    v1::RunSpec spec;
    spec.add_jobs()->mutable_command()->set_command("true");
    spec.mutable_jobs(0)->set_name("api");
    auto r = jobs_->SubmitRun(spec);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->id() : 0;
  }

  // A change point of `project` at `run`, with an alert whose webhook was delivered.
  int64_t ChangePoint(const std::string& project, int64_t run, const std::string& job,
                      const std::string& metric, const std::string& state = "open",
                      bool gating = true) {
    const int64_t id = testing::Count(
        *pool_, absl::StrCat("INSERT INTO change_points (project, branch, suite_name, "
                             "machine_class, job_name, metric, run_id, commit_sha, before_value, "
                             "after_value, p, state, gating) VALUES ('",
                             project, "', 'main', 's', 'default', '", job, "', '", metric, "', ",
                             run, ", 'abc', 1, 2, 0.001, '", state, "', ",
                             gating ? "true" : "false", ") RETURNING id"));
    testing::Sql(*pool_, absl::StrCat("INSERT INTO alerts (kind, run_id, change_point_id, "
                                      "job_name, metric, body, webhook, alertmanager) VALUES "
                                      "('change_point', ",
                                      run, ", ", id, ", '", job, "', '", metric,
                                      "', ''::bytea, 'delivered', 'off')"));
    return id;
  }

  int64_t Bisect(int64_t change_point) {
    v1::Bisection b;
    b.set_project("auto");
    b.set_suite_name("s");
    b.set_change_point_id(change_point);
    b.set_state(v1::BISECTION_STATE_LISTING);
    v1::RunSpec listing;
    listing.add_jobs()->mutable_command()->set_command("true");
    listing.mutable_jobs(0)->set_name("list");
    auto created = store_->CreateBisection(b, listing);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->id() : 0;
  }

  std::string Column(const std::string& sql) {
    std::string out;
    EXPECT_TRUE(pool_
                    ->Transact([&](pqxx::work& tx) {
                      for (const auto& r : tx.exec(sql)) out += r[0].as<std::string>() + ";";
                      return absl::OkStatus();
                    })
                    .ok());
    return out;
  }

  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<PgJobStore> jobs_;
  std::unique_ptr<PgBisectStore> store_;
};

TEST_F(PgBisectStoreTest, OneBisectionPerRunAndJobOnlyForProjectsThatAskAndTheCulpritOnAll) {
  const int64_t r1 = Run(), r2 = Run(), r3 = Run();
  const int64_t p99 = ChangePoint("auto", r1, "api", "http.latency.p99");
  const int64_t p50 = ChangePoint("auto", r1, "api", "http.latency.p50");
  const int64_t mean = ChangePoint("auto", r1, "api", "http.latency.mean");
  const int64_t db = ChangePoint("auto", r1, "db", "http.latency.p90");
  const int64_t manual = ChangePoint("manual", r2, "api", "http.latency.p50");
  const int64_t triaged = ChangePoint("auto", r3, "api", "http.latency.p50", "false_positive");
  const int64_t cpu = ChangePoint("auto", r3, "api", "proc.api.cpu_seconds", "open", false);

  // The median's speaks for its run and job; the other job has its own; the manual project's,
  // the triaged one and the one on a metric that does not gate are left alone.
  auto todo = store_->ChangePointsToBisect(20, {});
  ASSERT_TRUE(todo.ok()) << todo.status();
  EXPECT_THAT(*todo, ElementsAre(db, p50));
  // A refused one takes its siblings with it (they share its range).
  todo = store_->ChangePointsToBisect(20, {p50});
  ASSERT_TRUE(todo.ok());
  EXPECT_THAT(*todo, ElementsAre(db));
  todo = store_->ChangePointsToBisect(1, {});
  ASSERT_TRUE(todo.ok());
  EXPECT_THAT(*todo, ElementsAre(db)) << "newest first within the limit";

  const int64_t b = Bisect(p50);
  ASSERT_GT(b, 0);
  EXPECT_EQ(
      Column(absl::StrCat("SELECT id FROM change_points WHERE bisection_id = ", b, " ORDER BY id")),
      absl::StrCat(p99, ";", p50, ";", mean, ";"))
      << "its siblings are answered by the same bisection";
  todo = store_->ChangePointsToBisect(20, {});
  ASSERT_TRUE(todo.ok());
  EXPECT_THAT(*todo, ElementsAre(db));

  // Found: every sibling and its alert name the culprit; delivered alerts go out again.
  ASSERT_TRUE(store_->SetCulprit(p50, b, "abc123 t: commit 7", /*notify=*/true).ok());
  EXPECT_EQ(Column("SELECT culprit FROM change_points WHERE culprit <> '' ORDER BY id"),
            "abc123 t: commit 7;abc123 t: commit 7;abc123 t: commit 7;");
  EXPECT_EQ(
      Column("SELECT change_point_id || ':' || webhook || ':' || alertmanager || ':' || "
             "culprit FROM alerts ORDER BY id"),
      absl::StrCat(p99, ":pending:off:abc123 t: commit 7;", p50, ":pending:off:abc123 t: commit 7;",
                   mean, ":pending:off:abc123 t: commit 7;", db, ":delivered:off:;", manual,
                   ":delivered:off:;", triaged, ":delivered:off:;", cpu, ":delivered:off:;"));
  // Not found (failed or cancelled): noted, not sent.
  testing::Sql(*pool_, "UPDATE alerts SET webhook = 'delivered'");
  ASSERT_TRUE(store_->SetCulprit(p50, b, "bisection failed", /*notify=*/false).ok());
  EXPECT_EQ(testing::Count(*pool_, "SELECT count(*) FROM alerts WHERE webhook = 'pending'"), 0);
  EXPECT_EQ(
      testing::Count(*pool_, "SELECT count(*) FROM alerts WHERE culprit = 'bisection failed'"), 3);
}

}  // namespace
}  // namespace perfgate::controller
