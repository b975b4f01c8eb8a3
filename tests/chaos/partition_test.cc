// The fault matrix (issue 17), its network rows: an agent in a network namespace the test makes
// (a veth to the host, the controller listening on the host's end), its link cut by dropping
// every packet both ways on arrival (iptables INPUT DROP on each end: the TCP connections stall,
// nothing is refused or reset, as in a real partition) for
//   - less than the lease: nothing notices; one attempt, every line once;
//   - longer than the lease, shorter than --lost-after: the attempt is LOST, the agent kept
//     reserved; on healing the agent resumes it; one attempt, every line once;
//   - longer than --lost-after: the attempt expires, the job runs again on another agent; on
//     healing the cut-off agent is told to stop, its late writes are refused (no line of its
//     attempt stored after the expiry), and the run succeeds from the second attempt alone;
//   - between a claim's commit and its Assign (the controller held there by a stopping
//     failpoint): the assignment runs out, the job runs once after healing.
// After each, the invariants are checked from the database: the run ended, no line lost or
// duplicated, never two live attempts on one agent. Needs root (namespaces, tc); SKIPPED
// otherwise.
#include <signal.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "tests/chaos/chaos_support.h"
#include "tests/integration/fixture.h"

namespace perfgate::testing {
namespace {

class PartitionTest : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
    const int n = getpid() % 250 + 1;  // 10.214.N.0/30 (netns hosts use 10.213.N.0/24)
    ns_ = absl::StrCat("pgpart", getpid());
    host_if_ = absl::StrCat("pgph", getpid());
    ns_if_ = absl::StrCat("pgpn", getpid());
    host_ip_ = absl::StrCat("10.214.", n, ".1");
    const std::string ns_ip = absl::StrCat("10.214.", n, ".2");
    // A container without CAP_SYS_ADMIN refuses (mounting /run/netns): skipped, not failed.
    std::string why;
    if (Sh("ip netns add " + ns_, &why) != 0)
      GTEST_SKIP() << "cannot create a network namespace: " << why;
    made_ = true;
    ASSERT_EQ(
        Sh("ip link add " + host_if_ + " type veth peer name " + ns_if_ + " && ip link set " +
           ns_if_ + " netns " + ns_ + " && ip addr add " + host_ip_ + "/30 dev " + host_if_ +
           " && ip link set " + host_if_ + " up && ip netns exec " + ns_ + " sh -c 'ip addr add " +
           ns_ip + "/30 dev " + ns_if_ + " && ip link set " + ns_if_ + " up && ip link set lo up'"),
        0);
  }
  void TearDown() override {
    ClusterTest::TearDown();  // agents (in the namespace) stop first
    if (cut_) Sh("iptables -w -D INPUT -i " + host_if_ + " -j DROP");
    if (made_) Sh("ip netns del " + ns_ + " && (ip link del " + host_if_ + " 2>/dev/null; true)");
  }
  // Runs `script`; a non-zero exit fails the test, unless `output` is given to take what it
  // said (a probe whose failure the caller handles).
  static int Sh(const std::string& script, std::string* output = nullptr) {
    common::SpawnOptions o;
    o.argv = {"/bin/sh", "-c", script};
    int code = -1;
    auto out = common::RunAndCapture(o, &code);
    if (output != nullptr)
      *output = out.ok() ? *out : std::string(out.status().message());
    else if (code != 0)
      ADD_FAILURE() << script << ": " << (out.ok() ? *out : "");
    return code;
  }

