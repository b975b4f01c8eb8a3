#include "agent/bench/faults.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/bench/generators.h"
#include "agent/exec/readiness.h"
#include "agent/load/pacer.h"
#include "common/json/json_path.h"
#include "common/log/log.h"
#include "common/spec/fault_text.h"
#include "common/status/macros.h"

namespace perfgate::agent {
namespace {

int64_t SinceMs(int64_t start_ns) { return (MonotonicNowNs() - start_ns) / 1'000'000; }

// "10.213.4.3", "10.213.4.3:2379", "http://etcd-2:2379" -> the host part.
std::string HostPart(std::string v) {
  v = std::string(absl::StripAsciiWhitespace(v));
  if (size_t scheme = v.find("://"); scheme != std::string::npos) v = v.substr(scheme + 3);
  if (size_t slash = v.find('/'); slash != std::string::npos) v.resize(slash);
  if (size_t colon = v.rfind(':'); colon != std::string::npos) v.resize(colon);
  return v;
}

}  // namespace

FaultRunner::FaultRunner(const v1::FaultSchedule& schedule, HostControl& hosts, BenchContext& ctx,
                         uint64_t seed)
    : schedule_(schedule), hosts_(hosts), ctx_(ctx), rng_(seed) {
  const int n = schedule.actions_size();
  records_.resize(n);
  in_force_.assign(n, false);
  for (int i = 0; i < n; ++i) {
    const v1::FaultSpec& f = schedule.actions(i);
    v1::FaultRecord& r = records_[i];
    r.set_name(common::FaultName(f, i));
    r.set_action(common::FaultActionWord(f.action()));
    r.set_target(f.target());
    r.set_service(f.service());
    r.set_scheduled_ms(f.at_ms());
    r.set_applied_ms(-1);
    r.set_undone_ms(-1);
    r.set_recovery_ms(-1);
    events_.push_back({int64_t{f.at_ms()} * 1'000'000, static_cast<size_t>(i), false});
    if (f.duration_ms() > 0)
      events_.push_back(
          {int64_t{f.at_ms() + f.duration_ms()} * 1'000'000, static_cast<size_t>(i), true});
  }
  // In time order; at the same time an undo goes first, then actions in the schedule's order.
  std::stable_sort(events_.begin(), events_.end(), [](const Event& a, const Event& b) {
    if (a.at_ns != b.at_ns) return a.at_ns < b.at_ns;
    return a.undo && !b.undo;
  });
}

FaultRunner::~FaultRunner() {
  std::vector<v1::FaultRecord> ignored;
  std::string not_applied;
  if (!finished_) Finish(&ignored, &not_applied).IgnoreError();
}

void FaultRunner::Start(int64_t start_ns) {
  start_ns_ = start_ns;
  thread_ = std::thread([this] { Loop(); });
}

void FaultRunner::Loop() {
  for (const Event& e : events_) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
      // Sleep until ~1 ms before, then the last stretch in short naps: a mutex timeout alone
      // wakes up to a timer slack late.
      while (!stop_) {
        const int64_t left = start_ns_ + e.at_ns - MonotonicNowNs();
        if (left <= 0) break;
        if (left > 2'000'000) {
          mu_.AwaitWithTimeout(absl::Condition(&stop), absl::Nanoseconds(left - 1'000'000));
        } else {
          mu_.Unlock();
          absl::SleepFor(absl::Nanoseconds(std::min<int64_t>(left, 200'000)));
          mu_.Lock();
        }
      }
      if (stop_) return;
    }
    if (e.undo) {
      if (!in_force_[e.fault]) continue;
      absl::Status s = Undo(e.fault);
      records_[e.fault].set_undone_ms(SinceMs(start_ns_));
      if (!s.ok()) {
        records_[e.fault].set_error("undo: " + std::string(s.message()));
        broken_.Update(absl::FailedPreconditionError(
            absl::StrCat("fault ", records_[e.fault].name(), ": undo: ", s.message())));
        return;
      }
      continue;
    }
    absl::Status s = Apply(e.fault);
    if (!s.ok()) {
      records_[e.fault].set_error(std::string(s.message()));
      not_applied_ =
          absl::StrCat("fault ", records_[e.fault].name(), " (", records_[e.fault].action(), " ",
                       records_[e.fault].target(), " at +", records_[e.fault].scheduled_ms(),
                       " ms) could not be applied: ", s.message());
      ctx_.steps.Note(not_applied_);
      return;  // the window no longer measures what the schedule says
    }
  }
}

bool FaultRunner::Stopping() {
  absl::MutexLock lock(&mu_);
  return stop_;
}

absl::StatusOr<std::string> FaultRunner::AskLeader() {
  const v1::LeaderProbe& p = schedule_.leader();
  if (!p.url().empty()) {
    ASSIGN_OR_RETURN(std::string url, ctx_.Expand(p.url()));
    ASSIGN_OR_RETURN(std::string body, ProbeGet(url));
    auto v = common::JsonFieldText(body, p.field());
    if (!v.ok())
      return absl::UnavailableError("GET " + url + ": " + std::string(v.status().message()));
    return *v;
  }
  ASSIGN_OR_RETURN(std::string cmd, ctx_.Expand(p.command()));
  StepOptions o;
  o.spawn.argv = {"/bin/sh", "-c", cmd};
  o.spawn.working_dir = ctx_.workdir;
  o.stream_output = false;
  o.capture_stdout = 4096;
  o.timeout = absl::Seconds(10);
  StepResult r = ctx_.steps.Run(o);
  if (!r.ok()) return absl::UnavailableError(DescribeFailure(cmd, r));
  std::string first(absl::StripAsciiWhitespace(r.stdout_text.substr(0, r.stdout_text.find('\n'))));
  if (first.empty()) return absl::UnavailableError(cmd + ": printed nothing");
  return first;
}

absl::StatusOr<std::string> FaultRunner::ResolveHost(const v1::FaultSpec& f, std::string* detail) {
  const std::vector<HostControl::HostInfo> hosts = hosts_.TestHosts();
  if (f.target() == "leader") {
    // A cluster between leaders (electing after a kill, a pause or a partition) answers "no
    // leader" for a moment: the probe is asked again every 100 ms, for at most kLeaderWait.
    const int64_t give_up = MonotonicNowNs() + absl::ToInt64Nanoseconds(kLeaderWait);
    auto answer = AskLeader();
    int tries = 1;
    std::string first_error;
    while (!answer.ok() && MonotonicNowNs() < give_up && !Stopping()) {
      if (first_error.empty()) first_error = std::string(answer.status().message());
      absl::SleepFor(absl::Milliseconds(100));
      answer = AskLeader();
      ++tries;
    }
    if (!answer.ok()) {
      return absl::UnavailableError(
          absl::StrCat("no leader found (", tries, " tries): ", answer.status().message()));
    }
    const std::string want = HostPart(*answer);
    for (const auto& h : hosts) {
      if (h.name == want || h.address == want) {
        *detail = absl::StrCat("leader probe answered '", *answer, "'");
        if (tries > 1) absl::StrAppend(detail, " on try ", tries, " (first: ", first_error, ")");
        return h.name;
      }
    }
    return absl::NotFoundError(
        absl::StrCat("the leader probe answered '", *answer, "', which is no test host"));
  }
  if (absl::StartsWith(f.target(), "random:")) {
    const std::string role = f.target().substr(7);
    std::vector<std::string> of;
    for (const auto& h : hosts)
      if (h.role == role) of.push_back(h.name);
    if (of.empty()) return absl::NotFoundError("no hosts of role '" + role + "'");
    const std::string pick = of[std::uniform_int_distribution<size_t>(0, of.size() - 1)(rng_)];
    *detail = absl::StrCat("drawn from ", of.size(), " hosts of ", role);
    return pick;
  }
  for (const auto& h : hosts)
    if (h.name == f.target()) return h.name;
  return absl::NotFoundError("no host '" + f.target() + "'");
}

absl::Status FaultRunner::Apply(size_t i) {
  const v1::FaultSpec& f = schedule_.actions(static_cast<int>(i));
  v1::FaultRecord& r = records_[i];
  std::string detail;
  ASSIGN_OR_RETURN(std::string host, ResolveHost(f, &detail));
  r.set_host(host);
  r.set_detail(detail);
  absl::Status s;
  switch (f.action()) {
    case v1::FaultSpec::ACTION_KILL:
      s = hosts_.Kill(f.service(), host);
      break;
    case v1::FaultSpec::ACTION_PAUSE:
      s = hosts_.Pause(f.service(), host, true);
      break;
    case v1::FaultSpec::ACTION_PARTITION:
      s = hosts_.Partition(host, !f.one_way());
      break;
    case v1::FaultSpec::ACTION_NETEM:
      s = hosts_.SetNetem(host, absl::Milliseconds(f.delay_ms()), absl::Milliseconds(f.jitter_ms()),
                          f.loss());
      break;
    default:
      s = absl::InvalidArgumentError("unknown action");
  }
  if (!s.ok()) return s;
  r.set_applied_ms(SinceMs(start_ns_));
  in_force_[i] = true;
  ctx_.steps.Note(absl::StrCat("fault ", r.name(), ": ", r.action(),
                               f.service().empty() ? "" : " " + f.service(), " on ", host, " at +",
                               r.applied_ms(), " ms (scheduled +", r.scheduled_ms(), " ms)",
                               detail.empty() ? "" : "; " + detail));
  return absl::OkStatus();
}

absl::Status FaultRunner::Undo(size_t i) {
  const v1::FaultSpec& f = schedule_.actions(static_cast<int>(i));
  const v1::FaultRecord& r = records_[i];
  in_force_[i] = false;
  absl::Status s;
  switch (f.action()) {
    case v1::FaultSpec::ACTION_KILL:
      s = hosts_.Restart(f.service(), r.host());
      break;
    case v1::FaultSpec::ACTION_PAUSE:
      s = hosts_.Pause(f.service(), r.host(), false);
      break;
    case v1::FaultSpec::ACTION_PARTITION:
      s = hosts_.Heal(r.host());
      break;
    case v1::FaultSpec::ACTION_NETEM:
      s = hosts_.ClearNetem(r.host());
      break;
    default:
      break;
  }
  ctx_.steps.Note(absl::StrCat("fault ", r.name(), " undone on ", r.host(), " at +",
                               SinceMs(start_ns_), " ms",
                               s.ok() ? "" : ": " + std::string(s.message())));
  return s;
}

absl::Status FaultRunner::Finish(std::vector<v1::FaultRecord>* records, std::string* not_applied) {
  if (finished_) return absl::FailedPreconditionError("Finish called twice");
  finished_ = true;
  if (thread_.joinable()) {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
  // What is still in force goes, whatever happened: the next repetition starts whole.
  for (size_t i = 0; i < in_force_.size(); ++i) {
    if (!in_force_[i]) continue;
    if (absl::Status s = Undo(i); !s.ok()) {
      records_[i].set_error("undo after the window: " + std::string(s.message()));
      broken_.Update(absl::FailedPreconditionError(
          absl::StrCat("fault ", records_[i].name(), ": undo after the window: ", s.message())));
    }
  }
  if (absl::Status s = hosts_.WaitRestartedReady(); !s.ok())
    broken_.Update(absl::FailedPreconditionError("after the faults: " + std::string(s.message())));
  *records = records_;
  *not_applied = not_applied_;
  return broken_;
}

namespace {

// A stretch of the timeline is its slices merged into one.
TimelineSlice Sum(const std::vector<TimelineSlice>& t, size_t from, size_t to) {
  TimelineSlice s;
  for (size_t k = from; k < std::min(to, t.size()); ++k) s.Merge(t[k]).IgnoreError();  // one shape
  return s;
}

double ErrorRatio(const TimelineSlice& s) {
  return s.requests() ? static_cast<double>(s.failed()) / s.requests() : 0;
}

double P99Ms(const TimelineSlice& s) { return s.latency.ValueAtPercentile(99) / 1000.0; }

}  // namespace

void AddFaultResults(const v1::RecoveryBand& band_in, const std::vector<TimelineSlice>& timeline,
                     absl::Duration slice, int64_t window_ms, std::vector<v1::FaultRecord>* records,
                     v1::RepetitionResult* out) {
  const double slice_ms = absl::ToDoubleMilliseconds(slice);
  if (slice_ms <= 0) return;
  const double p99_band = band_in.p99_band() > 0 ? band_in.p99_band() : 0.2;
  const double error_band = band_in.error_band() > 0 ? band_in.error_band() : 0.001;
  const int64_t hold_ms = band_in.hold_ms() > 0 ? band_in.hold_ms() : 3000;
  const size_t hold = static_cast<size_t>(std::ceil(hold_ms / slice_ms));
  const size_t n = static_cast<size_t>(std::ceil(window_ms / slice_ms));
  auto at = [&](int64_t ms) {
    return std::min(n, static_cast<size_t>(std::max<int64_t>(0, ms) / slice_ms));
  };
  // The applied faults in time order.
  std::vector<v1::FaultRecord*> applied;
  for (auto& r : *records)
    if (r.applied_ms() >= 0) applied.push_back(&r);
  std::stable_sort(applied.begin(), applied.end(),
                   [](auto* a, auto* b) { return a->applied_ms() < b->applied_ms(); });
  auto add = [&](const std::string& name, const char* unit, double v) {
    AddMeasurement(out, name, unit, v, v1::DIRECTION_LOWER_IS_BETTER);
  };
  for (size_t k = 0; k < applied.size(); ++k) {
    v1::FaultRecord& r = *applied[k];
    const int64_t prev_end =
        k == 0 ? 0 : (applied[k - 1]->undone_ms() >= 0 ? applied[k - 1]->undone_ms() : window_ms);
    const int64_t end = r.undone_ms() >= 0 ? r.undone_ms() : window_ms;
    const int64_t next = k + 1 < applied.size() ? applied[k + 1]->applied_ms() : window_ms;
    const size_t s0 = at(prev_end), s1 = at(r.applied_ms()), s2 = at(end), s3 = at(next);
    // The slice just before the fault is left out of "before": requests in flight when it
    // struck were intended there, and failed or waited because of it.
    const TimelineSlice before = Sum(timeline, s0, s1 > s0 + 1 ? s1 - 1 : s1);
    const TimelineSlice during = Sum(timeline, s1, std::max(s1, s2));
    const TimelineSlice after = Sum(timeline, s2, std::max(s2, s3));
    const std::string p = "fault." + r.name() + ".";
    for (auto [phase, st] :
         {std::pair{"before", &before}, {"during", &during}, {"after", &after}}) {
      if (st->requests() == 0) continue;
      add(p + phase + ".p99", "ms", P99Ms(*st));
      add(p + phase + ".error_ratio", "ratio", ErrorRatio(*st));
    }
    if (before.latency.total() == 0) {
      r.set_recovery_note("no requests answered before the fault to recover to");
      continue;
    }
    const double max_ratio = ErrorRatio(before) + error_band;
    const double max_p99 = P99Ms(before) * (1 + p99_band);
    const size_t last = std::min(s3, n);
    for (size_t t = s1; t + hold <= last; ++t) {
      const TimelineSlice h = Sum(timeline, t, t + hold);
      if (h.requests() > 0 && ErrorRatio(h) <= max_ratio && P99Ms(h) <= max_p99) {
        r.set_recovery_ms(std::max(0.0, t * slice_ms - r.applied_ms()));
        break;
      }
    }
    r.set_recovery_note(absl::StrFormat(
        "%s: errors <= %.2f%% and p99 <= %.1f ms (pre-fault %.2f%%, %.1f ms) for %d ms",
        r.recovery_ms() >= 0 ? "recovered"
        : next < window_ms   ? "not recovered before the next fault"
                             : "not recovered within the window",
        max_ratio * 100, max_p99, ErrorRatio(before) * 100, P99Ms(before), hold_ms));
    if (r.recovery_ms() >= 0) add(p + "recovery", "ms", r.recovery_ms());
  }
}

}  // namespace perfgate::agent
