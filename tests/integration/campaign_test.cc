// Scale-tier campaigns end to end: a suite's tiers submitted as one campaign through the CLI,
// each tier a run on a real agent against the sample target, compared with the same tier of
// the baseline campaign, and judged in the tier x metric report.
#include <httplib.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "agent/hosts/netns_hosts.h"
#include "tests/harness/browser.h"
#include "tests/integration/benchmark_fixture.h"

namespace perfgate::testing {
namespace {

// Two tiers that differ in load and in the number of "services" the target is told of. The
// commit's flags file is a script of that number: a regression that shows only at scale.
constexpr char kSuite[] = R"yaml(
name: it-campaign
project: it
params: {services: 10, rate: 100}
tiers:
  small:
    params: {services: 50, rate: 100}
    limits:
      - {metric: http.latency.p50, target: 5, acceptable: 20, critical: 100}
  medium:
    params: {services: 200, rate: 200}
    limits:
      - {metric: http.latency.p50, target: 5, acceptable: 8, critical: 100}
jobs:
  - name: api
    benchmark:
      build:
        repository: $REPO
        commands: ["true"]
      stack:
        services:
          - name: api
            args: [/bin/sh, -c, "exec $TARGET --listen {host}:{port:api} --threads 16 $(sh {srcdir}/flags {param:services})"]
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", timeout: 20s}
      workload:
        duration: 1s
        repetitions: 8
        http:
          target: "http://{host}:{port:api}"
          rate: "{param:rate}"
          connections: 8
          max_generator_lag_p99: 250ms
          requests: [{name: get, path: /api/items/7}]
)yaml";

class CampaignTest : public BenchmarkTest {
 protected:
  // Submits a campaign (JSON answer) and returns its id; 0 when refused.
  int64_t SubmitCampaign(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), {"-o", "json", "campaign", "submit"});
    if (Cli(args, out) != 0) return 0;
    auto j = nlohmann::json::parse(*out, nullptr, false);
    return j.is_discarded() || !j.contains("id") ? 0 : std::stoll(j["id"].get<std::string>());
  }
  nlohmann::json Report(int64_t id) {
    std::string out;
    EXPECT_EQ(Cli({"-o", "json", "campaign", "report", std::to_string(id)}, &out), 0) << out;
    return nlohmann::json::parse(out, nullptr, false);
  }
  // The report's cell for a metric in a tier.
  static nlohmann::json Cell(const nlohmann::json& report, const std::string& metric,
                             const std::string& tier) {
    for (const auto& row : report["rows"]) {
      if (row["metric"] != metric) continue;
      for (const auto& cell : row["cells"])
        if (cell["tier"] == tier) return cell;
    }
    ADD_FAILURE() << "no cell " << metric << " in " << tier << ": " << report.dump(1);
    return {};
  }
};

