// Schema migrations: numbered SQL files under controller/store/migrations/, compiled into the
// binary and applied in order at start-up. Two controllers starting at once are serialised by
// a PostgreSQL advisory lock, so each migration runs exactly once.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/store/pg_pool.h"

namespace perfgate::controller {

struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// The migrations built into this binary, ordered by version.
const std::vector<Migration>& BuiltinMigrations();

// Applies every migration newer than the database's version, each in its own transaction.
// Returns the resulting schema version. FAILED_PRECONDITION if the database is newer than
// this binary knows (a downgrade), so nothing is touched.
absl::StatusOr<int> ApplyMigrations(PgPool& pool, const std::vector<Migration>& migrations);

}  // namespace perfgate::controller
