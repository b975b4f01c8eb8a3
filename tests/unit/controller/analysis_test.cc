// The analysis domain without a database: comparisons from constructed samples, alerts, the
// bodies sent to webhooks and Alertmanager, HMAC against RFC 4231, and change-point detection
// through the analyser over a fake store (the seam the PostgreSQL store implements).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "common/hash/sha256.h"
#include "common/http/url.h"
#include "controller/alerts/notifier.h"
#include "controller/analysis/analyser.h"
#include "controller/analysis/comparer.h"
#include "controller/report/render.h"

namespace perfgate::controller {
namespace {

std::vector<double> Values(double mean, double sd, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(mean, sd);
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(d(rng));
  return v;
}

RunSamples Samples(int64_t id, const std::string& commit, double p50, uint64_t seed) {
  RunSamples r;
  r.run.set_id(id);
  r.run.set_commit(commit);
  r.run.set_project("p");
  r.run.set_branch("main");
  r.run.set_suite_name("s");
  JobSamples j;
  j.job_name = "api";
  j.machine_class = "bare-16c";
  j.metrics["http.latency.p50"] = {"ms", v1::DIRECTION_LOWER_IS_BETTER, Values(p50, 0.01, 9, seed)};
  j.metrics["http.throughput"] = {"req/s", v1::DIRECTION_HIGHER_IS_BETTER,
                                  Values(400, 0.5, 9, seed + 1)};
  j.metrics["http.generator_lag.p99"] = {"ms", v1::DIRECTION_LOWER_IS_BETTER,
                                         Values(p50 * 5, 0.5, 9, seed + 2)};
  j.metrics["host.cpu_util"] = {"ratio", v1::DIRECTION_LOWER_IS_BETTER,
                                Values(0.2, 0.05, 9, seed + 3)};
  v1::MetricLimit l;
  l.set_metric("http.latency.p50");
  l.set_target(1.0);
  l.set_acceptable(1.5);
  l.set_critical(10);
  j.limits.push_back(l);
  r.jobs.push_back(j);
  return r;
}

TEST(ComparerTest, RegressionWithLevelsAndOnlyTheSystemsMetricsJudged) {
  ComparisonInputs in;
  in.candidate = Samples(2, "cand", 1.2, 10);
  in.candidate.run.set_kind(v1::RUN_KIND_CANDIDATE);
  in.baselines.push_back(Samples(1, "base", 1.0, 20));
  v1::Comparison c = BuildComparison(in, {});
  EXPECT_EQ(c.verdict(), v1::VERDICT_REGRESSION) << c.summary();
  EXPECT_EQ(c.metrics_size(), 2) << "generator lag and host figures are evidence, not judged";
  EXPECT_EQ(c.regressions(), 1);
  EXPECT_EQ(c.baseline_commits(0), "base");
  EXPECT_EQ(c.machine_class(), "bare-16c");
  ASSERT_EQ(c.limits_size(), 1);
  EXPECT_EQ(c.limits(0).level(), "acceptable") << c.limits(0).text();

  // The profile diff's worst functions go with the alert as evidence, in their unit.
  v1::ProfileDiff* d = c.add_profile_diffs();
  d->set_label("api/api/cpu/window");
  d->set_unit("nanoseconds");
  v1::FunctionDelta* f = d->add_functions();
  f->set_name("BurnCpu");
  f->set_base_flat(10'000'000);
  f->set_candidate_flat(84'440'000);
  auto alerts = AlertsFor(c, "http://x/runs/2/compare");
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind(), "regression");
  EXPECT_EQ(alerts[0].metric(), "http.latency.p50");
  EXPECT_GT(alerts[0].ratio_low(), 1.1);
  EXPECT_NE(alerts[0].summary().find("cand"), std::string::npos) << alerts[0].summary();
  EXPECT_EQ(alerts[0].worst_functions_profile(), "api/api/cpu/window");
  EXPECT_EQ(WorstFunctionLines(alerts[0]), std::vector<std::string>{"+74.44 ms  BurnCpu"});
  auto am = nlohmann::json::parse(
      Notifier::AlertmanagerBody(alerts[0], absl::Hours(1), common::FakeClock().Now()));
  EXPECT_EQ(am[0]["annotations"]["profile_diff"], "api/api/cpu/window (flat):\n+74.44 ms  BurnCpu");

