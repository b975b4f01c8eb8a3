// The benchmark runner's pieces against real files, real git repositories and real processes.
#include <signal.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "agent/bench/benchmark_runner.h"
#include "agent/bench/build_cache.h"
#include "agent/bench/fixtures.h"
#include "agent/bench/generators.h"
#include "agent/bench/resource_sampler.h"
#include "agent/bench/stack.h"
#include "agent/exec/bench_context.h"
#include "agent/exec/readiness.h"
#include "common/net/local_port.h"
#include "common/process/subprocess.h"
#include "common/spec/run_spec_rules.h"
#include "gtest/gtest.h"
#include "tests/harness/processes.h"
#include "tests/harness/test_postgres.h"
#include "tests/unit/agent/bench_fixture.h"

namespace perfgate::agent {
namespace {

TEST(GeneratorParsersTest, ReadsWrkLatencyReport) {
  const char* out = R"(Running 10s test @ http://127.0.0.1:8080/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   135.21us   45.71us   2.33ms   86.42%
    Req/Sec    70.94k     3.15k   76.39k    72.28%
  Latency Distribution
     50%  127.00us
     75%  146.00us
     90%  175.00us
     99%    1.20ms
  713175 requests in 10.10s, 115.62MB read
  Socket errors: connect 1, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 12
Requests/sec:  70611.45
Transfer/sec:     11.45MB
)";
  v1::RepetitionResult r;
  ASSERT_TRUE(ParseWrkOutput(out, &r).ok());
  EXPECT_DOUBLE_EQ(Find(r, "http.throughput")->value(), 70611.45);
  EXPECT_EQ(Find(r, "http.throughput")->direction(), v1::DIRECTION_HIGHER_IS_BETTER);
  EXPECT_DOUBLE_EQ(Find(r, "http.latency.p50")->value(), 0.127);
  EXPECT_DOUBLE_EQ(Find(r, "http.latency.p99")->value(), 1.2);
  EXPECT_DOUBLE_EQ(Find(r, "http.latency.mean")->value(), 0.13521);
  EXPECT_DOUBLE_EQ(Find(r, "http.latency.max")->value(), 2.33);
  EXPECT_EQ(Find(r, "http.requests")->value(), 713175);
  EXPECT_EQ(Find(r, "http.errors")->value(), 1 + 2 + 5 + 12);
  v1::RepetitionResult empty;
  EXPECT_FALSE(
      ParseWrkOutput("unable to connect to 127.0.0.1:1 Connection refused\n", &empty).ok());
}

TEST(GeneratorParsersTest, ReadsPgbenchSummary) {
  const char* out = R"(pgbench (15.8 (Debian 15.8-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 1
query mode: simple
number of clients: 4
number of threads: 1
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 61234
number of failed transactions: 0 (0.000%)
latency average = 0.326 ms
latency stddev = 0.101 ms
initial connection time = 12.345 ms
tps = 12246.817342 (without initial connection time)
)";
  v1::RepetitionResult r;
  ASSERT_TRUE(ParsePgbenchOutput(out, &r).ok());
  EXPECT_DOUBLE_EQ(Find(r, "pg.tps")->value(), 12246.817342);
  EXPECT_DOUBLE_EQ(Find(r, "pg.latency.mean")->value(), 0.326);
  EXPECT_DOUBLE_EQ(Find(r, "pg.latency.stddev")->value(), 0.101);
  EXPECT_EQ(Find(r, "pg.transactions")->value(), 61234);
  EXPECT_EQ(Find(r, "pg.failed")->value(), 0);
}

TEST(GeneratorParsersTest, ReadsCommandJsonAndNamesBadFields) {
  v1::RepetitionResult r;
  ASSERT_TRUE(ParseCommandOutput(R"({"measurements": [
      {"name": "ops", "value": 1200, "unit": "op/s", "lower_is_better": false},
      {"name": "lat", "value": 1.5, "unit": "ms", "direction": "lower_is_better"}],
      "valid": false, "invalid_reason": "noisy neighbour"})",
                                 &r)
                  .ok());
  EXPECT_EQ(Find(r, "ops")->direction(), v1::DIRECTION_HIGHER_IS_BETTER);
  EXPECT_EQ(Find(r, "lat")->value(), 1.5);
  EXPECT_FALSE(r.valid());
  EXPECT_EQ(r.invalid_reason(), "noisy neighbour");
  struct Case {
    const char* json;
    const char* want;
  } cases[] = {
      {"not json", "not a JSON object"},
      {"{}", "measurements: a list is required"},
      {R"({"measurements": [{"value": 1}]})", "measurements[0].name"},
      {R"({"measurements": [{"name": "x", "value": "1"}]})", "measurements[0].value"},
      {R"({"measurements": [{"name": "x", "value": 1, "direction": "up"}]})",
       "measurements[0].direction"},
  };
  for (const auto& c : cases) {
    v1::RepetitionResult bad;
    auto s = ParseCommandOutput(c.json, &bad);
    ASSERT_FALSE(s.ok()) << c.json;
    EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
  }
}

