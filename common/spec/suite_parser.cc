#include "common/spec/suite_parser.h"

#include <yaml-cpp/yaml.h>

#include <cstring>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/spec/fault_text.h"
#include "common/spec/run_spec_rules.h"
#include "common/spec/suite_tiers.h"
#include "common/spec/yaml_reader.h"

namespace perfgate::common {
namespace {

using google::protobuf::RepeatedPtrField;

// The suite's shape, read into a RunSpec: which keys exist, their types, and how the file's
// form maps onto the proto (a command or a benchmark job, which load generator). What the
// values must satisfy is run_spec_rules' business.
class Parser : public YamlReader {
 public:
  using YamlReader::YamlReader;

  absl::StatusOr<v1::RunSpec> Suite(const YAML::Node& root) {
    v1::RunSpec spec;
    if (!root || root.IsNull()) return Error(root, "suite", "the file is empty");
    RETURN_IF_ERROR(
        CheckKeys(root, "", {"name", "project", "analysis", "jobs", "params", "tiers"}));
    if (root["name"]) {
      ASSIGN_OR_RETURN(*spec.mutable_suite_name(), Str(root["name"], "name"));
    }
    if (root["project"]) {
      ASSIGN_OR_RETURN(*spec.mutable_project(), Str(root["project"], "project"));
    }
    v1::AnalysisSpec suite_analysis;
    if (root["analysis"]) RETURN_IF_ERROR(Analysis(root["analysis"], "analysis", &suite_analysis));
    YAML::Node jobs = root["jobs"];
    if (!jobs) return Error(root, "jobs", "is required (a list of jobs)");
    if (!jobs.IsSequence()) return Error(jobs, "jobs", "must be a non-empty list");
    for (size_t i = 0; i < jobs.size(); ++i) {
      v1::JobSpec* job = spec.add_jobs();
      RETURN_IF_ERROR(Job(jobs[i], absl::StrCat("jobs[", i, "]"), job));
      if (root["analysis"] && job->has_benchmark()) {
        // The suite's analysis is each job's default; the job's own fields win.
        v1::AnalysisSpec merged = suite_analysis;
        const v1::AnalysisSpec& own = job->benchmark().analysis();
        if (own.has_min_effect()) merged.set_min_effect(own.min_effect());
        if (own.gate_size() > 0) *merged.mutable_gate() = own.gate();
        if (own.metrics_size() > 0) *merged.mutable_metrics() = own.metrics();
        if (own.max_repetitions()) merged.set_max_repetitions(own.max_repetitions());
        if (own.max_confirmation_seconds())
          merged.set_max_confirmation_seconds(own.max_confirmation_seconds());
        *job->mutable_benchmark()->mutable_analysis() = std::move(merged);
      }
    }
    return spec;
  }

 private:
  absl::Status Job(const YAML::Node& n, const std::string& path, v1::JobSpec* job) {
    RETURN_IF_ERROR(CheckKeys(n, path,
                              {"name", "command", "benchmark", "env", "working_dir", "timeout",
                               "cancel_grace", "agent_selector", "max_attempts"}));
    if (n["name"]) {
      ASSIGN_OR_RETURN(*job->mutable_name(), NonEmpty(n["name"], path + ".name"));
    }
    if (n["agent_selector"]) {
      RETURN_IF_ERROR(
          StrMap(n["agent_selector"], path + ".agent_selector", job->mutable_agent_selector()));
    }
    RETURN_IF_ERROR(
        OptWhole(n, path, "max_attempts", 1, kMaxAttempts, job, &v1::JobSpec::set_max_attempts));
    if (n["command"] && n["benchmark"])
      return Error(n["benchmark"], path, "give either command or benchmark, not both");
    if (n["benchmark"]) {
      for (const char* k : {"env", "working_dir", "timeout", "cancel_grace"}) {
        if (n[k]) {
          return Error(n[k], Join(path, k),
                       "belongs to a command job; a benchmark job sets it inside benchmark");
        }
      }
      return Benchmark(n["benchmark"], path + ".benchmark", job->mutable_benchmark());
    }
    if (!n["command"]) return Error(n, path + ".command", "is required (or a benchmark section)");
    v1::CommandJob* c = job->mutable_command();
    ASSIGN_OR_RETURN(*c->mutable_command(), Str(n["command"], path + ".command"));
    if (n["env"]) RETURN_IF_ERROR(StrMap(n["env"], path + ".env", c->mutable_env()));
    RETURN_IF_ERROR(OptStr(n, path, "working_dir", c->mutable_working_dir()));
    RETURN_IF_ERROR(OptSeconds(n, path, "timeout", c, &v1::CommandJob::set_timeout_seconds));
    return OptSeconds(n, path, "cancel_grace", c, &v1::CommandJob::set_cancel_grace_seconds);
  }

  absl::Status Benchmark(const YAML::Node& n, const std::string& path, v1::BenchmarkJob* b) {
    RETURN_IF_ERROR(CheckKeys(n, path,
                              {"build", "stack", "fixtures", "workload", "observe", "limits",
                               "analysis", "timeout", "cancel_grace"}));
    if (n["build"]) RETURN_IF_ERROR(Build(n["build"], path + ".build", b->mutable_build()));
    if (n["stack"]) RETURN_IF_ERROR(Stack(n["stack"], path + ".stack", b->mutable_stack()));
    if (n["fixtures"]) {
      RETURN_IF_ERROR(List(n["fixtures"], path + ".fixtures"));
      for (size_t i = 0; i < n["fixtures"].size(); ++i) {
        RETURN_IF_ERROR(
            Fixture(n["fixtures"][i], absl::StrCat(path, ".fixtures[", i, "]"), b->add_fixtures()));
      }
    }
    if (!n["workload"]) return Error(n, path + ".workload", "is required");
    RETURN_IF_ERROR(Workload(n["workload"], path + ".workload", b->mutable_workload()));
    if (n["observe"])
      RETURN_IF_ERROR(Observe(n["observe"], path + ".observe", b->mutable_observe()));
    if (n["limits"]) {
      RETURN_IF_ERROR(List(n["limits"], path + ".limits"));
      for (size_t i = 0; i < n["limits"].size(); ++i) {
        RETURN_IF_ERROR(
            Limit(n["limits"][i], absl::StrCat(path, ".limits[", i, "]"), b->add_limits()));
      }
    }
    if (n["analysis"])
      RETURN_IF_ERROR(Analysis(n["analysis"], path + ".analysis", b->mutable_analysis()));
    RETURN_IF_ERROR(OptSeconds(n, path, "timeout", b, &v1::BenchmarkJob::set_timeout_seconds));
    return OptSeconds(n, path, "cancel_grace", b, &v1::BenchmarkJob::set_cancel_grace_seconds);
  }

