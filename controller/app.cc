#include "controller/app.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <httplib.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc/tls.h"
#include "common/http/http_server.h"
#include "common/http/url.h"
#include "common/log/log.h"
#include "common/process/subprocess.h"
#include "common/status/macros.h"
#include "common/time/clock.h"
#include "controller/alerts/notifier.h"
#include "controller/analysis/analyser.h"
#include "controller/api/controller_service.h"
#include "controller/bisect/bisector.h"
#include "controller/campaign/scheduler.h"
#include "controller/dispatch/dispatcher.h"
#include "controller/dispatch/housekeeper.h"
#include "controller/events/controller_event.h"
#include "controller/forge/github.h"
#include "controller/forge/gitlab.h"
#include "controller/forge/outbox_sender.h"
#include "controller/forge/webhooks.h"
#include "controller/gateway/agent_gateway_service.h"
#include "controller/store/embedded_postgres.h"
#include "controller/store/migrations.h"
#include "controller/store/pg_agent_store.h"
#include "controller/store/pg_analysis_store.h"
#include "controller/store/pg_bisect_store.h"
#include "controller/store/pg_campaign_store.h"
#include "controller/store/pg_forge_store.h"
#include "controller/store/pg_job_store.h"
#include "controller/store/pg_listener.h"
#include "controller/store/pg_result_store.h"
#include "controller/store/pg_retention_store.h"
#include "controller/store/pg_schedule_store.h"
#include "controller/store/postgres_supervisor.h"
#include "controller/web/http_auth.h"
#include "controller/web/pages.h"

namespace perfgate::controller {
namespace {

absl::StatusOr<common::TokenAuth> LoadAuth(const std::string& file, common::TokenAuth::Kind kind) {
  if (file.empty()) return common::TokenAuth();
  return common::TokenAuth::FromFile(file, kind);
}

// A credential file's contents: the first line (`whole`: everything, for a PEM key).
// INVALID_ARGUMENT naming the flag when it is unreadable or empty.
absl::StatusOr<std::string> ReadCredential(const std::string& flag, const std::string& path,
                                           bool whole = false) {
  std::ifstream in(path);
  std::string text;
  if (whole) {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    std::getline(in, text);
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
  }
  if (!in.good() && !in.eof()) text.clear();
  if (text.empty())
    return absl::InvalidArgumentError(flag + ": " + path + " is empty or unreadable");
  return text;
}

// A password in --postgres-dsn would be on the command line (ps, /proc, shell history): refused
// in favour of libpq's password file. The DSN is parsed by libpq itself, so both the key=value
// and the URI forms are understood as the connection will read them.
absl::Status CheckDsnHasNoPassword(const std::string& dsn) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (opts == nullptr) {
    std::string why = err ? err : "cannot be parsed";
    PQfreemem(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return absl::InvalidArgumentError("--postgres-dsn: " + why);
  }
  bool password = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o)
    if (std::string(o->keyword) == "password" && o->val != nullptr && o->val[0] != '\0')
      password = true;
  PQconninfoFree(opts);
  if (password)
    return absl::InvalidArgumentError(
        "--postgres-dsn: holds a password, which a command line shows to every user; put it in a "
        "password file (PGPASSFILE, ~/.pgpass or passfile=FILE in the DSN, mode 0600)");
  return absl::OkStatus();
}

absl::Status WriteReadyFile(const std::string& path, int grpc_port, int http_port, int agent_port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << "{\"grpc_port\": " << grpc_port << ", \"http_port\": " << http_port;
    if (agent_port != 0) out << ", \"agent_port\": " << agent_port;
    out << ", \"pid\": " << getpid() << "}\n";
    if (!out) return absl::InternalError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return absl::InternalError("cannot rename to " + path);
  return absl::OkStatus();
}

class ControllerAppImpl : public ControllerApp {
 public:
  absl::Status Init(const ControllerConfig& cfg);
  void Wait() override {
    server_->Wait();
    if (agent_server_) agent_server_->Wait();
  }
  void Shutdown() override;
  absl::Status ExitStatus() override {
    absl::MutexLock l(&exit_mu_);
    return exit_status_;
  }
  ~ControllerAppImpl() override;

