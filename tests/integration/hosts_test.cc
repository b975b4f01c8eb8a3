// Netns test hosts (agent/hosts/) on this machine, as root: each host with its own address,
// hostname and cgroup; a real server on one host reached from another host and from the root
// namespace across the bridge (through a FORWARD policy that drops, where dockerd set one); the
// CPU quota throttling a busy loop; the memory limit OOM-killing what outgrows it, counted; and
// nothing left after teardown, nor after the process that made the hosts was killed -9 and the
// leftovers were removed as a restarted agent removes them. Where hosts cannot be made (an
// unprivileged container) every test here says so and is skipped.
#include <httplib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/hosts/netns_hosts.h"
#include "common/process/subprocess.h"
#include "gtest/gtest.h"
#include "tests/harness/processes.h"
#include "tests/integration/benchmark_fixture.h"

namespace perfgate::testing {
namespace {

using agent::HostSpec;
using agent::NetnsTopology;

// Alive and not a zombie waiting for whoever adopted it to reap it.
bool Alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t rp = line.rfind(')');
  return rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] != 'Z';
}

// A prefix of this test process's own, so tests running side by side never touch each other's.
std::string Prefix() { return absl::StrFormat("t%03d", getpid() % 1000); }

class HostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto s = agent::NetnsHostsAvailable(); !s.ok()) GTEST_SKIP() << s.message();
    ASSERT_TRUE(agent::RemoveLeftoverHosts(Prefix()).ok());
  }
  void TearDown() override { (void)agent::RemoveLeftoverHosts(Prefix()); }

  // Runs `script` with sh on `host` to completion: its output, and the exit code in *code.
  static std::string OnHost(const NetnsTopology::Host& host, const std::string& script, int* code) {
    common::SpawnOptions o;
    o.argv = {"/bin/bash", "-c", script};  // bash: /dev/tcp
    NetnsTopology::Place(host, &o);
    auto out = common::RunAndCapture(o, code);
    return out.ok() ? *out : std::string(out.status().message());
  }

  static std::string Sh(const std::string& script) {
    common::SpawnOptions o;
    o.argv = {"/bin/sh", "-c", script};
    int code = 0;
    auto out = common::RunAndCapture(o, &code);
    return out.ok() ? *out : "";
  }

  // Nothing of the topology `tag` is left: namespaces, interfaces, rules, cgroups.
  static void ExpectGone(const std::string& tag) {
    const std::string p = Prefix() + tag;
    EXPECT_EQ(Sh("ip netns list 2>/dev/null | grep -c '^" + p + "' || true"), "0\n");
    EXPECT_EQ(Sh("ip -o link show | grep -c ': " + p + "' || true"), "0\n");
    EXPECT_EQ(Sh("iptables -w -S FORWARD 2>/dev/null | grep -c -- '-i " + p + "' || true"), "0\n");
    EXPECT_EQ(Sh("ls -d /sys/fs/cgroup/*/perfgate/" + p + "* /sys/fs/cgroup/perfgate/" + p +
                 "* 2>/dev/null | wc -l"),
              "0\n");
  }
};

