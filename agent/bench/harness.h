// Benchmark harnesses CI already runs, read as measurements: Google Benchmark JSON,
// pytest-benchmark JSON, `go test -bench` text and hyperfine JSON. Each benchmark becomes one
// metric named after it with its unit and direction (plus the figures the harness reports beside
// it: CPU time, counters, B/op, allocs/op, op/s), and every repetition the harness reports stays
// its own repetition: Google Benchmark's --benchmark_repetitions, go test's -count and hyperfine's
// runs become repetitions 1..N; a pytest-benchmark report is one repetition (the median round).
//
// Metric names: `gbench.NAME` (real time) with `.cpu_time` and `.COUNTER`; `pytest.NAME` (median
// seconds) with `.ops`; `go.NAME` (ns/op, the -GOMAXPROCS suffix dropped) with `.bytes_per_op`,
// `.allocs_per_op`, `.mb_per_s` and other units; `hyperfine.COMMAND` (seconds). Characters other
// than letters, digits, `_`, `-` and `.` become `_`.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/exec/bench_context.h"
#include "perfgate/v1/results.pb.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

// A report larger than this is refused (a harness with thousands of benchmarks stays far below).
inline constexpr size_t kMaxHarnessReportBytes = 32 << 20;
// Repetitions one attempt may collect from a harness, over all runs of its command.
inline constexpr size_t kMaxHarnessRepetitions = 1000;

// Parses one report of `h.format()`. Repetitions are numbered from 1 in the order the harness
// reports them (the caller renumbers across runs). A report that cannot be read is
// FAILED_PRECONDITION naming the harness and the line: "go test -bench output line 7: ...".
absl::StatusOr<std::vector<v1::RepetitionResult>> ParseHarnessReport(const v1::HarnessSpec& h,
                                                                     const std::string& text);

// Runs the harness's command once (in `working_dir`, with `env`) and parses its report (stdout,
// or the `output` file, removed before the run so that a stale report is never read).
// FAILED_PRECONDITION when the command fails or its report is unreadable; CANCELLED on cancel.
absl::StatusOr<std::vector<v1::RepetitionResult>> RunHarness(const v1::HarnessSpec& h,
                                                             BenchContext& ctx);

// "google-benchmark", "pytest-benchmark", "go-test", "hyperfine": as suites spell them.
std::string HarnessName(v1::HarnessSpec::Format f);

}  // namespace perfgate::agent
