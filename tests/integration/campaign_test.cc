// Scale-tier campaigns end to end: a suite's tiers submitted as one campaign through the CLI,
// each tier a run on a real agent against the sample target, compared with the same tier of
// the baseline campaign, and judged in the tier x metric report.
#include <nlohmann/json.hpp>

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
  EXPECT_EQ(Cli({"campaign", "list"}, &out), 0);
  EXPECT_NE(out.find("no campaigns"), std::string::npos) << out;
  v1::ListRunsResponse runs;
  {
    auto ctx = Ctx();
    ASSERT_TRUE(stub_->ListRuns(ctx.get(), v1::ListRunsRequest(), &runs).ok());
  }
  EXPECT_EQ(runs.runs_size(), 0);

  // Queued instead with --wait-for-capacity, and cancelled as a whole.
  const int64_t id = SubmitCampaign(
      {"--suite", suite, "--tiers", "huge,small", "--wait-for-capacity", "--commit", "HEAD"}, &out);
  ASSERT_GT(id, 0) << out;
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

}  // namespace
}  // namespace perfgate::testing
