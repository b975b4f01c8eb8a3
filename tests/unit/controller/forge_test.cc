// CI integration's pure parts: webhook parsing (GitLab's documented fields; GitHub's published
// examples are exercised end to end in tests/integration/forge_test.cc), comment commands, what
// an event asks for, how a run looks on a forge, how a forge's answer is read, the GitHub App's
// JWT (checked with the openssl command on a key it made), projects' rules.
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/hash/sha256.h"
#include "common/process/subprocess.h"
#include "controller/forge/commands.h"
#include "controller/forge/forge_event.h"
#include "controller/forge/forge_http.h"
#include "controller/forge/forge_report.h"
#include "controller/forge/github.h"
#include "controller/forge/planner.h"
#include "controller/forge/project_rules.h"
#include "gtest/gtest.h"

namespace perfgate::controller {
namespace {

using nlohmann::json;

constexpr char kSuite[] = R"(name: hello
jobs:
  - name: tiny
    benchmark:
      workload:
        duration: 1s
        repetitions: 5
        command: {run: "echo"}
)";

v1::Project Project() {
  v1::Project p;
  p.set_name("hello");
  p.set_forge("github");
  p.set_repository("octo/hello");
  p.add_suites()->set_yaml(kSuite);
  EXPECT_TRUE(ValidateProject(&p).ok());
  return p;
}

ForgeEvent PullRequestEvent(const std::string& action, bool fork = false) {
  ForgeEvent e;
  e.kind = ForgeEvent::Kind::kPullRequest;
  e.forge = kGitHub;
  e.repository = "octo/hello";
  e.default_branch = "main";
  e.action = action;
  e.pr_number = 7;
  e.head_sha = std::string(40, 'a');
  e.head_branch = "feature";
  e.base_branch = "main";
  e.from_fork = fork;
  return e;
}

ForgeEvent CommentEvent(const std::string& body, const std::string& association) {
  ForgeEvent e;
  e.kind = ForgeEvent::Kind::kComment;
  e.forge = kGitHub;
  e.repository = "octo/hello";
  e.pr_number = 7;
  e.comment_body = body;
  e.commenter = "alice";
  e.author_association = association;
  return e;
}

TEST(ForgeCommandTest, ParsesTheCommandLine) {
  auto none = ParseForgeCommand("looks good to me\n/perfgates run");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto run = ParseForgeCommand("please\n  /perfgate run api db --repetitions 20  \nthanks");
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_EQ((*run)->verb, ForgeCommand::Verb::kRun);
  EXPECT_EQ((*run)->suites, (std::vector<std::string>{"api", "db"}));
  EXPECT_EQ((*run)->repetitions, 20);
  EXPECT_EQ((*ParseForgeCommand("/perfgate rerun"))->verb, ForgeCommand::Verb::kRerun);
  EXPECT_EQ((*ParseForgeCommand("/perfgate aa"))->verb, ForgeCommand::Verb::kAa);
  EXPECT_EQ((*ParseForgeCommand("/perfgate"))->verb, ForgeCommand::Verb::kHelp);
  EXPECT_EQ(ParseForgeCommand("/perfgate launch").status().message(), "unknown command `launch`");
  EXPECT_EQ(ParseForgeCommand("/perfgate run --repetitions=1").status().message(),
            "--repetitions: `1` is not a number from 2 to 200");
  EXPECT_EQ(ParseForgeCommand("/perfgate run --force").status().message(),
            "unknown option `--force`");
  EXPECT_EQ(ParseForgeCommand("/perfgate rerun now").status().message(),
            "`rerun` takes no arguments");
}

TEST(ForgePlannerTest, PushToABaselineBranchMakesBaselines) {
  ForgeEvent push;
  push.kind = ForgeEvent::Kind::kPush;
  push.forge = kGitHub;
  push.default_branch = "main";
  push.branch = "main";
  push.after_sha = std::string(40, 'c');
  auto plan = PlanForgeEvent(Project(), push, std::nullopt, common::SpecLimits());
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->runs.size(), 1u);
  EXPECT_EQ(plan->runs[0].kind(), v1::RUN_KIND_BASELINE);
  EXPECT_EQ(plan->runs[0].commit(), push.after_sha);
  EXPECT_EQ(plan->runs[0].project(), "hello");
  EXPECT_EQ(plan->runs[0].jobs(0).max_attempts(), 3u);  // the controller's defaults filled in
  push.branch = "topic";
  plan = PlanForgeEvent(Project(), push, std::nullopt, common::SpecLimits());
  EXPECT_TRUE(plan->runs.empty());
  EXPECT_EQ(plan->outcome, "ignored: topic is not a baseline branch (main)");
  v1::Project p = Project();
  p.add_baseline_branches("release");
  push.branch = "release";
  EXPECT_EQ(PlanForgeEvent(p, push, std::nullopt, common::SpecLimits())->runs.size(), 1u);
}

