#include "controller/store/pg_pool.h"

#include <thread>

#include "common/log/log.h"

namespace perfgate::controller {

absl::Status PgPool::StatusFromCurrentException() {
  try {
    throw;
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(std::string("database connection lost: ") + e.what());
  } catch (const pqxx::unique_violation& e) {
    return absl::AlreadyExistsError(e.what());
  } catch (const pqxx::foreign_key_violation& e) {
    return absl::FailedPreconditionError(e.what());
  } catch (const pqxx::check_violation& e) {
    return absl::InvalidArgumentError(e.what());
  } catch (const pqxx::serialization_failure& e) {
    return absl::AbortedError(e.what());
  } catch (const pqxx::deadlock_detected& e) {
    return absl::AbortedError(e.what());
  } catch (const pqxx::in_doubt_error& e) {
    // Not retried: the commit may have happened.
    return absl::UnknownError(std::string("commit outcome unknown: ") + e.what());
  } catch (const pqxx::sql_error& e) {
    // Class 08 (connection exception) and 57P (operator intervention, e.g. shutdown).
    std::string state = e.sqlstate();
    if (state == "57014")  // query_canceled: our statement_timeout
      return absl::DeadlineExceededError(std::string("database statement timed out: ") + e.what());
    if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0) {
      return absl::UnavailableError(std::string("database unavailable: ") + e.what());
    }
    return absl::InternalError(std::string("SQL error ") + state + ": " + e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(e.what());
  }
}

std::unique_ptr<pqxx::connection> PgPool::Connect() const {
  auto c = std::make_unique<pqxx::connection>(dsn_);
  // JIT off: the controller's queries are short index walks, and PostgreSQL's cost model
  // compiles one as soon as a store is large (10^4 runs: 30 ms of LLVM for a 90 ms history).
  pqxx::nontransaction(*c).exec(
      "SET statement_timeout = " +
      std::to_string(absl::ToInt64Milliseconds(options_.statement_timeout)) + "; SET jit = off");
  return c;
}

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Create(const std::string& dsn, int size,
                                                       PgPoolOptions options) {
  std::unique_ptr<PgPool> pool(new PgPool(dsn, options));
  for (int i = 0; i < size; ++i) {
    try {
      pool->idle_.push_back(pool->Connect());
    } catch (...) {
      return StatusFromCurrentException();
    }
  }
  pool->available_ = size;
  return pool;
}

PgPool::~PgPool() = default;

absl::StatusOr<std::unique_ptr<pqxx::connection>> PgPool::Acquire() {
  std::unique_ptr<pqxx::connection> c;
  {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(
                                  +[](int* n) { return *n > 0; }, &available_),
                              options_.acquire_timeout))
      return absl::UnavailableError(
          "database: no free connection within " + absl::FormatDuration(options_.acquire_timeout) +
          " (all are held: the database or a statement is slow; --db-pool-size sets how many)");
    --available_;
    if (!idle_.empty()) {
      c = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (c && c->is_open()) return c;
  // A slot whose connection broke: reconnect outside the lock.
  try {
    return Connect();
  } catch (...) {
    absl::MutexLock lock(&mu_);
    ++available_;
    return StatusFromCurrentException();
  }
}

void PgPool::Release(std::unique_ptr<pqxx::connection> c) {
  absl::MutexLock lock(&mu_);
  if (c && c->is_open()) idle_.push_back(std::move(c));
  ++available_;
}

absl::Status PgPool::WithConnection(const std::function<absl::Status(pqxx::connection&)>& fn) {
  auto c = Acquire();
  if (!c.ok()) return c.status();
  absl::Status s;
  try {
    s = fn(**c);
  } catch (...) {
    s = StatusFromCurrentException();
  }
  if (absl::IsUnavailable(s)) c->reset();  // drop it; the slot reconnects next time
  Release(std::move(*c));
  return s;
}

absl::Status PgPool::Transact(const std::function<absl::Status(pqxx::work&)>& fn) {
  absl::Status s;
  for (int attempt = 0; attempt < 4; ++attempt) {
    bool connected = false;  // a call that got no connection at all is not retried
    s = WithConnection([&](pqxx::connection& c) -> absl::Status {
      connected = true;
      pqxx::work tx(c);
      absl::Status inner = fn(tx);
      if (!inner.ok()) return inner;  // destructor rolls back
      tx.commit();
      return absl::OkStatus();
    });
    bool retry = absl::IsAborted(s) || (absl::IsUnavailable(s) && attempt == 0 && connected);
    if (!retry) return s;
    spdlog::debug("msg=\"retrying transaction\" attempt={} status=\"{}\"", attempt + 1,
                  s.ToString());
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * (attempt + 1)));
  }
  return s;
}

}  // namespace perfgate::controller