TEST_F(HostsTest, HostsHaveTheirOwnAddressHostnameAndLimitsAndLeaveNothing) {
  agent::TopologyOptions opts;
  opts.prefix = Prefix();
  std::vector<HostSpec> specs = {
      {"manager-1", {0.5, 256 << 20, 256}},
      {"worker-1", {0.2, 128 << 20, 0}},
      {"worker-2", {0, 48 << 20, 0}},
  };
  auto made = NetnsTopology::Create("a", specs, opts);
  ASSERT_TRUE(made.ok()) << made.status();
  NetnsTopology& t = **made;
  ASSERT_EQ(t.hosts().size(), 3u);
  EXPECT_EQ(NetnsTopology::Create("a", specs, opts).status().code(),
            absl::StatusCode::kAlreadyExists);

  // Each host: its hostname, its own address on eth0, its cgroup.
  for (const auto& h : t.hosts()) {
    SCOPED_TRACE(h.name);
    int code = 0;
    const std::string out = OnHost(h, "hostname; ip -o -4 addr show; cat /proc/self/cgroup", &code);
    EXPECT_EQ(code, 0) << out;
    EXPECT_TRUE(absl::StartsWith(out, h.name + "\n")) << out;
    EXPECT_TRUE(absl::StrContains(out, "eth0    inet " + h.address + "/24")) << out;
    EXPECT_TRUE(absl::StrContains(out, "lo    inet 127.0.0.1/8")) << out;
    EXPECT_TRUE(absl::StrContains(out, "/perfgate/" + h.netns)) << out;
  }
  EXPECT_EQ(t.Find("worker-2")->address.substr(0, 7), "10.213.");
  EXPECT_EQ(t.Find("nope"), nullptr);

  // A real server on manager-1, reached from worker-1 across the bridge and from the root
  // namespace (where the agent's load generator runs).
  const NetnsTopology::Host& manager = *t.Find("manager-1");
  common::SpawnOptions server;
  server.argv = {BinaryPath("perfgate-sample-target"), "--listen", manager.address + ":8080"};
  NetnsTopology::Place(manager, &server);
  auto pid = common::Spawn(server);
  ASSERT_TRUE(pid.ok()) << pid.status();
  httplib::Client root_client(manager.address, 8080);
  root_client.set_connection_timeout(1);
  ASSERT_TRUE(WaitUntil([&] { return root_client.Get("/healthz") != nullptr; }, absl::Seconds(10)))
      << "the root namespace reaches the host";
  int code = 0;
  const std::string fetched =
      OnHost(*t.Find("worker-1"),
             "exec 3<>/dev/tcp/" + manager.address +
                 "/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3",
             &code);
  EXPECT_TRUE(absl::StrContains(fetched, "200 OK")) << "worker-1 reaches manager-1: " << fetched;
  EXPECT_TRUE(absl::StrContains(
      OnHost(manager, "echo > /dev/tcp/127.0.0.1/8080 || echo refused", &code), "refused"))
      << "the server listens on the host's address, not on another host's loopback";
  EXPECT_EQ(manager.cgroup->Pids().size(), 1u) << "the server runs inside manager-1's cgroup";

  // The CPU quota: a second of busy loop on worker-1 (0.2 of a core) gets ~0.2 s of CPU.
  const NetnsTopology::Host& w1 = *t.Find("worker-1");
  OnHost(w1, "timeout 1 sh -c 'while :; do :; done'", &code);
  auto cpu = w1.cgroup->Stats();
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_GT(cpu->throttled_periods, 0);
  EXPECT_GT(cpu->cpu_seconds, 0.05);
  EXPECT_LT(cpu->cpu_seconds, 0.45) << "a 0.2-core quota over a 1 s loop";

  // The memory limit: a 100 MB buffer on a 48 MiB host is OOM-killed, and counted.
  const NetnsTopology::Host& w2 = *t.Find("worker-2");
  const std::string dd = OnHost(w2, "exec dd if=/dev/zero of=/dev/null bs=100M count=1", &code);
  EXPECT_EQ(code, 128 + SIGKILL) << dd;
  auto mem = w2.cgroup->Stats();
  ASSERT_TRUE(mem.ok()) << mem.status();
  EXPECT_GE(mem->oom_kills, 1);
  EXPECT_GT(mem->memory_peak_bytes, 40 << 20);
  EXPECT_LE(mem->memory_peak_bytes, 48 << 20);

  // Teardown: the server killed, everything removed.
  ASSERT_TRUE(t.Teardown().ok());
  int status = 0;
  EXPECT_EQ(waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFSIGNALED(status)) << "killed with its host";
  ExpectGone("a");
  EXPECT_TRUE(t.Teardown().ok()) << "a second teardown does nothing";
}