TEST_F(CampaignTest, ACandidateCampaignIsJudgedPerTierAgainstTheBaselineCampaign) {
  ControllerOptions co;
  co.extra_args = {"--analysis-poll", "1s"};
  StartController(co);
  StartAgent("a1");
  StartAgent("a2");  // tiers run in parallel
  const std::string base = Commit("echo --added-latency 1ms");
  const std::string slow = Commit(
      "if [ \"$1\" -gt 100 ]; then echo --added-latency 9ms; else echo --added-latency 1ms; fi");
  const std::string suite = WriteSuite("campaign", kSuite);

  std::string out;
  const int64_t b = SubmitCampaign(
      {"--suite", suite, "--commit", base, "--branch", "main", "--kind", "baseline"}, &out);
  ASSERT_GT(b, 0) << out;
  // Watched to its end: every level met, so it passes (exit 0), and the text report says so.
  ASSERT_EQ(Cli({"campaign", "watch", std::to_string(b), "--timeout", "5m"}, &out), 0) << out;
  EXPECT_NE(out.find("): pass"), std::string::npos) << out;
  EXPECT_NE(out.find("tier small (run "), std::string::npos) << out;
  nlohmann::json br = Report(b);
  EXPECT_EQ(br["outcome"], "pass") << br.dump(1);
  EXPECT_EQ(Cell(br, "http.latency.p50", "small")["level"], "target");
  EXPECT_EQ(Cell(br, "http.latency.p50", "medium")["level"], "target");
  // Each tier ran with its own parameters and named its job for the tier.
  ASSERT_EQ(br["campaign"]["tiers"].size(), 2u);
  EXPECT_EQ(br["campaign"]["tiers"][1]["params"]["services"], "200");
  const int64_t medium_run = std::stoll(br["campaign"]["tiers"][1]["run_id"].get<std::string>());
  EXPECT_EQ(GetRun(*stub_, medium_run).jobs(0).name(), "api@medium");
  EXPECT_NEAR(Median(Results(medium_run), "http.throughput"), 200, 20);

  const int64_t c = SubmitCampaign({"--suite", suite, "--commit", slow, "--branch", "pr-1",
                                    "--baseline-branch", "main", "--kind", "candidate"},
                                   &out);
  ASSERT_GT(c, 0) << out;
  // The regression at scale fails the campaign (exit 5); the report names the tier.
  EXPECT_EQ(Cli({"campaign", "watch", std::to_string(c), "--timeout", "5m"}, &out), 5) << out;
  EXPECT_NE(out.find("tier medium: api http.latency.p50 regressed"), std::string::npos) << out;
  nlohmann::json cr = Report(c);
  EXPECT_EQ(cr["outcome"], "fail");
  const nlohmann::json medium = Cell(cr, "http.latency.p50", "medium");
  EXPECT_EQ(medium["verdict"], "VERDICT_REGRESSION") << medium.dump();
  EXPECT_EQ(medium["level"], "above_acceptable") << medium.dump();
  EXPECT_GT(medium["change"].get<double>(), 1.0);
  const nlohmann::json small = Cell(cr, "http.latency.p50", "small");
  EXPECT_NE(small["verdict"], "VERDICT_REGRESSION") << small.dump();
  EXPECT_EQ(small["level"], "target");
  // Markdown for a PR comment: the tier columns and the regressed cell in bold.
  EXPECT_EQ(Cli({"campaign", "report", std::to_string(c), "--format", "md"}, &out), 0);
  EXPECT_NE(out.find("| job | metric | small | medium |"), std::string::npos) << out;
  EXPECT_NE(out.find("regression**"), std::string::npos) << out;

  // Its runs succeeded (the campaign's state); its outcome is the report's.
  EXPECT_EQ(Cli({"campaign", "list", "--project", "it"}, &out), 0);
  EXPECT_NE(out.find("campaign " + std::to_string(c) + "  it-campaign  succeeded  candidate"),
            std::string::npos)
      << out;
  // The page: levels as colours, the regressed cell, a scale curve per metric, in a real browser.
  const std::string page = "/campaigns/" + std::to_string(c);
  EXPECT_EQ(Cli({"campaign", "report", std::to_string(c), "--format", "html"}, &out), 0);
  EXPECT_NE(out.find(page), std::string::npos) << out;
  httplib::Client http("127.0.0.1", controller_->http_port());
  auto res = http.Get(page.c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("lvl-above_acceptable"), std::string::npos);
  EXPECT_NE(res->body.find("<span class=\"regression\">regression"), std::string::npos);
  EXPECT_NE(res->body.find("Scale curves"), std::string::npos);
  CheckPagesInBrowser(dir_, controller_->http_port(), {page}, {page});

  // Bisecting the tier that regressed (docs/bisect.md): the tier's run is the template, so each
  // step runs its job at the tier's parameters — at the small tier's the change would not
  // reproduce and the bisection would fail.
  const int64_t medium_cand = std::stoll(cr["campaign"]["tiers"][1]["run_id"].get<std::string>());
  ASSERT_EQ(Cli({"bisect", "start", "--run", std::to_string(medium_cand), "--good", base, "--bad",
                 slow, "--wait", "--timeout", "200s"},
                &out),
            0)
      << out;
  EXPECT_NE(out.find("first bad commit " + slow.substr(0, 12)), std::string::npos) << out;
  EXPECT_EQ(Cli({"-o", "json", "bisect", "list"}, &out), 0);
  auto list = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(list.is_discarded()) << out;
  EXPECT_EQ(list["bisections"][0]["job_name"], "api@medium") << out;
}

