// Benchmark jobs end to end: a real git repository of a system under test, built at a commit by
// a real agent, its stack started and measured under real load, results through the real
// controller into PostgreSQL and back out through the CLI.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "agent/hosts/netns_hosts.h"
#include "tests/integration/benchmark_fixture.h"

namespace perfgate::testing {
namespace {

constexpr char kHttpSuite[] = R"yaml(
name: it-http
jobs:
  - name: api
    benchmark:
      build:
        repository: $REPO
        commands: ["mkdir -p out && cp flags out/flags"]
      stack:
        services:
          - name: api
            args: [/bin/sh, -c, "exec $TARGET --listen {host}:{port:api} --threads 16 $(cat {srcdir}/out/flags)"]
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", timeout: 20s}
      workload:
        warmup: 1s
        duration: 2s
        repetitions: 3
        http:
          target: "http://{host}:{port:api}"
          rate: 100
          connections: 8
          # The tests share two cores with other tests: judge the pipeline, not the machine.
          max_generator_lag_p99: 250ms
          requests:
            - {name: list, path: /api/items}
            - {name: one, path: /api/items/3}
      limits:
        - {metric: http.error_ratio, max: 0}
)yaml";

TEST_F(BenchmarkTest, BaselineAndCandidateAreBuiltAtTheirCommitsAndMeasured) {
  StartController();
  StartAgent("a1");
  std::string base = Commit("--added-latency 0ms");
  std::string cand = Commit("--added-latency 5ms");
  std::string suite = WriteSuite("http", kHttpSuite);
  int64_t r1 = Submit(suite, base, 0);
  int64_t r2 = Submit(suite, cand, 0);

  v1::RunResults a = Results(r1), b = Results(r2);
  ASSERT_EQ(a.jobs_size(), 1);
  ASSERT_EQ(a.jobs(0).repetitions_size(), 3) << AllLogs(r1);
  ASSERT_EQ(b.jobs(0).repetitions_size(), 3) << AllLogs(r2);
  // Valid, but for a repetition the other tests on these two cores held back from its schedule
  // (the generator's own rule: rate achieved, lag) — never for another reason.
  auto machine = [](const v1::RepetitionResult& rep) {
    return absl::StrContains(rep.invalid_reason(), "achieved") ||
           absl::StrContains(rep.invalid_reason(), "generator lag");
  };
  int valid = 0;
  for (const auto& rep : a.jobs(0).repetitions()) {
    valid += rep.valid();
    EXPECT_TRUE(rep.valid() || machine(rep)) << rep.invalid_reason();
    EXPECT_EQ(rep.generator(), "http-open-loop");
  }
  EXPECT_GE(valid, 2) << "more than one repetition of three held back";
  EXPECT_NEAR(Median(a, "http.throughput"), 100, 3);
  EXPECT_NEAR(Median(a, "http.requests"), 200, 3) << "2 s at 100 req/s";
  EXPECT_LT(Median(a, "http.latency.p50"), 3.0);
  EXPECT_GE(Median(b, "http.latency.p50"), 5.0) << "the candidate commit adds 5 ms";
  EXPECT_GT(Median(a, "proc.api.rss_peak"), 1.0) << "MiB of the service, sampled from /proc";
  EXPECT_GT(Median(a, "proc.api.cpu_seconds"), 0.0);
  EXPECT_GE(Median(a, "http.list.requests"), 50) << "per-endpoint figures of the mix";
  // The second run of the same suite reuses nothing but the repository mirror; the baseline
  // commit is cached now.
  int64_t r3 = Submit(suite, base, 0);
  EXPECT_NE(AllLogs(r3).find("is cached"), std::string::npos);

  std::string table;
  ASSERT_EQ(Cli({"run", "results", std::to_string(r2)}, &table), 0) << table;
  int valid_b = 0;
  for (const auto& rep : b.jobs(0).repetitions()) valid_b += rep.valid();
  for (const std::string& want :
       {std::string("job api"), absl::StrCat("3 repetitions, ", valid_b, " valid"),
        std::string("http.latency.p50"), std::string("median"), std::string("proc.api.rss_peak")}) {
    EXPECT_NE(table.find(want), std::string::npos) << want << "\n" << table;
  }
}

TEST_F(BenchmarkTest, BuildFailuresAndBrokenLimitsFailTheRunWithoutRetry) {
  StartController();
  StartAgent("a1");
  std::string commit = Commit("--added-latency 2ms");
  std::string broken = WriteSuite(
      "broken",
      absl::StrReplaceAll(kHttpSuite, {{"mkdir -p out && cp flags out/flags",
                                        "echo 'error: no rule to make out' >&2; exit 2"}}));
  int64_t r1 = Submit(broken, commit, 1);
  v1::Run run = GetRun(*stub_, r1);
  ASSERT_EQ(run.jobs(0).attempts_size(), 1) << "a build failure is the code's fault: no retry";
  EXPECT_NE(run.jobs(0).message().find("build step 1"), std::string::npos) << run.jobs(0).message();
  EXPECT_NE(AllLogs(r1).find("error: no rule to make out"), std::string::npos);

  std::string strict = WriteSuite(
      "strict", absl::StrReplaceAll(kHttpSuite, {{"{metric: http.error_ratio, max: 0}",
                                                  "{metric: http.latency.p50, max: 1}"}}));
  int64_t r2 = Submit(strict, commit, 1);
  run = GetRun(*stub_, r2);
  EXPECT_EQ(run.jobs(0).attempts_size(), 1);
  EXPECT_NE(run.jobs(0).message().find("limits broken: http.latency.p50: median"),
            std::string::npos)
      << run.jobs(0).message();
  EXPECT_EQ(Results(r2).jobs(0).repetitions_size(), 3) << "the measurements are kept";
}

TEST_F(BenchmarkTest, WrkAndCommandGeneratorsReportThroughTheSamePath) {
  StartController();
  StartAgent("a1");
  std::string commit = Commit("--added-latency 0ms");
  std::string http_block = R"yaml(        http:
          target: "http://{host}:{port:api}"
          rate: 100
          connections: 8
          # The tests share two cores with other tests: judge the pipeline, not the machine.
          max_generator_lag_p99: 250ms
          requests:
            - {name: list, path: /api/items}
            - {name: one, path: /api/items/3}
)yaml";
  ASSERT_NE(std::string(kHttpSuite).find(http_block), std::string::npos);
  std::string wrk = WriteSuite(
      "wrk", absl::StrReplaceAll(
                 kHttpSuite,
                 {{http_block,
                   "        wrk: {url: \"http://{host}:{port:api}/api/items\", connections: 4}\n"},
                  {"{metric: http.error_ratio, max: 0}", "{metric: http.errors, max: 0}"}}));
  int64_t r1 = Submit(wrk, commit, 0);
  v1::RunResults a = Results(r1);
  ASSERT_EQ(a.jobs(0).repetitions_size(), 3) << AllLogs(r1);
  EXPECT_EQ(a.jobs(0).repetitions(0).generator(), "wrk");
  EXPECT_GT(Median(a, "http.throughput"), 100);
  EXPECT_GT(Median(a, "http.latency.p99"), 0);
  EXPECT_GT(Median(a, "proc.api.cpu_util"), 0.05) << "wrk keeps the service busy";