// A registered suite with tiers is planned as a campaign of every tier, each tier's spec shaped
// (kind, commit, branch) and validated like a run's.
TEST(ForgePlannerTest, ASuiteWithTiersIsPlannedAsACampaign) {
  v1::Project p = Project();
  std::string yaml = kSuite;
  yaml.replace(yaml.find("jobs:"), 0,
               "tiers:\n  small: {limits: [{metric: x, max: 1}]}\n  large: {limits: [{metric: x, "
               "max: 2}]}\n");
  p.mutable_suites(0)->set_yaml(yaml);
  ForgeEvent pr = PullRequestEvent("opened");
  auto plan = PlanForgeEvent(p, pr, std::nullopt, common::SpecLimits());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->runs.empty());
  ASSERT_EQ(plan->campaigns.size(), 1u);
  const v1::Campaign& c = plan->campaigns[0];
  EXPECT_EQ(c.kind(), v1::RUN_KIND_CANDIDATE);
  EXPECT_EQ(c.commit(), pr.head_sha);
  EXPECT_EQ(c.project(), "hello");
  ASSERT_EQ(c.tiers_size(), 2);
  EXPECT_EQ(c.tiers(1).name(), "large");
  EXPECT_EQ(c.tiers(1).spec().jobs(0).name(), "tiny@large");
  EXPECT_EQ(c.tiers(1).spec().baseline_branch(), pr.base_branch);
  EXPECT_EQ(c.tiers(1).spec().jobs(0).max_attempts(), 3u);
  EXPECT_NE(plan->outcome.find("0 candidate run(s) and 1 campaign(s)"), std::string::npos)
      << plan->outcome;
}

TEST(ForgePlannerTest, PullRequestsRunAsCandidatesForksWaitForATrustedCommand) {
  auto plan =
      PlanForgeEvent(Project(), PullRequestEvent("opened"), std::nullopt, common::SpecLimits());
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->runs.size(), 1u);
  EXPECT_EQ(plan->runs[0].kind(), v1::RUN_KIND_CANDIDATE);
  EXPECT_EQ(plan->runs[0].baseline_branch(), "main");
  EXPECT_TRUE(plan->supersede);

  auto fork = PlanForgeEvent(Project(), PullRequestEvent("opened", true), std::nullopt,
                             common::SpecLimits());
  EXPECT_TRUE(fork->runs.empty());
  EXPECT_TRUE(absl::StrContains(fork->reply, "comes from a fork"));
  ASSERT_TRUE(fork->pr.has_value());
  // A label the project names admits it.
  v1::Project p = Project();
  p.set_fork_label("safe-to-bench");
  ForgeEvent labelled = PullRequestEvent("labeled", true);
  labelled.labels = {"safe-to-bench"};
  EXPECT_EQ(PlanForgeEvent(p, labelled, std::nullopt, common::SpecLimits())->runs.size(), 1u);
  // A trusted comment runs the held fork PR at its recorded head.
  PullRequestRecord known = *fork->pr;
  auto cmd = PlanForgeEvent(Project(), CommentEvent("/perfgate run --repetitions 4", "MEMBER"),
                            known, common::SpecLimits());
  ASSERT_EQ(cmd->runs.size(), 1u);
  EXPECT_EQ(cmd->runs[0].commit(), known.head_sha);
  EXPECT_EQ(cmd->runs[0].jobs(0).benchmark().workload().repetitions(), 4u);
  EXPECT_TRUE(cmd->reply_lists_runs);
  // Closed: unfinished runs cancelled.
  EXPECT_TRUE(PlanForgeEvent(Project(), PullRequestEvent("closed"), known, common::SpecLimits())
                  ->cancel_open_runs);
}

