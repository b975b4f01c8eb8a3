#include "controller/analysis/comparer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/spec/analysis_spec.h"
#include "common/spec/limit_levels.h"
#include "common/stats/summary.h"
#include "controller/queue/agent_matcher.h"

namespace perfgate::controller {
namespace {

v1::Verdict ToProto(common::Verdict v) {
  switch (v) {
    case common::Verdict::kNoChange:
      return v1::VERDICT_NO_CHANGE;
    case common::Verdict::kRegression:
      return v1::VERDICT_REGRESSION;
    case common::Verdict::kImprovement:
      return v1::VERDICT_IMPROVEMENT;
    case common::Verdict::kInconclusive:
      return v1::VERDICT_INCONCLUSIVE;
  }
  return v1::VERDICT_UNSPECIFIED;
}

void Describe(const RunSamples& candidate, v1::Comparison* c) {
  const v1::Run& r = candidate.run;
  c->set_candidate_run_id(r.id());
  c->set_project(r.project());
  c->set_suite_name(r.suite_name());
  c->set_branch(r.branch());
  c->set_baseline_branch(r.baseline_branch().empty() ? r.branch() : r.baseline_branch());
  c->set_candidate_commit(r.commit());
  std::vector<std::string> classes;
  for (const auto& j : candidate.jobs) {
    if (std::find(classes.begin(), classes.end(), j.machine_class) == classes.end())
      classes.push_back(j.machine_class);
  }
  c->set_machine_class(absl::StrJoin(classes, ","));
}

// The drift assumed for a metric without its own, and the one a learned drift is pooled with:
// learned across the metrics of the machine class that have one (their median, given 3 or more:
// drift is the machine's, much the same for every metric once each metric's own sampling noise
// is taken out), never below the default: a prior is there to be conservative, and a machine
// that drifts less earns a smaller margin through each metric's own runs.
double PriorRunNoise(const std::map<std::pair<std::string, std::string>, NoiseEstimate>& noise,
                     double fallback) {
  std::vector<double> known;
  for (const auto& [key, n] : noise) {
    if (n.run_cv >= 0) known.push_back(n.run_cv);
  }
  if (known.size() < 3) return fallback;
  std::sort(known.begin(), known.end());
  return std::max(fallback, common::Quantile(known, 0.5));
}

// A robust coefficient of variation: IQR / 1.349 (a normal's sigma) over the median.
double RobustCv(const std::vector<double>& v) {
  if (v.size() < 3) return 0;
  const common::Summary s = common::Summarize(v);
  return s.median != 0 ? s.iqr / 1.349 / std::abs(s.median) : 0;
}

// Repetitions a side an interleaved confirmation needs to decide an inconclusive metric: from
// how much its repetitions vary now (the noisier side, robustly; else its history's CV) and how
// far its shift lies from the floor (at least half the floor: a shift right at the floor can
// never be decided, and is planned as if half a floor away).
int RepetitionsNeeded(const common::MetricSamples& s, const common::MetricVerdict& v) {
  if (!v.has_ratio) return 0;
  double cv = std::max(RobustCv(s.baseline), RobustCv(s.candidate));
  if (cv == 0) cv = s.noise_cv;
  const double distance = std::max(std::abs(std::abs(v.ratio.estimate - 1) - v.floor), v.floor / 2);
  return common::RepetitionsToDecide(cv, distance);
}

}  // namespace

int BaseRepetitions(const JobSamples& job, int min_repetitions) {
  return std::max<int>(job.spec.benchmark().workload().repetitions(), min_repetitions);
}

ConfirmationPlan PlanConfirmation(const JobSamples& job, const v1::Comparison& c,
                                  int min_repetitions) {
  const v1::WorkloadSpec& w = job.spec.benchmark().workload();
  const v1::AnalysisSpec& a = job.spec.benchmark().analysis();
  ConfirmationPlan plan;
  const int base = BaseRepetitions(job, min_repetitions);
  const v1::MetricComparison* worst = nullptr;
  int undecided = 0;
  for (const v1::MetricComparison& m : c.metrics()) {
    if (m.job_name() != job.job_name || !m.gate() || m.verdict() != v1::VERDICT_INCONCLUSIVE)
      continue;
    ++undecided;
    if (!worst || m.repetitions_needed() > worst->repetitions_needed()) worst = &m;
  }
  if (!worst) return plan;
  plan.side = std::max(base, worst->repetitions_needed());
  const int max_reps = a.max_repetitions() ? static_cast<int>(a.max_repetitions())
                                           : common::kDefaultMaxConfirmationRepetitions;
  const uint32_t max_secs = a.max_confirmation_seconds() ? a.max_confirmation_seconds()
                                                         : common::kDefaultMaxConfirmationSeconds;
  const uint32_t per_rep = w.warmup_seconds() + w.duration_seconds() + w.pause_seconds();
  const int by_time = per_rep > 0 ? static_cast<int>(max_secs / (2 * per_rep)) : max_reps;
  std::string need;
  if (worst->repetitions_needed() > 0) {
    const double cv =
        std::max(RobustCv({worst->baseline_values().begin(), worst->baseline_values().end()}),
                 RobustCv({worst->candidate_values().begin(), worst->candidate_values().end()}));
    need = absl::StrFormat(
        "%s needs %s repetitions a side to decide at its %.1f %% floor (%+.1f %% against "
        "repetitions that vary by %.1f %%)",
        worst->name(),
        worst->repetitions_needed() >= 100000 ? std::string("more than 100,000")
                                              : absl::StrCat(worst->repetitions_needed()),
        100 * worst->floor(), 100 * (worst->ratio() - 1), 100 * cv);
  } else {
    need = absl::StrCat(undecided, undecided == 1 ? " gating metric" : " gating metrics",
                        " inconclusive (", worst->name(), ": ", worst->decided_by(), ")");
  }
  std::string cap;
  if (plan.side > max_reps) {
    plan.side = max_reps;
    cap = absl::StrCat("; the budget allows ", max_reps, " (analysis.max_repetitions)");
  }
  if (plan.side > by_time) {
    plan.side = by_time;
    cap = absl::StrFormat(
        "; the budget allows %d (%d s a repetition, both sides within "
        "analysis.max_confirmation_time %d s)",
        by_time, per_rep, max_secs);
  }
  plan.side = std::max(plan.side, base);
  plan.why = absl::StrCat("job ", job.job_name, ": ", need, cap, "; a confirmation measures ",
                          plan.side, " a side");
  return plan;
}

const JobSamples* RunSamples::Job(const std::string& name) const {
  for (const auto& j : jobs) {
    if (j.job_name == name) return &j;
  }
  return nullptr;
}

bool IsComparedMetric(const std::string& name) {
  if (absl::StartsWith(name, "host.")) return false;
  for (const char* s : {".target_rate", ".generator_lag.", ".sched_delay."}) {
    if (absl::StrContains(name, s)) return false;
  }
  return true;
}

const char* VerdictText(v1::Verdict v) {
  switch (v) {
    case v1::VERDICT_NO_CHANGE:
      return "no_change";
    case v1::VERDICT_REGRESSION:
      return "regression";
    case v1::VERDICT_IMPROVEMENT:
      return "improvement";
    case v1::VERDICT_INCONCLUSIVE:
      return "inconclusive";
    default:
      return "none";
  }
}

NoiseEstimate LearnNoise(const std::vector<std::vector<double>>& runs) {
  std::vector<double> cvs, log_medians, sampling;
  for (const auto& r : runs) {
    if (r.size() < 3) continue;
    const common::Summary s = common::Summarize(r);
    cvs.push_back(s.cv);
    if (s.median <= 0) continue;
    log_medians.push_back(std::log(s.median));
    // The variance a run's median has from its repetitions alone (the median of n values has
    // standard error sqrt(pi/2) sigma / sqrt(n)), in log terms.
    sampling.push_back(M_PI / 2 * s.cv * s.cv / static_cast<double>(s.n));
  }
  NoiseEstimate n;
  if (cvs.empty()) return n;
  std::sort(cvs.begin(), cvs.end());
  n.cv = common::Quantile(cvs, 0.5);
  // Runs drift apart more than repetitions within a run do (a different boot of the stack,
  // caches, neighbours). The run medians' variance holds that drift plus what each median
  // already carries from its repetitions, which the repetitions' interval accounts for; the
  // margin is the rest (method of moments: observed minus expected variance, at least 0). It is
  // the margin's, not the floor's: the confirmation, whose sides take turns, cancels it.
  if (log_medians.size() >= 3) {
    const common::Summary m = common::Summarize(log_medians);
    double expected = 0;
    for (double v : sampling) expected += v / static_cast<double>(sampling.size());
    n.run_cv = std::sqrt(std::max(0.0, m.stddev * m.stddev - expected));
    n.runs = static_cast<int>(log_medians.size());
  }
  return n;
}

v1::Comparison NoComparison(const RunSamples& candidate, const std::string& note) {
  v1::Comparison c;
  Describe(candidate, &c);
  c.set_verdict(v1::VERDICT_UNSPECIFIED);
  c.set_note(note);
  c.set_summary(note);
  return c;
}

v1::Comparison BuildComparison(const ComparisonInputs& in, const common::VerdictOptions& opts) {
  v1::Comparison c;
  Describe(in.candidate, &c);
  for (const auto& b : in.baselines) {
    c.add_baseline_run_ids(b.run.id());
    c.add_baseline_commits(b.run.commit());
  }
  // One comparison judges every compared metric of every job (BH within the gating metrics and
  // within the rest).
  std::vector<common::MetricSamples> samples;
  std::vector<std::pair<const JobSamples*, const JobSamples::Metric*>> meta;
  for (const JobSamples& job : in.candidate.jobs) {
    for (const auto& [name, m] : job.metrics) {
      if (!IsComparedMetric(name)) continue;
      common::MetricSamples s;
      s.name = name;
      s.lower_is_better = m.direction != v1::DIRECTION_HIGHER_IS_BETTER;
      s.candidate = m.values;
      int runs = 0;
      for (const auto& b : in.baselines) {
        const JobSamples* bj = b.Job(job.job_name);
        if (!bj) continue;
        auto it = bj->metrics.find(name);
        if (it == bj->metrics.end()) continue;
        ++runs;
        s.baseline.insert(s.baseline.end(), it->second.values.begin(), it->second.values.end());
      }
      if (runs == 0) continue;  // a metric the baseline does not have is not a regression
      auto nit = in.noise.find({job.job_name, name});
      if (nit != in.noise.end()) {
        s.noise_cv = nit->second.cv;
        s.run_noise_cv = nit->second.run_cv;
        s.run_noise_runs = nit->second.runs;
      }
      s.interleaved = in.interleaved;
      s.baseline_runs = runs;
      s.candidate_runs = 1;
      const common::MetricRules rules = common::RulesFor(job.spec.benchmark().analysis(), name);
      s.min_effect = rules.min_effect;
      s.gate = rules.gate;
      samples.push_back(std::move(s));
      meta.emplace_back(&job, &m);
    }
  }
  common::VerdictOptions o = opts;
  o.prior_run_noise_cv = PriorRunNoise(in.noise, opts.prior_run_noise_cv);
  const std::vector<common::MetricVerdict> verdicts = common::JudgeMetrics(samples, o);
  int regressions = 0, improvements = 0, inconclusive = 0, gating = 0;
  for (size_t i = 0; i < verdicts.size(); ++i) {
    const common::MetricVerdict& v = verdicts[i];
    const common::MetricSamples& s = samples[i];
    v1::MetricComparison* m = c.add_metrics();
    m->set_job_name(meta[i].first->job_name);
    m->set_name(v.name);
    m->set_unit(meta[i].second->unit);
    m->set_direction(meta[i].second->direction);
    m->set_verdict(ToProto(v.verdict));
    m->set_reason(v.reason);
    for (double x : s.baseline) m->add_baseline_values(x);
    for (double x : s.candidate) m->add_candidate_values(x);
    m->set_baseline_median(v.baseline_median);
    m->set_candidate_median(v.candidate_median);
    m->set_has_ratio(v.has_ratio);
    m->set_ratio(v.ratio.estimate);
    m->set_ratio_low(v.ratio.low);
    m->set_ratio_high(v.ratio.high);
    m->set_interval_low(v.low);
    m->set_interval_high(v.high);
    m->set_p(v.p);
    m->set_p_adjusted(v.p_adjusted);
    m->set_floor(v.floor);
    m->set_noise_cv(s.noise_cv);
    m->set_run_noise_cv(s.run_noise_cv);
    m->set_margin(v.margin);
    m->set_margin_prior(v.margin_prior);
    m->set_decided_by(common::DecisionName(v.decision));
    m->set_gate(s.gate);
    if (v.verdict == common::Verdict::kInconclusive && s.gate)
      m->set_repetitions_needed(RepetitionsNeeded(s, v));
    if (!s.gate) continue;
    ++gating;
    regressions += v.verdict == common::Verdict::kRegression;
    improvements += v.verdict == common::Verdict::kImprovement;
    inconclusive += v.verdict == common::Verdict::kInconclusive;
  }
  c.set_regressions(regressions);
  c.set_improvements(improvements);
  c.set_inconclusive(inconclusive);
  v1::Verdict overall = v1::VERDICT_NO_CHANGE;
  if (regressions) {
    overall = v1::VERDICT_REGRESSION;
  } else if (inconclusive) {
    overall = v1::VERDICT_INCONCLUSIVE;
  } else if (improvements) {
    overall = v1::VERDICT_IMPROVEMENT;
  }
  if (verdicts.empty()) {
    overall = v1::VERDICT_UNSPECIFIED;
    c.set_note("no metric in common with the baseline");
  } else if (gating == 0) {
    overall = v1::VERDICT_UNSPECIFIED;
    c.set_note("no gating metric in common with the baseline (analysis.gate)");
  }
  c.set_verdict(overall);
  c.set_summary(absl::StrFormat(
      "%s: %d metrics compared, %d gating; %d regressed, %d improved, %d inconclusive",
      VerdictText(overall), c.metrics_size(), gating, regressions, improvements, inconclusive));
  if (overall == v1::VERDICT_INCONCLUSIVE) {
    std::vector<std::string> why;
    for (const JobSamples& job : in.candidate.jobs) {
      const ConfirmationPlan plan = PlanConfirmation(job, c, opts.min_repetitions);
      if (plan.side == 0) continue;
      c.set_confirmation_repetitions(std::max(c.confirmation_repetitions(), plan.side));
      why.push_back(plan.why);
    }
    c.set_confirmation_plan(absl::StrJoin(why, "; "));
  }

  // Absolute levels, on the candidate's medians.
  for (const JobSamples& job : in.candidate.jobs) {
    for (const v1::MetricLimit& l : job.limits) {
      if (!common::HasLevels(l)) continue;
      v1::LimitCheck* lc = c.add_limits();
      lc->set_job_name(job.job_name);
      lc->set_metric(l.metric());
      auto it = job.metrics.find(l.metric());
      if (it == job.metrics.end() || it->second.values.empty()) {
        lc->set_level("missing");
        lc->set_text("no valid value measured");
        continue;
      }
      const double median = common::Summarize(it->second.values).median;
      lc->set_unit(it->second.unit);
      lc->set_value(median);
      const auto r = common::ClassifyLevel(
          l, median, it->second.direction != v1::DIRECTION_HIGHER_IS_BETTER, it->second.unit);
      lc->set_level(r.level);
      lc->set_text(r.text);
    }
  }
  return c;
}

std::vector<v1::Alert> AlertsFor(const v1::Comparison& c, const std::string& url) {
  std::vector<v1::Alert> out;
  for (const auto& m : c.metrics()) {
    const bool regression = m.verdict() == v1::VERDICT_REGRESSION;
    if (!regression && m.verdict() != v1::VERDICT_IMPROVEMENT) continue;
    if (!m.gate()) continue;  // reported, deciding nothing: no one is paged for it
    v1::Alert a;
    a.set_kind(regression ? "regression" : "improvement");
    a.set_state("firing");
    a.set_run_id(c.candidate_run_id());
    a.set_comparison_id(c.id());
    a.set_project(c.project());
    a.set_suite_name(c.suite_name());
    a.set_job_name(m.job_name());
    a.set_metric(m.name());
    a.set_machine_class(c.machine_class());
    a.set_ratio(m.ratio());
    a.set_ratio_low(m.ratio_low());
    a.set_ratio_high(m.ratio_high());
    a.set_baseline_commit(c.baseline_commits_size() ? c.baseline_commits(0) : "");
    a.set_candidate_commit(c.candidate_commit());
    a.set_url(url);
    a.set_summary(absl::StrFormat(
        "%s %s of %s/%s: %.4g -> %.4g %s (x%.3f, 95%% CI %.3f..%.3f) at %s", c.suite_name(),
        a.kind(), m.job_name(), m.name(), m.baseline_median(), m.candidate_median(), m.unit(),
        m.ratio(), m.ratio_low(), m.ratio_high(), c.candidate_commit().substr(0, 12)));
    // The worst-moving functions of the first profile diff: the evidence of where it went.
    if (c.profile_diffs_size() > 0) {
      const auto& d = c.profile_diffs(0);
      a.set_worst_functions_profile(d.label());
      a.set_worst_functions_unit(d.unit());
      for (int i = 0; i < d.functions_size() && i < 5; ++i)
        *a.add_worst_functions() = d.functions(i);
    }
    out.push_back(std::move(a));
  }
  return out;
}

v1::Alert ChangePointAlert(const v1::ChangePointRecord& c, const std::string& url) {
  v1::Alert a;
  a.set_kind("change_point");
  a.set_state("firing");
  a.set_run_id(c.run_id());
  a.set_change_point_id(c.id());
  a.set_project(c.project());
  a.set_suite_name(c.suite_name());
  a.set_job_name(c.job_name());
  a.set_metric(c.metric());
  a.set_machine_class(c.machine_class());
  a.set_candidate_commit(c.commit());
  a.set_ratio(c.before() != 0 ? c.after() / c.before() : 0);
  a.set_url(url);
  a.set_summary(absl::StrCat("change point in ", c.suite_name(), " ", c.job_name(), "/", c.metric(),
                             " on ", c.branch(), " (", c.machine_class(), ") at ",
                             c.commit().substr(0, 12), ": ", c.before(), " -> ", c.after(),
                             ", p = ", c.p()));
  return a;
}

std::optional<v1::RunSpec> ConfirmationSpec(const RunSamples& candidate, const v1::Comparison& c,
                                            int min_repetitions, std::string* why) {
  if (c.baseline_commits().empty() || c.baseline_commits(0).empty()) {
    *why = "the baseline has no commit to measure again";
    return std::nullopt;
  }
  const v1::Run& run = candidate.run;
  v1::RunSpec spec;
  spec.set_project(run.project());
  spec.set_branch(run.branch());
  spec.set_commit(run.commit());
  spec.set_kind(v1::RUN_KIND_EXPERIMENT);
  spec.set_suite_name(run.suite_name());
  spec.set_baseline_branch(c.baseline_branch());
  spec.set_baseline_runs(1);
  spec.set_confirms_run_id(run.id());
  // Each job with its repetitions a side, planned once.
  std::vector<std::pair<const JobSamples*, uint32_t>> jobs;
  for (const JobSamples& j : candidate.jobs) {
    if (!j.spec.has_benchmark()) continue;
    if (j.agent.empty()) {
      *why = absl::StrCat("job ", j.job_name, ": the agent that measured it is unknown");
      return std::nullopt;
    }
    const int planned = PlanConfirmation(j, c, min_repetitions).side;
    jobs.emplace_back(&j, planned > 0 ? planned : BaseRepetitions(j, min_repetitions));
  }
  if (jobs.empty()) {
    *why = "the candidate has no measured benchmark job";
    return std::nullopt;
  }
  // Rounds outermost: A1 B1 (every job) before A2 B2, so both commits see the same stretch of
  // the machine's day. Jobs run in submission order on a pinned agent, one at a time.
  for (int round = 1; round <= kConfirmationRounds; ++round) {
    for (const auto& [j, side] : jobs) {
      AddArms(j->spec, j->job_name, j->agent, c.baseline_commits(0), run.commit(), round,
              RoundRepetitions(side), &spec);
    }
  }
  return spec;
}

uint32_t RoundRepetitions(uint32_t side) {
  return (side + kConfirmationRounds - 1) / kConfirmationRounds + 1;
}

void AddArms(const v1::JobSpec& job_spec, const std::string& job_name, const std::string& agent,
             const std::string& baseline_commit, const std::string& candidate_commit, int round,
             uint32_t repetitions, v1::RunSpec* spec) {
  for (bool baseline : {true, false}) {
    v1::JobSpec* job = spec->add_jobs();
    *job = job_spec;
    job->set_name(absl::StrCat(job_name, baseline ? " A" : " B", round));
    job->set_commit(baseline ? baseline_commit : candidate_commit);
    (*job->mutable_agent_selector())[kAgentNameLabel] = agent;
    job->mutable_arm()->set_job(job_name);
    job->mutable_arm()->set_baseline(baseline);
    job->mutable_arm()->set_round(round);
    job->mutable_benchmark()->mutable_workload()->set_repetitions(repetitions);
  }
}

std::pair<RunSamples, RunSamples> SplitConfirmation(const RunSamples& confirmation) {
  RunSamples sides[2];  // [0] baseline, [1] candidate
  for (RunSamples& s : sides) s.run = confirmation.run;
  for (const JobSamples& j : confirmation.jobs) {
    if (!j.spec.has_arm()) continue;
    RunSamples& side = sides[j.spec.arm().baseline() ? 0 : 1];
    if (j.spec.arm().baseline()) side.run.set_commit(j.spec.commit());
    JobSamples* pooled = nullptr;
    for (JobSamples& p : side.jobs) {
      if (p.job_name == j.spec.arm().job()) pooled = &p;
    }
    if (!pooled) {
      pooled = &side.jobs.emplace_back();
      pooled->job_name = j.spec.arm().job();
      pooled->machine_class = j.machine_class;
      pooled->limits = j.limits;
      pooled->spec = j.spec;
      pooled->agent = j.agent;
    }
    pooled->valid += j.valid;
    pooled->total += j.total;
    for (const auto& [name, m] : j.metrics) {
      JobSamples::Metric& into = pooled->metrics[name];
      into.unit = m.unit;
      into.direction = m.direction;
      into.values.insert(into.values.end(), m.values.begin(), m.values.end());
    }
  }
  return {std::move(sides[0]), std::move(sides[1])};
}

}  // namespace perfgate::controller
