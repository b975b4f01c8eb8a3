// Submit -> dispatch -> agent runs -> logs and result back, through real processes.
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "tests/integration/fixture.h"

namespace perfgate::testing {
namespace {

TEST_F(ClusterTest, CommandRunsAndItsLogsAndResultComeBack) {
  StartController();
  StartAgent("a1");
  v1::Run run =
      SubmitCommand(*stub_, "for i in 1 2 3; do echo line-$i; done; echo oops >&2; exit 0");
  // Watch from the start: every state change and every log chunk arrives on the stream.
  v1::WatchRunRequest wreq;
  wreq.set_id(run.id());
  wreq.set_logs(true);
  auto ctx = Ctx("", absl::Seconds(60));
  auto reader = stub_->WatchRun(ctx.get(), wreq);
  std::vector<v1::RunState> states;
  std::string watched_stdout;
  v1::RunEvent ev;
  while (reader->Read(&ev)) {
    if (ev.has_run() && (states.empty() || states.back() != ev.run().state()))
      states.push_back(ev.run().state());
    if (ev.has_log() && ev.log().stream() == v1::LOG_STREAM_STDOUT)
      watched_stdout += ev.log().data();
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(watched_stdout, "line-1\nline-2\nline-3\n");
  v1::Run done = GetRun(*stub_, run.id());
  ASSERT_EQ(done.jobs(0).attempts_size(), 1);
  EXPECT_EQ(done.jobs(0).attempts(0).agent(), "a1");
  EXPECT_EQ(done.jobs(0).attempts(0).outcome(), v1::ATTEMPT_OUTCOME_SUCCEEDED);
  // The controller's own metrics saw the dispatch and the agent.
  httplib::Client http("127.0.0.1", controller_->http_port());
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  for (const char* want :
       {"perfgate_controller_claims_total 1", "perfgate_controller_agents_connected 1",
        "perfgate_controller_jobs{state=\"SUCCEEDED\"} 1",
        "perfgate_controller_dispatch_latency_seconds_count 1",
        "perfgate_controller_rpc_duration_seconds_count{method=\"CompleteAttempt\"} 1"}) {
    EXPECT_NE(metrics->body.find(want), std::string::npos) << want << "\n" << metrics->body;
  }
  auto logs = RunLogs(*stub_, run.id());
  std::string err;
  for (const auto& c : logs) {
    if (c.stream() == v1::LOG_STREAM_STDERR) err += c.data();
  }
  EXPECT_EQ(err, "oops\n");
}

// Reads a whole WatchRun stream; returns the status, the last run and the stdout seen.
struct Watched {
  grpc::Status status;
  v1::Run last;
  std::string out;
  int64_t last_log_id = 0;
};
Watched WatchToEnd(v1::Controller::Stub& stub, int64_t id, int64_t after = 0,
                   const std::string& token = "") {
  v1::WatchRunRequest req;
  req.set_id(id);
  req.set_logs(true);
  req.set_after_log_id(after);
  auto ctx = Ctx(token, absl::Seconds(60));
  auto reader = stub.WatchRun(ctx.get(), req);
  Watched w;
  v1::RunEvent ev;
  while (reader->Read(&ev)) {
    if (ev.has_run()) w.last = ev.run();
    if (ev.has_log()) {
      if (ev.log().stream() == v1::LOG_STREAM_STDOUT) w.out += ev.log().data();
      w.last_log_id = ev.log().id();
    }
  }
  w.status = reader->Finish();
  return w;
}

TEST_F(ClusterTest, ManyWatchersEachGetTheWholeRunAndCanResume) {
  StartController();
  StartAgent("a1");
  // Enough output for several log pages, spread over time.
  v1::Run run = SubmitCommand(
      *stub_, "for i in $(seq 1 30); do seq 1 2000 | sed \"s/^/$i-/\"; sleep 0.02; done");
  std::string expect;
  for (int i = 1; i <= 30; ++i) {
    for (int k = 1; k <= 2000; ++k) expect += std::to_string(i) + "-" + std::to_string(k) + "\n";
  }
  std::vector<Watched> results(20);
  std::vector<std::thread> watchers;
  for (int i = 0; i < 20; ++i) {
    watchers.emplace_back([&, i] { results[i] = WatchToEnd(*stub_, run.id()); });
  }
  for (auto& t : watchers) t.join();
  for (const auto& w : results) {
    ASSERT_TRUE(w.status.ok()) << w.status.error_message();
    EXPECT_EQ(w.last.state(), v1::RUN_STATE_SUCCEEDED);
    EXPECT_TRUE(w.out == expect) << "a watcher saw " << w.out.size() << " of " << expect.size()
                                 << " bytes";
  }
  // Resuming after the last chunk yields the final state and no log again.
  Watched again = WatchToEnd(*stub_, run.id(), results[0].last_log_id);
  ASSERT_TRUE(again.status.ok());
  EXPECT_EQ(again.out, "");
  EXPECT_EQ(again.last.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(WatchToEnd(*stub_, 4242).status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(WatchToEnd(*stub_, -1).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ClusterTest, ControllerShutsDownPromptlyWithOpenStreams) {
  StartController();
  StartAgent("a1");
  v1::Run run = SubmitCommand(*stub_, "sleep 30");
  Watched w;
  std::thread watcher([&] { w = WatchToEnd(*stub_, run.id()); });
  ASSERT_TRUE(WaitUntil([&] { return GetRun(*stub_, run.id()).state() == v1::RUN_STATE_RUNNING; },
                        absl::Seconds(20)));
  absl::Time t0 = absl::Now();
  EXPECT_EQ(controller_->process().Terminate(absl::Seconds(30)), 0);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(15)) << "shutdown must respect its deadline";
  watcher.join();
  EXPECT_EQ(w.status.error_code(), grpc::StatusCode::UNAVAILABLE) << w.status.error_message();
}

TEST_F(ClusterTest, CliSubmitWaitReflectsTheOutcome) {
  StartController();
  StartAgent("a1");
  std::string out;
  EXPECT_EQ(Cli({"run", "submit", "--command", "echo from-cli", "--wait"}, &out), 0) << out;
  EXPECT_NE(out.find("from-cli"), std::string::npos) << out;
  EXPECT_EQ(Cli({"run", "submit", "--command", "exit 7", "--wait"}, &out), 1) << out;
  EXPECT_EQ(Cli({"-o", "json", "run", "list", "--state", "failed"}, &out), 0);
  EXPECT_NE(out.find("\"state\": \"RUN_STATE_FAILED\""), std::string::npos) << out;
  EXPECT_EQ(Cli({"-o", "json", "run", "get", "1"}, &out), 0);
  EXPECT_NE(out.find("\"id\": \"1\""), std::string::npos) << out;
  EXPECT_EQ(Cli({"run", "logs", "1"}, &out), 0);
  EXPECT_NE(out.find("from-cli"), std::string::npos) << out;
  EXPECT_EQ(Cli({"agent", "list"}, &out), 0);
  EXPECT_NE(out.find("a1"), std::string::npos) << out;
  std::string suite = dir_ + "/suite.yaml";
  std::ofstream(suite)
      << "name: two\njobs:\n  - name: one\n    command: echo suite-one\n  - name: two\n"
         "    command: echo suite-two\n";
  EXPECT_EQ(
      Cli({"run", "submit", "--suite", suite, "--kind", "baseline", "--branch", "main", "--wait"},
          &out),
      0)
      << out;
  EXPECT_NE(out.find("suite-two"), std::string::npos) << out;
}

// CI reads `--wait -o json` line by line: every line one JSON document, the final run last.
TEST_F(ClusterTest, CliWaitJsonIsJsonLinesEndingWithTheFinalRun) {
  StartController();
  StartAgent("a1");
  for (const auto& [command, want_exit, want_state] :
       {std::tuple<std::string, int, std::string>{"echo fine", 0, "RUN_STATE_SUCCEEDED"},
        {"exit 3", 1, "RUN_STATE_FAILED"}}) {
    std::string out;
    EXPECT_EQ(Cli({"-o", "json", "run", "submit", "--command", command, "--wait"}, &out), want_exit)
        << out;
    std::vector<nlohmann::json> docs;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      ASSERT_FALSE(j.is_discarded()) << "not one JSON document: " << line << "\nin:\n" << out;
      docs.push_back(j);
    }
    ASSERT_GE(docs.size(), 2u) << "the submitted run, then its changes:\n" << out;
    EXPECT_EQ(docs.front()["state"], "RUN_STATE_QUEUED") << out;
    EXPECT_EQ(docs.back()["state"], want_state) << out;
    EXPECT_EQ(docs.back()["id"], docs.front()["id"]);
  }
}

// The fallback to re-request a run: the same spec, commit and kind as a new run.
TEST_F(ClusterTest, RerunSubmitsTheSameSpecAsANewRun) {
  StartController();
  StartAgent("a1");
  std::string out;
  ASSERT_EQ(Cli({"run", "submit", "--command", "echo again-$PERFGATE_COMMIT", "--commit", "c0ffee",
                 "--kind", "baseline", "--branch", "main", "--wait"},
                &out),
            0)
      << out;
  ASSERT_EQ(Cli({"-o", "json", "run", "rerun", "1", "--wait"}, &out), 0) << out;
  std::string last_line;  // JSON Lines: the final run is the last line
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) last_line = line;
  auto last = nlohmann::json::parse(last_line, nullptr, false);
  ASSERT_FALSE(last.is_discarded()) << out;
  EXPECT_EQ(last["id"], "2");
  EXPECT_EQ(last["commit"], "c0ffee");
  EXPECT_EQ(last["kind"], "RUN_KIND_BASELINE");
  EXPECT_EQ(last["state"], "RUN_STATE_SUCCEEDED");
  ASSERT_EQ(Cli({"run", "logs", "2"}, &out), 0);
  EXPECT_NE(out.find("again-c0ffee"), std::string::npos) << out;
  EXPECT_EQ(Cli({"run", "rerun", "99"}, &out), 2) << out;
  EXPECT_NE(out.find("99"), std::string::npos) << out;
}

// Idempotent submissions (issue 17): a repeated request_id answers with the first run; the
// CLI names each invocation's submission and retries it with that name while the controller is
// unreachable, so a retry after a lost reply cannot make a second run.
TEST_F(ClusterTest, ARepeatedSubmissionAnswersWithTheFirstRunAndTheCliRetriesWithItsId) {
  StartController();
  v1::SubmitRunRequest req;
  req.mutable_spec()->add_jobs()->mutable_command()->set_command("true");
  req.set_request_id("ci-pipeline-7:job-3");
  v1::SubmitRunResponse first, second;
  ASSERT_TRUE(stub_->SubmitRun(Ctx().get(), req, &first).ok());
  ASSERT_TRUE(stub_->SubmitRun(Ctx().get(), req, &second).ok());
  EXPECT_FALSE(first.duplicate());
  EXPECT_TRUE(second.duplicate());
  EXPECT_EQ(second.run().id(), first.run().id());
  req.set_request_id("not ok");
  grpc::Status bad = stub_->SubmitRun(Ctx().get(), req, &second);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.error_message(), "request_id: only letters, digits and . _ : - are allowed");
  std::string out;
  ASSERT_EQ(Cli({"run", "submit", "--command", "true", "--request-id", "ci-42"}, &out), 0) << out;
  ASSERT_EQ(Cli({"run", "submit", "--command", "true", "--request-id", "ci-42"}, &out), 0) << out;
  EXPECT_NE(out.find("perfgate: request ci-42 was submitted before: run"), std::string::npos)
      << out;
  v1::ListRunsResponse runs;
  ASSERT_TRUE(stub_->ListRuns(Ctx().get(), v1::ListRunsRequest(), &runs).ok());
  EXPECT_EQ(runs.runs_size(), 2) << "one run per request id";

  // The controller is down when the CLI submits and comes back a second later: the CLI retries
  // its submission with one id, and it is made once.
  const int port = controller_->grpc_port();
  controller_.reset();
  auto submit = std::async(std::launch::async, [&] {
    common::SpawnOptions o;
    o.argv = {BinaryPath("perfgate"),
              "--controller",
              "127.0.0.1:" + std::to_string(port),
              "run",
              "submit",
              "--command",
              "true"};
    int code = -1;
    auto cli_out = common::RunAndCapture(o, &code);
    return std::make_pair(code, cli_out.value_or(""));
  });
  absl::SleepFor(absl::Seconds(1));
  ControllerOptions o;
  o.grpc_port = port;
  StartController(o);
  auto [code, cli_out] = submit.get();
  EXPECT_EQ(code, 0) << cli_out;
  EXPECT_NE(cli_out.find("; retrying submission cli-"), std::string::npos) << cli_out;
  ASSERT_TRUE(stub_->ListRuns(Ctx().get(), v1::ListRunsRequest(), &runs).ok());
  EXPECT_EQ(runs.runs_size(), 3);
}

// --agent-listen: a port serving the agents' gateway alone (README, "The store at fleet
// scale": an agent's connection costs less there). An agent connected there runs a job; the
// operators' API is not served there; agents on --grpc-listen still connect, so a fleet can
// move over one agent at a time.
TEST_F(ClusterTest, AgentsConnectOnAListenerOfTheirOwnThatServesNothingElse) {
  ControllerOptions o;
  o.extra_args = {"--agent-listen", "127.0.0.1:0"};
  StartController(o);
  ASSERT_NE(controller_->agent_address(), controller_->address());
  StartAgent("a1");  // on the agents' port
  v1::Run done =
      WaitForRunEnd(*stub_, SubmitCommand(*stub_, "echo on-its-own-port").id(), absl::Seconds(60));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED) << done.DebugString();
  EXPECT_EQ(done.jobs(0).attempts(0).agent(), "a1");
  auto api = v1::Controller::NewStub(
      grpc::CreateChannel(controller_->agent_address(), grpc::InsecureChannelCredentials()));
  v1::ListAgentsResponse agents;
  EXPECT_EQ(api->ListAgents(Ctx().get(), v1::ListAgentsRequest(), &agents).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  agents_["a2"] = std::make_unique<AgentProcess>("a2", controller_->address(), dir_ + "/agent-a2");
  EXPECT_TRUE(WaitUntil([&] { return AgentConnected("a2"); }, absl::Seconds(20)))
      << "an agent on the API's port";
}

TEST_F(ClusterTest, CancelQueuedRunIsImmediate) {
  StartController();  // no agent: the job stays queued
  v1::Run run = SubmitCommand(*stub_, "echo never");
  v1::CancelRunRequest req;
  req.set_id(run.id());
  v1::Run after;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->CancelRun(ctx.get(), req, &after).ok());
  EXPECT_EQ(after.state(), v1::RUN_STATE_CANCELLED);
  // An agent arriving later does not run it.
  StartAgent("late");
  v1::Run next = SubmitCommand(*stub_, "echo runs");
  EXPECT_EQ(WaitForRunEnd(*stub_, next.id()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_TRUE(RunLogs(*stub_, run.id()).empty());
}

TEST_F(ClusterTest, CancelRunningRunStopsTheProcessGroup) {
  StartController();
  StartAgent("a1");
  std::string pidfile = JobDrop() + "/job.pid";
  // The job ignores SIGTERM: only the SIGKILL after its 2 s grace stops it.
  v1::Run run =
      SubmitCommand(*stub_, "trap '' TERM; echo $$ > " + pidfile + "; echo started; sleep 120");
  ASSERT_TRUE(WaitUntil([&] { return GetRun(*stub_, run.id()).state() == v1::RUN_STATE_RUNNING; },
                        absl::Seconds(20)));
  const pid_t pid = WaitForPidFile(pidfile, absl::Seconds(20));
  ASSERT_GT(pid, 0);
  v1::CancelRunRequest req;
  req.set_id(run.id());
  v1::Run after;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->CancelRun(ctx.get(), req, &after).ok());
  EXPECT_EQ(after.state(), v1::RUN_STATE_CANCELLING);
  v1::Run done = WaitForRunEnd(*stub_, run.id(), absl::Seconds(30));
  EXPECT_EQ(done.state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(done.jobs(0).attempts(0).outcome(), v1::ATTEMPT_OUTCOME_CANCELLED);
  EXPECT_NE(kill(pid, 0), 0) << "the job's process survived the cancel";
}

TEST_F(ClusterTest, TwoAgentsTenJobsNeverTwoAtOnceOnOneAgent) {
  StartController();
  StartAgent("a1");
  StartAgent("a2");
  v1::SubmitRunRequest req;
  for (int i = 0; i < 10; ++i) {
    auto* j = req.mutable_spec()->add_jobs();
    j->set_name("job" + std::to_string(i));
    j->mutable_command()->set_command(
        "echo start $(date +%s%N); sleep 0.2; echo end $(date +%s%N)");
  }
  v1::SubmitRunResponse resp;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->SubmitRun(ctx.get(), req, &resp).ok());
  v1::Run done = WaitForRunEnd(*stub_, resp.run().id(), absl::Seconds(60));
  ASSERT_EQ(done.state(), v1::RUN_STATE_SUCCEEDED);
  auto logs = RunLogs(*stub_, done.id());
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> spans;
  for (const auto& job : done.jobs()) {
    ASSERT_EQ(job.attempts_size(), 1);
    std::string out = AttemptStdout(logs, job.attempts(0).id());
    std::vector<std::string> f = absl::StrSplit(out, absl::ByAnyChar(" \n"), absl::SkipEmpty());
    ASSERT_EQ(f.size(), 4u) << out;
    int64_t start = 0, end = 0;
    ASSERT_TRUE(absl::SimpleAtoi(f[1], &start) && absl::SimpleAtoi(f[3], &end));
    spans[job.attempts(0).agent()].push_back({start, end});
  }
  EXPECT_EQ(spans.size(), 2u) << "both agents should have worked";
  for (auto& [agent, s] : spans) {
    std::sort(s.begin(), s.end());
    for (size_t i = 1; i < s.size(); ++i) {
      EXPECT_LE(s[i - 1].second, s[i].first) << agent << " ran two jobs at once";
    }
  }
}

TEST_F(ClusterTest, DrainedAgentTakesNoWorkUntilUndrained) {
  StartController();
  StartAgent("a1");
  std::string out;
  ASSERT_EQ(Cli({"agent", "drain", "a1"}, &out), 0) << out;
  v1::Run run = SubmitCommand(*stub_, "echo drained");
  // The job must stay queued while the only agent drains; give the dispatcher real chances.
  for (int i = 0; i < 3; ++i) SubmitCommand(*stub_, "true");
  EXPECT_FALSE(WaitUntil([&] { return GetRun(*stub_, run.id()).state() != v1::RUN_STATE_QUEUED; },
                         absl::Seconds(2)));
  ASSERT_EQ(Cli({"agent", "drain", "a1", "--undo"}, &out), 0) << out;
  EXPECT_EQ(WaitForRunEnd(*stub_, run.id()).state(), v1::RUN_STATE_SUCCEEDED);
}

}  // namespace
}  // namespace perfgate::testing

