// Benchmark harnesses read from what the real tools write inside the test: a Google Benchmark
// program built against Debian's libbenchmark-dev, pytest-benchmark under Debian's python3, a Go
// benchmark run by Debian's go, and hyperfine. Then the reports broken on purpose: each error
// names the harness and the line or field.
#include "agent/bench/harness.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/harness/processes.h"
#include "tests/unit/agent/bench_fixture.h"

namespace perfgate::agent {
namespace {

class HarnessTest : public BenchFilesTest {
 protected:
  v1::HarnessSpec Spec(v1::HarnessSpec::Format f, const std::string& command,
                       const std::string& output = "") {
    v1::HarnessSpec h;
    h.set_format(f);
    h.set_command(command);
    h.set_output(output);
    h.set_timeout_seconds(300);
    return h;
  }
  std::string Gbench() { return perfgate::testing::BinaryPath("perfgate-gbench-sample"); }
  // The real Google Benchmark JSON of the sample, 3 repetitions of BM_Sum.
  std::string GbenchJson() {
    std::string out;
    std::string cmd = Gbench() +
                      " --benchmark_format=json --benchmark_repetitions=3 "
                      "--benchmark_min_time=0.01 --benchmark_filter=BM_Sum";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    EXPECT_EQ(pclose(p), 0) << cmd;
    return out;
  }
};

TEST_F(HarnessTest, GoogleBenchmarkRepetitionsStayApartAndAggregatesAreLeftOut) {
  v1::HarnessSpec h = Spec(v1::HarnessSpec::FORMAT_GOOGLE_BENCHMARK,
                           Gbench() +
                               " --benchmark_format=json --benchmark_repetitions=3 "
                               "--benchmark_min_time=0.01 --benchmark_filter=BM_Sum");
  h.add_higher_is_better("gbench.*_4096.hits");
  auto reps = RunHarness(h, *ctx_);
  ASSERT_TRUE(reps.ok()) << reps.status() << Log();
  ASSERT_EQ(reps->size(), 3u) << "3 repetitions; mean/median/stddev/cv aggregates not counted";
  std::set<double> times;
  for (size_t i = 0; i < reps->size(); ++i) {
    const auto& r = (*reps)[i];
    EXPECT_EQ(r.repetition(), static_cast<int>(i + 1));
    EXPECT_TRUE(r.valid()) << r.invalid_reason();
    EXPECT_EQ(r.generator(), "harness:google-benchmark");
    const auto* small = Find(r, "gbench.BM_Sum_64");
    const auto* big = Find(r, "gbench.BM_Sum_4096");
    ASSERT_TRUE(small && big) << r.DebugString();
    EXPECT_EQ(small->unit(), "ns");
    EXPECT_EQ(small->direction(), v1::DIRECTION_LOWER_IS_BETTER);
    EXPECT_GT(big->value(), small->value()) << "64 times the elements";
    times.insert(small->value());
    ASSERT_TRUE(Find(r, "gbench.BM_Sum_64.cpu_time"));
    const auto* items = Find(r, "gbench.BM_Sum_64.items_per_second");
    ASSERT_TRUE(items);
    EXPECT_EQ(items->unit(), "items/s");
    EXPECT_EQ(items->direction(), v1::DIRECTION_HIGHER_IS_BETTER);
    EXPECT_EQ(Find(r, "gbench.BM_Sum_64.hits")->value(), 64);
    EXPECT_EQ(Find(r, "gbench.BM_Sum_64.hits")->direction(), v1::DIRECTION_LOWER_IS_BETTER);
    EXPECT_EQ(Find(r, "gbench.BM_Sum_4096.hits")->direction(), v1::DIRECTION_HIGHER_IS_BETTER)
        << "the suite's higher_is_better pattern";
    EXPECT_EQ(Find(r, "gbench.BM_Sum_64.mean"), nullptr);
  }
  EXPECT_GT(times.size(), 1u) << "each repetition's own time, not one figure copied";
}

TEST_F(HarnessTest, AGoogleBenchmarkThatSkipsWithAnErrorMakesItsRepetitionsInvalid) {
  v1::HarnessSpec h = Spec(v1::HarnessSpec::FORMAT_GOOGLE_BENCHMARK,
                           Gbench() +
                               " --benchmark_format=json --benchmark_repetitions=2 "
                               "--benchmark_min_time=0.01");
  (*h.mutable_env())["SAMPLE_FAIL"] = "1";
  auto reps = RunHarness(h, *ctx_);
  ASSERT_TRUE(reps.ok()) << reps.status() << Log();
  ASSERT_EQ(reps->size(), 2u);
  for (const auto& r : *reps) {
    EXPECT_FALSE(r.valid());
    EXPECT_NE(r.invalid_reason().find("BM_Broken: the fixture file is missing"), std::string::npos)
        << r.invalid_reason();
  }
}

TEST_F(HarnessTest, PytestBenchmarkReportIsOneRepetitionOfMedians) {
  std::ofstream(ctx_->workdir + "/test_sample.py") << R"(
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def test_fib(benchmark):
    benchmark(fib, 15)

def test_sum(benchmark):
    benchmark(sum, range(100))
)";
  // Debian's interpreter, where python3-pytest-benchmark is installed (not a pyenv shim).
  auto reps = RunHarness(
      Spec(v1::HarnessSpec::FORMAT_PYTEST_BENCHMARK,
           "/usr/bin/python3 -m pytest -q -p no:cacheprovider test_sample.py "
           "--benchmark-json=out/report.json --benchmark-min-rounds=5 --benchmark-max-time=0.05",
           "out/report.json"),
      *ctx_);
  ASSERT_TRUE(reps.ok()) << reps.status() << Log();
  ASSERT_EQ(reps->size(), 1u);
  const auto& r = reps->front();
  const auto* fib = Find(r, "pytest.test_fib");
  const auto* sum = Find(r, "pytest.test_sum");
  ASSERT_TRUE(fib && sum) << r.DebugString();
  EXPECT_EQ(fib->unit(), "s");
  EXPECT_GT(fib->value(), sum->value()) << "fib(15) makes ~2,000 calls";
  EXPECT_EQ(Find(r, "pytest.test_fib.ops")->direction(), v1::DIRECTION_HIGHER_IS_BETTER);
  EXPECT_NE(Log().find("2 passed"), std::string::npos) << "pytest's own output is in the log";
}

TEST_F(HarnessTest, GoTestBenchCountGivesRepetitionsWithMemoryAndCustomMetrics) {
  std::string mod = ctx_->workdir + "/gomod";
  std::filesystem::create_directories(mod);
  std::ofstream(mod + "/go.mod") << "module example.com/sample\n\ngo 1.19\n";
  std::ofstream(mod + "/sample_test.go") << R"(package sample

import (
	"strings"
	"testing"
)

func BenchmarkJoin(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run("n="+itoa(n), func(b *testing.B) {
			parts := make([]string, n)
			for i := range parts {
				parts[i] = "x"
			}
			b.SetBytes(int64(n))
			for i := 0; i < b.N; i++ {
				_ = strings.Join(parts, ",")
			}
			b.ReportMetric(float64(n), "widgets/op")
		})
	}
}

func BenchmarkLogs(b *testing.B) {
	b.Log("a benchmark that logs gets its figures on a later line")
	for i := 0; i < b.N; i++ {
	}
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
)";
  v1::HarnessSpec h = Spec(v1::HarnessSpec::FORMAT_GO_TEST,
                           "go test -run '^$' -bench . -count 3 -benchtime 200x -benchmem");
  h.set_working_dir("gomod");
  (*h.mutable_env())["GOCACHE"] = ctx_->workdir + "/gocache";
  (*h.mutable_env())["GOPATH"] = ctx_->workdir + "/gopath";
  (*h.mutable_env())["GOFLAGS"] = "-mod=mod";
  (*h.mutable_env())["GOPROXY"] = "off";
  auto reps = RunHarness(h, *ctx_);
  ASSERT_TRUE(reps.ok()) << reps.status() << Log();
  ASSERT_EQ(reps->size(), 3u) << "-count 3";
  for (const auto& r : *reps) {
    const auto* small = Find(r, "go.BenchmarkJoin_n_10");
    const auto* big = Find(r, "go.BenchmarkJoin_n_1000");
    ASSERT_TRUE(small && big) << r.DebugString() << "\n(names without the -GOMAXPROCS suffix)";
    EXPECT_EQ(small->unit(), "ns/op");
    EXPECT_GT(big->value(), small->value());
    EXPECT_EQ(Find(r, "go.BenchmarkJoin_n_1000.mb_per_s")->direction(),
              v1::DIRECTION_HIGHER_IS_BETTER);
    EXPECT_GT(Find(r, "go.BenchmarkJoin_n_1000.bytes_per_op")->value(), 1000);
    EXPECT_TRUE(Find(r, "go.BenchmarkJoin_n_10.allocs_per_op"));
    EXPECT_EQ(Find(r, "go.BenchmarkJoin_n_1000.widgets_op")->value(), 1000);
    EXPECT_TRUE(Find(r, "go.BenchmarkLogs")) << r.DebugString();
  }
}

