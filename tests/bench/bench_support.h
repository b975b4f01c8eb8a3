// What the system benchmarks share: the controller under test (started on its embedded, durable
// PostgreSQL, loopback only), a simulated agent (a real gRPC session that accepts and completes
// every assignment at once, so the figures are the controller's), a percentile and a bounded wait.
#pragma once

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/process/subprocess.h"
#include "perfgate/v1/agent_gateway.grpc.pb.h"
#include "perfgate/v1/controller.grpc.pb.h"

namespace perfgate::bench {

inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()))];
}

inline bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

// Agents the controller has a live session with (-1 when it cannot be asked).
inline int ConnectedAgents(v1::Controller::Stub& stub) {
  grpc::ClientContext ctx;
  v1::ListAgentsResponse resp;
  if (!stub.ListAgents(&ctx, v1::ListAgentsRequest(), &resp).ok()) return -1;
  int n = 0;
  for (const auto& a : resp.agents()) n += a.connected();
  return n;
}

// perfgate-controller from `bin_dir` with its data, ready file and log (controller.log) under
// `dir`, listening on free loopback ports; stopped (SIGTERM, then waited for) by Stop() or when
// destroyed.
class BenchController {
 public:
  // Null, with the reason on stderr, when it did not start within a minute.
  static std::unique_ptr<BenchController> Start(const std::string& bin_dir, const std::string& dir,
                                                const std::vector<std::string>& extra_args) {
    common::SpawnOptions o;
    o.argv = {bin_dir + "/perfgate-controller",
              "--data-dir",
              dir + "/data",
              "--grpc-listen",
              "127.0.0.1:0",
              "--http-listen",
              "127.0.0.1:0",
              "--ready-file",
              dir + "/ready",
              "--log-level",
              "warn"};
    o.argv.insert(o.argv.end(), extra_args.begin(), extra_args.end());
    const std::string log = dir + "/controller.log";
    FILE* lf = fopen(log.c_str(), "w");
    if (lf == nullptr) {
      std::cerr << "cannot write " << log << "\n";
      return nullptr;
    }
    o.stdout_fd = fileno(lf);
    o.stderr_fd = fileno(lf);
    auto pid = common::Spawn(o);
    fclose(lf);  // the child has its own copy
    if (!pid.ok()) {
      std::cerr << "controller did not start: " << pid.status().message() << "\n";
      return nullptr;
    }
    std::unique_ptr<BenchController> c(new BenchController(*pid));
    if (!WaitFor([&] { return access((dir + "/ready").c_str(), R_OK) == 0; }, absl::Seconds(60))) {
      std::cerr << "controller did not start; see " << log << "\n";
      return nullptr;
    }
    auto ready = nlohmann::json::parse(std::ifstream(dir + "/ready"));
    c->grpc_addr_ = "127.0.0.1:" + std::to_string(ready["grpc_port"].get<int>());
    c->http_port_ = ready["http_port"].get<int>();
    c->agent_addr_ = ready.contains("agent_port")
                         ? "127.0.0.1:" + std::to_string(ready["agent_port"].get<int>())
                         : c->grpc_addr_;
    return c;
  }
  ~BenchController() { Stop(); }
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    common::SignalGroup(pid_, SIGTERM).IgnoreError();
    common::WaitFor(pid_, absl::Seconds(30)).IgnoreError();
  }
  pid_t pid() const { return pid_; }
  const std::string& grpc_addr() const { return grpc_addr_; }
  // Where agents connect: --agent-listen's port when given, else grpc_addr().
  const std::string& agent_addr() const { return agent_addr_; }
  int http_port() const { return http_port_; }

 private:
  explicit BenchController(pid_t pid) : pid_(pid) {}
  const pid_t pid_;
  bool stopped_ = false;
  std::string grpc_addr_, agent_addr_;
  int http_port_ = 0;
};

class SimAgent {
 public:
  struct Options {
    std::map<std::string, std::string> labels;
    absl::Duration heartbeat_every = absl::ZeroDuration();   // 0: the caller calls Heartbeat()
    std::function<void(int64_t run, absl::Time)> assigned;   // on each assignment, if set
    std::function<void(int64_t run, absl::Time)> completed;  // on each acknowledged completion
    std::shared_ptr<grpc::ChannelCredentials> credentials;   // null: plaintext
  };

  SimAgent(const std::string& addr, std::string name, Options o)
      : name_(std::move(name)), o_(std::move(o)) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    stub_ = v1::AgentGateway::NewStub(grpc::CreateCustomChannel(
        addr, o_.credentials ? o_.credentials : grpc::InsecureChannelCredentials(), args));
    thread_ = std::thread([this] { Loop(); });
    if (o_.heartbeat_every > absl::ZeroDuration()) {
      // Heartbeats keep the session alive (the controller closes silent ones).
      heartbeat_ = std::thread([this] {
        while (!stop_.WaitForNotificationWithTimeout(o_.heartbeat_every)) Heartbeat();
      });
    }
  }
  ~SimAgent() {
    stop_.Notify();
    if (heartbeat_.joinable()) heartbeat_.join();
    ctx_.TryCancel();
    thread_.join();
  }
  void Heartbeat() {
    v1::AgentMessage m;
    m.mutable_heartbeat();
    std::lock_guard<std::mutex> l(write_mu_);
    if (stream_) stream_->Write(m);
  }

 private:
  void Loop() {
    auto stream = stub_->Session(&ctx_);
    {
      std::lock_guard<std::mutex> l(write_mu_);
      v1::AgentMessage hello;
      hello.mutable_hello()->set_name(name_);
      hello.mutable_hello()->set_capacity(1);
      hello.mutable_hello()->mutable_labels()->insert(o_.labels.begin(), o_.labels.end());
      stream->Write(hello);
      stream_ = stream.get();
    }
    v1::ControllerMessage msg;
    while (stream->Read(&msg)) {
      if (!msg.has_assign()) continue;
      const int64_t run = msg.assign().run_id();
      if (o_.assigned) o_.assigned(run, absl::Now());
      v1::AcceptAttemptRequest acc;
      acc.set_attempt_id(msg.assign().attempt_id());
      acc.set_epoch(msg.assign().epoch());
      acc.set_agent(name_);
      v1::AcceptAttemptResponse ar;
      grpc::ClientContext c1;
      if (!stub_->AcceptAttempt(&c1, acc, &ar).ok()) continue;
      v1::CompleteAttemptRequest done;
      done.set_attempt_id(acc.attempt_id());
      done.set_epoch(acc.epoch());
      done.set_outcome(v1::ATTEMPT_OUTCOME_SUCCEEDED);
      v1::CompleteAttemptResponse dr;
      grpc::ClientContext c2;
      if (stub_->CompleteAttempt(&c2, done, &dr).ok() && o_.completed)
        o_.completed(run, absl::Now());
    }
    {
      std::lock_guard<std::mutex> l(write_mu_);
      stream_ = nullptr;
    }
    stream->Finish();
  }

  const std::string name_;
  const Options o_;
  std::unique_ptr<v1::AgentGateway::Stub> stub_;
  grpc::ClientContext ctx_;
  std::mutex write_mu_;
  grpc::ClientReaderWriter<v1::AgentMessage, v1::ControllerMessage>* stream_ = nullptr;
  absl::Notification stop_;
  std::thread thread_, heartbeat_;
};

}  // namespace perfgate::bench