TEST(ForgePlannerTest, CommandsAreTakenOnlyFromTrustedPeopleAndAlwaysAnswered) {
  PullRequestRecord known;
  known.number = 7;
  known.head_sha = std::string(40, 'a');
  known.base_branch = "main";
  auto refused = PlanForgeEvent(Project(), CommentEvent("/perfgate run", "CONTRIBUTOR"), known,
                                common::SpecLimits());
  EXPECT_TRUE(refused->runs.empty());
  EXPECT_TRUE(absl::StrContains(refused->reply, "@alice may not command perfgate here"));
  v1::Project p = Project();
  p.add_trusted_users("alice");
  EXPECT_EQ(
      PlanForgeEvent(p, CommentEvent("/perfgate run", "CONTRIBUTOR"), known, common::SpecLimits())
          ->runs.size(),
      1u);
  auto unknown_suite = PlanForgeEvent(Project(), CommentEvent("/perfgate run nope", "OWNER"), known,
                                      common::SpecLimits());
  EXPECT_EQ(unknown_suite->reply, "perfgate: no suite `nope` in project hello (suites: hello)");
  auto bad = PlanForgeEvent(Project(), CommentEvent("/perfgate fly", "OWNER"), known,
                            common::SpecLimits());
  EXPECT_TRUE(absl::StartsWith(bad->reply, "perfgate: unknown command `fly`"));
  EXPECT_TRUE(absl::StrContains(bad->reply, "/perfgate rerun"));  // with the help
  auto unseen = PlanForgeEvent(Project(), CommentEvent("/perfgate run", "OWNER"), std::nullopt,
                               common::SpecLimits());
  EXPECT_TRUE(absl::StrContains(unseen->reply, "has not seen pull request #7"));
  ForgeEvent bot = CommentEvent("/perfgate run", "OWNER");
  bot.commenter_is_bot = true;
  EXPECT_TRUE(PlanForgeEvent(Project(), bot, known, common::SpecLimits())->reply.empty());
  auto chat =
      PlanForgeEvent(Project(), CommentEvent("nice work", "NONE"), known, common::SpecLimits());
  EXPECT_TRUE(chat->reply.empty());
  auto aa =
      PlanForgeEvent(Project(), CommentEvent("/perfgate aa", "OWNER"), known, common::SpecLimits());
  ASSERT_EQ(aa->runs.size(), 1u);
  EXPECT_TRUE(aa->runs[0].aa());
  EXPECT_EQ(aa->runs[0].branch(), "main");
}

