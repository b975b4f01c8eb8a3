// The ssh provider end to end over a real SSH path: Debian's sshd runs inside two netns hosts
// the test makes (its own host key, a client key made by ssh-keygen), a pool file lists them as
// machines, and a real agent given `--host-pool` runs a suite whose stack has `provider: ssh`
// through the controller: the build copied to each machine with rsync, the services started
// there from that copy, sampled there, one killed and restarted by a fault, stopped, and
// nothing of the attempt left running or on disk. A bad pool file stops the agent with the
// field named. Where netns hosts cannot be made, or sshd or rsync is missing, the tests skip
// and say why.
#include <unistd.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/hosts/netns_hosts.h"
#include "common/process/subprocess.h"
#include "tests/integration/benchmark_fixture.h"

namespace perfgate::testing {
namespace {

using agent::NetnsTopology;

std::string Shell(const std::string& script, int* code = nullptr) {
  common::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", script};
  int c = 0;
  auto out = common::RunAndCapture(o, code ? code : &c);
  return out.ok() ? *out : std::string(out.status().message());
}

// Why the ssh provider cannot be tested here, or "".
std::string Missing() {
  if (auto s = agent::NetnsHostsAvailable(); !s.ok()) return std::string(s.message());
  for (const char* p : {"/usr/sbin/sshd", "ssh", "ssh-keygen", "rsync"}) {
    if (common::FindProgram(p).empty())
      return absl::StrCat(p, " is not installed (tools/install-deps.sh --test installs it)");
  }
  return "";
}

// Two machines: netns hosts each running sshd on port 22, which let root in with the test's key.
class SshMachines {
 public:
  explicit SshMachines(const std::string& dir) : dir_(dir) {
    Shell("mkdir -p /run/sshd && ssh-keygen -q -t ed25519 -N '' -f " + dir + "/host_key && " +
          "ssh-keygen -q -t ed25519 -N '' -f " + dir + "/client_key && cp " + dir +
          "/client_key.pub " + dir + "/authorized_keys");
    std::ofstream(dir + "/sshd_config")
        << "Port 22\nHostKey " << dir << "/host_key\nPidFile none\nAuthorizedKeysFile " << dir
        << "/authorized_keys\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        << "PasswordAuthentication no\nKbdInteractiveAuthentication no\n";
    auto t = NetnsTopology::Create("ssh", {{"m1", {}}, {"m2", {}}},
                                   {absl::StrFormat("s%03d", getpid() % 1000), ""});
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) return;
    topology_ = *std::move(t);
    for (const auto& h : topology_->hosts()) {
      common::SpawnOptions o;
      o.argv = {"/usr/sbin/sshd", "-D", "-e", "-f", dir + "/sshd_config"};
      NetnsTopology::Place(h, &o);
      auto pid = common::Spawn(o);
      EXPECT_TRUE(pid.ok()) << pid.status();
      if (pid.ok()) sshd_.push_back(*pid);
    }
    // Up once each answers with its banner.
    for (const auto& h : topology_->hosts()) {
      EXPECT_TRUE(WaitUntil(
          [&] {
            return absl::StrContains(
                Shell("timeout 2 bash -c 'exec 3<>/dev/tcp/" + h.address + "/22; head -c 7 <&3'"),
                "SSH-2.0");
          },
          absl::Seconds(15)))
          << "sshd on " << h.name;
    }
  }
  ~SshMachines() {
    for (pid_t p : sshd_) {
      kill(p, SIGTERM);
      common::WaitFor(p, absl::Seconds(5)).IgnoreError();
    }
    if (topology_) topology_->Teardown().IgnoreError();
  }
  bool ok() const { return topology_ && sshd_.size() == 2; }
  const std::string& address(int i) const { return topology_->hosts()[i].address; }

  // A pool file listing both machines (with `extra` added to the first one's entry).
  std::string PoolFile(const std::string& extra = "") const {
    std::string yaml = "hosts:\n";
    for (const auto& h : topology_->hosts()) {
      absl::StrAppend(&yaml, "  - name: ", h.name, "\n    address: ", h.address,
                      "\n    user: root\n    key: ", dir_, "/client_key\n    cpus: 2\n",
                      "    memory: 1Gi\n    labels: {rack: a}\n", h.name == "m1" ? extra : "");
    }
    const std::string path = dir_ + "/pool" + std::to_string(++files_) + ".yaml";
    std::ofstream(path) << yaml;
    return path;
  }