 private:
  struct Listeners {
    std::string grpc_host, http_host, agent_host;  // agent_host "": no --agent-listen
    int grpc_port = 0, http_port = 0, agent_port = 0;
  };
  struct Auths {
    common::TokenAuth api, agents;
    std::shared_ptr<grpc::ServerCredentials> grpc_credentials;
    bool http_auth = false;
  };
  // Init's steps, in order: each builds one part of the controller.
  absl::StatusOr<Listeners> ParseListeners() const;
  absl::StatusOr<Auths> LoadAuths(const Listeners& l) const;
  absl::StatusOr<std::string> OpenDatabase();       // the DSN, once migrated
  absl::Status BuildQueue(const std::string& dsn);  // stores, sessions, dispatch, sweeping
  absl::StatusOr<NotifierOptions> AlertDelivery() const;
  void BuildAnalysis(const NotifierOptions& alerts);
  absl::Status BuildForge();              // projects, webhooks, the outbox and the forges' clients
  void BuildServices(const Auths& auth);  // pages, the operators' API, the agents' gateway
  absl::Status StartHttp(const Listeners& l, const Auths& auth);
  absl::StatusOr<int> StartGrpc(const Auths& auth);  // the bound port
  // A NOTIFY from any replica (controller/events/controller_event.h) wakes our components.
  void OnDatabaseEvent(const std::string& payload);

