// One agent's Session stream, as a gRPC callback (reactor) handler. The reactor does no SQL
// and no blocking: every message read is handed to a SessionEvents sink (the SessionManager's
// worker thread), and writes are queued and sent one at a time. Send() and Close() may be
// called from any thread through a SessionRef, which outlives the reactor safely.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "perfgate/v1/agent_gateway.pb.h"

namespace perfgate::controller {

class AgentSession;

// A handle to a session that stays valid after the stream ends (then Send returns false).
class SessionRef {
 public:
  bool Send(const v1::ControllerMessage& msg);
  void Close(const grpc::Status& status);
  uint64_t id() const { return id_; }
  // The agent name the stream's credentials (certificate or named token) allow; "" when they
  // name none. The session's hello must then carry this name.
  const std::string& bound_agent() const { return bound_agent_; }
  // Whether Close() was called (by anyone).
  bool close_requested() const { return close_requested_; }
  // A ref bound to no stream (Send fails, Close is recorded): for unit tests of the manager.
  static std::shared_ptr<SessionRef> Detached(uint64_t id, std::string bound_agent = "") {
    return std::shared_ptr<SessionRef>(new SessionRef(id, std::move(bound_agent)));
  }

 private:
  friend class AgentSession;
  std::atomic<bool> close_requested_{false};
  SessionRef(uint64_t id, std::string bound_agent)
      : id_(id), bound_agent_(std::move(bound_agent)) {}
  const uint64_t id_;
  const std::string bound_agent_;
  absl::Mutex mu_;
  AgentSession* session_ ABSL_GUARDED_BY(mu_) = nullptr;
};
using SessionRefPtr = std::shared_ptr<SessionRef>;

// Receives what happens on sessions; called on gRPC's threads, so it must only enqueue.
class SessionEvents {
 public:
  virtual ~SessionEvents() = default;
  virtual void OnMessage(const SessionRefPtr& s, v1::AgentMessage msg) = 0;
  virtual void OnClosed(const SessionRefPtr& s) = 0;
};

class AgentSession : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  // Starts reading at once. Deletes itself when the stream is done.
  AgentSession(uint64_t id, std::string bound_agent, SessionEvents* events,
               std::function<void()> on_done);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;
  void OnCancel() override {}

 private:
  friend class SessionRef;
  bool Send(const v1::ControllerMessage& msg);
  void Close(const grpc::Status& status);
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  SessionRefPtr ref_;
  SessionEvents* events_;
  std::function<void()> on_done_;
  v1::AgentMessage in_;
  absl::Mutex mu_;
  std::deque<v1::ControllerMessage> out_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mu_);
};

// A stream refused before it started (e.g. bad token).
class RejectedSession : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  explicit RejectedSession(const grpc::Status& s) { Finish(s); }
  void OnDone() override { delete this; }
};

}  // namespace perfgate::controller