 private:
  std::string dir_;
  std::unique_ptr<NetnsTopology> topology_;
  std::vector<pid_t> sshd_;
  mutable int files_ = 0;
};

// Two workers on two ssh machines running the sample target from the build's copy there; load
// on worker-1; worker-2's instance killed a second in and restarted half a second later.
constexpr char kSshSuite[] = R"yaml(
name: it-ssh
jobs:
  - name: remote
    benchmark:
      build:
        repository: $REPO
        commands: ["mkdir -p bin && cp $TARGET bin/target"]
      stack:
        provider: ssh
        hosts:
          - {role: worker, count: 2, cpus: 1, memory: 256Mi}
        services:
          - name: api
            on: worker
            args: ["{srcdir}/bin/target", --listen, "{host}:{port:api}"]
            env: {MEMBER: "{index}"}
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", timeout: 20s}
      workload:
        duration: 3s
        repetitions: 2
        pause: 0s
        http:
          target: "http://{host:worker-1}:{port:api}"
          rate: 100
          connections: 4
          max_generator_lag_p99: 250ms
          requests: [{path: /api/items/1}]
        faults:
          actions:
            - {name: kill-2, action: kill, target: worker-2, service: api, at: 1s, restart_after: 500ms}
)yaml";

TEST_F(BenchmarkTest, AStackRunsOnSshHostsFromACopyOfTheBuildAndLeavesNothing) {
  if (std::string why = Missing(); !why.empty()) GTEST_SKIP() << why;
  SshMachines machines(dir_);
  ASSERT_TRUE(machines.ok());
  StartController();
  const std::string name = absl::StrCat("ssh-", getpid());
  StartAgent(name, {"--host-pool", machines.PoolFile()});
  Commit("--threads 4");
  const std::string suite = WriteSuite("ssh", kSshSuite);
  const int64_t id = Submit(suite, "", 0);
  const std::string logs = AllLogs(id);

  // It went to an agent whose pool has machines enough.
  const v1::Run run = GetRun(*stub_, id);
  EXPECT_EQ(run.jobs(0).spec().agent_selector().at("topology.ssh_hosts"), ">=2");
  EXPECT_EQ(run.jobs(0).spec().agent_selector().count("topology.netns"), 0u);
  std::string agents;
  EXPECT_EQ(Cli({"-o", "json", "agent", "list"}, &agents), 0) << agents;
  EXPECT_NE(agents.find("\"topology.ssh_hosts\": \"2\""), std::string::npos) << agents;

  // Connected, the build copied to each machine and the services started there from the copy.
  EXPECT_NE(logs.find("ssh hosts connected in"), std::string::npos) << logs;
  EXPECT_NE(logs.find("build copied to 2 ssh hosts"), std::string::npos) << logs;
  const std::string prefix = "/tmp/perfgate-hosts/" + agent::HostsPrefix(name);
  for (const char* host : {"worker-1", "worker-2"}) {
    EXPECT_NE(logs.find(absl::StrCat("service api.", host, " started (pid ")), std::string::npos)
        << logs;
    EXPECT_NE(logs.find(absl::StrCat("/", host, "/src/bin/target --listen")), std::string::npos)
        << "run from the build's copy on the machine: " << logs;
  }
  EXPECT_NE(logs.find("over ssh"), std::string::npos) << logs;

  // Measured, sampled there, and the fault landed and was undone.
  v1::RunResults r = Results(id);
  ASSERT_EQ(r.jobs(0).repetitions_size(), 2) << logs;
  for (const auto& rep : r.jobs(0).repetitions()) EXPECT_TRUE(rep.valid()) << rep.invalid_reason();
  EXPECT_GT(Median(r, "http.throughput"), 50) << "load reached worker-1 over the bridge";
  EXPECT_EQ(Median(r, "http.error_ratio"), 0) << "worker-1 was never touched";
  EXPECT_GT(Median(r, "proc.api.worker-1.rss_peak"), 1) << "read from the machine's /proc";
  EXPECT_GT(Median(r, "proc.api.worker-1.cpu_seconds"), 0) << "it served the load";
  Median(r, "proc.api.worker-2.rss_peak");  // present
  for (const auto& rep : r.jobs(0).repetitions()) {
    ASSERT_EQ(rep.faults_size(), 1);
    const v1::FaultRecord& f = rep.faults(0);
    EXPECT_EQ(f.host(), "worker-2");
    EXPECT_GE(f.applied_ms(), 1000) << f.error();
    EXPECT_GE(f.undone_ms(), f.applied_ms() + 500) << f.error();
    EXPECT_TRUE(f.error().empty()) << f.error();
  }
  auto count = [&](const std::string& what) { return Occurrences(logs, what); };
  EXPECT_EQ(count("service api.worker-2 started (pid "), 3) << "restarted in each repetition";
  EXPECT_EQ(count("service api.worker-2 ready after"), 3) << "and waited for: " << logs;
  EXPECT_EQ(count("service api.worker-1 started (pid "), 1) << logs;

  // Nothing of the attempt is left: no service, no directory, no master connection.
  EXPECT_NE(logs.find("ssh hosts cleaned"), std::string::npos) << logs;
  // ([/] and [C]: pgrep's own shell, whose command line holds the pattern, does not match it.)
  EXPECT_EQ(Shell("pgrep -f -c '[/]" + prefix.substr(1) + "' || true"), "0\n");
  EXPECT_EQ(Shell("ls -d " + prefix + "* 2>/dev/null | wc -l"), "0\n");
  EXPECT_EQ(Shell("pgrep -f -c '[C]ontrolPath=/tmp/perfgate-ssh/" + agent::HostsPrefix(name) +
                  "' || true"),
            "0\n");
}

