// perfgate-controller: flags to config, then the app. Nothing else lives here.
#include <stdlib.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "common/log/log.h"
#include "common/log/logging.h"
#include "common/process/signals.h"
#include "common/time/duration_flag.h"
#include "controller/app.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

using perfgate::controller::ControllerConfig;

// Where the controller listens, and its database.
void AddServingFlags(CLI::App& app, ControllerConfig& cfg) {
  app.add_option("--grpc-listen", cfg.grpc_listen, "gRPC address for the API and agents")
      ->capture_default_str();
  app.add_option("--agent-listen", cfg.agent_listen,
                 "also serve the agents' gateway alone on this gRPC address (agents then connect "
                 "here; each connection costs less than on --grpc-listen, and the two ports can "
                 "have network policies of their own). Same TLS and authentication rules");
  app.add_option("--http-listen", cfg.http_listen, "HTTP address for /metrics and /healthz")
      ->capture_default_str();
  app.add_option("--postgres-dsn", cfg.postgres_dsn,
                 "libpq connection string of an existing database (no password: use PGPASSFILE)");
  app.add_option("--data-dir", cfg.data_dir, "where the embedded PostgreSQL lives")
      ->capture_default_str();
  app.add_option("--controller-id", cfg.controller_id,
                 "name of this replica (default hostname:pid)");
  app.add_option("--ready-file", cfg.ready_file,
                 "write {grpc_port, http_port, pid} here once serving");
  app.add_option("--promtool", cfg.promtool,
                 "promtool used to check suites' PromQL at submit (\"\" to skip the check)")
      ->capture_default_str();
  app.add_option("--db-pool-size", cfg.pool_size, "database connections")
      ->capture_default_str()
      ->check(CLI::Range(2, 64));
  perfgate::common::AddDurationOption(app, "--db-statement-timeout", &cfg.db_statement_timeout,
                                      "cancel a database statement running longer (0: never)");
}

// Who may talk to it, and over what (docs/security.md).
void AddSecurityFlags(CLI::App& app, ControllerConfig& cfg) {
  app.add_option("--api-token-file", cfg.api_token_file,
                 "API tokens, one 'NAME ROLE TOKEN' a line (ROLE: viewer, submitter or admin); "
                 "mode 0600");
  app.add_option("--agent-token-file", cfg.agent_token_file,
                 "agent tokens, one 'AGENT TOKEN' a line: a token lets only that agent connect "
                 "and touch only its attempts; mode 0600");
  app.add_flag("--insecure-no-auth", cfg.insecure_no_auth,
               "allow a non-loopback listener without tokens");
  app.add_option("--tls-cert", cfg.tls_cert, "serve gRPC over TLS with this certificate (PEM)");
  app.add_option("--tls-key", cfg.tls_key, "the certificate's private key (PEM, mode 0600)");
  app.add_option("--tls-client-ca", cfg.tls_client_ca,
                 "mutual TLS for agents: CA certificates (PEM, several during a rotation) that "
                 "issue agent certificates; an agent's certificate CN is its name");
  app.add_flag("--insecure-plaintext", cfg.insecure_plaintext,
               "allow a non-loopback gRPC listener without TLS");
  app.add_option("--http-tls-cert", cfg.http_tls_cert,
                 "serve the HTTP port (pages, webhooks, /metrics) over TLS with this certificate "
                 "(PEM; with --http-tls-key)");
  app.add_option("--http-tls-key", cfg.http_tls_key, "the HTTP certificate's key (PEM, mode 0600)");
  app.add_option("--http-auth", cfg.http_auth,
                 "pages and /metrics answer only API tokens (Authorization: Bearer, or the "
                 "/login cookie): on, off, or auto (on unless --http-listen is loopback)")
      ->check(CLI::IsMember({"on", "off", "auto"}))
      ->capture_default_str();
}

