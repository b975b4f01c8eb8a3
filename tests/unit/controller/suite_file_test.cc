// The jobs a suite_file job adds to its run: the file's errors located by line, the build
// repository defaulted, the repetitions override applied, clashes and nesting refused.
#include "controller/queue/suite_file.h"

#include "absl/strings/match.h"
#include "common/spec/suite_parser.h"
#include "gtest/gtest.h"

namespace perfgate::controller {
namespace {

constexpr char kRepositorySuite[] = R"(name: from-the-repo
jobs:
  - name: api
    benchmark:
      build: {commands: ["make"]}
      workload:
        repetitions: 5
        command: {run: "./bench"}
  - name: other
    benchmark:
      build: {repository: "https://example.com/other.git", commands: ["make"]}
      workload: {command: {run: "./bench"}}
)";

v1::SuiteFileJob Job(uint32_t repetitions = 0) {
  v1::SuiteFileJob j;
  j.set_repository("/srv/app.git");
  j.set_path(".perfgate/suite.yaml");
  j.set_repetitions(repetitions);
  return j;
}

TEST(SuiteFileTest, JobsGetTheRepositoryAndTheControllersDefaults) {
  common::SpecLimits limits;
  limits.default_max_attempts = 2;
  auto jobs = ExpandSuiteFile(Job(), kRepositorySuite, {"suite-file"}, limits);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 2);
  EXPECT_EQ((*jobs)[0].benchmark().build().repository(), "/srv/app.git");
  EXPECT_EQ((*jobs)[1].benchmark().build().repository(), "https://example.com/other.git")
      << "a job naming its repository keeps it";
  EXPECT_EQ((*jobs)[0].benchmark().workload().repetitions(), 5u);
  EXPECT_EQ((*jobs)[0].max_attempts(), 2u) << "the controller's retry policy";
  auto more = ExpandSuiteFile(Job(12), kRepositorySuite, {"suite-file"}, limits);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ((*more)[0].benchmark().workload().repetitions(), 12u) << "/perfgate run --repetitions";
  EXPECT_EQ((*more)[1].benchmark().workload().repetitions(), 12u);
}

TEST(SuiteFileTest, ErrorsNameTheFileLineAndField) {
  struct Case {
    std::string text, want;
    std::set<std::string> taken = {"suite-file"};
    int max_jobs = 256;
  } cases[] = {
      {"name: x\njobs:\n  - command: x\n    timout: 1m\n",
       ".perfgate/suite.yaml:4:5: jobs[0].timout: unknown key"},
      {"name: x\njobs: [\n", ".perfgate/suite.yaml:3:1: not valid YAML/JSON"},
      {"", ".perfgate/suite.yaml"},
      {kRepositorySuite,
       ".perfgate/suite.yaml: job `api`: the run already has a job of that name",
       {"suite-file", "api"}},
      {kRepositorySuite,
       ".perfgate/suite.yaml: 2 jobs; a run may have at most 2",
       {"suite-file"},
       2},
      {std::string(common::kMaxSuiteBytes + 1, '#'), "a suite file may be at most"},
  };
  for (const auto& c : cases) {
    common::SpecLimits limits;
    limits.max_jobs = c.max_jobs;
    auto got = ExpandSuiteFile(Job(), c.text, c.taken, limits);
    ASSERT_FALSE(got.ok()) << c.text.substr(0, 80);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(got.status().message(), c.want))
        << "got: " << got.status().message() << "\nwant: " << c.want;
  }
}

}  // namespace
}  // namespace perfgate::controller
