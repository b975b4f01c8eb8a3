#include "tools/cli/load_command.h"

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "agent/load/http_load.h"
#include "tools/cli/command.h"

namespace perfgate::cli {
namespace {

bool ParseUrl(const std::string& url, agent::LoadOptions* o, std::string* path, std::string* err) {
  absl::string_view u = url;
  if (!absl::ConsumePrefix(&u, "http://")) {
    *err = "URL: only http:// is supported, got '" + url + "'";
    return false;
  }
  size_t slash = u.find('/');
  absl::string_view hostport = u.substr(0, slash);
  *path = slash == absl::string_view::npos ? "/" : std::string(u.substr(slash));
  size_t colon = hostport.rfind(':');
  o->host = std::string(hostport.substr(0, colon));
  o->port = 80;
  if (colon != absl::string_view::npos && !absl::SimpleAtoi(hostport.substr(colon + 1), &o->port)) {
    *err = "URL: bad port in '" + url + "'";
    return false;
  }
  if (o->host.empty()) {
    *err = "URL: no host in '" + url + "'";
    return false;
  }
  return true;
}

nlohmann::json Percentiles(const common::HdrHistogram& h) {
  nlohmann::json j;
  for (auto [key, p] : {std::pair{"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9}}) {
    j[key] = h.ValueAtPercentile(p);
  }
  j["max"] = h.max();
  j["mean"] = h.mean();
  j["count"] = h.total();
  return j;
}

nlohmann::json ToJson(const agent::EndpointStats& s) {
  nlohmann::json j;
  j["sent"] = s.sent;
  j["completed"] = s.completed;
  j["errors"] = s.errors;
  j["timeouts"] = s.timeouts;
  for (const auto& [code, n] : s.status_counts) j["status"][std::to_string(code)] = n;
  j["latency_us"] = Percentiles(s.latency);
  j["service_time_us"] = Percentiles(s.service_time);
  j["scheduling_delay_us"] = Percentiles(s.scheduling_delay);
  j["generator_lag_us"] = Percentiles(s.generator_lag);
  return j;
}

std::string Ms(int64_t us) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(3) << us / 1000.0;
  return o.str();
}

}  // namespace

void AddLoadFlags(CLI::App* cmd, LoadFlags* f) {
  cmd->add_option("URL", f->url, "http://HOST:PORT/PATH")->required();
  cmd->add_option("--rate", f->rate,
                  "requests per second (open loop); required unless --closed-loop")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--duration", f->duration, "how long to send, e.g. 30s")->capture_default_str();
  cmd->add_option("--connections", f->connections, "keep-alive connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--threads", f->threads, "generator threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_flag("--closed-loop", f->closed_loop,
                "send as fast as responses come back (max throughput)");
  cmd->add_flag("--poisson", f->poisson, "Poisson arrivals instead of constant spacing");
  cmd->add_option("--method", f->method, "HTTP method")->capture_default_str();
  cmd->add_option("--body", f->body, "request body");
  cmd->add_option("--header,-H", f->headers, "'Name: value' (repeatable)");
  cmd->add_option("--timeout", f->timeout, "per-request timeout")->capture_default_str();
  cmd->add_option("--max-generator-lag", f->max_generator_lag,
                  "open loop: the run is invalid when the generator's own lateness p99 exceeds "
                  "this (raise it on a busy machine)")
      ->capture_default_str();
  cmd->add_option("--spin-window", f->spin_window,
                  "open loop: poll for this long before each send instead of sleeping (default "
                  "0: learnt from how late this machine's wake-ups are; 1ms is the old fixed "
                  "behaviour, for comparisons)")
      ->capture_default_str();
}

namespace {

// The flags as the generator's options; "" or the problem (naming the flag).
std::string OptionsFromFlags(const LoadFlags& f, agent::LoadOptions* o) {
  agent::LoadRequest r;
  std::string err;
  if (!ParseUrl(f.url, o, &r.path, &err)) return err;
  if (f.closed_loop == (f.rate > 0)) return "give either --rate R (open loop) or --closed-loop";
  struct DurationFlag {
    const char* flag;
    const std::string& value;
    absl::Duration* out;
    absl::Duration lo, hi;
    const char* want;
  };
  for (const DurationFlag& d :
       {DurationFlag{"--duration", f.duration, &o->duration, absl::Nanoseconds(1),
                     absl::InfiniteDuration(), "a duration like 30s"},
        DurationFlag{"--timeout", f.timeout, &o->timeout, absl::Nanoseconds(1),
                     absl::InfiniteDuration(), "a duration like 5s"},
        DurationFlag{"--max-generator-lag", f.max_generator_lag, &o->max_generator_lag_p99,
                     absl::Nanoseconds(1), absl::InfiniteDuration(), "a duration like 10ms"},
        DurationFlag{"--spin-window", f.spin_window, &o->spin_window, absl::ZeroDuration(),
                     absl::Seconds(1), "a duration from 0 to 1s"}}) {
    if (!absl::ParseDuration(d.value, d.out) || *d.out < d.lo || *d.out > d.hi)
      return absl::StrCat(d.flag, ": want ", d.want, ", got '", d.value, "'");
  }
  r.method = f.method;
  r.body = f.body;
  for (const auto& h : f.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos) return "--header: want 'Name: value', got '" + h + "'";
    r.headers.emplace_back(h.substr(0, colon),
                           std::string(absl::StripLeadingAsciiWhitespace(h.substr(colon + 1))));
  }
  o->mix = {r};
  o->rate = f.closed_loop ? 0 : f.rate;
  o->poisson = f.poisson;
  o->connections = f.connections;
  o->threads = f.threads;
  return "";
}

void PrintJson(const agent::LoadResult& res) {
  nlohmann::json j;
  j["mode"] = res.open_loop ? "open_loop" : "closed_loop";
  j["target_rate"] = res.target_rate;
  j["achieved_rate"] = res.achieved_rate;
  j["elapsed_s"] = absl::ToDoubleSeconds(res.elapsed);
  j["valid"] = res.valid;
  j["invalid_reason"] = res.invalid_reason;
  j["connect_errors"] = res.connect_errors;
  j["total"] = ToJson(res.total);
  j["total"]["connect_time_us"] = Percentiles(res.total.connect_time);
  for (const auto& [name, s] : res.endpoints) j["endpoints"][name] = ToJson(s);
  std::cout << j.dump(2) << "\n";
}

void PrintTable(const agent::LoadResult& res) {
  const auto& t = res.total;
  std::cout << (res.open_loop ? "open loop" : "closed loop") << ": " << t.completed
            << " responses in "
            << absl::FormatDuration(absl::Trunc(res.elapsed, absl::Milliseconds(1))) << " = "
            << std::fixed << std::setprecision(1) << res.achieved_rate << " req/s";
  if (res.open_loop) std::cout << " (target " << res.target_rate << ")";
  std::cout << "\n  errors " << t.errors << ", timeouts " << t.timeouts << ", connect errors "
            << res.connect_errors << "\n  status:";
  for (const auto& [code, n] : t.status_counts) std::cout << " " << code << "=" << n;
  std::cout << "\n\n  " << std::left << std::setw(20) << "ms" << std::right << std::setw(10)
            << "p50" << std::setw(10) << "p90" << std::setw(10) << "p99" << std::setw(10) << "p99.9"
            << std::setw(10) << "max\n";
  auto row = [](const char* name, const common::HdrHistogram& h) {
    std::cout << "  " << std::left << std::setw(20) << name << std::right;
    for (double p : {50.0, 90.0, 99.0, 99.9})
      std::cout << std::setw(10) << Ms(h.ValueAtPercentile(p));
    std::cout << std::setw(10) << Ms(h.max()) << "\n";
  };
  row(res.open_loop ? "latency (corrected)" : "latency", t.latency);
  row("service time", t.service_time);
  if (res.open_loop) {
    row("scheduling delay", t.scheduling_delay);
    row("generator lag", t.generator_lag);
  }
  row("connect", t.connect_time);
  if (!res.valid) std::cout << "\nINVALID: " << res.invalid_reason << "\n";
}

}  // namespace

int RunLoadCommand(const LoadFlags& f, bool json) {
  agent::LoadOptions o;
  if (std::string problem = OptionsFromFlags(f, &o); !problem.empty()) {
    std::cerr << "perfgate load: " << problem << "\n";
    return 2;
  }
  if (!json) {
    std::cerr << "perfgate load: "
              << (o.rate > 0 ? absl::StrFormat("open loop at %g req/s", o.rate)
                             : std::string("closed loop"))
              << " for " << absl::FormatDuration(o.duration) << ", " << o.connections
              << " connections, " << o.threads << " thread(s)\n";
  }
  auto res = agent::RunLoad(o);
  if (!res.ok()) {
    std::cerr << "perfgate load: " << res.status().message() << "\n";
    return 2;
  }
  json ? PrintJson(*res) : PrintTable(*res);
  return res->valid ? 0 : 1;
}

void AddLoadCommand(CLI::App& app, Commands& cmds) {
  auto f = std::make_shared<LoadFlags>();
  auto* load = app.add_subcommand(
      "load", "drive HTTP load at a URL with the built-in generator (no controller)");
  AddLoadFlags(load, f.get());
  cmds.AddLocal(load,
                [f](Client*, const Globals& g) { return RunLoadCommand(*f, g.output == "json"); });
}

}  // namespace perfgate::cli
