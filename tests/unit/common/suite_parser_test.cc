#include "common/spec/suite_parser.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/process/subprocess.h"
#include "common/spec/analysis_spec.h"
#include "common/spec/promql_check.h"
#include "common/spec/run_spec_rules.h"
#include "common/spec/suite_positions.h"
#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

// A suite text and what its error must contain.
struct ErrorCase {
  std::string text;
  std::string want;
};

// Each text is refused, with an error that contains its `want`.
template <size_t N>
void ExpectEachRefused(const ErrorCase (&cases)[N]) {
  for (const auto& c : cases) {
    auto spec = ParseSuite("s.yaml", c.text);
    ASSERT_FALSE(spec.ok()) << c.text;
    EXPECT_NE(spec.status().message().find(c.want), std::string::npos)
        << "got: " << spec.status().message() << "\nwant: " << c.want << "\nin:\n"
        << c.text;
  }
}

TEST(SuiteParserTest, ParsesACompleteSuite) {
  auto spec = ParseSuite("s.yaml", R"(
name: smoke
project: demo
jobs:
  - name: hello
    command: echo hi
    env: {A: "1", B: two}
    working_dir: /tmp
    timeout: 10m
    cancel_grace: 5s
    agent_selector: {machine_class: bare-metal}
    max_attempts: 2
  - command: "true"
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->suite_name(), "smoke");
  EXPECT_EQ(spec->project(), "demo");
  ASSERT_EQ(spec->jobs_size(), 2);
  const auto& j = spec->jobs(0);
  EXPECT_EQ(j.name(), "hello");
  EXPECT_EQ(j.command().command(), "echo hi");
  EXPECT_EQ(j.command().env().at("A"), "1");
  EXPECT_EQ(j.command().timeout_seconds(), 600u);
  EXPECT_EQ(j.command().cancel_grace_seconds(), 5u);
  EXPECT_EQ(j.agent_selector().at("machine_class"), "bare-metal");
  EXPECT_EQ(j.max_attempts(), 2u);
}

TEST(SuiteParserTest, AcceptsJson) {
  auto spec =
      ParseSuite("s.json", R"({"name": "j", "jobs": [{"command": "true", "timeout": "30s"}]})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->jobs(0).command().timeout_seconds(), 30u);
}

TEST(SuiteParserTest, ErrorsNameFileLineFieldAndProblem) {
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"jobs:\n  - command: x\n    timout: 10m\n", "s.yaml:3:5: jobs[0].timout: unknown key"},
      {"jobs:\n  - command: x\n    timeout: soon\n",
       "s.yaml:3:14: jobs[0].timeout: want a duration like 30s"},
      {"jobs:\n  - name: a\n", "jobs[0].command: is required"},
      {"name: x\n", "jobs: is required"},
      {"jobs: []\n", "jobs: must be a non-empty list"},
      {"jobs:\n  - command: [a, b]\n", "s.yaml:2:14: jobs[0].command: must be a string"},
      {"jobs:\n  - command: x\n    max_attempts: many\n",
       "jobs[0].max_attempts: must be a whole number"},
      {"jobs: [\n", "s.yaml:2:1: not valid YAML/JSON"},
      {"", "the file is empty"},
      {"colour: red\njobs: []\n", "s.yaml:1:1: colour: unknown key"},
  };
  for (const auto& c : cases) {
    auto spec = ParseSuite("s.yaml", c.text);
    ASSERT_FALSE(spec.ok()) << c.text;
    EXPECT_TRUE(absl::IsInvalidArgument(spec.status()));
    EXPECT_NE(spec.status().message().find(c.want), std::string::npos)
        << "got: " << spec.status().message() << "\nwant: " << c.want;
  }
}

TEST(SuiteParserTest, ProtoFieldPathsTranslateToTheFilesKeys) {
  EXPECT_EQ(YamlPathOf("jobs[0].command.command"), "jobs[0].command");
  EXPECT_EQ(YamlPathOf("jobs[0].command.timeout_seconds"), "jobs[0].timeout");
  EXPECT_EQ(YamlPathOf("jobs[0].command.env[A]"), "jobs[0].env.A");
  EXPECT_EQ(YamlPathOf("jobs[1].benchmark.observe.profiles[0].cpu_seconds"),
            "jobs[1].benchmark.observe.profiles[0].cpu");
  EXPECT_EQ(YamlPathOf("jobs[0].benchmark.workload.http.stages[1].rate_to"),
            "jobs[0].benchmark.workload.http.stages[1].ramp_to");
  EXPECT_EQ(YamlPathOf("jobs[0].benchmark.stack.services[0].ready.http_status"),
            "jobs[0].benchmark.stack.services[0].ready.status");
  EXPECT_EQ(YamlPathOf("jobs[0].benchmark.stack.services[2].args[1]"),
            "jobs[0].benchmark.stack.services[2].args[1]");
}

