// perfgate-agent: flags to config, then the agent. Nothing else lives here.
#include <iostream>

#include "CLI/CLI.hpp"
#include "agent/agent.h"
#include "common/log/log.h"
#include "common/log/logging.h"
#include "common/process/signals.h"

int main(int argc, char** argv) {
  perfgate::agent::AgentConfig cfg;
  std::vector<std::string> labels;
  std::string log_level = "info";
  CLI::App app{
      "perfgate-agent: runs perfgate benchmark jobs on this machine, one at a time, for a perfgate "
      "controller."};
  app.add_option("--controller", cfg.controller, "controller gRPC address HOST:PORT")
      ->capture_default_str();
  app.add_option("--name", cfg.name, "agent name (default: hostname)");
  app.add_option("--machine-class", cfg.machine_class, "machine class label, e.g. bare-metal-16c")
      ->capture_default_str();
  app.add_option("--label", labels, "extra label KEY=VALUE (repeatable)");
  app.add_option("--max-hosts", cfg.max_hosts,
                 "test hosts (network namespaces) one job may have here; 0: none")
      ->check(CLI::Range(0, 250))
      ->capture_default_str();
  app.add_option("--hosts-memory-mib", cfg.hosts_memory_mib,
                 "memory the test hosts' limits of one job may add up to (default: the machine's "
                 "less 1 GiB)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--host-pool", cfg.host_pool_file,
                 "a YAML file listing machines (or VMs) reached with ssh, for stacks whose hosts "
                 "are `provider: ssh` (format: docs/hosts.md)")
      ->check(CLI::ExistingFile);
  app.add_option("--work-dir", cfg.work_dir, "journal, spool and scratch space")
      ->capture_default_str();
  app.add_option("--token-file", cfg.token_file,
                 "bearer token for the controller's agent gateway (mode 0600)");
  app.add_option("--tls-ca", cfg.tls_ca, "the controller serves TLS: its CA certificate (PEM)");
  app.add_option("--tls-cert", cfg.tls_cert,
                 "this agent's client certificate (PEM; its CN is the agent's name, and --name's "
                 "default)");
  app.add_option("--tls-key", cfg.tls_key, "the client certificate's key (PEM, mode 0600)");
  auto* job_user =
      app.add_option("--job-user", cfg.job_user,
                     "run the jobs' code (builds, services, fixtures, commands) as this "
                     "unprivileged user, so that it cannot read the agent's key and token (needs "
                     "root; the default user is skipped with a warning where the agent cannot "
                     "switch to it; '' runs jobs as the agent's own user)")
          ->capture_default_str();
  app.add_option("--http-listen", cfg.http_listen, "HTTP address for /metrics")
      ->capture_default_str();
  app.add_option("--prometheus-url", cfg.prometheus_url,
                 "an existing Prometheus for suites' queries (it must scrape their targets); by "
                 "default each attempt runs a private one");
  app.add_option("--prometheus-bin", cfg.prometheus_bin,
                 "the prometheus binary for private servers")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  cfg.job_user_explicit = job_user->count() > 0;
  for (const auto& l : labels) {
    auto eq = l.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "--label: want KEY=VALUE, got '" << l << "'\n";
      return 2;
    }
    cfg.labels[l.substr(0, eq)] = l.substr(eq + 1);
  }
  if (auto s = perfgate::common::InitLogging("agent", log_level); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }
  std::atomic<perfgate::agent::Agent*> running{nullptr};
  std::atomic<bool> early{false};
  perfgate::common::HandleTerminationSignals([&](int sig) {
    spdlog::info("msg=\"signal received\" signal={}", sig);
    if (auto* a = running.load())
      a->Shutdown();
    else
      early = true;
  });
  auto agent = perfgate::agent::Agent::Create(cfg);
  if (!agent.ok()) {
    spdlog::error("msg=\"agent failed to start\" error=\"{}\"", agent.status().ToString());
    return 1;
  }
  running = agent->get();
  if (early) (*agent)->Shutdown();
  (*agent)->Run();
  spdlog::info("msg=\"agent stopped\"");
  return 0;
}
