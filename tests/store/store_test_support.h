// What the store tests share: a migrated database of the tests' PostgreSQL, and plain SQL for
// arranging a case (ageing a row, expiring a lease) and counting what is left.
#pragma once

#include <memory>
#include <string>

#include "controller/store/migrations.h"
#include "controller/store/pg_pool.h"
#include "gtest/gtest.h"
#include "tests/harness/test_postgres.h"

namespace perfgate::controller::testing {

// A pool of `size` connections on a fresh database with every migration applied.
inline std::unique_ptr<PgPool> MigratedPool(int size = 4, std::string* dsn = nullptr) {
  const std::string d = perfgate::testing::TestPostgres::Get().NewDatabase();
  if (dsn != nullptr) *dsn = d;
  auto pool = PgPool::Create(d, size);
  EXPECT_TRUE(pool.ok()) << pool.status();
  if (!pool.ok()) return nullptr;
  EXPECT_TRUE(ApplyMigrations(**pool, BuiltinMigrations()).ok());
  return *std::move(pool);
}

inline void Sql(PgPool& pool, const std::string& sql) {
  EXPECT_TRUE(pool.Transact([&](pqxx::work& tx) {
                    tx.exec(sql);
                    return absl::OkStatus();
                  })
                  .ok())
      << sql;
}

// The single number `sql` selects (-1 on error).
inline int64_t Count(PgPool& pool, const std::string& sql) {
  int64_t n = -1;
  EXPECT_TRUE(pool.Transact([&](pqxx::work& tx) {
                    n = tx.exec1(sql)[0].as<int64_t>();
                    return absl::OkStatus();
                  })
                  .ok())
      << sql;
  return n;
}

}  // namespace perfgate::controller::testing