TEST(SuiteParserTest, RuleErrorsPointAtTheValueOrItsEnclosingBlock) {
  // A value the rules refuse: at the value. A field left out: at the block that lacks it.
  auto bad = ParseSuite(
      "s.yaml",
      "jobs:\n  - benchmark:\n      workload:\n        http: {target: \"ftp://x\", rate: 1}\n");
  EXPECT_NE(bad.status().message().find(
                "s.yaml:4:24: jobs[0].benchmark.workload.http.target: must be an http:// URL"),
            std::string::npos)
      << bad.status();
  auto missing = ParseSuite("s.yaml",
                            "jobs:\n  - benchmark:\n      fixtures:\n        - {sql: /x.sql}\n"
                            "      workload: {command: \"true\"}\n");
  EXPECT_NE(missing.status().message().find("s.yaml:4:11: jobs[0].benchmark.fixtures[0].dsn: is "
                                            "required"),
            std::string::npos)
      << missing.status();
  auto twice =
      ParseSuite("s.yaml", "jobs:\n  - {name: a, command: x}\n  - {name: a, command: y}\n");
  EXPECT_NE(twice.status().message().find("s.yaml:3:12: jobs[1].name: 'a' is used twice"),
            std::string::npos)
      << twice.status();
}

TEST(SuiteParserTest, RejectsOversizedInput) {
  std::string big = "jobs:\n  - command: \"" + std::string(kMaxSuiteBytes, 'x') + "\"\n";
  auto spec = ParseSuite("big.yaml", big);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("at most"), std::string::npos);
  EXPECT_TRUE(absl::IsNotFound(LoadSuiteFile("/nonexistent/suite.yaml").status()));
}

constexpr char kBenchmark[] = R"(
name: latency
project: sample
jobs:
  - name: api
    agent_selector: {machine_class: small}
    benchmark:
      build:
        repository: /srv/git/sample.git
        commands: ["make -C {srcdir}"]
      stack:
        services:
          - name: db
            args: [postgres, -p, "{port:db}"]
            ports: [db]
            ready: {tcp: "{host}:{port:db}", timeout: 30s}
          - name: api
            args: ["{srcdir}/server", --listen, "{host}:{port:api}", --db, "{port:db}"]
            env: {LOG: "{workdir}/api.log"}
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", status: 204}
      fixtures:
        - name: data
          pg_dump: "{srcdir}/fixtures/prod.dump.gz"
          dsn: "postgresql://postgres@{host}:{port:db}/app"
        - command: "echo seeded > {workdir}/seed"
      workload:
        warmup: 5s
        duration: 20s
        repetitions: 7
        pause: 1s
        http:
          target: "http://{host}:{port:api}"
          rate: 500
          poisson: true
          connections: 8
          timeout: 2s
          requests:
            - {name: home, path: /, weight: 3}
            - {name: post, method: POST, path: /work, body: '{"n": 1}', headers: {Content-Type: application/json}}
      limits:
        - {metric: http.latency.p99, max: 50}
        - {metric: proc.api.rss_peak, max: 256}
)";

TEST(SuiteParserTest, ParsesABenchmarkJob) {
  auto spec = ParseSuite("b.yaml", kBenchmark);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const v1::BenchmarkJob& b = spec->jobs(0).benchmark();
  EXPECT_EQ(b.build().repository(), "/srv/git/sample.git");
  ASSERT_EQ(b.stack().exec().services_size(), 2);
  EXPECT_EQ(b.stack().exec().services(1).ready().http_status(), 204u);
  EXPECT_EQ(b.stack().exec().services(0).ready().timeout_seconds(), 30u);
  ASSERT_EQ(b.fixtures_size(), 2);
  EXPECT_EQ(b.fixtures(0).pg_dump(), "{srcdir}/fixtures/prod.dump.gz");
  EXPECT_EQ(b.workload().warmup_seconds(), 5u);
  EXPECT_EQ(b.workload().duration_seconds(), 20u);
  EXPECT_EQ(b.workload().repetitions(), 7u);
  EXPECT_EQ(b.workload().http().rate(), 500);
  EXPECT_TRUE(b.workload().http().poisson());
  EXPECT_EQ(b.workload().http().timeout_ms(), 2000u);
  ASSERT_EQ(b.workload().http().requests_size(), 2);
  EXPECT_EQ(b.workload().http().requests(1).body(), R"({"n": 1})");
  ASSERT_EQ(b.limits_size(), 2);
  EXPECT_EQ(b.limits(0).max(), 50);
  EXPECT_FALSE(b.limits(0).has_min());
}

TEST(SuiteParserTest, ParsesStagesAndOtherGenerators) {
  auto spec = ParseSuite("b.yaml", R"(
jobs:
  - name: ramp
    benchmark:
      workload:
        http:
          target: http://127.0.0.1:8080
          stages: [{duration: 10s, rate: 100}, {duration: 20s, rate: 100, ramp_to: 400}]
  - name: wrk
    benchmark:
      workload: {wrk: {url: "http://127.0.0.1:8080/", connections: 4}}
  - name: pg
    benchmark:
      workload: {pgbench: {dsn: "postgresql://127.0.0.1/x", clients: 2, args: ["-S"]}}
  - name: cmd
    benchmark:
      workload: {command: "./bench --seconds $PERFGATE_DURATION_SECONDS"}
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->jobs(0).benchmark().workload().duration_seconds(), 30u);
  EXPECT_EQ(spec->jobs(0).benchmark().workload().http().stages(1).rate_to(), 400);
  EXPECT_EQ(spec->jobs(1).benchmark().workload().wrk().connections(), 4u);
  EXPECT_EQ(spec->jobs(2).benchmark().workload().pgbench().args(0), "-S");
  EXPECT_NE(spec->jobs(3).benchmark().workload().command().command().find("$PERFGATE"),
            std::string::npos);
}

