#include "controller/gateway/session_manager.h"

#include <atomic>
#include <mutex>

#include "common/time/clock.h"
#include "gtest/gtest.h"
#include "tests/harness/processes.h"

namespace perfgate::controller {
namespace {

// The manager works on its own thread: wait for its effects.
bool Eventually(const std::function<bool()>& f) {
  return perfgate::testing::WaitUntil(f, absl::Seconds(10));
}

// An in-memory AgentStore: the seam under the session manager (called from its worker
// thread, read from the test's).
class FakeAgentStore : public AgentStore {
 public:
  absl::StatusOr<SessionStart> StartSession(const v1::Hello& h, const std::string&) override {
    std::lock_guard<std::mutex> l(mu);
    started.push_back(h.name());
    return SessionStart{};
  }
  absl::StatusOr<std::vector<int64_t>> Heartbeat(const std::string&,
                                                 const v1::Heartbeat&) override {
    ++heartbeats;
    return std::vector<int64_t>{};
  }
  absl::Status EndSession(const std::string& a, const std::string&) override {
    std::lock_guard<std::mutex> l(mu);
    ended.push_back(a);
    return absl::OkStatus();
  }
  std::vector<std::string> Ended() {
    std::lock_guard<std::mutex> l(mu);
    return ended;
  }
  size_t StartedCount() {
    std::lock_guard<std::mutex> l(mu);
    return started.size();
  }
  absl::StatusOr<std::vector<v1::Agent>> ListAgents() override { return std::vector<v1::Agent>{}; }
  absl::StatusOr<v1::Agent> SetDraining(const std::string&, bool, const std::string&) override {
    return v1::Agent();
  }
  std::mutex mu;
  std::vector<std::string> started, ended;
  std::atomic<int> heartbeats{0};
};

v1::AgentMessage Hello(const std::string& name) {
  v1::AgentMessage m;
  m.mutable_hello()->set_name(name);
  return m;
}

TEST(SessionManagerTest, SilentSessionsAreClosedAfterOfflineAfter) {
  common::FakeClock clock;
  FakeAgentStore store;
  EventBus work;
  ControllerMetrics metrics;
  SessionManagerOptions o;
  o.offline_after = absl::Seconds(30);
  SessionManager m(o, store, work, metrics, clock);
  auto a = SessionRef::Detached(1), b = SessionRef::Detached(2);
  m.OnMessage(a, Hello("a"));
  m.OnMessage(b, Hello("b"));
  ASSERT_TRUE(Eventually([&] { return m.connected() == 2; }));
  clock.Advance(absl::Seconds(20));
  v1::AgentMessage hb;
  hb.mutable_heartbeat();
  m.OnMessage(b, hb);  // b speaks, a stays silent
  ASSERT_TRUE(Eventually([&] { return store.heartbeats == 1; }));
  clock.Advance(absl::Seconds(15));  // a: 35 s silent, b: 15 s
  m.ExpireSilentSessions();
  EXPECT_TRUE(a->close_requested());
  EXPECT_FALSE(b->close_requested());
  EXPECT_EQ(m.IdleAgents(), std::vector<std::string>({"a", "b"}));
  m.OnClosed(a);  // the stream ends
  ASSERT_TRUE(Eventually([&] { return m.connected() == 1; }));
  EXPECT_EQ(m.IdleAgents(), std::vector<std::string>({"b"}));
  EXPECT_TRUE(Eventually([&] { return store.Ended() == std::vector<std::string>({"a"}); }));
}

// A stream whose credentials name agent b may only say hello as b.
TEST(SessionManagerTest, AHelloMustNameTheAgentTheCredentialsName) {
  common::FakeClock clock;
  FakeAgentStore store;
  EventBus work;
  ControllerMetrics metrics;
  SessionManager m({}, store, work, metrics, clock);
  auto as_other = SessionRef::Detached(1, "b"), as_self = SessionRef::Detached(2, "b");
  auto unbound = SessionRef::Detached(3);
  m.OnMessage(as_other, Hello("a"));
  m.OnMessage(as_self, Hello("b"));
  m.OnMessage(unbound, Hello("c"));
  ASSERT_TRUE(Eventually([&] { return m.connected() == 2; }));
  EXPECT_TRUE(as_other->close_requested());
  EXPECT_FALSE(as_self->close_requested());
  EXPECT_FALSE(unbound->close_requested());
  EXPECT_EQ(store.StartedCount(), 2u) << "the refused hello started no session";
}

TEST(SessionManagerTest, BusyAgentsAreNotOfferedWorkAndNewerSessionWins) {
  common::FakeClock clock;
  FakeAgentStore store;
  EventBus work;
  ControllerMetrics metrics;
  SessionManager m({}, store, work, metrics, clock);
  auto old_session = SessionRef::Detached(1), new_session = SessionRef::Detached(2);
  m.OnMessage(old_session, Hello("a"));
  m.OnMessage(new_session, Hello("a"));
  ASSERT_TRUE(Eventually([&] { return store.StartedCount() == 2; }));
  ASSERT_TRUE(Eventually([&] { return old_session->close_requested(); }));
  m.OnClosed(old_session);  // the replaced stream ending must not unregister the new one
  m.SetBusy("a", 7);
  ASSERT_TRUE(Eventually([&] { return m.IdleAgents().empty(); }));
  EXPECT_EQ(m.connected(), 1u);
  m.MarkIdleByAttempt(7);
  EXPECT_EQ(m.IdleAgents(), std::vector<std::string>({"a"}));
  m.SetDraining("a", true);
  EXPECT_TRUE(m.IdleAgents().empty());
}

}  // namespace
}  // namespace perfgate::controller
