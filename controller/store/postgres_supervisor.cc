#include "controller/store/postgres_supervisor.h"

#include "absl/strings/str_cat.h"
#include "common/log/log.h"

namespace perfgate::controller {

std::string RestartPolicy::OnDeath(absl::Time now) {
  deaths_.push_back(now);
  while (!deaths_.empty() && deaths_.front() <= now - o_.crash_window) deaths_.pop_front();
  if (static_cast<int>(deaths_.size()) > o_.max_deaths)
    return absl::StrCat("it died ", deaths_.size(), " times within ",
                        absl::FormatDuration(o_.crash_window));
  return "";
}

RestartPolicy::Next RestartPolicy::OnFailedStart() {
  ++failed_starts_;
  if (failed_starts_ >= o_.max_failed_starts)
    return {absl::ZeroDuration(),
            absl::StrCat("it failed to start ", failed_starts_, " times in a row")};
  absl::Duration wait = o_.first_backoff;
  for (int i = 0; i < failed_starts_ && wait < o_.max_backoff; ++i) wait *= 2;
  return {std::min(wait, o_.max_backoff), ""};
}

PostgresSupervisor::PostgresSupervisor(EmbeddedPostgres& pg, PostgresSupervisorOptions o)
    : pg_(pg), o_(std::move(o)), policy_(o_.policy) {}

PostgresSupervisor::~PostgresSupervisor() { Stop(); }

void PostgresSupervisor::Start() {
  if (o_.on_state) o_.on_state(true);
  thread_ = std::thread([this] { Loop(); });
}

void PostgresSupervisor::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool PostgresSupervisor::Sleep(absl::Duration d) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

void PostgresSupervisor::Loop() {
  while (Sleep(o_.poll_interval)) {
    if (pg_.ServerAlive()) continue;
    if (o_.on_state) o_.on_state(false);
    if (!Revive()) return;
    if (o_.on_state) o_.on_state(true);
    if (o_.on_restarted) o_.on_restarted();
  }
}

bool PostgresSupervisor::Revive() {
  std::string why = policy_.OnDeath(absl::Now());
  if (why.empty()) {
    spdlog::error(
        "msg=\"private PostgreSQL died: restarting it (crash recovery replays its log)\"");
    absl::Duration wait = policy_.first_backoff();
    // A dead postmaster not yet reaped (its parent is init, which may be slow) still holds the
    // lock file, and no start can succeed until it is gone: wait for it, not counting failures.
    const absl::Time unreaped_until = absl::Now() + o_.max_unreaped;
    while (Sleep(wait)) {
      if (pg_.State() == EmbeddedPostgres::ServerState::kUnreaped && absl::Now() < unreaped_until) {
        wait = o_.poll_interval;
        continue;
      }
      absl::Status s = pg_.StartServer();
      if (s.ok()) {
        policy_.OnStarted();
        spdlog::info("msg=\"private PostgreSQL restarted\"");
        return true;
      }
      RestartPolicy::Next next = policy_.OnFailedStart();
      if (!next.give_up.empty()) {
        why = next.give_up + "; last error: " + std::string(s.message());
        break;
      }
      spdlog::error("msg=\"private PostgreSQL did not start\" retry_in={} error=\"{}\"",
                    absl::FormatDuration(next.wait), std::string(s.message()));
      wait = next.wait;
    }
    if (why.empty()) return false;  // stopping
  }
  absl::Status fatal = absl::UnavailableError("giving up the private PostgreSQL: " + why);
  spdlog::critical("msg=\"{}\"", std::string(fatal.message()));
  if (o_.on_give_up) o_.on_give_up(fatal);
  return false;
}

}  // namespace perfgate::controller