  // analysis: {min_effect, gate, metrics: [{metric, min_effect, gate}], max_repetitions,
  // max_confirmation_time}
  absl::Status Analysis(const YAML::Node& n, const std::string& path, v1::AnalysisSpec* a) {
    RETURN_IF_ERROR(CheckKeys(
        n, path, {"min_effect", "gate", "metrics", "max_repetitions", "max_confirmation_time"}));
    if (n["min_effect"]) {
      ASSIGN_OR_RETURN(double f, Fraction(n["min_effect"], path + ".min_effect"));
      a->set_min_effect(f);
    }
    if (n["gate"]) RETURN_IF_ERROR(StrList(n["gate"], path + ".gate", a->mutable_gate()));
    if (n["metrics"]) {
      RETURN_IF_ERROR(List(n["metrics"], path + ".metrics"));
      for (size_t i = 0; i < n["metrics"].size(); ++i) {
        const YAML::Node& m = n["metrics"][i];
        const std::string mp = absl::StrCat(path, ".metrics[", i, "]");
        RETURN_IF_ERROR(CheckKeys(m, mp, {"metric", "min_effect", "gate"}));
        v1::MetricAnalysis* ma = a->add_metrics();
        RETURN_IF_ERROR(OptStr(m, mp, "metric", ma->mutable_metric()));
        if (m["min_effect"]) {
          ASSIGN_OR_RETURN(double f, Fraction(m["min_effect"], mp + ".min_effect"));
          ma->set_min_effect(f);
        }
        RETURN_IF_ERROR(OptBool(m, mp, "gate", ma, &v1::MetricAnalysis::set_gate));
      }
    }
    RETURN_IF_ERROR(OptWhole(n, path, "max_repetitions", 1, kMaxRepetitions, a,
                             &v1::AnalysisSpec::set_max_repetitions));
    return OptSeconds(n, path, "max_confirmation_time", a,
                      &v1::AnalysisSpec::set_max_confirmation_seconds);
  }

  // A share: a fraction (0.05) or a percentage ("5%"), from 0 to 100 %.
  // A fraction written as 0.05 or 5%, at most `max` (1 = 100 %).
  absl::StatusOr<double> Fraction(const YAML::Node& n, const std::string& path,
                                  double max = 1) const {
    std::string text = n.IsScalar() ? n.Scalar() : "";
    const bool percent = !text.empty() && text.back() == '%';
    double v = 0;
    if (percent) {
      YAML::Node number(text.substr(0, text.size() - 1));
      if (!YAML::convert<double>::decode(number, v) || !(v >= 0 && v <= max * 100)) {
        return Error(n, path,
                     absl::StrCat("must be a percentage from 0% to ", max * 100,
                                  "% (like 5%) or a fraction"));
      }
      return v / 100;
    }
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !(v >= 0))
      return Error(n, path, "must be a fraction (0.05) or a percentage (5%)");
    if (v > max) {
      return Error(n, path,
                   absl::StrCat("is a fraction (0.05 = 5 %), so ", text, " would be ", v * 100,
                                " %; write 0.05 or 5%"));
    }
    return v;
  }