TEST(LimitsTest, MediansOfValidRepetitionsAgainstMinAndMax) {
  std::vector<v1::RepetitionResult> reps(4);
  double p99[] = {10, 12, 11, 500};  // the 500 is from an invalid repetition
  for (int i = 0; i < 4; ++i) {
    reps[i].set_valid(i < 3);
    auto* m = reps[i].add_measurements();
    m->set_name("http.latency.p99");
    m->set_unit("ms");
    m->set_value(p99[i]);
  }
  google::protobuf::RepeatedPtrField<v1::MetricLimit> limits;
  limits.Add()->set_metric("http.latency.p99");
  limits[0].set_max(11.5);
  EXPECT_TRUE(CheckLimits(limits, reps).empty());
  limits[0].set_max(10.5);
  auto broken = CheckLimits(limits, reps);
  ASSERT_EQ(broken.size(), 1u);
  EXPECT_EQ(broken[0], "http.latency.p99: median 11 ms > max 10.5");
  limits.Add()->set_metric("absent");
  limits[1].set_min(1);
  EXPECT_EQ(CheckLimits(limits, reps).size(), 2u);
}

TEST_F(BenchFilesTest, DetectsDumpFormatsThroughGzip) {
  Write(dir_ + "/plain.sql", "CREATE TABLE t (x int);\n");
  Write(dir_ + "/custom.dump", std::string("PGDMP\x01\x0e\x00", 8) + "rest");
  gzFile gz = gzopen((dir_ + "/custom.dump.gz").c_str(), "wb");
  gzwrite(gz, "PGDMP\x01\x0e", 7);
  gzclose(gz);
  gz = gzopen((dir_ + "/plain.sql.gz").c_str(), "wb");
  gzwrite(gz, "SELECT 1;\n", 10);
  gzclose(gz);
  bool gzipped = true;
  EXPECT_EQ(*DetectDumpFormat(dir_ + "/plain.sql", &gzipped), DumpFormat::kPlainSql);
  EXPECT_FALSE(gzipped);
  EXPECT_EQ(*DetectDumpFormat(dir_ + "/custom.dump", &gzipped), DumpFormat::kCustom);
  EXPECT_EQ(*DetectDumpFormat(dir_ + "/custom.dump.gz", &gzipped), DumpFormat::kCustom);
  EXPECT_TRUE(gzipped);
  EXPECT_EQ(*DetectDumpFormat(dir_ + "/plain.sql.gz", &gzipped), DumpFormat::kPlainSql);
  EXPECT_TRUE(gzipped);
  EXPECT_TRUE(absl::IsNotFound(DetectDumpFormat(dir_ + "/missing", &gzipped).status()));
}