TEST(SuiteParserTest, ParsesHarnesses) {
  auto spec = ParseSuite("h.yaml", R"(
jobs:
  - name: micro
    benchmark:
      workload:
        repetitions: 2
        harness:
          format: google-benchmark
          command: "./bench --benchmark_format=json --benchmark_repetitions=5"
          env: {OMP_NUM_THREADS: "1"}
          higher_is_better: ["gbench.*.hits"]
  - name: cli
    benchmark:
      workload:
        harness: {format: hyperfine, command: "hyperfine -N --export-json hf.json x",
                  output: hf.json, timeout: 10m, working_dir: sub}
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const auto& w = spec->jobs(0).benchmark().workload();
  EXPECT_EQ(w.harness().format(), v1::HarnessSpec::FORMAT_GOOGLE_BENCHMARK);
  EXPECT_EQ(w.repetitions(), 2u) << "runs of the harness's command";
  EXPECT_EQ(w.duration_seconds(), 0u) << "a harness has no measured window of ours";
  EXPECT_EQ(w.harness().timeout_seconds(), kDefaultHarnessTimeoutSeconds);
  EXPECT_EQ(w.harness().higher_is_better(0), "gbench.*.hits");
  EXPECT_EQ(spec->jobs(0).benchmark().timeout_seconds(), kMinBenchmarkTimeoutSeconds);
  const auto& h = spec->jobs(1).benchmark().workload();
  EXPECT_EQ(h.repetitions(), 1u) << "a harness runs once by default: it repeats by itself";
  EXPECT_EQ(h.harness().format(), v1::HarnessSpec::FORMAT_HYPERFINE);
  EXPECT_EQ(h.harness().timeout_seconds(), 600u);
  EXPECT_EQ(h.harness().working_dir(), "sub");
}

TEST(SuiteParserTest, BadHarnessesNameLineFieldAndProblem) {
  auto job = [](const std::string& workload) {
    return "jobs:\n  - benchmark:\n      workload:\n" + workload;
  };
  const ErrorCase cases[] = {
      {job("        harness: {command: x}\n"), "workload.harness.format: is required"},
      {job("        harness: {format: criterion, command: x}\n"),
       "s.yaml:4:27: jobs[0].benchmark.workload.harness.format: 'criterion': want "
       "google-benchmark or pytest-benchmark or go-test or hyperfine"},
      {job("        harness: {format: go-test}\n"), "workload.harness.command: is required"},
      {job("        harness: {format: hyperfine, command: hyperfine x}\n"),
       "workload.harness.output: is required: hyperfine writes its JSON to the file given to "
       "--export-json"},
      {job("        harness: {format: pytest-benchmark, command: pytest}\n"), "--benchmark-json"},
      {job("        duration: 10s\n        harness: {format: go-test, command: go test}\n"),
       "s.yaml:4:19: jobs[0].benchmark.workload.duration: not used with a harness"},
      {job("        harness: {format: go-test, command: go test, output: \"{port:x}\"}\n"),
       "workload.harness.output: {port:x} names a port no service declares"},
      {job("        harness: {format: go-test, command: go, timout: 1m}\n"),
       "workload.harness.timout: unknown key"},
      {job("        harness: {format: go-test, command: go}\n        command: x\n"),
       "give exactly one load generator (http, redis, wrk, pgbench, command or "
       "harness), or phases"},
      {"jobs:\n  - benchmark:\n      observe: {profiles: [{service: a, url: \"http://x\", cpu: "
       "1s}]}\n"
       "      workload: {harness: {format: go-test, command: go}}\n",
       "jobs[0].benchmark.observe: not with a harness"},
  };
  ExpectEachRefused(cases);
}

TEST(SuiteParserTest, BadBenchmarksNameLineFieldAndProblem) {
  auto job = [](const std::string& body) { return "jobs:\n  - benchmark:\n" + body; };
  const std::string http = "        http: {target: \"http://{host}:1\", rate: 10}\n";
  const ErrorCase cases[] = {
      {job("      fixtures: []\n"), "jobs[0].benchmark.workload: is required"},
      {job("      workload: {duration: 10s}\n"), "give exactly one load generator"},
      {job("      workload:\n        duration: 10 seconds\n" + http),
       "s.yaml:4:19: jobs[0].benchmark.workload.duration: want a duration"},
      {job("      workload:\n        repetitions: -1\n" + http),
       "jobs[0].benchmark.workload.repetitions: must be a whole number from 1 to 1000"},
      {job("      workload:\n        http: {target: \"http://{host}:{port:api}\", rate: 1}\n"),
       "s.yaml:4:24: jobs[0].benchmark.workload.http.target: {port:api} names a port no "
       "service declares (declared: none)"},
      {job("      workload:\n        http: {target: \"http://{hots}:1\", rate: 1}\n"),
       "unknown template variable {hots}"},
      {job("      workload:\n        command: \"{srcdir}/bench\"\n"),
       "{srcdir} is only defined when the job has a build section"},
      {job("      workload:\n        http: {target: \"ftp://x\", rate: 1}\n"),
       "http.target: must be an http:// URL"},
      {job("      workload:\n        http: {target: \"http://x:1\"}\n"), "http.rate: is required"},
      {job("      stack:\n        services: [{name: a}]\n      workload:\n" + http),
       "jobs[0].benchmark.stack.services[0].args: is required"},
      {job("      stack:\n        services: [{name: a, args: [x], ports: [p, p]}]\n"
           "      workload:\n" +
           http),
       "port 'p' declared twice"},
      {job("      stack:\n        services: [{name: a, args: [x], ready: {tcp: x, http: y}}]\n"
           "      workload:\n" +
           http),
       "stack.services[0].ready: give exactly one of tcp, http, command"},
      {job("      fixtures: [{pg_dump: /x.dump}]\n      workload:\n" + http),
       "fixtures[0].dsn: is required"},
      {job("      build: {commands: [make]}\n      workload:\n" + http),
       "build.repository: is required"},
      {job("      limits: [{metric: x}]\n      workload:\n" + http),
       "limits[0]: give max, min, or target/acceptable/critical levels"},
      {job("      limits: [{metric: x, target: 200, acceptable: 100, critical: 1000}]\n"
           "      workload:\n" +
           http),
       "limits[0]: target, acceptable and critical must be ordered one way"},
      {job("      workload:\n        wrk: {url: x, conections: 3}\n"),
       "workload.wrk.conections: unknown key"},
      {"jobs:\n  - command: x\n    benchmark: {}\n", "give either command or benchmark"},
      {"jobs:\n  - timeout: 1m\n    benchmark: {}\n", "belongs to a command job"},
  };
  ExpectEachRefused(cases);
}

// A fault schedule and a role ready on any of its hosts.
constexpr char kFaultsSuite[] = R"yaml(
jobs:
  - benchmark:
      stack:
        hosts: [{role: db, count: 3}, {role: web, count: 1}]
        services:
          - {name: db, on: db, ready_on: any, args: [x, "{host}"], ready: {tcp: "{host}:5432"}}
          - {name: web, on: web-1, args: [y]}
      workload:
        duration: 20s
        http: {target: "http://{host:web-1}:80", rate: 10}
        faults:
          leader: {url: "http://{host:db-1}:8008/leader", field: member.name}
          recovery: {p99_band: 50%, hold: 2s, error_band: 0.5%}
          actions:
            - {name: kill-leader, action: kill, service: db, target: leader, at: 5s, restart_after: 4s}
            - {action: pause, service: db, target: random:db, at: 10s, duration: 500ms}
            - {action: partition, target: web-1, at: 12s, duration: 2s, one_way: true}
            - {action: netem, target: db-2, at: 15s, delay: 100ms, jitter: 10ms, loss: 1%}
)yaml";

