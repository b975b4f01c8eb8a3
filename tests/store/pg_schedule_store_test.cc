// Schedules over a real PostgreSQL: a slot fires exactly once however many schedulers race for
// it, slots missed while none ran fire once, a head that cannot be read passes the slot with
// the reason kept, paused schedules do not fire, and a campaign schedule submits every tier.
#include "controller/store/pg_schedule_store.h"

#include <pqxx/pqxx>
#include <thread>

#include "common/time/cron.h"
#include "controller/campaign/scheduler.h"
#include "controller/store/migrations.h"
#include "controller/store/pg_campaign_store.h"
#include "gtest/gtest.h"
#include "tests/harness/test_postgres.h"

namespace perfgate::controller {
namespace {

class FixedClock : public common::Clock {
 public:
  absl::Time Now() const override { return now; }
  absl::Time now = absl::Now();
};

class PgScheduleStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = perfgate::testing::TestPostgres::Get().NewDatabase();
    pool_ = *PgPool::Create(dsn_, 8);
    ASSERT_TRUE(ApplyMigrations(*pool_, BuiltinMigrations()).ok());
    store_ = std::make_unique<PgScheduleStore>(*pool_);
  }

  static v1::RunSpec Spec() {
    v1::RunSpec spec;
    spec.set_project("p");
    spec.set_suite_name("nightly");
    spec.set_kind(v1::RUN_KIND_BASELINE);
    spec.set_branch("main");
    v1::JobSpec* j = spec.add_jobs();
    j->set_name("bench");
    j->set_max_attempts(1);
    // Built from a repository: each fire looks its branch's head up there.
    j->mutable_benchmark()->mutable_build()->set_repository("/r");
    j->mutable_benchmark()->mutable_workload()->mutable_command()->set_command("true");
    return spec;
  }

