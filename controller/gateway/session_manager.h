// The agents connected to this controller replica. Takes the events of every Session stream
// (from gRPC threads, without blocking) and handles them on its own worker thread, where SQL
// is allowed: registering the agent and reconciling what it holds (Hello), refreshing leases
// and passing on stop orders (Heartbeat), marking it disconnected (stream end). It also ends
// sessions that stay silent for longer than offline_after (by the injected Clock) and tells
// the dispatcher which agents may take work. Safe for concurrent use.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "controller/events/event_bus.h"
#include "controller/gateway/agent_session.h"
#include "controller/metrics/controller_metrics.h"
#include "controller/queue/job_store.h"

namespace perfgate::controller {

struct SessionManagerOptions {
  std::string controller_id;
  absl::Duration heartbeat_interval = absl::Seconds(10);
  absl::Duration offline_after = absl::Seconds(30);
};

class SessionManager : public SessionEvents {
 public:
  SessionManager(SessionManagerOptions opts, AgentStore& agents, EventBus& work,
                 ControllerMetrics& metrics, const common::Clock& clock);
  ~SessionManager() override;  // Stop()s

  // SessionEvents (gRPC threads): enqueue only.
  void OnMessage(const SessionRefPtr& s, v1::AgentMessage msg) override;
  void OnClosed(const SessionRefPtr& s) override;

  // Agents with a live session, not draining, not known to be busy on this replica.
  std::vector<std::string> IdleAgents();
  // Sends `msg` on the agent's session. False if it has no session here.
  bool SendTo(const std::string& agent, const v1::ControllerMessage& msg);
  // Tells the agent to stop `attempt_id` (SIGTERM, grace, SIGKILL on its side). False if the
  // agent has no session here; another replica that holds it acts on the NOTIFY instead.
  bool SendCancel(const std::string& agent, int64_t attempt_id, const std::string& reason);
  // Marks the agent busy with `attempt_id` / idle again (attempt_id 0).
  void SetBusy(const std::string& agent, int64_t attempt_id);
  void MarkIdleByAttempt(int64_t attempt_id);
  // The agent this replica's dispatcher assigned `attempt_id` to, while it runs ("" when
  // unknown here). Only the dispatcher's own claims are recorded, never what an agent says it
  // holds, so the gateway may trust it instead of asking the database on every call.
  std::string AssignedAgent(int64_t attempt_id);
  void SetDraining(const std::string& agent, bool draining);
  // Ends sessions silent for longer than offline_after. Called periodically (and by tests).
  void ExpireSilentSessions();
  size_t connected();
  // Closes every session (controller shutdown) and stops the worker.
  void Stop();

 private:
  struct Event {
    SessionRefPtr session;
    std::optional<v1::AgentMessage> msg;  // nullopt: stream closed
  };
  struct Entry {
    SessionRefPtr session;
    int64_t busy_attempt = 0;
    bool draining = false;
    absl::Time last_heard;
  };
  void Worker();
  void HandleHello(const SessionRefPtr& s, const v1::Hello& hello);
  void HandleHeartbeat(const SessionRefPtr& s, const v1::Heartbeat& hb);
  void HandleClosed(const SessionRefPtr& s);
  void SendStops(const SessionRefPtr& s, const std::vector<int64_t>& attempts);
  std::string AgentOf(const SessionRefPtr& s);
  // Attempts this replica assigned, while they run (SetBusy to MarkIdleByAttempt).
  absl::flat_hash_map<int64_t, std::string> assigned_ ABSL_GUARDED_BY(mu_);

  const SessionManagerOptions opts_;
  AgentStore& agents_;
  EventBus& work_;
  ControllerMetrics& metrics_;
  const common::Clock& clock_;

  absl::Mutex queue_mu_;
  std::deque<Event> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;

  absl::Mutex mu_;
  std::map<std::string, Entry> by_agent_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::string> agent_of_session_ ABSL_GUARDED_BY(mu_);
  std::thread worker_;
};

}  // namespace perfgate::controller
