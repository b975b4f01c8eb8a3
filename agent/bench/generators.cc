#include "agent/bench/generators.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/exec/readiness.h"
#include "common/http/url.h"
#include "common/status/macros.h"

namespace perfgate::agent {
namespace {

void Add(v1::RepetitionResult* out, const std::string& name, const std::string& unit, double v,
         v1::Direction d) {
  AddMeasurement(out, name, unit, v, d);
}

void AddHistogram(v1::RepetitionResult* out, const std::string& name,
                  const common::HdrHistogram& h) {
  v1::NamedHistogram* nh = out->add_histograms();
  nh->set_name(name);
  *nh->mutable_histogram() = h.ToProto();
}

void AddPercentiles(v1::RepetitionResult* out, const std::string& prefix,
                    const common::HdrHistogram& h, bool with_mean = true) {
  if (h.total() == 0) return;
  for (auto [suffix, p] : {std::pair{"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p999", 99.9}}) {
    Add(out, prefix + "." + suffix, "ms", h.ValueAtPercentile(p) / 1000.0, kLower);
  }
  if (with_mean) Add(out, prefix + ".mean", "ms", h.mean() / 1000.0, kLower);
  Add(out, prefix + ".max", "ms", h.max() / 1000.0, kLower);
}

// An endpoint name usable inside a metric name: "GET /a b" -> "GET_a_b".
std::string MetricSafe(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    if (ok) {
      out += c;
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "endpoint" : out;
}

// "127.00us", "1.5ms", "2.01s", "1.2m" -> milliseconds.
bool ParseWrkDuration(const std::string& s, double* ms) {
  static const std::pair<const char*, double> kUnits[] = {
      {"us", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}};
  for (auto [unit, scale] : kUnits) {
    size_t n = strlen(unit);
    if (s.size() > n && s.compare(s.size() - n, n, unit) == 0) {
      double v;
      if (!absl::SimpleAtod(s.substr(0, s.size() - n), &v)) return false;
      *ms = v * scale;
      return true;
    }
  }
  return false;
}

absl::Status RunHttp(const v1::HttpLoadSpec& h, absl::Duration window, bool warmup,
                     BenchContext& ctx, v1::RepetitionResult* out, LoadTimeline* timeline) {
  const bool redis = h.protocol() == v1::HttpLoadSpec::PROTOCOL_REDIS;
  const std::string kind = redis ? "redis" : "http";
  auto expand = [&](const std::string& field,
                    const std::string& text) -> absl::StatusOr<std::string> {
    auto v = ctx.Expand(text);
    if (!v.ok())
      return absl::FailedPreconditionError(kind + "." + field + ": " +
                                           std::string(v.status().message()));
    return v;
  };
  LoadOptions o;
  std::string base;
  if (redis) {
    o.protocol = LoadOptions::Protocol::kRedis;
    for (const auto& s : h.sentinels()) {
      ASSIGN_OR_RETURN(std::string v, expand("sentinels", s));
      o.sentinels.push_back(v);
    }
    o.sentinel_master = h.master();
    if (o.sentinels.empty()) {
      ASSIGN_OR_RETURN(std::string target, expand("target", h.target()));
      const size_t colon = target.rfind(':');
      if (colon == std::string::npos || !absl::SimpleAtoi(target.substr(colon + 1), &o.port))
        return absl::FailedPreconditionError("redis.target: '" + target + "' is not HOST:PORT");
      o.host = target.substr(0, colon);
    }
  } else {
    ASSIGN_OR_RETURN(std::string target, expand("target", h.target()));
    if (!common::SplitHttpUrl(target, &o.host, &o.port, &base))
      return absl::FailedPreconditionError("http.target: '" + target + "' is not an http:// URL");
    if (base == "/") base.clear();
  }
  for (const auto& r : h.requests()) {
    LoadRequest lr;
    for (const auto& a : r.command()) {
      ASSIGN_OR_RETURN(std::string v, expand("requests.command", a));
      lr.command.push_back(v);
    }
    lr.name = r.name();
    lr.method = r.method().empty() ? "GET" : r.method();
    lr.path = base + (r.path().empty() ? "/" : r.path());
    for (const auto& [k, v] : r.headers()) lr.headers.emplace_back(k, v);
    lr.body = r.body();
    lr.weight = r.weight();
    o.mix.push_back(lr);
  }
  if (o.mix.empty()) {
    LoadRequest whole;
    whole.path = base.empty() ? "/" : base;
    o.mix.push_back(whole);
  }
  o.connections = h.connections();
  o.threads = h.threads();
  o.timeout = absl::Milliseconds(h.timeout_ms());
  o.poisson = h.poisson();
  o.max_generator_lag_p99 =
      absl::Microseconds(h.max_generator_lag_p99_us() ? h.max_generator_lag_p99_us() : 10'000);
  o.duration = window;
  o.stop = &ctx.cancel;
  if (!h.closed_loop()) {
    if (h.stages_size() > 0 && !warmup) {
      for (const auto& s : h.stages()) {
        o.stages.push_back({absl::Seconds(s.duration_seconds()), s.rate(),
                            s.rate_to() > 0 ? s.rate_to() : s.rate()});
      }
    } else {
      // A warm-up of a staged workload runs at its first stage's rate.
      o.rate = h.stages_size() > 0 ? std::max(h.stages(0).rate(), h.stages(0).rate_to()) : h.rate();
    }
  }
  if (timeline) {
    o.start_ns = timeline->start_ns;
    o.timeline_slice = timeline->slice;
    // A fault is meant to cost answers: the rate check is off in a fault window (the
    // generator's own lag is still checked).
    o.min_rate_fraction = 0;
  }
  auto res = RunLoad(o);
  if (!res.ok())
    return absl::FailedPreconditionError(kind + " load: " + std::string(res.status().message()));
  if (timeline) {
    timeline->slices = std::move(res->timeline);
    timeline->window = res->duration;
  }
  if (ctx.cancel) return absl::CancelledError("cancelled");
  out->set_generator(kind + (res->open_loop ? "-open-loop" : "-closed-loop"));
  AddHttpLoadResult(*res, out, kind);
  return absl::OkStatus();
}

absl::Status RunWrk(const v1::WrkSpec& w, absl::Duration window, BenchContext& ctx,
                    v1::RepetitionResult* out) {
  auto url = ctx.Expand(w.url());
  if (!url.ok()) return absl::FailedPreconditionError(url.status().message());
  StepOptions o;
  o.spawn.argv = {"wrk",
                  "-t",
                  std::to_string(w.threads()),
                  "-c",
                  std::to_string(w.connections()),
                  "-d",
                  absl::StrCat(absl::ToInt64Seconds(window), "s"),
                  "--latency"};
  for (const auto& a : w.args()) {
    auto v = ctx.Expand(a);
    if (!v.ok()) return absl::FailedPreconditionError(v.status().message());
    o.spawn.argv.push_back(*v);
  }
  o.spawn.argv.push_back(*url);
  o.timeout = window + absl::Seconds(60);
  o.capture_stdout = 1 << 20;
  StepResult r = ctx.steps.Run(o);
  if (r.cancelled) return absl::CancelledError("cancelled");
  if (!r.ok()) return absl::FailedPreconditionError(DescribeFailure("wrk", r));
  out->set_generator("wrk");
  return ParseWrkOutput(r.stdout_text, out);
}

absl::Status RunPgbench(const v1::PgbenchSpec& p, absl::Duration window, BenchContext& ctx,
                        v1::RepetitionResult* out) {
  auto dsn = ctx.Expand(p.dsn());
  if (!dsn.ok()) return absl::FailedPreconditionError(dsn.status().message());
  std::string logdir = ctx.workdir + "/pgbench-log";
  std::error_code ec;
  std::filesystem::remove_all(logdir, ec);
  std::filesystem::create_directories(logdir, ec);
  GiveToJob(ctx.steps.sandbox(), logdir);  // pgbench writes its logs there
  StepOptions o;
  o.spawn.argv = {"pgbench",
                  "-c",
                  std::to_string(p.clients()),
                  "-j",
                  std::to_string(p.jobs()),
                  "-T",
                  std::to_string(absl::ToInt64Seconds(window)),
                  "-l",
                  "--log-prefix=" + logdir + "/tx"};
  for (const auto& a : p.args()) {
    auto v = ctx.Expand(a);
    if (!v.ok()) return absl::FailedPreconditionError(v.status().message());
    o.spawn.argv.push_back(*v);
  }
  o.spawn.argv.push_back(*dsn);
  o.spawn.working_dir = logdir;
  o.timeout = window + absl::Seconds(120);
  o.capture_stdout = 1 << 20;
  StepResult r = ctx.steps.Run(o);
  if (r.cancelled) return absl::CancelledError("cancelled");
  if (!r.ok()) return absl::FailedPreconditionError(DescribeFailure("pgbench", r));
  out->set_generator("pgbench");
  if (auto s = ParsePgbenchOutput(r.stdout_text, out); !s.ok()) return s;
  // Per-transaction log lines: client_id transaction_no time_us script_no epoch epoch_us
  auto hist = common::HdrHistogram::Create();
  if (!hist.ok()) return hist.status();
  for (const auto& e : std::filesystem::directory_iterator(logdir, ec)) {
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      int64_t us;
      if (f.size() >= 3 && absl::SimpleAtoi(f[2], &us)) hist->Record(us);
    }
  }
  std::filesystem::remove_all(logdir, ec);
  if (hist->total() > 0) {
    // pgbench's own summary already gave the mean.
    AddPercentiles(out, "pg.latency", *hist, /*with_mean=*/false);
    AddHistogram(out, "pg.latency", *hist);
  }
  return absl::OkStatus();
}

absl::Status RunCommand(const v1::CommandLoadSpec& c, absl::Duration window, bool warmup,
                        BenchContext& ctx, v1::RepetitionResult* out) {
  auto cmd = ctx.Expand(c.command());
  if (!cmd.ok()) return absl::FailedPreconditionError(cmd.status().message());
  StepOptions o;
  o.spawn.argv = {"/bin/sh", "-c", *cmd};
  o.spawn.working_dir = ctx.workdir;
  for (const auto& [k, v] : c.env()) {
    auto e = ctx.Expand(v);
    if (!e.ok()) return absl::FailedPreconditionError(e.status().message());
    o.spawn.env_add[k] = *e;
  }
  o.spawn.env_add["PERFGATE_DURATION_SECONDS"] = std::to_string(absl::ToInt64Seconds(window));
  o.spawn.env_add["PERFGATE_WARMUP"] = warmup ? "1" : "0";
  o.timeout = window * 2 + absl::Seconds(60);
  o.capture_stdout = 1 << 20;
  o.stream_output = false;  // stdout is the result document; stderr is kept below
  StepResult r = ctx.steps.Run(o);
  if (r.cancelled) return absl::CancelledError("cancelled");
  if (!r.ok()) return absl::FailedPreconditionError(DescribeFailure("command generator", r));
  out->set_generator("command");
  return ParseCommandOutput(r.stdout_text, out);
}

}  // namespace

void AddMeasurement(v1::RepetitionResult* out, const std::string& name, const std::string& unit,
                    double v, v1::Direction d) {
  v1::Measurement* m = out->add_measurements();
  m->set_name(name);
  m->set_unit(unit);
  m->set_value(v);
  m->set_direction(d);
}

void AddHttpLoadResult(const LoadResult& r, v1::RepetitionResult* out, const std::string& kind) {
  const EndpointStats& t = r.total;
  const std::string k = kind + ".";
  Add(out, k + "throughput", "req/s", r.achieved_rate, kHigher);
  Add(out, k + "requests", "count", static_cast<double>(t.completed), kHigher);
  int64_t bad_status = 0;
  for (const auto& [code, n] : t.status_counts) bad_status += code >= 400 ? n : 0;
  Add(out, k + "errors", "count", static_cast<double>(t.errors + t.timeouts + bad_status), kLower);
  Add(out, k + "error_ratio", "ratio",
      t.sent ? static_cast<double>(t.errors + t.timeouts + bad_status) / t.sent : 0, kLower);
  AddPercentiles(out, k + "latency", t.latency);
  AddPercentiles(out, k + "service_time", t.service_time);
  AddHistogram(out, k + "latency", t.latency);
  AddHistogram(out, k + "service_time", t.service_time);
  if (r.open_loop) {
    Add(out, k + "target_rate", "req/s", r.target_rate, kHigher);
    Add(out, k + "sched_delay.p99", "ms", t.scheduling_delay.ValueAtPercentile(99) / 1000.0,
        kLower);
    Add(out, k + "generator_lag.p99", "ms", t.generator_lag.ValueAtPercentile(99) / 1000.0, kLower);
    AddHistogram(out, k + "sched_delay", t.scheduling_delay);
  }
  if (r.endpoints.size() > 1) {
    for (const auto& [name, s] : r.endpoints) {
      std::string p = k + MetricSafe(name);
      Add(out, p + ".requests", "count", static_cast<double>(s.completed), kHigher);
      if (s.latency.total() > 0) {
        Add(out, p + ".latency.p50", "ms", s.latency.ValueAtPercentile(50) / 1000.0, kLower);
        Add(out, p + ".latency.p99", "ms", s.latency.ValueAtPercentile(99) / 1000.0, kLower);
      }
      AddHistogram(out, p + ".latency", s.latency);
    }
  }
  out->set_valid(r.valid);
  out->set_invalid_reason(r.invalid_reason);
}

absl::Status ParseWrkOutput(const std::string& text, v1::RepetitionResult* out) {
  bool have_rate = false;
  int64_t errors = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    std::string line(absl::StripAsciiWhitespace(raw));
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.empty()) continue;
    double v;
    if (f[0] == "Requests/sec:" && f.size() == 2 && absl::SimpleAtod(f[1], &v)) {
      Add(out, "http.throughput", "req/s", v, kHigher);
      have_rate = true;
    } else if (f.size() == 2 &&
               (f[0] == "50%" || f[0] == "75%" || f[0] == "90%" || f[0] == "99%")) {
      double ms;
      if (!ParseWrkDuration(f[1], &ms))
        return absl::FailedPreconditionError("wrk: cannot read latency '" + f[1] + "'");
      Add(out, "http.latency.p" + f[0].substr(0, 2), "ms", ms, kLower);
    } else if (f[0] == "Latency" && f.size() >= 4) {
      double ms;
      if (ParseWrkDuration(f[1], &ms)) Add(out, "http.latency.mean", "ms", ms, kLower);
      if (ParseWrkDuration(f[3], &ms)) Add(out, "http.latency.max", "ms", ms, kLower);
    } else if (absl::StartsWith(line, "Socket errors:")) {
      // Socket errors: connect 0, read 0, write 0, timeout 0
      for (size_t i = 2; i + 1 < f.size(); i += 2) {
        int64_t n;
        std::string num = f[i + 1];
        if (!num.empty() && num.back() == ',') num.pop_back();
        if (absl::SimpleAtoi(num, &n)) errors += n;
      }
    } else if (absl::StartsWith(line, "Non-2xx or 3xx responses:")) {
      int64_t n;
      if (absl::SimpleAtoi(f.back(), &n)) errors += n;
    } else if (f.size() >= 3 && f[1] == "requests" && f[2] == "in") {
      int64_t n;
      if (absl::SimpleAtoi(f[0], &n)) Add(out, "http.requests", "count", n, kHigher);
    }
  }
  if (!have_rate) return absl::FailedPreconditionError("wrk: no Requests/sec line in its output");
  Add(out, "http.errors", "count", static_cast<double>(errors), kLower);
  out->set_valid(true);
  return absl::OkStatus();
}

