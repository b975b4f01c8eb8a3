// One comparison, rendered the four ways perfgate reports it (Markdown for a PR comment, plain
// text for the CLI, the JSON schema, the HTML comparison page), pinned by checked-in golden
// files under tests/unit/controller/testdata/. A change to a renderer shows up here as a diff
// to review; after a deliberate change, regenerate with
//   PERFGATE_UPDATE_GOLDEN=1 ./build/bin/unit_controller_test --gtest_filter='ReportGolden*'
// and commit the new files with it.
#include <gtest/gtest.h>

#include "controller/analysis/comparer.h"
#include "controller/report/render.h"
#include "controller/web/comparison_page.h"
#include "tests/unit/controller/golden.h"

namespace perfgate::controller {
namespace {

JobSamples Job(const std::vector<double>& p50, const std::vector<double>& rps,
               const std::vector<double>& rss) {
  JobSamples j;
  j.job_name = "http-api";
  j.machine_class = "bare-metal-16c";
  j.metrics["http.latency.p50"] = {"ms", v1::DIRECTION_LOWER_IS_BETTER, p50};
  j.metrics["http.throughput"] = {"req/s", v1::DIRECTION_HIGHER_IS_BETTER, rps};
  j.metrics["proc.api.rss_peak"] = {"MiB", v1::DIRECTION_LOWER_IS_BETTER, rss};
  j.metrics["http.generator_lag.p99"] = {"ms", v1::DIRECTION_LOWER_IS_BETTER, rps};  // not judged
  v1::MetricLimit l;
  l.set_metric("http.latency.p50");
  l.set_target(1.0);
  l.set_acceptable(1.2);
  l.set_critical(5);
  j.limits.push_back(l);
  j.valid = j.total = static_cast<int>(p50.size());
  return j;
}

// Explicit values (not random draws), so the files depend on nothing but our code: the
// bootstrap is seeded.
v1::Comparison Example() {
  ComparisonInputs in;
  in.candidate.run.set_id(42);
  in.candidate.run.set_project("shop");
  in.candidate.run.set_branch("pr-1234");
  in.candidate.run.set_baseline_branch("main");
  in.candidate.run.set_suite_name("sample-target-http");
  in.candidate.run.set_commit("c0ffee0123456789abcdef0123456789abcdef01");
  in.candidate.jobs.push_back(
      Job({1.23, 1.24, 1.22, 1.25, 1.23, 1.24, 1.22, 1.23, 1.26},
          {400, 400, 400, 399.5, 400, 400, 400, 400, 400},
          {9.83, 9.83, 9.95, 9.95, 9.83, 9.95, 9.95, 9.83, 9.95}));
  RunSamples base;
  base.run.set_id(41);
  base.run.set_commit("ba5e0123456789abcdef0123456789abcdef0123");
  base.jobs.push_back(Job({1.11, 1.12, 1.11, 1.13, 1.12, 1.11, 1.12, 1.10, 1.12},
                          {400, 400, 399.5, 400, 400, 400, 400, 400, 400},
                          {9.83, 9.95, 9.83, 9.95, 9.83, 9.95, 9.83, 9.95, 9.95}));
  in.baselines.push_back(std::move(base));
  in.noise[{"http-api", "http.latency.p50"}] = {0.008, 0.006};
  v1::Comparison c = BuildComparison(in, {});
  c.set_id(7);
  c.mutable_created_at()->set_seconds(1796083200);  // 2026-12-01 00:00:00 UTC
  v1::PercentileCurve* curve = c.add_curves();
  curve->set_job_name("http-api");
  curve->set_histogram("http.latency");
  const double pct[] = {50, 90, 99, 99.9}, b[] = {1.12, 1.45, 2.1, 3.4}, k[] = {1.23, 1.6, 2.3, 3.9};
  for (int i = 0; i < 4; ++i) {
    curve->add_percentiles(pct[i]);
    curve->add_baseline_ms(b[i]);
    curve->add_candidate_ms(k[i]);
  }
  v1::ProfileDiff* d = c.add_profile_diffs();
  d->set_label("http-api/api/cpu/window");
  d->set_sample_type("cpu");
  d->set_unit("nanoseconds");
  d->set_base_id(301);
  d->set_candidate_id(310);
  d->set_base_profiles(9);
  d->set_candidate_profiles(9);
  d->set_base_total(1200000000);
  d->set_candidate_total(1320000000);
  v1::FunctionDelta* f = d->add_functions();
  f->set_name("main.burnCPU");
  f->set_base_flat(900000000);
  f->set_candidate_flat(1010000000);
  f->set_base_cum(900000000);
  f->set_candidate_cum(1010000000);
  f = d->add_functions();
  f->set_name("net/http.(*conn).serve");
  f->set_base_flat(40000000);
  f->set_candidate_flat(50000000);
  f->set_base_cum(1100000000);
  f->set_candidate_cum(1220000000);
  return c;
}

TEST(ReportGoldenTest, Markdown) {
  ExpectGolden("comparison.md", RenderMarkdown(Example(), "https://perfgate.example/runs/42/compare"));
}

TEST(ReportGoldenTest, Text) { ExpectGolden("comparison.txt", RenderText(Example())); }

TEST(ReportGoldenTest, Json) { ExpectGolden("comparison.json", RenderJson(Example()) + "\n"); }

TEST(ReportGoldenTest, Html) { ExpectGolden("comparison.html", ComparisonPage(Example()) + "\n"); }

}  // namespace
}  // namespace perfgate::controller