TEST(GitLabEventTest, ReadsGitLabsDocumentedFields) {
  json mr = {{"object_kind", "merge_request"},
             {"user", {{"username", "root"}}},
             {"project",
              {{"id", 15},
               {"path_with_namespace", "group/app"},
               {"default_branch", "main"},
               {"git_http_url", "https://gitlab.example.com/group/app.git"}}},
             {"object_attributes",
              {{"iid", 3},
               {"action", "update"},
               {"oldrev", "111"},
               {"source_branch", "feature"},
               {"target_branch", "main"},
               {"source_project_id", 15},
               {"target_project_id", 15},
               {"last_commit", {{"id", std::string(40, 'd')}}}}},
             {"labels", json::array({{{"title", "perf"}}})}};
  auto e = ParseGitLabEvent("Merge Request Hook", mr.dump());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->kind, ForgeEvent::Kind::kPullRequest);
  EXPECT_EQ(e->action, "synchronize");  // a new head (oldrev)
  EXPECT_EQ(e->repository, "group/app");
  EXPECT_EQ(e->repository_id, "15");
  EXPECT_EQ(e->clone_url, "https://gitlab.example.com/group/app.git");
  EXPECT_EQ(e->head_sha, std::string(40, 'd'));
  EXPECT_FALSE(e->from_fork);
  EXPECT_EQ(e->labels, std::vector<std::string>{"perf"});
  mr["object_attributes"].erase("oldrev");
  EXPECT_EQ(ParseGitLabEvent("Merge Request Hook", mr.dump())->action, "labeled");
  mr["object_attributes"]["source_project_id"] = 99;
  EXPECT_TRUE(ParseGitLabEvent("Merge Request Hook", mr.dump())->from_fork);
  mr["object_attributes"].erase("last_commit");
  EXPECT_EQ(ParseGitLabEvent("Merge Request Hook", mr.dump()).status().message(),
            "object_attributes.last_commit.id: missing");

  json note = {
      {"object_kind", "note"},
      {"user", {{"username", "root"}}},
      {"project", {{"id", 15}, {"path_with_namespace", "group/app"}}},
      {"object_attributes", {{"note", "/perfgate run"}, {"noteable_type", "MergeRequest"}}},
      {"merge_request",
       {{"iid", 3},
        {"source_branch", "feature"},
        {"target_branch", "main"},
        {"source_project_id", 15},
        {"target_project_id", 15},
        {"last_commit", {{"id", std::string(40, 'e')}}}}}};
  auto n = ParseGitLabEvent("Note Hook", note.dump());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->kind, ForgeEvent::Kind::kComment);
  EXPECT_TRUE(n->has_pr_details);
  EXPECT_EQ(n->head_sha, std::string(40, 'e'));
  note["object_attributes"]["noteable_type"] = "Issue";
  EXPECT_EQ(ParseGitLabEvent("Note Hook", note.dump())->kind, ForgeEvent::Kind::kIgnored);
  json push = {{"ref", "refs/heads/main"},
               {"after", std::string(40, '0')},
               {"project", {{"path_with_namespace", "group/app"}}}};
  EXPECT_EQ(ParseGitLabEvent("Push Hook", push.dump())->ignored_why, "branch main was deleted");
  EXPECT_EQ(ParseGitLabEvent("Pipeline Hook", "{}")->kind, ForgeEvent::Kind::kIgnored);
  EXPECT_EQ(ParseGitLabEvent("Push Hook", "[1]").status().message(), "body: not a JSON object");
}

v1::Run AnalysedRun(const std::string& verdict) {
  v1::Run r;
  r.set_id(12);
  r.set_state(v1::RUN_STATE_SUCCEEDED);
  r.set_kind(v1::RUN_KIND_CANDIDATE);
  r.set_suite_name("hello");
  r.set_commit(std::string(40, 'a'));
  r.set_analysed(true);
  r.set_verdict(verdict);
  return r;
}

