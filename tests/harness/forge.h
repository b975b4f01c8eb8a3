// What the CI-integration tests put around the controller, all real: GitHub's official OpenAPI
// description served by Prism (which answers 422 to any request the description forbids),
// GitHub's published webhook examples and Octokit's signer (npm packages installed into
// tests/forge/node_modules by tools/install-deps.sh --test), and a recording proxy in front of
// Prism that keeps every request and can play a forge outage or rate limit.
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness/processes.h"

namespace perfgate::testing {

// tests/forge/node_modules, or "" with *why when the npm packages are not installed.
std::string ForgeNodeModules(std::string* why);

// One example payload GitHub publishes for `event` (with `action`, "" for none), the n-th.
nlohmann::json GitHubExample(const std::string& event, const std::string& action, int n = 0);

// "sha256=<hex>" for `body` under `secret`, computed by @octokit/webhooks-methods in node.
std::string OctokitSign(const std::string& secret, const std::string& body);

class PrismServer {
 public:
  // Starts `prism mock --errors` on a free port with @octokit/openapi's api.github.com
  // description and waits until it listens (about 10 s).
  explicit PrismServer(const std::string& log_dir);
  ~PrismServer();
  int port() const { return port_; }
  bool ok() const { return ok_; }
  std::string Log() const { return proc_ ? proc_->Log() : ""; }

 private:
  std::unique_ptr<ChildProcess> proc_;
  int port_ = 0;
  bool ok_ = false;
};

// Forwards to an upstream HTTP server and records each exchange.
class RecordingProxy {
 public:
  struct Exchange {
    std::string method, path, body, authorization, accept;
    int status = 0;  // what the client was answered
    std::string answer;
  };
  enum class Mode { kForward, kUnavailable, kRateLimited };
  explicit RecordingProxy(int upstream_port);
  ~RecordingProxy();
  int port() const { return port_; }
  void SetMode(Mode m) { mode_ = m; }
  std::vector<Exchange> Exchanges();
  // Exchanges whose method and path start with the given ones, and that were answered 2xx.
  std::vector<Exchange> Sent(const std::string& method, const std::string& path_prefix);

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  int upstream_port_;
  std::atomic<Mode> mode_{Mode::kForward};
  std::mutex mu_;
  std::vector<Exchange> exchanges_;
};

}  // namespace perfgate::testing