  absl::Status Observe(const YAML::Node& n, const std::string& path, v1::ObserveSpec* o) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"prometheus", "profiles", "postgres"}));
    if (n["prometheus"]) {
      RETURN_IF_ERROR(Prometheus(n["prometheus"], path + ".prometheus", o->mutable_prometheus()));
    }
    if (n["profiles"]) {
      RETURN_IF_ERROR(List(n["profiles"], path + ".profiles"));
      for (size_t i = 0; i < n["profiles"].size(); ++i) {
        RETURN_IF_ERROR(
            Profile(n["profiles"][i], absl::StrCat(path, ".profiles[", i, "]"), o->add_profiles()));
      }
    }
    if (n["postgres"]) {
      const YAML::Node& g = n["postgres"];
      std::string p = path + ".postgres";
      RETURN_IF_ERROR(CheckKeys(g, p, {"dsn", "top", "explain"}));
      v1::PostgresStatsSpec* pg = o->mutable_postgres();
      RETURN_IF_ERROR(OptStr(g, p, "dsn", pg->mutable_dsn()));
      RETURN_IF_ERROR(
          OptWhole(g, p, "top", 1, kMaxPgTopStatements, pg, &v1::PostgresStatsSpec::set_top));
      if (g["explain"]) {
        RETURN_IF_ERROR(List(g["explain"], p + ".explain"));
        for (size_t i = 0; i < g["explain"].size(); ++i) {
          std::string ep = absl::StrCat(p, ".explain[", i, "]");
          RETURN_IF_ERROR(CheckKeys(g["explain"][i], ep, {"name", "sql"}));
          v1::ExplainSpec* e = pg->add_explain();
          RETURN_IF_ERROR(OptStr(g["explain"][i], ep, "name", e->mutable_name()));
          RETURN_IF_ERROR(OptStr(g["explain"][i], ep, "sql", e->mutable_sql()));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Prometheus(const YAML::Node& n, const std::string& path, v1::PrometheusSpec* pr) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"scrape", "queries"}));
    if (n["scrape"]) {
      RETURN_IF_ERROR(List(n["scrape"], path + ".scrape"));
      for (size_t i = 0; i < n["scrape"].size(); ++i) {
        const YAML::Node& s = n["scrape"][i];
        std::string p = absl::StrCat(path, ".scrape[", i, "]");
        RETURN_IF_ERROR(CheckKeys(s, p, {"job", "target", "path"}));
        v1::ScrapeTarget* t = pr->add_scrape();
        RETURN_IF_ERROR(OptStr(s, p, "job", t->mutable_job()));
        RETURN_IF_ERROR(OptStr(s, p, "target", t->mutable_target()));
        if (s["path"]) {
          ASSIGN_OR_RETURN(*t->mutable_path(), NonEmpty(s["path"], p + ".path"));
        }
      }
    }
    if (!n["queries"]) return Error(n, path + ".queries", "is required (a list of named queries)");
    RETURN_IF_ERROR(List(n["queries"], path + ".queries"));
    for (size_t i = 0; i < n["queries"].size(); ++i) {
      RETURN_IF_ERROR(
          Query(n["queries"][i], absl::StrCat(path, ".queries[", i, "]"), pr->add_queries()));
    }
    return absl::OkStatus();
  }

  absl::Status Query(const YAML::Node& q, const std::string& p, v1::PromQuery* pq) {
    RETURN_IF_ERROR(CheckKeys(q, p, {"name", "expr", "unit", "direction", "mode", "step"}));
    RETURN_IF_ERROR(OptStr(q, p, "name", pq->mutable_name()));
    RETURN_IF_ERROR(OptStr(q, p, "expr", pq->mutable_expr()));
    RETURN_IF_ERROR(OptStr(q, p, "unit", pq->mutable_unit()));
    if (q["direction"]) {
      ASSIGN_OR_RETURN(size_t d, Word(q["direction"], p + ".direction",
                                      {"lower_is_better", "higher_is_better"}));
      pq->set_direction(d == 0 ? v1::DIRECTION_LOWER_IS_BETTER : v1::DIRECTION_HIGHER_IS_BETTER);
    }
    if (q["mode"]) {
      ASSIGN_OR_RETURN(size_t m, Word(q["mode"], p + ".mode", {"instant", "range"}));
      pq->set_mode(m == 0 ? v1::PromQuery::MODE_INSTANT : v1::PromQuery::MODE_RANGE);
    }
    if (q["step"]) {
      ASSIGN_OR_RETURN(absl::Duration d,
                       Duration(q["step"], p + ".step", absl::Milliseconds(100), absl::Hours(1),
                                "want a duration from 100ms to 1h, like 1s"));
      pq->set_step_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(d)));
    }
    return absl::OkStatus();
  }

  absl::Status Profile(const YAML::Node& n, const std::string& p, v1::ProfileSpec* ps) {
    RETURN_IF_ERROR(CheckKeys(n, p, {"service", "url", "cpu", "heap", "heap_every", "extra"}));
    RETURN_IF_ERROR(OptStr(n, p, "service", ps->mutable_service()));
    RETURN_IF_ERROR(OptStr(n, p, "url", ps->mutable_url()));
    RETURN_IF_ERROR(OptSeconds(n, p, "cpu", ps, &v1::ProfileSpec::set_cpu_seconds));
    if (n["heap"]) {
      RETURN_IF_ERROR(List(n["heap"], p + ".heap", "a list of: before, after"));
      for (size_t i = 0; i < n["heap"].size(); ++i) {
        ASSIGN_OR_RETURN(
            size_t w, Word(n["heap"][i], absl::StrCat(p, ".heap[", i, "]"), {"before", "after"}));
        w == 0 ? ps->set_heap_before(true) : ps->set_heap_after(true);
      }
    }
    RETURN_IF_ERROR(OptSeconds(n, p, "heap_every", ps, &v1::ProfileSpec::set_heap_every_seconds));
    if (n["extra"]) RETURN_IF_ERROR(StrList(n["extra"], p + ".extra", ps->mutable_extra()));
    return absl::OkStatus();
  }

  absl::Status Build(const YAML::Node& n, const std::string& path, v1::BuildSpec* b) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"repository", "commands", "env", "timeout"}));
    RETURN_IF_ERROR(OptStr(n, path, "repository", b->mutable_repository()));
    if (n["commands"])
      RETURN_IF_ERROR(StrList(n["commands"], path + ".commands", b->mutable_commands()));
    if (n["env"]) RETURN_IF_ERROR(StrMap(n["env"], path + ".env", b->mutable_env()));
    return OptSeconds(n, path, "timeout", b, &v1::BuildSpec::set_timeout_seconds);
  }

  absl::Status Ready(const YAML::Node& n, const std::string& path, v1::ReadinessCheck* r) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"tcp", "http", "command", "status", "timeout"}));
    int kinds = !!n["tcp"] + !!n["http"] + !!n["command"];
    if (kinds != 1) return Error(n, path, "give exactly one of tcp, http, command");
    if (n["tcp"]) {
      ASSIGN_OR_RETURN(*r->mutable_tcp(), Str(n["tcp"], path + ".tcp"));
    }
    if (n["http"]) {
      ASSIGN_OR_RETURN(*r->mutable_http(), Str(n["http"], path + ".http"));
    }
    if (n["command"]) {
      ASSIGN_OR_RETURN(*r->mutable_command(), Str(n["command"], path + ".command"));
    }
    RETURN_IF_ERROR(OptWhole(n, path, "status", 100, 599, r, &v1::ReadinessCheck::set_http_status));
    return OptSeconds(n, path, "timeout", r, &v1::ReadinessCheck::set_timeout_seconds);
  }

  absl::Status ReadyList(const YAML::Node& n, const std::string& path,
                         RepeatedPtrField<v1::ReadinessCheck>* out) {
    RETURN_IF_ERROR(List(n, path));
    for (size_t i = 0; i < n.size(); ++i)
      RETURN_IF_ERROR(Ready(n[i], absl::StrCat(path, "[", i, "]"), out->Add()));
    return absl::OkStatus();
  }

  // The stack's test hosts (their names and counts are checked with the run spec's rules).
  absl::Status Hosts(const YAML::Node& n, const std::string& path, v1::ExecStack* ex) {
    RETURN_IF_ERROR(List(n, path, "a non-empty list of host roles"));
    if (n.size() == 0) return Error(n, path, "must list at least one role");
    for (size_t i = 0; i < n.size(); ++i) {
      RETURN_IF_ERROR(HostRole(n[i], absl::StrCat(path, "[", i, "]"), ex->add_hosts()));
      ex->mutable_hosts()->rbegin()->set_count(std::max(1u, ex->hosts().rbegin()->count()));
    }
    return absl::OkStatus();
  }

  absl::Status Stack(const YAML::Node& n, const std::string& path, v1::StackSpec* s) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"services", "compose", "stop_grace", "hosts", "provider"}));
    if (!!n["services"] == !!n["compose"])
      return Error(n, path, "give either services (exec driver) or compose");
    if (n["hosts"] && n["compose"])
      return Error(n["hosts"], path + ".hosts", "test hosts go with services (the exec driver)");
    RETURN_IF_ERROR(OptSeconds(n, path, "stop_grace", s, &v1::StackSpec::set_stop_grace_seconds));
    if (n["compose"]) {
      const YAML::Node& c = n["compose"];
      std::string p = path + ".compose";
      RETURN_IF_ERROR(CheckKeys(c, p, {"file", "ports", "env", "ready", "services"}));
      v1::ComposeStack* cs = s->mutable_compose();
      RETURN_IF_ERROR(OptStr(c, p, "file", cs->mutable_file()));
      if (c["ports"]) RETURN_IF_ERROR(StrList(c["ports"], p + ".ports", cs->mutable_ports()));
      if (c["env"]) RETURN_IF_ERROR(StrMap(c["env"], p + ".env", cs->mutable_env()));
      if (c["services"])
        RETURN_IF_ERROR(StrList(c["services"], p + ".services", cs->mutable_services()));
      if (c["ready"]) RETURN_IF_ERROR(ReadyList(c["ready"], p + ".ready", cs->mutable_ready()));
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(List(n["services"], path + ".services", "a non-empty list"));
    v1::ExecStack* ex = s->mutable_exec();
    if (n["hosts"]) RETURN_IF_ERROR(Hosts(n["hosts"], path + ".hosts", ex));
    if (n["provider"]) {
      if (!n["hosts"]) return Error(n["provider"], path + ".provider", "goes with hosts");
      static const std::vector<std::string> kProviders = {"netns", "ssh"};
      ASSIGN_OR_RETURN(size_t which, Word(n["provider"], path + ".provider", kProviders));
      ex->set_provider(kProviders[which]);
    }
    for (size_t i = 0; i < n["services"].size(); ++i) {
      std::string p = absl::StrCat(path, ".services[", i, "]");
      const YAML::Node& sv = n["services"][i];
      RETURN_IF_ERROR(CheckKeys(
          sv, p, {"name", "args", "env", "working_dir", "ports", "ready", "on", "ready_on"}));
      v1::ServiceSpec* svc = ex->add_services();
      RETURN_IF_ERROR(OptStr(sv, p, "name", svc->mutable_name()));
      if (sv["args"]) RETURN_IF_ERROR(StrList(sv["args"], p + ".args", svc->mutable_args()));
      if (sv["env"]) RETURN_IF_ERROR(StrMap(sv["env"], p + ".env", svc->mutable_env()));
      RETURN_IF_ERROR(OptStr(sv, p, "working_dir", svc->mutable_working_dir()));
      if (sv["ports"]) RETURN_IF_ERROR(StrList(sv["ports"], p + ".ports", svc->mutable_ports()));
      if (sv["ready"]) RETURN_IF_ERROR(Ready(sv["ready"], p + ".ready", svc->mutable_ready()));
      RETURN_IF_ERROR(OptStr(sv, p, "on", svc->mutable_on()));
      if (sv["ready_on"]) {
        ASSIGN_OR_RETURN(std::string any, Str(sv["ready_on"], p + ".ready_on"));
        if (any != "any" && any != "all")
          return Error(sv["ready_on"], p + ".ready_on",
                       "want any (ready once its check passes on one of its hosts) or all");
        if (!sv["on"])
          return Error(sv["ready_on"], p + ".ready_on", "goes with on: ROLE (instances on hosts)");
        svc->set_ready_any(any == "any");
      }
    }
    return absl::OkStatus();
  }

  absl::Status Fixture(const YAML::Node& n, const std::string& path, v1::FixtureSpec* f) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"name", "pg_dump", "sql", "command", "dsn", "timeout"}));
    if (n["name"]) {
      ASSIGN_OR_RETURN(*f->mutable_name(), NonEmpty(n["name"], path + ".name"));
    }
    int kinds = !!n["pg_dump"] + !!n["sql"] + !!n["command"];
    if (kinds != 1) return Error(n, path, "give exactly one of pg_dump, sql, command");
    if (n["pg_dump"]) {
      ASSIGN_OR_RETURN(*f->mutable_pg_dump(), Str(n["pg_dump"], path + ".pg_dump"));
    }
    if (n["sql"]) {
      ASSIGN_OR_RETURN(*f->mutable_sql(), Str(n["sql"], path + ".sql"));
    }
    if (n["command"]) {
      ASSIGN_OR_RETURN(*f->mutable_command(), Str(n["command"], path + ".command"));
    }
    RETURN_IF_ERROR(OptStr(n, path, "dsn", f->mutable_dsn()));
    return OptSeconds(n, path, "timeout", f, &v1::FixtureSpec::set_timeout_seconds);
  }

  // A fault schedule (what fits the stack is checked with the run spec's rules).
  absl::Status Faults(const YAML::Node& n, const std::string& path, v1::FaultSchedule* f) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"actions", "leader", "recovery"}));
    if (!n["actions"]) return Error(n, path + ".actions", "is required: the faults to fire");
    RETURN_IF_ERROR(List(n["actions"], path + ".actions", "a non-empty list of faults"));
    if (n["actions"].size() == 0)
      return Error(n["actions"], path + ".actions", "must list a fault");
    auto ms = [&](const YAML::Node& v, const std::string& p,
                  absl::Duration lo) -> absl::StatusOr<uint32_t> {
      ASSIGN_OR_RETURN(absl::Duration d, Duration(v, p, lo, absl::Hours(24),
                                                  "want a duration like 5s or 500ms, up to 24h"));
      return static_cast<uint32_t>(absl::ToInt64Milliseconds(d));
    };
    for (size_t i = 0; i < n["actions"].size(); ++i) {
      const YAML::Node& a = n["actions"][i];
      const std::string p = absl::StrCat(path, ".actions[", i, "]");
      RETURN_IF_ERROR(CheckKeys(a, p,
                                {"name", "action", "at", "duration", "restart_after", "target",
                                 "service", "one_way", "delay", "jitter", "loss"}));
      v1::FaultSpec* fs = f->add_actions();
      RETURN_IF_ERROR(OptStr(a, p, "name", fs->mutable_name()));
      if (!a["action"])
        return Error(a, p + ".action", "is required: kill, pause, partition or netem");
      ASSIGN_OR_RETURN(std::string action, Str(a["action"], p + ".action"));
      v1::FaultSpec::Action kind;
      if (!ParseFaultAction(action, &kind))
        return Error(a["action"], p + ".action",
                     "want kill, pause, partition or netem; got '" + action + "'");
      fs->set_action(kind);
      if (!a["at"]) return Error(a, p + ".at", "is required: when in the measured window, like 5s");
      ASSIGN_OR_RETURN(uint32_t at, ms(a["at"], p + ".at", absl::ZeroDuration()));
      fs->set_at_ms(at);
      if (a["restart_after"] && fs->action() != v1::FaultSpec::ACTION_KILL)
        return Error(a["restart_after"], p + ".restart_after", "goes with kill; use duration");
      if (a["restart_after"] && a["duration"])
        return Error(a["duration"], p + ".duration", "give restart_after or duration, not both");
      for (const char* k : {"duration", "restart_after"}) {
        if (!a[k]) continue;
        ASSIGN_OR_RETURN(uint32_t d, ms(a[k], p + "." + k, absl::Milliseconds(1)));
        fs->set_duration_ms(d);
      }
      if (!a["target"])
        return Error(a, p + ".target", "is required: leader, ROLE-N or random:ROLE");
      ASSIGN_OR_RETURN(*fs->mutable_target(), NonEmpty(a["target"], p + ".target"));
      RETURN_IF_ERROR(OptStr(a, p, "service", fs->mutable_service()));
      RETURN_IF_ERROR(OptBool(a, p, "one_way", fs, &v1::FaultSpec::set_one_way));
      for (const char* k : {"delay", "jitter"}) {
        if (!a[k]) continue;
        ASSIGN_OR_RETURN(absl::Duration d,
                         Duration(a[k], p + "." + k, absl::ZeroDuration(), absl::Seconds(10),
                                  "want a duration from 0 to 10s, like 100ms"));
        auto set = std::string(k) == "delay" ? &v1::FaultSpec::set_delay_ms
                                             : &v1::FaultSpec::set_jitter_ms;
        (fs->*set)(static_cast<uint32_t>(absl::ToInt64Milliseconds(d)));
      }
      if (a["loss"]) {
        ASSIGN_OR_RETURN(double loss, Fraction(a["loss"], p + ".loss"));
        fs->set_loss(loss);
      }
    }
    if (n["leader"]) {
      const YAML::Node& l = n["leader"];
      const std::string p = path + ".leader";
      RETURN_IF_ERROR(CheckKeys(l, p, {"url", "field", "command"}));
      if (!!l["url"] == !!l["command"]) return Error(l, p, "give url (with field) or command");
      if (l["url"]) {
        ASSIGN_OR_RETURN(*f->mutable_leader()->mutable_url(), NonEmpty(l["url"], p + ".url"));
        if (!l["field"])
          return Error(l, p + ".field", "is required with url: the JSON field naming the leader");
        ASSIGN_OR_RETURN(*f->mutable_leader()->mutable_field(), NonEmpty(l["field"], p + ".field"));
      } else {
        if (l["field"]) return Error(l["field"], p + ".field", "goes with url");
        ASSIGN_OR_RETURN(*f->mutable_leader()->mutable_command(),
                         NonEmpty(l["command"], p + ".command"));
      }
    }
    if (n["recovery"]) {
      const YAML::Node& r = n["recovery"];
      const std::string p = path + ".recovery";
      RETURN_IF_ERROR(CheckKeys(r, p, {"p99_band", "error_band", "hold"}));
      v1::RecoveryBand* b = f->mutable_recovery();
      if (r["p99_band"]) {
        // As the rules allow: up to 1000 % (recovered once the p99 is within 11x of before).
        ASSIGN_OR_RETURN(double v, Fraction(r["p99_band"], p + ".p99_band", 10));
        if (v <= 0) return Error(r["p99_band"], p + ".p99_band", "must be above 0");
        b->set_p99_band(v);
      }
      if (r["error_band"]) {
        ASSIGN_OR_RETURN(double v, Fraction(r["error_band"], p + ".error_band"));
        if (v <= 0) return Error(r["error_band"], p + ".error_band", "must be above 0");
        b->set_error_band(v);
      }
      if (r["hold"]) {
        ASSIGN_OR_RETURN(absl::Duration d,
                         Duration(r["hold"], p + ".hold", absl::Milliseconds(100),
                                  absl::Minutes(10), "want a duration from 100ms to 10m, like 3s"));
        b->set_hold_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(d)));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Workload(const YAML::Node& n, const std::string& path, v1::WorkloadSpec* w) {
    RETURN_IF_ERROR(CheckKeys(n, path,
                              {"warmup", "duration", "repetitions", "pause", "http", "redis", "wrk",
                               "pgbench", "command", "harness", "faults", "phases"}));
    if (n["faults"]) RETURN_IF_ERROR(Faults(n["faults"], path + ".faults", w->mutable_faults()));
    if (n["harness"]) {
      // A harness decides how long its benchmarks run; only the number of its runs is ours.
      for (const char* k : {"warmup", "duration", "pause"}) {
        if (n[k]) {
          return Error(n[k], path + "." + k,
                       "not used with a harness (it decides how long its benchmarks run); "
                       "repetitions is how many times its command runs");
        }
      }
    }
    RETURN_IF_ERROR(OptSeconds(n, path, "warmup", w, &v1::WorkloadSpec::set_warmup_seconds, true));
    RETURN_IF_ERROR(OptSeconds(n, path, "duration", w, &v1::WorkloadSpec::set_duration_seconds));
    RETURN_IF_ERROR(OptWhole(n, path, "repetitions", 1, kMaxRepetitions, w,
                             &v1::WorkloadSpec::set_repetitions));
    RETURN_IF_ERROR(OptSeconds(n, path, "pause", w, &v1::WorkloadSpec::set_pause_seconds, true));
    if (n["phases"]) {
      for (const char* k :
           {"http", "redis", "wrk", "pgbench", "command", "harness", "faults", "warmup"}) {
        if (n[k]) {
          return Error(n[k], path + "." + k,
                       "goes inside a phase (load:, soak:) when the workload has phases");
        }
      }
      return Phases(n["phases"], path + ".phases", w);
    }
    int kinds =
        !!n["http"] + !!n["redis"] + !!n["wrk"] + !!n["pgbench"] + !!n["command"] + !!n["harness"];
    if (kinds != 1) {
      return Error(n, path,
                   "give exactly one load generator (http, redis, wrk, pgbench, command or "
                   "harness), or phases");
    }
    if (n["harness"]) return Harness(n["harness"], path + ".harness", w->mutable_harness());
    return Generator(n, path, w);
  }

  // One of the load generators (not harness) of `n` into `w`.
  absl::Status Generator(const YAML::Node& n, const std::string& path, v1::WorkloadSpec* w) {
    const int kinds = !!n["http"] + !!n["redis"] + !!n["wrk"] + !!n["pgbench"] + !!n["command"];
    if (kinds != 1)
      return Error(n, path,
                   "give exactly one load generator: http, redis, wrk, pgbench or command");
    if (n["http"]) return Http(n["http"], path + ".http", w->mutable_http(), false);
    if (n["redis"]) return Http(n["redis"], path + ".redis", w->mutable_http(), true);
    if (n["wrk"]) {
      return External(n["wrk"], path + ".wrk", {"url", "connections", "threads"}, w->mutable_wrk(),
                      &v1::WrkSpec::mutable_url, &v1::WrkSpec::set_connections,
                      &v1::WrkSpec::set_threads);
    }
    if (n["pgbench"]) {
      return External(n["pgbench"], path + ".pgbench", {"dsn", "clients", "jobs"},
                      w->mutable_pgbench(), &v1::PgbenchSpec::mutable_dsn,
                      &v1::PgbenchSpec::set_clients, &v1::PgbenchSpec::set_jobs);
    }
    const YAML::Node& g = n["command"];
    std::string p = path + ".command";
    v1::CommandLoadSpec* s = w->mutable_command();
    if (g.IsScalar()) {
      ASSIGN_OR_RETURN(*s->mutable_command(), Str(g, p));
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(CheckKeys(g, p, {"run", "env"}));
    if (!g["run"]) return Error(g, p + ".run", "is required");
    ASSIGN_OR_RETURN(*s->mutable_command(), Str(g["run"], p + ".run"));
    if (g["env"]) RETURN_IF_ERROR(StrMap(g["env"], p + ".env", s->mutable_env()));
    return absl::OkStatus();
  }

  absl::Status Harness(const YAML::Node& g, const std::string& p, v1::HarnessSpec* h) {
    RETURN_IF_ERROR(CheckKeys(
        g, p,
        {"format", "command", "env", "working_dir", "output", "higher_is_better", "timeout"}));
    if (!g["format"]) return Error(g, p + ".format", "is required");
    ASSIGN_OR_RETURN(size_t f,
                     Word(g["format"], p + ".format",
                          {"google-benchmark", "pytest-benchmark", "go-test", "hyperfine"}));
    h->set_format(static_cast<v1::HarnessSpec::Format>(f + 1));
    if (!g["command"]) return Error(g, p + ".command", "is required");
    ASSIGN_OR_RETURN(*h->mutable_command(), Str(g["command"], p + ".command"));
    if (g["env"]) RETURN_IF_ERROR(StrMap(g["env"], p + ".env", h->mutable_env()));
    RETURN_IF_ERROR(OptStr(g, p, "working_dir", h->mutable_working_dir()));
    RETURN_IF_ERROR(OptStr(g, p, "output", h->mutable_output()));
    if (g["higher_is_better"]) {
      RETURN_IF_ERROR(
          StrList(g["higher_is_better"], p + ".higher_is_better", h->mutable_higher_is_better()));
    }
    return OptSeconds(g, p, "timeout", h, &v1::HarnessSpec::set_timeout_seconds);
  }

  // wrk and pgbench: a target, connections/clients, threads/jobs and extra arguments.
  struct ExternalKeys {
    const char* target;
    const char* connections;
    const char* threads;
  };
  template <typename Spec>
  absl::Status External(const YAML::Node& g, const std::string& p, ExternalKeys keys, Spec* s,
                        std::string* (Spec::*target)(), void (Spec::*set_connections)(uint32_t),
                        void (Spec::*set_threads)(uint32_t)) {
    RETURN_IF_ERROR(CheckKeys(g, p, {keys.target, keys.connections, keys.threads, "args"}));
    RETURN_IF_ERROR(OptStr(g, p, keys.target, (s->*target)()));
    RETURN_IF_ERROR(OptWhole(g, p, keys.connections, 1, kMaxConnections, s, set_connections));
    RETURN_IF_ERROR(OptWhole(g, p, keys.threads, 1, kMaxThreads, s, set_threads));
    if (g["args"]) RETURN_IF_ERROR(StrList(g["args"], p + ".args", s->mutable_args()));
    return absl::OkStatus();
  }

  // The built-in generator: http, or (`redis`) the same speaking RESP, whose target is
  // HOST:PORT or Sentinels and a master, and whose requests are commands.
  absl::Status Http(const YAML::Node& g, const std::string& p, v1::HttpLoadSpec* s, bool redis) {
    std::set<std::string> keys = {
        "target",  "rate",    "closed_loop", "poisson", "connections",
        "threads", "timeout", "requests",    "stages",  "max_generator_lag_p99"};
    if (redis) keys.insert({"sentinels", "master"});
    RETURN_IF_ERROR(CheckKeys(g, p, keys));
    RETURN_IF_ERROR(OptStr(g, p, "target", s->mutable_target()));
    if (redis) {
      s->set_protocol(v1::HttpLoadSpec::PROTOCOL_REDIS);
      if (g["sentinels"])
        RETURN_IF_ERROR(StrList(g["sentinels"], p + ".sentinels", s->mutable_sentinels()));
      RETURN_IF_ERROR(OptStr(g, p, "master", s->mutable_master()));
    }
    RETURN_IF_ERROR(OptNumber(g, p, "rate", 0.001, 10'000'000, s, &v1::HttpLoadSpec::set_rate));
    RETURN_IF_ERROR(OptBool(g, p, "closed_loop", s, &v1::HttpLoadSpec::set_closed_loop));
    RETURN_IF_ERROR(OptBool(g, p, "poisson", s, &v1::HttpLoadSpec::set_poisson));
    RETURN_IF_ERROR(
        OptWhole(g, p, "connections", 1, kMaxConnections, s, &v1::HttpLoadSpec::set_connections));
    RETURN_IF_ERROR(OptWhole(g, p, "threads", 1, kMaxThreads, s, &v1::HttpLoadSpec::set_threads));
    if (g["timeout"]) {
      ASSIGN_OR_RETURN(absl::Duration d,
                       Duration(g["timeout"], p + ".timeout", absl::Milliseconds(1),
                                absl::Minutes(10), "want a duration from 1ms to 10m, like 5s"));
      s->set_timeout_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(d)));
    }
    if (g["max_generator_lag_p99"]) {
      ASSIGN_OR_RETURN(
          absl::Duration d,
          Duration(g["max_generator_lag_p99"], p + ".max_generator_lag_p99", absl::Microseconds(1),
                   absl::Seconds(60), "want a duration from 1us to 60s, like 10ms"));
      s->set_max_generator_lag_p99_us(static_cast<uint32_t>(absl::ToInt64Microseconds(d)));
    }
    if (g["stages"]) RETURN_IF_ERROR(Stages(g["stages"], p + ".stages", s));
    if (g["requests"]) RETURN_IF_ERROR(Requests(g["requests"], p + ".requests", s, redis));
    return absl::OkStatus();
  }

  absl::Status Stages(const YAML::Node& st, const std::string& p, v1::HttpLoadSpec* s) {
    RETURN_IF_ERROR(List(st, p, "a non-empty list"));
    for (size_t i = 0; i < st.size(); ++i) {
      std::string sp = absl::StrCat(p, "[", i, "]");
      RETURN_IF_ERROR(CheckKeys(st[i], sp, {"duration", "rate", "ramp_to"}));
      v1::RateStage* r = s->add_stages();
      RETURN_IF_ERROR(OptSeconds(st[i], sp, "duration", r, &v1::RateStage::set_duration_seconds));
      RETURN_IF_ERROR(OptNumber(st[i], sp, "rate", 0, 10'000'000, r, &v1::RateStage::set_rate));
      RETURN_IF_ERROR(
          OptNumber(st[i], sp, "ramp_to", 0, 10'000'000, r, &v1::RateStage::set_rate_to));
    }
    return absl::OkStatus();
  }

  absl::Status Requests(const YAML::Node& rq, const std::string& p, v1::HttpLoadSpec* s,
                        bool redis) {
    RETURN_IF_ERROR(List(rq, p, "a non-empty list"));
    for (size_t i = 0; i < rq.size(); ++i)
      RETURN_IF_ERROR(Request(rq[i], absl::StrCat(p, "[", i, "]"), s->add_requests(), redis));
    return absl::OkStatus();
  }

  absl::Status Request(const YAML::Node& n, const std::string& rp, v1::HttpRequestSpec* r,
                       bool redis) {
    RETURN_IF_ERROR(CheckKeys(
        n, rp,
        redis ? std::set<std::string>{"name", "command", "weight"}
              : std::set<std::string>{"name", "method", "path", "headers", "body", "weight"}));
    if (n["command"]) RETURN_IF_ERROR(StrList(n["command"], rp + ".command", r->mutable_command()));
    if (n["name"]) {
      ASSIGN_OR_RETURN(*r->mutable_name(), NonEmpty(n["name"], rp + ".name"));
    }
    if (n["method"]) {
      ASSIGN_OR_RETURN(*r->mutable_method(), NonEmpty(n["method"], rp + ".method"));
    }
    if (n["path"]) {
      ASSIGN_OR_RETURN(*r->mutable_path(), NonEmpty(n["path"], rp + ".path"));
    }
    if (n["headers"]) RETURN_IF_ERROR(StrMap(n["headers"], rp + ".headers", r->mutable_headers()));
    RETURN_IF_ERROR(OptStr(n, rp, "body", r->mutable_body()));
    return OptNumber(n, rp, "weight", 1e-9, 1e9, r, &v1::HttpRequestSpec::set_weight);
  }

  // phases: [{name, ops | wait_until | load | soak | cleanup}]
  absl::Status Phases(const YAML::Node& n, const std::string& path, v1::WorkloadSpec* w) {
    RETURN_IF_ERROR(List(n, path, "a non-empty list of phases"));
    if (n.size() == 0) return Error(n, path, "must list at least one phase");
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string p = absl::StrCat(path, "[", i, "]");
      const YAML::Node& ph = n[i];
      RETURN_IF_ERROR(CheckKeys(ph, p, {"name", "ops", "wait_until", "load", "soak", "cleanup"}));
      v1::PhaseSpec* out = w->add_phases();
      if (ph["name"]) {
        ASSIGN_OR_RETURN(*out->mutable_name(), NonEmpty(ph["name"], p + ".name"));
      }
      const int kinds =
          !!ph["ops"] + !!ph["wait_until"] + !!ph["load"] + !!ph["soak"] + !!ph["cleanup"];
      if (kinds != 1)
        return Error(ph, p, "give exactly one of ops, wait_until, load, soak or cleanup");
      if (ph["ops"]) RETURN_IF_ERROR(Ops(ph["ops"], p + ".ops", out->mutable_ops()));
      if (ph["cleanup"])
        RETURN_IF_ERROR(Ops(ph["cleanup"], p + ".cleanup", out->mutable_cleanup()));
      if (ph["wait_until"]) {
        const YAML::Node& g = ph["wait_until"];
        const std::string q = p + ".wait_until";
        v1::WaitUntilSpec* wu = out->mutable_wait_until();
        RETURN_IF_ERROR(CheckKeys(
            g, q, {"command", "url", "status", "field", "equals", "interval", "timeout"}));
        RETURN_IF_ERROR(OptStr(g, q, "command", wu->mutable_command()));
        RETURN_IF_ERROR(OptStr(g, q, "url", wu->mutable_url()));
        RETURN_IF_ERROR(OptWhole(g, q, "status", 100, 599, wu, &v1::WaitUntilSpec::set_status));
        RETURN_IF_ERROR(OptStr(g, q, "field", wu->mutable_field()));
        RETURN_IF_ERROR(OptStr(g, q, "equals", wu->mutable_equals()));
        if (g["interval"]) {
          ASSIGN_OR_RETURN(absl::Duration d,
                           Duration(g["interval"], q + ".interval", absl::Milliseconds(10),
                                    absl::Minutes(10), "want a duration from 10ms to 10m"));
          wu->set_interval_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(d)));
        }
        RETURN_IF_ERROR(OptSeconds(g, q, "timeout", wu, &v1::WaitUntilSpec::set_timeout_seconds));
      }
      if (ph["load"]) {
        const YAML::Node& g = ph["load"];
        const std::string q = p + ".load";
        RETURN_IF_ERROR(
            CheckKeys(g, q, {"duration", "http", "redis", "wrk", "pgbench", "command", "faults"}));
        v1::WorkloadSpec tmp;
        RETURN_IF_ERROR(Generator(g, q, &tmp));
        v1::LoadPhase* l = out->mutable_load();
        RETURN_IF_ERROR(OptSeconds(g, q, "duration", l, &v1::LoadPhase::set_duration_seconds));
        if (g["faults"]) RETURN_IF_ERROR(Faults(g["faults"], q + ".faults", l->mutable_faults()));
        SetLoadPhaseGenerator(tmp, l);
      }
      if (ph["soak"]) {
        const YAML::Node& g = ph["soak"];
        const std::string q = p + ".soak";
        v1::SoakPhase* sk = out->mutable_soak();
        RETURN_IF_ERROR(CheckKeys(g, q, {"duration", "http", "sample"}));
        if (!g["duration"]) return Error(g, q + ".duration", "is required");
        RETURN_IF_ERROR(OptSeconds(g, q, "duration", sk, &v1::SoakPhase::set_duration_seconds));
        if (g["http"]) RETURN_IF_ERROR(Http(g["http"], q + ".http", sk->mutable_http(), false));
        if (g["sample"]) {
          ASSIGN_OR_RETURN(absl::Duration d,
                           Duration(g["sample"], q + ".sample", absl::Milliseconds(100),
                                    absl::Minutes(10), "want a duration from 100ms to 10m"));
          sk->set_sample_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(d)));
        }
      }
    }
    return absl::OkStatus();
  }

  // ops / cleanup: {count, concurrency, command | target + request, timeout}
  absl::Status Ops(const YAML::Node& g, const std::string& q, v1::OpsSpec* o) {
    RETURN_IF_ERROR(
        CheckKeys(g, q, {"count", "concurrency", "command", "target", "request", "timeout"}));
    if (!g["count"]) return Error(g, q + ".count", "is required");
    RETURN_IF_ERROR(OptWhole(g, q, "count", 1, 1000000, o, &v1::OpsSpec::set_count));
    RETURN_IF_ERROR(OptWhole(g, q, "concurrency", 1, 256, o, &v1::OpsSpec::set_concurrency));
    RETURN_IF_ERROR(OptStr(g, q, "command", o->mutable_command()));
    RETURN_IF_ERROR(OptStr(g, q, "target", o->mutable_target()));
    if (g["request"])
      RETURN_IF_ERROR(Request(g["request"], q + ".request", o->mutable_request(), false));
    if (g["timeout"]) {
      ASSIGN_OR_RETURN(absl::Duration d,
                       Duration(g["timeout"], q + ".timeout", absl::Milliseconds(1), absl::Hours(1),
                                "want a duration from 1ms to 1h"));
      o->set_timeout_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(d)));
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<YAML::Node> LoadYaml(const std::string& filename, const std::string& text) {
  if (text.size() > kMaxSuiteBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": ", text.size(), " bytes; a suite file may be at most ", kMaxSuiteBytes));
  }
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ":", e.mark.line + 1, ":", e.mark.column + 1, ": not valid YAML/JSON: ", e.msg));
  }
}

