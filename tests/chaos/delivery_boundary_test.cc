// The fault matrix (issue 17), its delivery rows: the controller killed by a failpoint
// (common/fault/failpoint.h) after an alert reached its webhook and before the store recorded
// it. The promise is at least once and recorded once: the restarted controller sends that alert
// again (the receiver tells repeats by X-Perfgate-Alert-Id), every alert arrives, each is
// recorded `delivered`, and nothing is sent a third time. (The forge outbox's row of the same
// case is in tests/integration/forge_test.cc, which has GitHub's published API to send to.)
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "tests/chaos/chaos_support.h"
#include "tests/harness/webhook_receiver.h"
#include "tests/integration/benchmark_fixture.h"

namespace perfgate::testing {
namespace {

// The alert ids a webhook was sent, in order of arrival.
std::vector<std::string> AlertIds(WebhookReceiver& hook) {
  std::vector<std::string> ids;
  for (const auto& d : hook.Deliveries()) ids.push_back(d.Header("X-Perfgate-Alert-Id"));
  return ids;
}

class DeliveryBoundaryTest : public BenchmarkTest {
 protected:
  // The alerts' delivery states by id, from `perfgate alert list`.
  std::map<std::string, std::string> WebhookStates() {
    std::string out;
    EXPECT_EQ(Cli({"-o", "json", "alert", "list"}, &out), 0) << out;
    std::map<std::string, std::string> states;
    auto j = nlohmann::json::parse(out, nullptr, false);
    if (j.is_discarded() || !j.contains("alerts")) return states;
    for (const auto& a : j["alerts"]) states[a.value("id", "")] = a.value("webhook", "");
    return states;
  }
};

TEST_F(DeliveryBoundaryTest, ControllerKilledBetweenSendingAnAlertAndRecordingItSendsItAgain) {
  WebhookReceiver hook;
  ControllerOptions co;
  co.extra_args = {"--alert-webhook-url", hook.url(), "--analysis-poll", "1s"};
  {
    ArmedFailpoints armed("controller.alert.after_send");
    StartController(co);
  }
  StartAgent("a1");
  SubmitKind(WriteSumSuite("base", "1"), "", "baseline", "main");
  // The candidate is analysed after it ends and its alerts sent after that: the controller dies
  // then, so this submission does not wait for the run through the controller.
  std::string out;
  ASSERT_EQ(Cli({"run", "submit", "--suite", WriteSumSuite("cand", "4"), "--branch", "feature",
                 "--baseline-branch", "main", "--kind", "candidate"},
                &out),
            0)
      << out;
  ASSERT_TRUE(WaitUntil([&] { return !controller_->process().Running(); }, absl::Seconds(120)))
      << "no alert was sent\n"
      << controller_->process().Log();
  EXPECT_NE(controller_->process().Log().find("failpoint reached"), std::string::npos);
  const std::vector<std::string> before = AlertIds(hook);
  ASSERT_EQ(before.size(), 1u) << "the controller died after its first send";
  const std::string first = before[0];

  co.grpc_port = controller_->grpc_port();
  StartController(co);
  // Every alert delivered and recorded; the one sent before the kill sent again, once.
  std::map<std::string, std::string> states;
  ASSERT_TRUE(WaitUntil(
      [&] {
        states = WebhookStates();
        if (states.empty()) return false;
        for (const auto& [id, state] : states)
          if (state != "delivered") return false;
        return true;
      },
      absl::Seconds(60)))
      << nlohmann::json(states).dump() << "\n"
      << controller_->process().Log();
  ASSERT_TRUE(states.count(first)) << first << " is not an alert of the store";
  absl::SleepFor(absl::Seconds(5));  // two more polls of the notifier: nothing sent again
  std::map<std::string, int> counts;
  for (const auto& id : AlertIds(hook)) ++counts[id];
  EXPECT_EQ(counts.size(), states.size()) << "every alert arrived, nothing else did";
  for (const auto& [id, state] : states) {
    auto n = counts.find(id);
    ASSERT_NE(n, counts.end()) << "alert " << id << " never arrived";
    EXPECT_EQ(n->second, id == first ? 2 : 1) << "alert " << id;
  }
  // Recorded once: delivered, with no failed attempt counted against it.
  pqxx::connection db(dsn_);
  pqxx::work tx(db);
  for (const auto& row : tx.exec("SELECT id, webhook, delivery_attempts FROM alerts")) {
    EXPECT_EQ(row[1].as<std::string>(), "delivered") << "alert " << row[0].as<int64_t>();
    EXPECT_EQ(row[2].as<int>(), 0) << "alert " << row[0].as<int64_t>();
  }
}

}  // namespace
}  // namespace perfgate::testing
