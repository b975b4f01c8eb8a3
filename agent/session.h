// The agent's session with the controller: one bidirectional stream, reopened with jittered
// exponential backoff whenever it ends. It says Hello (name, labels, the attempts still held
// in the spool), sends heartbeats at the interval the controller asks for, and hands what the
// controller sends (assignments, cancels) to the executor. Thread-safe: Run() owns the session
// thread (and a heartbeat thread per stream); Stop() may be called from anywhere.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/executor.h"
#include "agent/spool/uploader.h"
#include "common/time/clock.h"
#include "perfgate/v1/agent_gateway.grpc.pb.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"

namespace perfgate::agent {

struct SessionOptions {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string version;
  absl::Duration reconnect_min = absl::Milliseconds(200);
  absl::Duration reconnect_max = absl::Seconds(10);
  absl::Duration default_heartbeat = absl::Seconds(10);
};

class Session {
 public:
  Session(SessionOptions opts, v1::AgentGateway::StubInterface& stub, Executor::ContextFactory ctx,
          Executor& executor, Uploader& uploader, prometheus::Gauge& connected,
          prometheus::Counter& reconnects, const common::Clock& clock = common::RealClock::Get());

  // Keeps a session open until Stop(); call from the session's own thread.
  void Run();
  // Ends the current stream and makes Run() return.
  void Stop();

 private:
  void RunOnce();
  void Heartbeats(uint64_t generation);
  void OnMessage(const v1::ControllerMessage& msg);
  bool Write(const v1::AgentMessage& m);
  // A heartbeat listing every attempt not yet completed at the controller.
  v1::AgentMessage HeartbeatMessage();

  const SessionOptions opts_;
  v1::AgentGateway::StubInterface& stub_;
  const Executor::ContextFactory ctx_;
  Executor& executor_;
  Uploader& uploader_;
  prometheus::Gauge& connected_;
  prometheus::Counter& reconnects_;
  const common::Clock& clock_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* session_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::ClientReaderWriterInterface<v1::AgentMessage, v1::ControllerMessage>* stream_
      ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Duration heartbeat_ ABSL_GUARDED_BY(mu_);
  uint64_t stream_generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex write_mu_;  // one writer at a time on the stream
};

}  // namespace perfgate::agent
