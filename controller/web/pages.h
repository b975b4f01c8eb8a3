// The controller's web pages on its HTTP port: runs (with filters), a run, a comparison, a
// metric's history with change points, agents, the queue, change points and alerts. Rendered on
// the server as HTML with inline SVG; they need no JavaScript.
#pragma once

#include <string>

#include "controller/analysis/analyser.h"
#include "controller/analysis/analysis_store.h"
#include "controller/bisect/bisect_store.h"
#include "controller/campaign/campaign_store.h"
#include "controller/forge/forge_store.h"
#include "controller/queue/job_store.h"
#include "controller/queue/result_store.h"
#include "controller/queue/retention_store.h"

namespace httplib {
class Server;
}

namespace perfgate::controller {

class WebPages {
 public:
  WebPages(JobStore& jobs, ResultStore& results, AgentStore& agents, AnalysisStore& analysis,
           Analyser& analyser)
      : jobs_(jobs), results_(results), agents_(agents), analysis_(analysis), analyser_(analyser) {}
  void Register(httplib::Server& server);
  // CI integration's pages (/outbox); without it they answer 404.
  void SetForge(ForgeStore* forge) { forge_ = forge; }
  // Campaigns' pages (/campaigns/ID); without it they answer 404.
  void SetCampaigns(CampaignStore* campaigns) { campaigns_ = campaigns; }
  // Bisections' pages (/bisections, /bisections/ID, /bisections/ID.md); without it, 404.
  void SetBisections(BisectStore* bisections) { bisections_ = bisections; }
  // The storage page (/storage): disk use per kind and the retention policy.
  void SetRetention(RetentionStore* store, RetentionAges policy) {
    retention_ = store;
    retention_policy_ = policy;
  }

  // Each page as (HTTP status, HTML); exposed so tests can render without a server.
  using Query = std::function<std::string(const std::string&)>;  // "" when absent
  std::pair<int, std::string> Runs(const Query& q);
  std::pair<int, std::string> Run(int64_t id);
  std::pair<int, std::string> Compare(int64_t id, const Query& q);
  std::pair<int, std::string> History(const Query& q);
  std::pair<int, std::string> Agents();
  std::pair<int, std::string> Queue();
  std::pair<int, std::string> ChangePoints(const Query& q);
  std::pair<int, std::string> Alerts(const Query& q);
  std::pair<int, std::string> Outbox(const Query& q);
  std::pair<int, std::string> Campaign(int64_t id);
  std::pair<int, std::string> Storage();
  std::pair<int, std::string> Bisections();
  // `markdown`: the report as text/markdown instead of the page.
  std::pair<int, std::string> Bisection(int64_t id, bool markdown);

 private:
  JobStore& jobs_;
  ResultStore& results_;
  AgentStore& agents_;
  AnalysisStore& analysis_;
  Analyser& analyser_;
  ForgeStore* forge_ = nullptr;
  CampaignStore* campaigns_ = nullptr;
  BisectStore* bisections_ = nullptr;
  RetentionStore* retention_ = nullptr;
  RetentionAges retention_policy_;
};

}  // namespace perfgate::controller
