#include "common/spec/run_spec_rules.h"

#include <cmath>
#include <functional>

#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

v1::RunSpec OneJob(const std::string& command) {
  v1::RunSpec s;
  s.add_jobs()->mutable_command()->set_command(command);
  return s;
}

TEST(RunSpecRulesTest, FillsDefaults) {
  v1::RunSpec s = OneJob("true");
  ASSERT_TRUE(ValidateAndDefaultRunSpec(&s).ok());
  EXPECT_EQ(s.kind(), v1::RUN_KIND_EXPERIMENT);
  EXPECT_EQ(s.jobs(0).name(), "job-0");
  EXPECT_EQ(s.jobs(0).max_attempts(), 3u);
  EXPECT_EQ(s.jobs(0).command().timeout_seconds(), 3600u);
  EXPECT_EQ(s.jobs(0).command().cancel_grace_seconds(), 30u);
}

TEST(RunSpecRulesTest, ErrorsNameTheField) {
  struct Case {
    std::function<void(v1::RunSpec*)> mutate;
    std::string field;
  } cases[] = {
      {[](v1::RunSpec* s) { s->clear_jobs(); }, "spec.jobs:"},
      {[](v1::RunSpec* s) { s->mutable_jobs(0)->mutable_command()->set_command(""); },
       "spec.jobs[0].command.command:"},
      {[](v1::RunSpec* s) { s->mutable_jobs(0)->clear_command(); }, "spec.jobs[0].command:"},
      {[](v1::RunSpec* s) {
         s->mutable_jobs(0)->mutable_command()->set_timeout_seconds(99'999'999);
       },
       "spec.jobs[0].command.timeout_seconds:"},
      {[](v1::RunSpec* s) { (*s->mutable_jobs(0)->mutable_command()->mutable_env())["A=B"] = "x"; },
       "spec.jobs[0].command.env:"},
      {[](v1::RunSpec* s) { s->set_branch(std::string(5000, 'b')); }, "spec.branch:"},
      {[](v1::RunSpec* s) { s->set_commit(std::string("ab\0c", 4)); }, "spec.commit:"},
      {[](v1::RunSpec* s) { s->mutable_jobs(0)->set_max_attempts(11); },
       "spec.jobs[0].max_attempts:"},
      {[](v1::RunSpec* s) { s->set_kind(static_cast<v1::RunKind>(42)); }, "spec.kind:"},
      {[](v1::RunSpec* s) {
         s->mutable_jobs(0)->mutable_command()->set_command(std::string(70'000, 'x'));
       },
       "spec.jobs[0].command.command:"},
      // A suite read from the repository: a clean relative path and a repository to read it from.
      {[](v1::RunSpec* s) {
         s->mutable_jobs(0)->mutable_suite_file()->set_path(".perfgate/suite.yaml");
       },
       "spec.jobs[0].suite_file.repository: is required"},
      {[](v1::RunSpec* s) {
         s->mutable_jobs(0)->mutable_suite_file()->set_repository("/srv/app.git");
         s->mutable_jobs(0)->mutable_suite_file()->set_path("../secrets.yaml");
       },
       "spec.jobs[0].suite_file.path: '../secrets.yaml': no empty, . or .. parts"},
      {[](v1::RunSpec* s) {
         s->mutable_jobs(0)->mutable_suite_file()->set_repository("/srv/app.git");
         s->mutable_jobs(0)->mutable_suite_file()->set_path("/etc/passwd");
       },
       "spec.jobs[0].suite_file.path: want a path relative"},
  };
  for (const auto& c : cases) {
    v1::RunSpec s = OneJob("true");
    c.mutate(&s);
    absl::Status st = ValidateAndDefaultRunSpec(&s);
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << c.field;
    EXPECT_EQ(st.message().rfind(c.field, 0), 0u) << st.message();
  }
}

TEST(RunSpecRulesTest, BoundsJobCount) {
  v1::RunSpec s;
  for (int i = 0; i < 300; ++i) s.add_jobs()->mutable_command()->set_command("true");
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateAndDefaultRunSpec(&s)));
}

v1::RunSpec OneBenchmark() {
  v1::RunSpec s;
  v1::BenchmarkJob* b = s.add_jobs()->mutable_benchmark();
  auto* svc = b->mutable_stack()->mutable_exec()->add_services();
  svc->set_name("api");
  svc->add_args("/srv/api");
  svc->add_args("--port={port:api}");
  svc->add_ports("api");
  b->mutable_workload()->mutable_http()->set_target("http://{host}:{port:api}");
  b->mutable_workload()->mutable_http()->set_rate(100);
  return s;
}

// NaN passes a check written `v < lo || v > hi` and then differs from itself, so a stored spec
// would not validate to the same spec again (the run_spec fuzzer's finding): every number is
// refused unless finite and in range.
TEST(RunSpecRulesTest, NotANumberIsRefusedWhereverANumberGoes) {
  const double nan = std::nan("");
  std::vector<std::pair<std::function<void(v1::BenchmarkJob*)>, std::string>> cases = {
      {[&](v1::BenchmarkJob* b) { b->mutable_workload()->mutable_http()->set_rate(nan); },
       "http.rate"},
      {[&](v1::BenchmarkJob* b) {
         auto* h = b->mutable_workload()->mutable_http();
         h->set_rate(0);
         auto* st = h->add_stages();
         st->set_duration_seconds(10);
         st->set_rate(100);
         st->set_rate_to(nan);
       },
       "stages[0]"},
      {[&](v1::BenchmarkJob* b) {
         auto* l = b->add_limits();
         l->set_metric("http.latency.p99");
         l->set_max(nan);
       },
       "limits[0].max"},
  };
  for (const auto& [mutate, field] : cases) {
    v1::RunSpec s = OneBenchmark();
    mutate(s.mutable_jobs(0)->mutable_benchmark());
    const absl::Status st = ValidateAndDefaultRunSpec(&s);
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << field << ": " << st;
    EXPECT_NE(st.message().find(field), std::string::npos) << st;
  }
}

