// The run spec's rules, in one place: its named defaults and its semantic validation. Both
// doors into perfgate use it: the controller on every API submission (errors name the field
// path, "spec.jobs[0].benchmark.workload.repetitions: at most 1000") and the suite parser on
// files (the same rule, reported at the file's line and column). Everyone else (the agent,
// the comparer, the pages) reads a spec whose defaults are already filled in.
//
// Pure functions over the proto; no I/O except the optional promtool check of PromQL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::common {

// Defaults, filled into a spec by ValidateAndDefaultRunSpec (proto/perfgate/v1/suite.proto
// documents each beside its field).
inline constexpr uint32_t kDefaultRepetitions = 9;
inline constexpr uint32_t kDefaultDurationSeconds = 30;
inline constexpr uint32_t kDefaultBuildTimeoutSeconds = 1800;
inline constexpr uint32_t kDefaultFixtureTimeoutSeconds = 1800;
inline constexpr uint32_t kDefaultReadyTimeoutSeconds = 60;
inline constexpr uint32_t kDefaultReadyHttpStatus = 200;
inline constexpr uint32_t kDefaultStopGraceSeconds = 10;
inline constexpr uint32_t kDefaultCommandTimeoutSeconds = 3600;
inline constexpr uint32_t kDefaultCancelGraceSeconds = 30;
inline constexpr uint32_t kDefaultHarnessTimeoutSeconds = 1800;
inline constexpr uint32_t kMinBenchmarkTimeoutSeconds = 7200;  // or twice the workload
inline constexpr uint32_t kDefaultConnections = 16;
inline constexpr uint32_t kDefaultThreads = 1;
inline constexpr uint32_t kDefaultHttpTimeoutMs = 5000;
inline constexpr uint32_t kDefaultMaxGeneratorLagP99Us = 10'000;
inline constexpr uint32_t kDefaultPgbenchClients = 4;
inline constexpr uint32_t kDefaultPgbenchJobs = 1;
inline constexpr uint32_t kDefaultRangeStepMs = 1000;
inline constexpr uint32_t kDefaultPgTopStatements = 20;
inline constexpr int kDefaultBaselineRuns = 1;

// Bounds that the parser also uses to refuse a number at its line.
inline constexpr uint32_t kMaxRepetitions = 1000;
inline constexpr uint32_t kMaxAttempts = 10;
inline constexpr uint32_t kMaxHosts = 250;
inline constexpr int kMaxPhases = 32;
inline constexpr uint32_t kDefaultOpTimeoutMs = 10000;
inline constexpr uint32_t kDefaultWaitIntervalMs = 500;
inline constexpr uint32_t kDefaultWaitTimeoutSeconds = 300;
inline constexpr uint32_t kDefaultSoakSampleMs =
    1000;                              // test hosts of a stack (a /24 less gateway)
inline constexpr int kMaxFaults = 32;  // actions of a fault schedule
// The label an agent that can make netns test hosts carries ("true"); a job whose stack has
// hosts gets it as an agent selector.
inline constexpr char kNetnsHostsLabel[] = "topology.netns";
// How many test hosts an agent gives a job, and how much memory (MiB) their limits may add up
// to: a job whose stack has hosts selects ">=" its totals (controller/queue/agent_matcher.h).
inline constexpr char kMaxHostsLabel[] = "topology.max_hosts";
inline constexpr char kHostsMemoryLabel[] = "topology.memory_mib";
// How many machines an agent's ssh host pool lists (agent --host-pool): a job whose stack has
// `provider: ssh` selects ">=" its hosts.
inline constexpr char kSshHostsLabel[] = "topology.ssh_hosts";
inline constexpr uint32_t kMaxConnections = 10000;
inline constexpr uint32_t kMaxThreads = 64;
inline constexpr uint32_t kMaxPgTopStatements = 1000;
inline constexpr int kMaxBaselineRuns = 20;
inline constexpr int kMaxAnalysisPatterns = 200;  // analysis.gate and analysis.metrics, each

// The extra pprof profiles a suite may ask for besides cpu and heap.
inline constexpr const char* kExtraProfiles[] = {"allocs", "block", "goroutine", "mutex",
                                                 "threadcreate"};

struct SpecLimits {
  int max_jobs = 256;
  size_t max_command_bytes = 64 * 1024;
  size_t max_env_entries = 256;
  size_t max_string_bytes = 1024;
  uint32_t max_timeout_seconds = 7 * 24 * 3600;
  size_t max_job_spec_bytes = 256 * 1024;  // one serialised job
  // The controller's retry policy; 0 leaves max_attempts unset for the controller to fill (the
  // suite parser, which does not know the controller's policy).
  uint32_t default_max_attempts = 3;
  std::string promtool;  // checks PromQL syntax when set (path to promtool)
};

// A load phase's generator (and faults) as a one-generator workload, and a workload's generator
// back into a load phase: a load phase is checked and run as such a workload.
v1::WorkloadSpec LoadPhaseWorkload(const v1::LoadPhase& l);
void SetLoadPhaseGenerator(const v1::WorkloadSpec& w, v1::LoadPhase* l);

// A phase's metric prefix (docs/campaigns.md): KIND, or KIND.NAME when the name is not the
// kind's ("soak", "soak.idle"); KIND is ops, wait, load, soak or cleanup.
std::string PhaseMetricPrefix(const std::string& kind, const std::string& name);

// Validates `spec` and fills its defaults so that a stored spec is complete.
// INVALID_ARGUMENT with a message "spec.FIELD: PROBLEM"; the field path ("jobs[0].command
// .timeout_seconds") is also attached as the payload kSpecFieldPayload, so that a caller
// holding the spec's source (the suite parser) can point at it.
absl::Status ValidateAndDefaultRunSpec(v1::RunSpec* spec, const SpecLimits& limits = {});

inline constexpr char kSpecFieldPayload[] = "perfgate.dev/spec-field";

// The field path a ValidateAndDefaultRunSpec error names ("" for any other status), and the
// problem without the "spec.FIELD: " prefix.
std::string SpecErrorField(const absl::Status& s);
std::string SpecErrorProblem(const absl::Status& s);

}  // namespace perfgate::common
