// Fault schedules end to end, through the controller and a real agent, on netns test hosts the
// test's agent makes: a real three-member etcd (Debian's etcd-server) whose leader, found by
// etcd's own API when the fault fires, is killed under load and restarted, and whose leader of
// the moment is later cut off by a partition healed at the window's end; a host's memory
// limit enforced and reported as the kernel's OOM kill; netem on a host's link where the kernel
// has it, and a clear refusal naming the missing qdisc where it has not.
#include <iostream>

#include "absl/strings/match.h"
#include "agent/hosts/netns_hosts.h"
#include "common/process/subprocess.h"
#include "tests/integration/benchmark_fixture.h"

namespace perfgate::testing {
namespace {

const v1::FaultRecord* FindFault(const v1::RunResults& r, const std::string& name) {
  for (const auto& rep : r.jobs(0).repetitions())
    for (const auto& f : rep.faults())
      if (f.name() == name) return &f;
  return nullptr;
}

double Value(const v1::RunResults& r, const std::string& name) {
  for (const auto& m : r.jobs(0).repetitions(0).measurements())
    if (m.name() == name) return m.value();
  ADD_FAILURE() << "no measurement " << name;
  return -1;
}

// Three etcd members, one per host with half a core and 256 MiB each, named after their hosts
// (etcd-N), so that etcd's /v2/members/leader names the leader's host. Writes go to etcd-1.
constexpr char kEtcdSuite[] = R"yaml(
name: it-etcd-faults
jobs:
  - name: etcd
    benchmark:
      stack:
        hosts:
          - {role: etcd, count: 3, cpus: 0.5, memory: 256Mi}
        services:
          - name: etcd
            on: etcd
            args: [etcd, --name, "etcd-{index}", --data-dir, "{workdir}/data-{index}",
                   --listen-client-urls, "http://{host}:2379",
                   --advertise-client-urls, "http://{host}:2379",
                   --listen-peer-urls, "http://{host}:2380",
                   --initial-advertise-peer-urls, "http://{host}:2380",
                   --initial-cluster, "etcd-1=http://{host:etcd-1}:2380,etcd-2=http://{host:etcd-2}:2380,etcd-3=http://{host:etcd-3}:2380",
                   --initial-cluster-state, new, --enable-v2]
            ready: {http: "http://{host}:2379/health", timeout: 40s}
      workload:
        duration: 18s
        repetitions: 1
        http:
          target: "http://{host:etcd-1}:2379"
          rate: 100
          connections: 16
          timeout: 3s
          max_generator_lag_p99: 250ms
          requests: [{method: POST, path: /v3/kv/put, body: '{"key":"Zm9v","value":"YmFy"}'}]
        faults:
          leader: {url: "http://{host:etcd-2}:2379/v2/members/leader", field: name}
          recovery: {p99_band: 100%, hold: 2s}
          actions:
            - {name: kill-leader, action: kill, service: etcd, target: leader, at: 4s, restart_after: 3s}
            - {name: stall, action: pause, service: etcd, target: etcd-3, at: 13s, duration: 1s}
            - {name: isolate-leader, action: partition, target: leader, at: 15s}
)yaml";

TEST_F(BenchmarkTest, AnEtcdLeaderKilledUnderLoadIsFoundRestartedAndItsRecoveryMeasured) {
  if (auto s = agent::NetnsHostsAvailable(); !s.ok()) GTEST_SKIP() << s.message();
  ASSERT_EQ(system("command -v etcd >/dev/null"), 0)
      << "etcd is missing: tools/install-deps.sh --test installs etcd-server";
  StartController();
  const std::string name = absl::StrCat("etcd-", getpid());
  StartAgent(name);
  const int64_t id = Submit(WriteSuite("etcd", kEtcdSuite), "", 0);
  const std::string logs = AllLogs(id);
  v1::RunResults r = Results(id);
  ASSERT_EQ(r.jobs(0).repetitions_size(), 1) << logs;
  EXPECT_TRUE(r.jobs(0).repetitions(0).valid()) << r.jobs(0).repetitions(0).invalid_reason();

  const v1::FaultRecord* kill = FindFault(r, "kill-leader");
  ASSERT_NE(kill, nullptr) << logs;
  EXPECT_TRUE(kill->host() == "etcd-1" || kill->host() == "etcd-2" || kill->host() == "etcd-3")
      << kill->host();
  EXPECT_NE(kill->detail().find("leader probe answered '" + kill->host() + "'"), std::string::npos)
      << kill->detail();
  EXPECT_EQ(kill->error(), "");
  EXPECT_GE(kill->applied_ms(), 4000);
  EXPECT_LT(kill->applied_ms(), 4100) << "the leader probe is one HTTP request";
  EXPECT_GE(kill->undone_ms(), 7000);
  EXPECT_LT(kill->undone_ms(), 7200);
  // The killed member came back: started twice, and the stack was whole at the end.
  EXPECT_EQ(Occurrences(logs, "service etcd." + kill->host() + " started"), 2) << logs;
  EXPECT_NE(logs.find("fault kill-leader undone on " + kill->host()), std::string::npos) << logs;
  // Losing the leader costs the writes something while a new one is elected (or, when the
  // leader was etcd-1, which takes the writes, until it is back).
  const double before_p99 = Value(r, "fault.kill-leader.before.p99");
  const double during_p99 = Value(r, "fault.kill-leader.during.p99");
  const double during_errors = Value(r, "fault.kill-leader.during.error_ratio");
  EXPECT_TRUE(during_p99 > before_p99 || during_errors > 0)
      << "before p99 " << before_p99 << " ms, during p99 " << during_p99 << " ms, errors "
      << during_errors;
  EXPECT_GE(kill->recovery_ms(), 0) << kill->recovery_note();
  // (Seen once at 4-11 s: not recovered within 7 s, when etcd-1, which takes the writes, was
  // the leader killed and took long to rejoin; the stall now comes 9 s after the kill.)
  EXPECT_LT(kill->recovery_ms(), 9000) << kill->recovery_note();
  EXPECT_EQ(Value(r, "fault.kill-leader.recovery"), kill->recovery_ms());

  const v1::FaultRecord* stall = FindFault(r, "stall");
  ASSERT_NE(stall, nullptr);
  EXPECT_EQ(stall->host(), "etcd-3");
  EXPECT_GE(stall->undone_ms(), 14000);
  Value(r, "fault.stall.after.p99");  // present: Value fails the test for a missing one

  // The leader of the moment (found again when the fault fires) cut off from the others until
  // the window's end, then healed with the stack still whole.
  const v1::FaultRecord* isolate = FindFault(r, "isolate-leader");
  ASSERT_NE(isolate, nullptr);
  EXPECT_EQ(isolate->error(), "");
  EXPECT_NE(isolate->detail().find("leader probe answered '" + isolate->host() + "'"),
            std::string::npos)
      << isolate->detail();
  EXPECT_GE(isolate->applied_ms(), 15000);
  // The stall at 13 s may have started an election still going at 15 s: the probe is then
  // asked again until a leader is named (at most 5 s), and the record says so. The probe itself
  // (etcdctl asking each member) has taken 259 ms with the suite running on both cores.
  const bool retried = isolate->detail().find(" on try ") != std::string::npos;
  EXPECT_LT(isolate->applied_ms(), retried ? 21000 : 16000) << isolate->detail();
  EXPECT_NE(logs.find("fault isolate-leader undone on " + isolate->host()), std::string::npos)
      << "healed at the window's end: " << logs;
  Value(r, "fault.isolate-leader.during.p99");

  // Per host and per role figures from the hosts' control groups.
  for (const char* host : {"etcd-1", "etcd-2", "etcd-3"}) {
    EXPECT_GT(Value(r, absl::StrCat("proc.", host, ".memory_peak")), 1) << host;
    EXPECT_GT(Value(r, absl::StrCat("proc.", host, ".cpu_seconds")), 0) << host;
    EXPECT_EQ(Value(r, absl::StrCat("proc.", host, ".oom_kills")), 0) << host;
  }
  EXPECT_GE(Value(r, "proc.etcd.memory_peak"), Value(r, "proc.etcd-2.memory_peak"));

  // `run results` says what each fault did.
  std::string out;
  EXPECT_EQ(Cli({"run", "results", std::to_string(id)}, &out), 0) << out;
  EXPECT_NE(out.find("fault kill-leader: kill etcd on " + kill->host() + " at +"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("fault stall: pause etcd on etcd-3"), std::string::npos) << out;

  common::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "ip netns list 2>/dev/null | grep -c '^" + agent::HostsPrefix(name) + "' || true"};
  int code = 0;
  EXPECT_EQ(*common::RunAndCapture(o, &code), "0\n") << "nothing of the hosts is left";

  // A schedule that does not fit the stack is refused at submit, naming the field.
  std::string yaml = kEtcdSuite;
  yaml.replace(yaml.find("target: etcd-3"), 14, "target: etcd-4");
  EXPECT_EQ(Cli({"run", "submit", "--suite", WriteSuite("bad-target", yaml)}, &out), 2) << out;
  EXPECT_NE(
      out.find("faults.actions[1].target: 'etcd-4': want leader, a host ROLE-N or random:ROLE"),
      std::string::npos)
      << out;
  yaml = kEtcdSuite;
  yaml.replace(yaml.find("at: 13s"), 7, "at: 20s");
  EXPECT_EQ(Cli({"run", "submit", "--suite", WriteSuite("bad-at", yaml)}, &out), 2) << out;
  EXPECT_NE(out.find("faults.actions[1].at: at 20000 ms is not inside the measured window (18s)"),
            std::string::npos)
      << out;
}

// A host whose service outgrows its memory limit: the kernel kills it, and the attempt says so
// rather than reporting a bare signal 9.
constexpr char kOomSuite[] = R"yaml(
name: it-oom
jobs:
  - name: oom
    benchmark:
      stack:
        hosts:
          - {role: small, count: 1, memory: 32Mi}
        services:
          - name: api
            args: [$TARGET, --listen, "127.0.0.1:{port:api}"]
            ports: [api]
            ready: {http: "http://127.0.0.1:{port:api}/healthz"}
          - name: hog
            on: small
            args: [/bin/sh, -c, "sleep 1; exec tail /dev/zero"]
      workload:
        duration: 4s
        repetitions: 1
        http:
          target: "http://127.0.0.1:{port:api}"
          rate: 50
          requests: [{path: /api/items/1}]
)yaml";

