// PostgreSQL statistics of a stack database over each measured window: pg_stat_statements is
// reset when the window starts and its top statements by total execution time are read when it
// ends; the suite's named queries are run under EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) inside a
// transaction that is rolled back. Problems become gaps, never a failed repetition.
#pragma once

#include <string>

#include "perfgate/v1/results.pb.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

class PgStatsCapture {
 public:
  // `dsn` is the expanded connection string.
  PgStatsCapture(const v1::PostgresStatsSpec& spec, std::string dsn)
      : spec_(spec), dsn_(std::move(dsn)) {}

  void BeginWindow(v1::RepetitionResult* out);
  void EndWindow(v1::RepetitionResult* out);

 private:
  const v1::PostgresStatsSpec spec_;
  const std::string dsn_;
  bool reset_ok_ = false;
};

}  // namespace perfgate::agent