  ControllerConfig cfg_;
  RetryPolicy retry_;
  std::unique_ptr<EmbeddedPostgres> embedded_;
  std::unique_ptr<PostgresSupervisor> supervisor_;  // of embedded_
  absl::Mutex exit_mu_;
  absl::Status exit_status_ ABSL_GUARDED_BY(exit_mu_);
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<PgJobStore> jobs_;
  std::unique_ptr<PgResultStore> results_;
  std::unique_ptr<PgRetentionStore> retention_;
  std::unique_ptr<PgAgentStore> agents_;
  ControllerMetrics metrics_;
  EventBus work_, runs_;
  // Run state changes only (from the database's "run:" notifications, any replica's): what the
  // analyser waits for. runs_ also moves on every log upload and watch poll.
  EventBus run_states_;
  std::unique_ptr<SessionManager> sessions_;
  std::unique_ptr<PgListener> listener_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<Housekeeper> housekeeper_;
  std::unique_ptr<PgAnalysisStore> analysis_;
  std::unique_ptr<Analyser> analyser_;
  std::unique_ptr<PgBisectStore> bisections_;
  std::unique_ptr<Bisector> bisector_;
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<PgForgeStore> forge_;
  std::unique_ptr<PgCampaignStore> campaigns_;
  std::unique_ptr<PgScheduleStore> schedules_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<WebhookHandler> webhooks_;
  std::unique_ptr<OutboxSender> outbox_;
  EventBus outbox_due_;
  std::unique_ptr<WebPages> pages_;
  std::unique_ptr<ControllerService> api_;
  std::unique_ptr<AgentGatewayService> gateway_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> agent_server_;  // --agent-listen
  int agent_port_ = 0;
  std::unique_ptr<HttpAuth> http_auth_;
  std::unique_ptr<common::HttpServer> http_;
  std::once_flag shutdown_once_;
};

void ControllerAppImpl::OnDatabaseEvent(const std::string& payload) {
  std::optional<ControllerEvent> e = DecodeEvent(payload);
  if (!e) return;
  using Kind = ControllerEvent::Kind;
  if (e->kind == Kind::kWork || e->kind == Kind::kAnything) work_.Notify();
  if (e->kind == Kind::kOutbox || e->kind == Kind::kAnything) outbox_due_.Notify();
  if (e->kind == Kind::kRunChanged || e->kind == Kind::kAnything) {
    runs_.Notify();
    run_states_.Notify();
  }
  // From a CancelRun on any replica; the one holding the agent's session delivers it.
  if (e->kind == Kind::kStopAttempt)
    sessions_->SendCancel(e->agent, e->attempt_id, "run cancelled");
}

absl::Status ControllerAppImpl::Init(const ControllerConfig& cfg) {
  cfg_ = cfg;
  if (cfg_.controller_id.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    cfg_.controller_id = absl::StrCat(host, ":", getpid());
  }
  ASSIGN_OR_RETURN(Listeners listen, ParseListeners());
  ASSIGN_OR_RETURN(Auths auth, LoadAuths(listen));
  ASSIGN_OR_RETURN(std::string dsn, OpenDatabase());
  RETURN_IF_ERROR(BuildQueue(dsn));
  ASSIGN_OR_RETURN(NotifierOptions alerts, AlertDelivery());
  BuildAnalysis(alerts);
  RETURN_IF_ERROR(BuildForge());
  BuildServices(auth);
  RETURN_IF_ERROR(StartHttp(listen, auth));
  ASSIGN_OR_RETURN(int grpc_port, StartGrpc(auth));
  dispatcher_->Start();
  housekeeper_->Start();
  analyser_->Start();
  bisector_->Start();
  outbox_->Start();
  scheduler_->Start();
  if (!alerts.webhook_url.empty() || !alerts.alertmanager_url.empty()) notifier_->Start();
  spdlog::info(
      "msg=\"controller serving\" id={} grpc_port={} agent_port={} http_port={} "
      "embedded_postgres={}",
      cfg_.controller_id, grpc_port, agent_port_, http_->port(), embedded_ != nullptr);
  RETURN_IF_ERROR(ExitStatus());  // the private PostgreSQL given up while we started
  if (!cfg_.ready_file.empty())
    return WriteReadyFile(cfg_.ready_file, grpc_port, http_->port(), agent_port_);
  return absl::OkStatus();
}

absl::StatusOr<ControllerAppImpl::Listeners> ControllerAppImpl::ParseListeners() const {
  Listeners l;
  RETURN_IF_ERROR(
      common::ParseHostPort("--grpc-listen", cfg_.grpc_listen, &l.grpc_host, &l.grpc_port));
  RETURN_IF_ERROR(
      common::ParseHostPort("--http-listen", cfg_.http_listen, &l.http_host, &l.http_port));
  if (!cfg_.agent_listen.empty())
    RETURN_IF_ERROR(
        common::ParseHostPort("--agent-listen", cfg_.agent_listen, &l.agent_host, &l.agent_port));
  return l;
}

absl::StatusOr<ControllerAppImpl::Auths> ControllerAppImpl::LoadAuths(const Listeners& l) const {
  ASSIGN_OR_RETURN(common::TokenAuth api,
                   LoadAuth(cfg_.api_token_file, common::TokenAuth::Kind::kApi));
  ASSIGN_OR_RETURN(common::TokenAuth agents,
                   LoadAuth(cfg_.agent_token_file, common::TokenAuth::Kind::kAgent));
  ASSIGN_OR_RETURN(
      auto creds, common::MakeServerCredentials({cfg_.tls_cert, cfg_.tls_key, cfg_.tls_client_ca}));
  const bool loopback = common::IsLoopbackHost(l.grpc_host);
  const bool agents_identified = !cfg_.tls_client_ca.empty() || agents.enabled();
  if (!loopback && !(api.enabled() && agents_identified) && !cfg_.insecure_no_auth) {
    return absl::FailedPreconditionError(
        "--grpc-listen " + cfg_.grpc_listen +
        " is not loopback: pass --api-token-file and --agent-token-file or --tls-client-ca (or "
        "--insecure-no-auth on a trusted network)");
  }
  if (!loopback && cfg_.tls_cert.empty() && !cfg_.insecure_plaintext) {
    return absl::FailedPreconditionError(
        "--grpc-listen " + cfg_.grpc_listen +
        " is not loopback: pass --tls-cert and --tls-key, so that tokens and results do not "
        "travel in clear text (or --insecure-plaintext on a trusted network)");
  }
  // The agents' own port: agents must be identified and their traffic encrypted off loopback.
  if (!l.agent_host.empty() && !common::IsLoopbackHost(l.agent_host)) {
    if (!agents_identified && !cfg_.insecure_no_auth)
      return absl::FailedPreconditionError(
          "--agent-listen " + cfg_.agent_listen +
          " is not loopback: pass --agent-token-file or --tls-client-ca (or --insecure-no-auth on "
          "a trusted network)");
    if (cfg_.tls_cert.empty() && !cfg_.insecure_plaintext)
      return absl::FailedPreconditionError(
          "--agent-listen " + cfg_.agent_listen +
          " is not loopback: pass --tls-cert and --tls-key (or --insecure-plaintext on a "
          "trusted network)");
  }
  const bool http_auth =
      cfg_.http_auth == "on" || (cfg_.http_auth == "auto" && !common::IsLoopbackHost(l.http_host));
  if (http_auth && !api.enabled()) {
    return absl::FailedPreconditionError(
        cfg_.http_auth == "on"
            ? "--http-auth on needs --api-token-file (the tokens that may view the pages)"
            : "--http-listen " + cfg_.http_listen +
                  " is not loopback, so the pages and /metrics need authentication: pass "
                  "--api-token-file (or --http-auth off on a trusted network)");
  }
  if (!api.enabled()) spdlog::warn("msg=\"API authentication disabled (no --api-token-file)\"");
  if (agents.enabled() && !agents.all_named() && cfg_.tls_client_ca.empty())
    spdlog::warn(
        "msg=\"an agent token names no agent: its holder may act as any agent (write 'AGENT "
        "TOKEN' lines)\"");
  spdlog::info(
      "msg=\"security\" tls={} agent_certificates={} agent_tokens={} api_tokens={} "
      "http_auth={}",
      !cfg_.tls_cert.empty(), !cfg_.tls_client_ca.empty(), agents.enabled(), api.enabled(),
      http_auth);
  return Auths{std::move(api), std::move(agents), std::move(creds), http_auth};
}

absl::StatusOr<std::string> ControllerAppImpl::OpenDatabase() {
  std::string dsn = cfg_.postgres_dsn;
  if (!dsn.empty()) RETURN_IF_ERROR(CheckDsnHasNoPassword(dsn));
  if (dsn.empty()) {
    EmbeddedPostgresOptions o;
    o.data_dir = cfg_.data_dir;
    ASSIGN_OR_RETURN(embedded_, EmbeddedPostgres::Start(o));
    dsn = embedded_->Dsn();
  }
  if (embedded_) {
    // We started that server, so we keep it running (a dead one is restarted; one that keeps
    // dying stops the controller with the reason).
    PostgresSupervisorOptions so;
    so.on_state = [this](bool up) { metrics_.postgres_up().Set(up ? 1 : 0); };
    so.on_restarted = [this] { metrics_.postgres_restarts().Increment(); };
    so.on_give_up = [this](absl::Status s) {
      {
        absl::MutexLock l(&exit_mu_);
        exit_status_ = std::move(s);
      }
      Shutdown();
    };
    supervisor_ = std::make_unique<PostgresSupervisor>(*embedded_, std::move(so));
    supervisor_->Start();
  }
  PgPoolOptions po;
  po.statement_timeout = cfg_.db_statement_timeout;
  ASSIGN_OR_RETURN(pool_, PgPool::Create(dsn, cfg_.pool_size, po));
  ASSIGN_OR_RETURN(int version, ApplyMigrations(*pool_, BuiltinMigrations()));
  spdlog::info("msg=\"database ready\" schema_version={}", version);
  return dsn;
}

absl::Status ControllerAppImpl::BuildQueue(const std::string& dsn) {
  retry_.base_backoff = cfg_.retry_base;
  QueueTimings timings;
  timings.assigned_lease = cfg_.lease;
  timings.agent_offline_after = cfg_.offline_after;
  jobs_ = std::make_unique<PgJobStore>(*pool_, retry_, timings);
  results_ = std::make_unique<PgResultStore>(*pool_);
  retention_ = std::make_unique<PgRetentionStore>(*pool_);
  agents_ = std::make_unique<PgAgentStore>(*pool_, retry_, timings);
  // Before anything can expire: whatever ran while no controller was up gets a grace period.
  RETURN_IF_ERROR(jobs_->ExtendLiveLeases(cfg_.startup_grace));
  SessionManagerOptions so;
  so.controller_id = cfg_.controller_id;
  so.heartbeat_interval = cfg_.heartbeat_interval;
  so.offline_after = cfg_.offline_after;
  sessions_ =
      std::make_unique<SessionManager>(so, *agents_, work_, metrics_, common::RealClock::Get());
  listener_ = std::make_unique<PgListener>(
      dsn, kEventsChannel, [this](const std::string& payload) { OnDatabaseEvent(payload); });
  dispatcher_ =
      std::make_unique<Dispatcher>(*jobs_, *sessions_, work_, metrics_, cfg_.dispatch_poll);
  housekeeper_ = std::make_unique<Housekeeper>(*jobs_, *sessions_, work_, cfg_.sweep_interval,
                                               cfg_.lost_after);
  return absl::OkStatus();
}

absl::StatusOr<NotifierOptions> ControllerAppImpl::AlertDelivery() const {
  NotifierOptions no;
  no.webhook_url = cfg_.alert_webhook_url;
  no.alertmanager_url = cfg_.alertmanager_url;
  for (const auto& [flag, url] : {std::pair{"--alert-webhook-url", no.webhook_url},
                                  {"--alertmanager-url", no.alertmanager_url}}) {
    std::string host, path;
    int port = 0;
    if (!url.empty() && !common::SplitHttpUrl(url, &host, &port, &path))
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", url, ": want an http://host[:port][/path] URL"));
  }
  if (!cfg_.alert_webhook_secret_file.empty()) {
    std::ifstream in(cfg_.alert_webhook_secret_file);
    std::getline(in, no.webhook_secret);
    if (no.webhook_secret.empty())
      return absl::InvalidArgumentError("--alert-webhook-secret-file: " +
                                        cfg_.alert_webhook_secret_file + " is empty or unreadable");
  }
  return no;
}

void ControllerAppImpl::BuildAnalysis(const NotifierOptions& alerts) {
  AnalyserOptions ao;
  ao.poll = cfg_.analysis_poll;
  ao.confirm_inconclusive = cfg_.confirm_inconclusive;
  ao.change_points.max_p = cfg_.change_point_max_p;
  ao.webhook = !alerts.webhook_url.empty();
  ao.alertmanager = !alerts.alertmanager_url.empty();
  analysis_ = std::make_unique<PgAnalysisStore>(*pool_);
  analyser_ = std::make_unique<Analyser>(*analysis_, *results_, run_states_, ao);
  notifier_ = std::make_unique<Notifier>(*analysis_, alerts);
  bisections_ = std::make_unique<PgBisectStore>(*pool_);
  BisectorOptions bo;
  bo.poll = cfg_.analysis_poll;
  bisector_ = std::make_unique<Bisector>(*bisections_, *jobs_, *analysis_, run_states_, bo);
}

absl::Status ControllerAppImpl::BuildForge() {
  forge_ = std::make_unique<PgForgeStore>(*pool_);
  campaigns_ = std::make_unique<PgCampaignStore>(*pool_);
  schedules_ = std::make_unique<PgScheduleStore>(*pool_);
  scheduler_ = std::make_unique<Scheduler>(*schedules_, GitBranchHead, cfg_.schedule_poll);
  scheduler_->OnFired([this] {
    work_.Notify();
    runs_.Notify();
  });
  WebhookOptions wo;
  if (!cfg_.github_webhook_secret_file.empty()) {
    ASSIGN_OR_RETURN(wo.github_secret, ReadCredential("--github-webhook-secret-file",
                                                      cfg_.github_webhook_secret_file));
  }
  if (!cfg_.gitlab_webhook_secret_file.empty()) {
    ASSIGN_OR_RETURN(wo.gitlab_secret, ReadCredential("--gitlab-webhook-secret-file",
                                                      cfg_.gitlab_webhook_secret_file));
  }
  wo.limits.default_max_attempts = retry_.default_max_attempts;
  webhooks_ = std::make_unique<WebhookHandler>(*forge_, metrics_, work_, runs_, wo);

  std::map<std::string, std::unique_ptr<ForgeClient>> clients;
  const bool app = !cfg_.github_app_id.empty() || !cfg_.github_app_key_file.empty();
  if (app && (cfg_.github_app_id.empty() || cfg_.github_app_key_file.empty()))
    return absl::InvalidArgumentError("--github-app-id and --github-app-key-file go together");
  if (app && !cfg_.github_token_file.empty())
    return absl::InvalidArgumentError("--github-token-file or a GitHub App, not both");
  if (app || !cfg_.github_token_file.empty()) {
    GitHubAuthConfig ga;
    ga.app_id = cfg_.github_app_id;
    if (app) {
      ASSIGN_OR_RETURN(ga.private_key_pem,
                       ReadCredential("--github-app-key-file", cfg_.github_app_key_file, true));
      if (auto jwt = GitHubAppJwt(ga.app_id, ga.private_key_pem, absl::Now()); !jwt.ok())
        return absl::InvalidArgumentError("--github-app-key-file: " +
                                          std::string(jwt.status().message()));
    } else {
      ASSIGN_OR_RETURN(ga.token, ReadCredential("--github-token-file", cfg_.github_token_file));
    }
    ASSIGN_OR_RETURN(
        auto http, ForgeHttp::Create("--github-api-url", cfg_.github_api_url, cfg_.forge_timeout));
    clients[kGitHub] = std::make_unique<GitHubClient>(std::move(http), std::move(ga));
  }
  if (!cfg_.gitlab_token_file.empty()) {
    ASSIGN_OR_RETURN(std::string token,
                     ReadCredential("--gitlab-token-file", cfg_.gitlab_token_file));
    ASSIGN_OR_RETURN(
        auto http, ForgeHttp::Create("--gitlab-api-url", cfg_.gitlab_api_url, cfg_.forge_timeout));
    clients[kGitLab] = std::make_unique<GitLabClient>(std::move(http), std::move(token));
  }
  spdlog::info(
      "msg=\"CI integration\" github_reports={} gitlab_reports={} github_secret={} "
      "gitlab_secret={}",
      clients.count(kGitHub) ? (app ? "app" : "token") : "off",
      clients.count(kGitLab) ? "token" : "off", !wo.github_secret.empty(),
      !wo.gitlab_secret.empty());
  OutboxSenderOptions oo;
  oo.poll = cfg_.outbox_poll;
  oo.lease = cfg_.outbox_lease;
  outbox_ = std::make_unique<OutboxSender>(*forge_, *jobs_, *analysis_, *results_, *campaigns_,
                                           std::move(clients), outbox_due_, metrics_, oo);
  return absl::OkStatus();
}

void ControllerAppImpl::BuildServices(const Auths& auth) {
  common::SpecLimits spec_limits;
  spec_limits.default_max_attempts = retry_.default_max_attempts;
  spec_limits.promtool = common::FindProgram(cfg_.promtool);
  if (spec_limits.promtool.empty() && !cfg_.promtool.empty()) {
    spdlog::warn("msg=\"promtool not found; suites' PromQL is not checked at submit\" promtool={}",
                 cfg_.promtool);
  }
  pages_ = std::make_unique<WebPages>(*jobs_, *results_, *agents_, *analysis_, *analyser_);
  api_ =
      std::make_unique<ControllerService>(*jobs_, *results_, *agents_, *sessions_, work_, runs_,
                                          metrics_, auth.api, spec_limits, *analysis_, *analyser_);
  api_->SetForge(forge_.get(), [this] { webhooks_->InvalidateSecrets(); });
  api_->SetCampaigns(campaigns_.get(), schedules_.get());
  api_->SetBisector(bisector_.get(), bisections_.get());
  pages_->SetBisections(bisections_.get());
  pages_->SetForge(forge_.get());
  pages_->SetCampaigns(campaigns_.get());
  const RetentionAges ages{absl::Hours(24) * cfg_.retain_logs_days,
                           absl::Hours(24) * cfg_.retain_profiles_days};
  api_->SetRetention(retention_.get(), ages);
  pages_->SetRetention(retention_.get(), ages);
  housekeeper_->SetRetention(retention_.get(), ages, cfg_.retention_interval, &metrics_);
  gateway_ = std::make_unique<AgentGatewayService>(
      *jobs_, *results_, *sessions_, work_, runs_, metrics_,
      AgentIdentities(auth.agents, /*require_certificate=*/!cfg_.tls_client_ca.empty()),
      UploadLimits{}, spec_limits);
}

absl::Status ControllerAppImpl::StartHttp(const Listeners& l, const Auths& auth) {
  if (auth.http_auth)
    http_auth_ =
        std::make_unique<HttpAuth>(auth.api, /*secure_cookie=*/!cfg_.http_tls_cert.empty());
  if (!cfg_.http_tls_cert.empty() || !cfg_.http_tls_key.empty()) {
    if (cfg_.http_tls_cert.empty() || cfg_.http_tls_key.empty())
      return absl::InvalidArgumentError("--http-tls-cert and --http-tls-key: both or neither");
    RETURN_IF_ERROR(common::CheckServerKeyPair("--http-tls-cert", cfg_.http_tls_cert,
                                               "--http-tls-key", cfg_.http_tls_key));
  }
  common::HttpServerOptions http;
  http.before_scrape = [this] {
    if (auto counts = jobs_->CountJobsByState(); counts.ok()) metrics_.SetJobsByState(*counts);
    if (auto usage = retention_->Usage(); usage.ok()) {
      std::map<std::string, int64_t> bytes;
      for (const auto& k : usage->kinds()) bytes[k.kind()] = k.bytes();
      metrics_.SetStoreBytes(bytes);
    }
  };
  http.add_routes = [this](httplib::Server& server) {
    if (http_auth_) http_auth_->Install(server);
    pages_->Register(server);
    webhooks_->Register(server);
  };
  if (http_auth_) {
    http.pre_routing = [auth = http_auth_.get()](const httplib::Request& req,
                                                 httplib::Response& res) {
      return auth->Refuse(req, res);
    };
  }
  http.tls = {cfg_.http_tls_cert, cfg_.http_tls_key};
  ASSIGN_OR_RETURN(http_, common::HttpServer::Start(l.http_host, l.http_port, metrics_.registry(),
                                                    std::move(http)));
  // Links in reports and alerts: --external-url, or where the pages are now being served.
  const std::string external_url = cfg_.external_url.empty()
                                       ? absl::StrCat(cfg_.http_tls_cert.empty() ? "http" : "https",
                                                      "://", l.http_host, ":", http_->port())
                                       : cfg_.external_url;
  analyser_->SetExternalUrl(external_url);
  api_->SetExternalUrl(external_url);
  webhooks_->SetExternalUrl(external_url);
  outbox_->SetExternalUrl(external_url);
  return absl::OkStatus();
}

absl::StatusOr<int> ControllerAppImpl::StartGrpc(const Auths& auth) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // What both listeners share.
  auto configure = [](grpc::ServerBuilder& builder) {
    builder.SetMaxReceiveMessageSize(8 << 20);
    // gRPC enables SO_REUSEPORT by default: a second controller would silently share the port.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    // Detect dead agents on half-open connections even between heartbeats.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 20'000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5'000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(GRPC_ARG_ENABLE_CHANNELZ, 0);
  };
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(cfg_.grpc_listen, auth.grpc_credentials, &bound_port);
  builder.RegisterService(api_.get());
  builder.RegisterService(gateway_.get());
  configure(builder);
  server_ = builder.BuildAndStart();
  if (!server_ || bound_port == 0)
    return absl::UnavailableError("cannot listen on --grpc-listen " + cfg_.grpc_listen);
  if (!cfg_.agent_listen.empty()) {
    // The gateway alone: gRPC builds a table of the server's methods for every connection
    // (two slots a method), so an agent connected here costs ~6.5 KiB less than on the API's
    // port with its ~50 methods (README, "The store at fleet scale").
    grpc::ServerBuilder agents;
    agents.AddListeningPort(cfg_.agent_listen, auth.grpc_credentials, &agent_port_);
    agents.RegisterService(gateway_.get());
    configure(agents);
    agent_server_ = agents.BuildAndStart();
    if (!agent_server_ || agent_port_ == 0)
      return absl::UnavailableError("cannot listen on --agent-listen " + cfg_.agent_listen);
  }
  return bound_port;
}

