#include "controller/bisect/bisector.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/spec/analysis_spec.h"
#include "common/spec/run_spec_rules.h"
#include "common/status/macros.h"
#include "controller/analysis/comparer.h"
#include "controller/bisect/bisect_plan.h"
#include "controller/queue/agent_matcher.h"
#include "controller/queue/job_state.h"

namespace perfgate::controller {
namespace {

constexpr size_t kMaxRefBytes = 200;

// A commit or ref as git takes it, never an option.
absl::Status CheckRef(const char* field, const std::string& ref) {
  if (ref.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": is required"));
  if (ref.size() > kMaxRefBytes)
    return absl::InvalidArgumentError(absl::StrCat(field, ": at most ", kMaxRefBytes, " bytes"));
  if (ref[0] == '-')
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", ref, "' starts with -"));
  for (char c : ref) {
    if (!absl::ascii_isalnum(c) && std::string_view("._/-~^@{}").find(c) == std::string::npos)
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": '", ref, "' is not a commit or ref (character '", std::string(1, c), "')"));
  }
  return absl::OkStatus();
}

void SetNow(google::protobuf::Timestamp* ts) {
  const absl::Time now = absl::Now();
  ts->set_seconds(absl::ToUnixSeconds(now));
}

// Agent time of a run: each attempt from its assignment to its end.
double AgentSeconds(const v1::Run& run) {
  double s = 0;
  for (const v1::Job& j : run.jobs())
    for (const v1::Attempt& a : j.attempts())
      if (a.has_finished_at() && a.has_created_at())
        s += (a.finished_at().seconds() - a.created_at().seconds()) +
             1e-9 * (a.finished_at().nanos() - a.created_at().nanos());
  return s;
}

}  // namespace

void Bisector::Start() {
  thread_ = std::thread([this] {
    while (!stop_) {
      const uint64_t seen = run_states_.generation();
      RunOnce();
      run_states_.WaitForChange(seen, opts_.poll);
    }
  });
}

void Bisector::Stop() {
  stop_ = true;
  run_states_.Notify();
  if (thread_.joinable()) thread_.join();
}

int Bisector::RunOnce() {
  if (opts_.auto_start) StartAutomatic();
  auto ids = store_.ActiveBisections();
  if (!ids.ok()) {
    spdlog::warn("component=bisector msg=\"cannot list bisections\" error=\"{}\"",
                 ids.status().ToString());
    return 0;
  }
  int changed = 0;
  for (int64_t id : *ids) {
    if (stop_) break;
    v1::BisectionState before = v1::BISECTION_STATE_UNSPECIFIED;
    int steps_before = 0;
    auto moved = store_.Update(id, [&](v1::Bisection* b) {
      before = b->state();
      steps_before = b->steps_size();
      return Advance(b);
    });
    if (!moved.ok()) {
      spdlog::warn(
          "component=bisector msg=\"bisection not moved; will retry\" bisection={} "
          "error=\"{}\"",
          id, moved.status().ToString());
      continue;
    }
    if (!*moved) continue;
    auto b = store_.GetBisection(id);
    if (!b.ok()) continue;
    if (b->state() != before || b->steps_size() != steps_before) {
      ++changed;
      Report(*b);
    }
  }
  return changed;
}

void Bisector::Report(const v1::Bisection& b) {
  if (!b.steps().empty() && b.steps().rbegin()->outcome() == "running") {
    const v1::BisectionStep& s = *b.steps().rbegin();
    if (b.steps_size() >= 2) {
      const v1::BisectionStep& before = b.steps(b.steps_size() - 2);
      if (before.outcome() == "interrupted") {
        spdlog::warn(
            "component=bisector msg=\"step interrupted; measured again\" bisection={} step={} "
            "run={} note=\"{}\"",
            b.id(), before.number(), before.run_id(), before.note());
      }
    }
    spdlog::info(
        "component=bisector msg=\"step started\" bisection={} step={} purpose={} commit={} "
        "against={} run={} repetitions={}",
        b.id(), s.number(), s.purpose(), s.commit().substr(0, 12), s.against().substr(0, 12),
        s.run_id(), s.repetitions());
  }
  if (!IsFinished(b.state()) && b.state() != v1::BISECTION_STATE_WAITING) return;
  spdlog::info(
      "component=bisector msg=\"bisection {}\" bisection={} culprit={} steps={} "
      "agent_seconds={:.0f} message=\"{}\"",
      StateText(b.state()), b.id(), b.culprit().substr(0, 12), b.steps_size(), b.agent_seconds(),
      b.message());
  if (b.change_point_id() == 0 || !IsFinished(b.state())) return;
  std::string culprit;
  if (!b.culprit().empty()) {
    for (const v1::CommitInfo& c : b.commits())
      if (c.sha() == b.culprit()) culprit = CommitLine(c);
    if (b.spread()) absl::StrAppend(&culprit, " (part of the change; more after it)");
  } else if (!b.range_first().empty()) {
    culprit =
        absl::StrCat("one of ", b.range_first().substr(0, 12), "..", b.range_last().substr(0, 12));
  } else {
    culprit = absl::StrCat("bisection ", b.id(), " ", StateText(b.state()), ": ", b.message());
  }
  // A found culprit (or range) is news to the alert's receivers; a failed or cancelled
  // bisection is only noted on it.
  const bool found = b.state() == v1::BISECTION_STATE_SUCCEEDED;
  if (auto s = store_.SetCulprit(b.change_point_id(), b.id(), culprit, found); !s.ok()) {
    spdlog::warn("component=bisector msg=\"culprit not recorded\" bisection={} error=\"{}\"",
                 b.id(), s.ToString());
  }
}

