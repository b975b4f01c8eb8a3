// Keeps the controller's private PostgreSQL (EmbeddedPostgres) running. The controller started
// that server, so when it dies (a kill -9, the OOM killer, a crash) the controller restarts it:
// PostgreSQL's own crash recovery replays the WAL on start, the connection pool and the
// LISTEN connection reconnect by themselves, and the lab resumes. Restarts back off
// exponentially; a server that cannot be started again, or keeps dying, is given up with a fatal
// error (the controller then stops, saying why). With --postgres-dsn there is nothing to
// supervise: the pool keeps reconnecting to the operator's server.
#pragma once

#include <deque>
#include <functional>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/store/embedded_postgres.h"

namespace perfgate::controller {

struct RestartPolicyOptions {
  absl::Duration first_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
  // Failed starts in a row before giving up (with the backoff above, about 1.5 minutes).
  int max_failed_starts = 8;
  // More deaths than this within `crash_window` is a crash loop: given up.
  int max_deaths = 5;
  absl::Duration crash_window = absl::Minutes(10);
};

// When to try again and when to give up; pure, so that it is tested with a fake clock.
class RestartPolicy {
 public:
  explicit RestartPolicy(RestartPolicyOptions o) : o_(o) {}
  // The server was found dead at `now`. Returns the reason to give up ("" to restart).
  std::string OnDeath(absl::Time now);
  // A start failed: the wait before the next one, or the reason to give up.
  struct Next {
    absl::Duration wait;
    std::string give_up;  // non-empty: stop trying
  };
  Next OnFailedStart();
  void OnStarted() { failed_starts_ = 0; }
  // The wait before the first start after a death.
  absl::Duration first_backoff() const { return o_.first_backoff; }

 private:
  RestartPolicyOptions o_;
  std::deque<absl::Time> deaths_;
  int failed_starts_ = 0;
};

struct PostgresSupervisorOptions {
  absl::Duration poll_interval = absl::Seconds(1);
  // How long a dead postmaster may stay unreaped (a zombie holding its lock file) before starts
  // are tried anyway.
  absl::Duration max_unreaped = absl::Minutes(2);
  RestartPolicyOptions policy;
  std::function<void(bool up)> on_state;         // server up or down (for a gauge)
  std::function<void()> on_restarted;            // after a successful restart
  std::function<void(absl::Status)> on_give_up;  // fatal: the caller stops
};

class PostgresSupervisor {
 public:
  PostgresSupervisor(EmbeddedPostgres& pg, PostgresSupervisorOptions o);
  ~PostgresSupervisor();  // Stop()
  void Start();
  void Stop();

 private:
  void Loop();
  // Sleeps up to `d`; false when stopping.
  bool Sleep(absl::Duration d);
  // Restarts the dead server; false when given up (or stopping).
  bool Revive();

  EmbeddedPostgres& pg_;
  PostgresSupervisorOptions o_;
  RestartPolicy policy_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace perfgate::controller