  // A schedule of `cron` whose next slot is `ago` in the past.
  int64_t AddDue(const std::string& cron, absl::Duration ago, bool campaign = false) {
    v1::Schedule s;
    s.set_cron(cron);
    s.set_branch("main");
    s.set_project("p");
    s.set_suite_name("nightly");
    s.set_kind(v1::RUN_KIND_BASELINE);
    if (campaign) {
      v1::Campaign* c = s.mutable_campaign()->mutable_campaign();
      c->set_suite_name("nightly");
      c->set_branch("main");
      for (const char* tier : {"small", "medium"}) {
        v1::CampaignTier* t = c->add_tiers();
        t->set_name(tier);
        *t->mutable_spec() = Spec();
        t->mutable_spec()->mutable_jobs(0)->set_name(std::string("bench@") + tier);
      }
    } else {
      *s.mutable_run() = Spec();
    }
    s.mutable_next_fire_at()->set_seconds(absl::ToUnixSeconds(absl::Now() - ago));
    auto added = store_->AddSchedule(s);
    EXPECT_TRUE(added.ok()) << added.status();
    return added->id();
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection c(dsn_);
    pqxx::nontransaction tx(c);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  v1::Schedule Get(int64_t id) {
    auto all = store_->ListSchedules(false);
    EXPECT_TRUE(all.ok()) << all.status();
    for (const auto& s : *all)
      if (s.id() == id) return s;
    ADD_FAILURE() << "no schedule " << id;
    return {};
  }

  std::string dsn_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<PgScheduleStore> store_;
  FixedClock clock_;
  HeadResolver heads_ = [](const std::string&, const std::string&) {
    return absl::StatusOr<std::string>(std::string(40, 'a'));
  };
};

TEST_F(PgScheduleStoreTest, ASlotFiresOnceHoweverManySchedulersRaceForIt) {
  const int64_t id = AddDue("0 2 * * *", absl::Minutes(1));
  // Eight schedulers (as on eight controller replicas) fire the same due slot at once.
  std::vector<std::unique_ptr<Scheduler>> schedulers;
  for (int i = 0; i < 8; ++i)
    schedulers.push_back(std::make_unique<Scheduler>(*store_, heads_, absl::Seconds(1), clock_));
  std::atomic<int> fired{0};
  std::vector<std::thread> threads;
  for (auto& s : schedulers) threads.emplace_back([&] { fired += s->FireDue(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM runs"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE commit_sha = repeat('a', 40)"), 1);
  const v1::Schedule s = Get(id);
  EXPECT_GT(s.last_run_id(), 0);
  EXPECT_EQ(s.last_error(), "");
  // The next slot is the cron's next after now, and nothing is due before it.
  auto cron = common::CronSchedule::Parse("0 2 * * *");
  EXPECT_EQ(s.next_fire_at().seconds(), absl::ToUnixSeconds(cron->Next(clock_.now)));
  EXPECT_EQ(schedulers[0]->FireDue(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM runs"), 1);
}

TEST_F(PgScheduleStoreTest, SlotsMissedWhileNoControllerRanFireOnce) {
  // Every minute, and the last fire was three hours ago: one run, not 180.
  const int64_t id = AddDue("* * * * *", absl::Hours(3));
  Scheduler scheduler(*store_, heads_, absl::Seconds(1), clock_);
  EXPECT_EQ(scheduler.FireDue(), 1);
  EXPECT_EQ(scheduler.FireDue(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM runs"), 1);
  EXPECT_GT(Get(id).next_fire_at().seconds(), absl::ToUnixSeconds(clock_.now));
}

TEST_F(PgScheduleStoreTest, AnUnreadableHeadPassesTheSlotWithTheReasonKept) {
  const int64_t id = AddDue("0 * * * *", absl::Minutes(5));
  HeadResolver broken = [](const std::string&, const std::string&) {
    return absl::StatusOr<std::string>(absl::UnavailableError("git ls-remote /r: no such repo"));
  };
  Scheduler scheduler(*store_, broken, absl::Seconds(1), clock_);
  EXPECT_EQ(scheduler.FireDue(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM runs"), 0);
  const v1::Schedule s = Get(id);
  EXPECT_EQ(s.last_error(), "the head of main could not be read: git ls-remote /r: no such repo");
  EXPECT_GT(s.next_fire_at().seconds(), absl::ToUnixSeconds(clock_.now));
}

TEST_F(PgScheduleStoreTest, PausedSchedulesDoNotFireAndResumeFromTheNextSlot) {
  const int64_t id = AddDue("*/5 * * * *", absl::Minutes(1));
  ASSERT_TRUE(store_->SetPaused(id, true).ok());
  Scheduler scheduler(*store_, heads_, absl::Seconds(1), clock_);
  EXPECT_EQ(scheduler.FireDue(), 0);
  const absl::Time next = common::CronSchedule::Parse("*/5 * * * *")->Next(absl::Now());
  auto resumed = store_->SetPaused(id, false);
  ASSERT_TRUE(resumed.ok());
  EXPECT_FALSE(resumed->paused());
  EXPECT_EQ(resumed->next_fire_at().seconds(), absl::ToUnixSeconds(next));
  EXPECT_EQ(scheduler.FireDue(), 0);  // not due until then
  EXPECT_EQ(Count("SELECT count(*) FROM runs"), 0);
  EXPECT_TRUE(store_->RemoveSchedule(id).ok());
  EXPECT_EQ(store_->RemoveSchedule(id).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgScheduleStoreTest, ACampaignScheduleSubmitsEveryTierAtTheHead) {
  const int64_t id = AddDue("0 3 * * *", absl::Seconds(30), /*campaign=*/true);
  Scheduler scheduler(*store_, heads_, absl::Seconds(1), clock_);
  EXPECT_EQ(scheduler.FireDue(), 1);
  const v1::Schedule s = Get(id);
  ASSERT_GT(s.last_campaign_id(), 0);
  PgCampaignStore campaigns(*pool_);
  auto c = campaigns.GetCampaign(s.last_campaign_id());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tiers_size(), 2);
  EXPECT_EQ(c->commit(), std::string(40, 'a'));
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE commit_sha = repeat('a', 40)"), 2);
}

}  // namespace
}  // namespace perfgate::controller