TEST(RunSpecRulesTest, BenchmarkDefaultsAndChecks) {
  v1::RunSpec s = OneBenchmark();
  ASSERT_TRUE(ValidateAndDefaultRunSpec(&s).ok());
  const v1::BenchmarkJob& b = s.jobs(0).benchmark();
  EXPECT_EQ(b.workload().repetitions(), 9u);
  EXPECT_EQ(b.workload().duration_seconds(), 30u);
  EXPECT_EQ(b.workload().http().connections(), 16u);
  EXPECT_EQ(b.workload().http().requests(0).path(), "/");
  EXPECT_EQ(b.timeout_seconds(), 7200u);
  {
    v1::RunSpec o = OneBenchmark();
    auto* ob = o.mutable_jobs(0)->mutable_benchmark()->mutable_observe();
    auto* q = ob->mutable_prometheus()->add_queries();
    q->set_name("rss");
    q->set_expr("process_resident_memory_bytes");
    q->set_mode(v1::PromQuery::MODE_RANGE);
    auto* t = ob->mutable_prometheus()->add_scrape();
    t->set_job("api");
    t->set_target("{host}:{port:api}");
    ob->mutable_postgres()->set_dsn("postgresql://{host}:{port:api}/x");
    ASSERT_TRUE(ValidateAndDefaultRunSpec(&o).ok());
    EXPECT_EQ(ob->prometheus().queries(0).step_ms(), 1000u) << "range queries step 1 s";
    EXPECT_EQ(ob->prometheus().scrape(0).path(), "/metrics");
    EXPECT_EQ(ob->postgres().top(), 20u);
    q->set_mode(v1::PromQuery::MODE_UNSPECIFIED);
    q->set_step_ms(0);
    ASSERT_TRUE(ValidateAndDefaultRunSpec(&o).ok());
    EXPECT_EQ(ob->prometheus().queries(0).mode(), v1::PromQuery::MODE_INSTANT);
  }
  struct Case {
    std::function<void(v1::BenchmarkJob*)> mutate;
    std::string want;
  } cases[] = {
      {[](v1::BenchmarkJob* b) { b->mutable_workload()->clear_generator(); },
       "spec.jobs[0].benchmark.workload: needs a load generator"},
      {[](v1::BenchmarkJob* b) {
         b->mutable_workload()->mutable_http()->set_target("http://{host}:{port:web}");
       },
       "spec.jobs[0].benchmark.workload.http.target: {port:web} names a port no service declares"},
      {[](v1::BenchmarkJob* b) {
         b->mutable_stack()->mutable_exec()->mutable_services(0)->set_args(1, "{srcdir}/x");
       },
       "spec.jobs[0].benchmark.stack.services[0].args[1]: {srcdir} is only defined"},
      {[](v1::BenchmarkJob* b) {
         b->mutable_stack()->mutable_exec()->mutable_services(0)->add_ports("api");
       },
       "port 'api' declared twice"},
      {[](v1::BenchmarkJob* b) { b->mutable_workload()->set_repetitions(5000); },
       "workload.repetitions: at most 1000"},
      {[](v1::BenchmarkJob* b) {
         b->mutable_workload()->set_repetitions(1000);
         b->mutable_workload()->set_duration_seconds(3600);
         b->set_timeout_seconds(3600);
       },
       "the workload alone takes"},
      {[](v1::BenchmarkJob* b) { b->add_fixtures()->set_pg_dump("/x.dump"); },
       "fixtures[0].dsn: is required"},
      {[](v1::BenchmarkJob* b) { b->mutable_observe()->mutable_prometheus()->add_queries(); },
       "observe.prometheus.queries[0].name: is required"},
      {[](v1::BenchmarkJob* b) {
         auto* q = b->mutable_observe()->mutable_prometheus()->add_queries();
         q->set_name("a");
         q->set_expr("up");
         q->set_mode(v1::PromQuery::MODE_RANGE);
         q->set_step_ms(5);
       },
       "observe.prometheus.queries[0].step_ms: at least 100"},
      {[](v1::BenchmarkJob* b) {
         auto* t = b->mutable_observe()->mutable_prometheus()->add_scrape();
         t->set_job("x");
         t->set_target("{host}:{port:nope}");
       },
       "observe.prometheus.scrape[0].target: {port:nope} names a port no service declares"},
      {[](v1::BenchmarkJob* b) {
         auto* p = b->mutable_observe()->add_profiles();
         p->set_service("api");
         p->set_url("http://{host}:{port:api}/debug/pprof");
         p->set_cpu_seconds(31);
       },
       "observe.profiles[0].cpu_seconds: longer than the measured window (30s)"},
      {[](v1::BenchmarkJob* b) { b->mutable_observe()->mutable_postgres()->set_top(5); },
       "observe.postgres.dsn: is required"},
  };
  for (const auto& c : cases) {
    v1::RunSpec bad = OneBenchmark();
    c.mutate(bad.mutable_jobs(0)->mutable_benchmark());
    absl::Status st = ValidateAndDefaultRunSpec(&bad);
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << c.want;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace perfgate::common