absl::StatusOr<v1::RunSpec> ParseSuiteRoot(const std::string& filename, const YAML::Node& root,
                                           const SuiteDefaults& defaults, const TierSpec* tier);

}  // namespace

absl::StatusOr<v1::RunSpec> ParseSuite(const std::string& filename, const std::string& text,
                                       const SuiteDefaults& defaults) {
  ASSIGN_OR_RETURN(TierRun run, ParseSuiteTier(filename, text, {}, defaults));
  return std::move(run.spec);
}

absl::StatusOr<std::vector<std::string>> SuiteTierNames(const std::string& filename,
                                                        const std::string& text) {
  ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(filename, text));
  if (!root.IsMap()) return std::vector<std::string>{};
  ASSIGN_OR_RETURN(SuiteTiers tiers, ReadSuiteTiers(filename, root));
  std::vector<std::string> names;
  for (const TierSpec& t : tiers.tiers) names.push_back(t.name);
  return names;
}

absl::StatusOr<TierRun> ParseSuiteTier(const std::string& filename, const std::string& text,
                                       const TierChoice& choice, const SuiteDefaults& defaults) {
  ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(filename, text));
  TierRun out;
  out.tier = choice.name;
  SuiteTiers tiers;
  const TierSpec* tier = nullptr;
  TierSpec custom;
  try {
    if (root.IsMap()) {
      ASSIGN_OR_RETURN(tiers, ReadSuiteTiers(filename, root));
    }
    std::vector<std::string> names;
    for (const TierSpec& t : tiers.tiers) {
      names.push_back(t.name);
      if (t.name == choice.name) tier = &t;
    }
    if (!choice.name.empty() && tier == nullptr) {
      if (choice.name != kCustomTier) {
        return absl::InvalidArgumentError(
            absl::StrCat(filename, ": tiers: the suite has no tier '", choice.name, "' (",
                         names.empty() ? std::string("it defines none; --param makes a custom tier")
                                       : "its tiers: " + absl::StrJoin(names, ", "),
                         ")"));
      }
      custom.name = kCustomTier;
      custom.path = "--param";
      tier = &custom;
    }
    // The parameters: the suite's defaults, the tier's, then the command line's.
    out.params = tiers.params;
    if (tier != nullptr)
      for (const auto& [k, v] : tier->params) out.params[k] = v;
    if (root.IsMap() && root["jobs"]) {
      for (const auto& [k, v] : choice.params) {
        if (!out.params.count(k)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--param ", k, ": the suite has no parameter '", k, "' (its parameters: ",
              tiers.params.empty() ? std::string("none")
                                   : absl::StrJoin(tiers.params, ", ", absl::PairFormatter("=")),
              ")"));
        }
        out.params[k] = v;
      }
      RETURN_IF_ERROR(SubstituteParams(filename, "jobs", root["jobs"], out.params));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ":", e.mark.line + 1, ": ", e.msg));
  }
  ASSIGN_OR_RETURN(out.spec, ParseSuiteRoot(filename, root, defaults, tier));
  out.hosts = StackHosts(out.spec);
  return out;
}