TEST_F(CampaignTest, BadCampaignsAreRefusedNamingTheTierAndNothingIsStored) {
  StartController();
  StartAgent("a1");
  Commit("echo");
  std::string yaml = kSuite;
  yaml += R"yaml(
  - name: cluster
    benchmark:
      stack:
        hosts: [{role: node, count: 1}]
        services: [{name: n, on: node, args: [sleep, "60"]}]
      workload: {duration: 1s, repetitions: 1, command: {run: "echo '{\"measurements\": []}'"}}
)yaml";
  // Four hosts of 1 TiB each: more memory than any agent here offers.
  yaml.replace(yaml.find("  medium:\n"), 10,
               "  huge:\n    hosts: [{role: node, count: 4, memory: 1Ti}]\n");
  const std::string suite = WriteSuite("bad", yaml);
  std::string out;
  EXPECT_EQ(SubmitCampaign({"--suite", suite, "--tiers", "huge"}, &out), 0);
  EXPECT_NE(out.find("campaign.tiers[0] (huge): job cluster@huge needs an agent with "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("topology.memory_mib>=4194304"), std::string::npos) << out;
  EXPECT_NE(out.find("--wait-for-capacity"), std::string::npos) << out;
  EXPECT_EQ(SubmitCampaign({"--suite", suite, "--tiers", "large"}, &out), 0);
  EXPECT_NE(out.find("the suite has no tier 'large' (its tiers: small, huge)"), std::string::npos)
      << out;
  EXPECT_EQ(SubmitCampaign({"--suite", suite, "--param", "replicas=3"}, &out), 0);
  EXPECT_NE(out.find("--param replicas: the suite has no parameter 'replicas'"), std::string::npos)
      << out;
  // A suite file past 1 MiB is refused before it is read whole.
  const std::string big = WriteSuite("big", yaml + "# " + std::string(1 << 20, 'x') + "\n");
  EXPECT_EQ(SubmitCampaign({"--suite", big}, &out), 0);
  EXPECT_NE(out.find("larger than 1048576 bytes"), std::string::npos) << out;
  EXPECT_EQ(Cli({"campaign", "list"}, &out), 0);
  EXPECT_NE(out.find("no campaigns"), std::string::npos) << out;
  v1::ListRunsResponse runs;
  {
    auto ctx = Ctx();
    ASSERT_TRUE(stub_->ListRuns(ctx.get(), v1::ListRunsRequest(), &runs).ok());
  }
  EXPECT_EQ(runs.runs_size(), 0);

  // Queued instead with --wait-for-capacity, and cancelled as a whole.
  const int64_t id =
      SubmitCampaign({"--suite", suite, "--tiers", "huge,small", "--wait-for-capacity", "--commit",
                      "HEAD", "--request-id", "ci-job-17"},
                     &out);
  ASSERT_GT(id, 0) << out;
  // The same request again (a CI retry after a lost reply): the first campaign, no second; the
  // same id for another request: refused, naming it.
  EXPECT_EQ(SubmitCampaign({"--suite", suite, "--tiers", "huge,small", "--wait-for-capacity",
                            "--commit", "HEAD", "--request-id", "ci-job-17"},
                           &out),
            id);
  EXPECT_NE(out.find("\"duplicate\": true"), std::string::npos) << out;
  EXPECT_EQ(SubmitCampaign({"--suite", suite, "--tiers", "small", "--wait-for-capacity", "--commit",
                            "HEAD", "--request-id", "ci-job-17"},
                           &out),
            0);
  EXPECT_NE(out.find("request_id: 'ci-job-17' was used for campaign " + std::to_string(id) +
                     ", which had another request"),
            std::string::npos)
      << out;
  EXPECT_EQ(SubmitCampaign({"--suite", suite, "--request-id", "no spaces"}, &out), 0);
  EXPECT_NE(out.find("request_id: only letters, digits"), std::string::npos) << out;
  {
    v1::ListCampaignsResponse all;
    auto ctx = Ctx();
    ASSERT_TRUE(stub_->ListCampaigns(ctx.get(), v1::ListCampaignsRequest(), &all).ok());
    EXPECT_EQ(all.campaigns_size(), 1);
  }
  EXPECT_EQ(Cli({"campaign", "cancel", std::to_string(id)}, &out), 0) << out;
  EXPECT_TRUE(WaitUntil(
      [&] {
        v1::GetCampaignRequest req;
        req.set_id(id);
        v1::Campaign camp;
        auto ctx = Ctx();
        return stub_->GetCampaign(ctx.get(), req, &camp).ok() &&
               camp.state() == v1::RUN_STATE_CANCELLED;
      },
      absl::Seconds(60)));
  EXPECT_EQ(Cli({"campaign", "get", std::to_string(id)}, &out), 0);
  EXPECT_NE(out.find("huge  run "), std::string::npos) << out;
  EXPECT_NE(out.find("cancelled  4 hosts"), std::string::npos) << out;
}

