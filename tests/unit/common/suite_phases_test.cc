// Phased workloads in suite files: ops, wait_until, load, soak and cleanup phases, their
// defaults, and bad phases refused with the field named.
#include "common/spec/run_spec_rules.h"
#include "common/spec/suite_parser.h"
#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

constexpr char kPhases[] = R"(
jobs:
  - name: cluster
    benchmark:
      stack:
        hosts: [{role: manager}, {role: worker, count: 2}]
        services:
          - {name: manager, on: manager, args: [m, "{host}:8080"]}
          - {name: worker, on: worker, args: [w, "{host}:8081"]}
      workload:
        duration: 4s
        repetitions: 3
        phases:
          - name: create
            ops:
              count: 20
              concurrency: 4
              target: "http://{host:manager-1}:8080"
              request: {method: POST, path: /services, body: '{"name": "svc-{i}", "replicas": 2}'}
          - name: scheduled
            wait_until: {url: "http://{host:manager-1}:8080/status", field: pending, equals: "0",
                         interval: 100ms, timeout: 1m}
          - name: load
            load:
              http: {target: "http://{host:manager-1}:8080", rate: 50}
              faults:
                actions: [{name: kill-worker, action: kill, service: worker, target: worker-2, at: 1s}]
          - name: soak
            soak: {duration: 3s, sample: 250ms}
          - name: cleanup
            cleanup: {count: 20, command: "curl -sf -X DELETE http://{host:manager-1}:8080/services/svc-{i}"}
)";

TEST(SuitePhasesTest, PhasesParseWithTheirDefaults) {
  auto spec = ParseSuite("s.yaml", kPhases);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const v1::WorkloadSpec& w = spec->jobs(0).benchmark().workload();
  ASSERT_EQ(w.phases_size(), 5);
  EXPECT_EQ(w.generator_case(), v1::WorkloadSpec::GENERATOR_NOT_SET);
  const v1::OpsSpec& ops = w.phases(0).ops();
  EXPECT_EQ(ops.count(), 20u);
  EXPECT_EQ(ops.concurrency(), 4u);
  EXPECT_EQ(ops.request().method(), "POST");
  EXPECT_EQ(ops.timeout_ms(), kDefaultOpTimeoutMs);
  const v1::WaitUntilSpec& wu = w.phases(1).wait_until();
  EXPECT_EQ(wu.status(), 200u);
  EXPECT_EQ(wu.interval_ms(), 100u);
  EXPECT_EQ(wu.timeout_seconds(), 60u);
  const v1::LoadPhase& l = w.phases(2).load();
  EXPECT_EQ(l.duration_seconds(), 4u);     // the workload's duration
  EXPECT_EQ(l.http().connections(), 16u);  // the generator's defaults, as for a workload's
  EXPECT_EQ(l.faults().actions(0).target(), "worker-2");
  EXPECT_EQ(w.phases(3).soak().sample_ms(), 250u);
  EXPECT_EQ(w.phases(4).cleanup().concurrency(), 1u);
}

// A soak takes every profiled service's heap at its start and end: with a soak, a profile that
// asks for nothing else is what a leak hunt needs; without one it still captures nothing.
TEST(SuitePhasesTest, AProfileWithNothingElseToCaptureIsTheSoaksHeaps) {
  std::string yaml = kPhases;
  yaml += R"(      observe:
        profiles: [{service: manager, url: "http://{host:manager-1}:8080/debug/pprof"}]
)";
  auto spec = ParseSuite("s.yaml", yaml);
  EXPECT_TRUE(spec.ok()) << spec.status();
  const size_t soak = yaml.find("          - name: soak\n");
  ASSERT_NE(soak, std::string::npos);
  yaml.erase(soak, yaml.find("          - name: cleanup") - soak);
  spec = ParseSuite("s.yaml", yaml);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("observe.profiles[0]: captures nothing"),
            std::string::npos)
      << spec.status();
}

TEST(SuitePhasesTest, BadPhasesAreRefusedNamingTheField) {
  auto refused = [](const std::string& from, const std::string& to, const std::string& want) {
    std::string text = kPhases;
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    auto spec = ParseSuite("s.yaml", text);
    ASSERT_FALSE(spec.ok()) << to;
    EXPECT_NE(spec.status().message().find(want), std::string::npos)
        << "got: " << spec.status().message() << "\nwant: " << want;
  };
  refused("          - name: scheduled\n", "          - \n",
          "jobs[0].benchmark.workload.phases[1].name: is required");
  refused("name: soak", "name: load", "phases[3].name: 'load' is used twice");
  refused("count: 20\n", "count: 0\n", "phases[0].ops.count: must be a whole number from 1");
  refused(
      "            soak: {duration: 3s, sample: 250ms}",
      "            soak: {duration: 3s, sample: 250ms}\n            ops: {count: 1, command: x}",
      "give exactly one of ops, wait_until, load, soak or cleanup");
  refused("field: pending, equals: \"0\",", "equals: \"0\",",
          "phases[1].wait_until.field: is required with equals");
  refused("sample: 250ms", "sample: 2s", "phases[3].soak.sample: want at least 3 samples");
  refused("svc-{i}\", \"replicas\": 2}'", "svc-{j}\", \"replicas\": 2}'",
          "phases[0].ops.request.body: unknown template variable {j}");
  refused("target: worker-2, at: 1s", "target: worker-2, at: 5s",
          "phases[2].load.faults.actions[0].at: at 5000 ms is not inside the measured window");
  refused("        phases:\n", "        http: {target: \"http://x:1\", rate: 1}\n        phases:\n",
          "workload.http: goes inside a phase");
  refused("http: {target: \"http://{host:manager-1}:8080\", rate: 50}", "duration: 2s",
          "phases[2].load: give exactly one load generator");
}

}  // namespace
}  // namespace perfgate::common
