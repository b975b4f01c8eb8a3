#include "agent/executor.h"

#include <algorithm>
#include <filesystem>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/bench/benchmark_runner.h"
#include "agent/bench/repository_reader.h"
#include "agent/exec/command_runner.h"
#include "agent/hosts/cgroup.h"
#include "agent/hosts/netns_hosts.h"
#include "agent/spool/attempt_journal.h"
#include "common/hash/stable_hash.h"
#include "common/log/log.h"

namespace perfgate::agent {

std::string AttemptCgroupPrefix(const std::string& work_dir) {
  // Keyed by the work directory, which one agent holds at a time (its lock) and its next life
  // holds again: two agents of one name on a machine (a test's) must not clean up each other's.
  return absl::StrFormat("attempt-%012x-", common::StableHash(work_dir) & 0xffffffffffffull);
}

std::string AttemptCgroupName(const std::string& work_dir, int64_t attempt_id) {
  return AttemptCgroupPrefix(work_dir) + std::to_string(attempt_id);
}

Executor::Executor(ExecutorOptions opts, v1::AgentGateway::StubInterface& stub, ContextFactory ctx,
                   Uploader& uploader, prometheus::Family<prometheus::Counter>& attempts)
    : opts_(std::move(opts)),
      stub_(stub),
      ctx_(std::move(ctx)),
      uploader_(uploader),
      attempts_(attempts) {}

void Executor::Enqueue(const v1::Assign& a) {
  absl::MutexLock lock(&mu_);
  pending_.push_back(a);
}

void Executor::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  if (cancel_running_) cancel_running_("agent shutting down");
}

void Executor::Cancel(int64_t attempt_id, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  bool queued = std::any_of(pending_.begin(), pending_.end(),
                            [&](const v1::Assign& p) { return p.attempt_id() == attempt_id; });
  if (current_attempt_ == attempt_id && cancel_running_) {
    spdlog::info("msg=\"cancelling attempt\" attempt={} reason=\"{}\"", attempt_id, reason);
    cancel_running_(reason);
  } else if (current_attempt_ == attempt_id || queued) {
    cancelled_[attempt_id] = reason;  // applied when it starts
  } else {
    // Already over, or never ours: nothing to stop, and nothing to remember.
    spdlog::debug("msg=\"cancel for an attempt not running here\" attempt={}", attempt_id);
  }
}

void Executor::Run() {
  while (true) {
    v1::Assign a;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !pending_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      a = pending_.front();
      pending_.pop_front();
      current_attempt_ = a.attempt_id();  // from here a cancel is remembered until it starts
    }
    Execute(a);
    absl::MutexLock lock(&mu_);
    current_attempt_ = 0;
    cancelled_.erase(a.attempt_id());
  }
}

bool Executor::Accept(const v1::Assign& a) {
  v1::AcceptAttemptRequest req;
  req.set_attempt_id(a.attempt_id());
  req.set_epoch(a.epoch());
  req.set_agent(opts_.agent_name);
  grpc::Status accepted;
  for (int i = 0; i < opts_.accept_tries; ++i) {
    v1::AcceptAttemptResponse resp;
    auto ctx = ctx_(absl::Seconds(10));
    accepted = stub_.AcceptAttempt(ctx.get(), req, &resp);
    if (accepted.ok() || IsFinalRefusal(accepted)) break;
    absl::SleepFor(opts_.accept_retry_every);
  }
  if (!accepted.ok()) {
    spdlog::warn("msg=\"attempt not accepted\" attempt={} error=\"{}\"", a.attempt_id(),
                 accepted.error_message());
  }
  return accepted.ok();
}

