#include "controller/gateway/session_manager.h"

#include "common/log/log.h"

namespace perfgate::controller {

SessionManager::SessionManager(SessionManagerOptions opts, AgentStore& agents, EventBus& work,
                               ControllerMetrics& metrics, const common::Clock& clock)
    : opts_(std::move(opts)), agents_(agents), work_(work), metrics_(metrics), clock_(clock) {
  worker_ = std::thread([this] { Worker(); });
}

SessionManager::~SessionManager() { Stop(); }

void SessionManager::OnMessage(const SessionRefPtr& s, v1::AgentMessage msg) {
  absl::MutexLock lock(&queue_mu_);
  queue_.push_back({s, std::move(msg)});
}

void SessionManager::OnClosed(const SessionRefPtr& s) {
  absl::MutexLock lock(&queue_mu_);
  queue_.push_back({s, std::nullopt});
}

void SessionManager::Worker() {
  while (true) {
    Event ev;
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(
          +[](SessionManager* m)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return m->stopping_ || !m->queue_.empty(); },
          this));
      if (queue_.empty()) return;  // stopping and drained
      ev = std::move(queue_.front());
      queue_.pop_front();
    }
    if (!ev.msg) {
      HandleClosed(ev.session);
    } else if (ev.msg->has_hello()) {
      HandleHello(ev.session, ev.msg->hello());
    } else if (ev.msg->has_heartbeat()) {
      HandleHeartbeat(ev.session, ev.msg->heartbeat());
    }
  }
}

std::string SessionManager::AgentOf(const SessionRefPtr& s) {
  absl::MutexLock lock(&mu_);
  auto it = agent_of_session_.find(s->id());
  return it == agent_of_session_.end() ? "" : it->second;
}

void SessionManager::HandleHello(const SessionRefPtr& s, const v1::Hello& hello) {
  if (hello.name().empty() || hello.name().size() > 253) {
    s->Close(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello.name: must be 1..253 characters"));
    return;
  }
  if (!AgentOf(s).empty()) {
    s->Close(
        grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "hello sent twice on one session"));
    return;
  }
  if (!s->bound_agent().empty() && s->bound_agent() != hello.name()) {
    spdlog::warn(
        "msg=\"agent session refused: credentials name another agent\" hello={} "
        "credentials={}",
        hello.name(), s->bound_agent());
    metrics_.calls_refused("Session").Increment();
    s->Close(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "hello.name: '" + hello.name() + "' but the credentials are agent '" +
                              s->bound_agent() + "'s"));
    return;
  }
  auto start = agents_.StartSession(hello, opts_.controller_id);
  if (!start.ok()) {
    spdlog::warn("msg=\"agent session refused\" agent={} error=\"{}\"", hello.name(),
                 start.status().message());
    s->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(start.status().message())));
    return;
  }
  SessionRefPtr replaced;
  {
    absl::MutexLock lock(&mu_);
    auto& e = by_agent_[hello.name()];
    if (e.session && e.session->id() != s->id()) replaced = e.session;  // the newer session wins
    e.session = s;
    e.draining = start->draining;
    e.busy_attempt = 0;
    for (const auto& h : hello.held()) e.busy_attempt = h.attempt_id();
    e.last_heard = clock_.Now();
    agent_of_session_[s->id()] = hello.name();
    metrics_.agents_connected().Set(by_agent_.size());
  }
  if (replaced)
    replaced->Close(grpc::Status(grpc::StatusCode::ABORTED, "replaced by a newer session"));
  v1::ControllerMessage ack;
  ack.mutable_hello_ack()->set_controller_id(opts_.controller_id);
  ack.mutable_hello_ack()->set_heartbeat_seconds(absl::ToInt64Seconds(opts_.heartbeat_interval));
  s->Send(ack);
  if (start->draining) {
    v1::ControllerMessage d;
    d.mutable_drain()->set_draining(true);
    s->Send(d);
  }
  SendStops(s, start->stop_attempts);
  spdlog::info("msg=\"agent connected\" agent={} held={} draining={}", hello.name(),
               hello.held_size(), start->draining);
  work_.Notify();
}

void SessionManager::HandleHeartbeat(const SessionRefPtr& s, const v1::Heartbeat& hb) {
  std::string agent = AgentOf(s);
  if (agent.empty()) {
    s->Close(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "heartbeat before hello"));
    return;
  }
  bool became_idle = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_agent_.find(agent);
    if (it != by_agent_.end()) {
      it->second.last_heard = clock_.Now();
      if (hb.held().empty() && it->second.busy_attempt != 0) {
        it->second.busy_attempt = 0;
        became_idle = true;
      }
    }
  }
  auto stops = agents_.Heartbeat(agent, hb);
  if (!stops.ok()) {
    spdlog::warn("msg=\"heartbeat not recorded\" agent={} error=\"{}\"", agent,
                 stops.status().message());
    return;
  }
  SendStops(s, *stops);
  if (became_idle) work_.Notify();
}