void Bisector::StartAutomatic() {
  auto cps = store_.ChangePointsToBisect(20, {refused_.begin(), refused_.end()});
  if (!cps.ok()) return;
  for (int64_t cp : *cps) {
    v1::StartBisectionRequest req;
    req.set_change_point_id(cp);
    auto b = StartBisection(req, "bisect:auto");
    if (b.ok()) {
      spdlog::info(
          "component=bisector msg=\"bisection started\" bisection={} change_point={} "
          "good={} bad={} metric={}",
          b->id(), cp, b->good().substr(0, 12), b->bad().substr(0, 12), b->metric());
    } else if (!absl::IsAlreadyExists(b.status())) {
      refused_.insert(cp);
      spdlog::warn(
          "component=bisector msg=\"change point not bisected\" change_point={} "
          "error=\"{}\"",
          cp, b.status().ToString());
    }
  }
}

absl::StatusOr<v1::Bisection> Bisector::StartBisection(const v1::StartBisectionRequest& req,
                                                       const std::string& actor) {
  v1::Bisection b;
  b.set_project(req.project());
  b.set_suite_name(req.suite_name());
  b.set_job_name(req.job_name());
  b.set_metric(req.metric());
  b.set_template_run_id(req.template_run_id());
  b.set_good(req.good());
  b.set_bad(req.bad());
  if (req.min_effect() < 0 || req.min_effect() > 10)
    return absl::InvalidArgumentError("min_effect: a fraction from 0 to 10 (0.05 = 5 %)");
  if (req.max_repetitions() < 0 ||
      req.max_repetitions() > static_cast<int>(common::kMaxRepetitions))
    return absl::InvalidArgumentError(
        absl::StrCat("max_repetitions: 0 (the suite's budget) to ", common::kMaxRepetitions));
  b.set_min_effect(req.min_effect());
  b.set_max_repetitions(req.max_repetitions());
  if (req.change_point_id() < 0) return absl::InvalidArgumentError("change_point_id: not an id");
  if (req.template_run_id() < 0) return absl::InvalidArgumentError("template_run_id: not an id");
  if (req.change_point_id() != 0) {
    if (!req.good().empty() || !req.bad().empty())
      return absl::InvalidArgumentError(
          "good, bad: a change point gives the range; name either a change point or both ends");
    ASSIGN_OR_RETURN(auto cp, store_.ChangePointRange(req.change_point_id()));
    const v1::ChangePointRecord& r = cp.record;
    b.set_change_point_id(r.id());
    if (b.project().empty()) b.set_project(r.project());
    if (b.suite_name().empty()) b.set_suite_name(r.suite_name());
    if (b.job_name().empty()) b.set_job_name(r.job_name());
    if (b.metric().empty()) b.set_metric(r.metric());
    if (b.template_run_id() == 0) b.set_template_run_id(r.run_id());
    b.set_good(cp.good);
    b.set_bad(r.commit());
    const bool up = r.after() > r.before();
    const bool worse = r.direction() == v1::DIRECTION_HIGHER_IS_BETTER ? !up : up;
    b.set_direction(worse ? "regression" : "improvement");
  } else {
    RETURN_IF_ERROR(CheckRef("good", b.good()));
    RETURN_IF_ERROR(CheckRef("bad", b.bad()));
    if (b.good() == b.bad()) return absl::InvalidArgumentError("bad: the same commit as good");
    if (b.template_run_id() == 0) {
      if (b.suite_name().empty())
        return absl::InvalidArgumentError("suite_name: is required (or a change point, or a run)");
      ASSIGN_OR_RETURN(int64_t run, store_.NewestSuiteRun(b.project(), b.suite_name()));
      b.set_template_run_id(run);
    }
  }
  ASSIGN_OR_RETURN(RunSamples tmpl, analysis_.LoadRunSamples(b.template_run_id()));
  if (tmpl.run.bisection_id() != 0 || tmpl.run.confirms_run_id() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "template_run_id: run ", tmpl.run.id(),
        " was scheduled by the controller (a confirmation or a bisection step); name the run it "
        "was made for"));
  }
  if (b.project().empty()) b.set_project(tmpl.run.project());
  if (b.suite_name().empty()) b.set_suite_name(tmpl.run.suite_name());
  const JobSamples* job = nullptr;
  std::vector<std::string> names;
  for (const JobSamples& j : tmpl.jobs) {
    if (!j.spec.has_benchmark()) continue;
    names.push_back(j.job_name);
    if (job == nullptr && (b.job_name().empty() || j.job_name == b.job_name())) job = &j;
  }
  if (job == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("job_name: run ", tmpl.run.id(), " measured no benchmark job",
                     b.job_name().empty() ? "" : " named " + b.job_name(),
                     names.empty() ? "" : " (it measured: " + absl::StrJoin(names, ", ") + ")"));
  }
  b.set_job_name(job->job_name);
  const v1::BuildSpec& build = job->spec.benchmark().build();
  if (build.repository().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job->job_name,
                     " has no build section naming a repository: a bisection builds "
                     "each commit of the range"));
  }
  b.set_repository(build.repository());
  if (job->agent.empty())
    return absl::FailedPreconditionError(absl::StrCat(
        "run ", tmpl.run.id(), ": the agent that measured job ", job->job_name, " is unknown"));
  b.set_agent(job->agent);
  *b.mutable_job() = job->spec;
  b.mutable_job()->clear_arm();
  b.set_branch(tmpl.run.branch());
  b.set_baseline_branch(tmpl.run.baseline_branch());
  if (b.metric().empty()) b.set_metric("http.latency.p50");
  if (!job->metrics.count(b.metric())) {
    std::vector<std::string> have;
    for (const auto& [name, _] : job->metrics)
      if (IsComparedMetric(name) && have.size() < 12) have.push_back(name);
    return absl::InvalidArgumentError(absl::StrCat(
        "metric: job ", job->job_name, " of run ", tmpl.run.id(), " measured no ", b.metric(),
        " (it measured: ", absl::StrJoin(have, ", "), have.size() == 12 ? ", ..." : "", ")"));
  }
  b.set_state(v1::BISECTION_STATE_LISTING);
  b.set_created_by(actor);
  b.set_message(absl::StrCat("listing the commits of ", b.good().substr(0, 12), "..",
                             b.bad().substr(0, 12), " on ", b.agent()));
  v1::RunSpec listing;
  listing.set_project(b.project());
  listing.set_branch(b.branch());
  listing.set_kind(v1::RUN_KIND_EXPERIMENT);
  listing.set_suite_name(b.suite_name());
  listing.set_submitted_by(actor);
  v1::JobSpec* list = listing.add_jobs();
  list->set_name("list commits");
  (*list->mutable_agent_selector())[kAgentNameLabel] = b.agent();
  list->mutable_commit_range()->set_repository(b.repository());
  list->mutable_commit_range()->set_good(b.good());
  list->mutable_commit_range()->set_bad(b.bad());
  return store_.CreateBisection(b, listing);
}