TEST_F(HarnessTest, HyperfineRunsAreRepetitionsAndAFailedRunIsInvalid) {
  auto reps = RunHarness(
      Spec(v1::HarnessSpec::FORMAT_HYPERFINE,
           "hyperfine -N --runs 4 --export-json hf.json -n nap 'sleep 0.002'", "hf.json"),
      *ctx_);
  ASSERT_TRUE(reps.ok()) << reps.status() << Log();
  ASSERT_EQ(reps->size(), 4u);
  for (const auto& r : *reps) {
    EXPECT_TRUE(r.valid());
    EXPECT_GE(Find(r, "hyperfine.nap")->value(), 0.002);
    EXPECT_EQ(Find(r, "hyperfine.nap")->unit(), "s");
  }
  reps = RunHarness(Spec(v1::HarnessSpec::FORMAT_HYPERFINE,
                         "hyperfine -N -i --runs 2 --export-json hf.json false", "hf.json"),
                    *ctx_);
  ASSERT_TRUE(reps.ok()) << reps.status() << Log();
  ASSERT_EQ(reps->size(), 2u);
  EXPECT_FALSE(reps->front().valid());
  EXPECT_EQ(reps->front().invalid_reason(), "false: exit code 1");
}

TEST_F(HarnessTest, UnreadableReportsNameTheHarnessAndTheLineOrField) {
  using F = v1::HarnessSpec;
  std::string real = GbenchJson();
  ASSERT_GT(real.size(), 200u);
  struct Case {
    F::Format format;
    std::string text, want;
  } cases[] = {
      {F::FORMAT_GOOGLE_BENCHMARK, real.substr(0, real.size() / 2),
       "google-benchmark report line "},
      {F::FORMAT_GOOGLE_BENCHMARK, "{\"context\": {}}", "google-benchmark report no 'benchmarks'"},
      {F::FORMAT_GOOGLE_BENCHMARK,
       R"({"benchmarks": [{"name": "BM_x", "run_type": "iteration", "real_time": "fast",
           "cpu_time": 1, "time_unit": "ns"}]})",
       "google-benchmark report benchmarks[0].real_time: a number is required"},
      {F::FORMAT_GOOGLE_BENCHMARK, R"({"benchmarks": []})",
       "google-benchmark report: the report names no benchmark"},
      {F::FORMAT_GOOGLE_BENCHMARK,
       R"({"benchmarks": [{"name": "BM_x", "repetition_index": 1000000000000,
           "error_occurred": true, "error_message": "x"}]})",
       "google-benchmark report more than 1000 repetitions"},
      {F::FORMAT_PYTEST_BENCHMARK, R"({"benchmarks": [{"name": "test_a"}]})",
       "pytest-benchmark report benchmarks[0].stats: an object is required"},
      {F::FORMAT_HYPERFINE, R"({"results": [{"command": "x", "times": []}]})",
       "hyperfine report results[0].times: a non-empty list is required"},
      {F::FORMAT_HYPERFINE, "hello\n{", "hyperfine report line 1, column 1: not JSON"},
      {F::FORMAT_GO_TEST, "goos: linux\nBenchmarkX-2   100   fast ns/op\n",
       "go test -bench output line 2: 'fast' is not a number: BenchmarkX-2   100   fast ns/op"},
      {F::FORMAT_GO_TEST, "BenchmarkX-2   100   12 ns/op  3\n",
       "go test -bench output line 1: want value-unit pairs"},
      {F::FORMAT_GO_TEST, "--- FAIL: BenchmarkX\nFAIL\n",
       "go test -bench output line 1: a benchmark failed"},
      {F::FORMAT_GO_TEST, "PASS\nok  \tx\t0.1s\n",
       "go test -bench output no Benchmark lines (did the command pass -bench?)"},
  };
  for (const auto& c : cases) {
    auto got = ParseHarnessReport(Spec(c.format, "x"), c.text);
    ASSERT_FALSE(got.ok()) << c.text;
    EXPECT_NE(got.status().message().find(c.want), std::string::npos)
        << "got: " << got.status().message() << "\nwant: " << c.want;
  }
}

TEST_F(HarnessTest, FailedCommandsStaleAndOversizedReportsAreRefused) {
  auto got = RunHarness(Spec(v1::HarnessSpec::FORMAT_GO_TEST, "exit 3"), *ctx_);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("harness go-test: exit code 3"), std::string::npos)
      << got.status();
  // A report a previous run left is removed first: a command that writes none is an error.
  std::ofstream(ctx_->workdir + "/hf.json") << R"({"results": [{"command": "x", "times": [1]}]})";
  got = RunHarness(Spec(v1::HarnessSpec::FORMAT_HYPERFINE, "true", "hf.json"), *ctx_);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("harness hyperfine: the command wrote no report at"),
            std::string::npos)
      << got.status();
  got =
      RunHarness(Spec(v1::HarnessSpec::FORMAT_HYPERFINE,
                      absl::StrCat("head -c ", kMaxHarnessReportBytes + 10, " /dev/zero > hf.json"),
                      "hf.json"),
                 *ctx_);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("the report is over 32 MiB"), std::string::npos)
      << got.status();
}

}  // namespace
}  // namespace perfgate::agent