namespace {

absl::StatusOr<v1::RunSpec> ParseSuiteRoot(const std::string& filename, const YAML::Node& root,
                                           const SuiteDefaults& defaults, const TierSpec* tier) {
  Parser p(filename);
  absl::StatusOr<v1::RunSpec> spec;
  try {
    spec = p.Suite(root);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ":", e.mark.line + 1, ": ", e.msg));
  }
  if (!spec.ok()) return spec.status();
  for (v1::JobSpec& job : *spec->mutable_jobs()) {
    if (job.benchmark().has_build() && job.benchmark().build().repository().empty())
      job.mutable_benchmark()->mutable_build()->set_repository(defaults.build_repository);
  }
  if (tier != nullptr) RETURN_IF_ERROR(ApplyTier(*tier, &*spec));
  // The same rules as every API submission, with defaults filled in, except max_attempts: that
  // default is the controller's retry policy, and the controller fills it.
  SpecLimits limits;
  limits.default_max_attempts = 0;
  if (absl::Status s = ValidateAndDefaultRunSpec(&*spec, limits); !s.ok())
    return p.positions().Locate(filename, s);
  return spec;
}

}  // namespace

absl::StatusOr<std::string> ReadSuiteText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path + ": cannot be read");
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, in.gcount());
    if (text.size() > kMaxSuiteBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than ", kMaxSuiteBytes, " bytes"));
    }
  }
  return text;
}