absl::StatusOr<v1::Bisection> Bisector::Mark(const v1::MarkBisectionRequest& req) {
  if (req.mark() == v1::COMMIT_MARK_UNKNOWN || !v1::CommitMark_IsValid(req.mark()))
    return absl::InvalidArgumentError("mark: good, bad or skip");
  absl::Status refused;
  auto moved =
      store_.Update(req.id(), [&](v1::Bisection* b) -> absl::StatusOr<std::optional<v1::RunSpec>> {
        if (b->state() != v1::BISECTION_STATE_WAITING &&
            b->state() != v1::BISECTION_STATE_RUNNING) {
          refused = absl::FailedPreconditionError(
              absl::StrCat("bisection ", b->id(), " is ", StateText(b->state()),
                           ": only a running or waiting one takes marks"));
          return std::nullopt;
        }
        const int i = FindCommit(*b, req.commit());
        if (i <= 0 || i == b->commits_size() - 1) {
          refused = absl::InvalidArgumentError(
              absl::StrCat("commit: '", req.commit(),
                           "' is not a commit strictly inside the range (or the prefix "
                           "names more than one)"));
          return std::nullopt;
        }
        b->set_marks(i, req.mark());
        if (b->state() == v1::BISECTION_STATE_WAITING) {
          b->set_state(v1::BISECTION_STATE_RUNNING);
          b->set_message(absl::StrCat("marked ", b->commits(i).sha().substr(0, 12), " ",
                                      MarkText(req.mark()), " by hand"));
          return Advance(b);
        }
        return std::nullopt;
      });
  if (!moved.ok()) return moved.status();
  if (!refused.ok()) return refused;
  if (!*moved)
    return absl::UnavailableError("the bisection is being moved on right now; try again");
  run_states_.Notify();
  return store_.GetBisection(req.id());
}

