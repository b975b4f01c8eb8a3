// One measured window of load (a generator with its fault schedule), and a phased workload's
// repetition (docs/campaigns.md): phases run in order, each measured under KIND[.NAME] —
//  - ops:        N operations (a command or an HTTP request, {i} = 1..N), C at a time:
//                ops.NAME.rate (op/s), .latency.p50/p99/max (ms), .failures, .seconds;
//  - wait_until: a probe polled until true: wait.NAME.seconds, or the repetition is invalid;
//  - load:       a generator (and faults) for its duration: load[.NAME].http.latency.p99, ...;
//  - soak:       a hold (optionally under http load) sampling every service's memory:
//                soak[.NAME].SERVICE.rss_slope (MiB/h, least squares), with heap profiles of
//                the services that have them at its start and end (points soak[.NAME].start
//                and .end), whose difference the campaign report reads for leak suspects;
//  - cleanup:    ops whose failures are reported (cleanup[.NAME].failures) and void nothing.
// Each phase leaves a PhaseRecord (time, success, failures, the first messages).
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/bench/stack.h"
#include "agent/exec/bench_context.h"
#include "perfgate/v1/results.pb.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::agent {

// Runs `w`'s generator for `window` with `w.faults()` (the stack's test hosts) fired on the
// load's time zero, filling `r`; a fault that could not be applied makes `r` invalid. Non-OK
// when the generator cannot run, on cancel, or when the faults left the stack broken
// (FAILED_PRECONDITION starting with `label`, e.g. "repetition 3").
absl::Status RunLoadWindow(const v1::WorkloadSpec& w, absl::Duration window, BenchContext& ctx,
                           Stack* stack, uint64_t seed, const std::string& label,
                           v1::RepetitionResult* r);

// The phases of `w` for one repetition, appended to `r`. A phase that fails (a wait that timed
// out, a load whose faults could not be applied) makes `r` invalid and skips the phases after
// it except cleanups. Non-OK only for what stops the attempt (cancel, a broken stack, a
// generator that cannot run).
// `heap_snapshot(point)` takes the soak's heap profiles (may be empty).
using HeapSnapshotFn = std::function<void(const std::string& point)>;
absl::Status RunPhases(const v1::WorkloadSpec& w, BenchContext& ctx, Stack* stack, uint64_t seed,
                       const std::string& label, v1::RepetitionResult* r,
                       const HeapSnapshotFn& heap_snapshot = nullptr);

// A phase's metric prefix: KIND, or KIND.NAME when the name is not the kind's.
std::string PhasePrefix(const v1::PhaseSpec& p);

}  // namespace perfgate::agent
