// The campaign report (controller/campaign/campaign_report.h): which rows, what each cell says,
// the outcome's rules, and its renderings pinned by golden files (tests/unit/controller/golden.h).
#include "controller/campaign/campaign_report.h"

#include <gtest/gtest.h>

#include <tuple>

#include "controller/campaign/campaign_store.h"
#include "controller/web/campaign_page.h"
#include "tests/unit/controller/golden.h"

namespace perfgate::controller {
namespace {

v1::MetricSummary Summary(const std::string& name, const std::string& unit, double median,
                          v1::Direction d = v1::DIRECTION_LOWER_IS_BETTER) {
  v1::MetricSummary m;
  m.set_name(name);
  m.set_unit(unit);
  m.set_direction(d);
  m.set_valid(5);
  m.set_total(5);
  m.set_median(median);
  return m;
}

v1::MetricLimit Levels(const std::string& metric, double target, double acceptable,
                       double critical) {
  v1::MetricLimit l;
  l.set_metric(metric);
  l.set_target(target);
  l.set_acceptable(acceptable);
  l.set_critical(critical);
  return l;
}

// One tier's run of the job "api": create rate, placement wait, API p99, manager RSS.
TierInputs Tier(const std::string& tier, int64_t run_id, double rate, double wait, double p99,
                double rss) {
  TierInputs in;
  in.run.set_id(run_id);
  v1::Job* job = in.run.add_jobs();
  job->set_name("api@" + tier);
  job->set_state(v1::JOB_STATE_SUCCEEDED);
  v1::BenchmarkJob* b = job->mutable_spec()->mutable_benchmark();
  *b->add_limits() = Levels("ops.create.rate", 1, 0.5, 0.5);
  *b->add_limits() = Levels("wait.scheduled.seconds", 5, 10, 30);
  *b->add_limits() = Levels("http.latency.p99", 200, 500, 1000);
  v1::MetricLimit max_rss = Levels("proc.manager.rss_peak", 256, 512, 512);
  max_rss.set_max(600);
  *b->add_limits() = max_rss;
  v1::JobResults* jr = in.results.add_jobs();
  jr->set_job_name("api@" + tier);
  *jr->add_summary() = Summary("ops.create.rate", "op/s", rate, v1::DIRECTION_HIGHER_IS_BETTER);
  *jr->add_summary() = Summary("wait.scheduled.seconds", "s", wait);
  *jr->add_summary() = Summary("http.latency.p99", "ms", p99);
  *jr->add_summary() = Summary("proc.manager.rss_peak", "MiB", rss);
  *jr->add_summary() = Summary("http.errors", "ratio", 0);    // gating by default, no levels
  *jr->add_summary() = Summary("dbstats.calls", "count", 7);  // neither: not a row
  return in;
}

v1::Campaign Campaign(v1::RunState small, v1::RunState medium) {
  v1::Campaign c;
  c.set_id(3);
  c.set_project("warren");
  c.set_branch("pr-17");
  c.set_commit("c0ffee0123456789abcdef0123456789abcdef01");
  c.set_kind(v1::RUN_KIND_CANDIDATE);
  c.set_suite_name("warren-scale");
  int64_t run = 21;
  for (auto [name, hosts, state] : {std::tuple{"small", 3u, small}, {"medium", 8u, medium}}) {
    v1::CampaignTier* t = c.add_tiers();
    t->set_name(name);
    t->set_hosts(hosts);
    t->set_run_id(run++);
    t->set_state(state);
    t->set_analysed(true);
    (*t->mutable_params())["services"] = std::string(name) == "small" ? "50" : "200";
    // One parameter: a map's JSON key order is the protobuf runtime's, not fixed.
  }
  c.set_state(CampaignState(c));
  return c;
}

void Compare(TierInputs* in, const std::string& metric, double baseline, double ratio,
             v1::Verdict v) {
  if (!in->comparison) in->comparison.emplace();
  v1::MetricComparison* m = in->comparison->add_metrics();
  m->set_job_name(in->run.jobs(0).name());
  m->set_name(metric);
  m->set_baseline_median(baseline);
  m->set_has_ratio(true);
  m->set_ratio(ratio);
  m->set_verdict(v);
  m->set_gate(true);
}

// A repetition of `in`'s job in which the load phase "load.api" killed a worker: landed on
// `host`, recovered after `recovery_ms` (< 0: not within the window).
void Fault(TierInputs* in, const std::string& host, double recovery_ms) {
  v1::RepetitionResult* rep = in->results.mutable_jobs(0)->add_repetitions();
  v1::FaultRecord* f = rep->add_faults();
  f->set_name("kill-worker");
  f->set_action("kill");
  f->set_target("random:worker");
  f->set_phase("load.api");
  f->set_host(host);
  f->set_applied_ms(2000);
  f->set_recovery_ms(recovery_ms);
  f->set_recovery_note(recovery_ms >= 0 ? "recovered: errors <= 1.00% ..."
                                        : "not recovered within the window: errors <= 1.00% ...");
}

// A soak heap of `in`'s job with its suspects (start, end).
v1::SoakHeap& Soak(TierInputs* in, int64_t start, int64_t end,
                   std::vector<std::tuple<std::string, int64_t, int64_t>> suspects) {
  v1::SoakHeap& h = in->soak_heaps.emplace_back();
  h.set_job(in->run.jobs(0).name());
  h.set_phase("soak");
  h.set_service("manager");
  h.set_profiles(2);
  h.set_start_bytes(start);
  h.set_end_bytes(end);
  for (const auto& [name, a, b] : suspects) {
    v1::FunctionDelta* f = h.add_suspects();
    f->set_name(name);
    f->set_base_flat(a);
    f->set_candidate_flat(b);
  }
  v1::PhaseRecord* p = in->results.mutable_jobs(0)->mutable_repetitions(0)->add_phases();
  p->set_name("soak");
  p->set_kind("soak");
  p->set_ok(true);
  p->set_seconds(20.4);
  return h;
}

// Medium places slower (a regression, and acceptable only) and its manager leaks (critical);
// a worker killed under load recovers in both tiers; medium's soak names the leak.
std::vector<TierInputs> ExampleTiers() {
  std::vector<TierInputs> tiers = {Tier("small", 21, 40, 1.2, 12, 180),
                                   Tier("medium", 22, 35, 7.5, 48, 610)};
  Compare(&tiers[0], "wait.scheduled.seconds", 1.19, 1.008, v1::VERDICT_NO_CHANGE);
  Compare(&tiers[1], "wait.scheduled.seconds", 2.5, 3.0, v1::VERDICT_REGRESSION);
  Compare(&tiers[1], "proc.manager.rss_peak", 300, 2.03, v1::VERDICT_REGRESSION);
  Fault(&tiers[0], "small-worker-1", 800);
  Fault(&tiers[0], "small-worker-2", 1000);
  Fault(&tiers[1], "medium-worker-4", 1200);
  Fault(&tiers[1], "medium-worker-4", 1500);
  Soak(&tiers[0], 3 << 20, 3 << 20, {});
  Soak(&tiers[1], 5 << 20, 12 << 20,
       {{"perfgate::sample_target::Manager::RetainHeartbeat()", 1 << 20, 8 << 20},
        {"std::vector<std::unique_ptr<char []>>::_M_realloc_insert()", 4096, 300 << 10}});
  return tiers;
}

TEST(CampaignReportTest, RowsAreTheLimitedThenTheGatingMetricsWithACellPerTier) {
  const auto r = BuildCampaignReport(Campaign(v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_SUCCEEDED),
                                     ExampleTiers());
  ASSERT_EQ(r.rows_size(), 5);
  EXPECT_EQ(r.rows(0).metric(), "ops.create.rate");
  EXPECT_EQ(r.rows(0).job(), "api");
  EXPECT_EQ(r.rows(4).metric(), "http.errors");
  const v1::CampaignRow& wait = r.rows(1);
  ASSERT_EQ(wait.cells_size(), 2);
  EXPECT_EQ(wait.cells(0).level(), "target");
  EXPECT_EQ(wait.cells(1).level(), "acceptable");
  EXPECT_EQ(wait.cells(1).verdict(), v1::VERDICT_REGRESSION);
  EXPECT_NEAR(wait.cells(1).change(), 2.0, 1e-9);
  const v1::CampaignRow& rss = r.rows(3);
  EXPECT_EQ(rss.cells(0).level(), "target");
  EXPECT_EQ(rss.cells(1).level(), "critical");
  EXPECT_EQ(rss.cells(1).limit_broken(), "max 600");
  EXPECT_EQ(r.outcome(), "fail");
  // Each cause is named with its tier.
  std::string reasons;
  for (const auto& why : r.reasons()) reasons += why + "\n";
  EXPECT_NE(reasons.find("tier medium: api proc.manager.rss_peak 610 MiB: critical"),
            std::string::npos)
      << reasons;
  EXPECT_NE(reasons.find("tier medium: api wait.scheduled.seconds regressed +200.0 %"),
            std::string::npos)
      << reasons;
  EXPECT_EQ(reasons.find("tier small"), std::string::npos) << reasons;
}

TEST(CampaignReportTest, TheOutcomeFollowsTheWorstCell) {
  const auto both = Campaign(v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_SUCCEEDED);
  // Everything within target or acceptable, nothing regressed: pass.
  std::vector<TierInputs> good = {Tier("small", 21, 40, 1.2, 12, 180),
                                  Tier("medium", 22, 0.8, 7, 300, 400)};
  EXPECT_EQ(BuildCampaignReport(both, good).outcome(), "pass");
  // Above acceptable (not yet critical): warn. So is an inconclusive comparison.
  good[1] = Tier("medium", 22, 35, 20, 48, 200);
  EXPECT_EQ(BuildCampaignReport(both, good).outcome(), "warn");
  good[1] = Tier("medium", 22, 35, 2, 48, 200);
  Compare(&good[1], "http.latency.p99", 40, 1.2, v1::VERDICT_INCONCLUSIVE);
  EXPECT_EQ(BuildCampaignReport(both, good).outcome(), "warn");
  // A tier still running: pending, whatever the others say.
  EXPECT_EQ(
      BuildCampaignReport(Campaign(v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_RUNNING), good).outcome(),
      "pending");
  // A candidate tier not yet compared: pending too.
  auto unanalysed = both;
  unanalysed.mutable_tiers(1)->set_analysed(false);
  EXPECT_EQ(BuildCampaignReport(unanalysed, good).outcome(), "pending");
  // A failed tier fails the campaign, with its job's message.
  auto failed = Campaign(v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_FAILED);
  good[1].run.mutable_jobs(0)->set_state(v1::JOB_STATE_FAILED);
  good[1].run.mutable_jobs(0)->set_message("ops phase create: 12 of 200 operations failed");
  const auto r = BuildCampaignReport(failed, good);
  EXPECT_EQ(r.outcome(), "fail");
  ASSERT_EQ(r.failures_size(), 1);
  EXPECT_EQ(
      r.failures(0),
      "tier medium: run 22 failed: api@medium: ops phase create: 12 of 200 operations failed");
}

TEST(CampaignReportTest, FailedPhasesFailTheCampaignAndFailedCleanupsWarn) {
  const auto both = Campaign(v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_SUCCEEDED);
  std::vector<TierInputs> tiers = {Tier("small", 21, 40, 1.2, 12, 180),
                                   Tier("medium", 22, 40, 1.2, 12, 180)};
  auto phase = [](TierInputs* in, const std::string& name, const std::string& kind,
                  int64_t failures, const std::string& error) {
    v1::RepetitionResult* rep = in->results.mutable_jobs(0)->add_repetitions();
    v1::PhaseRecord* p = rep->add_phases();
    p->set_name(name);
    p->set_kind(kind);
    p->set_ok(failures == 0 && error.empty());
    p->set_failures(failures);
    if (!error.empty()) p->add_errors(error);
  };
  phase(&tiers[1], "teardown", "cleanup", 2, "#3: exit 1: no such service");
  auto r = BuildCampaignReport(both, tiers);
  EXPECT_EQ(r.outcome(), "warn");
  phase(&tiers[1], "create", "ops", 12, "#7: POST /services: status 503: no capacity");
  phase(&tiers[1], "create", "ops", 3, "#9: POST /services: status 503: no capacity");
  r = BuildCampaignReport(both, tiers);
  EXPECT_EQ(r.outcome(), "fail");
  ASSERT_EQ(r.failures_size(), 2);
  EXPECT_EQ(r.failures(1),
            "tier medium: api phase create (ops) failed in 2 of 3 repetitions, 12 operations the "
            "first time; first: #7: POST /services: status 503: no capacity");
}

// Faults are summed over the repetitions per (phase, name); one that did not recover, or was not
// applied, is worth a look (warn) but fails nothing on its own.
TEST(CampaignReportTest, FaultsAreSummedPerTierAndOneThatDidNotRecoverWarns) {
  const auto both = Campaign(v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_SUCCEEDED);
  std::vector<TierInputs> tiers = {Tier("small", 21, 40, 1.2, 12, 180),
                                   Tier("medium", 22, 40, 1.2, 12, 180)};
  Fault(&tiers[1], "w1", 900);
  Fault(&tiers[1], "w2", 300);
  Fault(&tiers[1], "w1", 600);
  auto r = BuildCampaignReport(both, tiers);
  EXPECT_EQ(r.outcome(), "pass");
  ASSERT_EQ(r.faults_size(), 1);
  const v1::CampaignFault& f = r.faults(0);
  EXPECT_EQ(f.tier(), "medium");
  EXPECT_EQ(f.job(), "api");
  EXPECT_EQ(f.repetitions(), 3);
  EXPECT_EQ(f.recovered(), 3);
  EXPECT_EQ(f.recovery_ms_median(), 600);
  EXPECT_EQ(f.recovery_ms_max(), 900);
  EXPECT_EQ(FaultLine(f),
            "tier medium: api load.api fault kill-worker (kill random:worker on w1, w2): recovered "
            "in 3 of 3 repetitions, median 600 ms, max 900 ms");

  Fault(&tiers[1], "w2", -1);
  v1::FaultRecord* lost = tiers[1].results.mutable_jobs(0)->add_repetitions()->add_faults();
  *lost = tiers[1].results.jobs(0).repetitions(0).faults(0);
  lost->set_applied_ms(-1);
  lost->set_recovery_ms(-1);
  lost->set_recovery_note("");
  lost->set_error("no live host has a worker");
  r = BuildCampaignReport(both, tiers);
  EXPECT_EQ(r.outcome(), "warn");
  ASSERT_EQ(r.faults_size(), 1);
  EXPECT_EQ(r.faults(0).repetitions(), 4);
  EXPECT_EQ(r.faults(0).recovered(), 3);
  ASSERT_EQ(r.reasons_size(), 2);
  EXPECT_EQ(r.reasons(0),
            "tier medium: api fault kill-worker (kill random:worker in load.api) was applied in 4 "
            "of 5 repetitions: no live host has a worker");
  EXPECT_EQ(r.reasons(1),
            "tier medium: api fault kill-worker (kill random:worker in load.api) did not recover "
            "in 1 of 4 repetitions");
}

TEST(CampaignReportTest, SoakHeapsAreTheTiersWithTheJobsNameAndTheSoaksLength) {
  const auto both = Campaign(v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_SUCCEEDED);
  auto r = BuildCampaignReport(both, ExampleTiers());
  ASSERT_EQ(r.soak_heaps_size(), 2);
  const v1::SoakHeap& h = r.soak_heaps(1);
  EXPECT_EQ(h.tier(), "medium");
  EXPECT_EQ(h.job(), "api");
  EXPECT_DOUBLE_EQ(h.seconds(), 20.4);
  EXPECT_EQ(SoakHeapLine(h),
            "tier medium: api soak, manager: in use 5.00 MiB -> 12.00 MiB over 20.4 s (2 "
            "repetitions)");
  ASSERT_EQ(h.suspects_size(), 2);
  EXPECT_EQ(LeakSuspectLine(h.suspects(0)),
            "+7.00 MiB  perfgate::sample_target::Manager::RetainHeartbeat() (8.00 MiB in use at "
            "the end)");
}

TEST(CampaignReportTest, AChangeFromNothingHasNoPercentage) {
  v1::CampaignCell c;
  c.set_value(7264);
  c.set_baseline(0);
  c.set_change(1e15);  // what a ratio to a rounding-noise baseline would say
  EXPECT_EQ(ChangeText(c), "from 0");
  c.set_value(0);
  EXPECT_EQ(ChangeText(c), "±0");  // no errors before, none after
  c.set_value(7264);
  c.set_baseline(3600);
  c.set_change(7264.0 / 3600 - 1);
  EXPECT_EQ(ChangeText(c), "+101.8 %");
}

TEST(CampaignReportTest, StateIsTheTiersRunsTogether) {
  EXPECT_EQ(Campaign(v1::RUN_STATE_QUEUED, v1::RUN_STATE_QUEUED).state(), v1::RUN_STATE_QUEUED);
  EXPECT_EQ(Campaign(v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_QUEUED).state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(Campaign(v1::RUN_STATE_FAILED, v1::RUN_STATE_CANCELLED).state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(Campaign(v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_CANCELLED).state(),
            v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(Campaign(v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_SUCCEEDED).state(),
            v1::RUN_STATE_SUCCEEDED);
}

v1::CampaignReport GoldenExample() {
  return BuildCampaignReport(Campaign(v1::RUN_STATE_SUCCEEDED, v1::RUN_STATE_SUCCEEDED),
                             ExampleTiers());
}

TEST(CampaignReportGoldenTest, Text) {
  ExpectGolden("campaign.txt", RenderCampaignText(GoldenExample()));
}
TEST(CampaignReportGoldenTest, Markdown) {
  ExpectGolden("campaign.md",
               RenderCampaignMarkdown(GoldenExample(), "https://perfgate.example/campaigns/3"));
}
TEST(CampaignReportGoldenTest, Html) {
  ExpectGolden("campaign.html", CampaignPage(GoldenExample()) + "\n");
}
TEST(CampaignReportGoldenTest, Json) {
  ExpectGolden("campaign.json", RenderCampaignJson(GoldenExample()) + "\n");
}

}  // namespace
}  // namespace perfgate::controller