TEST_F(BenchmarkTest, AServicePastItsHostsMemoryLimitIsReportedAsKilledByTheOomKiller) {
  if (auto s = agent::NetnsHostsAvailable(); !s.ok()) GTEST_SKIP() << s.message();
  StartController();
  StartAgent(absl::StrCat("oom-", getpid()));
  const int64_t id = Submit(WriteSuite("oom", kOomSuite), "", 1);
  const std::string message = GetRun(*stub_, id).jobs(0).message();
  EXPECT_NE(message.find("service hog.small-1 exited (signal 9; the kernel's OOM killer killed"),
            std::string::npos)
      << message << AllLogs(id);
  EXPECT_NE(message.find("on host small-1, which went over its memory limit of 32 MiB"),
            std::string::npos)
      << message;
}

// netem needs the kernel's sch_netem. Where it is there, a delay on the host the load goes to
// shows in the latency while it holds; where it is not, the repetition is refused with the
// reason, never measured without its fault.
constexpr char kNetemSuite[] = R"yaml(
name: it-netem
jobs:
  - name: netem
    benchmark:
      stack:
        hosts:
          - {role: node, count: 2}
        services:
          - name: api
            on: node
            args: [$TARGET, --listen, "{host}:{port:api}"]
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", timeout: 20s}
      workload:
        duration: 4s
        repetitions: 1
        http:
          target: "http://{host:node-1}:{port:api}"
          rate: 50
          connections: 8
          max_generator_lag_p99: 250ms
          requests: [{path: /api/items/1}]
        faults:
          actions:
            - {name: slow-link, action: netem, target: node-1, at: 1s, duration: 2s, delay: 80ms}
)yaml";

