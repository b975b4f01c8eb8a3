#include "controller/campaign/scheduler.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/process/subprocess.h"
#include "common/time/cron.h"
#include "spdlog/spdlog.h"

namespace perfgate::controller {

absl::StatusOr<std::string> GitBranchHead(const std::string& repository,
                                          const std::string& branch) {
  common::SpawnOptions o;
  o.argv = {"timeout", "30", "git", "ls-remote", "--", repository, "refs/heads/" + branch};
  o.env_add = {{"GIT_TERMINAL_PROMPT", "0"}};
  int code = -1;
  auto out = common::RunAndCapture(o, &code);
  if (!out.ok()) return out.status();
  if (code != 0) {
    return absl::UnavailableError(absl::StrCat("git ls-remote ", repository, " (exit ", code,
                                               "): ", absl::StripAsciiWhitespace(*out)));
  }
  const std::string sha = out->substr(0, out->find_first_of(" \t\n"));
  if (sha.size() != 40)
    return absl::NotFoundError(absl::StrCat("no branch '", branch, "' in ", repository));
  return sha;
}

std::string ScheduleRepository(const v1::Schedule& s) {
  auto of = [](const v1::RunSpec& spec) -> std::string {
    for (const v1::JobSpec& j : spec.jobs()) {
      if (j.has_benchmark() && !j.benchmark().build().repository().empty())
        return j.benchmark().build().repository();
      if (j.has_suite_file()) return j.suite_file().repository();
    }
    return "";
  };
  if (s.has_run()) return of(s.run());
  for (const v1::CampaignTier& t : s.campaign().campaign().tiers())
    if (std::string r = of(t.spec()); !r.empty()) return r;
  return "";
}

Scheduler::Scheduler(ScheduleStore& store, HeadResolver heads, absl::Duration poll,
                     const common::Clock& clock)
    : store_(store), heads_(std::move(heads)), poll_(poll), clock_(clock) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  thread_ = std::thread([this] {
    do {
      FireDue();
    } while (!stop_.WaitForNotificationWithTimeout(poll_));
  });
}

void Scheduler::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

int Scheduler::FireDue() {
  auto due = store_.DueSchedules(20);
  if (!due.ok()) {
    spdlog::warn("msg=\"schedules not read\" error=\"{}\"", std::string(due.status().message()));
    return 0;
  }
  int fired = 0;
  for (const v1::Schedule& s : *due) {
    auto cron = common::CronSchedule::Parse(s.cron());
    if (!cron.ok()) continue;  // checked when added
    FireOrder o;
    o.id = s.id();
    o.slot = absl::FromUnixSeconds(s.next_fire_at().seconds()) +
             absl::Nanoseconds(s.next_fire_at().nanos());
    // The next slot after now: slots missed while no controller ran are not fired one by one.
    o.next = cron->Next(std::max(clock_.Now(), o.slot));
    const std::string repo = ScheduleRepository(s);
    if (!repo.empty()) {
      auto head = heads_(repo, s.branch());
      if (head.ok()) {
        o.commit = *head;
      } else {
        o.error = absl::StrCat("the head of ", s.branch(),
                               " could not be read: ", head.status().message());
      }
    }
    auto done = store_.Fire(o);
    if (!done.ok()) {
      spdlog::warn("msg=\"schedule not fired\" schedule={} error=\"{}\"", s.id(),
                   std::string(done.status().message()));
      continue;
    }
    if (!*done) continue;  // another controller fired this slot
    ++fired;
    if (o.error.empty()) {
      spdlog::info("msg=\"schedule fired\" schedule={} cron=\"{}\" branch={} commit={}", s.id(),
                   s.cron(), s.branch(), o.commit);
      if (on_fired_) on_fired_();
    } else {
      spdlog::warn("msg=\"schedule slot passed without a run\" schedule={} error=\"{}\"", s.id(),
                   o.error);
    }
  }
  return fired;
}

}  // namespace perfgate::controller