  std::string cmd =
      WriteSuite("cmd", absl::StrReplaceAll(kHttpSuite, {{http_block, R"yaml(        command: >-
          curl -s -o /dev/null -w '{"measurements": [{"name": "curl.seconds", "unit": "s", "value": %{{time_total}}]}'
          http://{host}:{port:api}/api/items
)yaml"},
                                                         {"{metric: http.error_ratio, max: 0}",
                                                          "{metric: curl.seconds, max: 5}"}}));
  int64_t r2 = Submit(cmd, commit, 0);
  v1::RunResults b = Results(r2);
  ASSERT_EQ(b.jobs(0).repetitions_size(), 3) << AllLogs(r2);
  EXPECT_EQ(b.jobs(0).repetitions(0).generator(), "command");
  EXPECT_GT(Median(b, "curl.seconds"), 0);
}

TEST_F(BenchmarkTest, CancelDuringRepetitionsTearsTheStackDown) {
  StartController();
  StartAgent("a1");
  std::string commit = Commit("--added-latency 0ms");
  std::string suite =
      WriteSuite("long", absl::StrReplaceAll(kHttpSuite, {{"repetitions: 3", "repetitions: 100"}}));
  int64_t id = Submit(suite, commit, -1);
  ASSERT_TRUE(
      WaitUntil([&] { return Results(id).jobs(0).repetitions_size() >= 1; }, absl::Seconds(60)))
      << AllLogs(id);
  std::smatch m;
  std::string logs = AllLogs(id);
  ASSERT_TRUE(std::regex_search(logs, m, std::regex("port api = (\\d+)"))) << logs;
  int port = std::stoi(m[1]);
  std::string out;
  ASSERT_EQ(Cli({"run", "cancel", std::to_string(id)}, &out), 0) << out;
  ASSERT_TRUE(WaitUntil([&] { return GetRun(*stub_, id).state() == v1::RUN_STATE_CANCELLED; },
                        absl::Seconds(30)));
  v1::Run run = GetRun(*stub_, id);
  ASSERT_EQ(run.jobs(0).attempts_size(), 1);
  EXPECT_EQ(run.jobs(0).attempts(0).outcome(), v1::ATTEMPT_OUTCOME_CANCELLED)
      << run.jobs(0).attempts(0).DebugString();
  // Nothing listens on the service's port any more.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  close(fd);
  EXPECT_NE(AllLogs(id).find("service api stopped"), std::string::npos) << AllLogs(id);
}