bool KernelHasNetem() {
  return system(
             "ip netns add pgnetemprobe && ip -n pgnetemprobe link set lo up && "
             "ip netns exec pgnetemprobe tc qdisc add dev lo root netem delay 1ms "
             ">/dev/null 2>&1; rc=$?; ip netns del pgnetemprobe; exit $rc") == 0;
}

TEST_F(BenchmarkTest, NetemDelaysAHostsLinkOrTheRepetitionSaysWhyNot) {
  if (auto s = agent::NetnsHostsAvailable(); !s.ok()) GTEST_SKIP() << s.message();
  const bool netem = KernelHasNetem();
  StartController();
  StartAgent(absl::StrCat("netem-", getpid()));
  const int64_t id = Submit(WriteSuite("netem", kNetemSuite), "", netem ? 0 : 1);
  const std::string logs = AllLogs(id);
  if (netem) {
    v1::RunResults r = Results(id);
    ASSERT_EQ(r.jobs(0).repetitions_size(), 1) << logs;
    EXPECT_GE(Value(r, "fault.slow-link.during.p99"), 80) << logs;
    EXPECT_LT(Value(r, "fault.slow-link.before.p99"), 80) << logs;
  } else {
    EXPECT_NE(logs.find("fault slow-link (netem node-1 at +1000 ms) could not be applied: netem on "
                        "node-1: this machine's kernel has no netem qdisc"),
              std::string::npos)
        << logs;
  }
}

