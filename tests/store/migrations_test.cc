#include "controller/store/migrations.h"

#include <thread>

#include "gtest/gtest.h"
#include "tests/harness/test_postgres.h"

namespace perfgate::controller {
namespace {

TEST(MigrationsTest, ConcurrentStartsApplyEachMigrationOnce) {
  std::string dsn = perfgate::testing::TestPostgres::Get().NewDatabase();
  std::vector<absl::StatusOr<int>> results(4, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto pool = PgPool::Create(dsn, 1);
      if (!pool.ok()) {
        results[i] = pool.status();
        return;
      }
      results[i] = ApplyMigrations(**pool, BuiltinMigrations());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, BuiltinMigrations().back().version);
  }
  auto pool = PgPool::Create(dsn, 1);
  ASSERT_TRUE(pool.ok());
  int64_t rows = 0;
  ASSERT_TRUE((*pool)
                  ->Transact([&](pqxx::work& tx) {
                    rows = tx.exec("SELECT count(*) FROM schema_migrations")[0][0].as<int64_t>();
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(rows, static_cast<int64_t>(BuiltinMigrations().size()));
}

TEST(MigrationsTest, RefusesADatabaseNewerThanTheBinary) {
  std::string dsn = perfgate::testing::TestPostgres::Get().NewDatabase();
  auto pool = PgPool::Create(dsn, 1);
  ASSERT_TRUE(pool.ok());
  ASSERT_TRUE(ApplyMigrations(**pool, BuiltinMigrations()).ok());
  // Pretend the binary only knows version 0 migrations: the database is newer.
  auto status = ApplyMigrations(**pool, {});
  EXPECT_TRUE(absl::IsFailedPrecondition(status.status())) << status.status();
}

TEST(MigrationsTest, BadDsnIsUnavailable) {
  auto pool = PgPool::Create("host=/nonexistent-socket-dir port=1 dbname=x", 1);
  EXPECT_TRUE(absl::IsUnavailable(pool.status())) << pool.status();
}

}  // namespace
}  // namespace perfgate::controller