// The queue's timings: leases, retries, polls.
void AddQueueFlags(CLI::App& app, ControllerConfig& cfg) {
  app.add_option("--retain-logs-days", cfg.retain_logs_days,
                 "finished runs' logs are removed after this many days (0: kept; measurements "
                 "are always kept)")
      ->check(CLI::Range(0, 3650))
      ->capture_default_str();
  app.add_option("--retain-profiles-days", cfg.retain_profiles_days,
                 "finished runs' pprof profiles are removed after this many days (0: kept)")
      ->check(CLI::Range(0, 3650))
      ->capture_default_str();
  perfgate::common::AddDurationOption(app, "--retention-interval", &cfg.retention_interval,
                                      "how often retention looks for what to remove");
  perfgate::common::AddDurationOption(app, "--lost-after", &cfg.lost_after,
                                      "how long a LOST attempt keeps its agent reserved");
  perfgate::common::AddDurationOption(
      app, "--retry-backoff", &cfg.retry_base,
      "first retry delay after an infrastructure failure (doubles)");
  perfgate::common::AddDurationOption(app, "--lease", &cfg.lease,
                                      "attempt lease, renewed by heartbeats");
  perfgate::common::AddDurationOption(app, "--startup-grace", &cfg.startup_grace,
                                      "leases are extended by this much at start-up");
  perfgate::common::AddDurationOption(app, "--dispatch-poll", &cfg.dispatch_poll,
                                      "backstop poll of the dispatcher (it wakes on events)");
  perfgate::common::AddDurationOption(app, "--sweep-interval", &cfg.sweep_interval,
                                      "lease sweeper period");
  perfgate::common::AddDurationOption(app, "--heartbeat-interval", &cfg.heartbeat_interval,
                                      "heartbeat period asked of agents");
  perfgate::common::AddDurationOption(app, "--offline-after", &cfg.offline_after,
                                      "an agent silent this long is offline");
}

// Analysis, reports and alerts.
void AddAnalysisFlags(CLI::App& app, ControllerConfig& cfg) {
  app.add_option("--external-url", cfg.external_url,
                 "base URL of this controller's web pages, for links in reports and alerts "
                 "(default http://<--http-listen>)");
  app.add_option("--alert-webhook-url", cfg.alert_webhook_url,
                 "POST each alert here as JSON (http://host:port/path)");
  app.add_option("--alert-webhook-secret-file", cfg.alert_webhook_secret_file,
                 "sign webhooks with HMAC-SHA256 of TIMESTAMP.BODY under this file's first line "
                 "(headers X-Perfgate-Timestamp: unix seconds, X-Perfgate-Signature: "
                 "sha256=<hex>)")
      ->check(CLI::ExistingFile);
  app.add_option("--alertmanager-url", cfg.alertmanager_url,
                 "send alerts to this Alertmanager's v2 API (http://host:9093)");
  perfgate::common::AddDurationOption(app, "--analysis-poll", &cfg.analysis_poll,
                                      "backstop poll for finished runs to analyse");
  perfgate::common::AddDurationOption(app, "--schedule-poll", &cfg.schedule_poll,
                                      "how often due schedules (perfgate schedule) are fired");
  app.add_flag("--confirm-inconclusive,!--no-confirm-inconclusive", cfg.confirm_inconclusive,
               "schedule one confirmation run (baseline and candidate commits interleaved on the "
               "candidate's agent) for each candidate inconclusive on a gating metric, with as "
               "many repetitions as its measured noise needs within the suite's budget "
               "(analysis.max_repetitions, analysis.max_confirmation_time)")
      ->capture_default_str();
  app.add_option("--change-point-max-p", cfg.change_point_max_p,
                 "a step along a baseline branch is a change point when its permutation p-value "
                 "is at most this (lower: fewer false alarms, more baseline runs before one is "
                 "found; 1999 permutations, so no lower than 0.0005)")
      ->check(CLI::Range(0.0005, 0.2))
      ->capture_default_str();
}