absl::Status ParsePgbenchOutput(const std::string& text, v1::RepetitionResult* out) {
  bool have_tps = false;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    std::string line(absl::StripAsciiWhitespace(raw));
    double v;
    auto after = [&](const char* prefix, double* x) {
      if (!absl::StartsWith(line, prefix)) return false;
      std::vector<std::string> f =
          absl::StrSplit(line.substr(strlen(prefix)), ' ', absl::SkipEmpty());
      return !f.empty() && absl::SimpleAtod(f[0], x);
    };
    if (after("tps = ", &v)) {
      Add(out, "pg.tps", "tx/s", v, kHigher);
      have_tps = true;
    } else if (after("latency average = ", &v)) {
      Add(out, "pg.latency.mean", "ms", v, kLower);
    } else if (after("latency stddev = ", &v)) {
      Add(out, "pg.latency.stddev", "ms", v, kLower);
    } else if (after("number of transactions actually processed: ", &v)) {
      Add(out, "pg.transactions", "count", v, kHigher);
    } else if (after("number of failed transactions: ", &v)) {
      Add(out, "pg.failed", "count", v, kLower);
    }
  }
  if (!have_tps) return absl::FailedPreconditionError("pgbench: no 'tps =' line in its output");
  out->set_valid(true);
  return absl::OkStatus();
}