TEST_F(BenchFilesTest, BuildsACommitOnceAndReportsBadCommitsAndBuilds) {
  std::string repo = dir_ + "/repo";
  Sh("git init -q " + repo + " && cd " + repo +
     " && git config user.email t@x && git config user.name t && echo one > v && git add v && "
     "git commit -qm one && git tag first && echo two > v && git commit -qam two");
  // Specs here are built as the controller hands them to the agent: defaults filled in.
  v1::BuildSpec b;
  b.set_repository(repo);
  b.set_timeout_seconds(common::kDefaultBuildTimeoutSeconds);
  // Counts builds in a file outside the checkout, and copies the commit's content.
  b.add_commands("echo built >> " + dir_ + "/builds.txt && cp v built-v");
  BuildCache cache(dir_ + "/cache");
  auto src = cache.Prepare(b, "first", *ctx_);
  ASSERT_TRUE(src.ok()) << src.status() << Log();
  EXPECT_EQ(ctx_->vars["srcdir"], *src);
  std::ifstream built(*src + "/built-v");
  std::string v;
  built >> v;
  EXPECT_EQ(v, "one");
  auto again = cache.Prepare(b, "first", *ctx_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *src);
  EXPECT_NE(Log().find("is cached"), std::string::npos);
  std::ifstream counts(dir_ + "/builds.txt");
  int n = 0;
  for (std::string line; std::getline(counts, line);) ++n;
  EXPECT_EQ(n, 1) << "the second Prepare reused the build";
  // A new commit in the repository is fetched.
  Sh("cd " + repo + " && echo three > v && git commit -qam three");
  auto head = cache.Prepare(b, "HEAD", *ctx_);
  ASSERT_TRUE(head.ok()) << head.status();
  std::ifstream(*head + "/built-v") >> v;
  EXPECT_EQ(v, "three");

  auto bad = cache.Prepare(b, "no-such-commit", *ctx_);
  EXPECT_TRUE(absl::IsFailedPrecondition(bad.status()));
  EXPECT_NE(bad.status().message().find("no-such-commit"), std::string::npos);
  v1::BuildSpec failing = b;
  failing.set_commands(0, "echo compiler says no >&2; exit 4");
  Sh("cd " + repo + " && echo four > v && git commit -qam four");
  auto broken = cache.Prepare(failing, "HEAD", *ctx_);
  EXPECT_TRUE(absl::IsFailedPrecondition(broken.status()));
  EXPECT_NE(broken.status().message().find("build step 1"), std::string::npos);
  EXPECT_NE(broken.status().message().find("exit code 4"), std::string::npos);
  EXPECT_NE(Log().find("compiler says no"), std::string::npos) << "build output is in the log";
  v1::BuildSpec nowhere = b;
  nowhere.set_repository(dir_ + "/no-repo");
  EXPECT_TRUE(absl::IsFailedPrecondition(cache.Prepare(nowhere, "HEAD", *ctx_).status()));
}

TEST_F(BenchFilesTest, ReadsAFileAtACommitFromTheMirrorOnly) {
  const std::string repo = dir_ + "/repo";
  Sh("git init -q " + repo + " && cd " + repo +
     " && git config user.email t@x && git config user.name t && mkdir -p .perfgate && echo "
     "'name: first' > .perfgate/suite.yaml && ln -s /etc/hostname .perfgate/link.yaml && git add "
     "-A && git commit -q -m one && echo 'name: second' > .perfgate/suite.yaml && git commit -q "
     "-am two");
  std::string first;
  {
    FILE* p = popen(("git -C " + repo + " rev-parse HEAD~1").c_str(), "r");
    char buf[64] = {};
    ASSERT_NE(fgets(buf, sizeof buf, p), nullptr);
    pclose(p);
    first = std::string(buf, 40);
  }
  BuildCache cache(dir_ + "/cache");
  auto at_first = cache.ReadFile(repo, first, ".perfgate/suite.yaml", 1 << 20, *ctx_);
  ASSERT_TRUE(at_first.ok()) << at_first.status() << Log();
  EXPECT_EQ(*at_first, "name: first\n") << "the file as the commit has it, not the branch's";
  EXPECT_EQ(*cache.ReadFile(repo, "", ".perfgate/suite.yaml", 1 << 20, *ctx_), "name: second\n");
  auto missing = cache.ReadFile(repo, first, "nope.yaml", 1 << 20, *ctx_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "commit " + first.substr(0, 12) + " has no file nope.yaml");
  auto dir = cache.ReadFile(repo, first, ".perfgate", 1 << 20, *ctx_);
  ASSERT_FALSE(dir.ok());
  EXPECT_TRUE(absl::StrContains(dir.status().message(), "(a tree)")) << dir.status();
  // A symlink is read as git stores it (its target's name), never followed out of the repository.
  EXPECT_EQ(*cache.ReadFile(repo, first, ".perfgate/link.yaml", 1 << 20, *ctx_), "/etc/hostname");
  auto big = cache.ReadFile(repo, first, ".perfgate/suite.yaml", 4, *ctx_);
  ASSERT_FALSE(big.ok());
  EXPECT_TRUE(absl::StrContains(big.status().message(), "is 12 bytes; at most 4")) << big.status();
  auto unknown = cache.ReadFile(repo, std::string(40, 'e'), ".perfgate/suite.yaml", 1 << 20, *ctx_);
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "is not in")) << unknown.status();
}