absl::StatusOr<bool> Bisector::ReadStep(v1::Bisection* b) {
  v1::BisectionStep& step = *b->mutable_steps()->rbegin();
  ASSIGN_OR_RETURN(v1::Run run, jobs_.GetRun(step.run_id()));
  if (!IsTerminal(run.state())) return false;
  if (run.state() == v1::RUN_STATE_SUCCEEDED && !run.analysed()) return false;
  step.set_agent_seconds(AgentSeconds(run));
  b->set_agent_seconds(b->agent_seconds() + step.agent_seconds());
  SetNow(step.mutable_finished_at());
  b->set_active_run_id(0);
  if (run.state() == v1::RUN_STATE_CANCELLED) {
    step.set_outcome("cancelled");
    b->set_state(v1::BISECTION_STATE_FAILED);
    b->set_message(absl::StrCat("step ", step.number(), "'s run ", run.id(),
                                " was cancelled: the bisection stops"));
    return true;
  }
  if (run.state() == v1::RUN_STATE_FAILED) {
    JudgeFailedStep(run, *b, &step);
    if (step.outcome() == "failed") {
      b->set_state(v1::BISECTION_STATE_FAILED);
      b->set_message(absl::StrCat("the known-good commit ", step.against().substr(0, 12),
                                  " failed in step ", step.number(), ": ", step.note()));
    }
    return true;
  }
  auto c = analysis_.LatestComparison(run.id());
  if (!c.ok()) return c.status();
  const v1::MetricComparison* m = nullptr;
  for (const v1::MetricComparison& x : c->metrics())
    if (x.job_name() == b->job_name() && x.name() == b->metric()) m = &x;
  if (m == nullptr) {
    step.set_outcome("undecided");
    step.set_note(absl::StrCat("the step's comparison has no ", b->metric(), " of job ",
                               b->job_name(), c->note().empty() ? "" : ": " + c->note()));
    return true;
  }
  JudgeStep(*m, b->direction(), &step);
  return true;
}