// The sample target's manager/worker mode on test hosts (tools/sample_target/cluster.h), a
// Warren-style scale test: 1 manager + 2 workers, then 3 managers + 5 workers, a worker killed
// during load; the calls through the manager that land on its tasks fail until the manager
// moves them, and the results say how long that took.
// One job of the Warren-style suite: `managers` and `workers` hosts, the service `web` with
// `replicas` tasks, load through `via` (a manager host), the worker `victim` killed at 3 s.
std::string WarrenJob(const std::string& name, int managers, int workers, int replicas,
                      const std::string& via, const std::string& victim) {
  std::string manager_urls;
  for (int i = 1; i <= managers; ++i)
    absl::StrAppend(&manager_urls, i > 1 ? "," : "", "http://{host:manager-", i, "}:8080");
  return absl::StrCat(R"yaml(
  - name: )yaml",
                      name, R"yaml(
    benchmark:
      stack:
        hosts:
          - {role: manager, count: )yaml",
                      managers, R"yaml(, cpus: 0.5, memory: 128Mi}
          - {role: worker, count: )yaml",
                      workers, R"yaml(, cpus: 0.25, memory: 64Mi}
        services:
          - name: manager
            on: manager
            args: [$TARGET, --role, manager, --listen, "{host}:8080", --services, "web=)yaml",
                      replicas, R"yaml("]
            ready: {http: "http://{host}:8080/healthz", timeout: 20s}
          - name: worker
            on: worker
            args: [$TARGET, --role, worker, --listen, "{host}:8081", --name, "worker-{index}",
                   --manager, ")yaml",
                      manager_urls, R"yaml("]
            ready: {http: "http://{host}:8081/healthz", timeout: 20s}
      workload:
        warmup: 1s
        duration: 9s
        repetitions: 1
        http:
          target: "http://{host:)yaml",
                      via, R"yaml(}:8080"
          rate: 100
          connections: 8
          timeout: 2s
          max_generator_lag_p99: 250ms
          requests: [{path: /services/web/call}]
        faults:
          # The errors decide: twice a 0.7 ms p99 is more than a busy machine holds for 2 s.
          recovery: {p99_band: 500%, hold: 2s}
          actions:
            - {name: kill-worker, action: kill, service: worker, target: )yaml",
                      victim,
                      R"yaml(, at: 3s}
)yaml");
}