// Killed -9 mid-job, the agent leaves its services running on the machines (children of their
// sshd) and its master connections; started again, it removes them before taking work.
TEST_F(BenchmarkTest, AnAgentKilledMidJobLeavesNothingOnItsSshHostsOnceRestarted) {
  if (std::string why = Missing(); !why.empty()) GTEST_SKIP() << why;
  SshMachines machines(dir_);
  ASSERT_TRUE(machines.ok());
  StartController();
  const std::string name = absl::StrCat("ssh-crash-", getpid());
  const std::string pool = machines.PoolFile();
  StartAgent(name, {"--host-pool", pool});
  Commit("--threads 4");
  std::string yaml = kSshSuite;
  yaml.replace(yaml.find("duration: 3s"), 12, "duration: 30s");
  yaml.replace(yaml.find("        faults:"), std::string::npos, "");
  // One attempt: the job lost with the agent is not run again by its next life, whose own
  // masters and services (same prefix) would be counted below as the earlier life's.
  yaml.replace(yaml.find("    benchmark:"), 0, "    max_attempts: 1\n");
  const int64_t id = Submit(WriteSuite("ssh-crash", yaml), "", -1);
  ASSERT_TRUE(WaitUntil([&] { return AllLogs(id).find("repetition 1/2") != std::string::npos; },
                        absl::Seconds(60)))
      << AllLogs(id);
  // The services themselves (not the agent's ssh clients, whose command lines name them too).
  const std::string services =
      "pgrep -f -c '^/tmp/perfgate-hosts/" + agent::HostsPrefix(name) + "' || true";
  EXPECT_EQ(Shell(services), "2\n") << "one instance on each machine";
  agents_[name]->process().Kill9();
  EXPECT_EQ(Shell(services), "2\n") << "they outlive the agent";

  StartAgent(name, {"--host-pool", pool});
  // Both test machines are this host: their clean-ups run at once on one /tmp, and either or
  // both may count the one directory.
  EXPECT_TRUE(WaitUntil(
      [&] {
        const std::string log = agents_[name]->process().Log();
        return log.find("leftovers_removed=1") != std::string::npos ||
               log.find("leftovers_removed=2") != std::string::npos;
      },
      absl::Seconds(30)))
      << agents_[name]->process().Log();
  EXPECT_TRUE(WaitUntil([&] { return Shell(services) == "0\n"; }, absl::Seconds(10)));
  EXPECT_EQ(Shell("ls /tmp/perfgate-hosts/ 2>/dev/null | grep -c '^" + agent::HostsPrefix(name) +
                  "' || true"),
            "0\n");
  EXPECT_TRUE(WaitUntil(
      [&] {
        return Shell("pgrep -f -c '[C]ontrolPath=/tmp/perfgate-ssh/" + agent::HostsPrefix(name) +
                     "' || true") == "0\n";
      },
      absl::Seconds(10)))
      << "the earlier life's master connections were told to exit";
}

