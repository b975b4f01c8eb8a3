#include "controller/forge/webhooks.h"

#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/hash/sha256.h"
#include "common/log/log.h"
#include "controller/forge/planner.h"
#include "controller/metrics/controller_metrics.h"

namespace perfgate::controller {
namespace {

using nlohmann::json;

WebhookAnswer Error(int status, const std::string& why) {
  return {status, json{{"error", why}}.dump()};
}

// A secret file's first line ("" when unreadable).
std::string ReadSecret(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace

void WebhookHandler::InvalidateSecrets() {
  absl::MutexLock lock(&mu_);
  secrets_loaded_ = absl::InfinitePast();
  projects_.clear();
}

absl::StatusOr<std::optional<v1::Project>> WebhookHandler::FindProject(const std::string& forge,
                                                                       const ForgeEvent& e) {
  constexpr absl::Duration kProjectCacheTtl = absl::Seconds(1);
  constexpr size_t kMaxCachedProjects = 10'000;
  const std::string key =
      absl::StrCat(forge, "\n", absl::AsciiStrToLower(e.repository), "\n", e.repository_id);
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    auto it = projects_.find(key);
    if (it != projects_.end() && now - it->second.at < kProjectCacheTtl) return it->second.project;
  }
  auto found = store_.FindProject(forge, e);
  if (!found.ok()) return found.status();
  absl::MutexLock lock(&mu_);
  if (projects_.size() >= kMaxCachedProjects) projects_.clear();  // bounded: unknown repositories
  projects_[key] = {*found, now};
  return found;
}

std::map<std::string, std::string> WebhookHandler::Secrets(const std::string& forge, bool refresh) {
  std::map<std::string, std::string> out;
  const std::string& mine = forge == kGitHub ? opts_.github_secret : opts_.gitlab_secret;
  if (!mine.empty()) out[""] = mine;
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  // Reloaded every 30 s, and at most once a second when a signature matches nothing known (a
  // project added on another replica).
  if (now - secrets_loaded_ > absl::Seconds(30) ||
      (refresh && now - secrets_loaded_ > absl::Seconds(1))) {
    auto projects = store_.ListProjects();
    if (projects.ok()) {
      project_secrets_.clear();
      for (const v1::Project& p : *projects) {
        if (p.webhook_secret_file().empty()) continue;
        const std::string s = ReadSecret(p.webhook_secret_file());
        if (s.empty()) {
          spdlog::warn(
              "component=webhooks msg=\"project webhook secret unreadable or empty\" "
              "project={} file={}",
              p.name(), p.webhook_secret_file());
          continue;
        }
        project_secrets_[p.forge() + "\n" + p.name()] = s;
      }
      secrets_loaded_ = now;
    }
  }
  for (const auto& [key, secret] : project_secrets_) {
    if (absl::StartsWith(key, forge + "\n")) out[key.substr(forge.size() + 1)] = secret;
  }
  return out;
}

std::string WebhookHandler::Reply(const ForgePlan& plan, const std::vector<v1::Run>& runs) const {
  std::string text = plan.reply;
  if (!plan.reply_lists_runs) return text;
  if (runs.empty()) return text + "\n\nNothing new to run: every suite already ran at this head.";
  absl::StrAppend(&text, "\n");
  for (const v1::Run& r : runs) {
    absl::StrAppend(&text, "\n- `", r.suite_name(), "`: [run ", r.id(), "](", opts_.external_url,
                    "/runs/", r.id(), ")");
  }
  return text;
}

WebhookAnswer WebhookHandler::Apply(const std::string& forge, const std::string& delivery,
                                    const std::string& signed_by, const ForgeEvent& e) {
  auto project = FindProject(forge, e);
  if (!project.ok()) {
    metrics_.webhooks(forge, "error").Increment();
    return Error(503, std::string(project.status().message()));
  }
  const v1::Project* p = project->has_value() ? &**project : nullptr;
  // A project with a secret of its own takes deliveries signed with that secret only.
  const std::string wanted = p && !p->webhook_secret_file().empty() ? p->name() : "";
  if (signed_by != wanted) {
    metrics_.webhooks(forge, "refused").Increment();
    return Error(401, absl::StrCat("signature: signed with another secret than repository ",
                                   e.repository, "'s"));
  }
  auto result = store_.ApplyDelivery(
      forge, delivery, e, p,
      [&](const std::optional<PullRequestRecord>& known) {
        return PlanForgeEvent(*p, e, known, opts_.limits);
      },
      [&](const ForgePlan& plan, const std::vector<v1::Run>& runs) { return Reply(plan, runs); });
  if (!result.ok()) {
    const bool bad = result.status().code() == absl::StatusCode::kInvalidArgument;
    metrics_.webhooks(forge, bad ? "refused" : "error").Increment();
    spdlog::warn(
        "component=webhooks msg=\"delivery not applied\" forge={} delivery={} event={} "
        "error=\"{}\"",
        forge, delivery, e.event, result.status().message());
    return Error(bad ? 422 : 503, std::string(result.status().message()));
  }
  json runs = json::array();
  for (const auto& r : result->runs) runs.push_back(r.id());
  const char* what = result->duplicate       ? "duplicate"
                     : !result->runs.empty() ? "accepted"
                                             : "ignored";
  metrics_.webhooks(forge, what).Increment();
  spdlog::info(
      "component=webhooks msg=\"delivery\" forge={} delivery={} event={} project={} "
      "result={} outcome=\"{}\" runs={}",
      forge, delivery, e.event, p ? p->name() : "", what, result->outcome, runs.dump());
  if (!result->runs.empty()) {
    work_.Notify();
    runs_.Notify();
  }
  return {result->runs.empty() ? 200 : 202, json{{"delivery", delivery},
                                                 {"duplicate", result->duplicate},
                                                 {"outcome", result->outcome},
                                                 {"runs", runs}}
                                                .dump()};
}

WebhookAnswer WebhookHandler::HandleGitHub(
    const std::function<std::string(const std::string&)>& header, const std::string& body) {
  if (body.size() > opts_.max_body) {
    metrics_.webhooks(kGitHub, "refused").Increment();
    return Error(413, absl::StrCat("body: larger than ", opts_.max_body, " bytes"));
  }
  const std::string sig = header("X-Hub-Signature-256");
  const std::string hex = absl::StartsWith(sig, "sha256=") ? sig.substr(7) : "";
  if (!common::IsSha256Hex(hex)) {
    metrics_.webhooks(kGitHub, "refused").Increment();
    return Error(401, "X-Hub-Signature-256: missing or not sha256=<64 hex digits>");
  }
  std::string signed_by;
  bool matched = false;
  for (bool refresh : {false, true}) {
    for (const auto& [who, secret] : Secrets(kGitHub, refresh)) {
      if (common::ConstantTimeEquals(common::HmacSha256Hex(secret, body), hex)) {
        signed_by = who;
        matched = true;
        break;
      }
    }
    if (matched) break;
  }
  if (!matched) {
    metrics_.webhooks(kGitHub, "refused").Increment();
    spdlog::warn("component=webhooks msg=\"bad signature\" forge=github delivery={}",
                 header("X-GitHub-Delivery"));
    return Error(401, "X-Hub-Signature-256: does not match the body under any configured secret");
  }
  const std::string delivery = header("X-GitHub-Delivery");
  if (delivery.empty() || delivery.size() > 200) {
    metrics_.webhooks(kGitHub, "refused").Increment();
    return Error(400, "X-GitHub-Delivery: missing or longer than 200 characters");
  }
  auto e = ParseGitHubEvent(header("X-GitHub-Event"), body);
  if (!e.ok()) {
    metrics_.webhooks(kGitHub, "refused").Increment();
    return Error(400, std::string(e.status().message()));
  }
  return Apply(kGitHub, delivery, signed_by, *e);
}

WebhookAnswer WebhookHandler::HandleGitLab(
    const std::function<std::string(const std::string&)>& header, const std::string& body) {
  if (body.size() > opts_.max_body) {
    metrics_.webhooks(kGitLab, "refused").Increment();
    return Error(413, absl::StrCat("body: larger than ", opts_.max_body, " bytes"));
  }
  const std::string token = header("X-Gitlab-Token");
  std::string signed_by;
  bool matched = false;
  for (bool refresh : {false, true}) {
    for (const auto& [who, secret] : Secrets(kGitLab, refresh)) {
      if (!token.empty() && common::ConstantTimeEquals(secret, token)) {
        signed_by = who;
        matched = true;
        break;
      }
    }
    if (matched) break;
  }
  if (!matched) {
    metrics_.webhooks(kGitLab, "refused").Increment();
    return Error(401, "X-Gitlab-Token: missing or not a configured secret");
  }
  // Deliveries are told apart by GitLab's event UUID (newer GitLab: Idempotency-Key).
  std::string delivery = header("X-Gitlab-Event-UUID");
  if (delivery.empty()) delivery = header("Idempotency-Key");
  if (delivery.empty() || delivery.size() > 200) {
    metrics_.webhooks(kGitLab, "refused").Increment();
    return Error(400, "X-Gitlab-Event-UUID: missing or longer than 200 characters");
  }
  auto e = ParseGitLabEvent(header("X-Gitlab-Event"), body);
  if (!e.ok()) {
    metrics_.webhooks(kGitLab, "refused").Increment();
    return Error(400, std::string(e.status().message()));
  }
  return Apply(kGitLab, delivery, signed_by, *e);
}

void WebhookHandler::Register(httplib::Server& server) {
  // httplib refuses a larger body with 413 before reading it.
  server.set_payload_max_length(opts_.max_body);
  auto route = [this](bool github) {
    return [this, github](const httplib::Request& req, httplib::Response& res) {
      ScopedLatency t(metrics_.webhook_latency());
      auto header = [&req](const std::string& name) { return req.get_header_value(name); };
      WebhookAnswer a = github ? HandleGitHub(header, req.body) : HandleGitLab(header, req.body);
      res.status = a.status;
      res.set_content(a.body, "application/json");
    };
  };
  server.Post("/hooks/github", route(true));
  server.Post("/hooks/gitlab", route(false));
}

}  // namespace perfgate::controller