TEST(ForgeReportTest, ConclusionsFollowTheFinalVerdict) {
  ReportInput in;
  in.run = AnalysedRun("regression");
  in.run.set_state(v1::RUN_STATE_QUEUED);
  in.run.set_analysed(false);
  EXPECT_EQ(ReportRun(in).status, RunReport::Status::kQueued);
  EXPECT_EQ(ReportRun(in).gitlab_state, "pending");
  in.run.set_state(v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(ReportRun(in).title, "analysing");
  in.run.set_analysed(true);
  in.comparison.emplace();
  in.comparison->set_verdict(v1::VERDICT_REGRESSION);
  in.comparison->set_summary("regression: 1 metrics compared; 1 regressed");
  RunReport r = ReportRun(in);
  EXPECT_EQ(r.conclusion, "failure");
  EXPECT_EQ(r.status_state, "failure");
  EXPECT_EQ(r.gitlab_state, "failed");
  // Inconclusive with a confirmation pending: still in progress.
  in.comparison->set_verdict(v1::VERDICT_INCONCLUSIVE);
  in.run.set_confirmed_by_run_id(13);
  in.confirmation = AnalysedRun("");
  in.confirmation->set_analysed(false);
  EXPECT_EQ(ReportRun(in).status, RunReport::Status::kInProgress);
  in.confirmation->set_analysed(true);
  EXPECT_EQ(ReportRun(in).conclusion, "neutral");
  // A critical limit fails even without a regression.
  in.comparison->set_verdict(v1::VERDICT_NO_CHANGE);
  in.comparison->add_limits()->set_level("critical");
  EXPECT_EQ(ReportRun(in).conclusion, "failure");
  in.comparison->clear_limits();
  EXPECT_EQ(ReportRun(in).conclusion, "success");
  // No baseline: neutral, said so.
  in.comparison->set_verdict(v1::VERDICT_UNSPECIFIED);
  in.comparison->set_note("no baseline run of hello on main");
  EXPECT_EQ(ReportRun(in).title, "no verdict: no baseline run of hello on main");
  in.run.set_state(v1::RUN_STATE_CANCELLED);
  in.superseded_by = 14;
  EXPECT_EQ(ReportRun(in).title, "superseded by run 14");
  EXPECT_EQ(ReportRun(in).conclusion, "cancelled");
  // GitHub's limits hold for any title.
  in.comparison->set_note(std::string(5000, 'x'));
  in.run.set_state(v1::RUN_STATE_SUCCEEDED);
  EXPECT_LE(ReportRun(in).description.size(), kStatusDescriptionLimit);
}

// A campaign tier's report is its campaign's: pending until the outcome is known, then the
// outcome as the conclusion, titled with the first reason.
TEST(ForgeReportTest, ACampaignsOutcomeIsTheConclusion) {
  ReportInput in;
  in.run = AnalysedRun("regression");
  in.campaign_url = "https://perfgate.example/campaigns/4";
  v1::CampaignReport& rep = in.campaign.emplace();
  v1::Campaign& c = *rep.mutable_campaign();
  c.set_id(4);
  c.set_suite_name("hello");
  c.set_kind(v1::RUN_KIND_CANDIDATE);
  c.add_tiers()->set_state(v1::RUN_STATE_SUCCEEDED);
  c.add_tiers()->set_state(v1::RUN_STATE_RUNNING);
  c.set_state(v1::RUN_STATE_RUNNING);
  rep.set_outcome("pending");
  EXPECT_EQ(ReportRun(in).status, RunReport::Status::kInProgress);
  EXPECT_EQ(ReportRun(in).title, "running: 1 of 2 tiers ended");
  c.mutable_tiers(1)->set_state(v1::RUN_STATE_SUCCEEDED);
  c.set_state(v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(ReportRun(in).title, "analysing");
  rep.set_outcome("fail");
  rep.add_reasons("tier large: api p99 regressed +40.0 % against the tier's baseline");
  rep.add_reasons("tier large: api p99 120 ms: above acceptable");
  RunReport r = ReportRun(in);
  EXPECT_EQ(r.conclusion, "failure");
  EXPECT_EQ(r.title,
            "fail: tier large: api p99 regressed +40.0 % against the tier's baseline (and 1 more)");
  EXPECT_NE(r.summary.find("perfgate campaign [4](https://perfgate.example/campaigns/4)"),
            std::string::npos)
      << r.summary;
  EXPECT_NE(r.summary.find("### perfgate campaign: **fail**"), std::string::npos) << r.summary;
  EXPECT_NE(r.verdict_line.find("[campaign 4]"), std::string::npos) << r.verdict_line;
  EXPECT_LE(r.description.size(), kStatusDescriptionLimit);
  rep.set_outcome("warn");
  EXPECT_EQ(ReportRun(in).conclusion, "neutral");
  EXPECT_EQ(ReportRun(in).status_state, "success");
  rep.set_outcome("pass");
  rep.clear_reasons();
  EXPECT_EQ(ReportRun(in).conclusion, "success");
  EXPECT_FALSE(AnyChange({in}));
  rep.set_outcome("fail");
  EXPECT_TRUE(AnyChange({in}));
  c.set_state(v1::RUN_STATE_CANCELLED);
  rep.set_outcome("warn");
  EXPECT_EQ(ReportRun(in).conclusion, "cancelled");
}

TEST(ForgeReportTest, LongReportsAreCutWithALink) {
  std::string text(70000, 'x');
  text += "ü";
  std::string cut = CutMarkdown(text, kGitHubSummaryLimit, "http://pg/runs/1/compare");
  EXPECT_LE(cut.size(), kGitHubSummaryLimit);
  EXPECT_TRUE(absl::EndsWith(cut, "the whole report: http://pg/runs/1/compare\n"));
  // Every limit that lands inside a two-byte "ü" cuts before it: never half a character.
  std::string utf8 = std::string(100, 'x');
  for (int i = 0; i < 50; ++i) utf8 += "ü";
  for (size_t limit = 150; limit < 200; ++limit) {
    const std::string out = CutMarkdown(utf8, limit, "u");
    EXPECT_LE(out.size(), limit);
    const size_t kept = out.find("\n\n… cut to fit");
    ASSERT_NE(kept, std::string::npos) << limit;
    ASSERT_GE(kept, 100u) << limit;
    EXPECT_EQ((kept - 100) % 2, 0u) << "limit " << limit << " split a character";
  }
  ReportInput in;
  in.run = AnalysedRun("no_change");
  in.comparison.emplace();
  in.comparison->set_verdict(v1::VERDICT_NO_CHANGE);
  const std::string body = PrCommentBody({in}, in.run.commit());
  EXPECT_TRUE(absl::StartsWith(body, kPrCommentMarker));
  EXPECT_TRUE(absl::StrContains(body, "| `hello` | ✅"));
  EXPECT_FALSE(AnyChange({in}));
  in.comparison->set_regressions(1);
  EXPECT_TRUE(AnyChange({in}));
}

TEST(ForgeHttpTest, AnswersAreReadAsTheOutboxNeeds) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  HttpAnswer ok{201, "{}", {}, ""};
  EXPECT_EQ(ClassifyAnswer(ok, 0, now).kind, SendOutcome::Kind::kSent);
  HttpAnswer down{0, "", {}, "connection refused"};
  SendOutcome o = ClassifyAnswer(down, 3, now);
  EXPECT_EQ(o.kind, SendOutcome::Kind::kRetry);
  EXPECT_EQ(o.retry_at, now + absl::Seconds(16));
  EXPECT_EQ(ClassifyAnswer(down, 30, now).retry_at, now + absl::Minutes(5));
  HttpAnswer limited{429, R"({"message":"slow down"})", {{"Retry-After", "42"}}, ""};
  o = ClassifyAnswer(limited, 0, now);
  EXPECT_EQ(o.kind, SendOutcome::Kind::kRetry);
  EXPECT_EQ(o.retry_at, now + absl::Seconds(42));
  EXPECT_EQ(o.error, "429: slow down");
  HttpAnswer primary{403,
                     R"({"message":"API rate limit exceeded"})",
                     {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "1800000600"}},
                     ""};
  o = ClassifyAnswer(primary, 0, now);
  EXPECT_EQ(o.kind, SendOutcome::Kind::kRetry);
  EXPECT_EQ(o.retry_at, now + absl::Minutes(10));
  HttpAnswer forbidden{403, R"({"message":"Resource not accessible by integration"})", {}, ""};
  o = ClassifyAnswer(forbidden, 0, now);
  EXPECT_EQ(o.kind, SendOutcome::Kind::kRefused);
  EXPECT_EQ(o.error, "403: Resource not accessible by integration");
  HttpAnswer invalid{422, R"({"message":"Invalid request","errors":[{"field":"status"}]})", {}, ""};
  EXPECT_TRUE(absl::StrContains(ClassifyAnswer(invalid, 0, now).error, "\"field\":\"status\""));
  EXPECT_EQ(ClassifyAnswer(HttpAnswer{502, "", {}, ""}, 0, now).kind, SendOutcome::Kind::kRetry);
  EXPECT_EQ(UrlEncode("perfgate / a_b"), "perfgate%20%2F%20a_b");
}