// A partition cuts hosts off from each other (both ways, or one way) while the agent still
// reaches them; healed, they talk again.
TEST_F(HostsTest, PartitionsCutHostsOffAndHealingJoinsThem) {
  agent::TopologyOptions opts;
  opts.prefix = Prefix();
  auto made = NetnsTopology::Create("p", {{"n-1", {}}, {"n-2", {}}, {"n-3", {}}}, opts);
  ASSERT_TRUE(made.ok()) << made.status();
  NetnsTopology& t = **made;
  // A server on every host; `Reaches(a, b)`: a TCP connection from host a to b's server.
  std::vector<pid_t> servers;
  for (const auto& h : t.hosts()) {
    common::SpawnOptions o;
    o.argv = {BinaryPath("perfgate-sample-target"), "--listen", h.address + ":8080"};
    NetnsTopology::Place(h, &o);
    auto pid = common::Spawn(o);
    ASSERT_TRUE(pid.ok()) << pid.status();
    servers.push_back(*pid);
    httplib::Client c(h.address, 8080);
    ASSERT_TRUE(WaitUntil([&] { return c.Get("/healthz") != nullptr; }, absl::Seconds(10)));
  }
  auto reaches = [&](const std::string& a, const std::string& b) {
    int code = 0;
    OnHost(*t.Find(a), "timeout 1 bash -c 'exec 3<>/dev/tcp/" + t.Find(b)->address + "/8080'",
           &code);
    return code == 0;
  };
  EXPECT_TRUE(reaches("n-1", "n-2"));
  EXPECT_TRUE(reaches("n-2", "n-3"));

  ASSERT_TRUE(t.Partition({"n-1"}, {"n-2", "n-3"}, true).ok());
  EXPECT_FALSE(reaches("n-1", "n-2"));
  EXPECT_FALSE(reaches("n-2", "n-1"));
  EXPECT_FALSE(reaches("n-3", "n-1"));
  EXPECT_TRUE(reaches("n-2", "n-3")) << "the majority side still talks";
  httplib::Client agent_view(t.Find("n-1")->address, 8080);
  EXPECT_NE(agent_view.Get("/healthz"), nullptr) << "the agent still reaches a cut-off host";

  ASSERT_TRUE(t.Heal().ok());
  EXPECT_TRUE(reaches("n-1", "n-2"));
  EXPECT_TRUE(reaches("n-3", "n-1"));

  // One way: only n-2's packets to n-3 are dropped, by a rule on n-2 alone (a TCP connection
  // needs both directions, so n-2 cannot connect; n-1 still can).
  ASSERT_TRUE(t.Partition({"n-2"}, {"n-3"}, false).ok());
  EXPECT_FALSE(reaches("n-2", "n-3"));
  EXPECT_TRUE(reaches("n-1", "n-3"));
  EXPECT_TRUE(
      absl::StrContains(Sh("ip netns exec " + t.Find("n-2")->netns + " iptables -w -S OUTPUT"),
                        "-A OUTPUT -d " + t.Find("n-3")->address + "/32 -j DROP"));
  EXPECT_FALSE(absl::StrContains(
      Sh("ip netns exec " + t.Find("n-3")->netns + " iptables -w -S OUTPUT"), "DROP"));
  ASSERT_TRUE(t.Heal().ok());
  EXPECT_TRUE(reaches("n-2", "n-3"));

  // Two partitions at once: healing one host's leaves the other in force.
  ASSERT_TRUE(t.Partition({"n-1"}, {"n-2", "n-3"}, true).ok());
  ASSERT_TRUE(t.Partition({"n-2"}, {"n-1", "n-3"}, true).ok());
  ASSERT_TRUE(t.Heal("n-1").ok());
  EXPECT_TRUE(reaches("n-1", "n-3"));
  EXPECT_FALSE(reaches("n-2", "n-3")) << "n-2's partition is still in force";
  ASSERT_TRUE(t.Heal().ok());
  EXPECT_TRUE(reaches("n-2", "n-3"));

  EXPECT_EQ(t.Partition({"n-1"}, {"nope"}, true).message(), "partition: no host 'nope'");
  ASSERT_TRUE(t.Teardown().ok());
  for (pid_t p : servers) waitpid(p, nullptr, 0);
  ExpectGone("p");
}