absl::StatusOr<std::optional<v1::RunSpec>> Bisector::Advance(v1::Bisection* b) {
  if (b->state() == v1::BISECTION_STATE_LISTING) {
    ASSIGN_OR_RETURN(v1::Run run, jobs_.GetRun(b->active_run_id()));
    if (!IsTerminal(run.state())) return std::nullopt;
    b->set_agent_seconds(AgentSeconds(run));
    b->set_active_run_id(0);
    if (run.state() != v1::RUN_STATE_SUCCEEDED || run.jobs().empty() ||
        !run.jobs(0).has_commits()) {
      b->set_state(v1::BISECTION_STATE_FAILED);
      b->set_message(absl::StrCat("the commits could not be listed: ",
                                  run.jobs().empty() ? "no job" : run.jobs(0).message()));
      return std::nullopt;
    }
    const v1::CommitList& list = run.jobs(0).commits();
    *b->add_commits() = list.good();
    for (const v1::CommitInfo& c : list.commits()) *b->add_commits() = c;
    b->set_good(list.good().sha());
    b->set_bad(b->commits(b->commits_size() - 1).sha());
    StartMarks(b);
    b->set_state(v1::BISECTION_STATE_RUNNING);
  }
  if (b->state() != v1::BISECTION_STATE_RUNNING) return std::nullopt;
  if (!b->steps().empty() && b->steps().rbegin()->outcome() == "running") {
    ASSIGN_OR_RETURN(bool ended, ReadStep(b));
    if (!ended) return std::nullopt;
    const v1::BisectionStep last = *b->steps().rbegin();
    if (b->state() != v1::BISECTION_STATE_RUNNING) return std::nullopt;
    ApplyStep(last, b);
    if (b->state() != v1::BISECTION_STATE_RUNNING) return std::nullopt;
    if (last.outcome() == "interrupted") return RepeatStep(b, last, last.repetitions());
    if (last.outcome() == "undecided") {
      const int max_reps = MaxRepetitions(*b);
      const int again = RepeatRepetitions(last, last.repetitions_needed(), max_reps);
      if (again > 0) return RepeatStep(b, last, again);
      if (last.purpose() == "ends") {
        b->set_state(v1::BISECTION_STATE_FAILED);
        b->set_message(absl::StrCat("the ends could not be told apart within the budget of ",
                                    max_reps, " repetitions a side: ", last.note()));
        return std::nullopt;
      }
      b->set_state(v1::BISECTION_STATE_WAITING);
      b->set_message(absl::StrCat("step ", last.number(), ": ", last.commit().substr(0, 12),
                                  " stayed undecided at ", last.repetitions(),
                                  " repetitions a side (", b->metric(), " ", last.note(),
                                  "); decide it: perfgate bisect mark ", b->id(), " ",
                                  last.commit().substr(0, 12), " good|bad|skip"));
      return std::nullopt;
    }
  }
  std::optional<NextStep> next = PlanNext(b);
  if (!next) return std::nullopt;
  v1::BisectionStep* step = b->add_steps();
  step->set_number(b->steps_size());
  step->set_purpose(next->purpose);
  step->set_commit(b->commits(next->commit).sha());
  step->set_against(b->commits(next->against).sha());
  step->set_outcome("running");
  SetNow(step->mutable_started_at());
  step->set_repetitions(
      std::max<int>(b->job().benchmark().workload().repetitions(), opts_.min_repetitions));
  int left = 0;
  for (int i = next->against + 1; i < b->commits_size(); ++i)
    left += b->marks(i) == v1::COMMIT_MARK_UNKNOWN;
  b->set_message(absl::StrCat(
      "step ", step->number(), " (", next->purpose, "): ", step->commit().substr(0, 12),
      " against ", step->against().substr(0, 12), "; ", left, " commit(s) left untested"));
  return StepSpec(*b, *step);
}

v1::RunSpec Bisector::RepeatStep(v1::Bisection* b, const v1::BisectionStep& last,
                                 int repetitions) {
  v1::BisectionStep* step = b->add_steps();
  step->set_number(b->steps_size());
  step->set_purpose(last.purpose());
  step->set_commit(last.commit());
  step->set_against(last.against());
  step->set_repetitions(repetitions);
  step->set_outcome("running");
  SetNow(step->mutable_started_at());
  return StepSpec(*b, *step);
}

int Bisector::MaxRepetitions(const v1::Bisection& b) {
  if (b.max_repetitions() > 0) return b.max_repetitions();
  const uint32_t suite = b.job().benchmark().analysis().max_repetitions();
  return static_cast<int>(suite > 0 ? suite : common::kDefaultMaxConfirmationRepetitions);
}

v1::RunSpec Bisector::StepSpec(const v1::Bisection& b, const v1::BisectionStep& step) {
  v1::JobSpec spec = b.job();
  // The floor a step is judged at: the one asked for; else, once the ends showed the change, a
  // third of it (at least the suite's floor), so that a commit is bad when it carries a good part
  // of the change and good when it carries little, which a few repetitions tell apart; before
  // that (the ends themselves), the suite's.
  v1::AnalysisSpec* a = spec.mutable_benchmark()->mutable_analysis();
  if (b.min_effect() > 0) {
    a->set_min_effect(b.min_effect());
  } else if (!b.direction().empty() && step.purpose() != "ends") {
    const double suite = a->min_effect() > 0 ? a->min_effect() : common::kDefaultMinEffect;
    a->set_min_effect(std::max(suite, std::abs(b.effect()) / 3));
  }
  v1::RunSpec run;
  run.set_project(b.project());
  run.set_branch(b.branch());
  run.set_commit(step.commit());
  run.set_kind(v1::RUN_KIND_EXPERIMENT);
  run.set_suite_name(b.suite_name());
  run.set_baseline_branch(b.baseline_branch());
  run.set_submitted_by(absl::StrCat("bisection:", b.id()));
  for (int round = 1; round <= kConfirmationRounds; ++round) {
    AddArms(spec, b.job_name(), b.agent(), step.against(), step.commit(), round,
            RoundRepetitions(step.repetitions()), &run);
  }
  return run;
}

}  // namespace perfgate::controller