  const std::string md = RenderMarkdown(c, "http://x/runs/2/compare");
  EXPECT_NE(md.find("**regression**"), std::string::npos) << md;
  EXPECT_NE(md.find("| regression | api | http.latency.p50 |"), std::string::npos) << md;
  EXPECT_NE(md.find("[Comparison page](http://x/runs/2/compare)"), std::string::npos);
  auto json = nlohmann::json::parse(RenderJson(c), nullptr, false);
  ASSERT_FALSE(json.is_discarded());
  EXPECT_EQ(json["verdict"], "VERDICT_REGRESSION");
}

TEST(ComparerTest, SameCodeIsNoChangeAndMissingBaselineSaysSo) {
  ComparisonInputs in;
  in.candidate = Samples(3, "base", 1.0, 30);
  in.baselines.push_back(Samples(1, "base", 1.0, 20));
  // Run-to-run noise not yet known: the prior margin; never a regression or an improvement.
  v1::Comparison c = BuildComparison(in, {});
  EXPECT_TRUE(c.verdict() == v1::VERDICT_NO_CHANGE || c.verdict() == v1::VERDICT_INCONCLUSIVE)
      << c.summary();
  for (const auto& m : c.metrics()) EXPECT_TRUE(m.margin_prior()) << m.name();
  // Known and small (0.3 %): the same code is no change.
  in.noise[{"api", "http.latency.p50"}] = {0.01, 0.003};
  in.noise[{"api", "http.throughput"}] = {0.001, 0.003};
  c = BuildComparison(in, {});
  EXPECT_EQ(c.verdict(), v1::VERDICT_NO_CHANGE) << c.summary();

  v1::Comparison none = NoComparison(in.candidate, "no baseline: run one");
  EXPECT_EQ(none.verdict(), v1::VERDICT_UNSPECIFIED);
  EXPECT_EQ(none.note(), "no baseline: run one");
  EXPECT_NE(RenderText(none).find("no baseline"), std::string::npos);
}

TEST(ComparerTest, NoiseWithinRunsAndFromRunToRunAreApart) {
  EXPECT_DOUBLE_EQ(LearnNoise({}).cv, 0);
  EXPECT_DOUBLE_EQ(LearnNoise({{1, 1}}).cv, 0) << "runs of fewer than 3 values do not count";
  // CVs 0, 0.1 and 0.5: the median is the middle one (the medians agree: no drift).
  const NoiseEstimate agree = LearnNoise({{10, 10, 10}, {9, 10, 11}, {5, 10, 15}});
  EXPECT_NEAR(agree.cv, 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(agree.run_cv, 0);
  EXPECT_EQ(agree.runs, 3) << "the comparer pools a drift learned from few runs with the prior";
  // Tight runs that drift apart: no noise within a run, and their medians' spread (10, 12, 14:
  // CV 1/6) from run to run.
  const NoiseEstimate drift = LearnNoise({{10, 10, 10}, {12, 12, 12}, {14, 14, 14}});
  EXPECT_DOUBLE_EQ(drift.cv, 0);
  const double m = (std::log(10) + std::log(12) + std::log(14)) / 3;
  const double sd = std::sqrt((std::pow(std::log(10) - m, 2) + std::pow(std::log(12) - m, 2) +
                               std::pow(std::log(14) - m, 2)) /
                              2);
  EXPECT_NEAR(drift.run_cv, sd, 1e-12) << "the spread of the log medians, nothing to take out";
  EXPECT_DOUBLE_EQ(LearnNoise({{10, 10, 10}, {12, 12, 12}}).run_cv, -1) << "two runs: unknown";
  // Noisy runs whose medians differ no more than their repetitions explain: no drift. (Counted
  // as drift, a p99's own noise made the margin of every metric without history +-70 %.)
  EXPECT_DOUBLE_EQ(LearnNoise({{8, 10, 12}, {9, 11, 13}, {7, 9, 11}}).run_cv, 0);
}

// The margin of a learned drift leans on the prior while runs are few, and the prior learned
// across a machine class's metrics never drops below the default: a quiet history of three runs
// does not let one drifting run through as a regression.
TEST(ComparerTest, ADriftLearnedFromFewRunsIsPooledWithAConservativePrior) {
  ComparisonInputs in;
  in.candidate = Samples(3, "base", 1.0, 30);
  in.baselines.push_back(Samples(1, "base", 1.0, 20));
  // Three metrics whose three runs agreed (drift 0): the machine's learned prior would be 0.
  in.noise[{"api", "http.latency.p50"}] = {0.01, 0, 3};
  in.noise[{"api", "http.throughput"}] = {0.001, 0, 3};
  in.noise[{"api", "host.cpu_util"}] = {0.2, 0, 3};
  const v1::Comparison c = BuildComparison(in, {});
  const double pooled = std::sqrt(4 * 0.02 * 0.02 / 6);  // PooledRunNoise(0, 3, 2 %, 4)
  for (const auto& m : c.metrics()) {
    if (m.name() == "http.latency.p50") {
      EXPECT_FALSE(m.margin_prior());
      EXPECT_NEAR(m.margin(), 1.96 * pooled * std::sqrt(2.0), 1e-9) << "not 0 on three runs";
    }
    if (m.name() == "http.generator_lag.p99") {
      EXPECT_TRUE(m.margin_prior());
      EXPECT_NEAR(m.margin(), 1.96 * 0.02 * std::sqrt(2.0), 1e-9) << "the default, not 0";
    }
  }
  // A machine whose metrics drift more than the default lends its drift as the prior.
  in.noise[{"api", "http.latency.p50"}] = {0.01, 0.05, 3};
  in.noise[{"api", "http.throughput"}] = {0.001, 0.05, 3};
  in.noise[{"api", "host.cpu_util"}] = {0.2, 0.05, 3};
  const v1::Comparison drifting = BuildComparison(in, {});
  for (const auto& m : drifting.metrics()) {
    if (m.name() == "http.generator_lag.p99") {
      EXPECT_NEAR(m.margin(), 1.96 * 0.05 * std::sqrt(2.0), 1e-9);
    }
  }
}

// Runs of the same code that differ from run to run widen the interval: a shift near the floor
// goes to the interleaved confirmation instead of becoming a verdict, and the confirmation,
// without that noise, decides.
TEST(ComparerTest, RunToRunNoiseSendsShiftsNearTheFloorToConfirmation) {
  auto compare = [](double candidate_p50, double run_cv, bool interleaved) {
    ComparisonInputs in;
    in.candidate = Samples(2, "cand", candidate_p50, 10);
    in.baselines.push_back(Samples(1, "base", 1.0, 20));
    in.noise[{"api", "http.latency.p50"}] = {run_cv, run_cv};
    in.interleaved = interleaved;
    v1::Comparison c = BuildComparison(in, {});
    for (const auto& m : c.metrics())
      if (m.name() == "http.latency.p50") return m;
    return v1::MetricComparison{};
  };
  // Run-to-run CV 0.5 %, one run a side: margin 1.96 x 0.5 % x sqrt(2) = 1.39 %.
  v1::MetricComparison m = compare(1.04, 0.005, false);
  EXPECT_NEAR(m.margin(), 0.0139, 0.0001);
  EXPECT_LT(m.interval_low(), m.ratio_low()) << "the margin widens the interval";
  EXPECT_EQ(m.verdict(), v1::VERDICT_INCONCLUSIVE) << m.reason();
  EXPECT_EQ(m.decided_by(), "straddles_floor");
  EXPECT_GT(m.repetitions_needed(), 0) << "an inconclusive gating metric is planned for";
  EXPECT_EQ(compare(1.07, 0.005, false).verdict(), v1::VERDICT_REGRESSION);
  EXPECT_EQ(compare(1.005, 0.005, false).verdict(), v1::VERDICT_NO_CHANGE);
  // The same 4 % measured interleaved: drift fell on both sides, no margin, a verdict.
  m = compare(1.05, 0.005, true);
  EXPECT_DOUBLE_EQ(m.margin(), 0);
  EXPECT_EQ(m.verdict(), v1::VERDICT_REGRESSION) << m.reason();
  EXPECT_EQ(m.decided_by(), "beyond_floor");
  // A noisy machine (run-to-run CV 2 %, margin 5.5 %): one run a side cannot show even the same
  // code within a 3 % floor, so it is inconclusive, not no_change.
  EXPECT_EQ(compare(1.02, 0.02, false).verdict(), v1::VERDICT_INCONCLUSIVE);
  EXPECT_EQ(compare(1.0, 0.02, false).verdict(), v1::VERDICT_INCONCLUSIVE);
}

// Which metrics decide: by default latency p50/p99, throughput, errors and peak RSS of
// perfgate's own figures; a suite's analysis section names others and sets floors.
TEST(ComparerTest, OnlyGatingMetricsDecideTheVerdict) {
  ComparisonInputs in;
  in.candidate = Samples(2, "cand", 1.0, 10);
  in.baselines.push_back(Samples(1, "base", 1.0, 20));
  for (RunSamples* r : {&in.candidate, &in.baselines[0]}) {
    r->jobs[0].metrics["http.latency.max"] = {
        "ms", v1::DIRECTION_LOWER_IS_BETTER,
        Values(r == &in.candidate ? 9.0 : 5.0, 0.5, 9, r == &in.candidate ? 40 : 41)};
  }
  in.interleaved = true;
  v1::Comparison c = BuildComparison(in, {});
  const v1::MetricComparison* max = nullptr;
  for (const auto& m : c.metrics())
    if (m.name() == "http.latency.max") max = &m;
  ASSERT_NE(max, nullptr);
  EXPECT_FALSE(max->gate()) << "a maximum is reported, not gating, by default";
  EXPECT_NE(max->verdict(), v1::VERDICT_NO_CHANGE) << max->reason();
  EXPECT_EQ(max->repetitions_needed(), 0) << "a metric that does not gate costs no confirmation";
  EXPECT_EQ(c.verdict(), v1::VERDICT_NO_CHANGE) << c.summary();
  EXPECT_TRUE(c.confirmation_plan().empty());
  EXPECT_TRUE(AlertsFor(c, "u").empty()) << "no one is paged for a reported metric";
  EXPECT_NE(RenderText(c).find("no   api"), std::string::npos) << RenderText(c);

  // The suite makes it gate, with its own floor: now it decides.
  v1::AnalysisSpec* a = in.candidate.jobs[0].spec.mutable_benchmark()->mutable_analysis();
  v1::MetricAnalysis* ma = a->add_metrics();
  ma->set_metric("http.latency.m*");
  ma->set_gate(true);
  ma->set_min_effect(0.25);
  c = BuildComparison(in, {});
  for (const auto& m : c.metrics()) {
    if (m.name() != "http.latency.max") continue;
    EXPECT_TRUE(m.gate());
    EXPECT_DOUBLE_EQ(m.floor(), 0.25);
  }
  EXPECT_NE(c.verdict(), v1::VERDICT_NO_CHANGE) << c.summary();
}

// The confirmation asks for what the measured noise needs, within the suite's budget.
TEST(ComparerTest, TheConfirmationIsSizedByTheNoiseWithinTheBudget) {
  ComparisonInputs in;
  in.candidate = Samples(2, "cand", 1.0, 10);
  in.baselines.push_back(Samples(1, "base", 1.0, 20));
  // A noisy p50 (repetitions vary by 15 %) that moved +10 %.
  in.candidate.jobs[0].metrics["http.latency.p50"].values = Values(1.10, 0.165, 9, 50);
  in.baselines[0].jobs[0].metrics["http.latency.p50"].values = Values(1.0, 0.15, 9, 51);
  in.candidate.jobs[0].spec.mutable_benchmark()->mutable_workload()->set_repetitions(9);
  in.candidate.jobs[0].spec.mutable_benchmark()->mutable_workload()->set_duration_seconds(3);
  v1::Comparison c = BuildComparison(in, {});
  ASSERT_EQ(c.verdict(), v1::VERDICT_INCONCLUSIVE) << c.summary();
  const v1::MetricComparison* p50 = nullptr;
  for (const auto& m : c.metrics())
    if (m.name() == "http.latency.p50") p50 = &m;
  ASSERT_NE(p50, nullptr);
  EXPECT_GT(p50->repetitions_needed(), 60) << p50->reason();
  // The default budget: 60 a side.
  EXPECT_EQ(c.confirmation_repetitions(), 60) << c.confirmation_plan();
  EXPECT_NE(c.confirmation_plan().find("http.latency.p50 needs"), std::string::npos)
      << c.confirmation_plan();
  EXPECT_NE(c.confirmation_plan().find("analysis.max_repetitions"), std::string::npos)
      << c.confirmation_plan();
  // A time budget of 5 min at 3 s a repetition: 50 a side.
  in.candidate.jobs[0].spec.mutable_benchmark()->mutable_analysis()->set_max_confirmation_seconds(
      300);
  in.candidate.jobs[0].spec.mutable_benchmark()->mutable_analysis()->set_max_repetitions(200);
  c = BuildComparison(in, {});
  EXPECT_EQ(c.confirmation_repetitions(), 50) << c.confirmation_plan();
  EXPECT_NE(c.confirmation_plan().find("max_confirmation_time"), std::string::npos);
  // ... which the confirmation run measures: 50 a side over 3 rounds, plus a spare a round.
  in.candidate.jobs[0].agent = "bench-1";
  in.candidate.run.set_id(2);
  c.set_baseline_branch("main");
  std::string why;
  auto spec = ConfirmationSpec(in.candidate, c, 6, &why);
  ASSERT_TRUE(spec.has_value()) << why;
  int side = 0;
  for (const auto& j : spec->jobs())
    if (j.arm().baseline()) side += j.benchmark().workload().repetitions();
  EXPECT_EQ(side, 3 * (17 + 1));
}

TEST(ComparerTest, ConfirmationInterleavesBothCommitsOnTheCandidatesAgentAndPoolsTheSides) {
  RunSamples cand = Samples(7, "cand", 1.2, 30);
  cand.run.set_kind(v1::RUN_KIND_CANDIDATE);
  cand.run.set_baseline_branch("main");
  cand.jobs[0].agent = "bench-3";
  cand.jobs[0].spec.set_name("api");
  (*cand.jobs[0].spec.mutable_agent_selector())["machine_class"] = "bare-16c";
  cand.jobs[0].spec.mutable_benchmark()->mutable_workload()->set_repetitions(4);
  v1::Comparison c;
  c.add_baseline_commits("base");
  c.set_baseline_branch("main");
  std::string why;
  auto spec = ConfirmationSpec(cand, c, 6, &why);
  ASSERT_TRUE(spec.has_value()) << why;
  EXPECT_EQ(spec->confirms_run_id(), 7);
  EXPECT_EQ(spec->kind(), v1::RUN_KIND_EXPERIMENT);
  EXPECT_EQ(spec->commit(), "cand");
  // A1 B1 A2 B2 A3 B3, pinned to bench-3, each side 6 repetitions (4 is below the minimum) and
  // a spare per round.
  ASSERT_EQ(spec->jobs_size(), 2 * kConfirmationRounds);
  const char* names[] = {"api A1", "api B1", "api A2", "api B2", "api A3", "api B3"};
  int reps[2] = {0, 0};
  for (int i = 0; i < spec->jobs_size(); ++i) {
    const v1::JobSpec& j = spec->jobs(i);
    const bool base = i % 2 == 0;
    EXPECT_EQ(j.name(), names[i]);
    EXPECT_EQ(j.commit(), base ? "base" : "cand");
    EXPECT_EQ(j.arm().job(), "api");
    EXPECT_EQ(j.arm().baseline(), base);
    EXPECT_EQ(j.arm().round(), i / 2 + 1);
    EXPECT_EQ(j.agent_selector().at("perfgate.agent"), "bench-3");
    EXPECT_EQ(j.agent_selector().at("machine_class"), "bare-16c") << "the job's own selector kept";
    reps[base ? 0 : 1] += j.benchmark().workload().repetitions();
  }
  EXPECT_EQ(reps[0], 9);
  EXPECT_EQ(reps[1], 9);

  // The measured confirmation, split back into sides with each side's rounds pooled.
  RunSamples conf;
  conf.run.set_id(8);
  conf.run.set_commit("cand");
  conf.run.set_confirms_run_id(7);
  for (int i = 0; i < spec->jobs_size(); ++i) {
    JobSamples j;
    j.job_name = spec->jobs(i).name();
    j.machine_class = "bare-16c";
    j.agent = "bench-3";
    j.spec = spec->jobs(i);
    j.valid = j.total = 2;
    const bool base = i % 2 == 0;
    j.metrics["http.latency.p50"] = {"ms", v1::DIRECTION_LOWER_IS_BETTER,
                                     Values(base ? 1.0 : 1.2, 0.01, 2, 40 + i)};
    conf.jobs.push_back(j);
  }
  auto [b, k] = SplitConfirmation(conf);
  ASSERT_EQ(b.jobs.size(), 1u);
  ASSERT_EQ(k.jobs.size(), 1u);
  EXPECT_EQ(b.jobs[0].job_name, "api");
  EXPECT_EQ(b.run.commit(), "base");
  EXPECT_EQ(k.run.commit(), "cand");
  EXPECT_EQ(b.jobs[0].valid, 6);
  EXPECT_EQ(k.jobs[0].metrics.at("http.latency.p50").values.size(), 6u);
  ComparisonInputs in;
  in.candidate = k;
  in.baselines.push_back(b);
  EXPECT_EQ(BuildComparison(in, {}).verdict(), v1::VERDICT_REGRESSION);

  // No baseline commit, or a job whose agent is unknown: no confirmation, and why.
  v1::Comparison bare;
  EXPECT_FALSE(ConfirmationSpec(cand, bare, 6, &why).has_value());
  EXPECT_NE(why.find("commit"), std::string::npos) << why;
  cand.jobs[0].agent.clear();
  EXPECT_FALSE(ConfirmationSpec(cand, c, 6, &why).has_value());
  EXPECT_NE(why.find("agent"), std::string::npos) << why;
}

TEST(NotifierTest, HmacMatchesRfc4231AndBodiesAreWhatReceiversExpect) {
  // RFC 4231 test case 2.
  EXPECT_EQ(common::HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  v1::Alert a;
  a.set_id(7);
  a.set_kind("regression");
  a.set_state("firing");
  a.set_metric("http.latency.p50");
  a.set_summary("slower");
  a.set_url("http://x/runs/2/compare");
  auto hook = nlohmann::json::parse(Notifier::WebhookBody(a), nullptr, false);
  ASSERT_FALSE(hook.is_discarded());
  EXPECT_EQ(hook["event"], "perfgate.alert");
  EXPECT_EQ(hook["alert"]["metric"], "http.latency.p50");
  common::FakeClock clock;  // 2023-11-14T22:13:20 UTC
  auto am = nlohmann::json::parse(Notifier::AlertmanagerBody(a, absl::Hours(1), clock.Now()),
                                  nullptr, false);
  ASSERT_TRUE(am.is_array());
  EXPECT_EQ(am[0]["endsAt"], "2023-11-14T23:13:20+00:00") << "active for an hour from now";
  EXPECT_EQ(am[0]["labels"]["alertname"], "PerfgateRegression");
  EXPECT_EQ(am[0]["labels"]["alert_id"], "7");
  EXPECT_EQ(am[0]["generatorURL"], "http://x/runs/2/compare");
  EXPECT_TRUE(am[0].contains("startsAt") && am[0].contains("endsAt"));

  std::string host, path;
  int port = 0;
  EXPECT_TRUE(common::SplitHttpUrl("http://127.0.0.1:9093/api", &host, &port, &path));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 9093);
  EXPECT_EQ(path, "/api");
  EXPECT_FALSE(common::SplitHttpUrl("https://x", &host, &port, &path));
  EXPECT_FALSE(common::SplitHttpUrl("http://x:99999/", &host, &port, &path));
}

// A store holding one baseline run whose metric's history steps up 30 runs in.
class HistoryStore : public AnalysisStore {
 public:
  explicit HistoryStore(int points) {
    for (int i = 0; i < points; ++i) {
      v1::HistoryPoint* p = history.add_points();
      p->set_run_id(100 + i);
      p->set_commit("c" + std::to_string(i));
      p->set_median((i < 30 ? 10.0 : 11.0) + 0.05 * ((i * 7) % 5));
    }
  }
  absl::StatusOr<std::vector<v1::Run>> RunsToAnalyse(int) override {
    v1::Run r;
    r.set_id(100 + history.points_size() - 1);
    r.set_kind(kind);
    r.set_state(v1::RUN_STATE_SUCCEEDED);
    r.set_branch("main");
    r.set_suite_name(suite);
    if (saved) return std::vector<v1::Run>{};
    return std::vector<v1::Run>{r};
  }
  absl::StatusOr<RunSamples> LoadRunSamples(int64_t id) override {
    if (!load_error.ok()) return load_error;
    RunSamples s;  // the run's row, as the real store reads it
    s.run.set_id(id);
    s.run.set_kind(kind);
    s.run.set_state(v1::RUN_STATE_SUCCEEDED);
    s.run.set_branch("main");
    s.run.set_suite_name(suite);
    JobSamples j;
    j.job_name = "api";
    j.machine_class = "m";
    j.metrics["http.latency.p50"] = {"ms", v1::DIRECTION_LOWER_IS_BETTER, {11}};
    if (min_effect > 0) j.spec.mutable_benchmark()->mutable_analysis()->set_min_effect(min_effect);
    s.jobs.push_back(j);
    return s;
  }
  absl::StatusOr<std::vector<int64_t>> BaselineRuns(const v1::Run&, const std::string&,
                                                    const std::string&, const std::string&,
                                                    int) override {
    return std::vector<int64_t>{};
  }
  absl::StatusOr<std::map<std::string, std::vector<std::vector<double>>>> NoiseSamples(
      const v1::Run&, const std::string&, const std::string&, const std::string&, int) override {
    return std::map<std::string, std::vector<std::vector<double>>>{};
  }
  absl::StatusOr<std::vector<v1::HdrHistogram>> Histograms(int64_t, const std::string&,
                                                           const std::string&) override {
    return std::vector<v1::HdrHistogram>{};
  }
  absl::StatusOr<v1::History> GetHistory(const v1::GetHistoryRequest& req) override {
    ++history_reads;
    last_request = req;
    return history;
  }
  absl::Status SaveAnalysis(AnalysisOutcome* o) override {
    saved = true;
    outcome = *o;
    return absl::OkStatus();
  }
  absl::StatusOr<v1::Comparison> LatestComparison(int64_t) override {
    return absl::NotFoundError("none");
  }
  absl::StatusOr<v1::ListChangePointsResponse> ListChangePoints(
      const v1::ListChangePointsRequest&) override {
    return v1::ListChangePointsResponse{};
  }
  absl::StatusOr<v1::ChangePointRecord> TriageChangePoint(const v1::TriageChangePointRequest&,
                                                          const std::string&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<v1::ListAlertsResponse> ListAlerts(const v1::ListAlertsRequest&) override {
    return v1::ListAlertsResponse{};
  }
  absl::StatusOr<v1::Alert> UpdateAlert(const v1::UpdateAlertRequest&,
                                        const std::string&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::vector<Delivery>> DueDeliveries(int) override {
    return std::vector<Delivery>{};
  }
  absl::Status RecordDelivery(int64_t, const std::string&, bool, const std::string&, absl::Duration,
                              int) override {
    return absl::OkStatus();
  }

  v1::History history;
  v1::GetHistoryRequest last_request;
  int history_reads = 0;
  bool saved = false;
  AnalysisOutcome outcome;
  // The run offered for analysis, and what loading its samples answers.
  v1::RunKind kind = v1::RUN_KIND_BASELINE;
  std::string suite = "s";
  absl::Status load_error;
  double min_effect = 0;  // the job's analysis.min_effect, when set
};

class NoResults : public ResultStore {
 public:
  absl::StatusOr<int64_t> StoreResults(const v1::UploadResultsRequest&) override { return 0; }
  absl::StatusOr<v1::RunResults> GetRunResults(int64_t) override { return v1::RunResults{}; }
  absl::StatusOr<v1::UploadBlobChunkResponse> StoreBlobChunk(
      const v1::UploadBlobChunkRequest&) override {
    return v1::UploadBlobChunkResponse{};
  }
  absl::StatusOr<v1::GetRunSeriesResponse> GetRunSeries(int64_t, const std::string&) override {
    return v1::GetRunSeriesResponse{};
  }
  absl::StatusOr<v1::GetRunDbStatsResponse> GetRunDbStats(int64_t) override {
    return v1::GetRunDbStatsResponse{};
  }
  absl::StatusOr<v1::ListProfilesResponse> ListProfiles(int64_t) override {
    return v1::ListProfilesResponse{};
  }
  absl::StatusOr<std::pair<v1::ProfileRef, std::string>> GetProfile(int64_t) override {
    return absl::NotFoundError("");
  }
};

TEST(AnalyserTest, BaselineHistoryStepBecomesOneChangePointOnceFivePointsFollow) {
  NoResults results;
  EventBus runs;
  {
    HistoryStore store(34);  // 4 points after the step: too early to say
    Analyser a(store, results, runs, {});
    EXPECT_EQ(a.RunOnce(), 1);
    EXPECT_TRUE(store.saved);
    EXPECT_TRUE(store.outcome.change_points.empty());
    EXPECT_EQ(store.last_request.limit(), 50);
    EXPECT_EQ(store.last_request.machine_class(), "m");
  }
  {
    HistoryStore store(40);
    Analyser a(store, results, runs, {});
    EXPECT_EQ(a.RunOnce(), 1);
    ASSERT_EQ(store.outcome.change_points.size(), 1u);
    const auto& cp = store.outcome.change_points[0].record;
    EXPECT_EQ(cp.run_id(), 130);
    EXPECT_EQ(cp.commit(), "c30");
    EXPECT_LE(cp.p(), 0.001);
    EXPECT_NEAR(cp.after() / cp.before(), 1.1, 0.01);
    const v1::Alert& alert = store.outcome.change_points[0].alert;
    EXPECT_EQ(alert.kind(), "change_point");
    EXPECT_EQ(alert.run_id(), 130);
    EXPECT_NEAR(alert.ratio(), 1.1, 0.01);
    EXPECT_FALSE(store.outcome.comparison) << "baselines are not compared";
  }
  {
    // Already known one point away: not reported again.
    HistoryStore store(40);
    v1::ChangePointRecord known;
    known.set_run_id(131);
    *store.history.add_change_points() = known;
    Analyser a(store, results, runs, {});
    a.RunOnce();
    EXPECT_TRUE(store.outcome.change_points.empty());
  }
  {
    // A steady 10 % step under a job whose floor is 15 %: not worth a change point.
    HistoryStore store(40);
    store.min_effect = 0.15;
    Analyser a(store, results, runs, {});
    a.RunOnce();
    EXPECT_TRUE(store.outcome.change_points.empty());
  }
}

TEST(AnalyserTest, RunsThatCannotBeAnalysedDoNotHoldUpTheQueue) {
  NoResults results;
  EventBus runs;
  {
    // A baseline of an unnamed suite has no history to extend: analysed, nothing searched.
    HistoryStore store(40);
    store.suite = "";
    Analyser a(store, results, runs, {});
    EXPECT_EQ(a.RunOnce(), 1);
    EXPECT_TRUE(store.saved);
    EXPECT_EQ(store.history_reads, 0);
    EXPECT_TRUE(store.outcome.change_points.empty());
  }
  // A candidate whose samples cannot be loaded, analysed once: (runs done, the store).
  auto failing = [&](absl::Status load_error) {
    auto store = std::make_unique<HistoryStore>(1);
    store->kind = v1::RUN_KIND_CANDIDATE;
    store->load_error = std::move(load_error);
    Analyser a(*store, results, runs, {});
    const int done = a.RunOnce();
    return std::make_pair(done, std::move(store));
  };
  {
    // Failing for good: recorded as analysed, the failure its comparison's note.
    auto [done, store] = failing(absl::InvalidArgumentError("jobs[0].spec: unreadable"));
    EXPECT_EQ(done, 1);
    ASSERT_TRUE(store->saved);
    ASSERT_TRUE(store->outcome.comparison.has_value());
    EXPECT_EQ(store->outcome.comparison->verdict(), v1::VERDICT_UNSPECIFIED);
    EXPECT_EQ(store->outcome.comparison->note(), "analysis failed: jobs[0].spec: unreadable");
  }
  {
    // The database away is worth waiting for: not recorded, retried on the next pass.
    auto [done, store] = failing(absl::UnavailableError("connection refused"));
    EXPECT_EQ(done, 0);
    EXPECT_FALSE(store->saved);
  }
}

}  // namespace
}  // namespace perfgate::controller