TEST_F(BenchmarkTest, RestoresARealPgDumpIntoTheStackAndRunsPgbench) {
  // The source database: a real PostgreSQL with a table, dumped in custom format and as gzipped
  // plain SQL, the way a production backup would be taken.
  std::string src = TestPostgres::Get().NewDatabase();
  std::ofstream(dir_ + "/src.sql")
      << "CREATE TABLE items (id int PRIMARY KEY, name text);\n"
         "INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 1000) g;\n"
         "CREATE TABLE notes (t text);\nINSERT INTO notes VALUES ('hello');\n";
  Sh("psql -X -q -v ON_ERROR_STOP=1 -d '" + src + "' -f " + dir_ + "/src.sql");
  Sh("pg_dump -Fc -t items -d '" + src + "' -f " + dir_ + "/items.dump");
  Sh("pg_dump -Fp -t notes -d '" + src + "' | gzip > " + dir_ + "/notes.sql.gz");
  std::ofstream(dir_ + "/index.sql") << "CREATE INDEX items_name ON items (name);\n";
  Sh("chmod 644 " + dir_ + "/items.dump " + dir_ + "/notes.sql.gz " + dir_ + "/index.sql");
  StartController();
  StartAgent("a1");
  std::string dsn = "postgresql://postgres@127.0.0.1:{port:db}/app";
  std::string suite = WriteSuite(
      "pg",
      absl::StrCat(R"x(
name: it-pg
jobs:
  - name: db
    benchmark:
      stack:
        services:
)x",
                   PostgresService(""), R"x(      fixtures:
        - {name: create, command: "psql -X -q -h 127.0.0.1 -p {port:db} -U postgres -c 'CREATE DATABASE app'"}
        - {name: items, pg_dump: ")x",
                   dir_, R"x(/items.dump", dsn: ")x", dsn, R"x("}
        - {name: notes, pg_dump: ")x",
                   dir_, R"x(/notes.sql.gz", dsn: ")x", dsn, R"x("}
        - {name: index, sql: ")x",
                   dir_, R"x(/index.sql", dsn: ")x", dsn, R"x("}
        - name: check
          command: >-
            test "$(psql -X -tA -d )x",
                   dsn, R"x( -c 'SELECT count(*) FROM items')" = 1000 &&
            test "$(psql -X -tA -d )x",
                   dsn, R"x( -c 'SELECT t FROM notes')" = hello &&
            test "$(psql -X -tA -d )x",
                   dsn,
                   R"x( -c "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_name'")" = 1 &&
            echo 'SELECT name FROM items WHERE id = 1 + (random() * 999)::int;' > {workdir}/q.sql
      workload:
        duration: 2s
        repetitions: 2
        pgbench: {dsn: ")x",
                   dsn, R"x(", clients: 2, args: [-n, -f, "{workdir}/q.sql"]}
)x"));
  int64_t id = Submit(suite, "", 0);
  std::string logs = AllLogs(id);
  EXPECT_NE(logs.find("loading custom-format dump"), std::string::npos) << logs;
  EXPECT_NE(logs.find("loading plain SQL (gzip)"), std::string::npos) << logs;
  v1::RunResults r = Results(id);
  ASSERT_EQ(r.jobs(0).repetitions_size(), 2) << logs;
  EXPECT_EQ(r.jobs(0).repetitions(0).generator(), "pgbench");
  EXPECT_GT(Median(r, "pg.tps"), 10);
  EXPECT_GT(Median(r, "pg.latency.p99"), 0);
  EXPECT_EQ(Median(r, "pg.failed"), 0);
  EXPECT_GT(Median(r, "proc.db.rss_peak"), 5) << "the whole postgres process tree, in MiB";
}