absl::Status ParseCommandOutput(const std::string& text, v1::RepetitionResult* out) {
  auto bad = [](const std::string& m) {
    return absl::FailedPreconditionError("command generator output: " + m);
  };
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  if (!j.contains("measurements") || !j["measurements"].is_array())
    return bad("measurements: a list is required");
  for (size_t i = 0; i < j["measurements"].size(); ++i) {
    const auto& m = j["measurements"][i];
    std::string f = absl::StrCat("measurements[", i, "]");
    if (!m.is_object()) return bad(f + ": must be an object");
    if (!m.contains("name") || !m["name"].is_string() || m["name"].get<std::string>().empty())
      return bad(f + ".name: a non-empty string is required");
    if (!m.contains("value") || !m["value"].is_number())
      return bad(f + ".value: a number is required");
    std::string unit =
        m.contains("unit") && m["unit"].is_string() ? m["unit"].get<std::string>() : "";
    v1::Direction d = kLower;
    if (m.contains("lower_is_better")) {
      if (!m["lower_is_better"].is_boolean()) return bad(f + ".lower_is_better: true or false");
      d = m["lower_is_better"].get<bool>() ? kLower : kHigher;
    } else if (m.contains("direction")) {
      std::string s = m["direction"].is_string() ? m["direction"].get<std::string>() : "";
      if (s == "higher_is_better")
        d = kHigher;
      else if (s != "lower_is_better")
        return bad(f + ".direction: lower_is_better or higher_is_better");
    }
    double v = m["value"].get<double>();
    if (!std::isfinite(v)) return bad(f + ".value: not finite");
    for (const auto& prev : out->measurements()) {
      if (prev.name() == m["name"].get<std::string>())
        return bad(f + ".name: '" + prev.name() + "' is given twice");
    }
    Add(out, m["name"].get<std::string>(), unit, v, d);
  }
  out->set_valid(true);
  if (j.contains("valid")) {
    if (!j["valid"].is_boolean()) return bad("valid: true or false");
    out->set_valid(j["valid"].get<bool>());
  }
  if (j.contains("invalid_reason") && j["invalid_reason"].is_string())
    out->set_invalid_reason(j["invalid_reason"].get<std::string>());
  if (!out->valid() && out->invalid_reason().empty())
    out->set_invalid_reason("the command said so");
  return absl::OkStatus();
}

absl::Status RunGenerator(const v1::WorkloadSpec& w, absl::Duration window, bool warmup,
                          BenchContext& ctx, v1::RepetitionResult* out, LoadTimeline* timeline) {
  if (timeline && w.generator_case() != v1::WorkloadSpec::kHttp)
    return absl::FailedPreconditionError("workload.faults: need the http generator's timeline");
  switch (w.generator_case()) {
    case v1::WorkloadSpec::kHttp:
      return RunHttp(w.http(), window, warmup, ctx, out, timeline);
    case v1::WorkloadSpec::kWrk:
      return RunWrk(w.wrk(), window, ctx, out);
    case v1::WorkloadSpec::kPgbench:
      return RunPgbench(w.pgbench(), window, ctx, out);
    case v1::WorkloadSpec::kCommand:
      return RunCommand(w.command(), window, warmup, ctx, out);
    default:
      return absl::FailedPreconditionError("workload: no load generator");
  }
}

}  // namespace perfgate::agent
