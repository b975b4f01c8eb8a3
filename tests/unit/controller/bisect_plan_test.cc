// The bisection's plan (controller/bisect/bisect_plan.h) driven by an oracle that says how each
// commit measures against the good one: the number of measured steps, skips to a neighbour, the
// range skips leave, a change spread over commits, and an end that does not reproduce.
#include "controller/bisect/bisect_plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace perfgate::controller {
namespace {

// A range of n commits after the good one (index 0); a sha is its index in 8 hex digits, then
// e's.
v1::Bisection Range(int n) {
  v1::Bisection b;
  b.set_metric("http.latency.p50");
  for (int i = 0; i <= n; ++i) {
    v1::CommitInfo* c = b.add_commits();
    c->set_sha(absl::StrFormat("%08x", i) + std::string(32, 'e'));
    c->set_author("A <a@x>");
    c->set_subject(absl::StrCat("commit ", i));
  }
  b.set_state(v1::BISECTION_STATE_RUNNING);
  StartMarks(&b);
  return b;
}

int IndexOf(const v1::Bisection& b, const std::string& sha) { return FindCommit(b, sha); }

// The metric's value at a commit (nullopt: it does not build); a step's ratio is value(commit) /
// value(against), judged with a 3 % floor and a +-1 % interval.
using Oracle = std::function<std::optional<double>(int)>;

v1::MetricComparison Measure(double ratio) {
  v1::MetricComparison m;
  m.set_has_ratio(true);
  m.set_ratio(ratio);
  m.set_interval_low(ratio - 0.01);
  m.set_interval_high(ratio + 0.01);
  m.set_floor(0.03);
  if (m.interval_low() > 1.03) {
    m.set_verdict(v1::VERDICT_REGRESSION);
  } else if (m.interval_high() < 0.97) {
    m.set_verdict(v1::VERDICT_IMPROVEMENT);
  } else if (m.interval_low() > 0.97 && m.interval_high() < 1.03) {
    m.set_verdict(v1::VERDICT_NO_CHANGE);
  } else {
    m.set_verdict(v1::VERDICT_INCONCLUSIVE);
  }
  return m;
}

// Runs the bisection to its end; returns the measured steps.
int Bisect(v1::Bisection* b, const Oracle& value) {
  int measured = 0;
  while (auto next = PlanNext(b)) {
    v1::BisectionStep* s = b->add_steps();
    s->set_number(b->steps_size());
    s->set_purpose(next->purpose);
    s->set_commit(b->commits(next->commit).sha());
    s->set_against(b->commits(next->against).sha());
    s->set_run_id(100 + b->steps_size());
    auto v = value(next->commit), base = value(next->against);
    if (!v) {
      s->set_outcome("skipped");
    } else {
      ++measured;
      JudgeStep(Measure(*v / *base), b->direction(), s);
    }
    ApplyStep(*s, b);
    if (b->state() != v1::BISECTION_STATE_RUNNING) break;
    if (measured > 100) break;
  }
  return measured;
}

TEST(BisectPlanTest, FindsTheCulpritOfSixteenCommitsWithinLogStepsAndSkipsTheBrokenOne) {
  // Commits 1..16 (index 0 is commit 1, the good end): commit 11 adds work, commit 6 does not
  // build.
  for (int culprit = 2; culprit <= 16; ++culprit) {
    v1::Bisection b = Range(15);
    const int measured = Bisect(&b, [&](int i) -> std::optional<double> {
      if (i + 1 == 6) return std::nullopt;
      return i + 1 >= culprit ? 1.5 : 1.0;
    });
    const int bound = static_cast<int>(std::ceil(std::log2(15))) + 1;  // 5
    ASSERT_EQ(b.state(), v1::BISECTION_STATE_SUCCEEDED) << b.message();
    if (culprit == 6 || culprit == 7) {
      // The broken commit sits next to the change: the range says so.
      EXPECT_EQ(IndexOf(b, b.range_last()) + 1, 7) << b.message();
      EXPECT_EQ(IndexOf(b, b.range_first()) + 1, 6) << b.message();
      continue;
    }
    EXPECT_EQ(IndexOf(b, b.culprit()) + 1, culprit) << b.message();
    // The ends, the halvings, and the culprit against its parent when the last halving
    // measured its parent instead (a skip can add one more).
    EXPECT_LE(measured, bound + 1 + (culprit == 5 || culprit == 8 ? 1 : 0))
        << "culprit " << culprit;
    EXPECT_NE(b.culprit_run_id(), 0);
    EXPECT_FALSE(b.spread());
    EXPECT_NE(b.message().find("first bad commit"), std::string::npos) << b.message();
    for (const auto& s : b.steps()) {
      if (s.commit() == b.commits(5).sha()) {
        EXPECT_EQ(s.outcome(), "skipped");
      }
    }
  }
}

TEST(BisectPlanTest, CulpritElevenTakesFiveStepsEndsIncludedAndIsMeasuredAgainstItsParent) {
  v1::Bisection b = Range(15);
  const int measured = Bisect(&b, [](int i) -> std::optional<double> {
    if (i + 1 == 6) return std::nullopt;
    return i + 1 >= 11 ? 1.5 : 1.0;
  });
  EXPECT_EQ(IndexOf(b, b.culprit()), 10);
  EXPECT_LE(measured, 5);
  const v1::BisectionStep& last = *b.steps().rbegin();
  EXPECT_EQ(last.commit(), b.commits(10).sha());
  EXPECT_EQ(last.against(), b.commits(9).sha()) << "the culprit's step is against its parent";
  EXPECT_EQ(b.culprit_run_id(), last.run_id());
  EXPECT_EQ(b.direction(), "regression");
  EXPECT_NEAR(b.effect(), 0.5, 1e-9);
}

TEST(BisectPlanTest, ASkippedMidpointPassesToItsNeighbour) {
  v1::Bisection b = Range(8);  // indices 0..8; the first midpoint is 4
  b.set_marks(8, v1::COMMIT_MARK_BAD);
  auto first = PlanNext(&b);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->commit, 4);
  b.set_marks(4, v1::COMMIT_MARK_SKIPPED);
  auto next = PlanNext(&b);
  ASSERT_TRUE(next);
  EXPECT_TRUE(next->commit == 3 || next->commit == 5) << next->commit;
  EXPECT_EQ(next->against, 0);
}

