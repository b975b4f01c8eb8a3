#include "common/spec/suite_parser.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/spec/limit_levels.h"
#include "common/spec/template.h"
#include "common/status/macros.h"

namespace perfgate::common {
namespace {

using google::protobuf::RepeatedPtrField;
using StrMapField = google::protobuf::Map<std::string, std::string>;

// A template string seen while parsing one job, checked once the job's ports are known.
struct TemplateUse {
  YAML::Mark mark;
  std::string path;
  std::string text;
};

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  absl::StatusOr<v1::RunSpec> Suite(const YAML::Node& root) {
    v1::RunSpec spec;
    if (!root || root.IsNull()) return Error(root, "suite", "the file is empty");
    RETURN_IF_ERROR(CheckKeys(root, "", {"name", "project", "jobs"}));
    if (root["name"]) {
      ASSIGN_OR_RETURN(*spec.mutable_suite_name(), Str(root["name"], "name"));
    }
    if (root["project"]) {
      ASSIGN_OR_RETURN(*spec.mutable_project(), Str(root["project"], "project"));
    }
    YAML::Node jobs = root["jobs"];
    if (!jobs) return Error(root, "jobs", "is required (a list of jobs)");
    if (!jobs.IsSequence() || jobs.size() == 0)
      return Error(jobs, "jobs", "must be a non-empty list");
    std::set<std::string> names;
    for (size_t i = 0; i < jobs.size(); ++i) {
      std::string path = absl::StrCat("jobs[", i, "]");
      v1::JobSpec* job = spec.add_jobs();
      RETURN_IF_ERROR(Job(jobs[i], path, job));
      if (!job->name().empty() && !names.insert(job->name()).second) {
        return Error(jobs[i]["name"], path + ".name", "'" + job->name() + "' is used twice");
      }
    }
    return spec;
  }

 private:
  absl::Status Error(const YAML::Node& n, const std::string& path,
                     const std::string& problem) const {
    return ErrorAt(n.Mark(), path, problem);
  }
  absl::Status ErrorAt(const YAML::Mark& m, const std::string& path,
                       const std::string& problem) const {
    if (m.is_null())
      return absl::InvalidArgumentError(absl::StrCat(file_, ": ", path, ": ", problem));
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ":", m.line + 1, ":", m.column + 1, ": ", path, ": ", problem));
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  absl::Status CheckKeys(const YAML::Node& map, const std::string& path,
                         const std::set<std::string>& allowed) const {
    if (!map.IsMap()) return Error(map, path.empty() ? "suite" : path, "must be a mapping");
    for (const auto& kv : map) {
      std::string key = kv.first.as<std::string>();
      if (!allowed.count(key)) {
        return Error(kv.first, Join(path, key),
                     "unknown key (known: " + absl::StrJoin(allowed, ", ") + ")");
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Str(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) return Error(n, path, "must be a string");
    return n.as<std::string>();
  }

  absl::StatusOr<std::string> NonEmpty(const YAML::Node& n, const std::string& path) const {
    ASSIGN_OR_RETURN(std::string s, Str(n, path));
    if (s.empty()) return Error(n, path, "must not be empty");
    return s;
  }

  // A string with {variables}, recorded for the job's template check.
  absl::StatusOr<std::string> Tmpl(const YAML::Node& n, const std::string& path) {
    ASSIGN_OR_RETURN(std::string s, Str(n, path));
    templates_.push_back({n.Mark(), path, s});
    return s;
  }

  absl::StatusOr<uint32_t> Seconds(const YAML::Node& n, const std::string& path,
                                   bool allow_zero = false) const {
    std::string want = "want a duration like 30s, 10m, 1h";
    if (!n.IsScalar()) return Error(n, path, want);
    std::string v = n.as<std::string>();
    absl::Duration d;
    if (!absl::ParseDuration(v, &d) || d < absl::ZeroDuration() ||
        (!allow_zero && d == absl::ZeroDuration())) {
      return Error(n, path, want + (allow_zero ? "" : " (positive)") + "; got '" + v + "'");
    }
    if (d > absl::Hours(24 * 7)) return Error(n, path, "at most a week; got '" + v + "'");
    if (d != absl::ZeroDuration() && d < absl::Seconds(1))
      return Error(n, path, "at least 1s; got '" + v + "'");
    return static_cast<uint32_t>(absl::ToInt64Seconds(d));
  }

  absl::StatusOr<uint32_t> Whole(const YAML::Node& n, const std::string& path, int64_t lo,
                                 int64_t hi) const {
    int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v) || v < lo || v > hi) {
      return Error(n, path, absl::StrCat("must be a whole number from ", lo, " to ", hi));
    }
    return static_cast<uint32_t>(v);
  }

