// The sample target as a real child process on an ephemeral port, for integration tests.
#pragma once

#include <httplib.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/harness/processes.h"

namespace perfgate::testing {

class SampleTarget {
 public:
  SampleTarget(const std::string& dir, const std::string& name, std::vector<std::string> flags) {
    std::string ready = dir + "/" + name + ".ready";
    std::vector<std::string> argv = {BinaryPath("perfgate-sample-target"), "--listen",
                                     "127.0.0.1:0", "--ready-file", ready};
    argv.insert(argv.end(), flags.begin(), flags.end());
    proc_ = std::make_unique<ChildProcess>(name, argv, dir + "/" + name + ".log");
    EXPECT_TRUE(WaitUntil([&] { return access(ready.c_str(), R_OK) == 0; }, absl::Seconds(10)))
        << proc_->Log();
    port_ = nlohmann::json::parse(std::ifstream(ready))["port"];
  }
  httplib::Client Client() const { return httplib::Client("127.0.0.1", port_); }
  int port() const { return port_; }
  // The server's own count of requests for a route and status class, from its /metrics.
  int64_t Served(const std::string& route, const std::string& status) const {
    std::string key =
        "sample_target_requests_total{route=\"" + route + "\",status=\"" + status + "\"} ";
    std::string m = Metrics();
    auto at = m.find(key);
    return at == std::string::npos ? -1 : std::stoll(m.substr(at + key.size()));
  }
  ChildProcess& process() { return *proc_; }
  std::string Metrics() const {
    auto r = Client().Get("/metrics");
    return r ? r->body : "";
  }

 private:
  std::unique_ptr<ChildProcess> proc_;
  int port_ = 0;
};

}  // namespace perfgate::testing