TEST(BisectPlanTest, AChangeSpreadOverTwoCommitsIsReportedAsARange) {
  // Commit 5 adds half the work, commit 11 the other half.
  v1::Bisection b = Range(15);
  Bisect(&b, [](int i) -> std::optional<double> {
    return 1.0 + (i + 1 >= 5 ? 0.25 : 0) + (i + 1 >= 11 ? 0.25 : 0);
  });
  ASSERT_EQ(b.state(), v1::BISECTION_STATE_SUCCEEDED) << b.message();
  EXPECT_EQ(IndexOf(b, b.culprit()) + 1, 5);
  EXPECT_TRUE(b.spread());
  EXPECT_EQ(IndexOf(b, b.range_first()) + 1, 5);
  EXPECT_EQ(IndexOf(b, b.range_last()) + 1, 16);
  EXPECT_NE(b.message().find("the change is spread"), std::string::npos) << b.message();
}

TEST(BisectPlanTest, ACulpritSomewhatBelowTheEndsIsTheWholeChange) {
  // Commit 9 makes it 47 % slower, a later one 2 % more: less than the suite's floor, so the
  // culprit is not called part of a spread change although the intervals do not overlap.
  v1::Bisection b = Range(15);
  Bisect(&b, [](int i) -> std::optional<double> {
    return 1.0 + (i + 1 >= 9 ? 0.47 : 0) + (i + 1 >= 13 ? 0.03 : 0);
  });
  ASSERT_EQ(b.state(), v1::BISECTION_STATE_SUCCEEDED) << b.message();
  EXPECT_EQ(IndexOf(b, b.culprit()) + 1, 9);
  EXPECT_FALSE(b.spread()) << b.message();
}

TEST(BisectPlanTest, EndsThatDoNotDifferFailWithoutBisecting) {
  v1::Bisection b = Range(15);
  const int measured = Bisect(&b, [](int) -> std::optional<double> { return 1.0; });
  EXPECT_EQ(measured, 1);
  EXPECT_EQ(b.state(), v1::BISECTION_STATE_FAILED);
  EXPECT_NE(b.message().find("not reproduced"), std::string::npos) << b.message();
}

TEST(BisectPlanTest, AMoveTheOtherWayCountsAsGoodForThisChange) {
  v1::BisectionStep s;
  JudgeStep(Measure(0.8), "regression", &s);
  EXPECT_EQ(s.outcome(), "other_way");
  JudgeStep(Measure(1.2), "regression", &s);
  EXPECT_EQ(s.outcome(), "like_bad");
  JudgeStep(Measure(1.03), "regression", &s);
  EXPECT_EQ(s.outcome(), "undecided");
  JudgeStep(Measure(1.0), "", &s);
  EXPECT_EQ(s.outcome(), "like_good");
}

