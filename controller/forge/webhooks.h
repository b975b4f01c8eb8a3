// The forges' webhooks on the controller's HTTP port:
//   POST /hooks/github   X-Hub-Signature-256 (HMAC-SHA-256 of the exact body), X-GitHub-Event,
//                        X-GitHub-Delivery
//   POST /hooks/gitlab   X-Gitlab-Token, X-Gitlab-Event, X-Gitlab-Event-UUID
// The signature (or token) is checked, in constant time, against the controller's secret and
// every project's before the body is parsed; a missing or wrong one is 401 and nothing is
// stored. Bodies are bounded (25 MB, as GitHub's). A valid delivery is applied in one
// transaction (forge_store.h: recorded once, runs queued, reports due) and answered 202 (work
// queued) or 200 (a ping, a redelivery, an event ignored, with why); 400 names the field of a
// malformed payload; 503 when the database cannot take it (the forge redelivers).
#pragma once

#include <functional>
#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/spec/run_spec_rules.h"
#include "controller/events/event_bus.h"
#include "controller/forge/forge_store.h"
#include "controller/metrics/controller_metrics.h"

namespace httplib {
class Server;
}

namespace perfgate::controller {

inline constexpr size_t kMaxWebhookBytes = 25 * 1000 * 1000;

struct WebhookOptions {
  std::string github_secret;  // the controller's; "" none (then only projects' secrets)
  std::string gitlab_secret;
  common::SpecLimits limits;
  std::string external_url;
  size_t max_body = kMaxWebhookBytes;
};

struct WebhookAnswer {
  int status = 200;
  std::string body;  // JSON: {"outcome": ..., "runs": [...]} or {"error": ...}
};

class WebhookHandler {
 public:
  WebhookHandler(ForgeStore& store, ControllerMetrics& metrics, EventBus& work, EventBus& runs,
                 WebhookOptions opts)
      : store_(store), metrics_(metrics), work_(work), runs_(runs), opts_(std::move(opts)) {}
  void Register(httplib::Server& server);
  void SetExternalUrl(const std::string& url) { opts_.external_url = url; }
  // Forget the cached project secrets and projects (a project was added or changed here).
  void InvalidateSecrets();

  // The handlers without HTTP (the routes call these). `header` reads a request header.
  WebhookAnswer HandleGitHub(const std::function<std::string(const std::string&)>& header,
                             const std::string& body);
  WebhookAnswer HandleGitLab(const std::function<std::string(const std::string&)>& header,
                             const std::string& body);

 private:
  // The secrets a delivery may be signed with, keyed by whose they are: "" the controller's, else
  // the project's name. `refresh` reloads the projects' secret files (at most once a second).
  std::map<std::string, std::string> Secrets(const std::string& forge, bool refresh);
  WebhookAnswer Apply(const std::string& forge, const std::string& delivery,
                      const std::string& signed_by, const ForgeEvent& e);
  std::string Reply(const ForgePlan& plan, const std::vector<v1::Run>& runs) const;
  // The project a delivery is for, cached for kProjectCacheTtl: a burst of deliveries for one
  // repository reads it once, not twice per delivery. A change made on this controller is seen
  // at once (InvalidateSecrets); one made on another replica within the TTL.
  absl::StatusOr<std::optional<v1::Project>> FindProject(const std::string& forge,
                                                         const ForgeEvent& e);

  ForgeStore& store_;
  ControllerMetrics& metrics_;
  EventBus& work_;
  EventBus& runs_;
  WebhookOptions opts_;
  absl::Mutex mu_;
  std::map<std::string, std::string> project_secrets_ ABSL_GUARDED_BY(mu_);  // name -> secret
  absl::Time secrets_loaded_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  struct CachedProject {
    std::optional<v1::Project> project;
    absl::Time at;
  };
  std::map<std::string, CachedProject> projects_ ABSL_GUARDED_BY(mu_);  // forge, repo, id -> it
};

}  // namespace perfgate::controller
