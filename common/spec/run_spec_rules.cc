#include "common/spec/run_spec_rules.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <deque>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/spec/fault_text.h"
#include "common/spec/limit_levels.h"
#include "common/spec/promql_check.h"
#include "common/spec/template.h"
#include "common/status/macros.h"

namespace perfgate::common {
namespace {

// lo <= v <= hi, and false for NaN (which every comparison refuses, so `v < lo || v > hi` lets
// it through).
bool InRange(double v, double lo, double hi) { return v >= lo && v <= hi; }

// The most requests/s a rate may ask (the suite parser's bound).
constexpr double kMaxRate = 10'000'000;

absl::Status Bad(const std::string& field, const std::string& problem) {
  absl::Status s = absl::InvalidArgumentError(absl::StrCat("spec.", field, ": ", problem));
  s.SetPayload(kSpecFieldPayload, absl::Cord(field));
  return s;
}

absl::Status CheckString(const std::string& field, const std::string& v, size_t max,
                         bool required) {
  if (required && v.empty()) return Bad(field, "is required");
  if (v.size() > max)
    return Bad(field, absl::StrCat("is ", v.size(), " bytes; at most ", max, " allowed"));
  if (v.find('\0') != std::string::npos) return Bad(field, "contains a NUL byte");
  return absl::OkStatus();
}

// A name that becomes part of a metric name: letters, digits, _ and ., starting with a letter.
absl::Status CheckMetricName(const std::string& field, const std::string& s) {
  if (s.empty()) return Bad(field, "is required");
  bool ok = std::isalpha(static_cast<unsigned char>(s[0])) && s.size() <= 100;
  for (char c : s) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.');
  if (!ok) {
    return Bad(field,
               "'" + s + "': want letters, digits, _ and . (starting with a letter, at most 100)");
  }
  return absl::OkStatus();
}

absl::Status CheckUnique(const std::string& field, const std::string& name,
                         std::set<std::string>* seen) {
  if (!seen->insert(name).second) return Bad(field, "'" + name + "' is used twice");
  return absl::OkStatus();
}

bool IsHttpUrl(const std::string& s) { return s.rfind("http://", 0) == 0; }

// Every template string of a benchmark job with its field path, checked once its ports are known.
struct Templates {
  std::vector<std::pair<std::string, const std::string*>> uses;
  std::vector<std::pair<std::string, const std::string*>> indexed;  // ops fields: {i} too
  std::set<std::string> ports;
  std::set<std::string> hosts;  // the test hosts' variables (HostVariables)
  // Generators of phases checked as workloads: kept here so that `uses` may point into them.
  std::deque<v1::WorkloadSpec> scratch;