// CI integration: webhooks in, reports out (docs/ci.md).
void AddForgeFlags(CLI::App& app, ControllerConfig& cfg) {
  auto file = [&](const char* flag, std::string* v, const char* help) {
    app.add_option(flag, *v, help)->check(CLI::ExistingFile)->group("CI integration");
  };
  file("--github-webhook-secret-file", &cfg.github_webhook_secret_file,
       "verify POST /hooks/github (X-Hub-Signature-256) with this file's first line; projects "
       "may have secrets of their own");
  file("--github-token-file", &cfg.github_token_file,
       "report to GitHub with this token (first line; a personal access token with checks, "
       "statuses and pull request write access)");
  app.add_option("--github-app-id", cfg.github_app_id,
                 "report to GitHub as this GitHub App (with --github-app-key-file)")
      ->group("CI integration");
  file("--github-app-key-file", &cfg.github_app_key_file, "the GitHub App's private key (PEM)");
  app.add_option("--github-api-url", cfg.github_api_url,
                 "GitHub's REST API (GitHub Enterprise: https://HOST/api/v3)")
      ->capture_default_str()
      ->group("CI integration");
  file("--gitlab-webhook-secret-file", &cfg.gitlab_webhook_secret_file,
       "accept POST /hooks/gitlab whose X-Gitlab-Token equals this file's first line");
  file("--gitlab-token-file", &cfg.gitlab_token_file,
       "report to GitLab with this access token (api scope)");
  app.add_option("--gitlab-api-url", cfg.gitlab_api_url, "GitLab's REST API v4")
      ->capture_default_str()
      ->group("CI integration");
  perfgate::common::AddDurationOption(app, "--forge-timeout", &cfg.forge_timeout,
                                      "timeout of each call to a forge's API");
  perfgate::common::AddDurationOption(app, "--outbox-poll", &cfg.outbox_poll,
                                      "backstop poll of the outbox (reports are sent as soon as "
                                      "they are due)");
  perfgate::common::AddDurationOption(
      app, "--outbox-lease", &cfg.outbox_lease,
      "how long a report being sent is held by its sender; one whose sender died before "
      "recording the answer is sent again after this");
}

}  // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // glibc gives each thread that allocates under contention an arena of its own, up to eight per
  // core; the controller's ~30 threads (gRPC's, the pool's, the analyser's bootstrap helpers)
  // then spread a thousand agents' connection state over a dozen arenas whose partly used pages
  // cannot be returned. Two arenas held the fleet benchmark's controller ~7 MiB lower at the
  // same CPU per heartbeat (README, "The store at fleet scale"). MALLOC_ARENA_MAX overrides.
  if (getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
#endif
  ControllerConfig cfg;
  std::string log_level = "info";
  CLI::App app{
      "perfgate-controller: the durable job queue, scheduler and metric store of the perfgate "
      "performance lab.\n"
      "With no --postgres-dsn it runs a private PostgreSQL under --data-dir (unix socket only)."};
  AddServingFlags(app, cfg);
  AddSecurityFlags(app, cfg);
  AddQueueFlags(app, cfg);
  AddAnalysisFlags(app, cfg);
  AddForgeFlags(app, cfg);
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (auto s = perfgate::common::InitLogging("controller", log_level); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }
  std::unique_ptr<perfgate::controller::ControllerApp>* app_ptr = nullptr;
  std::unique_ptr<perfgate::controller::ControllerApp> controller;
  app_ptr = &controller;
  std::atomic<bool> early_signal{false};
  perfgate::common::HandleTerminationSignals([&](int sig) {
    spdlog::info("msg=\"signal received\" signal={}", sig);
    if (*app_ptr) {
      (*app_ptr)->Shutdown();
    } else {
      early_signal = true;
    }
  });
  auto created = perfgate::controller::ControllerApp::Create(cfg);
  if (!created.ok()) {
    spdlog::error("msg=\"controller failed to start\" error=\"{}\"", created.status().ToString());
    return 1;
  }
  controller = *std::move(created);
  if (early_signal) controller->Shutdown();
  controller->Wait();
  absl::Status exit = controller->ExitStatus();
  controller.reset();
  if (!exit.ok()) {
    spdlog::critical("msg=\"controller stopped\" error=\"{}\"", std::string(exit.message()));
    return 1;
  }
  spdlog::info("msg=\"controller stopped\"");
  return 0;
}