// A Warren-style campaign on netns test hosts: the sample target's manager and workers, each
// repetition creating services through the manager's API (ops), waiting until every task runs
// (wait_until), calling a service under load while a worker is killed (load with a fault),
// holding (soak, with the manager's heap profiled at its start and end), and deleting the
// services (cleanup). The commit's flags file is a script of the role and the number of
// services: the candidate's workers start tasks slowly at scale, and its manager leaks with
// every heartbeat.
constexpr char kWarren[] = R"yaml(
name: it-warren
project: it
params: {services: 6, replicas: 2}
tiers:
  small:
    hosts: {manager: 1, worker: 2}
    params: {services: 6}
    limits:
      - {metric: wait.scheduled.seconds, target: 1.5, acceptable: 3, critical: 6}
  medium:
    hosts: {manager: 1, worker: 3}
    params: {services: 30}
    limits:
      # The candidate's workers start 20 tasks each at 100 ms apiece: 2 s at least.
      - {metric: wait.scheduled.seconds, target: 1, acceptable: 1.5, critical: 1.8}
jobs:
  - name: cluster
    benchmark:
      build:
        repository: $REPO
        commands: ["true"]
      stack:
        hosts: [{role: manager, count: 1}, {role: worker, count: 2}]
        services:
          - name: manager
            on: manager
            args: [/bin/sh, -c, "exec $TARGET --role manager --heap-profile sampled --listen {host}:8080 $(sh {srcdir}/flags manager {param:services})"]
            ready: {http: "http://{host}:8080/healthz", timeout: 20s}
          - name: worker
            on: worker
            args: [/bin/sh, -c, "exec $TARGET --role worker --listen {host}:8081 --name worker-{index} --manager http://{host:manager-1}:8080 $(sh {srcdir}/flags worker {param:services})"]
            ready: {http: "http://{host}:8081/healthz", timeout: 20s}
      workload:
        repetitions: 6
        phases:
          - name: create
            ops:
              count: "{param:services}"
              concurrency: 4
              target: "http://{host:manager-1}:8080"
              request: {method: POST, path: /services, body: '{"name": "svc-{i}", "replicas": {param:replicas}}'}
          - name: scheduled
            wait_until: {url: "http://{host:manager-1}:8080/status", field: pending, equals: "0",
                         interval: 50ms, timeout: 30s}
          - name: api
            load:
              # The killed worker's tasks move within the manager's 1 s worker timeout and a
              # heartbeat: up to ~1.5 s here, so 3 s after the fault to recover in.
              duration: 4s
              http:
                target: "http://{host:manager-1}:8080"
                rate: 50
                connections: 4
                timeout: 2s
                max_generator_lag_p99: 250ms
                requests: [{path: /services/svc-1/call}]
              faults:
                # p99 after a failover on two busy cores wanders: as the failover tests, a wide band.
                recovery: {p99_band: 500%, hold: 500ms}
                actions: [{name: kill-worker, action: kill, service: worker, target: worker-2, at: 1s}]
          - name: soak
            soak: {duration: 3s, sample: 200ms}
          - name: teardown
            cleanup:
              count: "{param:services}"
              concurrency: 4
              target: "http://{host:manager-1}:8080"
              request: {method: DELETE, path: "/services/svc-{i}"}
      observe:
        profiles: [{service: manager, url: "http://{host:manager-1}:8080/debug/pprof"}]
      limits:
        - {metric: soak.manager.manager-1.rss_slope, target: 200, acceptable: 1000, critical: 4000}
)yaml";