TEST_F(BenchFilesTest, ListsTheFirstParentLineAndIntoAMergedBranchFromWhereItForked) {
  // main: A B M C, where M merges the branch X1 X2 that forked at A.
  const std::string repo = dir_ + "/repo";
  Sh("git init -q -b main " + repo + " && cd " + repo +
     " && git config user.email t@x && git config user.name t && git commit -q --allow-empty -m "
     "A && git tag A && git checkout -q -b feature && git commit -q --allow-empty -m X1 && git "
     "commit -q --allow-empty -m X2 && git tag X2 && git checkout -q main && git commit -q "
     "--allow-empty -m B && git tag B && git merge -q --no-ff -m M feature && git commit -q "
     "--allow-empty -m C && git tag C && git checkout -q --orphan other && git commit -q "
     "--allow-empty -m O && git tag O && git checkout -q main");
  auto subjects = [](const v1::CommitList& l) {
    std::string out = l.good().subject() + ":";
    for (const auto& c : l.commits())
      out += " " + c.subject() + "/" + std::to_string(c.parents_size());
    return out;
  };
  BuildCache cache(dir_ + "/cache");
  auto line = cache.ListCommits(repo, "A", "C", 100, *ctx_);
  ASSERT_TRUE(line.ok()) << line.status() << Log();
  EXPECT_EQ(subjects(*line), "A: B/1 M/2 C/1") << "the merge is one commit of the line";
  EXPECT_EQ(line->commits(1).author(), "t <t@x>");
  // Into the branch M merged: its parents as the ends; the range starts where it forked.
  auto branch = cache.ListCommits(repo, "B", "X2", 100, *ctx_);
  ASSERT_TRUE(branch.ok()) << branch.status() << Log();
  EXPECT_EQ(subjects(*branch), "A: X1/1 X2/1");
  EXPECT_NE(Log().find("the range starts at their merge base"), std::string::npos) << Log();
  auto unrelated = cache.ListCommits(repo, "O", "C", 100, *ctx_);
  ASSERT_FALSE(unrelated.ok());
  EXPECT_TRUE(absl::StrContains(unrelated.status().message(), "share no history"))
      << unrelated.status();
  auto unknown = cache.ListCommits(repo, "nope", "C", 100, *ctx_);
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "'nope' is not in"))
      << unknown.status();
  auto many = cache.ListCommits(repo, "A", "C", 2, *ctx_);
  ASSERT_FALSE(many.ok());
  EXPECT_TRUE(absl::StrContains(many.status().message(), "holds more than 2 commits"))
      << many.status();
}

TEST_F(BenchFilesTest, ExecStackStartsWaitsAndStopsInReverse) {
  auto port = common::FreeLocalPort();
  ASSERT_TRUE(port.ok());
  ctx_->vars["port:api"] = std::to_string(*port);
  v1::StackSpec spec;
  auto* api = spec.mutable_exec()->add_services();
  api->set_name("api");
  api->add_args(perfgate::testing::BinaryPath("perfgate-sample-target"));
  api->add_args("--listen");
  api->add_args("{host}:{port:api}");
  api->mutable_ready()->set_http("http://{host}:{port:api}/healthz");
  api->mutable_ready()->set_http_status(common::kDefaultReadyHttpStatus);
  api->mutable_ready()->set_timeout_seconds(common::kDefaultReadyTimeoutSeconds);
  auto* side = spec.mutable_exec()->add_services();
  side->set_name("sidecar");
  side->add_args("/bin/sh");
  side->add_args("-c");
  side->add_args("echo sidecar up; sleep 60 & sleep 60");
  spec.set_stop_grace_seconds(2);
  auto stack = MakeStack(spec, *ctx_);
  ASSERT_TRUE(stack->Start().ok()) << Log();
  auto procs = stack->Processes();
  ASSERT_EQ(procs.size(), 2u);
  EXPECT_EQ(procs[0].name, "api");
  EXPECT_EQ(stack->CheckAlive(), "");
  EXPECT_TRUE(perfgate::testing::WaitUntil(
      [&] { return SampleProcessTree(procs[1].roots).processes >= 3; }, absl::Seconds(5)))
      << "the shell and both sleeps";
  EXPECT_GT(SampleProcessTree(procs[0].roots).rss_bytes, 1 << 20);
  {
    // The same tree from /proc/*/stat text, as an ssh host's is read: the same processes.
    std::string text, line;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::ifstream in(e.path() / "stat");
      if (std::getline(in, line)) text += line + "\n";
    }
    const ProcTreeSample parsed =
        ProcSnapshot::Parse(text, sysconf(_SC_PAGE_SIZE), sysconf(_SC_CLK_TCK))
            .Tree(procs[1].roots);
    EXPECT_EQ(parsed.processes, SampleProcessTree(procs[1].roots).processes);
    EXPECT_GT(parsed.rss_bytes, 0);
    EXPECT_EQ(ProcSnapshot::Parse("garbage\n42 (x\n", 4096, 100).Tree({42}).processes, 0)
        << "lines that are not stat lines are skipped";
  }
  EXPECT_EQ(journal_->processes().size(), 2u);
  stack->Stop();
  for (const auto& p : procs) {
    EXPECT_TRUE(perfgate::testing::WaitUntil([&] { return !common::GroupAlive(p.roots[0]); },
                                             absl::Seconds(5)))
        << p.name << ": the whole group goes, the background sleep too";
  }
  EXPECT_TRUE(journal_->processes().empty());
  std::string log = Log();
  EXPECT_LT(log.find("service sidecar stopped"), log.find("service api stopped"))
      << "reverse order\n"
      << log;
  EXPECT_NE(log.find("sidecar up"), std::string::npos) << "service output reaches the log";
}

