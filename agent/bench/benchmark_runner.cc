#include "agent/bench/benchmark_runner.h"

#include <filesystem>
#include <optional>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/bench/build_cache.h"
#include "agent/bench/faults.h"
#include "agent/bench/fixtures.h"
#include "agent/bench/generators.h"
#include "agent/bench/harness.h"
#include "agent/bench/phases.h"
#include "agent/bench/resource_sampler.h"
#include "agent/bench/stack.h"
#include "agent/exec/bench_context.h"
#include "agent/load/pacer.h"
#include "common/log/log.h"
#include "common/net/local_port.h"
#include "common/stats/summary.h"
#include "common/status/macros.h"
#include "google/protobuf/util/time_util.h"

namespace perfgate::agent {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

const v1::Measurement* Find(const v1::RepetitionResult& r, const std::string& name) {
  for (const auto& m : r.measurements())
    if (m.name() == name) return &m;
  return nullptr;
}

// One line for the log about a finished repetition.
std::string Headline(const v1::RepetitionResult& r) {
  std::vector<std::string> parts;
  for (const char* name :
       {"http.throughput", "http.latency.p50", "http.latency.p99", "pg.tps", "pg.latency.mean"}) {
    if (const auto* m = Find(r, name))
      parts.push_back(absl::StrFormat("%s=%.4g %s", name, m->value(), m->unit()));
  }
  if (parts.empty() && r.measurements_size() > 0) {
    const auto& m = r.measurements(0);
    parts.push_back(absl::StrFormat("%s=%.4g %s", m.name(), m.value(), m.unit()));
  }
  std::string s = absl::StrJoin(parts, " ");
  if (!r.valid()) absl::StrAppend(&s, " INVALID: ", r.invalid_reason());
  return s;
}

}  // namespace

std::vector<std::string> CheckLimits(
    const google::protobuf::RepeatedPtrField<v1::MetricLimit>& limits,
    const std::vector<v1::RepetitionResult>& results) {
  std::vector<std::string> broken;
  for (const auto& l : limits) {
    std::vector<double> values;
    std::string unit;
    for (const auto& r : results) {
      if (!r.valid()) continue;
      if (const auto* m = Find(r, l.metric())) {
        values.push_back(m->value());
        unit = m->unit();
      }
    }
    if (values.empty()) {
      broken.push_back(l.metric() + ": no valid repetition reported it");
      continue;
    }
    double median = common::Summarize(values).median;
    if (l.has_max() && median > l.max())
      broken.push_back(
          absl::StrFormat("%s: median %.6g %s > max %.6g", l.metric(), median, unit, l.max()));
    if (l.has_min() && median < l.min())
      broken.push_back(
          absl::StrFormat("%s: median %.6g %s < min %.6g", l.metric(), median, unit, l.min()));
  }
  return broken;
}

void BenchmarkRunner::Cancel(const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (cancel_reason_.empty()) cancel_reason_ = reason;
  }
  cancel_ = true;
}

RunOutcome BenchmarkRunner::Run(const v1::BenchmarkJob& job) {
  StepRunner steps(journal_, cancel_, clock_);
  steps.set_sandbox(sandbox_);
  const v1::Assign& a = journal_.assign();
  steps.Note(absl::StrCat("attempt ", a.attempt_id(), " starting: benchmark of commit ",
                          a.commit().empty() ? "(none)" : a.commit()));
  // The attempt's own deadline: the watchdog cancels, and the outcome says "timed out".
  const absl::Duration timeout = absl::Seconds(job.timeout_seconds());
  std::atomic<bool> timed_out{false}, done{false};
  std::thread watchdog([&] {
    absl::Time until = clock_.Now() + timeout;
    while (!done && clock_.Now() < until) absl::SleepFor(absl::Milliseconds(100));
    if (!done) {
      timed_out = true;
      Cancel(absl::StrCat("timed out after ", absl::FormatDuration(timeout)));
    }
  });
  absl::Time t0 = clock_.Now();
  std::vector<v1::RepetitionResult> results;
  RunOutcome out = RunInner(job, steps, &results);
  done = true;
  watchdog.join();
  if (out.outcome == v1::ATTEMPT_OUTCOME_CANCELLED) {
    absl::MutexLock lock(&mu_);
    out.message = cancel_reason_.empty() ? "cancelled" : cancel_reason_;
    if (timed_out) out.outcome = v1::ATTEMPT_OUTCOME_FAILED;  // the benchmark's own fault
  }
  steps.Note(
      absl::StrCat("attempt ", a.attempt_id(), " ended: ", v1::AttemptOutcome_Name(out.outcome),
                   out.message.empty() ? "" : " (" + out.message + ")",
                   absl::StrFormat(" after %.3fs", absl::ToDoubleSeconds(clock_.Now() - t0))));
  return out;
}

