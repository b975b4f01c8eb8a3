#include "agent/observe/pg_stats.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"

namespace perfgate::agent {
namespace {

void Gap(v1::RepetitionResult* out, const std::string& name, const std::string& why) {
  v1::Gap* g = out->add_gaps();
  g->set_name(name);
  g->set_reason(why.substr(0, 900));
}

std::string FirstLine(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

void PgStatsCapture::BeginWindow(v1::RepetitionResult* out) {
  reset_ok_ = false;
  try {
    pqxx::connection c(dsn_);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    tx.exec("SELECT pg_stat_statements_reset()");
    reset_ok_ = true;
  } catch (const std::exception& e) {
    Gap(out, "dbstats.statements",
        "pg_stat_statements could not be reset at the window's start: " + FirstLine(e.what()) +
            " (the database needs shared_preload_libraries = 'pg_stat_statements')");
  }
}

void PgStatsCapture::EndWindow(v1::RepetitionResult* out) {
  v1::DbStats* d = out->mutable_dbstats();
  std::unique_ptr<pqxx::connection> c;
  try {
    c = std::make_unique<pqxx::connection>(dsn_);
  } catch (const std::exception& e) {
    Gap(out, "dbstats", "cannot connect: " + FirstLine(e.what()));
    return;
  }
  if (reset_ok_) {
    // PostgreSQL 13 renamed total_time/mean_time to total_exec_time/mean_exec_time.
    const char* kNew = "total_exec_time, mean_exec_time";
    const char* kOld = "total_time, mean_time";
    for (const char* cols : {kNew, kOld}) {
      try {
        pqxx::read_transaction tx(*c);
        auto r = tx.exec_params(
            absl::StrCat("SELECT query, calls, ", cols,
                         ", rows, shared_blks_hit, shared_blks_read FROM pg_stat_statements "
                         "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = "
                         "current_database()) AND query NOT LIKE '%pg_stat_statements%' "
                         "ORDER BY 3 DESC LIMIT $1"),
            static_cast<int>(spec_.top()));
        for (const auto& row : r) {
          v1::StatementStats* s = d->add_statements();
          s->set_query(row[0].is_null() ? "" : row[0].as<std::string>().substr(0, 60000));
          s->set_calls(row[1].as<int64_t>());
          s->set_total_ms(row[2].as<double>());
          s->set_mean_ms(row[3].as<double>());
          s->set_rows(row[4].as<int64_t>());
          s->set_shared_blks_hit(row[5].as<int64_t>());
          s->set_shared_blks_read(row[6].as<int64_t>());
        }
        break;
      } catch (const pqxx::undefined_column&) {
        continue;  // an older PostgreSQL: try the old names
      } catch (const std::exception& e) {
        Gap(out, "dbstats.statements", FirstLine(e.what()));
        break;
      }
    }
  }
  for (const auto& e : spec_.explain()) {
    try {
      pqxx::work tx(*c);
      auto r = tx.exec("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + e.sql());
      v1::ExplainResult* x = d->add_explains();
      x->set_name(e.name());
      x->set_plan_json(r.empty() ? "" : r[0][0].as<std::string>().substr(0, 1 << 20));
      tx.abort();  // EXPLAIN ANALYZE runs the statement: leave no trace
    } catch (const std::exception& ex) {
      Gap(out, "dbstats.explain." + e.name(), FirstLine(ex.what()));
    }
  }
}

}  // namespace perfgate::agent