TEST(BisectPlanTest, UndecidedStepsGrowWithinTheBudget) {
  v1::BisectionStep s;
  s.set_repetitions(9);
  EXPECT_EQ(RepeatRepetitions(s, 0, 60), 18) << "at least twice as many";
  EXPECT_EQ(RepeatRepetitions(s, 40, 60), 40) << "what the noise says";
  EXPECT_EQ(RepeatRepetitions(s, 400, 60), 60) << "within the budget";
  s.set_repetitions(60);
  EXPECT_EQ(RepeatRepetitions(s, 400, 60), 0) << "the budget is spent";
}

// A step's run of interleaved arms (A: against, B: the commit) in round order; `failed` names
// the arms that failed ("B3": the commit's third round), the rest succeeded.
v1::Run StepRun(const v1::BisectionStep& s, const std::set<std::string>& failed) {
  v1::Run run;
  run.set_state(v1::RUN_STATE_FAILED);
  for (int round = 1; round <= 3; ++round) {
    for (const char* side : {"A", "B"}) {
      v1::Job* j = run.add_jobs();
      const std::string name = absl::StrCat(side, round);
      j->mutable_spec()->set_commit(side[0] == 'A' ? s.against() : s.commit());
      j->mutable_spec()->mutable_arm()->set_round(round);
      const bool bad = failed.count(name) > 0;
      j->set_state(bad ? v1::JOB_STATE_FAILED : v1::JOB_STATE_SUCCEEDED);
      if (bad) j->set_message(name + ": none of the 2 repetitions was valid");
    }
  }
  return run;
}

TEST(BisectPlanTest, AFailedStepIsTheCommitsTheGoodSidesOrOnceAnInterruption) {
  v1::Bisection b = Range(16);
  v1::BisectionStep* s = b.add_steps();
  s->set_number(1);
  s->set_commit(b.commits(12).sha());
  s->set_against(b.commits(8).sha());
  // The commit's first round failed (it does not build or run; later rounds may have run on a
  // warm build cache): skipped, with its words.
  JudgeFailedStep(StepRun(*s, {"B1"}), b, s);
  EXPECT_EQ(s->outcome(), "skipped");
  EXPECT_EQ(s->note(), "B1: none of the 2 repetitions was valid");
  // The known-good side never ran: the bisection cannot go on.
  JudgeFailedStep(StepRun(*s, {"A1"}), b, s);
  EXPECT_EQ(s->outcome(), "failed");
  // Either side failing after a round it ran: interrupted, measured again.
  JudgeFailedStep(StepRun(*s, {"B3"}), b, s);
  EXPECT_EQ(s->outcome(), "interrupted");
  EXPECT_NE(s->note().find("the commit failed after a round it ran: B3"), std::string::npos)
      << s->note();
  JudgeFailedStep(StepRun(*s, {"A2"}), b, s);
  EXPECT_EQ(s->outcome(), "interrupted");
  EXPECT_NE(s->note().find("the known-good side"), std::string::npos) << s->note();
  // Once: the same step interrupted before, its next failure is the commit's (or the good
  // side's).
  v1::BisectionStep* again = b.add_steps();
  again->set_number(2);
  again->set_commit(s->commit());
  again->set_against(s->against());
  JudgeFailedStep(StepRun(*again, {"B2"}), b, again);
  EXPECT_EQ(again->outcome(), "skipped");
  JudgeFailedStep(StepRun(*again, {"A3"}), b, again);
  EXPECT_EQ(again->outcome(), "failed");
  // Another step (another commit) is interrupted once on its own account.
  again->set_commit(b.commits(10).sha());
  JudgeFailedStep(StepRun(*again, {"B2"}), b, again);
  EXPECT_EQ(again->outcome(), "interrupted");
  // Counted: a pair measured again is one step of the plan.
  again->set_commit(s->commit());
  v1::BisectionStep* skipped = b.add_steps();
  skipped->set_commit(b.commits(11).sha());
  skipped->set_against(s->against());
  skipped->set_outcome("skipped");
  const StepCounts n = CountSteps(b);
  EXPECT_EQ(n.pairs, 1);
  EXPECT_EQ(n.again, 1);
  EXPECT_EQ(n.skipped, 1);
}

TEST(BisectPlanTest, CommitsAreFoundByUniquePrefix) {
  v1::Bisection b = Range(12);
  EXPECT_EQ(FindCommit(b, b.commits(3).sha()), 3);
  EXPECT_EQ(FindCommit(b, "00000003"), 3);
  EXPECT_EQ(FindCommit(b, "0000000A"), 10) << "case does not matter";
  EXPECT_EQ(FindCommit(b, "0000"), -1) << "names more than one";
  EXPECT_EQ(FindCommit(b, "000"), -1) << "too short";
  EXPECT_EQ(FindCommit(b, "ffff"), -1);
}

}  // namespace
}  // namespace perfgate::controller