RunOutcome BenchmarkRunner::RunInner(const v1::BenchmarkJob& job, StepRunner& steps,
                                     std::vector<v1::RepetitionResult>* results) {
  const v1::Assign& a = journal_.assign();
  auto failed = [](const std::string& m) { return RunOutcome{v1::ATTEMPT_OUTCOME_FAILED, 0, m}; };
  auto from_status = [&](const absl::Status& s) {
    if (absl::IsCancelled(s)) return RunOutcome{v1::ATTEMPT_OUTCOME_CANCELLED, 0, ""};
    if (absl::IsInternal(s) || absl::IsUnavailable(s))
      return RunOutcome{v1::ATTEMPT_OUTCOME_INFRA_FAILURE, 0, std::string(s.message())};
    return failed(std::string(s.message()));
  };
  std::error_code ec;
  std::filesystem::create_directories(workdir_, ec);
  BenchContext ctx{journal_, steps, cancel_, workdir_, {}, clock_};
  ctx.hosts_prefix = hosts_prefix_;
  ctx.host_pool = host_pool_;
  ctx.vars["host"] = "127.0.0.1";
  ctx.vars["workdir"] = workdir_;
  ctx.vars["commit"] = a.commit();
  ctx.vars["run_id"] = std::to_string(a.run_id());
  ctx.vars["attempt_id"] = std::to_string(a.attempt_id());
  std::vector<std::string> ports;
  if (job.stack().has_exec()) {
    for (const auto& s : job.stack().exec().services())
      ports.insert(ports.end(), s.ports().begin(), s.ports().end());
  } else if (job.stack().has_compose()) {
    ports.assign(job.stack().compose().ports().begin(), job.stack().compose().ports().end());
  }
  for (const auto& p : ports) {
    auto port = common::FreeLocalPort();
    if (!port.ok()) return from_status(absl::InternalError(port.status().message()));
    ctx.vars["port:" + p] = std::to_string(*port);
    steps.Note(absl::StrCat("port ", p, " = ", *port));
  }

  if (job.has_build()) {
    BuildCache cache(cache_dir_);
    auto src = cache.Prepare(job.build(), a.commit(), ctx);
    if (!src.ok()) return from_status(src.status());
  }

  std::unique_ptr<Stack> stack;
  if (job.has_stack()) {
    stack = MakeStack(job.stack(), ctx);
    // From here on the stack comes down whatever happens (the destructor stops it too).
    if (auto s = stack->Start(); !s.ok()) {
      stack->Stop();
      return from_status(s);
    }
  }
  std::unique_ptr<Observer> observer;
  auto teardown = [&](RunOutcome o) {
    if (observer) observer->Stop();
    if (stack) stack->Stop();
    return o;
  };
  for (int i = 0; i < job.fixtures_size(); ++i) {
    if (auto s = LoadFixture(job.fixtures(i), i, ctx); !s.ok()) return teardown(from_status(s));
  }
  observer = std::make_unique<Observer>(job.observe(), ctx, observe_);
  if (auto s = observer->Start(); !s.ok()) return teardown(from_status(s));
  const v1::WorkloadSpec& w = job.workload();
  absl::Status measured = w.has_harness() ? RunHarnessRuns(w, ctx, results)
                                          : RunWindows(w, ctx, stack.get(), *observer, results);
  if (!measured.ok()) return teardown(from_status(measured));
  teardown({});
  int valid = 0;
  const size_t reps = results->size();
  for (const auto& r : *results) valid += r.valid();
  if (valid == 0) return failed(absl::StrCat("none of the ", reps, " repetitions was valid"));
  std::vector<std::string> broken = CheckLimits(job.limits(), *results);
  if (!broken.empty()) {
    for (const auto& b : broken) steps.Note("limit broken: " + b);
    return failed("limits broken: " + absl::StrJoin(broken, "; "));
  }
  return {v1::ATTEMPT_OUTCOME_SUCCEEDED, 0,
          absl::StrCat(valid, " of ", reps, " repetitions valid")};
}