  void Add(const std::string& field, const std::string& v) { uses.emplace_back(field, &v); }
  void AddIndexed(const std::string& field, const std::string& v) {
    indexed.emplace_back(field, &v);
  }
  void AddAll(const std::string& field, const google::protobuf::RepeatedPtrField<std::string>& v) {
    for (int i = 0; i < v.size(); ++i) Add(absl::StrCat(field, "[", i, "]"), v[i]);
  }
  void AddMap(const std::string& field, const google::protobuf::Map<std::string, std::string>& m) {
    for (const auto& [k, v] : m) Add(field + "[" + k + "]", v);
  }
  absl::Status DeclarePorts(const std::string& field,
                            const google::protobuf::RepeatedPtrField<std::string>& names) {
    for (int i = 0; i < names.size(); ++i) {
      const std::string& name = names[i];
      const std::string f = absl::StrCat(field, "[", i, "]");
      if (name.empty() || TemplateReferences("{port:" + name + "}").size() != 1)
        return Bad(f, "a port name uses letters, digits, _ . -");
      if (!ports.insert(name).second) return Bad(f, "port '" + name + "' declared twice");
    }
    return absl::OkStatus();
  }
  absl::Status Check(bool has_build) const {
    for (const auto& [field, text] : uses) {
      std::string problem = CheckTemplateReferences(*text, ports, has_build, hosts);
      if (!problem.empty()) return Bad(field, problem);
    }
    std::set<std::string> with_index = hosts;
    with_index.insert("i");
    for (const auto& [field, text] : indexed) {
      std::string problem = CheckTemplateReferences(*text, ports, has_build, with_index);
      if (!problem.empty()) return Bad(field, problem);
    }
    return absl::OkStatus();
  }
};

absl::Status CheckReady(const std::string& f, v1::ReadinessCheck* r, Templates* t) {
  if (r->has_http() && !IsHttpUrl(r->http())) return Bad(f + ".http", "must be an http:// URL");
  if (r->http_status() != 0 && !r->has_http())
    return Bad(f + ".http_status", "only for an http check");
  if (r->http_status() != 0 && (r->http_status() < 100 || r->http_status() > 599))
    return Bad(f + ".http_status", "must be an HTTP status from 100 to 599");
  if (r->http_status() == 0 && r->has_http()) r->set_http_status(kDefaultReadyHttpStatus);
  if (r->timeout_seconds() == 0) r->set_timeout_seconds(kDefaultReadyTimeoutSeconds);
  t->Add(f + ".tcp", r->tcp());
  t->Add(f + ".http", r->http());
  t->Add(f + ".command", r->command());
  return absl::OkStatus();
}

// Test hosts: roles named as hostnames, counts within kMaxHosts in all; role -> count.
absl::Status CheckHosts(const std::string& f, const v1::ExecStack& ex,
                        std::map<std::string, uint32_t>* roles) {
  if (!ex.provider().empty() && ex.provider() != "netns" && ex.provider() != "ssh")
    return Bad(f + ".provider", "'" + ex.provider() + "': want netns or ssh");
  if (!ex.provider().empty() && ex.hosts().empty()) return Bad(f + ".provider", "goes with hosts");
  uint32_t total = 0;
  for (int i = 0; i < ex.hosts_size(); ++i) {
    const v1::HostRole& h = ex.hosts(i);
    const std::string hf = absl::StrCat(f, ".hosts[", i, "]");
    bool ok = !h.role().empty() && h.role().size() <= 32 &&
              std::isalpha(static_cast<unsigned char>(h.role()[0]));
    for (char c : h.role()) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
    if (!ok) return Bad(hf + ".role", "a letter, then letters, digits and '-' (at most 32)");
    const size_t dash = h.role().rfind('-');
    uint32_t n = 0;
    if (dash != std::string::npos && absl::SimpleAtoi(h.role().substr(dash + 1), &n))
      return Bad(hf + ".role", "'" + h.role() + "' must not end in -N: its hosts are named ROLE-N");
    if (h.count() < 1 || h.count() > kMaxHosts)
      return Bad(hf + ".count", absl::StrCat("must be from 1 to ", kMaxHosts));
    if (!InRange(h.cpus(), 0, 1024)) return Bad(hf + ".cpus", "must be from 0 to 1024");
    if (h.memory_bytes() != 0 && h.memory_bytes() < (1u << 20))
      return Bad(hf + ".memory", "at least 1Mi");
    if (!roles->emplace(h.role(), h.count()).second)
      return Bad(hf + ".role", "'" + h.role() + "' is given twice");
    total += h.count();
  }
  if (total > kMaxHosts)
    return Bad(f + ".hosts", absl::StrCat(total, " hosts; a stack may have at most ", kMaxHosts));
  return absl::OkStatus();
}

// A service's `on`: a role or one host ROLE-N of the stack's hosts.
bool KnownPlace(const std::string& on, const std::map<std::string, uint32_t>& roles) {
  if (roles.count(on)) return true;
  const size_t dash = on.rfind('-');
  uint32_t index = 0;
  return dash != std::string::npos && roles.count(on.substr(0, dash)) &&
         absl::SimpleAtoi(on.substr(dash + 1), &index) && index >= 1 &&
         index <= roles.at(on.substr(0, dash));
}

absl::Status CheckExecStack(const std::string& f, v1::ExecStack* ex, Templates* t) {
  if (ex->services().empty()) return Bad(f + ".services", "must be a non-empty list");
  std::map<std::string, uint32_t> roles;
  RETURN_IF_ERROR(CheckHosts(f, *ex, &roles));
  t->hosts = common::HostVariables(roles);
  std::set<std::string> names;
  for (int i = 0; i < ex->services_size(); ++i) {
    v1::ServiceSpec* s = ex->mutable_services(i);
    std::string sf = absl::StrCat(f, ".services[", i, "]");
    if (s->name().empty()) return Bad(sf + ".name", "is required");
    RETURN_IF_ERROR(CheckUnique(sf + ".name", s->name(), &names));
    if (s->args().empty()) return Bad(sf + ".args", "is required (the program and arguments)");
    if (s->args(0).empty()) return Bad(sf + ".args", "must name a program first");
    RETURN_IF_ERROR(t->DeclarePorts(sf + ".ports", s->ports()));
    t->AddAll(sf + ".args", s->args());
    t->AddMap(sf + ".env", s->env());
    t->Add(sf + ".working_dir", s->working_dir());
    if (s->has_ready()) RETURN_IF_ERROR(CheckReady(sf + ".ready", s->mutable_ready(), t));
    if (!s->on().empty() && !KnownPlace(s->on(), roles))
      return Bad(sf + ".on", "'" + s->on() + "' is no role or host of stack.hosts");
    // A service on the agent's machine is sampled as proc.NAME.*, as a role or host is.
    if (s->on().empty() && KnownPlace(s->name(), roles)) {
      return Bad(sf + ".name", "'" + s->name() +
                                   "' is also a role or host of stack.hosts: their figures would "
                                   "share the names proc." +
                                   s->name() + ".*");
    }
    if (s->ready_any() && s->on().empty())
      return Bad(sf + ".ready_on", "goes with on: ROLE (instances on hosts)");
  }
  return absl::OkStatus();
}

// A workload's fault schedule against the stack it runs on.
absl::Status CheckFaults(const std::string& f, v1::FaultSchedule* fs, bool has_http,
                         uint64_t window_ms, v1::BenchmarkJob* b, Templates* t) {
  if (fs->actions().empty()) {
    if (fs->has_leader() || fs->has_recovery()) return Bad(f + ".actions", "is required");
    return absl::OkStatus();
  }
  if (!has_http) {
    return Bad(f,
               "needs the http or redis generator: its timeline gives the latency and errors "
               "before, during and after each fault");
  }
  if (!b->has_stack() || !b->stack().has_exec() || b->stack().exec().hosts().empty())
    return Bad(f, "needs a stack with test hosts (stack.hosts): faults land on hosts");
  if (fs->actions_size() > kMaxFaults)
    return Bad(f + ".actions", absl::StrCat("at most ", kMaxFaults));
  std::map<std::string, uint32_t> roles;
  for (const auto& h : b->stack().exec().hosts()) roles[h.role()] = h.count();
  std::map<std::string, std::string> on;  // service -> where it runs
  for (const auto& s : b->stack().exec().services()) on[s.name()] = s.on();
  std::set<std::string> names;
  bool wants_leader = false;
  for (int i = 0; i < fs->actions_size(); ++i) {
    const v1::FaultSpec& a = fs->actions(i);
    const std::string af = absl::StrCat(f, ".actions[", i, "]");
    if (!a.name().empty()) {
      bool ok = a.name().size() <= 40 && std::isalpha(static_cast<unsigned char>(a.name()[0]));
      for (char c : a.name())
        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
      if (!ok) return Bad(af + ".name", "a letter, then letters, digits, '-' and '_' (at most 40)");
    }
    if (FaultActionWord(a.action()).empty())
      return Bad(af + ".action", "want kill, pause, partition or netem");
    // Unnamed faults are ACTION-N: no two may share a name.
    RETURN_IF_ERROR(CheckUnique(af + ".name", FaultName(a, i), &names));
    const bool on_instance =
        a.action() == v1::FaultSpec::ACTION_KILL || a.action() == v1::FaultSpec::ACTION_PAUSE;
    if (!on_instance && b->stack().exec().provider() == "ssh") {
      return Bad(af + ".action",
                 FaultActionWord(a.action()) +
                     " changes a host's network, which perfgate does only on netns hosts; ssh "
                     "hosts take kill and pause");
    }
    if (a.at_ms() >= window_ms) {
      return Bad(af + ".at",
                 absl::StrCat("at ", a.at_ms(), " ms is not inside the measured window (",
                              window_ms / 1000, "s)"));
    }
    if (a.at_ms() + uint64_t{a.duration_ms()} > window_ms) {
      return Bad(af + (a.action() == v1::FaultSpec::ACTION_KILL ? ".restart_after" : ".duration"),
                 absl::StrCat("ends ", a.at_ms() + uint64_t{a.duration_ms()} - window_ms,
                              " ms after the measured window; leave it out to undo the fault at "
                              "the window's end"));
    }
    // Where it lands.
    const std::string& target = a.target();
    std::string role_of_target;
    if (target == "leader") {
      wants_leader = true;
    } else if (target.rfind("random:", 0) == 0) {
      role_of_target = target.substr(7);
      if (!roles.count(role_of_target))
        return Bad(af + ".target", "'" + role_of_target + "' is no role of stack.hosts");
    } else if (roles.count(target) || !KnownPlace(target, roles)) {
      return Bad(af + ".target",
                 "'" + target + "': want leader, a host ROLE-N or random:ROLE (one host)");
    } else {
      role_of_target = target.substr(0, target.rfind('-'));
    }
    if (on_instance) {
      if (a.service().empty())
        return Bad(af + ".service", "is required: whose instance on the host is hit");
      auto it = on.find(a.service());
      if (it == on.end())
        return Bad(af + ".service", "'" + a.service() + "' is no service of the stack");
      if (it->second.empty())
        return Bad(af + ".service",
                   "'" + a.service() + "' runs on the agent's machine, not on hosts");
      if (!role_of_target.empty() && it->second != role_of_target && it->second != target) {
        return Bad(af + ".target", "'" + target + "': service " + a.service() + " runs on " +
                                       it->second + ", not there");
      }
    } else if (!a.service().empty()) {
      return Bad(
          af + ".service",
          "goes with kill and pause (a " +
              std::string(a.action() == v1::FaultSpec::ACTION_NETEM ? "netem" : "partition") +
              " acts on the host's network)");
    }
    if (a.one_way() && a.action() != v1::FaultSpec::ACTION_PARTITION)
      return Bad(af + ".one_way", "goes with partition");
    const bool shapes = a.delay_ms() || a.jitter_ms() || a.loss() > 0;
    if (a.action() != v1::FaultSpec::ACTION_NETEM && shapes)
      return Bad(af, "delay, jitter and loss go with netem");
    if (a.action() == v1::FaultSpec::ACTION_NETEM) {
      if (!a.delay_ms() && !(a.loss() > 0)) return Bad(af, "netem needs a delay or a loss");
      if (a.jitter_ms() > a.delay_ms()) return Bad(af + ".jitter", "must not exceed the delay");
      if (!InRange(a.loss(), 0, 1)) return Bad(af + ".loss", "must be from 0 to 1 (or 0% to 100%)");
    }
  }
  const v1::LeaderProbe& l = fs->leader();
  if (wants_leader && l.url().empty() && l.command().empty())
    return Bad(f + ".leader",
               "is required: a fault targets the leader (give url and field, or command)");
  if (!l.url().empty()) {
    if (!IsHttpUrl(l.url())) return Bad(f + ".leader.url", "must be an http:// URL");
    if (l.field().empty()) return Bad(f + ".leader.field", "is required with url");
    t->Add(f + ".leader.url", l.url());
  }
  if (!l.command().empty()) t->Add(f + ".leader.command", l.command());
  const v1::RecoveryBand& r = fs->recovery();
  if (!InRange(r.p99_band(), 0, 10)) return Bad(f + ".recovery.p99_band", "from 0 to 10 (1000 %)");
  if (!InRange(r.error_band(), 0, 1)) return Bad(f + ".recovery.error_band", "from 0 to 1");
  if (r.hold_ms() > window_ms) return Bad(f + ".recovery.hold", "longer than the measured window");
  return absl::OkStatus();
}

absl::Status CheckStack(const std::string& f, v1::StackSpec* st, Templates* t) {
  if (st->stop_grace_seconds() == 0) st->set_stop_grace_seconds(kDefaultStopGraceSeconds);
  if (st->has_exec()) return CheckExecStack(f, st->mutable_exec(), t);
  if (!st->has_compose()) return Bad(f, "give either services (exec driver) or compose");
  v1::ComposeStack* c = st->mutable_compose();
  const std::string cf = f + ".compose";
  if (c->file().empty()) return Bad(cf + ".file", "is required");
  RETURN_IF_ERROR(t->DeclarePorts(cf + ".ports", c->ports()));
  t->Add(cf + ".file", c->file());
  t->AddMap(cf + ".env", c->env());
  for (int i = 0; i < c->ready_size(); ++i)
    RETURN_IF_ERROR(CheckReady(absl::StrCat(cf, ".ready[", i, "]"), c->mutable_ready(i), t));
  return absl::OkStatus();
}

absl::Status CheckFixture(const std::string& f, v1::FixtureSpec* x, Templates* t) {
  if (x->kind_case() == v1::FixtureSpec::KIND_NOT_SET)
    return Bad(f, "give exactly one of pg_dump, sql, command");
  if (x->has_command() && !x->dsn().empty()) return Bad(f + ".dsn", "only for pg_dump and sql");
  if (!x->has_command() && x->dsn().empty())
    return Bad(f + ".dsn", "is required for a database fixture (the target database)");
  if (x->timeout_seconds() == 0) x->set_timeout_seconds(kDefaultFixtureTimeoutSeconds);
  t->Add(f + ".pg_dump", x->pg_dump());
  t->Add(f + ".sql", x->sql());
  t->Add(f + ".command", x->command());
  t->Add(f + ".dsn", x->dsn());
  return absl::OkStatus();
}

// The built-in generator's field in a suite: .http, or .redis for its RESP form.
std::string GeneratorField(const v1::HttpLoadSpec& h) {
  return h.protocol() == v1::HttpLoadSpec::PROTOCOL_REDIS ? ".redis" : ".http";
}

// A redis target: HOST:PORT, or Sentinels (HOST:PORT each) and the master's name.
absl::Status CheckRedisTarget(const std::string& hf, const v1::HttpLoadSpec& h, Templates* t) {
  auto host_port = [](const std::string& v) {
    const size_t colon = v.rfind(':');
    uint32_t port = 0;
    // A template ({port:redis}) is checked once expanded, on the agent.
    return colon != std::string::npos && colon > 0 &&
           (v.find('{', colon) != std::string::npos ||
            (absl::SimpleAtoi(v.substr(colon + 1), &port) && port > 0 && port < 65536));
  };
  if (h.sentinels().empty()) {
    if (h.target().empty())
      return Bad(hf + ".target", "is required (HOST:PORT), or sentinels and master");
    if (!h.master().empty()) return Bad(hf + ".master", "goes with sentinels");
    if (!host_port(h.target())) return Bad(hf + ".target", "'" + h.target() + "': want HOST:PORT");
    return absl::OkStatus();
  }
  if (!h.target().empty())
    return Bad(hf + ".target", "give either target or sentinels (which name the master)");
  if (h.master().empty())
    return Bad(hf + ".master", "is required with sentinels: the name they monitor");
  if (h.sentinels_size() > 16) return Bad(hf + ".sentinels", "at most 16");
  for (int i = 0; i < h.sentinels_size(); ++i) {
    const std::string sf = absl::StrCat(hf, ".sentinels[", i, "]");
    if (!host_port(h.sentinels(i))) return Bad(sf, "'" + h.sentinels(i) + "': want HOST:PORT");
    t->Add(sf, h.sentinels(i));
  }
  return absl::OkStatus();
}

// Rate stages set the window's length: workload.duration may be left out or must agree.
absl::Status CheckHttpRate(const std::string& wf, v1::WorkloadSpec* w) {
  v1::HttpLoadSpec* h = w->mutable_http();
  const std::string hf = wf + GeneratorField(*h);
  if (!InRange(h->rate(), 0, kMaxRate))
    return Bad(hf + ".rate", absl::StrCat("must be from 0 to ", kMaxRate, " requests/s"));
  if (h->stages_size() > 0 && h->rate() > 0) return Bad(hf + ".rate", "give either rate or stages");
  if (h->closed_loop() && (h->rate() > 0 || h->stages_size() > 0))
    return Bad(hf + ".closed_loop", "a closed loop takes no rate or stages");
  if (!h->closed_loop() && h->rate() == 0 && h->stages_size() == 0)
    return Bad(hf + ".rate", "is required (or stages, or closed_loop: true)");
  uint32_t staged = 0;
  for (int i = 0; i < h->stages_size(); ++i) {
    const v1::RateStage& s = h->stages(i);
    const std::string sf = absl::StrCat(hf, ".stages[", i, "]");
    if (s.duration_seconds() == 0) return Bad(sf + ".duration_seconds", "is required");
    if (!InRange(s.rate(), 0, kMaxRate) || !InRange(s.rate_to(), 0, kMaxRate))
      return Bad(sf, absl::StrCat("rates must be from 0 to ", kMaxRate, " requests/s"));
    if (s.rate() == 0 && s.rate_to() == 0)
      return Bad(sf, "a stage needs a positive rate (use pause between repetitions)");
    staged += s.duration_seconds();
  }
  if (h->stages_size() == 0) return absl::OkStatus();
  if (w->duration_seconds() && w->duration_seconds() != staged) {
    return Bad(hf + ".stages",
               absl::StrCat("stages last ", staged, "s but workload.duration is ",
                            w->duration_seconds(), "s; drop duration or make them agree"));
  }
  w->set_duration_seconds(staged);
  return absl::OkStatus();
}

absl::Status CheckHttp(const std::string& wf, v1::WorkloadSpec* w, Templates* t) {
  v1::HttpLoadSpec* h = w->mutable_http();
  const std::string hf = wf + GeneratorField(*h);
  const bool redis = h->protocol() == v1::HttpLoadSpec::PROTOCOL_REDIS;
  if (redis) {
    RETURN_IF_ERROR(CheckRedisTarget(hf, *h, t));
  } else {
    if (h->target().empty()) return Bad(hf + ".target", "is required (http://HOST:PORT)");
    if (!IsHttpUrl(h->target())) return Bad(hf + ".target", "must be an http:// URL");
    if (!h->sentinels().empty() || !h->master().empty())
      return Bad(hf + ".sentinels", "go with the redis generator");
  }
  RETURN_IF_ERROR(CheckHttpRate(wf, w));
  if (h->connections() == 0) h->set_connections(kDefaultConnections);
  if (h->threads() == 0) h->set_threads(kDefaultThreads);
  if (h->threads() > kMaxThreads)
    return Bad(hf + ".threads", absl::StrCat("at most ", kMaxThreads));
  if (h->connections() < h->threads() || h->connections() > kMaxConnections) {
    return Bad(hf + ".connections",
               absl::StrCat("at least one per thread, at most ", kMaxConnections));
  }
  if (h->timeout_ms() == 0) h->set_timeout_ms(kDefaultHttpTimeoutMs);
  if (h->max_generator_lag_p99_us() == 0)
    h->set_max_generator_lag_p99_us(kDefaultMaxGeneratorLagP99Us);
  if (h->requests().empty() && redis)
    return Bad(hf + ".requests", "is required: the commands to send, like [{command: [GET, key]}]");
  if (h->requests().empty()) h->add_requests();
  for (int i = 0; i < h->requests_size(); ++i) {
    v1::HttpRequestSpec* r = h->mutable_requests(i);
    const std::string rf = absl::StrCat(hf, ".requests[", i, "]");
    if (redis) {
      if (r->command().empty())
        return Bad(rf + ".command", "is required: the command and its arguments, like [GET, k]");
      if (!r->method().empty() || !r->path().empty() || !r->body().empty() || !r->headers().empty())
        return Bad(rf, "a redis request is a command: no method, path, headers or body");
      t->AddAll(rf + ".command", r->command());
    } else {
      if (!r->command().empty()) return Bad(rf + ".command", "goes with the redis generator");
      if (r->method().empty()) r->set_method("GET");
      if (r->path().empty()) r->set_path("/");
      if (r->path()[0] != '/') return Bad(rf + ".path", "must start with /");
    }
    if (r->weight() == 0) r->set_weight(1);
    if (!(r->weight() > 0)) return Bad(rf + ".weight", "must be positive");
  }
  if (!h->target().empty()) t->Add(hf + ".target", h->target());
  return absl::OkStatus();
}

// wrk and pgbench: an external program with a target, a degree of parallelism and extra args.
template <typename Spec>
absl::Status CheckExternalGenerator(const std::string& f, const std::string& target_field,
                                    const std::string& target, Spec* g, Templates* t) {
  if (target.empty()) return Bad(f + "." + target_field, "is required");
  t->Add(f + "." + target_field, target);
  t->AddAll(f + ".args", g->args());
  return absl::OkStatus();
}

absl::Status CheckHarness(const std::string& f, v1::WorkloadSpec* w, Templates* t) {
  v1::HarnessSpec* h = w->mutable_harness();
  if (h->format() == v1::HarnessSpec::FORMAT_UNSPECIFIED ||
      !v1::HarnessSpec::Format_IsValid(h->format()))
    return Bad(f + ".format", "google-benchmark, pytest-benchmark, go-test or hyperfine");
  if (h->command().empty()) return Bad(f + ".command", "is required");
  if (h->output().empty() && (h->format() == v1::HarnessSpec::FORMAT_PYTEST_BENCHMARK ||
                              h->format() == v1::HarnessSpec::FORMAT_HYPERFINE)) {
    return Bad(f + ".output",
               h->format() == v1::HarnessSpec::FORMAT_HYPERFINE
                   ? "is required: hyperfine writes its JSON to the file given to --export-json"
                   : "is required: pytest-benchmark writes its JSON to the file given to "
                     "--benchmark-json");
  }
  for (int i = 0; i < h->higher_is_better_size(); ++i) {
    const std::string& g = h->higher_is_better(i);
    if (g.empty() || g.size() > 200)
      return Bad(absl::StrCat(f, ".higher_is_better[", i, "]"), "want a pattern of 1..200 bytes");
  }
  if (h->timeout_seconds() == 0) h->set_timeout_seconds(kDefaultHarnessTimeoutSeconds);
  t->Add(f + ".command", h->command());
  t->AddMap(f + ".env", h->env());
  t->Add(f + ".working_dir", h->working_dir());
  t->Add(f + ".output", h->output());
  return absl::OkStatus();
}

absl::Status CheckGenerator(const std::string& wf, v1::WorkloadSpec* w, Templates* t) {
  switch (w->generator_case()) {
    case v1::WorkloadSpec::kHttp:
      return CheckHttp(wf, w, t);
    case v1::WorkloadSpec::kWrk: {
      v1::WrkSpec* g = w->mutable_wrk();
      if (g->connections() == 0) g->set_connections(kDefaultConnections);
      if (g->threads() == 0) g->set_threads(kDefaultThreads);
      return CheckExternalGenerator(wf + ".wrk", "url", g->url(), g, t);
    }
    case v1::WorkloadSpec::kPgbench: {
      v1::PgbenchSpec* g = w->mutable_pgbench();
      if (g->clients() == 0) g->set_clients(kDefaultPgbenchClients);
      if (g->jobs() == 0) g->set_jobs(kDefaultPgbenchJobs);
      return CheckExternalGenerator(wf + ".pgbench", "dsn", g->dsn(), g, t);
    }
    case v1::WorkloadSpec::kCommand:
      if (w->command().command().empty()) return Bad(wf + ".command", "is required");
      t->Add(wf + ".command", w->command().command());
      t->AddMap(wf + ".command.env", w->command().env());
      return absl::OkStatus();
    case v1::WorkloadSpec::kHarness:
      return CheckHarness(wf + ".harness", w, t);
    default:
      return Bad(wf, "needs a load generator: http, wrk, pgbench, command or harness");
  }
}

absl::Status CheckWorkload(const std::string& wf, v1::WorkloadSpec* w, Templates* t) {
  if (w->has_harness()) {
    // The harness decides how long it runs; `repetitions` counts runs of its command.
    if (w->warmup_seconds() || w->duration_seconds() || w->pause_seconds()) {
      return Bad(wf,
                 "warmup, duration and pause are not used with a harness (it decides how "
                 "long its benchmarks run)");
    }
    if (w->repetitions() == 0) w->set_repetitions(1);
  }
  if (w->repetitions() == 0) w->set_repetitions(kDefaultRepetitions);
  if (w->repetitions() > kMaxRepetitions)
    return Bad(wf + ".repetitions", absl::StrCat("at most ", kMaxRepetitions));
  if (w->phases_size() > 0) {
    // The phases carry their own generators (CheckPhases, once the stack is known).
    if (w->generator_case() != v1::WorkloadSpec::GENERATOR_NOT_SET ||
        w->faults().actions_size() > 0 || w->warmup_seconds() > 0)
      return Bad(wf, "give a generator or phases, not both (a load goes in a load: phase)");
    if (w->duration_seconds() == 0) w->set_duration_seconds(kDefaultDurationSeconds);
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(CheckGenerator(wf, w, t));  // stages may set the duration
  if (w->duration_seconds() == 0 && !w->has_harness())
    w->set_duration_seconds(kDefaultDurationSeconds);
  return absl::OkStatus();
}

// A phased workload's phases (docs/campaigns.md): names (they name the metrics), one kind each,
// bounds and defaults, templates ({i} in ops), and each load phase's generator and faults
// checked as a workload's are.
absl::Status CheckPhases(const std::string& wf, v1::BenchmarkJob* b, Templates* t) {
  v1::WorkloadSpec* w = b->mutable_workload();
  if (w->phases_size() > kMaxPhases)
    return Bad(wf + ".phases", absl::StrCat("at most ", kMaxPhases));
  std::set<std::string> names;
  for (int i = 0; i < w->phases_size(); ++i) {
    v1::PhaseSpec* ph = w->mutable_phases(i);
    const std::string pf = absl::StrCat(wf, ".phases[", i, "]");
    RETURN_IF_ERROR(CheckMetricName(pf + ".name", ph->name()));
    RETURN_IF_ERROR(CheckUnique(pf + ".name", ph->name(), &names));
    auto ops = [&](const std::string& of, v1::OpsSpec* o) -> absl::Status {
      if (o->count() == 0 || o->count() > 1000000)
        return Bad(of + ".count", "want 1 to 1000000 operations");
      if (o->concurrency() == 0) o->set_concurrency(1);
      if (o->concurrency() > 256) return Bad(of + ".concurrency", "at most 256");
      if (o->timeout_ms() == 0) o->set_timeout_ms(kDefaultOpTimeoutMs);
      const bool http = !o->target().empty() || o->has_request();
      if (o->command().empty() == !http)
        return Bad(of, "give a command, or a target and a request (HTTP), not both");
      if (http) {
        if (!IsHttpUrl(o->target())) return Bad(of + ".target", "want an http:// URL");
        v1::HttpRequestSpec* r = o->mutable_request();
        if (r->method().empty()) r->set_method("GET");
        if (r->path().empty()) r->set_path("/");
        if (r->path()[0] != '/') return Bad(of + ".request.path", "must start with /");
        if (!r->command().empty()) return Bad(of + ".request.command", "goes with redis load");
        t->AddIndexed(of + ".target", o->target());
        t->AddIndexed(of + ".request.path", r->path());
        t->AddIndexed(of + ".request.body", r->body());
        for (const auto& [k, v] : r->headers())
          t->AddIndexed(of + ".request.headers[" + k + "]", v);
      } else {
        t->AddIndexed(of + ".command", o->command());
      }
      return absl::OkStatus();
    };
    // A load or soak generator, checked as a one-generator workload of `seconds`.
    auto generator = [&](const std::string& gf, v1::WorkloadSpec&& g,
                         uint32_t seconds) -> absl::StatusOr<v1::WorkloadSpec*> {
      v1::WorkloadSpec& kept = t->scratch.emplace_back(std::move(g));
      kept.set_duration_seconds(seconds);
      kept.set_repetitions(1);
      RETURN_IF_ERROR(CheckGenerator(gf, &kept, t));
      return &kept;
    };
    switch (ph->kind_case()) {
      case v1::PhaseSpec::kOps:
        RETURN_IF_ERROR(ops(pf + ".ops", ph->mutable_ops()));
        break;
      case v1::PhaseSpec::kCleanup:
        RETURN_IF_ERROR(ops(pf + ".cleanup", ph->mutable_cleanup()));
        break;
      case v1::PhaseSpec::kWaitUntil: {
        v1::WaitUntilSpec* u = ph->mutable_wait_until();
        const std::string uf = pf + ".wait_until";
        if (u->command().empty() == u->url().empty())
          return Bad(uf, "give a command (true when it exits 0) or a url, not both");
        if (!u->url().empty() && !IsHttpUrl(u->url()))
          return Bad(uf + ".url", "want an http:// URL");
        if (u->url().empty() && (u->status() || !u->field().empty() || !u->equals().empty()))
          return Bad(uf, "status, field and equals go with a url");
        if (!u->equals().empty() && u->field().empty())
          return Bad(uf + ".field", "is required with equals (the JSON field to compare)");
        if (!u->url().empty() && u->status() == 0) u->set_status(200);
        if (u->interval_ms() == 0) u->set_interval_ms(kDefaultWaitIntervalMs);
        if (u->timeout_seconds() == 0) u->set_timeout_seconds(kDefaultWaitTimeoutSeconds);
        t->Add(uf + ".command", u->command());
        t->Add(uf + ".url", u->url());
        t->Add(uf + ".equals", u->equals());
        break;
      }
      case v1::PhaseSpec::kLoad: {
        v1::LoadPhase* l = ph->mutable_load();
        const std::string lf = pf + ".load";
        if (l->duration_seconds() == 0) l->set_duration_seconds(w->duration_seconds());
        v1::WorkloadSpec g = LoadPhaseWorkload(*l);
        g.clear_faults();  // checked against the stack below
        if (g.generator_case() == v1::WorkloadSpec::GENERATOR_NOT_SET)
          return Bad(lf, "needs a load generator: http, redis, wrk, pgbench or command");
        ASSIGN_OR_RETURN(v1::WorkloadSpec * kept,
                         generator(lf, std::move(g), l->duration_seconds()));
        l->set_duration_seconds(kept->duration_seconds());  // stages may set it
        SetLoadPhaseGenerator(*kept, l);
        RETURN_IF_ERROR(CheckFaults(lf + ".faults", l->mutable_faults(), l->has_http(),
                                    uint64_t{l->duration_seconds()} * 1000, b, t));
        break;
      }
      case v1::PhaseSpec::kSoak: {
        v1::SoakPhase* k = ph->mutable_soak();
        const std::string kf = pf + ".soak";
        if (k->duration_seconds() == 0) return Bad(kf + ".duration_seconds", "is required");
        if (k->sample_ms() == 0) k->set_sample_ms(kDefaultSoakSampleMs);
        if (uint64_t{k->sample_ms()} * 3 > uint64_t{k->duration_seconds()} * 1000)
          return Bad(kf + ".sample", "want at least 3 samples in the duration for a slope");
        if (k->has_http()) {
          v1::WorkloadSpec g;
          *g.mutable_http() = k->http();
          ASSIGN_OR_RETURN(v1::WorkloadSpec * kept,
                           generator(kf, std::move(g), k->duration_seconds()));
          if (kept->duration_seconds() != k->duration_seconds())
            return Bad(kf + ".http.stages", "a soak's load lasts its duration: give a rate");
          *k->mutable_http() = kept->http();
        }
        break;
      }
      default:
        return Bad(pf, "give exactly one of ops, wait_until, load, soak or cleanup");
    }
  }
  return absl::OkStatus();
}

using PromqlUses = std::vector<std::pair<std::string, std::string>>;  // (field, expr)

absl::Status CheckPrometheus(const std::string& f, v1::PrometheusSpec* pr, Templates* t,
                             PromqlUses* promql) {
  for (int i = 0; i < pr->scrape_size(); ++i) {
    v1::ScrapeTarget* s = pr->mutable_scrape(i);
    std::string sf = absl::StrCat(f, ".scrape[", i, "]");
    RETURN_IF_ERROR(CheckMetricName(sf + ".job", s->job()));
    if (s->target().empty()) return Bad(sf + ".target", "is required (host:port)");
    if (s->path().empty()) s->set_path("/metrics");
    if (s->path()[0] != '/') return Bad(sf + ".path", "must start with /");
    t->Add(sf + ".target", s->target());
  }
  if (pr->queries_size() > 200) return Bad(f + ".queries", "at most 200");
  std::set<std::string> names;
  for (int i = 0; i < pr->queries_size(); ++i) {
    v1::PromQuery* q = pr->mutable_queries(i);
    std::string qf = absl::StrCat(f, ".queries[", i, "]");
    RETURN_IF_ERROR(CheckMetricName(qf + ".name", q->name()));
    RETURN_IF_ERROR(CheckUnique(qf + ".name", q->name(), &names));
    if (q->expr().empty()) return Bad(qf + ".expr", "is required (PromQL)");
    if (q->expr().size() > 4096) return Bad(qf + ".expr", "at most 4096 bytes");
    if (q->mode() == v1::PromQuery::MODE_UNSPECIFIED) q->set_mode(v1::PromQuery::MODE_INSTANT);
    if (q->mode() != v1::PromQuery::MODE_RANGE && q->step_ms() != 0)
      return Bad(qf + ".step_ms", "belongs to a range query (mode: range)");
    if (q->mode() == v1::PromQuery::MODE_RANGE && q->step_ms() == 0)
      q->set_step_ms(kDefaultRangeStepMs);
    if (q->mode() == v1::PromQuery::MODE_RANGE && q->step_ms() < 100)
      return Bad(qf + ".step_ms", "at least 100");
    promql->emplace_back("spec." + qf + ".expr", q->expr());
  }
  return absl::OkStatus();
}

// `soaks`: the workload has a soak phase, which takes every profiled service's heap at its start
// and end, so a profile may ask for nothing else.
absl::Status CheckProfiles(const std::string& f, v1::ObserveSpec* o, uint32_t window, bool soaks,
                           Templates* t) {
  if (o->profiles_size() > 32) return Bad(f + ".profiles", "at most 32");
  std::set<std::string> services;
  for (int i = 0; i < o->profiles_size(); ++i) {
    const v1::ProfileSpec& p = o->profiles(i);
    std::string pf = absl::StrCat(f, ".profiles[", i, "]");
    RETURN_IF_ERROR(CheckMetricName(pf + ".service", p.service()));
    RETURN_IF_ERROR(CheckUnique(pf + ".service", p.service(), &services));
    if (p.url().empty()) return Bad(pf + ".url", "is required (the /debug/pprof base URL)");
    if (!IsHttpUrl(p.url())) return Bad(pf + ".url", "must be an http:// URL");
    t->Add(pf + ".url", p.url());
    if (p.cpu_seconds() > window) {
      return Bad(pf + ".cpu_seconds",
                 absl::StrCat("longer than the measured window (", window, "s)"));
    }
    for (int e = 0; e < p.extra_size(); ++e) {
      if (std::find(std::begin(kExtraProfiles), std::end(kExtraProfiles), p.extra(e)) ==
          std::end(kExtraProfiles)) {
        return Bad(absl::StrCat(pf, ".extra[", e, "]"),
                   "'" + p.extra(e) + "': want one of " + absl::StrJoin(kExtraProfiles, ", "));
      }
    }
    if (!p.cpu_seconds() && !p.heap_before() && !p.heap_after() && !p.heap_every_seconds() &&
        p.extra().empty() && !soaks)
      return Bad(pf,
                 "captures nothing: give cpu, heap, heap_every or extra (or add a soak phase, "
                 "whose start and end it profiles)");
  }
  return absl::OkStatus();
}

absl::Status CheckPostgresStats(const std::string& f, v1::PostgresStatsSpec* pg, Templates* t) {
  if (pg->dsn().empty()) return Bad(f + ".dsn", "is required");
  if (pg->top() == 0) pg->set_top(kDefaultPgTopStatements);
  if (pg->top() > kMaxPgTopStatements)
    return Bad(f + ".top", absl::StrCat("at most ", kMaxPgTopStatements));
  t->Add(f + ".dsn", pg->dsn());
  std::set<std::string> names;
  for (int i = 0; i < pg->explain_size(); ++i) {
    std::string ef = absl::StrCat(f, ".explain[", i, "]");
    RETURN_IF_ERROR(CheckMetricName(ef + ".name", pg->explain(i).name()));
    RETURN_IF_ERROR(CheckUnique(ef + ".name", pg->explain(i).name(), &names));
    if (pg->explain(i).sql().empty()) return Bad(ef + ".sql", "is required");
  }
  return absl::OkStatus();
}

absl::Status CheckObserve(const std::string& f, v1::ObserveSpec* o, uint32_t window, bool soaks,
                          Templates* t, PromqlUses* promql) {
  if (o->has_prometheus())
    RETURN_IF_ERROR(CheckPrometheus(f + ".prometheus", o->mutable_prometheus(), t, promql));
  RETURN_IF_ERROR(CheckProfiles(f, o, window, soaks, t));
  if (o->has_postgres())
    RETURN_IF_ERROR(CheckPostgresStats(f + ".postgres", o->mutable_postgres(), t));
  return absl::OkStatus();
}

absl::Status CheckLimits(const std::string& f, const v1::BenchmarkJob& b) {
  for (int i = 0; i < b.limits_size(); ++i) {
    const auto& l = b.limits(i);
    const std::string lf = absl::StrCat(f, ".limits[", i, "]");
    if (l.metric().empty()) return Bad(lf + ".metric", "is required");
    for (const auto& [name, has, v] :
         {std::tuple{"max", l.has_max(), l.max()}, std::tuple{"min", l.has_min(), l.min()},
          std::tuple{"target", l.has_target(), l.target()},
          std::tuple{"acceptable", l.has_acceptable(), l.acceptable()},
          std::tuple{"critical", l.has_critical(), l.critical()}}) {
      if (has && !std::isfinite(v)) return Bad(lf + "." + name, "must be a finite number");
    }
    if (!l.has_max() && !l.has_min() && !HasLevels(l))
      return Bad(lf, "give max, min, or target/acceptable/critical levels");
    if (auto s = CheckLimitLevels(l); !s.ok()) return Bad(lf, std::string(s.message()));
  }
  return absl::OkStatus();
}

absl::Status CheckAnalysis(const std::string& f, const v1::AnalysisSpec& a,
                           const SpecLimits& limits) {
  auto fraction = [](const std::string& field, double v) {
    return v >= 0 && v <= 1 ? absl::OkStatus()
                            : Bad(field, absl::StrCat("must be a fraction from 0 to 1; got ", v));
  };
  if (a.has_min_effect()) RETURN_IF_ERROR(fraction(f + ".min_effect", a.min_effect()));
  if (a.gate_size() > kMaxAnalysisPatterns || a.metrics_size() > kMaxAnalysisPatterns)
    return Bad(f, absl::StrCat("at most ", kMaxAnalysisPatterns, " gate and metrics entries"));
  for (int i = 0; i < a.gate_size(); ++i) {
    RETURN_IF_ERROR(
        CheckString(absl::StrCat(f, ".gate[", i, "]"), a.gate(i), limits.max_string_bytes, true));
  }
  for (int i = 0; i < a.metrics_size(); ++i) {
    const std::string mf = absl::StrCat(f, ".metrics[", i, "]");
    RETURN_IF_ERROR(
        CheckString(mf + ".metric", a.metrics(i).metric(), limits.max_string_bytes, true));
    if (a.metrics(i).has_min_effect())
      RETURN_IF_ERROR(fraction(mf + ".min_effect", a.metrics(i).min_effect()));
    if (!a.metrics(i).has_min_effect() && !a.metrics(i).has_gate())
      return Bad(mf, "give min_effect or gate for the metric");
  }
  if (a.max_repetitions() > kMaxRepetitions)
    return Bad(f + ".max_repetitions", absl::StrCat("at most ", kMaxRepetitions));
  if (a.max_confirmation_seconds() > limits.max_timeout_seconds) {
    return Bad(f + ".max_confirmation_seconds",
               absl::StrCat("at most ", limits.max_timeout_seconds));
  }
  return absl::OkStatus();
}

// The attempt's timeout covers the whole workload, with room; by default twice it (2 h at least).
absl::Status CheckBenchmarkTimeouts(const std::string& f, v1::BenchmarkJob* b,
                                    const SpecLimits& limits) {
  const v1::WorkloadSpec& w = b->workload();
  uint64_t total =
      uint64_t{w.repetitions()} *
      (w.has_harness() ? w.harness().timeout_seconds()
                       : w.warmup_seconds() + w.duration_seconds() + w.pause_seconds());
  if (b->timeout_seconds() == 0)
    b->set_timeout_seconds(std::max<uint64_t>(kMinBenchmarkTimeoutSeconds, total * 2));
  if (b->timeout_seconds() > limits.max_timeout_seconds)
    return Bad(f + ".timeout_seconds", absl::StrCat("at most ", limits.max_timeout_seconds));
  if (total > b->timeout_seconds()) {
    return Bad(f + ".timeout_seconds",
               absl::StrCat("the workload alone takes ", total, "s; the timeout is ",
                            b->timeout_seconds(), "s"));
  }
  if (b->cancel_grace_seconds() == 0) b->set_cancel_grace_seconds(kDefaultCancelGraceSeconds);
  return absl::OkStatus();
}

absl::Status CheckBenchmark(const std::string& f, v1::BenchmarkJob* b, const SpecLimits& limits,
                            PromqlUses* promql) {
  Templates t;
  if (b->has_build()) {
    v1::BuildSpec* build = b->mutable_build();
    if (build->repository().empty()) return Bad(f + ".build.repository", "is required");
    t.AddAll(f + ".build.commands", build->commands());
    t.AddMap(f + ".build.env", build->env());
    if (build->timeout_seconds() == 0) build->set_timeout_seconds(kDefaultBuildTimeoutSeconds);
  }
  if (b->has_stack()) RETURN_IF_ERROR(CheckStack(f + ".stack", b->mutable_stack(), &t));
  for (int i = 0; i < b->fixtures_size(); ++i) {
    RETURN_IF_ERROR(
        CheckFixture(absl::StrCat(f, ".fixtures[", i, "]"), b->mutable_fixtures(i), &t));
  }
  RETURN_IF_ERROR(CheckWorkload(f + ".workload", b->mutable_workload(), &t));
  RETURN_IF_ERROR(CheckFaults(f + ".workload.faults", b->mutable_workload()->mutable_faults(),
                              b->workload().has_http(),
                              uint64_t{b->workload().duration_seconds()} * 1000, b, &t));
  RETURN_IF_ERROR(CheckPhases(f + ".workload", b, &t));
  if (b->has_observe() && b->workload().has_harness()) {
    return Bad(f + ".observe", "not with a harness: its report has no measured windows to observe");
  }
  if (b->has_observe()) {
    const auto& phases = b->workload().phases();
    const bool soaks = std::any_of(phases.begin(), phases.end(),
                                   [](const v1::PhaseSpec& p) { return p.has_soak(); });
    RETURN_IF_ERROR(CheckObserve(f + ".observe", b->mutable_observe(),
                                 b->workload().duration_seconds(), soaks, &t, promql));
  }
  RETURN_IF_ERROR(CheckLimits(f, *b));
  if (b->has_analysis()) RETURN_IF_ERROR(CheckAnalysis(f + ".analysis", b->analysis(), limits));
  RETURN_IF_ERROR(CheckBenchmarkTimeouts(f, b, limits));
  return t.Check(b->has_build());
}

absl::Status CheckCommandJob(const std::string& f, v1::CommandJob* cmd, const SpecLimits& limits) {
  RETURN_IF_ERROR(CheckString(f + ".command", cmd->command(), limits.max_command_bytes, true));
  RETURN_IF_ERROR(
      CheckString(f + ".working_dir", cmd->working_dir(), limits.max_string_bytes, false));
  if (cmd->env_size() > static_cast<int>(limits.max_env_entries))
    return Bad(f + ".env", absl::StrCat("at most ", limits.max_env_entries, " entries"));
  for (const auto& [k, v] : cmd->env()) {
    if (k.empty() || k.find('=') != std::string::npos)
      return Bad(f + ".env", "variable name '" + k + "' is empty or contains '='");
    RETURN_IF_ERROR(CheckString(f + ".env[" + k + "]", v, limits.max_command_bytes, false));
  }
  if (cmd->timeout_seconds() == 0) cmd->set_timeout_seconds(kDefaultCommandTimeoutSeconds);
  if (cmd->timeout_seconds() > limits.max_timeout_seconds)
    return Bad(f + ".timeout_seconds", absl::StrCat("at most ", limits.max_timeout_seconds));
  if (cmd->cancel_grace_seconds() == 0) cmd->set_cancel_grace_seconds(kDefaultCancelGraceSeconds);
  if (cmd->cancel_grace_seconds() > 3600) return Bad(f + ".cancel_grace_seconds", "at most 3600");
  return absl::OkStatus();
}

absl::Status CheckSuiteFileJob(const std::string& f, const v1::SuiteFileJob& j,
                               const SpecLimits& limits) {
  RETURN_IF_ERROR(CheckString(f + ".repository", j.repository(), limits.max_string_bytes, true));
  RETURN_IF_ERROR(CheckString(f + ".path", j.path(), limits.max_string_bytes, true));
  if (j.path()[0] == '/' || j.path().find('\\') != std::string::npos)
    return Bad(f + ".path", "want a path relative to the repository's root, with /");
  for (absl::string_view part : absl::StrSplit(j.path(), '/')) {
    if (part.empty() || part == "." || part == "..")
      return Bad(f + ".path", "'" + j.path() + "': no empty, . or .. parts");
  }
  if (j.repetitions() > kMaxRepetitions)
    return Bad(f + ".repetitions", absl::StrCat("at most ", kMaxRepetitions));
  return absl::OkStatus();
}

absl::Status CheckJob(const std::string& f, int index, v1::JobSpec* job, const SpecLimits& limits,
                      std::set<std::string>* names, PromqlUses* promql) {
  if (job->name().empty()) job->set_name(absl::StrCat("job-", index));
  RETURN_IF_ERROR(CheckString(f + ".name", job->name(), limits.max_string_bytes, true));
  RETURN_IF_ERROR(CheckUnique(f + ".name", job->name(), names));
  for (const auto& [k, v] : job->agent_selector()) {
    RETURN_IF_ERROR(CheckString(f + ".agent_selector key", k, limits.max_string_bytes, true));
    RETURN_IF_ERROR(
        CheckString(f + ".agent_selector[" + k + "]", v, limits.max_string_bytes, false));
    uint64_t at_least = 0;
    if (absl::StartsWith(v, ">=") && !absl::SimpleAtoi(v.substr(2), &at_least)) {
      return Bad(f + ".agent_selector[" + k + "]",
                 "'" + v + "': a minimum is >= and a whole number, like >=4");
    }
  }
  RETURN_IF_ERROR(CheckString(f + ".commit", job->commit(), limits.max_string_bytes, false));
  if (job->has_arm()) return Bad(f + ".arm", "is set by the controller for confirmation runs");
  // A stack on test hosts goes only to an agent that can make them, as many, with the memory.
  // A pool of ssh hosts has as many machines as it lists, each of its own size.
  if (const v1::ExecStack& ex = job->benchmark().stack().exec(); ex.hosts_size() > 0) {
    auto& selector = *job->mutable_agent_selector();
    uint64_t hosts = 0, memory = 0;
    for (const auto& h : ex.hosts()) {
      hosts += h.count();
      memory += h.count() * h.memory_bytes();
    }
    if (ex.provider() == "ssh") {
      selector[kSshHostsLabel] = absl::StrCat(">=", hosts);
    } else {
      selector[kNetnsHostsLabel] = "true";
      selector[kMaxHostsLabel] = absl::StrCat(">=", hosts);
      if (memory > 0)
        selector[kHostsMemoryLabel] = absl::StrCat(">=", (memory + (1 << 20) - 1) >> 20);
    }
  }
  if (job->max_attempts() == 0) job->set_max_attempts(limits.default_max_attempts);  // 0 stays
  if (job->max_attempts() > kMaxAttempts)
    return Bad(f + ".max_attempts", absl::StrCat("at most ", kMaxAttempts));
  if (job->ByteSizeLong() > limits.max_job_spec_bytes) {
    return Bad(f, absl::StrCat("is ", job->ByteSizeLong(), " bytes serialised; at most ",
                               limits.max_job_spec_bytes));
  }
  if (job->has_benchmark())
    return CheckBenchmark(f + ".benchmark", job->mutable_benchmark(), limits, promql);
  if (job->has_suite_file()) return CheckSuiteFileJob(f + ".suite_file", job->suite_file(), limits);
  if (job->has_commit_range()) {
    return Bad(f + ".commit_range",
               "is made by the controller for a bisection; start one with perfgate bisect start");
  }
  if (!job->has_command()) return Bad(f + ".command", "is required (or benchmark)");
  return CheckCommandJob(f + ".command", job->mutable_command(), limits);
}

absl::Status CheckRunFields(v1::RunSpec* spec, const SpecLimits& limits) {
  for (auto [field, value] :
       {std::pair<const char*, const std::string*>{"project", &spec->project()},
        {"branch", &spec->branch()},
        {"commit", &spec->commit()},
        {"suite_name", &spec->suite_name()},
        {"baseline_branch", &spec->baseline_branch()}}) {
    RETURN_IF_ERROR(CheckString(field, *value, limits.max_string_bytes, false));
  }
  if (!v1::RunKind_IsValid(spec->kind())) return Bad("kind", "unknown run kind");
  if (spec->baseline_runs() < 0 || spec->baseline_runs() > kMaxBaselineRuns) {
    return Bad("baseline_runs", absl::StrCat("must be 1..", kMaxBaselineRuns, " (0: the default, ",
                                             kDefaultBaselineRuns, ")"));
  }
  if (spec->baseline_runs() == 0) spec->set_baseline_runs(kDefaultBaselineRuns);
  if (spec->against_run_id() < 0) return Bad("against_run_id", "must be a run id");
  if (spec->kind() == v1::RUN_KIND_UNSPECIFIED) spec->set_kind(v1::RUN_KIND_EXPERIMENT);
  if (spec->aa() && spec->kind() != v1::RUN_KIND_EXPERIMENT)
    return Bad("aa", "an A/A run is an experiment: kind must be RUN_KIND_EXPERIMENT");
  if (spec->aa() && spec->against_run_id() != 0)
    return Bad("aa", "an A/A run is compared with its branch's baseline, not against_run_id");
  if (spec->confirms_run_id() != 0)
    return Bad("confirms_run_id",
               "is set by the controller for the confirmation runs it schedules");
  if (spec->bisection_id() != 0)
    return Bad("bisection_id",
               "is set by the controller for a bisection's steps; start one with perfgate bisect "
               "start");
  return absl::OkStatus();
}

}  // namespace

std::string PhaseMetricPrefix(const std::string& kind, const std::string& name) {
  return name == kind || name.empty() ? kind : kind + "." + name;
}

v1::WorkloadSpec LoadPhaseWorkload(const v1::LoadPhase& l) {
  v1::WorkloadSpec w;
  if (l.has_http()) *w.mutable_http() = l.http();
  if (l.has_wrk()) *w.mutable_wrk() = l.wrk();
  if (l.has_pgbench()) *w.mutable_pgbench() = l.pgbench();
  if (l.has_command()) *w.mutable_command() = l.command();
  if (l.has_faults()) *w.mutable_faults() = l.faults();
  w.set_duration_seconds(l.duration_seconds());
  return w;
}

void SetLoadPhaseGenerator(const v1::WorkloadSpec& w, v1::LoadPhase* l) {
  if (w.has_http()) *l->mutable_http() = w.http();
  if (w.has_wrk()) *l->mutable_wrk() = w.wrk();
  if (w.has_pgbench()) *l->mutable_pgbench() = w.pgbench();
  if (w.has_command()) *l->mutable_command() = w.command();
}

absl::Status ValidateAndDefaultRunSpec(v1::RunSpec* spec, const SpecLimits& limits) {
  RETURN_IF_ERROR(CheckRunFields(spec, limits));
  if (spec->jobs().empty()) return Bad("jobs", "must be a non-empty list");
  if (spec->jobs_size() > limits.max_jobs) {
    return Bad("jobs", absl::StrCat("has ", spec->jobs_size(), " jobs; at most ", limits.max_jobs,
                                    " allowed"));
  }
  PromqlUses promql;
  std::set<std::string> names;
  for (int i = 0; i < spec->jobs_size(); ++i) {
    RETURN_IF_ERROR(
        CheckJob(absl::StrCat("jobs[", i, "]"), i, spec->mutable_jobs(i), limits, &names, &promql));
  }
  if (!limits.promtool.empty()) RETURN_IF_ERROR(CheckPromql(limits.promtool, promql));
  return absl::OkStatus();
}

std::string SpecErrorField(const absl::Status& s) {
  auto p = s.GetPayload(kSpecFieldPayload);
  return p ? std::string(*p) : "";
}

std::string SpecErrorProblem(const absl::Status& s) {
  const std::string field = SpecErrorField(s);
  absl::string_view m = s.message();
  const std::string prefix = "spec." + field + ": ";
  if (!field.empty() && m.rfind(prefix, 0) == 0) m.remove_prefix(prefix.size());
  return std::string(m);
}

}  // namespace perfgate::common
