// A bisection's logic (docs/bisect.md), pure: what to measure next from the commits' marks and
// the steps so far, how a step's comparison decides, and the outcome. The bisector
// (bisector.h) runs the steps; the store keeps the Bisection document.
#pragma once

#include <optional>
#include <string>

#include "perfgate/v1/analysis.pb.h"
#include "perfgate/v1/bisect.pb.h"
#include "perfgate/v1/jobs.pb.h"

namespace perfgate::controller {

// The next step: measure commits[commit] against commits[against].
struct NextStep {
  int commit = 0;
  int against = 0;
  std::string purpose;  // ends, midpoint, culprit
};

// Sets up a bisection whose commits were just listed: good marked GOOD, the rest UNKNOWN (the bad
// end too, until the first step shows it differs).
void StartMarks(v1::Bisection* b);

// What to measure next, or nullopt when the bisection is over: then its outcome (state,
// culprit or range, message) has been set on `b`. A step that is undecided is measured again by
// the caller before this is asked (RepeatStep).
std::optional<NextStep> PlanNext(v1::Bisection* b);

// How a step's comparison decides for the metric: like_bad (beyond the floor in the bad
// direction), like_good (inside the floor), other_way (beyond it the other way), undecided.
// `direction` is the bisection's ("" before the first step: either way counts as a change).
// Sets the step's measurement fields.
void JudgeStep(const v1::MetricComparison& m, const std::string& direction,
               v1::BisectionStep* step);

// How a step whose run failed ends, from its jobs: `failed` (the known-good side did not build or
// run: the bisection cannot go on), `skipped` (the commit under test did not: git bisect's skip),
// or `interrupted` (a side failed in a later round after it had built and run in an earlier one
// of the same step: the machine spoiled a repetition, not the commit; the step runs again, once,
// and a second such failure of the same step counts as the commit's). Sets the outcome and
// the note (the failed job's message). `b` holds the steps before this one.
void JudgeFailedStep(const v1::Run& run, const v1::Bisection& b, v1::BisectionStep* step);

// Applies the step's outcome to the marks (and, for the first step, the direction and effect).
// FAILED state with a message when the first step shows no change.
void ApplyStep(const v1::BisectionStep& step, v1::Bisection* b);

// An undecided step measured again: the repetitions a side its metric needs, at least twice
// the step's, at most `max_repetitions`; 0 when the step already had that many (nothing more to
// try within the budget).
int RepeatRepetitions(const v1::BisectionStep& step, int needed, int max_repetitions);

// A bisection's steps counted: `pairs`, the distinct (commit, against) pairs measured (the
// plan's steps); `again`, steps that measured a pair once more (undecided, so with more
// repetitions, or interrupted); `skipped`, steps whose commit did not build or run.
struct StepCounts {
  int pairs = 0, again = 0, skipped = 0;
};
StepCounts CountSteps(const v1::Bisection& b);

// The index of `sha` (a full sha or a unique prefix of at least 4 hex digits) in the commits;
// -1 when none or ambiguous.
int FindCommit(const v1::Bisection& b, const std::string& sha);

// "abc123def456 Name <mail>: subject".
std::string CommitLine(const v1::CommitInfo& c);

bool IsFinished(v1::BisectionState s);

// A state or a mark as the messages, the CLI and the pages say it: "running", "skipped".
std::string StateText(v1::BisectionState s);
std::string MarkText(v1::CommitMark m);

// "+12.3 % (+10.1 .. +14.0 %)": a step's measurement of the metric; "" before it was measured.
std::string StepEffect(const v1::BisectionStep& s);

}  // namespace perfgate::controller