TEST_F(BenchFilesTest, AServiceThatDiesBeforeReadyFailsTheStackWithItsOutput) {
  v1::StackSpec spec;
  auto* svc = spec.mutable_exec()->add_services();
  svc->set_name("db");
  svc->add_args("/bin/sh");
  svc->add_args("-c");
  svc->add_args("echo 'FATAL: bad config' >&2; exit 3");
  svc->mutable_ready()->set_tcp("127.0.0.1:1");
  svc->mutable_ready()->set_timeout_seconds(common::kDefaultReadyTimeoutSeconds);
  auto stack = MakeStack(spec, *ctx_);
  absl::Status s = stack->Start();
  ASSERT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("service db: exited (exit code 3) before it was ready"),
            std::string::npos)
      << s;
  stack->Stop();
  EXPECT_NE(Log().find("FATAL: bad config"), std::string::npos);
}

TEST_F(BenchFilesTest, ReadinessTimesOutWithTheLastProbeError) {
  v1::ReadinessCheck c;
  c.set_tcp("127.0.0.1:1");
  c.set_timeout_seconds(1);
  absl::Time t0 = absl::Now();
  absl::Status s = WaitReady(c, *ctx_);
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_NE(s.message().find("connect 127.0.0.1:1"), std::string::npos) << s;
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  c.set_command("test -f " + dir_ + "/flag");
  std::thread later([&] {
    absl::SleepFor(absl::Milliseconds(300));
    Write(dir_ + "/flag", "");
  });
  c.set_timeout_seconds(10);
  EXPECT_TRUE(WaitReady(c, *ctx_).ok());
  later.join();
}

TEST_F(BenchFilesTest, CommandFixturesAndGeneratorsRunInTheWorkdir) {
  v1::FixtureSpec f;
  f.set_name("seed");
  f.set_command("echo seeded > {workdir}/seed.txt");
  f.set_timeout_seconds(common::kDefaultFixtureTimeoutSeconds);
  std::filesystem::create_directories(ctx_->workdir);
  ASSERT_TRUE(LoadFixture(f, 0, *ctx_).ok()) << Log();
  EXPECT_TRUE(std::filesystem::exists(ctx_->workdir + "/seed.txt"));
  f.set_command("exit 9");
  absl::Status s = LoadFixture(f, 0, *ctx_);
  EXPECT_NE(s.message().find("fixture seed: command: exit code 9"), std::string::npos) << s;

  v1::WorkloadSpec w;
  w.mutable_command()->set_command(
      R"(test -f seed.txt && echo "{\"measurements\": [{\"name\": \"secs\", \"value\": $PERFGATE_DURATION_SECONDS}]}")");
  v1::RepetitionResult r;
  ASSERT_TRUE(RunGenerator(w, absl::Seconds(3), false, *ctx_, &r).ok()) << Log();
  EXPECT_EQ(r.generator(), "command");
  EXPECT_EQ(Find(r, "secs")->value(), 3);
}

}  // namespace
}  // namespace perfgate::agent