constexpr char kComposeSuite[] = R"yaml(
name: it-compose
jobs:
  - name: web
    benchmark:
      build:
        repository: $REPO
        commands: ["cp $(command -v busybox) busybox"]
      stack:
        compose:
          file: "{srcdir}/docker-compose.yml"
          ports: [web]
          ready: [{http: "http://{host}:{port:web}/index.html", timeout: 60s}]
      workload:
        duration: 1s
        repetitions: 2
        http: {target: "http://{host}:{port:web}", closed_loop: true, connections: 2, requests: [{path: /index.html}]}
)yaml";

// A repository whose compose file builds a busybox httpd image locally (no registry pulls).
void ComposeRepo(const std::string& repo) {
  Sh("mkdir -p " + repo + "/www && echo hello > " + repo + "/www/index.html");
  std::ofstream(repo + "/Dockerfile") << "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\n"
                                         "ENTRYPOINT [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", "
                                         "\"8080\", \"-h\", \"/www\"]\n";
  std::ofstream(repo + "/docker-compose.yml")
      << "version: \"2.4\"\nservices:\n  web:\n    build: .\n    image: perfgate-it-web:latest\n"
         "    ports: [\"127.0.0.1:${PERFGATE_PORT_WEB}:8080\"]\n";
  Sh("cd " + repo +
     " && git init -q && git config user.email t@x && git config user.name t && "
     "git add -A && git commit -qm web");
}

TEST_F(BenchmarkTest, ComposeStackBuildsItsImageLocallyAndIsTornDown) {
  if (system("docker info >/dev/null 2>&1") != 0 || system("which docker-compose >/dev/null") != 0)
    GTEST_SKIP() << "no Docker engine here (tools/test.sh starts one where it can)";
  ComposeRepo(repo_ = dir_ + "/web");
  StartController();
  // Named after this test's process: its compose project is the agent's, as on a machine whose
  // Docker engine serves agents of other controllers (here: other tests) at once.
  const std::string name = absl::StrCat("compose-", getpid());
  StartAgent(name);
  std::string suite = WriteSuite("compose", kComposeSuite);
  int64_t id = Submit(suite, "HEAD", 0);
  std::string logs = AllLogs(id);
  v1::RunResults r = Results(id);
  ASSERT_EQ(r.jobs(0).repetitions_size(), 2) << logs;
  EXPECT_EQ(r.jobs(0).repetitions(0).generator(), "http-closed-loop");
  EXPECT_GT(Median(r, "http.throughput"), 10);
  EXPECT_GT(Median(r, "proc.web.rss_peak"), 0.0) << "the container's processes, from /proc";
  EXPECT_NE(logs.find("down -v"), std::string::npos);
  v1::Run run = GetRun(*stub_, id);
  const std::string project =
      absl::StrCat("perfgate-", agent::HostsPrefix(name), "-", run.jobs(0).attempts(0).id());
  EXPECT_EQ(ShOut("docker ps -aq --filter label=com.docker.compose.project=" + project), "")
      << "the attempt's containers are gone";
}