  // The controller on the veth's host address (plaintext, no tokens: the test's own private
  // link, reachable from nowhere else).
  void StartPartitionableController(std::vector<std::string> extra = {}) {
    ControllerOptions o;
    o.grpc_host = host_ip_;
    o.extra_args = std::move(extra);
    o.extra_args.insert(o.extra_args.end(), {"--insecure-plaintext", "--insecure-no-auth"});
    StartController(o);
    ASSERT_NE(controller_->grpc_port(), 0);
  }
  void StartAgentInNamespace(const std::string& name) {
    auto& a = agents_[name];
    a = std::make_unique<AgentProcess>(name, controller_->address(), dir_ + "/agent-" + name,
                                       std::vector<std::string>{},
                                       std::vector<std::string>{"ip", "netns", "exec", ns_});
    ASSERT_TRUE(WaitUntil([&] { return AgentConnected(name); }, absl::Seconds(20)));
  }
  // Every packet dropped on arrival, both ways: nothing is refused or reset, the connections
  // stall as in a real partition.
  void Cut() {
    Sh("iptables -w -I INPUT -i " + host_if_ + " -j DROP && ip netns exec " + ns_ +
       " iptables -w -I INPUT -i " + ns_if_ + " -j DROP");
    cut_ = true;
  }
  void Heal() {
    Sh("iptables -w -D INPUT -i " + host_if_ + " -j DROP && ip netns exec " + ns_ +
       " iptables -w -D INPUT -i " + ns_if_ + " -j DROP");
    cut_ = false;
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection c(dsn_);
    pqxx::nontransaction tx(c);
    return tx.exec1(sql)[0].as<int64_t>();
  }
  std::string AttemptState(int64_t attempt) {
    pqxx::connection c(dsn_);
    pqxx::nontransaction tx(c);
    return tx.exec1("SELECT state FROM attempts WHERE id = " + std::to_string(attempt))[0]
        .as<std::string>();
  }
  // Never two live attempts on one agent, at the time of asking.
  void ExpectAtMostOneLiveAttemptPerAgent() {
    EXPECT_EQ(
        Count("SELECT count(*) FROM (SELECT agent_name FROM attempts WHERE state "
              "IN ('ASSIGNED', 'RUNNING', 'LOST') GROUP BY agent_name HAVING count(*) > 1) t"),
        0);
  }
  v1::Run SubmitLines(int lines) {
    return SubmitCommand(*stub_, "for i in $(seq 1 " + std::to_string(lines) +
                                     "); do echo line-$i; sleep 0.1; done");
  }
  int64_t FirstAttempt(int64_t run) {
    int64_t id = 0;
    EXPECT_TRUE(WaitUntil(
        [&] {
          v1::Run r = GetRun(*stub_, run);
          if (r.jobs_size() == 0 || r.jobs(0).attempts_size() == 0) return false;
          id = r.jobs(0).attempts(0).id();
          return RunLogs(*stub_, run).size() >= 5;
        },
        absl::Seconds(30)));
    return id;
  }

  bool made_ = false, cut_ = false;
  std::string ns_, host_if_, ns_if_, host_ip_;
};

TEST_F(PartitionTest, ShorterThanTheLeaseNothingNotices) {
  ASSERT_NO_FATAL_FAILURE(StartPartitionableController());
  ASSERT_NO_FATAL_FAILURE(StartAgentInNamespace("a1"));
  v1::Run run = SubmitLines(60);
  const int64_t attempt = FirstAttempt(run.id());
  Cut();
  absl::SleepFor(absl::Milliseconds(1500));  // the lease is 3 s
  Heal();
  v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(60));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
  ASSERT_EQ(done.jobs(0).attempts_size(), 1);
  EXPECT_EQ(NumberedLines(AttemptStdout(RunLogs(*stub_, run.id()), attempt)), Range(1, 60));
  ExpectAtMostOneLiveAttemptPerAgent();
}

TEST_F(PartitionTest, LongerThanTheLeaseTheAttemptIsLostThenResumedOnHealing) {
  ASSERT_NO_FATAL_FAILURE(StartPartitionableController({"--lost-after", "60s"}));
  ASSERT_NO_FATAL_FAILURE(StartAgentInNamespace("a1"));
  v1::Run run = SubmitLines(150);
  const int64_t attempt = FirstAttempt(run.id());
  Cut();
  EXPECT_TRUE(WaitUntil([&] { return AttemptState(attempt) == "LOST"; }, absl::Seconds(15)))
      << "the lease (3 s) ran out during the partition";
  ExpectAtMostOneLiveAttemptPerAgent();
  absl::SleepFor(absl::Seconds(2));
  Heal();
  EXPECT_TRUE(WaitUntil([&] { return AttemptState(attempt) == "RUNNING"; }, absl::Seconds(30)))
      << "the agent came back holding it: resumed";
  v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(90));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
  ASSERT_EQ(done.jobs(0).attempts_size(), 1) << "no second attempt: the node was kept";
  EXPECT_EQ(NumberedLines(AttemptStdout(RunLogs(*stub_, run.id()), attempt)), Range(1, 150));
  ExpectAtMostOneLiveAttemptPerAgent();
}

