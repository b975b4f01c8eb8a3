// Suites with scale tiers: parameters, host counts and limits per tier (common/spec/suite_tiers.h).
#include "common/spec/suite_tiers.h"

#include <algorithm>

#include "common/spec/suite_parser.h"
#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

// A Warren-style suite: a manager and workers on test hosts, N services created per tier.
constexpr char kSuite[] = R"(
name: warren
params: {services: 10, replicas: 1}
tiers:
  small:
    params: {services: 50, replicas: 3}
    hosts: {manager: 1, worker: 2}
    limits:
      - {metric: http.latency.p99, target: 200, acceptable: 500, critical: 1000}
  medium:
    params: {services: 200}
    hosts: [{role: manager, count: 3}, {role: worker, count: 5, cpus: 0.5, memory: 256Mi}]
    limits:
      - {metric: http.latency.p99, acceptable: 600, critical: 1200}
jobs:
  - name: api
    benchmark:
      stack:
        hosts: [{role: manager}, {role: worker, count: 1}]
        services:
          - name: m
            on: manager
            args: [srv, --services, "{param:services}", --replicas, "{param:replicas}"]
            ports: [api]
      workload:
        duration: 5s
        repetitions: "{param:replicas}"
        http: {target: "http://{host}:{port:api}", rate: 10}
      limits:
        - {metric: http.latency.p99, target: 100, max: 5000}
)";

TEST(SuiteTiersTest, ATierFillsItsParametersHostsAndLimitsAndNamesItsJobs) {
  auto small = ParseSuiteTier("s.yaml", kSuite, {"small", {}});
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->tier, "small");
  EXPECT_EQ(small->params.at("services"), "50");
  EXPECT_EQ(small->hosts, 3u);
  const v1::JobSpec& job = small->spec.jobs(0);
  EXPECT_EQ(job.name(), "api@small");
  const auto& b = job.benchmark();
  EXPECT_EQ(b.stack().exec().services(0).args(2), "50");
  EXPECT_EQ(b.stack().exec().services(0).args(4), "3");
  // A parameter may stand for a number.
  EXPECT_EQ(b.workload().repetitions(), 3u);
  ASSERT_EQ(b.limits_size(), 1);
  // The tier's levels win; the job's max stays.
  EXPECT_EQ(b.limits(0).target(), 200);
  EXPECT_EQ(b.limits(0).critical(), 1000);
  EXPECT_EQ(b.limits(0).max(), 5000);

  auto medium = ParseSuiteTier("s.yaml", kSuite, {"medium", {}});
  ASSERT_TRUE(medium.ok()) << medium.status();
  EXPECT_EQ(medium->hosts, 8u);
  EXPECT_EQ(medium->params.at("services"), "200");
  EXPECT_EQ(medium->params.at("replicas"), "1");  // the suite's default
  const auto& mb = medium->spec.jobs(0).benchmark();
  EXPECT_EQ(mb.stack().exec().hosts(1).count(), 5u);
  EXPECT_DOUBLE_EQ(mb.stack().exec().hosts(1).cpus(), 0.5);
  EXPECT_EQ(mb.stack().exec().hosts(1).memory_bytes(), 256u << 20);
  EXPECT_EQ(mb.limits(0).target(), 100);  // the job's, where the tier says nothing
  EXPECT_EQ(mb.limits(0).acceptable(), 600);
}

TEST(SuiteTiersTest, TheCommandLineMakesACustomTierOrOverridesOne) {
  auto custom =
      ParseSuiteTier("s.yaml", kSuite, {"custom", {{"services", "500"}, {"replicas", "5"}}});
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(custom->spec.jobs(0).name(), "api@custom");
  EXPECT_EQ(custom->spec.jobs(0).benchmark().stack().exec().services(0).args(2), "500");
  EXPECT_EQ(custom->hosts, 2u);  // the stack's own hosts

  auto over = ParseSuiteTier("s.yaml", kSuite, {"small", {{"replicas", "7"}}});
  ASSERT_TRUE(over.ok()) << over.status();
  EXPECT_EQ(over->spec.jobs(0).benchmark().workload().repetitions(), 7u);
  EXPECT_EQ(over->params.at("services"), "50");

  // Without a tier: the suite's defaults, the jobs' own names.
  auto plain = ParseSuite("s.yaml", kSuite);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->jobs(0).name(), "api");
  EXPECT_EQ(plain->jobs(0).benchmark().workload().repetitions(), 1u);

  auto names = SuiteTierNames("s.yaml", kSuite);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"small", "medium"}));
}

TEST(SuiteTiersTest, BadTiersAreRefusedNamingTheField) {
  auto refused = [](const std::string& text, const TierChoice& choice, const std::string& want) {
    auto r = ParseSuiteTier("s.yaml", text, choice);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.status().message().find(want), std::string::npos)
        << "got: " << r.status().message() << "\nwant: " << want;
  };
  const std::string suite = kSuite;
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = suite;
    const auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
  };
  refused(suite, {"large", {}}, "the suite has no tier 'large' (its tiers: small, medium)");
  refused(suite, {"small", {{"nodes", "3"}}},
          "--param nodes: the suite has no parameter 'nodes' (its parameters: replicas=1, "
          "services=10)");
  {
    const std::string bad = with("\"{param:replicas}\"]", "\"{param:replica}\"]");
    const auto at = bad.find("{param:replica}");
    const auto line = std::count(bad.begin(), bad.begin() + at, '\n') + 1;
    refused(bad, {"small", {}}, "s.yaml:" + std::to_string(line) + ":");
  }
  refused(with("\"{param:replicas}\"]", "\"{param:replica}\"]"), {"small", {}},
          "jobs[0].benchmark.stack.services[0].args[4]: {param:replica} is not a parameter of "
          "the suite (known: replicas, services)");
  refused(with("acceptable: 500, critical: 1000", "acceptable: 50, critical: 1000"), {"small", {}},
          "tiers.small.limits[0]: target, acceptable and critical must be ordered");
  refused(with("hosts: {manager: 1, worker: 2}", "hosts: {manager: 1, wrker: 2}"), {"small", {}},
          "tiers.small.hosts: role 'wrker' is no role of any job's stack.hosts");
  refused(with("hosts: {manager: 1, worker: 2}", "hosts: {manager: 1, worker: 0}"), {"small", {}},
          "tiers.small.hosts.worker: must be a whole number from 1 to 250");
  refused(with("params: {services: 200}", "params: {nodes: 200}"), {"medium", {}},
          "tiers.medium.params.nodes: is not a parameter of the suite");
  refused(with("  medium:\n", "  Medium:\n"), {"small", {}}, "tiers.Medium: a tier name is");
  refused(with("{metric: http.latency.p99, acceptable: 600", "{acceptable: 600"), {"medium", {}},
          "tiers.medium.limits[0].metric: is required");
  refused(with("  small:\n", "  small:\n    soak: 1h\n"), {"small", {}},
          "tiers.small.soak: unknown key");
  // A parameter with no value anywhere is named where it is used.
  refused("jobs:\n  - name: x\n    command: \"echo {param:n}\"\n", {"", {}},
          "s.yaml:3:14: jobs[0].command: {param:n} is not a parameter of the suite (known: none");
}

}  // namespace
}  // namespace perfgate::common
