#include "controller/alerts/notifier.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fault/failpoint.h"
#include "common/hash/sha256.h"
#include "common/http/url.h"
#include "common/json/proto_json.h"
#include "controller/report/render.h"

namespace perfgate::controller {

std::string Notifier::WebhookBody(const v1::Alert& a) {
  return absl::StrCat(
      "{\"event\":\"perfgate.alert\",\"alert\":", common::ProtoToJson(a, /*pretty=*/false), "}");
}

std::string Notifier::AlertmanagerBody(const v1::Alert& a, absl::Duration active_for,
                                       absl::Time now) {
  nlohmann::json alert;
  alert["labels"] = {{"alertname", a.kind() == "change_point"  ? "PerfgateChangePoint"
                                   : a.kind() == "improvement" ? "PerfgateImprovement"
                                                               : "PerfgateRegression"},
                     {"severity", a.kind() == "regression" ? "warning" : "info"},
                     {"alert_id", std::to_string(a.id())},
                     {"project", a.project()},
                     {"suite", a.suite_name()},
                     {"job", a.job_name()},
                     {"metric", a.metric()},
                     {"machine_class", a.machine_class()}};
  alert["annotations"] = {{"summary", a.summary()},
                          {"candidate_commit", a.candidate_commit()},
                          {"baseline_commit", a.baseline_commit()},
                          {"ratio", absl::StrCat(a.ratio())},
                          {"ratio_ci", absl::StrCat(a.ratio_low(), "..", a.ratio_high())}};
  if (a.worst_functions_size() > 0) {
    alert["annotations"]["profile_diff"] = absl::StrCat(a.worst_functions_profile(), " (flat):\n",
                                                        absl::StrJoin(WorstFunctionLines(a), "\n"));
  }
  if (!a.culprit().empty()) alert["annotations"]["culprit"] = a.culprit();
  if (!a.url().empty()) alert["generatorURL"] = a.url();
  const absl::Time created =
      a.has_created_at() ? absl::FromUnixSeconds(a.created_at().seconds()) : now;
  alert["startsAt"] = absl::FormatTime(absl::RFC3339_sec, created, absl::UTCTimeZone());
  const absl::Time ends = a.state() == "resolved" ? now : now + active_for;
  alert["endsAt"] = absl::FormatTime(absl::RFC3339_sec, ends, absl::UTCTimeZone());
  return nlohmann::json::array({alert}).dump();
}

absl::Status Notifier::Post(const std::string& url, const std::string& body,
                            const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string host, path;
  int port = 0;
  if (!common::SplitHttpUrl(url, &host, &port, &path))
    return absl::InvalidArgumentError(url + ": not an http://host[:port]/path URL");
  httplib::Client cli(host, port);
  const int64_t ms = absl::ToInt64Milliseconds(opts_.timeout);
  cli.set_connection_timeout(ms / 1000, (ms % 1000) * 1000);
  cli.set_read_timeout(ms / 1000, (ms % 1000) * 1000);
  httplib::Headers h;
  for (const auto& [k, v] : headers) h.emplace(k, v);
  auto res = cli.Post(path, h, body, "application/json");
  if (!res) return absl::UnavailableError(absl::StrCat(url, ": ", httplib::to_string(res.error())));
  if (res->status / 100 != 2) {
    return absl::UnavailableError(
        absl::StrCat(url, ": HTTP ", res->status, ": ", res->body.substr(0, 200)));
  }
  return absl::OkStatus();
}

int Notifier::RunOnce() {
  auto due = store_.DueDeliveries(50);
  if (!due.ok()) {
    spdlog::warn("component=notifier msg=\"cannot read deliveries\" error=\"{}\"",
                 due.status().ToString());
    return 0;
  }
  int delivered = 0;
  for (const Delivery& d : *due) {
    const absl::Duration backoff =
        std::min(absl::Minutes(5), absl::Seconds(2) * (int64_t{1} << std::min(d.attempts, 8)));
    auto record = [&](const char* channel, const absl::Status& s) {
      if (s.ok()) {
        ++delivered;
        spdlog::info("component=notifier msg=\"alert delivered\" alert={} channel={}", d.alert.id(),
                     channel);
      } else {
        spdlog::warn(
            "component=notifier msg=\"alert delivery failed\" alert={} channel={} "
            "attempt={} error=\"{}\"",
            d.alert.id(), channel, d.attempts + 1, s.ToString());
      }
      // A test kills the controller here: sent, not yet recorded (sent again after a restart).
      if (s.ok()) common::Failpoint("controller.alert.after_send");
      (void)store_.RecordDelivery(d.alert.id(), channel, s.ok(), std::string(s.message()), backoff,
                                  opts_.max_attempts);
    };
    if (d.alert.webhook() == "pending") {
      if (opts_.webhook_url.empty()) {
        record("webhook", absl::FailedPreconditionError("no --alert-webhook-url configured"));
      } else {
        const std::string body = WebhookBody(d.alert);
        std::vector<std::pair<std::string, std::string>> headers = {
            {"X-Perfgate-Alert-Id", std::to_string(d.alert.id())}};
        if (!opts_.webhook_secret.empty()) {
          // The signature covers the time it was sent: a captured delivery replayed later fails
          // the receiver's age check, and its timestamp cannot be changed without the secret.
          const std::string ts = std::to_string(absl::ToUnixSeconds(clock_.Now()));
          headers.emplace_back("X-Perfgate-Timestamp", ts);
          headers.emplace_back(
              "X-Perfgate-Signature",
              "sha256=" + common::HmacSha256Hex(opts_.webhook_secret, ts + "." + body));
        }
        record("webhook", Post(opts_.webhook_url, body, headers));
      }
    }
    if (d.alert.alertmanager() == "pending") {
      if (opts_.alertmanager_url.empty()) {
        record("alertmanager", absl::FailedPreconditionError("no --alertmanager-url configured"));
      } else {
        std::string base = opts_.alertmanager_url;
        while (absl::EndsWith(base, "/")) base.pop_back();
        record("alertmanager",
               Post(base + "/api/v2/alerts",
                    AlertmanagerBody(d.alert, opts_.alertmanager_active_for, clock_.Now()), {}));
      }
    }
  }
  return delivered;
}

void Notifier::Start() {
  thread_ = std::thread([this] {
    while (!stop_) {
      const uint64_t seen = stop_signal_.generation();
      RunOnce();
      stop_signal_.WaitForChange(seen, opts_.poll);
    }
  });
}

void Notifier::Stop() {
  stop_ = true;
  stop_signal_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace perfgate::controller
