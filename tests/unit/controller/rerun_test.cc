#include "controller/queue/rerun.h"

#include "common/spec/run_spec_rules.h"
#include "gtest/gtest.h"

namespace perfgate::controller {
namespace {

TEST(RerunTest, TheSpecOfAStoredRunPassesTheRulesUnchanged) {
  v1::RunSpec submitted;
  submitted.set_project("shop");
  submitted.set_branch("feature");
  submitted.set_commit("abc123");
  submitted.set_kind(v1::RUN_KIND_CANDIDATE);
  submitted.set_baseline_branch("main");
  submitted.add_jobs()->mutable_command()->set_command("make bench");
  ASSERT_TRUE(common::ValidateAndDefaultRunSpec(&submitted).ok());
  // What the store keeps: the run's fields and each job with its filled-in spec.
  v1::Run run;
  run.set_id(7);
  run.set_project("shop");
  run.set_branch("feature");
  run.set_commit("abc123");
  run.set_kind(v1::RUN_KIND_CANDIDATE);
  run.set_baseline_branch("main");
  run.set_baseline_runs(submitted.baseline_runs());
  *run.add_jobs()->mutable_spec() = submitted.jobs(0);
  auto again = RerunSpec(run);
  ASSERT_TRUE(again.ok()) << again.status();
  v1::RunSpec checked = *again;
  ASSERT_TRUE(common::ValidateAndDefaultRunSpec(&checked).ok());
  EXPECT_EQ(checked.DebugString(), submitted.DebugString());
}

TEST(RerunTest, AConfirmationRunIsNotRerunButItsCandidateIs) {
  v1::Run run;
  run.set_id(9);
  run.set_confirms_run_id(4);
  run.add_jobs()->mutable_spec()->mutable_command()->set_command("x");
  auto s = RerunSpec(run);
  EXPECT_TRUE(absl::IsFailedPrecondition(s.status()));
  EXPECT_NE(s.status().message().find("rerun run 4 instead"), std::string::npos) << s.status();
}

}  // namespace
}  // namespace perfgate::controller
