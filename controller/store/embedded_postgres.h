// A private PostgreSQL cluster owned by one process: the controller's default when no
// --postgres-dsn is given, and the test harness's database. It lives under `data_dir`, listens
// only on a unix socket inside it (no TCP at all), and runs as an unprivileged user when we
// are root (PostgreSQL refuses to run as root). A cluster left running by a crashed owner is
// adopted, not restarted. Not thread-safe; one owner.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace perfgate::controller {

struct EmbeddedPostgresOptions {
  std::string data_dir;  // the cluster goes in data_dir/pg, sockets in data_dir/run
  std::string bin_dir;   // empty: newest /usr/lib/postgresql/*/bin
  std::string database = "perfgate";
  std::string run_as_user;  // when root; empty: "postgres" if it exists, else "nobody"
  bool durable = true;      // false (tests only): fsync off for speed
  std::map<std::string, std::string> settings;  // extra postgresql.conf settings
};

class EmbeddedPostgres {
 public:
  // Initialises the cluster if needed and starts it (or adopts a running one), then creates
  // the database. FAILED_PRECONDITION when no PostgreSQL binaries are found or the data
  // directory cannot be reached by the server's user; INTERNAL when initdb/pg_ctl fail (their
  // output is in the message and in data_dir/postgres.log).
  static absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> Start(EmbeddedPostgresOptions opts);
  // Stops the server (fast shutdown).
  ~EmbeddedPostgres();

  // libpq connection string for `database` (or another database of the cluster).
  std::string Dsn() const { return DsnFor(opts_.database); }
  std::string DsnFor(const std::string& database) const;

  // The postmaster of postmaster.pid (the supervisor polls this): alive; dead but not yet
  // reaped by whoever adopted it (a zombie, whose lock file keeps a new server from starting);
  // or gone.
  enum class ServerState { kAlive, kUnreaped, kGone };
  ServerState State() const;
  bool ServerAlive() const { return State() == ServerState::kAlive; }

  // pg_ctl restart / stop / start, for fault-injection tests, operators and the supervisor.
  absl::Status Restart();
  absl::Status Stop();
  absl::Status StartServer();

 private:
  explicit EmbeddedPostgres(EmbeddedPostgresOptions opts) : opts_(std::move(opts)) {}
  absl::Status Init();
  absl::Status PgCtl(const std::vector<std::string>& args, std::string* output);
  absl::Status EnsureDatabase();

  EmbeddedPostgresOptions opts_;
  std::string cluster_dir_;
  std::string socket_dir_;
  std::optional<uint32_t> uid_, gid_;
  bool running_ = false;
};

}  // namespace perfgate::controller
