// The agent of one benchmark machine: keeps a session with the controller (reconnecting with
// jittered backoff), runs one attempt at a time, journals everything to --work-dir and hands
// it to the Uploader. On start it recovers the journal of its previous life: kills orphaned
// process groups, reports their attempts as interrupted, re-sends what was not acknowledged.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace perfgate::agent {

struct AgentConfig {
  std::string controller = "127.0.0.1:7600";
  std::string name;                           // default: hostname
  std::map<std::string, std::string> labels;  // added to the detected ones
  std::string machine_class = "default";
  std::string work_dir = "./perfgate-agent";
  std::string token_file;
  // TLS to the controller (docs/security.md): its CA, and this agent's certificate and key
  // (mutual TLS; the certificate's CN must be this agent's name).
  std::string tls_ca, tls_cert, tls_key;
  // Job code runs as this unprivileged user ("": as the agent's own user). The default is
  // `kDefaultJobUser`, which an agent that cannot switch to it (not root, no such user) gives
  // up with a warning; a user named on purpose (`job_user_explicit`) is required.
  std::string job_user = "perfgate-job";
  bool job_user_explicit = false;
  std::string http_listen = "127.0.0.1:7602";
  absl::Duration reconnect_min = absl::Milliseconds(200);
  absl::Duration reconnect_max = absl::Seconds(10);
  absl::Duration default_heartbeat = absl::Seconds(10);
  std::string prometheus_url;                 // suites' PromQL goes here; "" = a private server
  std::string prometheus_bin = "prometheus";  // the private server's binary
  // Test hosts it gives one job at most (label topology.max_hosts; 0: none), and the memory
  // their limits may add up to (topology.memory_mib; 0: the machine's memory less 1 GiB).
  int max_hosts = 250;
  int64_t hosts_memory_mib = 0;
  // A pool of machines reached over ssh for `provider: ssh` stacks (agent/hosts/ssh_hosts.h);
  // "" = none. Label topology.ssh_hosts: how many it lists.
  std::string host_pool_file;
};

class Agent {
 public:
  static absl::StatusOr<std::unique_ptr<Agent>> Create(const AgentConfig& cfg);
  virtual ~Agent() = default;
  // Blocks until Shutdown().
  virtual void Run() = 0;
  // Stops taking work, cancels the running attempt, flushes what it can, returns from Run().
  virtual void Shutdown() = 0;
};

}  // namespace perfgate::agent
