// The benchmark-job test fixture: a controller and agents (ClusterTest), a git repository of
// a system under test whose commits differ in the sample target's flags, suites written from
// templates, submissions watched to their end, results read back.
#pragma once

#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/integration/fixture.h"

namespace perfgate::testing {

inline void Sh(const std::string& cmd) { ASSERT_EQ(system(cmd.c_str()), 0) << cmd; }

class BenchmarkTest : public ClusterTest {
 protected:
  // A repository whose commits differ in the flags the sample target is started with.
  std::string Commit(const std::string& flags) {
    repo_ = dir_ + "/sut";
    if (access(repo_.c_str(), F_OK) != 0) {
      Sh("git init -q " + repo_ + " && git -C " + repo_ + " config user.email t@x && git -C " +
         repo_ + " config user.name t");
    }
    std::ofstream(repo_ + "/flags") << flags << "\n";
    Sh("cd " + repo_ + " && git add flags && git commit -q --allow-empty -m '" + flags + "'");
    return ShOut("git -C " + repo_ + " rev-parse HEAD");
  }

  std::string WriteSuite(const std::string& name, std::string yaml) {
    yaml = absl::StrReplaceAll(
        yaml, {{"$REPO", repo_}, {"$TARGET", BinaryPath("perfgate-sample-target")}});
    std::string path = dir_ + "/" + name + ".yaml";
    std::ofstream(path) << yaml;
    return path;
  }

  // A harness job of Google Benchmark's sample summing 4096 numbers `slow` times (3 runs x 4
  // repetitions): a candidate that sums four times over is a regression no machine noise hides,
  // in a few seconds of agent time. `extra`: more of the benchmark's YAML (limits: ...).
  std::string WriteSumSuite(const std::string& name, const std::string& slow,
                            const std::string& extra = "") {
    return WriteSuite(
        name,
        absl::StrCat(
            R"(name: micro
jobs:
  - name: sum
    benchmark:
      workload:
        repetitions: 3
        harness:
          format: google-benchmark
          command: ")",
            BinaryPath("perfgate-gbench-sample"),
            R"( --benchmark_format=json --benchmark_repetitions=4 --benchmark_min_time=0.02 --benchmark_filter=BM_Sum/4096"
          env: {SAMPLE_SLOW_SUM: ")",
            slow, "\"}\n", extra));
  }

  int64_t Submit(const std::string& suite, const std::string& commit, int want_exit) {
    std::string out;
    int code = Cli({"-o", "json", "run", "submit", "--suite", suite, "--commit", commit, "--branch",
                    "main", "--kind", "baseline"},
                   &out);
    EXPECT_EQ(code, 0) << out;
    auto j = nlohmann::json::parse(out, nullptr, false);
    int64_t id = j.is_discarded() || !j.contains("id") ? 0 : std::stoll(j["id"].get<std::string>());
    if (want_exit >= 0) {
      // Bounded: a stuck run fails the test instead of hanging it.
      EXPECT_TRUE(
          WaitUntil([&] { return IsTerminal(GetRun(*stub_, id).state()); }, absl::Seconds(150)))
          << AllLogs(id);
      EXPECT_EQ(Cli({"run", "watch", std::to_string(id)}, &out), want_exit) << out;
    }
    return id;
  }

  v1::RunResults Results(int64_t run) {
    v1::GetRunResultsRequest req;
    req.set_run_id(run);
    v1::RunResults res;
    auto ctx = Ctx();
    EXPECT_TRUE(stub_->GetRunResults(ctx.get(), req, &res).ok());
    return res;
  }

  static double Median(const v1::RunResults& r, const std::string& metric) {
    for (const auto& s : r.jobs(0).summary())
      if (s.name() == metric) return s.median();
    ADD_FAILURE() << "no metric " << metric;
    return -1;
  }

  int64_t SubmitKind(const std::string& suite, const std::string& commit, const std::string& kind,
                     const std::string& branch, std::vector<std::string> extra = {}) {
    std::string out;
    std::vector<std::string> args = {"-o",       "json",    "run",
                                     "submit",   "--suite", suite,
                                     "--branch", branch,    "--baseline-branch",
                                     "main",     "--kind",  kind};
    if (!commit.empty()) args.insert(args.end(), {"--commit", commit});
    args.insert(args.end(), extra.begin(), extra.end());
    int code = Cli(args, &out);
    EXPECT_EQ(code, 0) << out;
    auto j = nlohmann::json::parse(out, nullptr, false);
    int64_t id = j.is_discarded() || !j.contains("id") ? 0 : std::stoll(j["id"].get<std::string>());
    WaitForSuccess(id);
    return id;
  }

  void WaitForSuccess(int64_t id) {
    EXPECT_TRUE(
        WaitUntil([&] { return IsTerminal(GetRun(*stub_, id).state()); }, absl::Seconds(150)))
        << AllLogs(id);
    EXPECT_EQ(GetRun(*stub_, id).state(), v1::RUN_STATE_SUCCEEDED) << AllLogs(id);
  }

  // The stored comparison, once the analyser has made it.
  v1::Comparison Compared(int64_t run) {
    v1::Comparison c;
    EXPECT_TRUE(WaitUntil(
        [&] {
          v1::CompareRunRequest req;
          req.set_run_id(run);
          auto ctx = Ctx();
          return stub_->CompareRun(ctx.get(), req, &c).ok();
        },
        absl::Seconds(30)));
    return c;
  }

  static const v1::MetricComparison* Metric(const v1::Comparison& c, const std::string& name) {
    for (const auto& m : c.metrics())
      if (m.name() == name) return &m;
    return nullptr;
  }

  std::string AllLogs(int64_t run) {
    std::string out;
    for (const auto& c : RunLogs(*stub_, run)) out += c.data();
    return out;
  }

  // A suite's stack service "db" (YAML, indented for `stack.services`) running a private
  // PostgreSQL on {port:db} with its data under {workdir}/pg (`extra`: more server options),
  // ready when pg_isready says so.
  static std::string PostgresService(const std::string& extra) {
    return absl::StrCat(
        "          - name: db\n            args: [/bin/sh, -c, \"", PostgresServiceCommand(extra),
        "\"]\n            ports: [db]\n            ready: {command: \"pg_isready -q "
        "-h 127.0.0.1 -p {port:db}\", timeout: 60s}\n");
  }

  // The shell command of PostgresService. PostgreSQL refuses to run as root: a job running as
  // root (an agent without a job user) drops to the postgres user.
  static std::string PostgresServiceCommand(const std::string& extra) {
    std::string pgbin = ShOut("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1");
    std::string server =
        pgbin + "/initdb -D {workdir}/pg -A trust -U postgres >/dev/null && exec " + pgbin +
        "/postgres -D {workdir}/pg -p {port:db} -k {workdir}/pg -c "
        "listen_addresses=127.0.0.1 -c fsync=off " +
        extra;
    return "if [ $(id -u) = 0 ]; then mkdir -p {workdir}/pg && chown postgres {workdir}/pg && "
           "exec runuser -u postgres -- /bin/sh -c '" +
           server + "'; else " + server + "; fi";
  }

  std::string repo_;
};

}  // namespace perfgate::testing
