#include "common/spec/suite_parser.h"

#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

TEST(SuiteParserTest, ParsesACompleteSuite) {
  auto spec = ParseSuite("s.yaml", R"(
name: smoke
project: demo
jobs:
  - name: hello
    command: echo hi
    env: {A: "1", B: two}
    working_dir: /tmp
    timeout: 10m
    cancel_grace: 5s
    agent_selector: {machine_class: bare-metal}
    max_attempts: 2
  - command: "true"
)");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->suite_name(), "smoke");
  EXPECT_EQ(spec->project(), "demo");
  ASSERT_EQ(spec->jobs_size(), 2);
  const auto& j = spec->jobs(0);
  EXPECT_EQ(j.name(), "hello");
  EXPECT_EQ(j.command().command(), "echo hi");
  EXPECT_EQ(j.command().env().at("A"), "1");
  EXPECT_EQ(j.command().timeout_seconds(), 600u);
  EXPECT_EQ(j.command().cancel_grace_seconds(), 5u);
  EXPECT_EQ(j.agent_selector().at("machine_class"), "bare-metal");
  EXPECT_EQ(j.max_attempts(), 2u);
}

TEST(SuiteParserTest, AcceptsJson) {
  auto spec =
      ParseSuite("s.json", R"({"name": "j", "jobs": [{"command": "true", "timeout": "30s"}]})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->jobs(0).command().timeout_seconds(), 30u);
}

TEST(SuiteParserTest, ErrorsNameFileLineFieldAndProblem) {
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"jobs:\n  - command: x\n    timout: 10m\n", "s.yaml:3:5: jobs[0].timout: unknown key"},
      {"jobs:\n  - command: x\n    timeout: soon\n",
       "s.yaml:3:14: jobs[0].timeout: want a positive duration"},
      {"jobs:\n  - name: a\n", "jobs[0].command: is required"},
      {"name: x\n", "jobs: is required"},
      {"jobs: []\n", "jobs: must be a non-empty list"},
      {"jobs:\n  - command: [a, b]\n", "s.yaml:2:14: jobs[0].command: must be a string"},
      {"jobs:\n  - command: x\n    max_attempts: many\n",
       "jobs[0].max_attempts: must be a whole number"},
      {"jobs: [\n", "s.yaml:2:1: not valid YAML/JSON"},
      {"", "the file is empty"},
      {"colour: red\njobs: []\n", "s.yaml:1:1: colour: unknown key"},
  };
  for (const auto& c : cases) {
    auto spec = ParseSuite("s.yaml", c.text);
    ASSERT_FALSE(spec.ok()) << c.text;
    EXPECT_TRUE(absl::IsInvalidArgument(spec.status()));
    EXPECT_NE(spec.status().message().find(c.want), std::string::npos)
        << "got: " << spec.status().message() << "\nwant: " << c.want;
  }
}

TEST(SuiteParserTest, RejectsOversizedInput) {
  std::string big = "jobs:\n  - command: \"" + std::string(kMaxSuiteBytes, 'x') + "\"\n";
  auto spec = ParseSuite("big.yaml", big);
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("at most"), std::string::npos);
  EXPECT_TRUE(absl::IsNotFound(LoadSuiteFile("/nonexistent/suite.yaml").status()));
}

}  // namespace
}  // namespace perfgate::common
