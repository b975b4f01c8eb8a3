#include "controller/queue/run_spec.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/spec/limit_levels.h"
#include "common/spec/promql_check.h"
#include "common/spec/template.h"
#include "common/status/macros.h"

namespace perfgate::controller {
namespace {

absl::Status Bad(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat("spec.", field, ": ", problem));
}

absl::Status CheckString(const std::string& field, const std::string& v, size_t max,
                         bool required) {
  if (required && v.empty()) return Bad(field, "is required");
  if (v.size() > max)
    return Bad(field, absl::StrCat("is ", v.size(), " bytes; at most ", max, " allowed"));
  if (v.find('\0') != std::string::npos) return Bad(field, "contains a NUL byte");
  return absl::OkStatus();
}

// Collects every template string of a benchmark job with its field path.
struct Templates {
  std::vector<std::pair<std::string, const std::string*>> uses;
  void Add(const std::string& field, const std::string& v) { uses.emplace_back(field, &v); }
  void AddAll(const std::string& field, const google::protobuf::RepeatedPtrField<std::string>& v) {
    for (int i = 0; i < v.size(); ++i) Add(absl::StrCat(field, "[", i, "]"), v[i]);
  }
  void AddMap(const std::string& field, const google::protobuf::Map<std::string, std::string>& m) {
    for (const auto& [k, v] : m) Add(field + "[" + k + "]", v);
  }
  void AddReady(const std::string& field, const v1::ReadinessCheck& r) {
    Add(field + ".tcp", r.tcp());
    Add(field + ".http", r.http());
    Add(field + ".command", r.command());
  }
};

absl::Status CheckPort(const std::string& field, const std::string& name,
                       std::set<std::string>* ports) {
  if (name.empty() || common::TemplateReferences("{port:" + name + "}").size() != 1)
    return Bad(field, "port names use letters, digits, _ . -");
  if (!ports->insert(name).second) return Bad(field, "port '" + name + "' declared twice");
  return absl::OkStatus();
}

absl::Status ValidateObserve(v1::ObserveSpec* o, const std::string& f, Templates* t,
                             std::vector<std::pair<std::string, std::string>>* promql) {
  std::set<std::string> names;
  v1::PrometheusSpec* pr = o->mutable_prometheus();
  for (int i = 0; i < pr->scrape_size(); ++i) {
    v1::ScrapeTarget* s = pr->mutable_scrape(i);
    std::string sf = absl::StrCat(f, ".prometheus.scrape[", i, "]");
    if (s->job().empty()) return Bad(sf + ".job", "is required");
    if (s->target().empty()) return Bad(sf + ".target", "is required (host:port)");
    if (s->path().empty()) s->set_path("/metrics");
    if (s->path()[0] != '/') return Bad(sf + ".path", "must start with /");
    t->Add(sf + ".target", s->target());
  }
  if (pr->queries_size() > 200) return Bad(f + ".prometheus.queries", "at most 200");
  for (int i = 0; i < pr->queries_size(); ++i) {
    v1::PromQuery* q = pr->mutable_queries(i);
    std::string qf = absl::StrCat(f, ".prometheus.queries[", i, "]");
    if (q->name().empty()) return Bad(qf + ".name", "is required");
    if (!names.insert(q->name()).second) return Bad(qf + ".name", "'" + q->name() + "' used twice");
    if (q->expr().empty()) return Bad(qf + ".expr", "is required");
    if (q->expr().size() > 4096) return Bad(qf + ".expr", "at most 4096 bytes");
    if (q->mode() == v1::PromQuery::MODE_UNSPECIFIED) q->set_mode(v1::PromQuery::MODE_INSTANT);
    if (q->mode() == v1::PromQuery::MODE_RANGE && q->step_ms() == 0) q->set_step_ms(1000);
    if (q->mode() == v1::PromQuery::MODE_RANGE && q->step_ms() < 100)
      return Bad(qf + ".step_ms", "at least 100");
    promql->emplace_back("spec." + qf + ".expr", q->expr());
  }
  if (o->profiles_size() > 32) return Bad(f + ".profiles", "at most 32");
  std::set<std::string> services;
  for (int i = 0; i < o->profiles_size(); ++i) {
    const v1::ProfileSpec& p = o->profiles(i);
    std::string pf = absl::StrCat(f, ".profiles[", i, "]");
    if (p.service().empty()) return Bad(pf + ".service", "is required");
    if (!services.insert(p.service()).second)
      return Bad(pf + ".service", "'" + p.service() + "' used twice");
    if (p.url().rfind("http://", 0) != 0) return Bad(pf + ".url", "must be an http:// URL");
    t->Add(pf + ".url", p.url());
    if (!p.cpu_seconds() && !p.heap_before() && !p.heap_after() && !p.heap_every_seconds() &&
        p.extra().empty())
      return Bad(pf, "captures nothing");
  }
  if (o->has_postgres()) {
    v1::PostgresStatsSpec* pg = o->mutable_postgres();
    if (pg->dsn().empty()) return Bad(f + ".postgres.dsn", "is required");
    if (pg->top() == 0) pg->set_top(20);
    if (pg->top() > 1000) return Bad(f + ".postgres.top", "at most 1000");
    t->Add(f + ".postgres.dsn", pg->dsn());
    for (int i = 0; i < pg->explain_size(); ++i) {
      std::string ef = absl::StrCat(f, ".postgres.explain[", i, "]");
      if (pg->explain(i).name().empty()) return Bad(ef + ".name", "is required");
      if (pg->explain(i).sql().empty()) return Bad(ef + ".sql", "is required");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateBenchmark(v1::BenchmarkJob* b, const std::string& f, const SpecLimits& limits,
                               std::vector<std::pair<std::string, std::string>>* promql) {
  Templates t;
  std::set<std::string> ports;
  if (b->has_build()) {
    if (b->build().repository().empty()) return Bad(f + ".build.repository", "is required");
    t.AddAll(f + ".build.commands", b->build().commands());
    t.AddMap(f + ".build.env", b->build().env());
    if (b->build().timeout_seconds() == 0) b->mutable_build()->set_timeout_seconds(1800);
  }
  if (b->has_stack()) {
    const v1::StackSpec& st = b->stack();
    if (st.has_exec()) {
      if (st.exec().services().empty()) return Bad(f + ".stack.services", "at least one service");
      std::set<std::string> names;
      for (int i = 0; i < st.exec().services_size(); ++i) {
        const v1::ServiceSpec& s = st.exec().services(i);
        std::string sf = absl::StrCat(f, ".stack.services[", i, "]");
        if (s.name().empty()) return Bad(sf + ".name", "is required");
        if (!names.insert(s.name()).second) return Bad(sf + ".name", "used twice");
        if (s.args().empty() || s.args(0).empty()) return Bad(sf + ".args", "must name a program");
        for (int p = 0; p < s.ports_size(); ++p) {
          RETURN_IF_ERROR(CheckPort(absl::StrCat(sf, ".ports[", p, "]"), s.ports(p), &ports));
        }
        t.AddAll(sf + ".args", s.args());
        t.AddMap(sf + ".env", s.env());
        t.Add(sf + ".working_dir", s.working_dir());
        t.AddReady(sf + ".ready", s.ready());
      }
    } else if (st.has_compose()) {
      const v1::ComposeStack& c = st.compose();
      if (c.file().empty()) return Bad(f + ".stack.compose.file", "is required");
      for (int p = 0; p < c.ports_size(); ++p) {
        RETURN_IF_ERROR(
            CheckPort(absl::StrCat(f, ".stack.compose.ports[", p, "]"), c.ports(p), &ports));
      }
      t.Add(f + ".stack.compose.file", c.file());
      t.AddMap(f + ".stack.compose.env", c.env());
      for (int i = 0; i < c.ready_size(); ++i)
        t.AddReady(absl::StrCat(f, ".stack.compose.ready[", i, "]"), c.ready(i));
    } else {
      return Bad(f + ".stack", "needs services (exec) or compose");
    }
  }
  for (int i = 0; i < b->fixtures_size(); ++i) {
    const v1::FixtureSpec& x = b->fixtures(i);
    std::string xf = absl::StrCat(f, ".fixtures[", i, "]");
    if (x.kind_case() == v1::FixtureSpec::KIND_NOT_SET)
      return Bad(xf, "needs pg_dump, sql or command");
    if (!x.has_command() && x.dsn().empty()) return Bad(xf + ".dsn", "is required");
    t.Add(xf + ".pg_dump", x.pg_dump());
    t.Add(xf + ".sql", x.sql());
    t.Add(xf + ".command", x.command());
    t.Add(xf + ".dsn", x.dsn());
  }
  v1::WorkloadSpec* w = b->mutable_workload();
  std::string wf = f + ".workload";
  if (w->repetitions() == 0) w->set_repetitions(9);
  if (w->repetitions() > 1000) return Bad(wf + ".repetitions", "at most 1000");
  if (w->duration_seconds() == 0) w->set_duration_seconds(30);
  switch (w->generator_case()) {
    case v1::WorkloadSpec::kHttp: {
      v1::HttpLoadSpec* h = w->mutable_http();
      if (h->target().rfind("http://", 0) != 0)
        return Bad(wf + ".http.target", "must be an http:// URL");
      if (h->closed_loop() == (h->rate() > 0 || h->stages_size() > 0))
        return Bad(wf + ".http.rate", "give a rate or stages (open loop) or closed_loop");
      uint32_t staged = 0;
      for (const auto& s : h->stages()) staged += s.duration_seconds();
      if (h->stages_size() > 0) w->set_duration_seconds(staged);
      if (h->connections() == 0) h->set_connections(16);
      if (h->threads() == 0) h->set_threads(1);
      if (h->threads() > 64) return Bad(wf + ".http.threads", "at most 64");
      if (h->connections() < h->threads() || h->connections() > 10000)
        return Bad(wf + ".http.connections", "at least one per thread, at most 10000");
      if (h->timeout_ms() == 0) h->set_timeout_ms(5000);
      if (h->max_generator_lag_p99_us() == 0) h->set_max_generator_lag_p99_us(10'000);
      if (h->requests().empty()) h->add_requests();
      for (int i = 0; i < h->requests_size(); ++i) {
        v1::HttpRequestSpec* r = h->mutable_requests(i);
        if (r->method().empty()) r->set_method("GET");
        if (r->path().empty()) r->set_path("/");
        if (r->path()[0] != '/')
          return Bad(absl::StrCat(wf, ".http.requests[", i, "].path"), "must start with /");
        if (r->weight() == 0) r->set_weight(1);
        if (!(r->weight() > 0))
          return Bad(absl::StrCat(wf, ".http.requests[", i, "].weight"), "must be positive");
      }
      t.Add(wf + ".http.target", h->target());
      break;
    }
    case v1::WorkloadSpec::kWrk:
      if (w->wrk().url().empty()) return Bad(wf + ".wrk.url", "is required");
      if (w->wrk().connections() == 0) w->mutable_wrk()->set_connections(16);
      if (w->wrk().threads() == 0) w->mutable_wrk()->set_threads(1);
      t.Add(wf + ".wrk.url", w->wrk().url());
      t.AddAll(wf + ".wrk.args", w->wrk().args());
      break;
    case v1::WorkloadSpec::kPgbench:
      if (w->pgbench().dsn().empty()) return Bad(wf + ".pgbench.dsn", "is required");
      if (w->pgbench().clients() == 0) w->mutable_pgbench()->set_clients(4);
      if (w->pgbench().jobs() == 0) w->mutable_pgbench()->set_jobs(1);
      t.Add(wf + ".pgbench.dsn", w->pgbench().dsn());
      t.AddAll(wf + ".pgbench.args", w->pgbench().args());
      break;
    case v1::WorkloadSpec::kCommand:
      if (w->command().command().empty()) return Bad(wf + ".command", "is required");
      t.Add(wf + ".command", w->command().command());
      t.AddMap(wf + ".command.env", w->command().env());
      break;
    default:
      return Bad(wf, "needs a load generator: http, wrk, pgbench or command");
  }
  if (b->has_observe()) {
    RETURN_IF_ERROR(ValidateObserve(b->mutable_observe(), f + ".observe", &t, promql));
    for (int i = 0; i < b->observe().profiles_size(); ++i) {
      if (b->observe().profiles(i).cpu_seconds() > w->duration_seconds()) {
        return Bad(absl::StrCat(f, ".observe.profiles[", i, "].cpu_seconds"),
                   absl::StrCat("longer than the measured window (", w->duration_seconds(), "s)"));
      }
    }
  }
  for (int i = 0; i < b->limits_size(); ++i) {
    const auto& l = b->limits(i);
    if (l.metric().empty()) return Bad(absl::StrCat(f, ".limits[", i, "].metric"), "is required");
    if (!l.has_max() && !l.has_min() && !common::HasLevels(l))
      return Bad(absl::StrCat(f, ".limits[", i, "]"),
                 "give max, min, or target/acceptable/critical levels");
    if (auto s = common::CheckLimitLevels(l); !s.ok())
      return Bad(absl::StrCat(f, ".limits[", i, "]"), std::string(s.message()));
  }
  uint64_t total = uint64_t{w->repetitions()} *
                   (w->warmup_seconds() + w->duration_seconds() + w->pause_seconds());
  if (b->timeout_seconds() == 0) b->set_timeout_seconds(std::max<uint64_t>(7200, total * 2));
  if (b->timeout_seconds() > limits.max_timeout_seconds)
    return Bad(f + ".timeout_seconds", absl::StrCat("at most ", limits.max_timeout_seconds));
  if (total > b->timeout_seconds()) {
    return Bad(f + ".timeout_seconds",
               absl::StrCat("the workload alone takes ", total, "s; the timeout is ",
                            b->timeout_seconds(), "s"));
  }
  if (b->cancel_grace_seconds() == 0) b->set_cancel_grace_seconds(30);
  for (const auto& [field, text] : t.uses) {
    std::string problem = common::CheckTemplateReferences(*text, ports, b->has_build());
    if (!problem.empty()) return Bad(field, problem);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateAndDefaultRunSpec(v1::RunSpec* spec, const RetryPolicy& retry,
                                       const SpecLimits& limits) {
  if (auto s = CheckString("project", spec->project(), limits.max_string_bytes, false); !s.ok())
    return s;
  if (auto s = CheckString("branch", spec->branch(), limits.max_string_bytes, false); !s.ok())
    return s;
  if (auto s = CheckString("commit", spec->commit(), limits.max_string_bytes, false); !s.ok())
    return s;
  if (auto s = CheckString("suite_name", spec->suite_name(), limits.max_string_bytes, false);
      !s.ok())
    return s;
  if (!v1::RunKind_IsValid(spec->kind())) return Bad("kind", "unknown run kind");
  if (auto s = CheckString("baseline_branch", spec->baseline_branch(), limits.max_string_bytes,
                           false);
      !s.ok())
    return s;
  if (spec->baseline_runs() < 0 || spec->baseline_runs() > 20)
    return Bad("baseline_runs", "must be 1..20 (0: the default, 1)");
  if (spec->baseline_runs() == 0) spec->set_baseline_runs(1);
  if (spec->against_run_id() < 0) return Bad("against_run_id", "must be a run id");
  if (spec->kind() == v1::RUN_KIND_UNSPECIFIED) spec->set_kind(v1::RUN_KIND_EXPERIMENT);
  if (spec->aa() && spec->kind() != v1::RUN_KIND_EXPERIMENT)
    return Bad("aa", "an A/A run is an experiment: kind must be RUN_KIND_EXPERIMENT");
  if (spec->aa() && spec->against_run_id() != 0)
    return Bad("aa", "an A/A run is compared with its branch's baseline, not against_run_id");
  if (spec->confirms_run_id() != 0)
    return Bad("confirms_run_id", "is set by the controller for the confirmation runs it schedules");
  if (spec->jobs().empty()) return Bad("jobs", "at least one job is required");
  if (spec->jobs_size() > limits.max_jobs) {
    return Bad("jobs", absl::StrCat("has ", spec->jobs_size(), " jobs; at most ", limits.max_jobs,
                                    " allowed"));
  }
  std::vector<std::pair<std::string, std::string>> promql;  // (field, expr) of every job
  for (int i = 0; i < spec->jobs_size(); ++i) {
    v1::JobSpec* job = spec->mutable_jobs(i);
    std::string f = absl::StrCat("jobs[", i, "]");
    if (job->name().empty()) job->set_name(absl::StrCat("job-", i));
    if (auto s = CheckString(f + ".name", job->name(), limits.max_string_bytes, true); !s.ok())
      return s;
    for (const auto& [k, v] : job->agent_selector()) {
      if (auto s = CheckString(f + ".agent_selector key", k, limits.max_string_bytes, true);
          !s.ok())
        return s;
      if (auto s = CheckString(f + ".agent_selector[" + k + "]", v, limits.max_string_bytes, false);
          !s.ok())
        return s;
    }
    if (auto s = CheckString(f + ".commit", job->commit(), limits.max_string_bytes, false);
        !s.ok())
      return s;
    if (job->has_arm()) return Bad(f + ".arm", "is set by the controller for confirmation runs");
    if (job->max_attempts() == 0) job->set_max_attempts(retry.default_max_attempts);
    if (job->max_attempts() > 10) return Bad(f + ".max_attempts", "at most 10");
    if (job->ByteSizeLong() > limits.max_job_spec_bytes) {
      return Bad(f, absl::StrCat("is ", job->ByteSizeLong(), " bytes serialised; at most ",
                                 limits.max_job_spec_bytes));
    }
    if (job->has_benchmark()) {
      if (auto s = ValidateBenchmark(job->mutable_benchmark(), f + ".benchmark", limits, &promql);
          !s.ok())
        return s;
      continue;
    }
    if (!job->has_command()) return Bad(f + ".command", "is required (or benchmark)");
    v1::CommandJob* cmd = job->mutable_command();
    if (auto s =
            CheckString(f + ".command.command", cmd->command(), limits.max_command_bytes, true);
        !s.ok())
      return s;
    if (auto s = CheckString(f + ".command.working_dir", cmd->working_dir(),
                             limits.max_string_bytes, false);
        !s.ok())
      return s;
    if (cmd->env_size() > static_cast<int>(limits.max_env_entries)) {
      return Bad(f + ".command.env", absl::StrCat("at most ", limits.max_env_entries, " entries"));
    }
    for (const auto& [k, v] : cmd->env()) {
      if (k.empty() || k.find('=') != std::string::npos) {
        return Bad(f + ".command.env", "variable name '" + k + "' is empty or contains '='");
      }
      if (auto s = CheckString(f + ".command.env[" + k + "]", v, limits.max_command_bytes, false);
          !s.ok())
        return s;
    }
    if (cmd->timeout_seconds() == 0) cmd->set_timeout_seconds(3600);
    if (cmd->timeout_seconds() > limits.max_timeout_seconds) {
      return Bad(f + ".command.timeout_seconds",
                 absl::StrCat("at most ", limits.max_timeout_seconds));
    }
    if (cmd->cancel_grace_seconds() == 0) cmd->set_cancel_grace_seconds(30);
    if (cmd->cancel_grace_seconds() > 3600)
      return Bad(f + ".command.cancel_grace_seconds", "at most 3600");
  }
  if (!limits.promtool.empty()) RETURN_IF_ERROR(common::CheckPromql(limits.promtool, promql));
  return absl::OkStatus();
}

}  // namespace perfgate::controller
