// The pool's bounds (issue 17): a call that finds every connection held waits a bounded time
// and gets UNAVAILABLE saying why, instead of hanging; a statement longer than the pool's
// statement_timeout is cancelled, DEADLINE_EXCEEDED; migrations are exempt.
#include "controller/store/pg_pool.h"

#include <thread>

#include "absl/synchronization/notification.h"
#include "controller/store/migrations.h"
#include "gtest/gtest.h"
#include "tests/harness/test_postgres.h"

namespace perfgate::controller {
namespace {

TEST(PgPoolTest, AFullPoolAnswersUnavailableInTimeAndASlowStatementIsCancelled) {
  PgPoolOptions o;
  o.acquire_timeout = absl::Milliseconds(300);
  o.statement_timeout = absl::Milliseconds(500);
  auto pool = PgPool::Create(perfgate::testing::TestPostgres::Get().NewDatabase(), 1, o);
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE(ApplyMigrations(**pool, BuiltinMigrations()).ok()) << "exempt from the timeout";

  absl::Notification holding, release;
  std::thread holder([&] {
    (void)(*pool)->WithConnection([&](pqxx::connection&) {
      holding.Notify();
      release.WaitForNotification();
      return absl::OkStatus();
    });
  });
  holding.WaitForNotification();
  const absl::Time start = absl::Now();
  absl::Status s = (*pool)->Transact([](pqxx::work& tx) {
    tx.exec("SELECT 1");
    return absl::OkStatus();
  });
  const absl::Duration waited = absl::Now() - start;
  release.Notify();
  holder.join();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("database: no free connection within 300ms"), std::string::npos) << s;
  EXPECT_GE(waited, absl::Milliseconds(300));
  EXPECT_LT(waited, absl::Seconds(5)) << "one bounded wait, not retried";

  s = (*pool)->Transact([](pqxx::work& tx) {
    tx.exec("SELECT pg_sleep(5)");
    return absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_NE(s.message().find("statement timed out"), std::string::npos) << s;
  // The connection is fine afterwards.
  EXPECT_TRUE((*pool)
                  ->Transact([](pqxx::work& tx) {
                    tx.exec("SELECT 1");
                    return absl::OkStatus();
                  })
                  .ok());
}

}  // namespace
}  // namespace perfgate::controller
