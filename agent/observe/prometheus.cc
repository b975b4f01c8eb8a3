#include "agent/observe/prometheus.h"

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/exec/readiness.h"
#include "common/http/url.h"
#include "common/net/local_port.h"
#include "common/process/subprocess.h"
#include "common/spec/promql_check.h"
#include "nlohmann/json.hpp"

namespace perfgate::agent {
namespace {

std::string YamlQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string Truncate(std::string s, size_t n = 900) {
  if (s.size() > n) s = s.substr(0, n) + "...";
  return s;
}

}  // namespace

absl::Status PrivatePrometheus::Start(
    const std::string& binary, const std::string& dir,
    const google::protobuf::RepeatedPtrField<v1::ScrapeTarget>& targets) {
  std::string bin = common::FindProgram(binary);
  if (bin.empty()) {
    return absl::FailedPreconditionError("prometheus: '" + binary +
                                         "' is not installed (apt-get install prometheus), and the "
                                         "agent has no --prometheus-url");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir + "/data", ec);
  std::ofstream cfg(dir + "/prometheus.yml");
  cfg << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
      << "scrape_configs:\n";
  for (const auto& t : targets) {
    auto target = ctx_.Expand(t.target());
    if (!target.ok()) return absl::FailedPreconditionError(target.status().message());
    cfg << "  - job_name: " << YamlQuote(t.job())
        << "\n    metrics_path: " << YamlQuote(t.path().empty() ? "/metrics" : t.path())
        << "\n    static_configs:\n      - targets: [" << YamlQuote(*target) << "]\n";
  }
  cfg.close();
  auto port = common::FreeLocalPort();
  if (!port.ok()) return absl::InternalError(port.status().message());
  url_ = absl::StrCat("http://127.0.0.1:", *port);
  common::SpawnOptions o;
  o.argv = {bin,
            "--config.file=" + dir + "/prometheus.yml",
            "--storage.tsdb.path=" + dir + "/data",
            absl::StrCat("--web.listen-address=127.0.0.1:", *port),
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn"};
  std::string log = dir + "/prometheus.log";
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  o.stdout_fd = fd;
  o.stderr_fd = fd;
  auto pid = common::Spawn(o);
  if (fd >= 0) ::close(fd);
  if (!pid.ok())
    return absl::FailedPreconditionError("prometheus: " + std::string(pid.status().message()));
  pid_ = *pid;
  if (auto t = common::ProcessStartTicks(pid_); t.ok())
    ctx_.journal.AddProcess({pid_, *t}).IgnoreError();
  ctx_.steps.Note(absl::StrCat("private prometheus on ", url_, " (pid ", pid_, ", ", targets.size(),
                               " scrape targets, 1s interval)"));
  // Ready, and every target scraped once (so the first window has data from its start).
  const absl::Time deadline = ctx_.clock.Now() + absl::Seconds(30);
  std::string last;
  PromClient client(url_);
  while (ctx_.clock.Now() < deadline) {
    if (ctx_.cancel) return absl::CancelledError("cancelled");
    auto up = client.Instant("count(up == 1)", ctx_.clock.Now());
    if (!up.ok()) {
      last = std::string(up.status().message());
    } else {
      int scraped = 0;
      if (!up->empty() && !(*up)[0].points.empty())
        scraped = static_cast<int>((*up)[0].points[0].second);
      if (scraped >= targets.size()) return absl::OkStatus();
      last = absl::StrCat(scraped, " of ", targets.size(), " targets up");
    }
    if (!ctx_.Sleep(absl::Milliseconds(200))) return absl::CancelledError("cancelled");
  }
  std::ifstream in(log);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (tail.size() > 2000) tail = tail.substr(tail.size() - 2000);
  return absl::FailedPreconditionError("prometheus not ready after 30s (" + last + "); log:\n" +
                                       tail);
}

void PrivatePrometheus::Stop() {
  if (pid_ <= 0) return;
  common::SignalGroup(pid_, SIGTERM).IgnoreError();
  if (!common::WaitFor(pid_, absl::Seconds(10)).ok()) {
    common::SignalGroup(pid_, SIGKILL).IgnoreError();
    common::WaitFor(pid_, absl::Seconds(5)).IgnoreError();
  }
  ctx_.journal.RemoveProcess(pid_).IgnoreError();
  pid_ = 0;
}

absl::StatusOr<std::vector<PromSample>> PromClient::Get(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& params) const {
  std::string host, base_path;
  int port = 0;
  if (!common::SplitHttpUrl(base_, &host, &port, &base_path))
    return absl::InvalidArgumentError("prometheus URL '" + base_ + "' is not http://");
  if (base_path == "/") base_path.clear();
  httplib::Client cli(host, port);
  cli.set_connection_timeout(2, 0);
  cli.set_read_timeout(30, 0);
  httplib::Params p;
  for (const auto& [k, v] : params) p.emplace(k, v);
  auto res = cli.Post((base_path + path).c_str(), p);
  if (!res) {
    return absl::UnavailableError("prometheus at " + base_ + ": " +
                                  httplib::to_string(res.error()));
  }
  return ParsePromAnswer(res->status, res->body);
}

absl::StatusOr<std::vector<PromSample>> ParsePromAnswer(int http_status, const std::string& body) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::UnavailableError(
        absl::StrCat("prometheus answered status ", http_status, " without JSON"));
  }
  // Every access below goes through at()/get<>(), which throw on a missing key or a wrong type
  // (a const operator[] on a missing key is undefined behaviour in nlohmann::json).
  std::vector<PromSample> out;
  auto point = [](const nlohmann::json& v) -> std::pair<int64_t, double> {
    const double t = v.at(0).get<double>();
    const std::string s = v.at(1).get<std::string>();
    // Prometheus times are seconds since the epoch; a value outside what int64 milliseconds
    // hold is not a time.
    if (!std::isfinite(t) || std::fabs(t) > 9e15) throw std::out_of_range("timestamp out of range");
    return {static_cast<int64_t>(std::llround(t * 1000)), std::strtod(s.c_str(), nullptr)};
  };
  try {
    if (!j.contains("status") || j.at("status") != "success") {
      auto text = [&](const char* key, const char* dflt) {
        return j.contains(key) && j.at(key).is_string() ? j.at(key).get<std::string>()
                                                        : std::string(dflt);
      };
      return absl::InvalidArgumentError(
          Truncate(text("errorType", "error") + ": " + text("error", "(no message)")));
    }
    const auto& data = j.at("data");
    const std::string type = data.at("resultType").get<std::string>();
    if (type == "scalar") {
      out.push_back({{}, {point(data.at("result"))}});
    } else if (type == "vector" || type == "matrix") {
      for (const auto& r : data.at("result")) {
        PromSample s;
        for (const auto& [k, v] : r.at("metric").items()) s.labels[k] = v.get<std::string>();
        if (type == "vector") {
          s.points.push_back(point(r.at("value")));
        } else {
          for (const auto& v : r.at("values")) s.points.push_back(point(v));
        }
        out.push_back(std::move(s));
      }
    } else {
      return absl::InvalidArgumentError("unexpected result type '" + Truncate(type) + "'");
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(std::string("malformed answer from prometheus: ") + e.what());
  }
  return out;
}

namespace {
std::string PromTime(absl::Time t) {
  return absl::StrFormat("%.3f", absl::ToDoubleSeconds(t - absl::UnixEpoch()));
}
}  // namespace

absl::StatusOr<std::vector<PromSample>> PromClient::Instant(const std::string& expr,
                                                            absl::Time at) const {
  return Get("/api/v1/query", {{"query", expr}, {"time", PromTime(at)}});
}

absl::StatusOr<std::vector<PromSample>> PromClient::Range(const std::string& expr, absl::Time start,
                                                          absl::Time end,
                                                          absl::Duration step) const {
  return Get("/api/v1/query_range",
             {{"query", expr},
              {"start", PromTime(start)},
              {"end", PromTime(end)},
              {"step", absl::StrFormat("%.3f", absl::ToDoubleSeconds(step))}});
}

void RunPromQueries(const PromClient& client,
                    const google::protobuf::RepeatedPtrField<v1::PromQuery>& queries,
                    absl::Time start, absl::Time end, v1::RepetitionResult* out,
                    const SeriesCaps& caps) {
  const int64_t window_ms = absl::ToInt64Milliseconds(end - start);
  size_t points = 0;
  for (const auto& s : out->series()) points += s.points_size();
  for (const auto& q : queries) {
    const std::string expr = common::SubstituteWindow(q.expr(), std::max<int64_t>(window_ms, 1));
    auto gap = [&](const std::string& why) {
      v1::Gap* g = out->add_gaps();
      g->set_name("prom." + q.name());
      g->set_reason(Truncate(why));
    };
    if (q.mode() == v1::PromQuery::MODE_RANGE) {
      auto r = client.Range(expr, start, end, absl::Milliseconds(q.step_ms()));
      if (!r.ok()) {
        gap(std::string(r.status().message()));
        continue;
      }
      if (r->empty()) {
        gap("the range query returned no series");
        continue;
      }
      int dropped = 0;
      for (const auto& s : *r) {
        if (out->series_size() >= caps.max_series || points + s.points.size() > caps.max_points) {
          ++dropped;
          continue;
        }
        points += s.points.size();
        v1::Series* series = out->add_series();
        series->set_name(q.name());
        series->set_unit(q.unit());
        for (const auto& [k, v] : s.labels) (*series->mutable_labels())[k] = v;
        for (const auto& [t, v] : s.points) {
          v1::SeriesPoint* p = series->add_points();
          p->set_t_ms(t);
          p->set_value(v);
        }
      }
      if (dropped > 0)
        gap(absl::StrCat(dropped, " of ", r->size(), " series dropped: a repetition keeps at most ",
                         caps.max_series, " series and ", caps.max_points, " points"));
      continue;
    }
    auto r = client.Instant(expr, end);
    if (!r.ok()) {
      gap(std::string(r.status().message()));
      continue;
    }
    if (r->empty()) {
      gap("the query returned no data for the window");
      continue;
    }
    if (r->size() > 1) {
      gap(absl::StrCat("the query returned ", r->size(),
                       " series; a measurement needs one (aggregate it, e.g. sum(...))"));
      continue;
    }
    double v = (*r)[0].points.at(0).second;
    if (!std::isfinite(v)) {
      gap(absl::StrCat("the query's value is ", v, " (no data in the window?)"));
      continue;
    }
    v1::Measurement* m = out->add_measurements();
    m->set_name("prom." + q.name());
    m->set_unit(q.unit());
    m->set_direction(q.direction());
    m->set_value(v);
  }
}

}  // namespace perfgate::agent