TEST(SuiteParserTest, ParsesFaultSchedulesAndReadyOnAny) {
  auto spec = ParseSuite("s.yaml", kFaultsSuite);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const v1::BenchmarkJob& b = spec->jobs(0).benchmark();
  EXPECT_TRUE(b.stack().exec().services(0).ready_any());
  EXPECT_FALSE(b.stack().exec().services(1).ready_any());
  const v1::FaultSchedule& f = b.workload().faults();
  EXPECT_EQ(f.leader().url(), "http://{host:db-1}:8008/leader");
  EXPECT_EQ(f.leader().field(), "member.name");
  EXPECT_DOUBLE_EQ(f.recovery().p99_band(), 0.5);
  EXPECT_EQ(f.recovery().hold_ms(), 2000u);
  EXPECT_DOUBLE_EQ(f.recovery().error_band(), 0.005);
  ASSERT_EQ(f.actions_size(), 4);
  EXPECT_EQ(f.actions(0).action(), v1::FaultSpec::ACTION_KILL);
  EXPECT_EQ(f.actions(0).at_ms(), 5000u);
  EXPECT_EQ(f.actions(0).duration_ms(), 4000u);
  EXPECT_EQ(f.actions(1).duration_ms(), 500u);
  EXPECT_EQ(f.actions(1).target(), "random:db");
  EXPECT_TRUE(f.actions(2).one_way());
  EXPECT_EQ(f.actions(3).delay_ms(), 100u);
  EXPECT_EQ(f.actions(3).jitter_ms(), 10u);
  EXPECT_DOUBLE_EQ(f.actions(3).loss(), 0.01);
  EXPECT_EQ(f.actions(3).duration_ms(), 0u) << "undone at the window's end";
  // It goes to an agent that can make four hosts (no memory limits to add up).
  EXPECT_EQ(spec->jobs(0).agent_selector().at("topology.netns"), "true");
  EXPECT_EQ(spec->jobs(0).agent_selector().at("topology.max_hosts"), ">=4");
  EXPECT_EQ(spec->jobs(0).agent_selector().count("topology.memory_mib"), 0u);
}