void ControllerAppImpl::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    spdlog::info("msg=\"controller shutting down\"");
    if (dispatcher_) dispatcher_->Stop();
    if (housekeeper_) housekeeper_->Stop();
    if (analyser_) analyser_->Stop();
    if (bisector_) bisector_->Stop();
    if (scheduler_) scheduler_->Stop();
    if (notifier_) notifier_->Stop();
    if (outbox_) outbox_->Stop();
    if (sessions_) sessions_->Stop();
    if (api_) api_->StopWatches();
    const auto deadline =
        std::chrono::system_clock::now() + absl::ToChronoNanoseconds(cfg_.shutdown_deadline);
    if (agent_server_) agent_server_->Shutdown(deadline);
    if (server_) server_->Shutdown(deadline);
    if (http_) http_->Stop();
  });
}

ControllerAppImpl::~ControllerAppImpl() {
  Shutdown();
  supervisor_.reset();  // before the server it watches is stopped
  listener_.reset();
  pool_.reset();
  embedded_.reset();  // stops the private PostgreSQL after every connection is gone
}

}  // namespace

absl::StatusOr<std::unique_ptr<ControllerApp>> ControllerApp::Create(const ControllerConfig& cfg) {
  auto app = std::make_unique<ControllerAppImpl>();
  if (auto s = app->Init(cfg); !s.ok()) return s;
  return app;
}

}  // namespace perfgate::controller