TEST_F(HostsTest, BadSpecsAreRefusedWithTheFieldNamed) {
  agent::TopologyOptions opts;
  opts.prefix = Prefix();
  auto bad = [&](const std::string& tag, std::vector<HostSpec> hosts, const std::string& subnet) {
    agent::TopologyOptions o = opts;
    o.subnet = subnet;
    return std::string(NetnsTopology::Create(tag, hosts, o).status().message());
  };
  EXPECT_TRUE(absl::StartsWith(bad("b", {}, ""), "hosts: 1 to"));
  EXPECT_TRUE(absl::StartsWith(bad("b", {{"a", {}}, {"a", {}}}, ""), "hosts: name 'a'"));
  EXPECT_TRUE(absl::StartsWith(bad("b", {{"a_b", {}}}, ""), "hosts: name 'a_b'"));
  EXPECT_TRUE(absl::StartsWith(bad("toolongtag", {{"a", {}}}, ""), "tag:"));
  EXPECT_TRUE(absl::StartsWith(bad("b", {{"a", {}}}, "10.1.2.0/16"), "subnet '10.1.2.0/16'"));
  ExpectGone("b");
}

// The agent crashed with hosts up and a service running on one: a restarted agent's
// RemoveLeftoverHosts removes the namespaces, the bridge, the rule, the cgroups and the service.
TEST_F(HostsTest, LeftoversOfAKilledAgentAreRemoved) {
  // This process stands in for init (systemd), which adopts and reaps a crashed agent's orphans:
  // a killed service is a zombie, and keeps its cgroup busy, until someone reaps it.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const std::string prefix = Prefix();  // this process's, not the child's
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    agent::TopologyOptions opts;
    opts.prefix = prefix;
    auto t = NetnsTopology::Create("c", {{"h-1", {0.5, 64 << 20, 0}}, {"h-2", {}}}, opts);
    if (!t.ok()) _exit(1);
    common::SpawnOptions o;
    o.argv = {"/bin/sleep", "600"};
    NetnsTopology::Place((*t)->hosts()[0], &o);
    auto p = common::Spawn(o);
    if (!p.ok()) _exit(1);
    const std::string pid = std::to_string(*p);
    if (write(ready[1], pid.data(), pid.size()) < 0) _exit(1);
    close(ready[1]);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char buf[32] = {};
  const ssize_t n = read(ready[0], buf, sizeof buf - 1);
  close(ready[0]);
  ASSERT_GT(n, 0) << "the child made no hosts";
  const pid_t sleeper = std::stoi(buf);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(Alive(sleeper)) << "the service outlived its agent";
  EXPECT_EQ(Sh("ip netns list 2>/dev/null | grep -c '^" + Prefix() + "c' || true"), "2\n");

  std::atomic<bool> reaped{false};
  std::thread init([&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!reaped && absl::Now() < deadline) {
      if (waitpid(sleeper, nullptr, WNOHANG) == sleeper) reaped = true;
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  auto removed = agent::RemoveLeftoverHosts(Prefix());
  init.join();
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 2);
  ExpectGone("c");
  EXPECT_TRUE(reaped) << "the service was killed with its host";
  EXPECT_FALSE(Alive(sleeper));
}

// The agent itself, restarted after a crash, removes the test hosts of its previous life before
// it takes work (and leaves other agents' alone).
TEST_F(ClusterTest, AnAgentRemovesTheTestHostsOfItsPreviousLifeAtStart) {
  if (auto s = agent::NetnsHostsAvailable(); !s.ok()) GTEST_SKIP() << s.message();
  const std::string name = absl::StrCat("hosts-", getpid());
  agent::TopologyOptions mine, other;
  mine.prefix = agent::HostsPrefix(name);
  other.prefix = agent::HostsPrefix(name + "-other");
  ASSERT_NE(mine.prefix, other.prefix);
  // Made as the agent's previous life would have made them, and abandoned (no teardown).
  auto left = NetnsTopology::Create("x1", {{"m-1", {0.5, 64 << 20, 0}}, {"w-1", {}}}, mine);
  ASSERT_TRUE(left.ok()) << left.status();
  auto others = NetnsTopology::Create("x1", {{"m-1", {}}}, other);
  ASSERT_TRUE(others.ok()) << others.status();
  const std::string mine_ns = (*left)->hosts()[0].netns, other_ns = (*others)->hosts()[0].netns;
  auto count = [](const std::string& ns) {
    common::SpawnOptions o;
    o.argv = {"/bin/sh", "-c", "ip netns list 2>/dev/null | grep -c '^" + ns + " ' || true"};
    int code = 0;
    auto out = common::RunAndCapture(o, &code);
    return out.ok() ? *out : "";
  };
  ASSERT_EQ(count(mine_ns), "1\n");

  StartController();
  StartAgent(name);
  EXPECT_EQ(count(mine_ns), "0\n") << "the agent removed its previous life's hosts";
  EXPECT_EQ(count(other_ns), "1\n") << "and left another agent's alone";
  EXPECT_NE(agents_[name]->process().Log().find("removed test hosts of a previous life"),
            std::string::npos)
      << agents_[name]->process().Log();
  EXPECT_TRUE((*others)->Teardown().ok());
  EXPECT_TRUE((*left)->Teardown().ok()) << "what the agent already removed is not an error";
}

// Eight hosts with a service each, mid-job: the agent is killed outright (kill -9), and started
// again with the same name and work directory.
constexpr char kEightHostsSuite[] = R"yaml(
name: it-crash
jobs:
  - name: eight
    max_attempts: 1
    benchmark:
      stack:
        hosts: [{role: node, count: 8, cpus: 0.25, memory: 64Mi}]
        services:
          - {name: idle, on: node, args: [/bin/sleep, "600"]}
      workload:
        duration: 60s
        repetitions: 1
        command: "sleep 60; echo '{\"measurements\": []}'"
)yaml";