TEST(SuiteParserTest, BadFaultSchedulesNameLineFieldAndProblem) {
  // The suite above with one line replaced.
  auto with = [](const std::string& from, const std::string& to) {
    std::string t = kFaultsSuite;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  const std::string a = "jobs[0].benchmark.workload.faults.actions";
  const ErrorCase cases[] = {
      {with("action: kill,", "action: explode,"),
       a + "[0].action: want kill, pause, partition or netem; got 'explode'"},
      {with("at: 5s", "at: soon"), a + "[0].at: want a duration like 5s or 500ms"},
      {with("at: 5s", "at: 20s"),
       a + "[0].at: at 20000 ms is not inside the measured window (20s)"},
      {with("restart_after: 4s", "restart_after: 16s"),
       a + "[0].restart_after: ends 1000 ms after the measured window"},
      {with("target: random:db, at: 10s, duration: 500ms",
            "target: random:db, at: 10s, restart_after: 1s"),
       a + "[1].restart_after: goes with kill; use duration"},
      {with("target: leader", "target: db"),
       a + "[0].target: 'db': want leader, a host ROLE-N or random:ROLE (one host)"},
      {with("target: random:db", "target: random:cache"),
       a + "[1].target: 'cache' is no role of stack.hosts"},
      {with("service: db, target: leader", "service: web, target: leader"), ""},
      {with("service: db, target: random:db", "service: web, target: random:db"),
       a + "[1].target: 'random:db': service web runs on web-1, not there"},
      {with("service: db, target: leader", "service: cache, target: leader"),
       a + "[0].service: 'cache' is no service of the stack"},
      {with("service: db, target: leader", "target: leader"),
       a + "[0].service: is required: whose instance on the host is hit"},
      {with("{action: partition, target: web-1", "{action: partition, service: db, target: web-1"),
       a + "[2].service: goes with kill and pause"},
      {with("delay: 100ms, jitter: 10ms, loss: 1%", "jitter: 10ms"),
       a + "[3]: netem needs a delay or a loss"},
      {with("delay: 100ms, jitter: 10ms", "delay: 10ms, jitter: 100ms"),
       a + "[3].jitter: must not exceed the delay"},
      {with("one_way: true", "one_way: true, delay: 1ms"), "delay, jitter and loss go with netem"},
      {with("loss: 1%", "loss: 2"), "loss: is a fraction (0.05 = 5 %), so 2 would be 200 %"},
      {with("leader: {url: \"http://{host:db-1}:8008/leader\", field: member.name}",
            "leader: {command: x, field: y}"),
       "faults.leader.field: goes with url"},
      {with("leader: {url: \"http://{host:db-1}:8008/leader\", field: member.name}", "leader: {}"),
       "faults.leader: give url (with field) or command"},
      {with("          leader: {url: \"http://{host:db-1}:8008/leader\", field: member.name}\n",
            ""),
       "faults.leader: is required: a fault targets the leader"},
      {with("{host:db-1}:8008", "{host:db-9}:8008"), "{host:db-9} names no test host"},
      {with("hold: 2s", "hold: 1h"), "recovery.hold: want a duration from 100ms to 10m"},
      {with("p99_band: 50%", "p99_band: 0"), "recovery.p99_band: must be above 0"},
      {with("http: {target: \"http://{host:web-1}:80\", rate: 10}",
            "command: \"echo {host:web-1}\""),
       "workload.faults: needs the http or redis generator"},
      {with("ready_on: any", "ready_on: some"),
       "services[0].ready_on: want any (ready once its check passes on one of its hosts) or all"},
      {with("{name: web, on: web-1, args: [y]}", "{name: web, ready_on: any, args: [y]}"),
       "services[1].ready_on: goes with on: ROLE"},
      {with("{name: web, on: web-1, args: [y]}", "{name: web-1, args: [y]}"),
       "services[1].name: 'web-1' is also a role or host of stack.hosts"},
      {with("actions:", "action:"), "faults.action: unknown key"},
      {with("  - benchmark:", "  - agent_selector: {cores: \">=many\"}\n    benchmark:"),
       "s.yaml:3:29: jobs[0].agent_selector.cores: '>=many': a minimum is >= and a whole number, "
       "like >=4"},
  };
  for (const auto& c : cases) {
    auto spec = ParseSuite("s.yaml", c.text);
    if (c.want.empty()) {
      // The leader cannot be checked at submit: it is found when the fault fires.
      EXPECT_TRUE(spec.ok()) << spec.status() << "\n" << c.text;
      continue;
    }
    ASSERT_FALSE(spec.ok()) << c.text;
    EXPECT_NE(spec.status().message().find(c.want), std::string::npos)
        << "got: " << spec.status().message() << "\nwant: " << c.want;
  }
}

// provider: ssh takes the hosts from the agent's pool: the job selects an agent whose pool has
// as many machines, and faults that change a host's network are refused there.
TEST(SuiteParserTest, SshHostsSelectAPoolLargeEnoughAndTakeOnlyInstanceFaults) {
  auto with = [](const std::string& from, const std::string& to) {
    std::string t = kFaultsSuite;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  const std::string no_net_faults = with(
      "            - {action: partition, target: web-1, at: 12s, duration: 2s, one_way: true}\n"
      "            - {action: netem, target: db-2, at: 15s, delay: 100ms, jitter: 10ms, loss: "
      "1%}\n",
      "");
  std::string ssh = no_net_faults;
  ssh.replace(ssh.find("        hosts:"), 0, "        provider: ssh\n");
  auto spec = ParseSuite("s.yaml", ssh);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->jobs(0).benchmark().stack().exec().provider(), "ssh");
  const auto& selector = spec->jobs(0).agent_selector();
  EXPECT_EQ(selector.at("topology.ssh_hosts"), ">=4");
  EXPECT_EQ(selector.count("topology.netns"), 0u) << "the machines are not the agent's";
  EXPECT_EQ(selector.count("topology.max_hosts"), 0u);

  std::string netem = kFaultsSuite;
  netem.replace(netem.find("        hosts:"), 0, "        provider: ssh\n");
  const std::string a = "jobs[0].benchmark.workload.faults.actions";
  std::string bad_provider = no_net_faults;
  bad_provider.replace(bad_provider.find("        hosts:"), 0, "        provider: vm\n");
  const ErrorCase cases[] = {
      {netem, a + "[2].action: partition changes a host's network, which perfgate does only on "
                  "netns hosts; ssh hosts take kill and pause"},
      {bad_provider, "stack.provider: 'vm': want netns or ssh"},
      {"jobs:\n  - benchmark:\n      stack:\n        provider: ssh\n        services: "
       "[{name: a, args: [x]}]\n      workload: {command: ./b}\n",
       "stack.provider: goes with hosts"},
  };
  ExpectEachRefused(cases);
}

// workload.redis: the built-in generator speaking RESP, to a HOST:PORT or to the master that
// Sentinels name; requests are commands.
TEST(SuiteParserTest, RedisWorkloadsTakeATargetOrSentinelsAndCommands) {
  auto spec = ParseSuite("s.yaml", R"yaml(
jobs:
  - benchmark:
      workload:
        redis:
          sentinels: ["10.0.0.2:26379", "{host}:26379"]
          master: mymaster
          rate: 100
          requests:
            - {name: set, command: [SET, k, v]}
            - {command: [GET, k], weight: 3}
)yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const v1::HttpLoadSpec& r = spec->jobs(0).benchmark().workload().http();
  EXPECT_EQ(r.protocol(), v1::HttpLoadSpec::PROTOCOL_REDIS);
  EXPECT_EQ(r.sentinels_size(), 2);
  EXPECT_EQ(r.master(), "mymaster");
  ASSERT_EQ(r.requests_size(), 2);
  EXPECT_EQ(r.requests(0).command(0), "SET");
  EXPECT_EQ(r.requests(1).weight(), 3);
  EXPECT_EQ(r.requests(1).method(), "") << "no HTTP defaults on a command";

  const std::string w = "jobs[0].benchmark.workload.redis";
  auto job = [](const std::string& redis) {
    return "jobs:\n  - benchmark:\n      workload:\n        redis: " + redis + "\n";
  };
  const ErrorCase cases[] = {
      {job("{rate: 10, requests: [{command: [GET, k]}]}"),
       w + ".target: is required (HOST:PORT), or sentinels and master"},
      {job("{target: 'localhost', rate: 10, requests: [{command: [GET, k]}]}"),
       w + ".target: 'localhost': want HOST:PORT"},
      {job("{sentinels: ['a:1'], rate: 10, requests: [{command: [GET, k]}]}"),
       w + ".master: is required with sentinels"},
      {job("{target: 'a:1', sentinels: ['a:1'], master: m, rate: 10, requests: [{command: [GET, "
           "k]}]}"),
       w + ".target: give either target or sentinels"},
      {job("{target: 'a:6379', rate: 10, requests: [{name: get}]}"),
       w + ".requests[0].command: is required"},
      {job("{target: 'a:6379', rate: 10, requests: [{path: /x, command: [GET, k]}]}"),
       w + ".requests[0].path: unknown key"},
      {job("{target: 'a:6379', requests: [{command: [GET, k]}]}"), w + ".rate: is required"},
      {job("{target: 'a:6379', rate: 10}"), w + ".requests: is required: the commands to send"},
      {"jobs:\n  - benchmark:\n      workload:\n        http: {target: 'http://a:1', rate: 1, "
       "requests: [{command: [GET]}]}\n",
       "requests[0].command: unknown key"},
  };
  ExpectEachRefused(cases);
}

// analysis: the suite's section is each job's default; a job's own fields win.
TEST(SuiteParserTest, ParsesAnalysisWithSuiteDefaults) {
  auto spec = ParseSuite("s.yaml", R"yaml(
analysis:
  min_effect: 5%
  gate: [http.latency.p50, "prom.*"]
  max_repetitions: 90
  max_confirmation_time: 40m
jobs:
  - name: a
    benchmark:
      workload: {command: ./bench}
  - name: b
    benchmark:
      workload: {command: ./bench}
      analysis:
        min_effect: 0.1
        metrics:
          - {metric: "http.latency.p99*", min_effect: 20%, gate: false}
)yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const v1::AnalysisSpec& a = spec->jobs(0).benchmark().analysis();
  EXPECT_DOUBLE_EQ(a.min_effect(), 0.05);
  ASSERT_EQ(a.gate_size(), 2);
  EXPECT_EQ(a.gate(1), "prom.*");
  EXPECT_EQ(a.max_repetitions(), 90u);
  EXPECT_EQ(a.max_confirmation_seconds(), 2400u);
  const v1::AnalysisSpec& b = spec->jobs(1).benchmark().analysis();
  EXPECT_DOUBLE_EQ(b.min_effect(), 0.1) << "the job's own floor wins";
  EXPECT_EQ(b.gate_size(), 2) << "the suite's gate list is the default";
  ASSERT_EQ(b.metrics_size(), 1);
  EXPECT_DOUBLE_EQ(b.metrics(0).min_effect(), 0.2);
  EXPECT_FALSE(b.metrics(0).gate());
  EXPECT_EQ(b.max_repetitions(), 90u);
}

TEST(AnalysisRulesTest, DefaultGatesAndFirstMatchWins) {
  for (const char* m : {"http.latency.p50", "http.latency.p99", "http.throughput", "http.errors",
                        "proc.api.rss_peak", "pg.tps", "gbench.BM_Sum_4096", "prom.qps", "tx_ms",
                        // phases: what a scale-tier plan judges
                        "ops.create.rate", "ops.create.latency.p99", "ops.create.failures",
                        "wait.scheduled.seconds", "soak.manager.manager-1.rss_slope",
                        "load.http.latency.p99", "load.api.http.error_ratio",
                        "load.api.fault.kill-worker.recovery",
                        "soak.http.throughput"})
    EXPECT_TRUE(GatesByDefault(m)) << m;
  for (const char* m : {"http.latency.p90", "http.latency.p99.9", "http.latency.max",
                        "proc.api.cpu_util", "pg.latency.stddev", "dbstats.calls",
                        "ops.create.seconds", "ops.create.latency.max", "cleanup.failures",
                        "load.http.generator_lag.p99", "load.api.http.latency.max",
                        "load.api.fault.kill-worker.during.p99"})
    EXPECT_FALSE(GatesByDefault(m)) << m;
  v1::AnalysisSpec a;
  a.set_min_effect(0.05);
  auto* first = a.add_metrics();
  first->set_metric("http.latency.*");
  first->set_min_effect(0.1);
  auto* second = a.add_metrics();
  second->set_metric("http.latency.max");
  second->set_min_effect(0.5);
  second->set_gate(true);
  MetricRules r = RulesFor(a, "http.latency.max");
  EXPECT_DOUBLE_EQ(r.min_effect, 0.1) << "the first entry that sets the floor";
  EXPECT_TRUE(r.gate) << "the first entry that sets the gate";
  r = RulesFor(a, "http.throughput");
  EXPECT_DOUBLE_EQ(r.min_effect, 0.05);
  EXPECT_TRUE(r.gate);
  a.add_gate("http.latency.p50");
  EXPECT_FALSE(RulesFor(a, "http.throughput").gate) << "a gate list replaces the default set";
  EXPECT_TRUE(RulesFor(a, "http.latency.p50").gate);
  EXPECT_DOUBLE_EQ(RulesFor(v1::AnalysisSpec(), "x").min_effect, kDefaultMinEffect);
}

TEST(SuiteParserTest, BadAnalysisNamesTheField) {
  const std::string job = "jobs:\n  - benchmark:\n      workload: {command: x}\n";
  const ErrorCase cases[] = {
      {"analysis:\n  min_effect: 5\n" + job,
       "s.yaml:2:15: analysis.min_effect: is a fraction (0.05 = 5 %), so 5 would be 500 %; write "
       "0.05 or 5%"},
      {"analysis:\n  min_effect: 150%\n" + job,
       "analysis.min_effect: must be a percentage from 0% to 100%"},
      {"analysis:\n  min_effect: lots\n" + job,
       "analysis.min_effect: must be a fraction (0.05) or a percentage (5%)"},
      {"analysis:\n  gate: http.latency.p50\n" + job, "analysis.gate: must be a list"},
      {"analysis:\n  metrics: [{metric: x, floor: 1}]\n" + job,
       "analysis.metrics[0].floor: unknown key (known: gate, metric, min_effect)"},
      {"analysis:\n  metrics: [{metric: x}]\n" + job,
       "analysis.metrics[0]: give min_effect or gate for the metric"},
      {"analysis:\n  max_repetitions: 0\n" + job,
       "analysis.max_repetitions: must be a whole number from 1 to 1000"},
      {"analysis:\n  max_confirmation_time: forever\n" + job,
       "analysis.max_confirmation_time: want a duration"},
      {"analysis:\n  max_confirmation_time: 9000h\n" + job,
       "s.yaml:2:26: analysis.max_confirmation_time: at most a week"},
      {"analysis:\n  wat: 1\n" + job, "s.yaml:2:3: analysis.wat: unknown key"},
  };
  ExpectEachRefused(cases);
}

TEST(SuiteParserTest, ParsesObserve) {
  auto spec = ParseSuite("s.yaml", R"yaml(
jobs:
  - benchmark:
      stack:
        services: [{name: api, args: [x], ports: [api]}]
      workload:
        duration: 20s
        http: {target: "http://{host}:{port:api}", rate: 10}
      observe:
        prometheus:
          scrape: [{job: api, target: "{host}:{port:api}", path: /m}]
          queries:
            - {name: rps, expr: 'sum(rate(x_total[window]))', unit: req/s, direction: higher_is_better}
            - {name: rss, expr: 'process_resident_memory_bytes{job="api"}', mode: range, step: 2s}
        profiles:
          - {service: api, url: "http://{host}:{port:api}/debug/pprof", cpu: 10s, heap: [before, after], heap_every: 5s, extra: [goroutine, allocs]}
        postgres:
          dsn: "postgresql://127.0.0.1:{port:api}/x"
          top: 7
          explain: [{name: q, sql: "SELECT 1"}]
)yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const auto& o = spec->jobs(0).benchmark().observe();
  ASSERT_EQ(o.prometheus().queries_size(), 2);
  EXPECT_EQ(o.prometheus().scrape(0).path(), "/m");
  EXPECT_EQ(o.prometheus().queries(0).direction(), v1::DIRECTION_HIGHER_IS_BETTER);
  EXPECT_EQ(o.prometheus().queries(0).expr(), "sum(rate(x_total[window]))");
  EXPECT_EQ(o.prometheus().queries(1).mode(), v1::PromQuery::MODE_RANGE);
  EXPECT_EQ(o.prometheus().queries(1).step_ms(), 2000u);
  EXPECT_EQ(o.profiles(0).cpu_seconds(), 10u);
  EXPECT_TRUE(o.profiles(0).heap_before() && o.profiles(0).heap_after());
  EXPECT_EQ(o.profiles(0).heap_every_seconds(), 5u);
  EXPECT_EQ(o.profiles(0).extra_size(), 2);
  EXPECT_EQ(o.postgres().top(), 7u);
  EXPECT_EQ(o.postgres().explain(0).sql(), "SELECT 1");
}

TEST(SuiteParserTest, BadObserveSectionsNameLineFieldAndProblem) {
  auto job = [](const std::string& observe) {
    return "jobs:\n  - benchmark:\n      workload:\n        duration: 10s\n"
           "        command: \"true\"\n      observe:\n" +
           observe;
  };
  const ErrorCase cases[] = {
      {job("        prometheus: {queries: [{name: a}]}\n"),
       "observe.prometheus.queries[0].expr: is required (PromQL)"},
      {job("        prometheus: {scrape: [{job: a, target: x}]}\n"),
       "observe.prometheus.queries: is required"},
      {job("        prometheus: {queries: [{name: a, expr: up, direction: up}]}\n"),
       "s.yaml:7:63: jobs[0].benchmark.observe.prometheus.queries[0].direction: 'up': want "
       "lower_is_better or higher_is_better"},
      {job("        prometheus: {queries: [{name: a, expr: up, step: 1s}]}\n"),
       "queries[0].step: belongs to a range query"},
      {job("        prometheus: {queries: [{name: a, expr: up}, {name: a, expr: up}]}\n"),
       "queries[1].name: 'a' is used twice"},
      {job("        prometheus: {queries: [{name: 'a b', expr: up}]}\n"),
       "queries[0].name: 'a b': want letters, digits"},
      {job("        prometheus: {queries: [{name: a, expr: up, mode: sometimes}]}\n"),
       "'sometimes': want instant or range"},
      {job("        prometheus: {scrape: [{job: a, target: \"{host}:{port:api}\"}], queries: "
           "[{name: "
           "a, expr: up}]}\n"),
       "{port:api} names a port no service declares"},
      {job("        profiles: [{service: a, url: \"http://x/debug/pprof\", cpu: 30s}]\n"),
       "profiles[0].cpu: longer than the measured window (10s)"},
      {job("        profiles: [{service: a, url: \"http://x/debug/pprof\"}]\n"),
       "profiles[0]: captures nothing"},
      {job("        profiles: [{service: a, url: \"http://x\", heap: [during]}]\n"),
       "profiles[0].heap[0]: 'during': want before or after"},
      {job("        profiles: [{service: a, url: \"http://x\", extra: [threads]}]\n"),
       "'threads': want one of allocs, block, goroutine, mutex, threadcreate"},
      {job("        profiles: [{service: a, url: \"ftp://x\", cpu: 1s}]\n"),
       "profiles[0].url: must be an http:// URL"},
      {job("        postgres: {top: 5}\n"), "observe.postgres.dsn: is required"},
      {job("        postgres: {dsn: x, explain: [{name: q}]}\n"),
       "postgres.explain[0].sql: is required"},
      {job("        grafana: {}\n"), "observe.grafana: unknown key"},
  };
  ExpectEachRefused(cases);
}

TEST(PromqlCheckTest, PromtoolNamesTheBadExpression) {
  if (FindProgram("promtool").empty())
    GTEST_FAIL() << "promtool missing: apt-get install prometheus";
  EXPECT_TRUE(
      CheckPromql("promtool", {{"a", "sum(rate(x[window]))"}, {"b", "up{job=\"x\"}"}}).ok());
  auto s = CheckPromql("promtool", {{"q0", "up"}, {"q1", "sum(rate(x[5m])"}, {"q2", "up{"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("q1: bad PromQL: "), std::string::npos) << s;
  EXPECT_NE(s.message().find("unclosed left parenthesis"), std::string::npos) << s;
  // Quotes and backslashes in an expression survive the generated rules file.
  EXPECT_TRUE(CheckPromql("promtool", {{"a", "up{job=~\"a|b\\\\.c\", x='y'}"}}).ok());
  EXPECT_EQ(CheckPromql("/nonexistent/promtool", {{"a", "up"}}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SubstituteWindow("rate(x[window]) / rate(y[window])", 30000),
            "rate(x[30000ms]) / rate(y[30000ms])");
}

}  // namespace
}  // namespace perfgate::common

namespace perfgate::common {
namespace {

// Every example the docs point to must be a valid suite.
TEST(SuiteParserTest, EveryShippedExampleParses) {
  int n = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(PERFGATE_SOURCE_DIR "/deploy/examples")) {
    if (e.path().extension() != ".yaml") continue;
    auto spec = LoadSuiteFile(e.path().string());
    EXPECT_TRUE(spec.ok()) << spec.status();
    // What the CLI sends passes the controller's check unchanged: defaults are stable.
    if (spec.ok()) {
      v1::RunSpec again = *spec;
      ASSERT_TRUE(ValidateAndDefaultRunSpec(&again).ok()) << e.path();
      v1::RunSpec first = *spec;
      for (v1::RunSpec* s : {&again, &first})  // the controller's to fill (the parser leaves it)
        for (auto& j : *s->mutable_jobs()) j.clear_max_attempts();
      EXPECT_EQ(again.DebugString(), first.DebugString()) << e.path();
    }
    // And every tier of it, as `campaign submit` reads them.
    std::ifstream in(e.path());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto tiers = SuiteTierNames(e.path().string(), text);
    ASSERT_TRUE(tiers.ok()) << tiers.status();
    for (const std::string& tier : *tiers) {
      auto run = ParseSuiteTier(e.path().string(), text, {tier, {}});
      EXPECT_TRUE(run.ok()) << e.path() << " tier " << tier << ": " << run.status();
    }
    ++n;
  }
  EXPECT_GE(n, 4);
}

}  // namespace
}  // namespace perfgate::common