TEST_F(BenchmarkTest, AManagerWorkerClusterMovesAKilledWorkersTasksAndTheResultsSayHowFast) {
  if (auto s = agent::NetnsHostsAvailable(); !s.ok()) GTEST_SKIP() << s.message();
  StartController();
  StartAgent(absl::StrCat("warren-", getpid()));
  const std::string suite =
      "name: it-warren\njobs:" + WarrenJob("small", 1, 2, 6, "manager-1", "worker-2") +
      WarrenJob("medium", 3, 5, 10, "manager-2", "random:worker");
  const int64_t id = Submit(WriteSuite("warren", suite), "", 0);
  const std::string logs = AllLogs(id);
  v1::RunResults r = Results(id);
  ASSERT_EQ(r.jobs_size(), 2) << logs;
  for (const auto& job : r.jobs()) {
    ASSERT_EQ(job.repetitions_size(), 1) << job.job_name() << logs;
    const v1::RepetitionResult& rep = job.repetitions(0);
    ASSERT_EQ(rep.faults_size(), 1) << job.job_name();
    const v1::FaultRecord& f = rep.faults(0);
    EXPECT_EQ(f.error(), "") << job.job_name();
    EXPECT_NE(f.host().rfind("worker-", 0), std::string::npos) << f.host();
    auto value = [&](const std::string& name) {
      for (const auto& m : rep.measurements())
        if (m.name() == name) return m.value();
      ADD_FAILURE() << job.job_name() << ": no " << name;
      return -1.0;
    };
    // Calls to the dead worker's tasks fail until the manager gives up on it (1 s without
    // heartbeats) and the others learn their new tasks (a heartbeat, 250 ms).
    EXPECT_EQ(value("fault.kill-worker.before.error_ratio"), 0) << job.job_name();
    EXPECT_GT(value("fault.kill-worker.during.error_ratio"), 0) << job.job_name();
    EXPECT_GE(f.recovery_ms(), 500) << job.job_name() << ": " << f.recovery_note();
    EXPECT_LT(f.recovery_ms(), 4000) << job.job_name() << ": " << f.recovery_note();
    EXPECT_GT(value("proc.manager.cpu_util"), 0) << job.job_name();
  }
}

// Redis with replication and Sentinel (Debian's redis-server and redis-sentinel): a master and
// two replicas on three hosts with their limits, a Sentinel on each, load from the redis
// generator, which asks the Sentinels where the master is. The master (found by asking a
// Sentinel when the fault fires) is killed under load: the Sentinels fail over, the load
// follows the new master before the old one is restarted, and the recovery is measured; then
// the master of the moment, no longer the first, is cut off by a partition healed at the end.
// A Sentinel election can split its votes; the next try waits on failover-timeout, so it is 3 s
// (with 10 s one split took the failover past the old master's restart at 9 s).
constexpr char kRedisSuite[] = R"yaml(
name: it-redis-failover
jobs:
  - name: redis
    benchmark:
      stack:
        hosts:
          - {role: redis, count: 3, cpus: 0.5, memory: 128Mi}
        services:
          - name: redis
            on: redis
            args: [/bin/sh, -c, "exec redis-server --port 6379 --bind {host} --protected-mode no --save '' --appendonly no --dir {workdir} $([ {index} = 1 ] || echo --replicaof {host:redis-1} 6379)"]
            ready: {tcp: "{host}:6379", timeout: 20s}
          - name: sentinel
            on: redis
            args:
              - /bin/sh
              - -c
              - >-
                mkdir -p {workdir}/sentinel-{index} &&
                printf 'port 26379\nbind {host}\nprotected-mode no\nsentinel monitor m {host:redis-1} 6379 2\nsentinel down-after-milliseconds m 1000\nsentinel failover-timeout m 3000\n'
                > {workdir}/sentinel-{index}/sentinel.conf &&
                exec redis-sentinel {workdir}/sentinel-{index}/sentinel.conf
            ready: {command: "redis-cli -h {host} -p 26379 SENTINEL get-master-addr-by-name m | grep -q .", timeout: 20s}
      workload:
        duration: 18s
        repetitions: 1
        redis:
          sentinels: ["{host:redis-1}:26379", "{host:redis-2}:26379", "{host:redis-3}:26379"]
          master: m
          rate: 200
          connections: 8
          timeout: 2s
          max_generator_lag_p99: 250ms
          requests:
            - {name: set, command: [SET, key, value]}
            - {name: get, command: [GET, key], weight: 3}
        faults:
          leader: {command: "redis-cli -h {host:redis-2} -p 26379 SENTINEL get-master-addr-by-name m | head -1"}
          recovery: {p99_band: 100%, hold: 2s}
          actions:
            - {name: kill-master, action: kill, service: redis, target: leader, at: 3s, restart_after: 9s}
            - {name: isolate-master, action: partition, target: leader, at: 15s}
)yaml";

