// The supervisor of the controller's private PostgreSQL (controller/store/postgres_supervisor.h)
// against a real server: a kill -9 is followed by a restart with crash recovery and the data
// committed before it; a server that cannot start again is given up with the reason. The
// policy's arithmetic is checked with a fake clock.
#include "controller/store/postgres_supervisor.h"

#include <signal.h>

#include <atomic>
#include <fstream>
#include <pqxx/pqxx>

#include "gtest/gtest.h"
#include "tests/harness/processes.h"
#include "tests/harness/test_postgres.h"

namespace perfgate::controller {
namespace {

using perfgate::testing::MakeTempDir;
using perfgate::testing::WaitUntil;

pid_t Postmaster(const std::string& data_dir) {
  std::ifstream in(data_dir + "/pg/postmaster.pid");
  pid_t pid = 0;
  in >> pid;
  return pid;
}

TEST(RestartPolicyTest, BacksOffDoublingUpToTheCapAndGivesUpAfterTooManyFailedStarts) {
  RestartPolicyOptions o;
  o.first_backoff = absl::Milliseconds(500);
  o.max_backoff = absl::Seconds(3);
  o.max_failed_starts = 4;
  RestartPolicy p(o);
  EXPECT_EQ(p.OnDeath(absl::FromUnixSeconds(0)), "");
  EXPECT_EQ(p.OnFailedStart().wait, absl::Seconds(1));
  EXPECT_EQ(p.OnFailedStart().wait, absl::Seconds(2));
  EXPECT_EQ(p.OnFailedStart().wait, absl::Seconds(3));
  EXPECT_EQ(p.OnFailedStart().give_up, "it failed to start 4 times in a row");
  p.OnStarted();  // a success resets the count
  EXPECT_EQ(p.OnFailedStart().wait, absl::Seconds(1));
}

TEST(RestartPolicyTest, TooManyDeathsWithinTheWindowIsACrashLoop) {
  RestartPolicyOptions o;
  o.max_deaths = 2;
  o.crash_window = absl::Minutes(10);
  RestartPolicy p(o);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_EQ(p.OnDeath(t0), "");
  EXPECT_EQ(p.OnDeath(t0 + absl::Minutes(1)), "");
  EXPECT_EQ(p.OnDeath(t0 + absl::Minutes(2)), "it died 3 times within 10m");
  // Deaths older than the window are forgotten.
  RestartPolicy q(o);
  EXPECT_EQ(q.OnDeath(t0), "");
  EXPECT_EQ(q.OnDeath(t0 + absl::Minutes(1)), "");
  EXPECT_EQ(q.OnDeath(t0 + absl::Minutes(12)), "");
}

TEST(PostgresSupervisorTest, AKilledServerIsRestartedWithItsDataAndOneThatCannotStartIsGivenUp) {
  const std::string dir = MakeTempDir("perfgate-supervised");
  EmbeddedPostgresOptions eo;
  eo.data_dir = dir;  // durable: fsync and synchronous commit as in production
  auto pg = EmbeddedPostgres::Start(eo);
  ASSERT_TRUE(pg.ok()) << pg.status();
  {
    pqxx::connection c((*pg)->Dsn());
    pqxx::work tx(c);
    tx.exec("CREATE TABLE kept (v int)");
    tx.exec("INSERT INTO kept VALUES (42)");
    tx.commit();
  }
  std::atomic<int> restarts{0}, downs{0};
  absl::Mutex mu;
  absl::Status given_up;
  PostgresSupervisorOptions so;
  so.poll_interval = absl::Milliseconds(100);
  so.policy.first_backoff = absl::Milliseconds(100);
  so.policy.max_backoff = absl::Milliseconds(400);
  so.policy.max_failed_starts = 3;
  so.on_state = [&](bool up) {
    if (!up) ++downs;
  };
  so.on_restarted = [&] { ++restarts; };
  so.on_give_up = [&](absl::Status s) {
    absl::MutexLock l(&mu);
    given_up = s;
  };
  PostgresSupervisor sup(**pg, so);
  sup.Start();

  const pid_t first = Postmaster(dir);
  ASSERT_GT(first, 0);
  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return restarts.load() == 1; }, absl::Seconds(60)));
  EXPECT_EQ(downs.load(), 1);
  EXPECT_NE(Postmaster(dir), first);
  {
    pqxx::connection c((*pg)->Dsn());
    pqxx::nontransaction nt(c);
    EXPECT_EQ(nt.exec("SELECT v FROM kept")[0][0].as<int>(), 42) << "committed before the kill";
  }

  // A configuration it cannot start with: three failed starts, then given up with the reason.
  std::ofstream(dir + "/pg/postgresql.conf", std::ios::app) << "this is not a setting\n";
  ASSERT_EQ(kill(Postmaster(dir), SIGKILL), 0);
  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::MutexLock l(&mu);
        return !given_up.ok();
      },
      absl::Seconds(60)));
  absl::MutexLock l(&mu);
  EXPECT_NE(given_up.message().find("giving up the private PostgreSQL: it failed to start 3 "
                                    "times in a row; last error: pg_ctl exited with"),
            std::string::npos)
      << given_up;
  EXPECT_EQ(restarts.load(), 1);
}

}  // namespace
}  // namespace perfgate::controller