TEST_F(ClusterTest, AnAgentKilledMidJobWithEightHostsUpLeavesNothingOnceRestarted) {
  if (auto s = agent::NetnsHostsAvailable(); !s.ok()) GTEST_SKIP() << s.message();
  // The killed agent's services are orphans; this process adopts them, as init would.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const std::string name = absl::StrCat("crash-", getpid());
  const std::string prefix = agent::HostsPrefix(name);
  StartController();
  StartAgent(name);
  const std::string suite = dir_ + "/crash.yaml";
  std::ofstream(suite) << kEightHostsSuite;
  std::string out;
  ASSERT_EQ(Cli({"-o", "json", "run", "submit", "--suite", suite}, &out), 0) << out;
  const int64_t id = std::stoll(nlohmann::json::parse(out)["id"].get<std::string>());
  auto logs = [&] {
    std::string all;
    for (const auto& c : RunLogs(*stub_, id)) all += c.data();
    return all;
  };
  ASSERT_TRUE(WaitUntil([&] { return logs().find("repetition 1/1") != std::string::npos; },
                        absl::Seconds(60)))
      << logs();
  // Eight hosts, each with its service, and what names them.
  const std::string namespaces = ShOut("ip netns list 2>/dev/null | grep '^" + prefix + "' | cut -d' ' -f1");
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(namespaces, '\n', absl::SkipEmpty())).size(),
            8u)
      << namespaces;
  std::vector<pid_t> services;
  for (absl::string_view l :
       absl::StrSplit(ShOut("pgrep -f '^/bin/sleep 600$' || true"), '\n', absl::SkipEmpty())) {
    std::ifstream cg(absl::StrCat("/proc/", l, "/cgroup"));
    std::string groups((std::istreambuf_iterator<char>(cg)), std::istreambuf_iterator<char>());
    if (groups.find("perfgate/" + prefix) != std::string::npos)
      services.push_back(std::stoi(std::string(l)));
  }
  EXPECT_EQ(services.size(), 8u);

  agents_[name]->process().Kill9();
  for (pid_t p : services) EXPECT_TRUE(Alive(p)) << "a service outlived its agent";
  EXPECT_EQ(ShOut("ip netns list 2>/dev/null | grep -c '^" + prefix + "' || true"), "8");

  // This process adopted the killed agent's services; it reaps them once they die, as init
  // would (a zombie keeps its process group alive and its cgroup busy).
  std::atomic<bool> stop{false};
  std::thread init([&] {
    while (!stop) {
      for (pid_t p : services) waitpid(p, nullptr, WNOHANG);
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  StartAgent(name);
  const bool cleaned = WaitUntil(
      [&] {
        return agents_[name]->process().Log().find("removed test hosts of a previous life") !=
               std::string::npos;
      },
      absl::Seconds(30));
  stop = true;
  init.join();
  EXPECT_TRUE(cleaned) << agents_[name]->process().Log();
  EXPECT_NE(agents_[name]->process().Log().find("hosts=8"), std::string::npos)
      << agents_[name]->process().Log();
  EXPECT_EQ(ShOut("ip netns list 2>/dev/null | grep -c '^" + prefix + "' || true"), "0");
  EXPECT_EQ(ShOut("ip link show | grep -c '" + prefix + "' || true"), "0") << "veths and bridge";
  EXPECT_EQ(ShOut("find /sys/fs/cgroup -maxdepth 3 -name '" + prefix + "*' | wc -l"), "0")
      << "cgroups";
  for (pid_t p : services) EXPECT_FALSE(Alive(p)) << "service " << p << " still runs";
  // And it works again: a command job runs to its end on the restarted agent.
  v1::Run run = WaitForRunEnd(*stub_, SubmitCommand(*stub_, "echo again").id(), absl::Seconds(60));
  EXPECT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED);
}

// A suite's stack on test hosts, end to end through the controller and a real agent: three
// hosts of a role with their CPU and memory limits, a service on each (its {host} and
// {index}), one more on the agent's machine naming them ({hosts:ROLE}), load against one host
// ({host:ROLE-N}), each instance sampled under its own name, and nothing left afterwards.
constexpr char kHostsSuite[] = R"yaml(
name: it-hosts
jobs:
  - name: cluster
    benchmark:
      stack:
        hosts:
          - {role: node, count: 3, cpus: 0.5, memory: 256Mi}
        services:
          - name: api
            on: node
            args: [$TARGET, --listen, "{host}:{port:api}"]
            env: {MEMBER: "{index}"}
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", timeout: 20s}
          - name: peers
            args: [/bin/sh, -c, "echo members {hosts:node}; exec sleep 600"]
          - name: one
            on: node
            ready_on: any
            args: [/bin/sh, -c, "if [ {index} = 2 ]; then exec $TARGET --listen {host}:{port:one}; fi; exec sleep 600"]
            ports: [one]
            ready: {http: "http://{host}:{port:one}/healthz", timeout: 20s}
      workload:
        duration: 1s
        repetitions: 2
        pause: 0s
        http:
          target: "http://{host:node-2}:{port:api}"
          rate: 100
          connections: 4
          max_generator_lag_p99: 250ms
          requests: [{path: /api/items/1}]
)yaml";

