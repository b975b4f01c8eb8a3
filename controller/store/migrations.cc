#include "controller/store/migrations.h"

#include "common/log/log.h"

namespace perfgate::controller {
namespace {
// Arbitrary but fixed: the advisory lock key serialising migrations across replicas.
constexpr int64_t kMigrationLockKey = 0x70657266676174;  // "perfgat"
}  // namespace

absl::StatusOr<int> ApplyMigrations(PgPool& pool, const std::vector<Migration>& migrations) {
  int version = 0;
  absl::Status s = pool.WithConnection([&](pqxx::connection& c) -> absl::Status {
    auto exec = [&c](const std::string& sql) {
      pqxx::nontransaction nt(c);
      return nt.exec(sql);
    };
    // Waiting for another replica's migrations, and a migration itself, may take longer than
    // the pool's statement_timeout: lifted here, restored before the connection goes back.
    const std::string timeout = exec("SHOW statement_timeout")[0][0].as<std::string>();
    exec("SET statement_timeout = 0");
    exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")");
    absl::Status result = [&]() -> absl::Status {
      exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version int PRIMARY KEY, name text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
      version = exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
      int newest = migrations.empty() ? 0 : migrations.back().version;
      if (version > newest) {
        return absl::FailedPreconditionError(
            "database schema is version " + std::to_string(version) +
            " but this binary knows only up to " + std::to_string(newest) +
            "; refusing to run an older controller against a newer schema");
      }
      for (const auto& m : migrations) {
        if (m.version <= version) continue;
        pqxx::work tx(c);
        tx.exec(m.sql);
        tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                       m.name);
        tx.commit();
        spdlog::info("msg=\"applied migration\" version={} name={}", m.version, m.name);
        version = m.version;
      }
      return absl::OkStatus();
    }();
    exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")");
    exec("SET statement_timeout = " + c.quote(timeout));
    return result;
  });
  if (!s.ok()) return s;
  return version;
}

}  // namespace perfgate::controller
