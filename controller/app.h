// Builds the controller's object graph from its configuration and runs it until Shutdown().
// main.cc only parses flags and calls this; tests run the real binary.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace perfgate::controller {

struct ControllerConfig {
  std::string grpc_listen = "127.0.0.1:7600";
  // A listener serving only the agents' gateway; "" = agents use grpc_listen.
  std::string agent_listen;
  std::string http_listen = "127.0.0.1:7601";
  std::string postgres_dsn;  // empty: embedded PostgreSQL under data_dir
  std::string data_dir = "./perfgate-data";
  std::string api_token_file;
  std::string agent_token_file;
  bool insecure_no_auth = false;  // allow non-loopback listening without tokens
  // TLS on the gRPC port (docs/security.md). With a client CA, agents must present a
  // certificate from it and act only as the agent it names (mutual TLS).
  std::string tls_cert, tls_key, tls_client_ca;
  bool insecure_plaintext = false;  // allow a non-loopback gRPC listener without TLS
  // Pages and /metrics for viewers only: "on", "off", or "auto" (on unless --http-listen is
  // loopback).
  std::string http_auth = "auto";
  // TLS on the HTTP port (pages, webhooks, /metrics): both or neither.
  std::string http_tls_cert, http_tls_key;
  std::string controller_id;          // default: hostname:pid
  std::string ready_file;             // written (JSON with ports) once serving
  std::string promtool = "promtool";  // checks suites' PromQL at submit; "" = no check
  int pool_size = 8;
  absl::Duration db_statement_timeout = absl::Seconds(60);  // PgPoolOptions
  absl::Duration lost_after = absl::Minutes(10);
  absl::Duration retry_base = absl::Seconds(10);
  absl::Duration lease = absl::Seconds(30);
  absl::Duration startup_grace = absl::Seconds(60);
  absl::Duration sweep_interval = absl::Seconds(2);
  absl::Duration dispatch_poll = absl::Seconds(5);  // backstop; wake-ups are event-driven
  absl::Duration heartbeat_interval = absl::Seconds(10);
  absl::Duration offline_after = absl::Seconds(30);
  absl::Duration shutdown_deadline = absl::Seconds(10);
  // Retention: finished runs' logs and profiles removed after these many days (0: kept);
  // measurements are kept. Checked every `retention_interval`.
  int retain_logs_days = 30;
  int retain_profiles_days = 90;
  absl::Duration retention_interval = absl::Hours(1);
  // Analysis and alerts.
  std::string external_url;       // base of links in reports/alerts; default http://<http-listen>
  std::string alert_webhook_url;  // "" off
  std::string alert_webhook_secret_file;
  std::string alertmanager_url;  // "" off
  absl::Duration analysis_poll = absl::Seconds(5);
  absl::Duration schedule_poll = absl::Seconds(10);  // how often due schedules are looked for
  bool confirm_inconclusive = true;
  // Change points along baseline branches: the significance a split must reach.
  double change_point_max_p = 0.001;
  // CI integration (docs/ci.md). Credentials live in files, never in the database or logs.
  std::string github_api_url = "https://api.github.com";
  std::string github_token_file;    // a personal access token, or
  std::string github_app_id;        // a GitHub App: its id and
  std::string github_app_key_file;  // its private key (PEM)
  std::string
      github_webhook_secret_file;  // the controller's webhook secret (projects may have own)
  std::string gitlab_api_url = "https://gitlab.com/api/v4";
  std::string gitlab_token_file;
  std::string gitlab_webhook_secret_file;
  absl::Duration forge_timeout = absl::Seconds(10);
  absl::Duration outbox_poll = absl::Seconds(5);
  absl::Duration outbox_lease = absl::Seconds(60);
};

class ControllerApp {
 public:
  static absl::StatusOr<std::unique_ptr<ControllerApp>> Create(const ControllerConfig& cfg);
  virtual ~ControllerApp() = default;
  // Blocks until Shutdown() is called (from a signal thread) and the server has stopped.
  virtual void Wait() = 0;
  virtual void Shutdown() = 0;
  // Why the controller stopped by itself (its private PostgreSQL given up), or OK.
  virtual absl::Status ExitStatus() = 0;
};

}  // namespace perfgate::controller