TEST_F(BenchmarkTest, SshHostsRefuseBadPoolsAndNetworkFaults) {
  if (std::string why = Missing(); !why.empty()) GTEST_SKIP() << why;
  SshMachines machines(dir_);
  ASSERT_TRUE(machines.ok());
  StartController();
  // A bad pool file stops the agent, naming the line and field.
  struct Case {
    std::string yaml, want;
  };
  for (const Case& c : std::vector<Case>{
           {"hosts:\n  - name: a\n", "hosts[0].address: is required"},
           {"hosts:\n  - {name: a, address: x, port: 70000}\n", "hosts[0].port"},
           {"hosts:\n  - {name: a, address: x}\n  - {name: a, address: y}\n",
            "hosts[1].name: 'a' is given twice"},
           {"hosts:\n  - {name: a, address: x, key: relative}\n",
            "hosts[0].key: must be an absolute path"},
           {"hosts:\n  - {name: a, address: x, memory: lots}\n", "hosts[0].memory"},
           {"hosts:\n  - {name: a, address: x, colour: red}\n", "hosts[0].colour: unknown key"},
           {"machines: []\n", "machines: unknown key"},
       }) {
    const std::string path = dir_ + "/bad-pool.yaml";
    std::ofstream(path) << c.yaml;
    std::string out =
        Shell(BinaryPath("perfgate-agent") + " --controller " + controller_->address() +
              " --name bad --work-dir " + dir_ + "/bad-agent --host-pool " + path + " 2>&1");
    EXPECT_NE(out.find(c.want), std::string::npos) << c.yaml << "\n" << out;
  }
  // A machine that cannot be reached (no sshd on that port) fails the attempt naming it and
  // ssh's words.
  const std::string pool = dir_ + "/unreachable.yaml";
  std::ofstream(pool) << "hosts:\n  - {name: gone, address: " << machines.address(0)
                      << ", port: 2222, key: " << dir_ << "/client_key, user: root}\n";
  StartAgent("ssh-gone", {"--host-pool", pool});
  Commit("--threads 4");
  std::string yaml = kSshSuite;
  yaml.replace(yaml.find("    benchmark:"), 0, "    max_attempts: 1\n");
  yaml.replace(yaml.find("count: 2"), 8, "count: 1");
  yaml.replace(yaml.find("{host:worker-1}"), 15, "127.0.0.1");
  yaml.replace(yaml.find("        faults:"), std::string::npos, "");
  const int64_t id = Submit(WriteSuite("gone", yaml), "", -1);
  EXPECT_TRUE(
      WaitUntil([&] { return IsTerminal(GetRun(*stub_, id).state()); }, absl::Seconds(120)));
  const std::string logs = AllLogs(id);
  EXPECT_NE(logs.find(absl::StrCat("host worker-1 (gone, ", machines.address(0),
                                   "): ssh could not connect: ")),
            std::string::npos)
      << logs;
  EXPECT_NE(logs.find("Connection refused"), std::string::npos) << "ssh's words: " << logs;

  // Network faults change a host's network: refused at submit for ssh hosts.
  yaml = kSshSuite;
  yaml.replace(yaml.find("action: kill"), 12, "action: partition");
  yaml.replace(yaml.find("service: api, "), 14, "");
  yaml.replace(yaml.find("restart_after"), 13, "duration");
  std::string out;
  EXPECT_EQ(Cli({"run", "submit", "--suite", WriteSuite("ssh-partition", yaml)}, &out), 2) << out;
  EXPECT_NE(out.find("actions[0].action: partition changes a host's network"), std::string::npos)
      << out;
  yaml = kSshSuite;
  yaml.replace(yaml.find("provider: ssh"), 13, "provider: vm");
  EXPECT_EQ(Cli({"run", "submit", "--suite", WriteSuite("ssh-vm", yaml)}, &out), 2) << out;
  EXPECT_NE(out.find("provider: 'vm': want netns or ssh"), std::string::npos) << out;
}

}  // namespace
}  // namespace perfgate::testing