absl::StatusOr<v1::RunSpec> LoadSuiteFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadSuiteText(path));
  return ParseSuite(path, text);
}

absl::StatusOr<v1::Campaign> ParseSuiteCampaign(const std::string& filename,
                                                const std::string& text,
                                                const std::vector<std::string>& tiers,
                                                const std::map<std::string, std::string>& params) {
  std::vector<std::string> names = tiers;
  if (names.empty()) {
    ASSIGN_OR_RETURN(names, SuiteTierNames(filename, text));
    if (!params.empty()) names = {"custom"};
    if (names.empty())
      return absl::InvalidArgumentError(
          filename +
          " defines no tiers: add tiers: to it, or give parameters (--param) for a custom tier");
  }
  v1::Campaign c;
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(TierRun tier, ParseSuiteTier(filename, text, {name, params}));
    if (c.suite_name().empty()) {
      c.set_suite_name(tier.spec.suite_name());
      c.set_project(tier.spec.project());
    }
    v1::CampaignTier* t = c.add_tiers();
    t->set_name(name);
    t->mutable_params()->insert(tier.params.begin(), tier.params.end());
    t->set_hosts(tier.hosts);
    *t->mutable_spec() = std::move(tier.spec);
  }
  if (c.suite_name().empty())
    return absl::InvalidArgumentError(filename + ": a campaign's suite needs a name:");
  return c;
}

}  // namespace perfgate::common
