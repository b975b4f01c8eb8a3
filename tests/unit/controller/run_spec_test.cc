#include "controller/queue/run_spec.h"

#include "gtest/gtest.h"

namespace perfgate::controller {
namespace {

v1::RunSpec OneJob(const std::string& command) {
  v1::RunSpec s;
  s.add_jobs()->mutable_command()->set_command(command);
  return s;
}

TEST(RunSpecTest, FillsDefaults) {
  v1::RunSpec s = OneJob("true");
  ASSERT_TRUE(ValidateAndDefaultRunSpec(&s, RetryPolicy{}).ok());
  EXPECT_EQ(s.kind(), v1::RUN_KIND_EXPERIMENT);
  EXPECT_EQ(s.jobs(0).name(), "job-0");
  EXPECT_EQ(s.jobs(0).max_attempts(), 3u);
  EXPECT_EQ(s.jobs(0).command().timeout_seconds(), 3600u);
  EXPECT_EQ(s.jobs(0).command().cancel_grace_seconds(), 30u);
}

TEST(RunSpecTest, ErrorsNameTheField) {
  struct Case {
    std::function<void(v1::RunSpec*)> mutate;
    std::string field;
  } cases[] = {
      {[](v1::RunSpec* s) { s->clear_jobs(); }, "spec.jobs:"},
      {[](v1::RunSpec* s) { s->mutable_jobs(0)->mutable_command()->set_command(""); },
       "spec.jobs[0].command.command:"},
      {[](v1::RunSpec* s) { s->mutable_jobs(0)->clear_command(); }, "spec.jobs[0].command:"},
      {[](v1::RunSpec* s) {
         s->mutable_jobs(0)->mutable_command()->set_timeout_seconds(99'999'999);
       },
       "spec.jobs[0].command.timeout_seconds:"},
      {[](v1::RunSpec* s) { (*s->mutable_jobs(0)->mutable_command()->mutable_env())["A=B"] = "x"; },
       "spec.jobs[0].command.env:"},
      {[](v1::RunSpec* s) { s->set_branch(std::string(5000, 'b')); }, "spec.branch:"},
      {[](v1::RunSpec* s) { s->set_commit(std::string("ab\0c", 4)); }, "spec.commit:"},
      {[](v1::RunSpec* s) { s->mutable_jobs(0)->set_max_attempts(11); },
       "spec.jobs[0].max_attempts:"},
      {[](v1::RunSpec* s) { s->set_kind(static_cast<v1::RunKind>(42)); }, "spec.kind:"},
      {[](v1::RunSpec* s) {
         s->mutable_jobs(0)->mutable_command()->set_command(std::string(70'000, 'x'));
       },
       "spec.jobs[0].command.command:"},
  };
  for (const auto& c : cases) {
    v1::RunSpec s = OneJob("true");
    c.mutate(&s);
    absl::Status st = ValidateAndDefaultRunSpec(&s, RetryPolicy{});
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << c.field;
    EXPECT_EQ(st.message().rfind(c.field, 0), 0u) << st.message();
  }
}

TEST(RunSpecTest, BoundsJobCount) {
  v1::RunSpec s;
  for (int i = 0; i < 300; ++i) s.add_jobs()->mutable_command()->set_command("true");
  EXPECT_TRUE(absl::IsInvalidArgument(ValidateAndDefaultRunSpec(&s, RetryPolicy{})));
}

}  // namespace
}  // namespace perfgate::controller
