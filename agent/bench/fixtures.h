// Fixtures loaded into the stack before the measured phase:
//  - pg_dump: a PostgreSQL backup restored as-is into `dsn`: custom or tar format (pg_restore),
//    a directory-format dump (pg_restore -j 2), or a plain SQL dump (psql), each optionally
//    gzip-compressed; the format is told from the file's first bytes. Owners and privileges of
//    the source are skipped (--no-owner --no-privileges), so a production backup restores
//    without its roles (for a plain SQL dump, its OWNER TO / GRANT / REVOKE lines are dropped).
//  - sql: a SQL script (optionally gzip-compressed) run with psql, stopping at the first error.
//  - command: any shell command.
#pragma once

#include "absl/status/status.h"
#include "agent/exec/bench_context.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

enum class DumpFormat { kPlainSql, kCustom, kTar, kDirectory };

// What `path` holds, looking through gzip. NOT_FOUND when it cannot be read.
absl::StatusOr<DumpFormat> DetectDumpFormat(const std::string& path, bool* gzipped);

// FAILED_PRECONDITION naming the fixture and the failing step; CANCELLED on cancel.
absl::Status LoadFixture(const v1::FixtureSpec& f, int index, BenchContext& ctx);

}  // namespace perfgate::agent
