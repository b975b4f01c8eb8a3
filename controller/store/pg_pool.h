// A small pool of libpqxx connections shared by the controller's stores. libpqxx throws; this
// is the one place its exceptions become absl::Status codes:
//   broken connection        -> UNAVAILABLE (the pool reconnects on next use)
//   unique/foreign-key/check -> ALREADY_EXISTS / FAILED_PRECONDITION / INVALID_ARGUMENT
//   serialization, deadlock  -> ABORTED (retried inside Transact)
//   commit outcome unknown   -> UNKNOWN (never retried)
//   statement_timeout        -> DEADLINE_EXCEEDED
//   no free connection       -> UNAVAILABLE after PgPoolOptions::acquire_timeout
//   other SQL errors         -> INTERNAL
// Safe for concurrent use: each call gets a connection of its own for its duration.
#pragma once

#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace perfgate::controller {

struct PgPoolOptions {
  // How long a call waits for a free connection before UNAVAILABLE (instead of hanging while a
  // slow database or query holds them all).
  absl::Duration acquire_timeout = absl::Seconds(10);
  // PostgreSQL's statement_timeout on every connection: a statement running longer is
  // cancelled, DEADLINE_EXCEEDED (0: none). Migrations lift it for their own transaction.
  absl::Duration statement_timeout = absl::Seconds(60);
};

class PgPool {
 public:
  // Connects `size` connections eagerly; UNAVAILABLE if the database cannot be reached.
  static absl::StatusOr<std::unique_ptr<PgPool>> Create(const std::string& dsn, int size,
                                                        PgPoolOptions options = {});
  ~PgPool();

  // Runs `fn` in a read-write transaction and commits. Retries up to 3 times on ABORTED
  // (serialization failure, deadlock) and once on a broken connection. `fn` may be called
  // more than once, so it must not have effects outside the transaction except through its
  // return value. An error status returned by `fn` rolls back (and is not retried unless it
  // is ABORTED).
  absl::Status Transact(const std::function<absl::Status(pqxx::work&)>& fn);

  // Runs `fn` with a raw connection (for LISTEN, COPY, advisory locks held across calls).
  absl::Status WithConnection(const std::function<absl::Status(pqxx::connection&)>& fn);

  // Maps the exception in flight (call from a catch block) to a status.
  static absl::Status StatusFromCurrentException();

 private:
  PgPool(std::string dsn, PgPoolOptions o) : dsn_(std::move(dsn)), options_(o) {}
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Acquire();
  std::unique_ptr<pqxx::connection> Connect() const;  // throws as libpqxx does
  void Release(std::unique_ptr<pqxx::connection> c);

  const std::string dsn_;
  const PgPoolOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int available_ ABSL_GUARDED_BY(mu_) = 0;  // idle + not yet (re)connected slots
};

}  // namespace perfgate::controller