TEST_F(PartitionTest, LongerThanLostAfterTheJobMovesAndTheCutOffAgentsLateWritesAreRefused) {
  ASSERT_NO_FATAL_FAILURE(StartPartitionableController());  // --lost-after 3s
  ASSERT_NO_FATAL_FAILURE(StartAgentInNamespace("a1"));
  v1::Run run = SubmitLines(80);
  const int64_t first = FirstAttempt(run.id());
  StartAgent("a2");  // on the host, free to take the job when it moves
  Cut();
  ASSERT_TRUE(WaitUntil([&] { return AttemptState(first) == "EXPIRED"; }, absl::Seconds(30)))
      << "LOST after the 3 s lease, EXPIRED 3 s later";
  const int64_t stored_at_expiry =
      Count("SELECT count(*) FROM log_chunks WHERE attempt_id = " + std::to_string(first));
  ASSERT_TRUE(WaitUntil([&] { return GetRun(*stub_, run.id()).jobs(0).attempts_size() == 2; },
                        absl::Seconds(30)));
  absl::SleepFor(absl::Seconds(3));  // a1, cut off, goes on writing into its spool
  Heal();
  // a1 comes back, is told its attempt is over, and stops it: idle again, and its spooled
  // lines of the superseded attempt are refused.
  EXPECT_TRUE(WaitUntil(
      [&] {
        v1::ListAgentsResponse agents;
        if (!stub_->ListAgents(Ctx().get(), v1::ListAgentsRequest(), &agents).ok()) return false;
        for (const auto& a : agents.agents())
          if (a.name() == "a1") return a.connected() && a.running_attempt_id() == 0;
        return false;
      },
      absl::Seconds(30)))
      << "a1 reconnected and idle";
  v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(90));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
  ASSERT_EQ(done.jobs(0).attempts_size(), 2);
  const v1::Attempt& second = done.jobs(0).attempts(1);
  EXPECT_EQ(second.agent(), "a2");
  EXPECT_EQ(done.jobs(0).attempts(0).state(), "EXPIRED");
  const auto logs = RunLogs(*stub_, run.id());
  EXPECT_EQ(NumberedLines(AttemptStdout(logs, second.id())), Range(1, 80));
  // The first attempt's lines: a prefix, each once, none stored after it expired.
  const std::vector<int> early = NumberedLines(AttemptStdout(logs, first));
  EXPECT_EQ(early, Range(1, static_cast<int>(early.size())));
  EXPECT_EQ(Count("SELECT count(*) FROM log_chunks WHERE attempt_id = " + std::to_string(first)),
            stored_at_expiry);
  // (Without the fence, every line a1 spooled while cut off was stored after the expiry.)
  const std::string a1_log = agents_["a1"]->process().Log();
  EXPECT_NE(a1_log.find("controller refused attempt logs"), std::string::npos) << a1_log;
  ExpectAtMostOneLiveAttemptPerAgent();
}

// Cut between a claim and its Assign: the controller held by a stopping failpoint just after
// the claim committed, the agent's link cut, the controller continued, so that its Assign goes
// into a stalled connection. The assignment's lease (3 s) runs out with the agent unreachable;
// on healing, the job runs once, whether the agent gets the stale Assign late (TCP retransmits
// it) and is refused, or a fresh one.
TEST_F(PartitionTest, CutBetweenAClaimAndItsAssignTheJobStillRunsOnce) {
  {
    ArmedFailpoints armed("controller.claim.after_commit=stop");
    ASSERT_NO_FATAL_FAILURE(StartPartitionableController());
  }
  ASSERT_NO_FATAL_FAILURE(StartAgentInNamespace("a1"));
  v1::Run run = SubmitLines(30);
  const pid_t controller = controller_->process().pid();
  ASSERT_TRUE(WaitUntil([&] { return ProcessState(controller) == 'T'; }, absl::Seconds(30)))
      << "the claim's failpoint was never reached";
  Cut();
  ASSERT_EQ(kill(controller, SIGCONT), 0);
  // The claimed attempt was never accepted: it ends without running.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Count(
                   "SELECT count(*) FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE "
                   "j.run_id = " +
                   std::to_string(run.id()) +
                   " AND a.state NOT IN ('ASSIGNED', 'RUNNING', 'LOST')") >= 1;
      },
      absl::Seconds(30)))
      << "the assignment's lease ran out during the partition";
  ExpectAtMostOneLiveAttemptPerAgent();
  absl::SleepFor(absl::Seconds(2));
  Heal();
  v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(90));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
  const auto& attempts = done.jobs(0).attempts();
  ASSERT_GE(attempts.size(), 2) << "the first assignment never ran";
  const auto logs = RunLogs(*stub_, run.id());
  EXPECT_TRUE(AttemptStdout(logs, attempts[0].id()).empty()) << "the stalled Assign never ran";
  EXPECT_EQ(NumberedLines(AttemptStdout(logs, attempts[attempts.size() - 1].id())), Range(1, 30));
  for (int i = 1; i + 1 < attempts.size(); ++i)
    EXPECT_TRUE(AttemptStdout(logs, attempts[i].id()).empty()) << attempts[i].DebugString();
  ExpectAtMostOneLiveAttemptPerAgent();
}

}  // namespace
}  // namespace perfgate::testing