TEST_F(CampaignTest, AWarrenCampaignOnTestHostsFindsSlowPlacementAtScaleAndTheManagersLeak) {
  if (auto s = agent::NetnsHostsAvailable(); !s.ok()) GTEST_SKIP() << s.message();
  ControllerOptions co;
  co.extra_args = {"--analysis-poll", "1s"};
  StartController(co);
  StartAgent("w1");
  StartAgent("w2");  // the tiers run in parallel, each on its own hosts
  const std::string base = Commit("echo");
  const std::string slow = Commit(
      "case \"$1\" in manager) echo --leak-per-heartbeat 262144 ;; "
      "worker) if [ \"$2\" -gt 10 ]; then echo --task-start 100ms; fi ;; esac");
  const std::string suite = WriteSuite("warren", kWarren);
  std::string out;
  const int64_t b = SubmitCampaign(
      {"--suite", suite, "--commit", base, "--branch", "main", "--kind", "baseline"}, &out);
  ASSERT_GT(b, 0) << out;
  EXPECT_EQ(Cli({"campaign", "watch", std::to_string(b), "--timeout", "8m"}, &out), 0) << out;
  nlohmann::json br = Report(b);
  EXPECT_EQ(br["outcome"], "pass") << br.dump(1);
  // Every phase measured under its name, per tier.
  for (const char* tier : {"small", "medium"}) {
    const std::string level = Cell(br, "wait.scheduled.seconds", tier)["level"];
    EXPECT_TRUE(level == "target" || level == "acceptable") << tier << ": " << level;
    EXPECT_TRUE(Cell(br, "ops.create.rate", tier)["present"].get<bool>()) << tier;
    EXPECT_EQ(Cell(br, "ops.create.failures", tier)["value"], 0) << tier;
    EXPECT_TRUE(Cell(br, "load.api.http.latency.p99", tier)["present"].get<bool>()) << tier;
  }
  const int64_t small_run = std::stoll(br["campaign"]["tiers"][0]["run_id"].get<std::string>());
  v1::RunResults sr = Results(small_run);
  ASSERT_EQ(sr.jobs(0).repetitions_size(), 6);
  const v1::RepetitionResult& rep = sr.jobs(0).repetitions(0);
  ASSERT_EQ(rep.phases_size(), 5) << rep.DebugString();
  EXPECT_EQ(rep.phases(0).kind(), "ops");
  EXPECT_TRUE(rep.phases(0).ok());
  EXPECT_EQ(rep.phases(1).kind(), "wait_until");
  EXPECT_EQ(rep.phases(4).kind(), "cleanup");
  EXPECT_TRUE(rep.phases(4).ok()) << rep.phases(4).DebugString();
  ASSERT_EQ(rep.faults_size(), 1);
  EXPECT_EQ(rep.faults(0).host(), "worker-2");
  EXPECT_EQ(rep.faults(0).phase(), "load.api");
  // The faults section: the worker killed in every repetition of each tier, and recovered.
  ASSERT_EQ(br["faults"].size(), 2u) << br["faults"].dump(1);
  for (const auto& f : br["faults"]) {
    EXPECT_EQ(f["name"], "kill-worker");
    EXPECT_EQ(f["phase"], "load.api");
    EXPECT_EQ(f["repetitions"], 6) << f.dump();
    EXPECT_EQ(f["hosts"], nlohmann::json::array({"worker-2"})) << f.dump();
    EXPECT_GT(f.value("recovered", 0), 0) << f.dump();
  }
  // The manager's heap at each soak's start and end, without a leak to suspect.
  ASSERT_EQ(br["soak_heaps"].size(), 2u) << br.dump(1);
  for (const auto& h : br["soak_heaps"]) {
    EXPECT_EQ(h["service"], "manager");
    EXPECT_EQ(h["phase"], "soak");
    EXPECT_EQ(h["profiles"], 6);
    EXPECT_TRUE(h["suspects"].empty()) << h.dump(1);
  }

  const int64_t c = SubmitCampaign({"--suite", suite, "--commit", slow, "--branch", "pr-2",
                                    "--baseline-branch", "main", "--kind", "candidate"},
                                   &out);
  ASSERT_GT(c, 0) << out;
  EXPECT_EQ(Cli({"campaign", "watch", std::to_string(c), "--timeout", "8m"}, &out), 5) << out;
  std::cout << "the candidate campaign's report:\n" << out << std::flush;  // docs/campaigns.md
  nlohmann::json cr = Report(c);
  EXPECT_EQ(cr["outcome"], "fail");
  // Slower placement in the right tier: medium is critical and regressed, small is not.
  const nlohmann::json medium = Cell(cr, "wait.scheduled.seconds", "medium");
  EXPECT_EQ(medium["level"], "critical") << medium.dump();
  EXPECT_NE(Cell(cr, "wait.scheduled.seconds", "small")["verdict"], "VERDICT_REGRESSION");
  EXPECT_EQ(Cell(cr, "wait.scheduled.seconds", "small")["level"], "target");
  // The manager's leak, in the soak of both tiers.
  for (const char* tier : {"small", "medium"}) {
    const nlohmann::json leak = Cell(cr, "soak.manager.manager-1.rss_slope", tier);
    EXPECT_GT(leak["value"].get<double>(), 1000) << tier << ": " << leak.dump();
    EXPECT_EQ(Cell(br, "soak.manager.manager-1.rss_slope", tier)["level"], "target") << tier;
  }
  // And the function that leaks, named by the soak's heap profiles: the first suspect.
  ASSERT_EQ(cr["soak_heaps"].size(), 2u) << cr.dump(1);
  for (const auto& h : cr["soak_heaps"]) {
    ASSERT_TRUE(h.contains("suspects")) << h.dump(1);
    EXPECT_EQ(h["suspects"][0]["name"], "perfgate::sample_target::Manager::RetainHeartbeat()")
        << h.dump(1);
    EXPECT_GT(std::stoll(h["end_bytes"].get<std::string>()),
              std::stoll(h["start_bytes"].get<std::string>()) + (1 << 20))
        << h.dump(1);
  }
  EXPECT_NE(out.find("RetainHeartbeat()"), std::string::npos) << out;
  EXPECT_NE(out.find("tier medium: cluster wait.scheduled.seconds"), std::string::npos) << out;
}