  absl::StatusOr<double> Number(const YAML::Node& n, const std::string& path, double lo,
                                double hi) const {
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !(v >= lo && v <= hi)) {
      return Error(n, path, absl::StrCat("must be a number from ", lo, " to ", hi));
    }
    return v;
  }

  absl::StatusOr<bool> Bool(const YAML::Node& n, const std::string& path) const {
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
      return Error(n, path, "must be true or false");
    return v;
  }

  absl::Status StrMap(const YAML::Node& n, const std::string& path, StrMapField* out,
                      bool templates = false) {
    if (!n.IsMap()) return Error(n, path, "must be a mapping of strings");
    for (const auto& kv : n) {
      std::string k = kv.first.as<std::string>();
      std::string p = path + "." + k;
      ASSIGN_OR_RETURN((*out)[k], templates ? Tmpl(kv.second, p) : Str(kv.second, p));
    }
    return absl::OkStatus();
  }

  absl::Status StrList(const YAML::Node& n, const std::string& path,
                       RepeatedPtrField<std::string>* out, bool templates = false) {
    if (!n.IsSequence()) return Error(n, path, "must be a list of strings");
    for (size_t i = 0; i < n.size(); ++i) {
      std::string p = absl::StrCat(path, "[", i, "]");
      ASSIGN_OR_RETURN(*out->Add(), templates ? Tmpl(n[i], p) : Str(n[i], p));
    }
    return absl::OkStatus();
  }

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
    if (n["max_attempts"]) {
      ASSIGN_OR_RETURN(auto v, Whole(n["max_attempts"], path + ".max_attempts", 1, 10));
      job->set_max_attempts(v);
    }
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
    ASSIGN_OR_RETURN(*c->mutable_command(), NonEmpty(n["command"], path + ".command"));
    if (n["env"]) RETURN_IF_ERROR(StrMap(n["env"], path + ".env", c->mutable_env()));
    if (n["working_dir"]) {
      ASSIGN_OR_RETURN(*c->mutable_working_dir(), Str(n["working_dir"], path + ".working_dir"));
    }
    if (n["timeout"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["timeout"], path + ".timeout"));
      c->set_timeout_seconds(v);
    }
    if (n["cancel_grace"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["cancel_grace"], path + ".cancel_grace"));
      c->set_cancel_grace_seconds(v);
    }
    return absl::OkStatus();
  }

  absl::Status Benchmark(const YAML::Node& n, const std::string& path, v1::BenchmarkJob* b) {
    templates_.clear();
    ports_.clear();
    RETURN_IF_ERROR(CheckKeys(n, path,
                              {"build", "stack", "fixtures", "workload", "observe", "limits",
                               "timeout", "cancel_grace"}));
    if (n["build"]) RETURN_IF_ERROR(Build(n["build"], path + ".build", b->mutable_build()));
    if (n["stack"]) RETURN_IF_ERROR(Stack(n["stack"], path + ".stack", b->mutable_stack()));
    if (n["fixtures"]) {
      const YAML::Node& f = n["fixtures"];
      if (!f.IsSequence()) return Error(f, path + ".fixtures", "must be a list");
      for (size_t i = 0; i < f.size(); ++i) {
        RETURN_IF_ERROR(Fixture(f[i], absl::StrCat(path, ".fixtures[", i, "]"), b->add_fixtures()));
      }
    }
    if (!n["workload"]) return Error(n, path + ".workload", "is required");
    RETURN_IF_ERROR(Workload(n["workload"], path + ".workload", b->mutable_workload()));
    if (n["observe"]) {
      RETURN_IF_ERROR(
          Observe(n["observe"], path + ".observe", b->workload(), b->mutable_observe()));
    }
    if (n["limits"]) {
      const YAML::Node& l = n["limits"];
      if (!l.IsSequence()) return Error(l, path + ".limits", "must be a list");
      for (size_t i = 0; i < l.size(); ++i) {
        std::string p = absl::StrCat(path, ".limits[", i, "]");
        RETURN_IF_ERROR(
            CheckKeys(l[i], p, {"metric", "max", "min", "target", "acceptable", "critical"}));
        v1::MetricLimit* m = b->add_limits();
        if (!l[i]["metric"]) return Error(l[i], p + ".metric", "is required");
        ASSIGN_OR_RETURN(*m->mutable_metric(), NonEmpty(l[i]["metric"], p + ".metric"));
        using Setter = void (v1::MetricLimit::*)(double);
        bool any = false;
        for (auto [key, set] : {std::pair<const char*, Setter>{"max", &v1::MetricLimit::set_max},
                                {"min", &v1::MetricLimit::set_min},
                                {"target", &v1::MetricLimit::set_target},
                                {"acceptable", &v1::MetricLimit::set_acceptable},
                                {"critical", &v1::MetricLimit::set_critical}}) {
          if (!l[i][key]) continue;
          any = true;
          ASSIGN_OR_RETURN(auto v, Number(l[i][key], absl::StrCat(p, ".", key), -1e18, 1e18));
          (m->*set)(v);
        }
        if (!any) return Error(l[i], p, "give max, min, or target/acceptable/critical levels");
        if (auto s = common::CheckLimitLevels(*m); !s.ok())
          return Error(l[i], p, std::string(s.message()));
      }
    }
    if (n["timeout"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["timeout"], path + ".timeout"));
      b->set_timeout_seconds(v);
    }
    if (n["cancel_grace"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["cancel_grace"], path + ".cancel_grace"));
      b->set_cancel_grace_seconds(v);
    }
    return CheckTemplates(b->has_build());
  }

  // A name that becomes part of a metric name: letters, digits, _ and ., starting with a letter.
  absl::StatusOr<std::string> MetricName(const YAML::Node& n, const std::string& path) const {
    ASSIGN_OR_RETURN(std::string s, NonEmpty(n, path));
    bool ok = std::isalpha(static_cast<unsigned char>(s[0])) && s.size() <= 100;
    for (char c : s)
      ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.');
    if (!ok) {
      return Error(n, path,
                   "'" + s +
                       "': want letters, digits, _ and . (starting with a letter, at most "
                       "100)");
    }
    return s;
  }

  absl::Status Observe(const YAML::Node& n, const std::string& path, const v1::WorkloadSpec& w,
                       v1::ObserveSpec* o) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"prometheus", "profiles", "postgres"}));
    if (n["prometheus"]) {
      RETURN_IF_ERROR(Prometheus(n["prometheus"], path + ".prometheus", o->mutable_prometheus()));
    }
    if (n["profiles"]) {
      const YAML::Node& l = n["profiles"];
      if (!l.IsSequence()) return Error(l, path + ".profiles", "must be a list");
      for (size_t i = 0; i < l.size(); ++i) {
        RETURN_IF_ERROR(
            Profile(l[i], absl::StrCat(path, ".profiles[", i, "]"), w, o->add_profiles()));
      }
    }
    if (n["postgres"]) {
      const YAML::Node& g = n["postgres"];
      std::string p = path + ".postgres";
      RETURN_IF_ERROR(CheckKeys(g, p, {"dsn", "top", "explain"}));
      v1::PostgresStatsSpec* pg = o->mutable_postgres();
      if (!g["dsn"]) return Error(g, p + ".dsn", "is required");
      ASSIGN_OR_RETURN(*pg->mutable_dsn(), Tmpl(g["dsn"], p + ".dsn"));
      if (g["top"]) {
        ASSIGN_OR_RETURN(auto v, Whole(g["top"], p + ".top", 1, 1000));
        pg->set_top(v);
      }
      if (g["explain"]) {
        const YAML::Node& l = g["explain"];
        if (!l.IsSequence()) return Error(l, p + ".explain", "must be a list");
        std::set<std::string> names;
        for (size_t i = 0; i < l.size(); ++i) {
          std::string ep = absl::StrCat(p, ".explain[", i, "]");
          RETURN_IF_ERROR(CheckKeys(l[i], ep, {"name", "sql"}));
          v1::ExplainSpec* e = pg->add_explain();
          if (!l[i]["name"]) return Error(l[i], ep + ".name", "is required");
          if (!l[i]["sql"]) return Error(l[i], ep + ".sql", "is required");
          ASSIGN_OR_RETURN(*e->mutable_name(), MetricName(l[i]["name"], ep + ".name"));
          ASSIGN_OR_RETURN(*e->mutable_sql(), NonEmpty(l[i]["sql"], ep + ".sql"));
          if (!names.insert(e->name()).second)
            return Error(l[i]["name"], ep + ".name", "'" + e->name() + "' is used twice");
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Prometheus(const YAML::Node& n, const std::string& path, v1::PrometheusSpec* pr) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"scrape", "queries"}));
    if (n["scrape"]) {
      const YAML::Node& l = n["scrape"];
      if (!l.IsSequence()) return Error(l, path + ".scrape", "must be a list");
      for (size_t i = 0; i < l.size(); ++i) {
        std::string p = absl::StrCat(path, ".scrape[", i, "]");
        RETURN_IF_ERROR(CheckKeys(l[i], p, {"job", "target", "path"}));
        v1::ScrapeTarget* t = pr->add_scrape();
        if (!l[i]["job"]) return Error(l[i], p + ".job", "is required");
        if (!l[i]["target"]) return Error(l[i], p + ".target", "is required (host:port)");
        ASSIGN_OR_RETURN(*t->mutable_job(), MetricName(l[i]["job"], p + ".job"));
        ASSIGN_OR_RETURN(*t->mutable_target(), Tmpl(l[i]["target"], p + ".target"));
        if (l[i]["path"]) {
          ASSIGN_OR_RETURN(*t->mutable_path(), NonEmpty(l[i]["path"], p + ".path"));
          if (t->path()[0] != '/') return Error(l[i]["path"], p + ".path", "must start with /");
        }
      }
    }
    if (!n["queries"]) return Error(n, path + ".queries", "is required (a list of named queries)");
    const YAML::Node& q = n["queries"];
    if (!q.IsSequence() || q.size() == 0)
      return Error(q, path + ".queries", "must be a non-empty list");
    std::set<std::string> names;
    for (size_t i = 0; i < q.size(); ++i) {
      std::string p = absl::StrCat(path, ".queries[", i, "]");
      RETURN_IF_ERROR(CheckKeys(q[i], p, {"name", "expr", "unit", "direction", "mode", "step"}));
      v1::PromQuery* pq = pr->add_queries();
      if (!q[i]["name"]) return Error(q[i], p + ".name", "is required");
      if (!q[i]["expr"]) return Error(q[i], p + ".expr", "is required (PromQL)");
      ASSIGN_OR_RETURN(*pq->mutable_name(), MetricName(q[i]["name"], p + ".name"));
      if (!names.insert(pq->name()).second)
        return Error(q[i]["name"], p + ".name", "'" + pq->name() + "' is used twice");
      ASSIGN_OR_RETURN(*pq->mutable_expr(), NonEmpty(q[i]["expr"], p + ".expr"));
      if (pq->expr().size() > 4096) return Error(q[i]["expr"], p + ".expr", "at most 4096 bytes");
      if (q[i]["unit"]) {
        ASSIGN_OR_RETURN(*pq->mutable_unit(), Str(q[i]["unit"], p + ".unit"));
      }
      if (q[i]["direction"]) {
        ASSIGN_OR_RETURN(std::string d, Str(q[i]["direction"], p + ".direction"));
        if (d == "lower_is_better") {
          pq->set_direction(v1::DIRECTION_LOWER_IS_BETTER);
        } else if (d == "higher_is_better") {
          pq->set_direction(v1::DIRECTION_HIGHER_IS_BETTER);
        } else {
          return Error(q[i]["direction"], p + ".direction",
                       "'" + d + "': want lower_is_better or higher_is_better");
        }
      }
      if (q[i]["mode"]) {
        ASSIGN_OR_RETURN(std::string m, Str(q[i]["mode"], p + ".mode"));
        if (m == "instant") {
          pq->set_mode(v1::PromQuery::MODE_INSTANT);
        } else if (m == "range") {
          pq->set_mode(v1::PromQuery::MODE_RANGE);
        } else {
          return Error(q[i]["mode"], p + ".mode", "'" + m + "': want instant or range");
        }
      }
      if (q[i]["step"]) {
        if (pq->mode() != v1::PromQuery::MODE_RANGE)
          return Error(q[i]["step"], p + ".step", "belongs to a range query (mode: range)");
        absl::Duration d;
        if (!q[i]["step"].IsScalar() || !absl::ParseDuration(q[i]["step"].as<std::string>(), &d) ||
            d < absl::Milliseconds(100) || d > absl::Hours(1)) {
          return Error(q[i]["step"], p + ".step", "want a duration from 100ms to 1h, like 1s");
        }
        pq->set_step_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(d)));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Profile(const YAML::Node& n, const std::string& p, const v1::WorkloadSpec& w,
                       v1::ProfileSpec* ps) {
    RETURN_IF_ERROR(CheckKeys(n, p, {"service", "url", "cpu", "heap", "heap_every", "extra"}));
    if (!n["service"]) return Error(n, p + ".service", "is required");
    if (!n["url"]) return Error(n, p + ".url", "is required (the /debug/pprof base URL)");
    ASSIGN_OR_RETURN(*ps->mutable_service(), MetricName(n["service"], p + ".service"));
    ASSIGN_OR_RETURN(*ps->mutable_url(), Tmpl(n["url"], p + ".url"));
    if (ps->url().rfind("http://", 0) != 0)
      return Error(n["url"], p + ".url", "must be an http:// URL");
    const uint32_t window = w.duration_seconds() ? w.duration_seconds() : 30;
    if (n["cpu"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["cpu"], p + ".cpu"));
      if (v > window) {
        return Error(n["cpu"], p + ".cpu",
                     absl::StrCat("longer than the measured window (", window, "s)"));
      }
      ps->set_cpu_seconds(v);
    }
    if (n["heap"]) {
      const YAML::Node& h = n["heap"];
      if (!h.IsSequence()) return Error(h, p + ".heap", "must be a list of: before, after");
      for (size_t i = 0; i < h.size(); ++i) {
        std::string hp = absl::StrCat(p, ".heap[", i, "]");
        ASSIGN_OR_RETURN(std::string v, Str(h[i], hp));
        if (v == "before") {
          ps->set_heap_before(true);
        } else if (v == "after") {
          ps->set_heap_after(true);
        } else {
          return Error(h[i], hp, "'" + v + "': want before or after");
        }
      }
    }
    if (n["heap_every"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["heap_every"], p + ".heap_every"));
      ps->set_heap_every_seconds(v);
    }
    if (n["extra"]) {
      static const std::set<std::string> kKnown = {"goroutine", "allocs", "block", "mutex",
                                                   "threadcreate"};
      const YAML::Node& e = n["extra"];
      if (!e.IsSequence()) return Error(e, p + ".extra", "must be a list");
      for (size_t i = 0; i < e.size(); ++i) {
        std::string ep = absl::StrCat(p, ".extra[", i, "]");
        ASSIGN_OR_RETURN(std::string v, Str(e[i], ep));
        if (!kKnown.count(v)) {
          return Error(e[i], ep, "'" + v + "': want one of " + absl::StrJoin(kKnown, ", "));
        }
        ps->add_extra(v);
      }
    }
    if (!ps->cpu_seconds() && !ps->heap_before() && !ps->heap_after() &&
        !ps->heap_every_seconds() && ps->extra_size() == 0) {
      return Error(n, p, "captures nothing: give cpu, heap, heap_every or extra");
    }
    return absl::OkStatus();
  }

  // Every {variable} must be one the agent can fill in for this job.
  absl::Status CheckTemplates(bool has_build) const {
    for (const auto& t : templates_) {
      std::string problem = CheckTemplateReferences(t.text, ports_, has_build);
      if (!problem.empty()) return ErrorAt(t.mark, t.path, problem);
    }
    return absl::OkStatus();
  }

  absl::Status Build(const YAML::Node& n, const std::string& path, v1::BuildSpec* b) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"repository", "commands", "env", "timeout"}));
    if (!n["repository"]) return Error(n, path + ".repository", "is required");
    ASSIGN_OR_RETURN(*b->mutable_repository(), NonEmpty(n["repository"], path + ".repository"));
    if (n["commands"])
      RETURN_IF_ERROR(StrList(n["commands"], path + ".commands", b->mutable_commands(), true));
    if (n["env"]) RETURN_IF_ERROR(StrMap(n["env"], path + ".env", b->mutable_env(), true));
    if (n["timeout"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["timeout"], path + ".timeout"));
      b->set_timeout_seconds(v);
    }
    return absl::OkStatus();
  }

  absl::Status Ready(const YAML::Node& n, const std::string& path, v1::ReadinessCheck* r) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"tcp", "http", "command", "status", "timeout"}));
    int kinds = !!n["tcp"] + !!n["http"] + !!n["command"];
    if (kinds != 1) return Error(n, path, "give exactly one of tcp, http, command");
    if (n["tcp"]) {
      ASSIGN_OR_RETURN(*r->mutable_tcp(), Tmpl(n["tcp"], path + ".tcp"));
    }
    if (n["http"]) {
      ASSIGN_OR_RETURN(*r->mutable_http(), Tmpl(n["http"], path + ".http"));
      if (r->http().rfind("http://", 0) != 0)
        return Error(n["http"], path + ".http", "must be an http:// URL");
    }
    if (n["command"]) {
      ASSIGN_OR_RETURN(*r->mutable_command(), Tmpl(n["command"], path + ".command"));
    }
    if (n["status"]) {
      if (!n["http"]) return Error(n["status"], path + ".status", "only for an http check");
      ASSIGN_OR_RETURN(auto v, Whole(n["status"], path + ".status", 100, 599));
      r->set_http_status(v);
    }
    if (n["timeout"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["timeout"], path + ".timeout"));
      r->set_timeout_seconds(v);
    }
    return absl::OkStatus();
  }

  absl::Status DeclarePorts(const YAML::Node& n, const std::string& path,
                            RepeatedPtrField<std::string>* out) {
    RETURN_IF_ERROR(StrList(n, path, out));
    for (int i = 0; i < out->size(); ++i) {
      const std::string& p = out->Get(i);
      if (p.empty() || TemplateReferences("{port:" + p + "}").size() != 1) {
        return Error(n[i], absl::StrCat(path, "[", i, "]"),
                     "a port name uses letters, digits, _ . -");
      }
      if (!ports_.insert(p).second)
        return Error(n[i], absl::StrCat(path, "[", i, "]"), "port '" + p + "' declared twice");
    }
    return absl::OkStatus();
  }

  absl::Status Stack(const YAML::Node& n, const std::string& path, v1::StackSpec* s) {
    RETURN_IF_ERROR(CheckKeys(n, path, {"services", "compose", "stop_grace"}));
    if (!!n["services"] == !!n["compose"])
      return Error(n, path, "give either services (exec driver) or compose");
    if (n["stop_grace"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["stop_grace"], path + ".stop_grace"));
      s->set_stop_grace_seconds(v);
    }
    if (n["compose"]) {
      const YAML::Node& c = n["compose"];
      std::string p = path + ".compose";
      RETURN_IF_ERROR(CheckKeys(c, p, {"file", "ports", "env", "ready", "services"}));
      v1::ComposeStack* cs = s->mutable_compose();
      if (!c["file"]) return Error(c, p + ".file", "is required");
      ASSIGN_OR_RETURN(*cs->mutable_file(), Tmpl(c["file"], p + ".file"));
      if (c["ports"]) RETURN_IF_ERROR(DeclarePorts(c["ports"], p + ".ports", cs->mutable_ports()));
      if (c["env"]) RETURN_IF_ERROR(StrMap(c["env"], p + ".env", cs->mutable_env(), true));
      if (c["services"])
        RETURN_IF_ERROR(StrList(c["services"], p + ".services", cs->mutable_services()));
      if (c["ready"]) {
        if (!c["ready"].IsSequence()) return Error(c["ready"], p + ".ready", "must be a list");
        for (size_t i = 0; i < c["ready"].size(); ++i) {
          RETURN_IF_ERROR(
              Ready(c["ready"][i], absl::StrCat(p, ".ready[", i, "]"), cs->add_ready()));
        }
      }
      return absl::OkStatus();
    }
    const YAML::Node& svcs = n["services"];
    if (!svcs.IsSequence() || svcs.size() == 0)
      return Error(svcs, path + ".services", "must be a non-empty list");
    std::set<std::string> names;
    v1::ExecStack* ex = s->mutable_exec();
    for (size_t i = 0; i < svcs.size(); ++i) {
      std::string p = absl::StrCat(path, ".services[", i, "]");
      const YAML::Node& sv = svcs[i];
      RETURN_IF_ERROR(CheckKeys(sv, p, {"name", "args", "env", "working_dir", "ports", "ready"}));
      v1::ServiceSpec* svc = ex->add_services();
      if (!sv["name"]) return Error(sv, p + ".name", "is required");
      ASSIGN_OR_RETURN(*svc->mutable_name(), NonEmpty(sv["name"], p + ".name"));
      if (!names.insert(svc->name()).second)
        return Error(sv["name"], p + ".name", "'" + svc->name() + "' is used twice");
      if (!sv["args"]) return Error(sv, p + ".args", "is required (the program and arguments)");
      RETURN_IF_ERROR(StrList(sv["args"], p + ".args", svc->mutable_args(), true));
      if (svc->args().empty() || svc->args(0).empty())
        return Error(sv["args"], p + ".args", "must name a program first");
      if (sv["env"]) RETURN_IF_ERROR(StrMap(sv["env"], p + ".env", svc->mutable_env(), true));
      if (sv["working_dir"]) {
        ASSIGN_OR_RETURN(*svc->mutable_working_dir(), Tmpl(sv["working_dir"], p + ".working_dir"));
      }
      if (sv["ports"])
        RETURN_IF_ERROR(DeclarePorts(sv["ports"], p + ".ports", svc->mutable_ports()));
      if (sv["ready"]) RETURN_IF_ERROR(Ready(sv["ready"], p + ".ready", svc->mutable_ready()));
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
      ASSIGN_OR_RETURN(*f->mutable_pg_dump(), Tmpl(n["pg_dump"], path + ".pg_dump"));
    }
    if (n["sql"]) {
      ASSIGN_OR_RETURN(*f->mutable_sql(), Tmpl(n["sql"], path + ".sql"));
    }
    if (n["command"]) {
      ASSIGN_OR_RETURN(*f->mutable_command(), Tmpl(n["command"], path + ".command"));
    }
    bool needs_dsn = !n["command"];
    if (needs_dsn && !n["dsn"])
      return Error(n, path + ".dsn", "is required for a database fixture (the target database)");
    if (!needs_dsn && n["dsn"]) return Error(n["dsn"], path + ".dsn", "only for pg_dump and sql");
    if (n["dsn"]) {
      ASSIGN_OR_RETURN(*f->mutable_dsn(), Tmpl(n["dsn"], path + ".dsn"));
    }
    if (n["timeout"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["timeout"], path + ".timeout"));
      f->set_timeout_seconds(v);
    }
    return absl::OkStatus();
  }

  absl::Status Workload(const YAML::Node& n, const std::string& path, v1::WorkloadSpec* w) {
    RETURN_IF_ERROR(CheckKeys(
        n, path,
        {"warmup", "duration", "repetitions", "pause", "http", "wrk", "pgbench", "command"}));
    if (n["warmup"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["warmup"], path + ".warmup", true));
      w->set_warmup_seconds(v);
    }
    if (n["duration"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["duration"], path + ".duration"));
      w->set_duration_seconds(v);
    }
    if (n["repetitions"]) {
      ASSIGN_OR_RETURN(auto v, Whole(n["repetitions"], path + ".repetitions", 1, 1000));
      w->set_repetitions(v);
    }
    if (n["pause"]) {
      ASSIGN_OR_RETURN(auto v, Seconds(n["pause"], path + ".pause", true));
      w->set_pause_seconds(v);
    }
    int kinds = !!n["http"] + !!n["wrk"] + !!n["pgbench"] + !!n["command"];
    if (kinds != 1)
      return Error(n, path, "give exactly one load generator: http, wrk, pgbench or command");
    if (n["http"]) return Http(n["http"], path + ".http", w);
    if (n["wrk"]) {
      const YAML::Node& g = n["wrk"];
      std::string p = path + ".wrk";
      RETURN_IF_ERROR(CheckKeys(g, p, {"url", "connections", "threads", "args"}));
      v1::WrkSpec* s = w->mutable_wrk();
      if (!g["url"]) return Error(g, p + ".url", "is required");
      ASSIGN_OR_RETURN(*s->mutable_url(), Tmpl(g["url"], p + ".url"));
      if (g["connections"]) {
        ASSIGN_OR_RETURN(auto v, Whole(g["connections"], p + ".connections", 1, 10000));
        s->set_connections(v);
      }
      if (g["threads"]) {
        ASSIGN_OR_RETURN(auto v, Whole(g["threads"], p + ".threads", 1, 64));
        s->set_threads(v);
      }
      if (g["args"]) RETURN_IF_ERROR(StrList(g["args"], p + ".args", s->mutable_args(), true));
      return absl::OkStatus();
    }
    if (n["pgbench"]) {
      const YAML::Node& g = n["pgbench"];
      std::string p = path + ".pgbench";
      RETURN_IF_ERROR(CheckKeys(g, p, {"dsn", "clients", "jobs", "args"}));
      v1::PgbenchSpec* s = w->mutable_pgbench();
      if (!g["dsn"]) return Error(g, p + ".dsn", "is required");
      ASSIGN_OR_RETURN(*s->mutable_dsn(), Tmpl(g["dsn"], p + ".dsn"));
      if (g["clients"]) {
        ASSIGN_OR_RETURN(auto v, Whole(g["clients"], p + ".clients", 1, 10000));
        s->set_clients(v);
      }
      if (g["jobs"]) {
        ASSIGN_OR_RETURN(auto v, Whole(g["jobs"], p + ".jobs", 1, 64));
        s->set_jobs(v);
      }
      if (g["args"]) RETURN_IF_ERROR(StrList(g["args"], p + ".args", s->mutable_args(), true));
      return absl::OkStatus();
    }
    const YAML::Node& g = n["command"];
    std::string p = path + ".command";
    v1::CommandLoadSpec* s = w->mutable_command();
    if (g.IsScalar()) {
      ASSIGN_OR_RETURN(*s->mutable_command(), Tmpl(g, p));
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(CheckKeys(g, p, {"run", "env"}));
    if (!g["run"]) return Error(g, p + ".run", "is required");
    ASSIGN_OR_RETURN(*s->mutable_command(), Tmpl(g["run"], p + ".run"));
    if (g["env"]) RETURN_IF_ERROR(StrMap(g["env"], p + ".env", s->mutable_env(), true));
    return absl::OkStatus();
  }

  absl::Status Http(const YAML::Node& g, const std::string& p, v1::WorkloadSpec* w) {
    RETURN_IF_ERROR(CheckKeys(g, p,
                              {"target", "rate", "closed_loop", "poisson", "connections", "threads",
                               "timeout", "requests", "stages", "max_generator_lag_p99"}));
    v1::HttpLoadSpec* s = w->mutable_http();
    if (!g["target"]) return Error(g, p + ".target", "is required (http://HOST:PORT)");
    ASSIGN_OR_RETURN(*s->mutable_target(), Tmpl(g["target"], p + ".target"));
    if (s->target().rfind("http://", 0) != 0)
      return Error(g["target"], p + ".target", "must be an http:// URL");
    if (g["rate"]) {
      ASSIGN_OR_RETURN(auto v, Number(g["rate"], p + ".rate", 0.001, 10'000'000));
      s->set_rate(v);
    }
    if (g["closed_loop"]) {
      ASSIGN_OR_RETURN(auto v, Bool(g["closed_loop"], p + ".closed_loop"));
      s->set_closed_loop(v);
    }
    if (g["poisson"]) {
      ASSIGN_OR_RETURN(auto v, Bool(g["poisson"], p + ".poisson"));
      s->set_poisson(v);
    }
    if (g["connections"]) {
      ASSIGN_OR_RETURN(auto v, Whole(g["connections"], p + ".connections", 1, 10000));
      s->set_connections(v);
    }
    if (g["threads"]) {
      ASSIGN_OR_RETURN(auto v, Whole(g["threads"], p + ".threads", 1, 64));
      s->set_threads(v);
    }
    if (s->connections() && s->threads() && s->connections() < s->threads())
      return Error(g["connections"], p + ".connections", "at least one per thread");
    if (g["timeout"]) {
      absl::Duration d;
      if (!g["timeout"].IsScalar() || !absl::ParseDuration(g["timeout"].as<std::string>(), &d) ||
          d < absl::Milliseconds(1) || d > absl::Minutes(10)) {
        return Error(g["timeout"], p + ".timeout", "want a duration from 1ms to 10m, like 5s");
      }
      s->set_timeout_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(d)));
    }
    if (g["max_generator_lag_p99"]) {
      absl::Duration d;
      if (!g["max_generator_lag_p99"].IsScalar() ||
          !absl::ParseDuration(g["max_generator_lag_p99"].as<std::string>(), &d) ||
          d < absl::Microseconds(1) || d > absl::Seconds(60)) {
        return Error(g["max_generator_lag_p99"], p + ".max_generator_lag_p99",
                     "want a duration from 1us to 60s, like 10ms");
      }
      s->set_max_generator_lag_p99_us(static_cast<uint32_t>(absl::ToInt64Microseconds(d)));
    }
    if (g["stages"]) {
      const YAML::Node& st = g["stages"];
      if (!st.IsSequence() || st.size() == 0)
        return Error(st, p + ".stages", "must be a non-empty list");
      if (g["rate"]) return Error(g["rate"], p + ".rate", "give either rate or stages");
      uint32_t total = 0;
      for (size_t i = 0; i < st.size(); ++i) {
        std::string sp = absl::StrCat(p, ".stages[", i, "]");
        RETURN_IF_ERROR(CheckKeys(st[i], sp, {"duration", "rate", "ramp_to"}));
        v1::RateStage* r = s->add_stages();
        if (!st[i]["duration"]) return Error(st[i], sp + ".duration", "is required");
        ASSIGN_OR_RETURN(auto d, Seconds(st[i]["duration"], sp + ".duration"));
        r->set_duration_seconds(d);
        total += d;
        if (!st[i]["rate"]) return Error(st[i], sp + ".rate", "is required");
        ASSIGN_OR_RETURN(auto v, Number(st[i]["rate"], sp + ".rate", 0, 10'000'000));
        r->set_rate(v);
        if (st[i]["ramp_to"]) {
          ASSIGN_OR_RETURN(auto to, Number(st[i]["ramp_to"], sp + ".ramp_to", 0, 10'000'000));
          r->set_rate_to(to);
        }
        if (r->rate() == 0 && r->rate_to() == 0)
          return Error(st[i], sp, "a stage needs a positive rate (use pause between repetitions)");
      }
      if (w->duration_seconds() && w->duration_seconds() != total) {
        return Error(st, p + ".stages",
                     absl::StrCat("stages last ", total, "s but workload.duration is ",
                                  w->duration_seconds(), "s; drop duration or make them agree"));
      }
      w->set_duration_seconds(total);
    }
    if (s->closed_loop() && (s->rate() > 0 || s->stages_size() > 0))
      return Error(g["closed_loop"], p + ".closed_loop", "a closed loop takes no rate or stages");
    if (!s->closed_loop() && s->rate() == 0 && s->stages_size() == 0)
      return Error(g, p + ".rate", "is required (or stages, or closed_loop: true)");
    if (g["requests"]) {
      const YAML::Node& rq = g["requests"];
      if (!rq.IsSequence() || rq.size() == 0)
        return Error(rq, p + ".requests", "must be a non-empty list");
      for (size_t i = 0; i < rq.size(); ++i) {
        std::string rp = absl::StrCat(p, ".requests[", i, "]");
        RETURN_IF_ERROR(
            CheckKeys(rq[i], rp, {"name", "method", "path", "headers", "body", "weight"}));
        v1::HttpRequestSpec* r = s->add_requests();
        if (rq[i]["name"]) {
          ASSIGN_OR_RETURN(*r->mutable_name(), NonEmpty(rq[i]["name"], rp + ".name"));
        }
        if (rq[i]["method"]) {
          ASSIGN_OR_RETURN(*r->mutable_method(), NonEmpty(rq[i]["method"], rp + ".method"));
        }
        if (rq[i]["path"]) {
          ASSIGN_OR_RETURN(*r->mutable_path(), Str(rq[i]["path"], rp + ".path"));
          if (r->path().empty() || r->path()[0] != '/')
            return Error(rq[i]["path"], rp + ".path", "must start with /");
        }
        if (rq[i]["headers"])
          RETURN_IF_ERROR(StrMap(rq[i]["headers"], rp + ".headers", r->mutable_headers()));
        if (rq[i]["body"]) {
          ASSIGN_OR_RETURN(*r->mutable_body(), Str(rq[i]["body"], rp + ".body"));
        }
        if (rq[i]["weight"]) {
          ASSIGN_OR_RETURN(auto v, Number(rq[i]["weight"], rp + ".weight", 1e-9, 1e9));
          r->set_weight(v);
        }
      }
    }
    return absl::OkStatus();
  }

  std::string file_;
  std::vector<TemplateUse> templates_;
  std::set<std::string> ports_;
};

}  // namespace

absl::StatusOr<v1::RunSpec> ParseSuite(const std::string& filename, const std::string& text) {
  if (text.size() > kMaxSuiteBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": ", text.size(), " bytes; a suite file may be at most ", kMaxSuiteBytes));
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ":", e.mark.line + 1, ":", e.mark.column + 1, ": not valid YAML/JSON: ", e.msg));
  }
  try {
    Parser p(filename);
    return p.Suite(root);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ":", e.mark.line + 1, ": ", e.msg));
  }
}

absl::StatusOr<v1::RunSpec> LoadSuiteFile(const std::string& path) {
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
  return ParseSuite(path, text);
}

}  // namespace perfgate::common