TEST_F(BenchmarkTest, AStackRunsOnTestHostsAndLeavesNothing) {
  if (auto s = agent::NetnsHostsAvailable(); !s.ok()) GTEST_SKIP() << s.message();
  StartController();
  const std::string name = absl::StrCat("hosts-", getpid());
  StartAgent(name);
  const std::string suite = WriteSuite("hosts", kHostsSuite);
  const int64_t id = Submit(suite, "", 0);
  const std::string logs = AllLogs(id);
  EXPECT_NE(logs.find("test hosts up in"), std::string::npos) << logs;
  // It went to an agent that said it can make hosts.
  const v1::Run run = GetRun(*stub_, id);
  const auto& selector = run.jobs(0).spec().agent_selector();
  EXPECT_EQ(selector.at("topology.netns"), "true");
  EXPECT_EQ(selector.at("topology.max_hosts"), ">=3") << "as many hosts as its stack has";
  EXPECT_EQ(selector.at("topology.memory_mib"), ">=768") << "and their memory limits";
  std::string agents;
  EXPECT_EQ(Cli({"-o", "json", "agent", "list"}, &agents), 0) << agents;
  EXPECT_NE(agents.find("\"topology.netns\": \"true\""), std::string::npos) << agents;
  EXPECT_NE(agents.find("\"topology.max_hosts\": \"250\""), std::string::npos) << agents;
  EXPECT_NE(agents.find("\"topology.memory_mib\": \""), std::string::npos) << agents;
  for (const char* host : {"node-1", "node-2", "node-3"}) {
    EXPECT_NE(logs.find(absl::StrCat("service api.", host, " started")), std::string::npos) << logs;
  }
  EXPECT_NE(logs.find("members 10.213."), std::string::npos) << "{hosts:node} filled in";
  EXPECT_NE(logs.find("test hosts removed"), std::string::npos) << logs;
  v1::RunResults r = Results(id);
  ASSERT_EQ(r.jobs(0).repetitions_size(), 2) << logs;
  EXPECT_GT(Median(r, "http.throughput"), 50) << "load reached node-2 across the bridge";
  EXPECT_EQ(Median(r, "http.error_ratio"), 0);
  for (const char* host : {"node-1", "node-2", "node-3"}) {
    EXPECT_GT(Median(r, absl::StrCat("proc.api.", host, ".rss_peak")), 0) << host;
    // The host's own figures, from its control group: what its processes hold, what the
    // kernel charged it (at least that), its CPU and how often its quota held it back.
    const double rss = Median(r, absl::StrCat("proc.", host, ".rss_peak"));
    EXPECT_GE(rss, Median(r, absl::StrCat("proc.api.", host, ".rss_peak"))) << host;
    EXPECT_GT(Median(r, absl::StrCat("proc.", host, ".memory_peak")), 0) << host;
    EXPECT_LT(Median(r, absl::StrCat("proc.", host, ".memory_peak")), 256) << "its limit";
    // Present (Median fails the test for a missing metric, answering -1) and not negative.
    EXPECT_GE(Median(r, absl::StrCat("proc.", host, ".cpu_seconds")), 0) << host;
    EXPECT_GE(Median(r, absl::StrCat("proc.", host, ".throttled_seconds")), 0) << host;
    EXPECT_EQ(Median(r, absl::StrCat("proc.", host, ".oom_kills")), 0) << host;
  }
  // Per role: the largest of its hosts' (in each repetition, so its median is at least theirs).
  EXPECT_GE(Median(r, "proc.node.rss_peak"),
            std::max({Median(r, "proc.node-1.rss_peak"), Median(r, "proc.node-2.rss_peak"),
                      Median(r, "proc.node-3.rss_peak")}));
  EXPECT_GT(Median(r, "proc.node-2.cpu_util"), 0) << "node-2 served the load";
  // A role ready on any of its hosts: only node-2's instance ever answers.
  EXPECT_NE(logs.find("service one ready on one of its 3 hosts after"), std::string::npos) << logs;
  // Nothing of the attempt's hosts is left on the machine.
  common::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "ip netns list 2>/dev/null | grep -c '^" + agent::HostsPrefix(name) + "' || true"};
  int code = 0;
  EXPECT_EQ(*common::RunAndCapture(o, &code), "0\n");

  // Bad input is refused at submit with the field named.
  std::string yaml = kHostsSuite;
  yaml.replace(yaml.find("on: node"), 8, "on: node-4");
  std::string out;
  EXPECT_EQ(Cli({"run", "submit", "--suite", WriteSuite("bad-on", yaml)}, &out), 2) << out;
  EXPECT_NE(out.find("services[0].on: 'node-4' is no role or host of stack.hosts"),
            std::string::npos)
      << out;
  yaml = kHostsSuite;
  yaml.replace(yaml.find("{host:node-2}"), 13, "{host:db-1}");
  EXPECT_EQ(Cli({"run", "submit", "--suite", WriteSuite("bad-ref", yaml)}, &out), 2) << out;
  EXPECT_NE(out.find("{host:db-1} names no test host of the stack"), std::string::npos) << out;
  yaml = kHostsSuite;
  yaml.replace(yaml.find("256Mi"), 5, "lots");
  EXPECT_EQ(Cli({"run", "submit", "--suite", WriteSuite("bad-mem", yaml)}, &out), 2) << out;
  EXPECT_NE(out.find("memory"), std::string::npos) << out;
}

}  // namespace
}  // namespace perfgate::testing