void Executor::Execute(const v1::Assign& a) {
  const std::string dir = absl::StrCat(opts_.work_dir, "/attempts/", a.attempt_id());
  auto created = AttemptJournal::Create(dir, a);
  if (!created.ok()) {
    spdlog::warn("msg=\"assignment not journaled\" attempt={} error=\"{}\"", a.attempt_id(),
                 created.status().message());
    return;  // a duplicate delivery, or a broken disk: the lease will run out
  }
  std::shared_ptr<AttemptJournal> journal = *std::move(created);
  uploader_.Add(journal);
  spdlog::info("msg=\"attempt assigned\" run={} job={} attempt={} epoch={}", a.run_id(), a.job_id(),
               a.attempt_id(), a.epoch());
  if (!Accept(a)) {
    uploader_.Drop(a.attempt_id());
    journal->Remove().IgnoreError();
    return;
  }
  RunOutcome outcome;
  std::optional<std::string> suite_text;
  std::optional<v1::CommitList> commit_list;
  {
    // The job's sandbox, for the attempt's whole life: its group is emptied and removed once
    // the runners below have torn their stacks down.
    JobSandbox box;
    box.base_env = BaseJobEnvironment(dir + "/work");
    box.user = opts_.job_user;
    std::unique_ptr<Cgroup> group;
    if (opts_.attempt_cgroups) {
      auto g = Cgroup::Create(AttemptCgroupName(opts_.work_dir, a.attempt_id()), {});
      if (g.ok()) {
        group = *std::move(g);
        box.cgroup_procs = group->procs_files();
      } else {
        spdlog::warn(
            "msg=\"no control group for the attempt; what leaves its process group "
            "survives teardown\" attempt={} error=\"{}\"",
            a.attempt_id(), g.status().message());
      }
    }
    std::error_code ec;
    std::filesystem::create_directories(dir + "/work", ec);
    if (box.user) {
      if (auto s = ChownTree(dir + "/work", *box.user); !s.ok())
        spdlog::warn("msg=\"work directory not given to the job user\" error=\"{}\"", s.message());
    }
    absl::Cleanup empty_group = [&] {
      if (!group) return;
      const size_t left = group->Pids().size();
      if (left > 0) {
        journal
            ->AppendLog(v1::LOG_STREAM_AGENT,
                        absl::StrCat("perfgate-agent: killing ", left,
                                     " process(es) the job left running (its control group)\n"))
            .IgnoreError();
      }
      if (auto s = group->Remove(); !s.ok())
        spdlog::warn("msg=\"attempt group not removed\" attempt={} error=\"{}\"", a.attempt_id(),
                     s.message());
    };
    CommandRunner command(*journal, dir + "/work");
    command.set_sandbox(&box);
    BenchmarkRunner benchmark(
        *journal, opts_.work_dir + "/cache", dir + "/work", [this] { uploader_.Wake(); },
        opts_.observe);
    benchmark.set_hosts_prefix(HostsPrefix(opts_.agent_name));
    benchmark.set_sandbox(&box);
    benchmark.set_host_pool(opts_.host_pool);
    RepositoryReader reader(*journal, opts_.work_dir + "/cache", dir + "/work");
    std::function<void(const std::string&)> cancel;
    if (a.spec().has_benchmark()) {
      cancel = [&benchmark](const std::string& why) { benchmark.Cancel(why); };
    } else if (a.spec().has_suite_file() || a.spec().has_commit_range()) {
      cancel = [&reader](const std::string& why) { reader.Cancel(why); };
    } else {
      cancel = [&command](const std::string& why) { command.Cancel(why); };
    }
    {
      absl::MutexLock lock(&mu_);
      cancel_running_ = cancel;
      if (auto it = cancelled_.find(a.attempt_id()); it != cancelled_.end()) cancel(it->second);
      if (stopping_) cancel("agent shutting down");
    }
    if (a.spec().has_benchmark()) {
      outcome = benchmark.Run(a.spec().benchmark());
    } else if (a.spec().has_suite_file()) {
      std::string text;
      outcome = reader.ReadSuite(a.spec().suite_file(), &text);
      if (outcome.outcome == v1::ATTEMPT_OUTCOME_SUCCEEDED) suite_text = std::move(text);
    } else if (a.spec().has_commit_range()) {
      v1::CommitList list;
      outcome = reader.ListCommits(a.spec().commit_range(), &list);
      if (outcome.outcome == v1::ATTEMPT_OUTCOME_SUCCEEDED) commit_list = std::move(list);
    } else if (a.spec().has_command()) {
      outcome = command.Run(a.spec().command());
    } else {
      outcome = {v1::ATTEMPT_OUTCOME_FAILED, 0, "this agent does not know the job's type"};
    }
    absl::MutexLock lock(&mu_);
    cancel_running_ = nullptr;
  }
  // Output the spool could not hold (a full disk) is lost: the attempt cannot pass as complete.
  if (absl::Status w = journal->WriteError();
      !w.ok() && outcome.outcome != v1::ATTEMPT_OUTCOME_CANCELLED) {
    spdlog::error(
        "msg=\"attempt output lost: ending it as an infrastructure failure\" attempt={} "
        "error=\"{}\"",
        a.attempt_id(), w.message());
    outcome = {v1::ATTEMPT_OUTCOME_INFRA_FAILURE, outcome.exit_code,
               "the agent could not spool the attempt's output (" + std::string(w.message()) +
                   "); earlier outcome: " + v1::AttemptOutcome_Name(outcome.outcome)};
  }
  v1::CompleteAttemptRequest result;
  result.set_outcome(outcome.outcome);
  result.set_exit_code(outcome.exit_code);
  result.set_message(outcome.message);
  if (suite_text) result.set_suite_file_text(*std::move(suite_text));
  if (commit_list) *result.mutable_commit_list() = *std::move(commit_list);
  if (auto s = journal->Finish(result); !s.ok()) {
    spdlog::error("msg=\"cannot journal result\" attempt={} error=\"{}\"", a.attempt_id(),
                  s.message());
  }
  attempts_.Add({{"outcome", v1::AttemptOutcome_Name(outcome.outcome)}}).Increment();
  spdlog::info("msg=\"attempt finished\" attempt={} outcome={} exit_code={}", a.attempt_id(),
               v1::AttemptOutcome_Name(outcome.outcome), outcome.exit_code);
  // The completion, delivered by the uploader, tells the controller this agent is free.
  uploader_.Wake();
}

}  // namespace perfgate::agent
