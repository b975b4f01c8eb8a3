// The job sandbox end to end (agent/exec/job_sandbox.h): job code sees only its own
// environment; a daemon that leaves its process group dies with the attempt (teardown, cancel,
// the agent's kill -9 and restart); run as --job-user it cannot read the agent's token, and
// cannot upload for any attempt without it. Root-only parts report SKIPPED with the reason.
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "agent/exec/job_sandbox.h"
#include "agent/hosts/cgroup.h"
#include "tests/integration/benchmark_fixture.h"

namespace perfgate::testing {
namespace {

// Why attempt groups cannot be tested here, or "".
std::string NoCgroups() {
  if (geteuid() != 0) return "attempt control groups need root";
  if (auto v = agent::Cgroup::Detect(); !v.ok()) return std::string(v.status().message());
  return "";
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Running (a zombie waiting for whoever adopted it counts as dead).
bool Alive(pid_t pid) {
  if (pid <= 0) return false;
  const std::string stat = Slurp(absl::StrCat("/proc/", pid, "/stat"));
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

class SandboxTest : public BenchmarkTest {
 protected:
  // A command that starts a daemon out of its process group and session (setsid, double fork),
  // which writes its pid to `pid_file`, waits for it to be up, then runs `then`.
  std::string DaemonThen(const std::string& pid_file, const std::string& then) {
    return absl::StrCat("(setsid sh -c 'echo $$ > ", pid_file, ".tmp && mv ", pid_file, ".tmp ",
                        pid_file, " && exec sleep 300' </dev/null >/dev/null 2>&1 &); ",
                        "while [ ! -s ", pid_file, " ]; do sleep 0.05; done; ", then);
  }
  pid_t WaitForPid(const std::string& pid_file) {
    pid_t pid = 0;
    EXPECT_TRUE(WaitUntil([&] { return (pid = std::atoi(Slurp(pid_file).c_str())) > 0; },
                          absl::Seconds(20)))
        << "the daemon never started";
    return pid;
  }
  std::string Logs(int64_t run) {
    std::string all;
    for (const auto& c : RunLogs(*stub_, run)) all += c.data();
    return all;
  }
};

TEST_F(SandboxTest, JobCodeSeesOnlyItsOwnEnvironment) {
  // Something only the agent's environment holds (as a credential would).
  setenv("PERFGATE_TEST_AGENT_SECRET", "agent-only-value", 1);
  StartController();
  StartAgent("env");
  unsetenv("PERFGATE_TEST_AGENT_SECRET");
  v1::SubmitRunRequest req;
  auto* job = req.mutable_spec()->add_jobs();
  job->set_name("env");
  job->mutable_command()->set_command("env | sort");
  (*job->mutable_command()->mutable_env())["DECLARED"] = "by-the-suite";
  v1::SubmitRunResponse resp;
  ASSERT_TRUE(stub_->SubmitRun(Ctx().get(), req, &resp).ok());
  v1::Run run = WaitForRunEnd(*stub_, resp.run().id());
  ASSERT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED);
  const std::string env = Logs(run.id());
  EXPECT_EQ(env.find("agent-only-value"), std::string::npos) << env;
  for (const char* want :
       {"DECLARED=by-the-suite", "PERFGATE_ATTEMPT_ID=", "PATH=", "HOME=", "LANG="})
    EXPECT_NE(env.find(want), std::string::npos) << want << " missing:\n" << env;
}

TEST_F(SandboxTest, ADaemonLeavingItsProcessGroupDiesWithTheAttempt) {
  if (std::string why = NoCgroups(); !why.empty()) GTEST_SKIP() << why;
  StartController();
  StartAgent("sandbox");

  // Teardown: the command returns at once; its daemon must not outlive the attempt.
  const std::string p1 = JobDrop() + "/teardown.pid";
  v1::Run done = SubmitCommand(*stub_, DaemonThen(p1, "echo started"));
  pid_t d1 = WaitForPid(p1);
  EXPECT_EQ(WaitForRunEnd(*stub_, done.id()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_TRUE(WaitUntil([&] { return !Alive(d1); }, absl::Seconds(10)))
      << "the daemon " << d1 << " survived the attempt's teardown";
  EXPECT_NE(Logs(done.id()).find("left running (its control group)"), std::string::npos)
      << "the kill is said in the log";

  // Cancel.
  const std::string p2 = JobDrop() + "/cancel.pid";
  v1::Run cancelled = SubmitCommand(*stub_, DaemonThen(p2, "sleep 300"));
  pid_t d2 = WaitForPid(p2);
  v1::CancelRunRequest c;
  c.set_id(cancelled.id());
  v1::Run r;
  ASSERT_TRUE(stub_->CancelRun(Ctx().get(), c, &r).ok());
  EXPECT_EQ(WaitForRunEnd(*stub_, cancelled.id()).state(), v1::RUN_STATE_CANCELLED);
  EXPECT_TRUE(WaitUntil([&] { return !Alive(d2); }, absl::Seconds(10)))
      << "the daemon " << d2 << " survived the cancel";

  // A benchmark's service that daemonises a helper: gone with the stack's teardown.
  Commit("--threads 2");
  const std::string p4 = JobDrop() + "/service.pid";
  const std::string suite = absl::StrReplaceAll(R"yaml(
name: daemonising
jobs:
  - name: api
    benchmark:
      build: {repository: $REPO, commands: ["true"]}
      stack:
        services:
          - name: api
            args: [/bin/sh, -c, "$DAEMON exec $TARGET --listen {host}:{port:api}"]
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", timeout: 20s}
      workload:
        duration: 1s
        repetitions: 1
        http: {target: "http://{host}:{port:api}", rate: 20, connections: 1, max_generator_lag_p99: 250ms, requests: [{path: /healthz}]}
)yaml",
                                                {{"$DAEMON", DaemonThen(p4, "")}});
  const int64_t bench = Submit(WriteSuite("daemonising", suite), "HEAD", 0);
  pid_t d4 = WaitForPid(p4);
  EXPECT_TRUE(WaitUntil([&] { return !Alive(d4); }, absl::Seconds(10)))
      << "the service's daemon " << d4 << " survived the stack's teardown\n"
      << AllLogs(bench);

  // The agent killed outright and restarted: its next life kills what the attempt left.
  const std::string p3 = JobDrop() + "/restart.pid";
  v1::Run orphaned = SubmitCommand(*stub_, DaemonThen(p3, "sleep 300"));
  pid_t d3 = WaitForPid(p3);
  agents_["sandbox"]->process().Kill9();
  ASSERT_TRUE(Alive(d3)) << "the daemon must outlive the agent's death to be tested";
  StartAgent("sandbox");
  EXPECT_TRUE(WaitUntil([&] { return !Alive(d3); }, absl::Seconds(20)))
      << "the daemon " << d3 << " survived the agent's restart";
  c.set_id(orphaned.id());
  stub_->CancelRun(Ctx().get(), c, &r);
}

constexpr char kJailedSuite[] = R"yaml(
name: jailed
jobs:
  - name: api
    benchmark:
      build:
        repository: $REPO
        commands: ["sh attack.sh", "mkdir -p out && cp flags out/flags"]
      stack:
        services:
          - name: api
            args: [/bin/sh, -c, "id -un > $DROP/api.user; exec $TARGET --listen {host}:{port:api} $(cat {srcdir}/out/flags)"]
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", timeout: 20s}
      workload:
        duration: 1s
        repetitions: 2
        http:
          target: "http://{host}:{port:api}"
          rate: 50
          connections: 2
          max_generator_lag_p99: 250ms
          requests:
            - {name: list, path: /api/items}
)yaml";

// Why a job user cannot be tested here ("" when it can): it needs root, the perfgate-job
// account (made here when missing, as tools/install-deps.sh does), a user switch this machine
// allows, and a build tree other users may enter.
std::string NoJobUser() {
  if (geteuid() != 0) return "switching to a job user needs root";
  if (!OpenToOthers(BinaryPath("perfgate-sample-target")))
    return "the built binaries' directories are closed to other users, so a job user could not "
           "run the sample target";
  if (getpwnam("perfgate-job") == nullptr) {
    int code = -1;
    common::SpawnOptions o;
    o.argv = {"useradd", "--system",          "--no-create-home",
              "--shell", "/usr/sbin/nologin", "perfgate-job"};
    auto r = common::RunAndCapture(o, &code);
    if (code != 0) return "useradd perfgate-job: " + r.value_or("");
  }
  if (auto user = agent::LookupJobUser("perfgate-job"); !user.ok())
    return std::string(user.status().message());
  return "";
}

// A benchmark whose build step, run as the default job user (no --job-user given), tries the
// agent's token file and an upload for another attempt: both fail, and the run's own build,
// service and results are intact.
TEST_F(SandboxTest, AJobAsTheJobUserCannotReadTheAgentsTokenNorUploadWithoutIt) {
  if (auto why = NoJobUser(); !why.empty()) GTEST_SKIP() << why;
  chmod(dir_.c_str(), 0711);  // the job must reach its own directories under ours
  const std::string tokens = dir_ + "/agent-tokens", token = dir_ + "/agent.token";
  std::ofstream(tokens) << "jailed jailed-token-0123456789\n";
  std::ofstream(token) << "jailed-token-0123456789\n";
  chmod(tokens.c_str(), 0600);
  chmod(token.c_str(), 0600);
  ControllerOptions co;
  co.extra_args = {"--agent-token-file", tokens};
  StartController(co);
  StartAgent("jailed", {"--token-file", token});  // the default job user
  Commit("--threads 2");
  // The attack, committed to the repository the suite builds: the token, then UploadResults
  // for another attempt by hand over HTTP/2 (attempt 424242, epoch 1, one repetition), with no
  // token since it has none.
  std::ofstream(repo_ + "/attack.sh") << absl::StrCat(
      "id -un\n", "cat ", token, " && echo TOKEN-READ\n",
      "printf '\\000\\000\\000\\000\\012\\010\\262\\362\\031\\020\\001\\032\\002\\010\\001' > "
      "req\n",
      "curl -s -o /dev/null -D - --http2-prior-knowledge -H 'content-type: application/grpc' ",
      "-H 'te: trailers' --data-binary @req http://", controller_->address(),
      "/perfgate.v1.AgentGateway/UploadResults | tr -d '\\r' | grep -i '^grpc-'\n",
      "echo the attack ran to its end\n");
  Sh("git -C " + repo_ + " add attack.sh");
  const std::string commit = Commit("--threads 2");
  const std::string drop = JobDrop();  // where the service says who it runs as
  const int64_t id =
      Submit(WriteSuite("jailed", absl::StrReplaceAll(kJailedSuite, {{"$DROP", drop}})), commit, 0);
  const std::string logs = AllLogs(id);
  EXPECT_NE(logs.find("\nperfgate-job\n"), std::string::npos) << logs;
  EXPECT_NE(logs.find("Permission denied"), std::string::npos) << logs;
  EXPECT_EQ(logs.find("\nTOKEN-READ\n"), std::string::npos) << logs;
  EXPECT_NE(logs.find("grpc-status: 16"), std::string::npos) << "UNAUTHENTICATED:\n" << logs;
  EXPECT_NE(logs.find("the attack ran to its end"), std::string::npos) << logs;
  // The run's own build, service (as the job user) and measurements came through.
  v1::RunResults res = Results(id);
  ASSERT_EQ(res.jobs_size(), 1);
  EXPECT_EQ(res.jobs(0).repetitions_size(), 2);
  for (const auto& rep : res.jobs(0).repetitions())
    EXPECT_TRUE(rep.valid()) << rep.invalid_reason();
  EXPECT_GT(Median(res, "http.requests"), 0);
  EXPECT_EQ(Slurp(drop + "/api.user"), "perfgate-job\n") << "the service ran as the job user";
}

// An agent that is not root cannot switch users: the default job user is given up with a
// warning saying why (the agent serves, its jobs run as itself), a --job-user named on purpose
// stops it with the reason.
TEST_F(SandboxTest, ANonRootAgentGivesUpTheDefaultJobUserButNotANamedOne) {
  if (auto why = NoJobUser(); !why.empty()) GTEST_SKIP() << why;
  StartController();
  const passwd* pw = getpwnam("perfgate-job");
  ASSERT_NE(pw, nullptr);
  const std::string work = dir_ + "/agent-unprivileged";
  std::filesystem::create_directories(work);
  ASSERT_EQ(chown(work.c_str(), pw->pw_uid, pw->pw_gid), 0);
  auto as_job_user = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {"runuser",
                                     "-u",
                                     "perfgate-job",
                                     "--",
                                     BinaryPath("perfgate-agent"),
                                     "--controller",
                                     controller_->address(),
                                     "--name",
                                     "unprivileged",
                                     "--work-dir",
                                     work,
                                     "--http-listen",
                                     "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  };
  common::SpawnOptions named;
  named.argv = as_job_user({"--job-user", "perfgate-job"});
  int code = 0;
  auto out = common::RunAndCapture(named, &code);
  EXPECT_NE(code, 0);
  EXPECT_NE(out.value_or("").find("--job-user perfgate-job: only an agent running as root can "
                                  "switch users"),
            std::string::npos)
      << out.value_or("");

  ChildProcess agent("unprivileged agent", as_job_user({}), dir_ + "/agent-unprivileged.log");
  EXPECT_TRUE(WaitUntil([&] { return AgentConnected("unprivileged"); }, absl::Seconds(20)))
      << agent.Log();
  EXPECT_NE(agent.Log().find("jobs run as the agent's own user: the default job user is not "
                             "usable\" reason=\"--job-user perfgate-job: only an agent running "
                             "as root"),
            std::string::npos)
      << agent.Log();
  agent.Terminate();  // runuser passes SIGTERM on and exits 143 itself
}

}  // namespace
}  // namespace perfgate::testing