absl::Status BenchmarkRunner::Keep(const v1::RepetitionResult& r,
                                   std::vector<v1::RepetitionResult>* results) {
  if (auto st = journal_.AddResult(r); !st.ok())
    return absl::InternalError("cannot spool result: " + std::string(st.message()));
  results->push_back(r);
  if (result_added_) result_added_();
  return absl::OkStatus();
}

absl::Status BenchmarkRunner::RunWindows(const v1::WorkloadSpec& w, BenchContext& ctx, Stack* stack,
                                         Observer& observer,
                                         std::vector<v1::RepetitionResult>* results) {
  const int reps = static_cast<int>(w.repetitions());
  const absl::Duration window = absl::Seconds(w.duration_seconds());
  if (w.warmup_seconds() > 0) {
    ctx.steps.Note(absl::StrCat("warm-up for ", w.warmup_seconds(), "s (not measured)"));
    v1::RepetitionResult discard;
    RETURN_IF_ERROR(RunGenerator(w, absl::Seconds(w.warmup_seconds()), true, ctx, &discard));
  }
  for (int rep = 1; rep <= reps; ++rep) {
    if (cancel_) return absl::CancelledError("cancelled");
    ctx.steps.Note(absl::StrCat("repetition ", rep, "/", reps, ": ", absl::FormatDuration(window)));
    v1::RepetitionResult r;
    r.set_repetition(rep);
    ResourceSampler sampler(stack ? stack->Processes() : std::vector<ServiceProcesses>{},
                            stack ? stack->HostGroups() : std::vector<HostGroup>{},
                            absl::Milliseconds(250), clock_);
    observer.BeginWindow(&r);
    *r.mutable_started_at() = ToTimestamp(clock_.Now());
    sampler.Start();
    uint64_t attempt = 0;
    (void)absl::SimpleAtoi(ctx.vars["attempt_id"], &attempt);
    const uint64_t seed = attempt * 1000 + rep;
    const std::string label = absl::StrCat("repetition ", rep);
    auto heap_snapshot = [&observer](const std::string& point) { observer.HeapSnapshot(point); };
    absl::Status s = w.phases_size() > 0 ? RunPhases(w, ctx, stack, seed, label, &r, heap_snapshot)
                                         : RunLoadWindow(w, window, ctx, stack, seed, label, &r);
    sampler.Stop(&r);
    *r.mutable_ended_at() = ToTimestamp(clock_.Now());
    RETURN_IF_ERROR(s);
    observer.EndWindow(&r);
    if (stack) {
      if (std::string dead = stack->CheckAlive(); !dead.empty())
        return absl::FailedPreconditionError(absl::StrCat("repetition ", rep, ": ", dead));
    }
    RETURN_IF_ERROR(Keep(r, results));
    ctx.steps.Note(absl::StrCat("repetition ", rep, "/", reps, " done: ", Headline(r)));
    if (rep < reps && w.pause_seconds() > 0 && !ctx.Sleep(absl::Seconds(w.pause_seconds())))
      return absl::CancelledError("cancelled");
  }
  return absl::OkStatus();
}

absl::Status BenchmarkRunner::RunHarnessRuns(const v1::WorkloadSpec& w, BenchContext& ctx,
                                             std::vector<v1::RepetitionResult>* results) {
  const int runs = static_cast<int>(w.repetitions());
  const std::string name = HarnessName(w.harness().format());
  for (int run = 1; run <= runs; ++run) {
    if (cancel_) return absl::CancelledError("cancelled");
    ctx.steps.Note(absl::StrCat(name, " run ", run, "/", runs));
    absl::Time start = clock_.Now();
    ASSIGN_OR_RETURN(std::vector<v1::RepetitionResult> got, RunHarness(w.harness(), ctx));
    absl::Time end = clock_.Now();
    if (results->size() + got.size() > kMaxHarnessRepetitions) {
      return absl::FailedPreconditionError(absl::StrCat(
          name, ": more than ", kMaxHarnessRepetitions, " repetitions over ", run, " runs"));
    }
    for (auto& r : got) {
      r.set_repetition(static_cast<int32_t>(results->size() + 1));
      *r.mutable_started_at() = ToTimestamp(start);
      *r.mutable_ended_at() = ToTimestamp(end);
      RETURN_IF_ERROR(Keep(r, results));
    }
    ctx.steps.Note(absl::StrCat(name, " run ", run, "/", runs, " done: ", got.size(),
                                " repetitions, ", got.empty() ? "" : Headline(got.front())));
  }
  return absl::OkStatus();
}

}  // namespace perfgate::agent