TEST_F(BenchmarkTest, ARedisMasterKilledUnderLoadFailsOverThroughSentinelAndTheLoadFollows) {
  if (auto s = agent::NetnsHostsAvailable(); !s.ok()) GTEST_SKIP() << s.message();
  ASSERT_EQ(system("command -v redis-server && command -v redis-sentinel && command -v redis-cli"),
            0)
      << "redis is missing: tools/install-deps.sh --test installs redis-server, redis-sentinel "
         "and redis-tools";
  StartController();
  const std::string name = absl::StrCat("redis-", getpid());
  StartAgent(name);
  const int64_t id = Submit(WriteSuite("redis", kRedisSuite), "", 0);
  const std::string logs = AllLogs(id);
  v1::RunResults r = Results(id);
  ASSERT_EQ(r.jobs(0).repetitions_size(), 1) << logs;
  EXPECT_TRUE(r.jobs(0).repetitions(0).valid()) << r.jobs(0).repetitions(0).invalid_reason();
  EXPECT_EQ(r.jobs(0).repetitions(0).generator(), "redis-open-loop");
  EXPECT_GT(Value(r, "redis.throughput"), 150);
  Value(r, "redis.get.latency.p99");  // per command

  // The master was redis-1, as the Sentinel said when the fault fired.
  const v1::FaultRecord* kill = FindFault(r, "kill-master");
  ASSERT_NE(kill, nullptr) << logs;
  EXPECT_EQ(kill->host(), "redis-1") << kill->detail();
  EXPECT_EQ(kill->error(), "");
  EXPECT_GE(kill->undone_ms(), 12000) << "restarted after 9 s";
  // Losing it cost the load until the Sentinels promoted a replica and the generator found it:
  // recovered before the old master came back, so the load followed the failover.
  EXPECT_TRUE(Value(r, "fault.kill-master.during.error_ratio") > 0 ||
              Value(r, "fault.kill-master.during.p99") > Value(r, "fault.kill-master.before.p99"));
  EXPECT_GE(kill->recovery_ms(), 0) << kill->recovery_note();
  EXPECT_LT(kill->recovery_ms(), 9000) << kill->recovery_note() << logs;
  // The figures docs/faults.md quotes, printed by this test.
  std::cout << "redis failover: recovered " << kill->recovery_ms() << " ms after the kill; p99 "
            << Value(r, "fault.kill-master.before.p99") << " ms before, "
            << Value(r, "fault.kill-master.during.p99") << " ms during, error ratio during "
            << Value(r, "fault.kill-master.during.error_ratio") << "\n";
  EXPECT_EQ(Occurrences(logs, "service redis.redis-1 started"), 2) << "restarted: " << logs;

  // Later the Sentinels name another master, which a partition cuts off until the end.
  const v1::FaultRecord* isolate = FindFault(r, "isolate-master");
  ASSERT_NE(isolate, nullptr);
  EXPECT_EQ(isolate->error(), "");
  EXPECT_TRUE(isolate->host() == "redis-2" || isolate->host() == "redis-3")
      << "the failover moved the master: " << isolate->detail();
  EXPECT_NE(logs.find("fault isolate-master undone on " + isolate->host()), std::string::npos)
      << logs;
  Value(r, "fault.isolate-master.during.p99");
  for (const char* host : {"redis-1", "redis-2", "redis-3"})
    EXPECT_LT(Value(r, absl::StrCat("proc.", host, ".memory_peak")), 128) << "its limit";

  common::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "ip netns list 2>/dev/null | grep -c '^" + agent::HostsPrefix(name) + "' || true"};
  int code = 0;
  EXPECT_EQ(*common::RunAndCapture(o, &code), "0\n") << "nothing of the hosts is left";
}

}  // namespace
}  // namespace perfgate::testing