namespace perfgate::testing {
namespace {

// Retention end to end (issue 17): a run finished 40 days ago (aged in the database) loses its
// logs to `perfgate gc`, after a dry run that says so and removes nothing; the CLI, the run's
// page, the storage page and /metrics tell what happened; the measurements stay.
TEST_F(ClusterTest, GcRemovesAnOldRunsLogsAfterADryRunAndEverySurfaceSaysSo) {
  StartController();
  StartAgent("a1");
  v1::Run run = SubmitCommand(*stub_, "echo hello-retention");
  ASSERT_EQ(WaitForRunEnd(*stub_, run.id()).state(), v1::RUN_STATE_SUCCEEDED);
  const std::string id = std::to_string(run.id());
  {
    pqxx::connection c(dsn_);
    pqxx::work tx(c);
    tx.exec("UPDATE runs SET finished_at = now() - interval '40 days' WHERE id = " + id);
    tx.commit();
  }
  std::string out;
  ASSERT_EQ(Cli({"gc", "--dry-run"}, &out), 0) << out;
  EXPECT_NE(out.find("logs: would remove"), std::string::npos) << out;
  EXPECT_NE(out.find("of 1 runs finished over 30 days ago"), std::string::npos) << out;
  EXPECT_NE(out.find("profiles: would remove 0 profiles"), std::string::npos) << out;
  ASSERT_EQ(Cli({"run", "logs", id}, &out), 0) << out;
  EXPECT_NE(out.find("hello-retention"), std::string::npos) << "a dry run removes nothing";

  ASSERT_EQ(Cli({"gc"}, &out), 0) << out;
  EXPECT_NE(out.find("logs: removed"), std::string::npos) << out;
  ASSERT_EQ(Cli({"run", "logs", id}, &out), 0) << out;
  EXPECT_EQ(out.find("hello-retention"), std::string::npos) << out;
  EXPECT_NE(out.find("logs removed by the retention policy"), std::string::npos) << out;
  EXPECT_TRUE(GetRun(*stub_, run.id()).has_logs_removed_at());

  ASSERT_EQ(Cli({"storage"}, &out), 0) << out;
  EXPECT_NE(out.find("logs"), std::string::npos) << out;
  EXPECT_NE(out.find("30 days"), std::string::npos) << out;
  EXPECT_NE(out.find("total"), std::string::npos) << out;

  httplib::Client http("127.0.0.1", controller_->http_port());
  auto page = http.Get(("/runs/" + id).c_str());
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("Removed by the retention policy"), std::string::npos);
  auto storage = http.Get("/storage");
  ASSERT_TRUE(storage);
  EXPECT_EQ(storage->status, 200);
  EXPECT_NE(storage->body.find("measurements"), std::string::npos);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("perfgate_controller_store_bytes{kind=\"logs\"}"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("perfgate_controller_retention_removed_bytes_total{kind=\"logs\"}"),
            std::string::npos);

  // Bad input is refused by the CLI, naming the option.
  EXPECT_NE(Cli({"gc", "--logs-older-than-days", "0"}, &out), 0);
  EXPECT_NE(out.find("--logs-older-than-days"), std::string::npos) << out;
}

}  // namespace
}  // namespace perfgate::testing