// The JWT verifies with openssl and an RSA key openssl made: an implementation not ours.
TEST(GitHubAppJwtTest, SignsRs256ThatOpensslVerifies) {
  char dir[] = "/tmp/perfgate-jwt-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string d = dir;
  int code = -1;
  common::SpawnOptions gen;
  gen.argv = {"openssl", "genrsa", "-out", d + "/key.pem", "2048"};
  ASSERT_TRUE(common::RunAndCapture(gen, &code).ok());
  ASSERT_EQ(code, 0);
  common::SpawnOptions pub;
  pub.argv = {"openssl", "rsa", "-in", d + "/key.pem", "-pubout", "-out", d + "/pub.pem"};
  ASSERT_TRUE(common::RunAndCapture(pub, &code).ok());
  std::ifstream in(d + "/key.pem");
  const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  auto jwt = GitHubAppJwt("12345", pem, now);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  std::vector<std::string> parts = absl::StrSplit(*jwt, '.');
  ASSERT_EQ(parts.size(), 3u);
  std::string header, payload, sig;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[0], &header));
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[1], &payload));
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[2], &sig));
  EXPECT_EQ(json::parse(header)["alg"], "RS256");
  json p = json::parse(payload);
  EXPECT_EQ(p["iss"], "12345");
  EXPECT_EQ(p["iat"], 1'800'000'000 - 60);
  EXPECT_EQ(p["exp"], 1'800'000'000 + 540);
  std::ofstream(d + "/data") << parts[0] << "." << parts[1];
  std::ofstream(d + "/sig", std::ios::binary) << sig;
  common::SpawnOptions verify;
  verify.argv = {"openssl",      "dgst",       "-sha256",  "-verify",
                 d + "/pub.pem", "-signature", d + "/sig", d + "/data"};
  auto out = common::RunAndCapture(verify, &code);
  EXPECT_EQ(code, 0) << (out.ok() ? *out : "");
  EXPECT_FALSE(GitHubAppJwt("1", "not a key", now).ok());
  common::SpawnOptions rm;
  rm.argv = {"rm", "-rf", d};
  (void)common::RunAndCapture(rm, &code);
}

TEST(ProjectRulesTest, NamesTheFieldAndTheProblem) {
  v1::Project p = Project();
  EXPECT_EQ(p.suites(0).name(), "hello");  // from the file
  EXPECT_EQ(p.comment(), "always");
  auto bad = [](auto mutate) {
    v1::Project q = Project();
    mutate(q);
    return std::string(ValidateProject(&q).message());
  };
  EXPECT_EQ(bad([](v1::Project& q) { q.set_name("Bad Name"); }),
            "project.name: want 1 to 63 of a-z 0-9 . _ - starting with a letter or digit");
  EXPECT_EQ(bad([](v1::Project& q) { q.set_forge("bitbucket"); }),
            "project.forge: `bitbucket` is not github or gitlab");
  EXPECT_EQ(bad([](v1::Project& q) { q.set_repository("just-a-name"); }),
            "project.repository: want owner/name");
  EXPECT_EQ(bad([](v1::Project& q) { q.add_triggers("tag"); }),
            "project.triggers[0]: `tag` is not one of comment, pull_request, push");
  EXPECT_EQ(bad([](v1::Project& q) { q.set_comment("sometimes"); }),
            "project.comment: `sometimes` is not always, on_change or never");
  EXPECT_EQ(bad([](v1::Project& q) { q.add_suites()->set_yaml(kSuite); }),
            "project.suites[1]: suite `hello` appears twice");
  EXPECT_TRUE(absl::StartsWith(
      bad([](v1::Project& q) { q.mutable_suites(0)->set_yaml("name: x\njobs: 3\n"); }),
      "project.suites[0]: "));
  EXPECT_EQ(bad([](v1::Project& q) { q.clear_suites(); }), "project.suites: at least one suite");
  EXPECT_EQ(bad([](v1::Project& q) {
              q.set_forge("gitlab");
              q.add_reports("check_run");
            }),
            "project.reports[0]: `check_run` is not one of commit_status");
}

TEST(ProjectRulesTest, SuitesKeptInTheRepositoryAreCheckedPaths) {
  v1::Project p = Project();
  p.add_suites()->set_path(".perfgate/api-bench.yaml");
  ASSERT_TRUE(ValidateProject(&p).ok()) << ValidateProject(&p);
  EXPECT_EQ(p.suites(1).name(), "api-bench") << "named after the file by default";
  auto bad = [](const std::string& name, const std::string& path, const std::string& yaml = "") {
    v1::Project q = Project();
    v1::ProjectSuite* s = q.add_suites();
    s->set_name(name);
    s->set_path(path);
    s->set_yaml(yaml);
    return std::string(ValidateProject(&q).message());
  };
  EXPECT_EQ(bad("", "/etc/passwd"),
            "project.suites[1].path: want a path relative to the repository's root, with /");
  EXPECT_EQ(bad("", "a/../../x.yaml"),
            "project.suites[1].path: 'a/../../x.yaml': no empty, . or "
            ".. parts");
  EXPECT_EQ(bad("x", "s.yaml", kSuite),
            "project.suites[1]: give a registered file or a path, not both");
  EXPECT_EQ(bad("hello", "s.yaml"), "project.suites[1]: suite `hello` appears twice");
  EXPECT_EQ(bad("no spaces", "s.yaml"),
            "project.suites[1].name: `no spaces`: want 1 to 100 of A-Z a-z 0-9 . _ -");
}

TEST(ForgePlannerTest, RepositorySuitesBecomeOneSuiteFileJobWithTheCloneUrl) {
  v1::Project p = Project();
  p.clear_suites();
  v1::ProjectSuite* s = p.add_suites();
  s->set_name("perf");
  s->set_path(".perfgate/suite.yaml");
  ASSERT_TRUE(ValidateProject(&p).ok());
  ForgeEvent cmd = CommentEvent("/perfgate run --repetitions 4", "MEMBER");
  cmd.clone_url = "https://github.com/octo/hello.git";
  PullRequestRecord known;
  known.number = 7;
  known.head_sha = std::string(40, 'c');
  known.base_branch = "main";
  known.head_branch = "feature";
  known.open = true;
  auto plan = PlanForgeEvent(p, cmd, known, common::SpecLimits());
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->runs.size(), 1u);
  const v1::RunSpec& run = plan->runs[0];
  EXPECT_EQ(run.suite_name(), "perf");
  ASSERT_EQ(run.jobs_size(), 1);
  EXPECT_EQ(run.jobs(0).suite_file().repository(), "https://github.com/octo/hello.git");
  EXPECT_EQ(run.jobs(0).suite_file().path(), ".perfgate/suite.yaml");
  EXPECT_EQ(run.jobs(0).suite_file().repetitions(), 4u) << "applied when the file is read";
  EXPECT_EQ(run.commit(), std::string(40, 'c'));
  // The project's clone URL wins; without either the delivery is refused, saying what to set.
  p.set_clone_url("/srv/mirrors/hello.git");
  EXPECT_EQ(PlanForgeEvent(p, cmd, known, common::SpecLimits())
                ->runs[0]
                .jobs(0)
                .suite_file()
                .repository(),
            "/srv/mirrors/hello.git");
  p.clear_clone_url();
  cmd.clone_url.clear();
  auto none = PlanForgeEvent(p, cmd, known, common::SpecLimits());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(none.status().message(), "set the project's clone_url"));
}