// dockerd keeps a compose stack's containers running when the agent dies: its next life takes
// the project down before it takes work.
TEST_F(BenchmarkTest, AComposeProjectOfAKilledAgentIsTakenDownByItsNextLife) {
  if (system("docker info >/dev/null 2>&1") != 0 || system("which docker-compose >/dev/null") != 0)
    GTEST_SKIP() << "no Docker engine here (tools/test.sh starts one where it can)";
  ComposeRepo(repo_ = dir_ + "/web");
  StartController();
  const std::string name = absl::StrCat("compose-", getpid());
  StartAgent(name);
  std::string suite = WriteSuite(
      "compose", absl::StrReplaceAll(kComposeSuite, {{"duration: 1s", "duration: 60s"},
                                                     {"repetitions: 2", "repetitions: 1"}}));
  int64_t id = Submit(suite, "HEAD", -1);
  ASSERT_TRUE(WaitUntil([&] { return AllLogs(id).find("ready: 1") != std::string::npos; },
                        absl::Seconds(120)))
      << AllLogs(id);
  const std::string project = absl::StrCat("perfgate-", agent::HostsPrefix(name), "-",
                                           GetRun(*stub_, id).jobs(0).attempts(0).id());
  const std::string ps = "docker ps -aq --filter label=com.docker.compose.project=" + project;
  agents_[name]->process().Kill9();
  ASSERT_NE(ShOut(ps), "") << "the containers outlive the agent";
  StartAgent(name);
  EXPECT_TRUE(WaitUntil([&] { return ShOut(ps).empty(); }, absl::Seconds(30)))
      << "the project's containers are still there";
  EXPECT_EQ(ShOut("docker network ls -q --filter label=com.docker.compose.project=" + project), "");
  v1::CancelRunRequest c;
  c.set_id(id);
  v1::Run r;
  stub_->CancelRun(Ctx().get(), c, &r);
  EXPECT_TRUE(WaitUntil(
      [&] {
        return AllLogs(id).find("removed its compose project " + project) != std::string::npos;
      },
      absl::Seconds(30)))
      << AllLogs(id);
}

// A microbenchmark suite CI already has: Google Benchmark's JSON read by a harness job on a real
// agent, every repetition stored, and a candidate that sums four times over judged a regression
// against the branch's baseline (12 repetitions a side, so that a few disturbed by the other
// tests on this machine do not make the difference insignificant).
TEST_F(BenchmarkTest, HarnessJobsStoreEveryRepetitionAndACandidateIsJudged) {
  StartController();
  StartAgent("a1");
  auto write = [&](const std::string& name, const std::string& slow) {
    return WriteSumSuite(
        name, slow,
        "      limits:\n        - {metric: gbench.BM_Sum_4096.items_per_second, min: 1}\n");
  };
  int64_t base = SubmitKind(write("base", "1"), "", "baseline", "main");
  v1::RunResults r = Results(base);
  ASSERT_EQ(r.jobs(0).repetitions_size(), 12) << "3 runs x 4 repetitions\n" << AllLogs(base);
  EXPECT_EQ(r.jobs(0).repetitions(11).repetition(), 12);
  EXPECT_EQ(r.jobs(0).repetitions(0).generator(), "harness:google-benchmark");
  EXPECT_GT(Median(r, "gbench.BM_Sum_4096"), 0);
  EXPECT_NE(AllLogs(base).find("google-benchmark run 3/3 done: 4 repetitions"), std::string::npos)
      << AllLogs(base);

  int64_t cand = SubmitKind(write("cand", "4"), "", "candidate", "feature");
  v1::Comparison c = Compared(cand);
  const v1::MetricComparison* m = Metric(c, "gbench.BM_Sum_4096");
  ASSERT_NE(m, nullptr) << c.summary();
  EXPECT_EQ(m->verdict(), v1::VERDICT_REGRESSION) << m->reason();
  const v1::MetricComparison* rate = Metric(c, "gbench.BM_Sum_4096.items_per_second");
  ASSERT_NE(rate, nullptr);
  EXPECT_EQ(rate->verdict(), v1::VERDICT_REGRESSION)
      << "fewer items/s is worse: " << rate->reason();
  EXPECT_EQ(c.verdict(), v1::VERDICT_REGRESSION) << c.summary();
}

}  // namespace
}  // namespace perfgate::testing