// Schedules through the CLI and two controller replicas on one database: added with their next
// fire time shown, paused and resumed, a bad cron refused naming the field; a due slot (moved
// into the past, as after a night) fires exactly once across both replicas, at the branch's
// head, and the campaign it submits runs to its end.
TEST_F(CampaignTest, AScheduleFiresItsSlotOnceAcrossReplicasAtTheBranchHead) {
  ControllerOptions co;
  co.extra_args = {"--schedule-poll", "200ms"};
  StartController(co);
  const std::string dir_b = dir_ + "/replica-b";
  Sh("mkdir -p " + dir_b);
  ControllerOptions b = co;
  b.dsn = dsn_;
  ControllerProcess replica_b(dir_b, b);
  StartAgent("a1");
  Commit("echo --added-latency 1ms");
  const std::string head = Commit("echo --added-latency 2ms");
  const std::string branch = ShOut("git -C " + dir_ + "/sut rev-parse --abbrev-ref HEAD");
  std::string yaml = kSuite;
  yaml.replace(yaml.find("repetitions: 8"), 14, "repetitions: 2");
  const std::string suite = WriteSuite("nightly", yaml);
  std::string out;
  EXPECT_EQ(
      Cli({"schedule", "add", "--cron", "0 25 * * *", "--campaign", suite, "--branch", "main"},
          &out),
      2);
  EXPECT_NE(out.find("schedule.cron: hour: 25 is out of range 0-23"), std::string::npos) << out;
  EXPECT_EQ(Cli({"schedule", "add", "--cron", "0 2 * * *", "--campaign", suite, "--branch", branch,
                 "--tiers", "small"},
                &out),
            0)
      << out;
  EXPECT_NE(out.find("schedule 1  '0 2 * * *'  it-campaign  baseline  " + branch),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(" 02:00 UTC  last -"), std::string::npos) << out;
  EXPECT_EQ(Cli({"schedule", "pause", "1"}, &out), 0);
  EXPECT_NE(out.find("PAUSED"), std::string::npos) << out;
  EXPECT_EQ(Cli({"schedule", "resume", "1"}, &out), 0);
  EXPECT_EQ(out.find("PAUSED"), std::string::npos) << out;

  // The night comes: the slot is due (as after a controller restart, three slots late).
  {
    pqxx::connection c(dsn_);
    pqxx::nontransaction tx(c);
    tx.exec("UPDATE schedules SET next_fire_at = now() - interval '3 days'");
  }
  v1::ListCampaignsResponse camps;
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto ctx = Ctx();
        camps.Clear();
        return stub_->ListCampaigns(ctx.get(), v1::ListCampaignsRequest(), &camps).ok() &&
               camps.campaigns_size() > 0;
      },
      absl::Seconds(20)));
  ASSERT_EQ(camps.campaigns_size(), 1);
  const v1::Campaign& c = camps.campaigns(0);
  EXPECT_EQ(c.commit(), head);  // the branch's head, read with git ls-remote
  EXPECT_EQ(c.kind(), v1::RUN_KIND_BASELINE);
  ASSERT_EQ(c.tiers_size(), 1);
  EXPECT_EQ(c.tiers(0).name(), "small");
  EXPECT_EQ(Cli({"campaign", "watch", std::to_string(c.id()), "--timeout", "3m"}, &out), 0) << out;
  // Both replicas polled every 200 ms throughout: still one campaign, and the next slot ahead.
  absl::SleepFor(absl::Seconds(1));
  {
    auto ctx = Ctx();
    camps.Clear();
    ASSERT_TRUE(stub_->ListCampaigns(ctx.get(), v1::ListCampaignsRequest(), &camps).ok());
  }
  EXPECT_EQ(camps.campaigns_size(), 1);
  EXPECT_EQ(Cli({"schedule", "list"}, &out), 0);
  EXPECT_NE(out.find("-> campaign " + std::to_string(c.id())), std::string::npos) << out;
  EXPECT_EQ(Cli({"schedule", "remove", "1"}, &out), 0) << out;
  EXPECT_EQ(Cli({"schedule", "list"}, &out), 0);
  EXPECT_NE(out.find("no schedules"), std::string::npos) << out;
}

}  // namespace
}  // namespace perfgate::testing