TEST(ForgeReportTest, AFailedRunSaysWhichJobFailedAndWhy) {
  ReportInput in;
  in.run.set_id(5);
  in.run.set_state(v1::RUN_STATE_FAILED);
  v1::Job* ok = in.run.add_jobs();
  ok->set_name("build");
  ok->set_state(v1::JOB_STATE_SUCCEEDED);
  ok->set_message("done");
  v1::Job* bad = in.run.add_jobs();
  bad->set_name("suite-file");
  bad->set_state(v1::JOB_STATE_FAILED);
  bad->set_message(".perfgate/suite.yaml:9:9: jobs[0].benchmark.workload.repetitons: unknown key");
  RunReport r = ReportRun(in);
  EXPECT_EQ(r.conclusion, "failure");
  EXPECT_EQ(r.title,
            "job suite-file failed: .perfgate/suite.yaml:9:9: jobs[0].benchmark.workload."
            "repetitons: unknown key");
  EXPECT_LE(r.description.size(), 140u);
  bad->set_message("");
  EXPECT_EQ(ReportRun(in).title, "the run failed (see its log)");
}

TEST(ConstantTimeEqualsTest, ComparesWholeStrings) {
  EXPECT_TRUE(common::ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(common::ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(common::ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(common::ConstantTimeEquals("", "a"));
}

}  // namespace
}  // namespace perfgate::controller