void SessionManager::HandleClosed(const SessionRefPtr& s) {
  std::string agent;
  {
    absl::MutexLock lock(&mu_);
    auto it = agent_of_session_.find(s->id());
    if (it == agent_of_session_.end()) return;
    agent = it->second;
    agent_of_session_.erase(it);
    auto e = by_agent_.find(agent);
    if (e == by_agent_.end() || e->second.session->id() != s->id()) return;  // replaced meanwhile
    by_agent_.erase(e);
    metrics_.agents_connected().Set(by_agent_.size());
  }
  spdlog::info("msg=\"agent disconnected\" agent={}", agent);
  if (auto st = agents_.EndSession(agent, opts_.controller_id); !st.ok()) {
    spdlog::warn("msg=\"cannot record disconnect\" agent={} error=\"{}\"", agent, st.message());
  }
}

namespace {
v1::ControllerMessage CancelMessage(int64_t attempt_id, const std::string& reason) {
  v1::ControllerMessage m;
  m.mutable_cancel()->set_attempt_id(attempt_id);
  m.mutable_cancel()->set_reason(reason);
  return m;
}
}  // namespace

void SessionManager::SendStops(const SessionRefPtr& s, const std::vector<int64_t>& attempts) {
  for (int64_t id : attempts) s->Send(CancelMessage(id, "cancelled"));
}

bool SessionManager::SendCancel(const std::string& agent, int64_t attempt_id,
                                const std::string& reason) {
  return SendTo(agent, CancelMessage(attempt_id, reason));
}

std::vector<std::string> SessionManager::IdleAgents() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [name, e] : by_agent_) {
    if (!e.draining && e.busy_attempt == 0) out.push_back(name);
  }
  return out;
}

bool SessionManager::SendTo(const std::string& agent, const v1::ControllerMessage& msg) {
  SessionRefPtr s;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_agent_.find(agent);
    if (it == by_agent_.end()) return false;
    s = it->second.session;
  }
  return s->Send(msg);
}

void SessionManager::SetBusy(const std::string& agent, int64_t attempt_id) {
  absl::MutexLock lock(&mu_);
  auto it = by_agent_.find(agent);
  if (it != by_agent_.end()) it->second.busy_attempt = attempt_id;
  if (attempt_id != 0) {
    if (assigned_.size() >= 10'000) assigned_.clear();  // ended attempts whose end we missed
    assigned_[attempt_id] = agent;
  }
}

std::string SessionManager::AssignedAgent(int64_t attempt_id) {
  absl::MutexLock lock(&mu_);
  auto it = assigned_.find(attempt_id);
  return it == assigned_.end() ? "" : it->second;
}

void SessionManager::MarkIdleByAttempt(int64_t attempt_id) {
  absl::MutexLock lock(&mu_);
  assigned_.erase(attempt_id);
  for (auto& [name, e] : by_agent_) {
    if (e.busy_attempt == attempt_id) e.busy_attempt = 0;
  }
}

void SessionManager::SetDraining(const std::string& agent, bool draining) {
  {
    absl::MutexLock lock(&mu_);
    auto it = by_agent_.find(agent);
    if (it == by_agent_.end()) return;
    it->second.draining = draining;
  }
  v1::ControllerMessage m;
  m.mutable_drain()->set_draining(draining);
  SendTo(agent, m);
}

void SessionManager::ExpireSilentSessions() {
  std::vector<SessionRefPtr> silent;
  {
    absl::MutexLock lock(&mu_);
    absl::Time cutoff = clock_.Now() - opts_.offline_after;
    for (const auto& [name, e] : by_agent_) {
      if (e.last_heard < cutoff) silent.push_back(e.session);
    }
  }
  for (auto& s : silent) {
    spdlog::warn("msg=\"closing silent agent session\" session={}", s->id());
    s->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no heartbeat"));
  }
}

size_t SessionManager::connected() {
  absl::MutexLock lock(&mu_);
  return by_agent_.size();
}

void SessionManager::Stop() {
  std::vector<SessionRefPtr> all;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, e] : by_agent_) all.push_back(e.session);
  }
  for (auto& s : all)
    s->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, "controller shutting down"));
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (worker_.joinable()) worker_.join();
}

}  // namespace perfgate::controller
