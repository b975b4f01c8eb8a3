// CI integration end to end with real parts: GitHub's published webhook examples signed by
// Octokit go into a real controller; runs execute on a real agent; every request the controller
// sends back to "GitHub" is checked by Prism against GitHub's official OpenAPI description
// (recorded by a proxy that can also play an outage or a rate limit); the CLI's --gate reads
// the verdicts. GitLab's side uses payloads built from GitLab's documented fields and a
// recording server.
#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/chaos/chaos_support.h"
#include "tests/integration/fixture.h"
#include "tests/integration/forge_fixture.h"

namespace perfgate::testing {
namespace {

using nlohmann::json;

// The loop a pull request sees: push to the default branch -> baseline; PR opened -> candidate,
// check run queued .. completed with the Markdown report, commit status, one PR comment; a
// trusted `/perfgate run` -> a new run, the bot's reply, the same comment edited in place.
TEST_F(ForgeTest, WebhooksToRunsToCheckRunsStatusesAndOneComment) {
  StartForgeController();
  StartAgent("a1");
  AddProject();

  json push = GitHubExample("push", "", 4);  // refs/heads/master, after 6113728f…
  ASSERT_EQ(push["ref"], "refs/heads/master");
  Answer a = Deliver("push", push, "d-push-1");
  ASSERT_EQ(a.status, 202) << a.body.dump();
  ASSERT_EQ(Runs(a).size(), 1u);
  const int64_t baseline = Runs(a)[0];
  // A redelivery is acknowledged and creates nothing.
  Answer again = Deliver("push", push, "d-push-1");
  EXPECT_EQ(again.status, 200) << again.body.dump();
  EXPECT_EQ(again.body.value("duplicate", false), true);
  EXPECT_TRUE(Runs(again).empty());
  ASSERT_TRUE(WaitUntil([&] { return Analysed(baseline); }, absl::Seconds(90)));
  EXPECT_EQ(GetRun(baseline).kind(), v1::RUN_KIND_BASELINE);
  EXPECT_EQ(GetRun(baseline).commit(), push["after"].get<std::string>());

  Answer opened = Deliver("pull_request", PullRequest("opened"), "d-pr-1");
  ASSERT_EQ(opened.status, 202) << opened.body.dump();
  ASSERT_EQ(Runs(opened).size(), 1u);
  const int64_t cand = Runs(opened)[0];
  const v1::Run cr = GetRun(cand);
  EXPECT_EQ(cr.kind(), v1::RUN_KIND_CANDIDATE);
  EXPECT_EQ(cr.baseline_branch(), "master");
  const std::string head = PullRequest("opened")["pull_request"]["head"]["sha"];
  EXPECT_EQ(cr.commit(), head);
  ASSERT_TRUE(WaitUntil([&] { return Analysed(cand); }, absl::Seconds(120)));
  ASSERT_TRUE(WaitUntil([&] { return OutboxDrained(); }, absl::Seconds(60)));

  // Prism accepted every request as GitHub's description allows it.
  for (const auto& e : proxy_->Exchanges()) {
    EXPECT_LT(e.status, 400) << e.method << " " << e.path << ": " << e.answer;
    EXPECT_EQ(e.authorization, "Bearer ghp_test_token");
  }
  const std::string repo = std::string("/repos/") + kRepo;
  // The check run: created for the head, then updated until completed with the report.
  auto created = proxy_->Sent("POST", repo + "/check-runs");
  bool head_check = false;
  for (const auto& e : created) {
    json b = json::parse(e.body);
    if (b["head_sha"] == head) {
      head_check = true;
      EXPECT_EQ(b["name"], "perfgate / hello");
      EXPECT_EQ(b["external_id"], std::to_string(cand));
    }
  }
  EXPECT_TRUE(head_check);
  auto updates = proxy_->Sent("PATCH", repo + "/check-runs/");
  json last_check;
  for (const auto& e : created) {
    json b = json::parse(e.body);
    if (b["head_sha"] == head) last_check = b;
  }
  for (const auto& e : updates) {
    json b = json::parse(e.body);
    if (b["external_id"] == std::to_string(cand)) last_check = b;
  }
  ASSERT_TRUE(last_check.is_object());
  EXPECT_EQ(last_check["status"], "completed") << last_check.dump();
  EXPECT_TRUE(last_check["conclusion"] == "success" || last_check["conclusion"] == "neutral")
      << last_check.dump();
  EXPECT_TRUE(absl::StrContains(last_check["output"]["summary"].get<std::string>(),
                                absl::StrCat("perfgate run [", cand, "]")));
  EXPECT_TRUE(absl::StrContains(last_check["details_url"].get<std::string>(),
                                absl::StrCat("/runs/", cand)));
  // The commit status ends as success (no regression) within 140 characters.
  json last_status;
  for (const auto& e : proxy_->Sent("POST", repo + "/statuses/" + head))
    last_status = json::parse(e.body);
  ASSERT_TRUE(last_status.is_object());
  EXPECT_EQ(last_status["context"], "perfgate/hello");
  EXPECT_EQ(last_status["state"], "success") << last_status.dump();
  EXPECT_LE(last_status["description"].get<std::string>().size(), 140u);
  // One comment, with the marker and the suite's row.
  auto posted = proxy_->Sent("POST", repo + "/issues/2/comments");
  ASSERT_EQ(posted.size(), 1u);
  EXPECT_TRUE(absl::StrContains(posted[0].body, "perfgate:pr-comment"));
  EXPECT_TRUE(absl::StrContains(posted[0].body, "`hello`"));

  // A trusted command: a new run, a reply, the comment edited (not a second one).
  const size_t patches_before = proxy_->Sent("PATCH", repo + "/issues/comments/").size();
  Answer cmd =
      Deliver("issue_comment",
              Comment("Looks slow?\n/perfgate run hello --repetitions 3", "MEMBER"), "d-c-1");
  ASSERT_EQ(cmd.status, 202) << cmd.body.dump();
  ASSERT_EQ(Runs(cmd).size(), 1u);
  const int64_t rerun = Runs(cmd)[0];
  ASSERT_TRUE(WaitUntil([&] { return Analysed(rerun); }, absl::Seconds(120)));
  ASSERT_TRUE(WaitUntil([&] { return OutboxDrained(); }, absl::Seconds(60)));
  auto comments = proxy_->Sent("POST", repo + "/issues/2/comments");
  ASSERT_EQ(comments.size(), 2u);  // the PR comment once, and the reply
  EXPECT_TRUE(absl::StrContains(comments[1].body, "Benchmarking"));
  EXPECT_TRUE(absl::StrContains(comments[1].body, absl::StrCat("run ", rerun)));
  EXPECT_GT(proxy_->Sent("PATCH", repo + "/issues/comments/").size(), patches_before);

  // An untrusted commenter is answered with why, and nothing runs.
  Answer no = Deliver("issue_comment", Comment("/perfgate run", "NONE"), "d-c-2");
  EXPECT_EQ(no.status, 200) << no.body.dump();
  EXPECT_TRUE(Runs(no).empty());
  EXPECT_TRUE(absl::StrContains(no.body.value("outcome", ""), "may not command"));
  ASSERT_TRUE(
      WaitUntil([&] { return proxy_->Sent("POST", repo + "/issues/2/comments").size() == 3; },
                absl::Seconds(30)));
  EXPECT_TRUE(absl::StrContains(proxy_->Sent("POST", repo + "/issues/2/comments")[2].body,
                                "may not command"));
  // The bot's own comments are never commands.
  json bot = Comment("/perfgate run", "NONE");
  bot["comment"]["user"]["type"] = "Bot";
  EXPECT_EQ(Deliver("issue_comment", bot, "d-c-3").body.value("outcome", ""),
            "ignored: a bot's comment");
}

// A registered suite with tiers runs as a campaign (docs/campaigns.md): a push to the default
// branch makes a baseline campaign, a pull request a candidate campaign whose tiers are compared
// with the baseline's same tiers; the head gets one check run and one commit status, concluded
// by the campaign's outcome, with the campaign's report as the summary.
TEST_F(ForgeTest, ATieredSuiteRunsAsACampaignReportedAsOneCheckRun) {
  std::string yaml = SuiteYaml("hello", value_file_);
  yaml.replace(yaml.find("jobs:"), 0, R"y(tiers:
  small:
    limits: [{metric: op.latency, target: 2, acceptable: 3, critical: 5}]
  medium:
    limits: [{metric: op.latency, target: 2, acceptable: 3, critical: 5}]
)y");
  std::ofstream(dir_ + "/suite.yaml") << yaml;
  StartForgeController();
  StartAgent("a1");
  AddProject();

  json push = GitHubExample("push", "", 4);
  Answer a = Deliver("push", push, "d-push-c");
  ASSERT_EQ(a.status, 202) << a.body.dump();
  ASSERT_EQ(Runs(a).size(), 2u) << a.body.dump();  // a run per tier
  EXPECT_TRUE(absl::StrContains(a.body.value("outcome", ""), "0 baseline run(s) and 1 campaign(s)"))
      << a.body.dump();
  for (int64_t id : Runs(a)) {
    ASSERT_TRUE(WaitUntil([&] { return Analysed(id); }, absl::Seconds(120)));
    EXPECT_EQ(GetRun(id).suite_name(), "hello");
  }
  EXPECT_EQ(GetRun(Runs(a)[1]).jobs(0).name(), "tiny@medium");

  const std::string head = PullRequest("opened")["pull_request"]["head"]["sha"];
  SetValue(4.0, head);  // above Acceptable, and a regression against the baseline
  Answer opened = Deliver("pull_request", PullRequest("opened"), "d-pr-c");
  ASSERT_EQ(opened.status, 202) << opened.body.dump();
  ASSERT_EQ(Runs(opened).size(), 2u) << opened.body.dump();
  for (int64_t id : Runs(opened)) {
    ASSERT_TRUE(WaitUntil([&] { return Analysed(id); }, absl::Seconds(120)));
    EXPECT_EQ(GetRun(id).state(), v1::RUN_STATE_SUCCEEDED) << "no tier supersedes another";
  }
  ASSERT_TRUE(WaitUntil([&] { return OutboxDrained(); }, absl::Seconds(60)));
  std::string out;
  ASSERT_EQ(Cli({"campaign", "list", "--project", "hello"}, &out), 0);
  EXPECT_NE(out.find("candidate"), std::string::npos) << out;
  EXPECT_NE(out.find("baseline"), std::string::npos) << out;

  for (const auto& e : proxy_->Exchanges())
    EXPECT_LT(e.status, 400) << e.method << " " << e.path << ": " << e.answer;
  const std::string repo = std::string("/repos/") + kRepo;
  // One check run for the head (not one per tier), ending with the campaign's outcome.
  int created = 0;
  json last_check;
  for (const auto& e : proxy_->Sent("POST", repo + "/check-runs")) {
    json b = json::parse(e.body);
    if (b["head_sha"] != head) continue;
    ++created;
    last_check = b;
    EXPECT_EQ(b["name"], "perfgate / hello");
  }
  EXPECT_EQ(created, 1);
  for (const auto& e : proxy_->Sent("PATCH", repo + "/check-runs/")) {
    json b = json::parse(e.body);
    if (b["external_id"] == std::to_string(Runs(opened)[0])) last_check = b;
  }
  ASSERT_TRUE(last_check.is_object());
  EXPECT_EQ(last_check["status"], "completed") << last_check.dump();
  EXPECT_EQ(last_check["conclusion"], "failure") << last_check.dump();
  const std::string summary = last_check["output"]["summary"].get<std::string>();
  EXPECT_TRUE(absl::StrContains(summary, "perfgate campaign [")) << summary;
  EXPECT_TRUE(absl::StrContains(summary, "| job | metric | small | medium |")) << summary;
  EXPECT_TRUE(absl::StrContains(last_check["output"]["title"].get<std::string>(), "fail: tier "))
      << last_check.dump();
  EXPECT_TRUE(absl::StrContains(last_check["details_url"].get<std::string>(), "/campaigns/"))
      << last_check.dump();
  json last_status;
  for (const auto& e : proxy_->Sent("POST", repo + "/statuses/" + head))
    last_status = json::parse(e.body);
  ASSERT_TRUE(last_status.is_object());
  EXPECT_EQ(last_status["state"], "failure") << last_status.dump();
  auto posted = proxy_->Sent("POST", repo + "/issues/2/comments");
  ASSERT_FALSE(posted.empty());
  EXPECT_TRUE(absl::StrContains(posted[0].body, "[campaign ")) << posted[0].body;
}

// Bad deliveries are refused with the reason and store nothing; events perfgate does not act on
// are acknowledged.
TEST_F(ForgeTest, BadDeliveriesAreRefusedAndStoreNothing) {
  StartForgeController();
  AddProject();
  const std::string body = PullRequest("opened").dump();
  auto post = [&](httplib::Headers h, const std::string& b) { return Post("/hooks/github", b, h); };
  // No signature, a wrong secret, a truncated body, a signature of another body.
  EXPECT_EQ(post({{"X-GitHub-Event", "pull_request"}, {"X-GitHub-Delivery", "x1"}}, body).status,
            401);
  EXPECT_EQ(post({{"X-GitHub-Event", "pull_request"},
                  {"X-GitHub-Delivery", "x2"},
                  {"X-Hub-Signature-256", OctokitSign("wrong", body)}},
                 body)
                .status,
            401);
  Answer truncated = post({{"X-GitHub-Event", "pull_request"},
                           {"X-GitHub-Delivery", "x3"},
                           {"X-Hub-Signature-256", OctokitSign(kSecret, body)}},
                          body.substr(0, body.size() / 2));
  EXPECT_EQ(truncated.status, 401);
  EXPECT_TRUE(absl::StrContains(truncated.body.value("error", ""), "X-Hub-Signature-256"));
  EXPECT_EQ(post({{"X-GitHub-Event", "pull_request"},
                  {"X-GitHub-Delivery", "x4"},
                  {"X-Hub-Signature-256", "sha256=abc"}},
                 body)
                .status,
            401);
  // Above GitHub's 25 MB limit: 413 before anything is read into the queue.
  std::string big(26 * 1000 * 1000, ' ');
  Answer huge = post({{"X-GitHub-Event", "push"},
                      {"X-GitHub-Delivery", "x5"},
                      {"X-Hub-Signature-256", "sha256=" + std::string(64, '0')}},
                     big);
  EXPECT_EQ(huge.status, 413);
  // Signed but malformed: 400 naming the field.
  json broken = PullRequest("opened");
  broken["pull_request"]["head"].erase("sha");
  Answer b = Deliver("pull_request", broken, "x6");
  EXPECT_EQ(b.status, 400);
  EXPECT_EQ(b.body.value("error", ""), "pull_request.head.sha: missing");
  Answer notjson = post({{"X-GitHub-Event", "push"},
                         {"X-GitHub-Delivery", "x7"},
                         {"X-Hub-Signature-256", OctokitSign(kSecret, "{not json")}},
                        "{not json");
  EXPECT_EQ(notjson.status, 400);
  EXPECT_EQ(notjson.body.value("error", ""), "body: not valid JSON");
  EXPECT_EQ(CountRows("webhook_deliveries"), 0);
  EXPECT_EQ(CountRows("runs"), 0);

  // Acknowledged: a ping, an event perfgate ignores, a repository no project has.
  Answer ping = Deliver("ping", GitHubExample("ping", ""), "y1");
  EXPECT_EQ(ping.status, 200);
  EXPECT_EQ(ping.body.value("outcome", ""), "pong");
  Answer star = Deliver("star", GitHubExample("star", "created"), "y2");
  EXPECT_EQ(star.status, 200);
  EXPECT_TRUE(
      absl::StrContains(star.body.value("outcome", ""), "star is not one perfgate acts on"));
  json other = PullRequest("opened");
  other["repository"]["full_name"] = "someone/else";
  Answer nobody = Deliver("pull_request", other, "y3");
  EXPECT_EQ(nobody.status, 200);
  EXPECT_TRUE(absl::StrContains(nobody.body.value("outcome", ""), "no project"));
  EXPECT_EQ(CountRows("runs"), 0);
  EXPECT_EQ(CountRows("outbox"), 0);
  // A fork's pull request waits for a trusted command, and says so once.
  json fork = PullRequest("opened");
  fork["pull_request"]["head"]["repo"]["full_name"] = "stranger/Hello-World";
  Answer held = Deliver("pull_request", fork, "y4");
  EXPECT_EQ(held.status, 200);
  EXPECT_TRUE(absl::StrContains(held.body.value("outcome", ""), "comes from a fork"));
  EXPECT_EQ(CountRows("runs"), 0);
  Answer admit = Deliver("issue_comment", Comment("/perfgate run", "OWNER"), "y5");
  EXPECT_EQ(admit.status, 202) << admit.body.dump();
  EXPECT_EQ(Runs(admit).size(), 1u);
}

// The outbox loses nothing and sends nothing twice: through a forge outage, a rate limit with
// Retry-After, and a controller killed with deliveries pending.
TEST_F(ForgeTest, OutboxRidesOutOutageRateLimitAndControllerCrash) {
  StartForgeController();
  const int64_t cand = OpenWhileGitHubIsDown();
  ASSERT_NE(cand, 0);
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& e : Outbox("pending"))
          if (e.attempts() >= 1 && e.last_status() == 503) return true;
        return false;
      },
      absl::Seconds(30)));
  std::string out;
  EXPECT_EQ(Cli({"outbox", "list", "--state", "pending"}, &out), 0);
  EXPECT_TRUE(absl::StrContains(out, "503")) << out;
  {
    httplib::Client page("127.0.0.1", controller_->http_port());
    auto r = page.Get("/outbox?state=pending");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(absl::StrContains(r->body, "Service Unavailable")) << r->body;
    EXPECT_EQ(page.Get("/outbox?state=bogus")->status, 400);
  }
  // Killed while reports are pending; the forge comes back as rate limited, then answers. The
  // controller comes back on the same port (the agent reconnects to it).
  const int port = controller_->grpc_port();
  controller_->process().Kill9();
  proxy_->SetMode(RecordingProxy::Mode::kRateLimited);
  StartForgeController(port);
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& e : proxy_->Exchanges())
          if (e.status == 429) return true;
        return false;
      },
      absl::Seconds(60)));
  proxy_->SetMode(RecordingProxy::Mode::kForward);
  ASSERT_TRUE(WaitUntil([&] { return Analysed(cand); }, absl::Seconds(120)));
  ASSERT_TRUE(WaitUntil([&] { return OutboxDrained(); }, absl::Seconds(120)));
  const std::string repo = std::string("/repos/") + kRepo;
  // Created exactly once at GitHub, then only updated.
  EXPECT_EQ(proxy_->Sent("POST", repo + "/check-runs").size(), 1u);
  auto statuses = proxy_->Sent("POST", repo + "/statuses/");
  ASSERT_FALSE(statuses.empty());
  EXPECT_NE(json::parse(statuses.back().body)["state"], "pending");
  EXPECT_TRUE(proxy_->Sent("POST", repo + "/issues/").empty());  // --comment never
}

// The fault matrix's outbox row (docs/reliability.md): the controller killed (a failpoint) after
// a report reached GitHub and before the outbox recorded it. The row stays claimed until its
// lease runs out (3 s here), then the restarted controller sends it again: at least once,
// recorded once, and every report ends sent.
TEST_F(ForgeTest, ControllerKilledBetweenSendingAReportAndRecordingItSendsItAgain) {
  {
    ArmedFailpoints armed("controller.outbox.after_send");
    StartForgeController(0, {"--outbox-lease", "3s"});
  }
  // GitHub unavailable until the delivery has been answered, so that the controller dies on a
  // retry, not while it answers the webhook.
  const int64_t cand = OpenWhileGitHubIsDown();
  ASSERT_NE(cand, 0);
  proxy_->SetMode(RecordingProxy::Mode::kForward);
  ASSERT_TRUE(WaitUntil([&] { return !controller_->process().Running(); }, absl::Seconds(60)))
      << "no report was sent";
  // The report it sent: the row of the last "report sent" line of the killed controller.
  const std::string died = controller_->process().Log();
  const std::string sent_line = "msg=\"report sent\" ";
  const size_t at = died.rfind(sent_line);
  ASSERT_NE(at, std::string::npos) << died;
  const size_t id_at = at + sent_line.size();
  const std::string row = died.substr(id_at, died.find(' ', id_at) + 1 - id_at);  // "id=N "
  ASSERT_EQ(Occurrences(died, sent_line + row), 1) << died;

  StartForgeController(controller_->grpc_port(), {"--outbox-lease", "3s"});
  ASSERT_TRUE(WaitUntil([&] { return Analysed(cand); }, absl::Seconds(120)));
  ASSERT_TRUE(WaitUntil([&] { return OutboxDrained(); }, absl::Seconds(120)));
  // The row was sent again once its lease ran out (as the run's state then was), and every row
  // is recorded done.
  const std::string log = controller_->process().Log();
  EXPECT_GE(Occurrences(log, sent_line + row), 2) << row << "\n" << log;
  for (const auto& e : Outbox()) EXPECT_EQ(e.state(), "done") << e.DebugString();
}

// A newer push to the pull request supersedes its unfinished run, reported as such.
TEST_F(ForgeTest, NewerPushSupersedesTheQueuedRun) {
  StartForgeController();  // no agent: runs stay queued
  AddProject();
  Answer first = Deliver("pull_request", PullRequest("opened"), "s-1");
  ASSERT_EQ(Runs(first).size(), 1u);
  json sync = PullRequest("synchronize");
  sync["number"] = 2;
  sync["pull_request"]["head"]["sha"] = std::string(40, 'b');
  sync["pull_request"]["head"]["repo"]["full_name"] = kRepo;
  sync["repository"]["full_name"] = kRepo;
  Answer second = Deliver("pull_request", sync, "s-2");
  ASSERT_EQ(Runs(second).size(), 1u) << second.body.dump();
  ASSERT_TRUE(WaitUntil([&] { return GetRun(Runs(first)[0]).state() == v1::RUN_STATE_CANCELLED; },
                        absl::Seconds(10)));
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& e :
             proxy_->Sent("PATCH", std::string("/repos/") + kRepo + "/check-runs/")) {
          json b = json::parse(e.body);
          if (b["external_id"] == std::to_string(Runs(first)[0]) && b["conclusion"] == "cancelled")
            return absl::StrContains(b["output"]["title"].get<std::string>(),
                                     absl::StrCat("superseded by run ", Runs(second)[0]));
        }
        return false;
      },
      absl::Seconds(30)));
  // The same head delivered again under a new id runs nothing new.
  Answer dup = Deliver("pull_request", sync, "s-3");
  EXPECT_TRUE(Runs(dup).empty());
  EXPECT_TRUE(absl::StrContains(dup.body.value("outcome", ""), "already ran"));
}

// Projects: suites stored versioned, errors naming the field, removal leaving runs but failing
// the reports that have nowhere to go.
TEST_F(ForgeTest, ProjectsKeepSuiteVersionsAndRefuseBadInput) {
  StartForgeController();
  AddProject();
  std::string out;
  ASSERT_EQ(Cli({"-o", "json", "project", "get", "hello"}, &out), 0) << out;
  EXPECT_EQ(json::parse(out)["suites"][0]["version"], 1) << out;
  // The same text keeps its version; a changed one gets the next.
  ASSERT_EQ(Cli({"project", "update", "hello", "--suite", dir_ + "/suite.yaml"}, &out), 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "(version 1)")) << out;
  std::ofstream(dir_ + "/suite.yaml", std::ios::app) << "# tuned\n";
  ASSERT_EQ(
      Cli({"project", "update", "hello", "--suite", dir_ + "/suite.yaml", "--comment", "on_change"},
          &out),
      0)
      << out;
  EXPECT_TRUE(absl::StrContains(out, "(version 2)")) << out;
  EXPECT_TRUE(absl::StrContains(out, "comment: on_change")) << out;
  EXPECT_EQ(CountRows("project_suites"), 2);  // every version kept
  // Refused, naming the problem: a taken name, a repository another project has, a bad suite.
  EXPECT_EQ(Cli({"project", "add", "hello", "--forge", "github", "--repository", "x/y", "--suite",
                 dir_ + "/suite.yaml"},
                &out),
            2);
  EXPECT_TRUE(absl::StrContains(out, "project hello already exists")) << out;
  EXPECT_EQ(Cli({"project", "add", "other", "--forge", "github", "--repository",
                 "codertocat/hello-world", "--suite", dir_ + "/suite.yaml"},
                &out),
            2);
  EXPECT_TRUE(absl::StrContains(out, "already belongs to project hello")) << out;
  std::ofstream(dir_ + "/bad.yaml")
      << "name: bad\njobs:\n  - name: j\n    command: 3s\n    timeout: forever\n";
  EXPECT_EQ(Cli({"project", "add", "bad", "--forge", "github", "--repository", "a/b", "--suite",
                 dir_ + "/bad.yaml"},
                &out),
            2);
  EXPECT_TRUE(absl::StrContains(out, "project.suites[0]:")) << out;
  EXPECT_TRUE(absl::StrContains(out, "timeout")) << out;
  // A pull request's reports pending (no agent, the forge down), then the project removed.
  proxy_->SetMode(RecordingProxy::Mode::kUnavailable);
  ASSERT_EQ(Deliver("pull_request", PullRequest("opened"), "p-1").status, 202);
  ASSERT_EQ(Cli({"project", "remove", "hello"}, &out), 0) << out;
  EXPECT_EQ(Cli({"project", "get", "hello"}, &out), 2);
  EXPECT_TRUE(absl::StrContains(out, "project hello not found")) << out;
  EXPECT_EQ(CountRows("runs"), 1);
  int failed = 0;
  for (const auto& e : Outbox()) {
    if (e.kind() == "pr_comment") continue;  // on_change: done without posting, nothing changed
    EXPECT_EQ(e.state(), "failed") << e.target();
    EXPECT_EQ(e.last_error(), "project removed");
    ++failed;
  }
  EXPECT_EQ(failed, 2);  // the check run and the commit status
}

// The gate CI scripts use: exit 0 without a regression, 5 with one.
TEST_F(ForgeTest, CliGateExitsOnTheFinalVerdict) {
  StartForgeController();
  StartAgent("a1");
  const std::string suite = dir_ + "/suite.yaml";
  std::string out;
  ASSERT_EQ(Cli({"run", "submit", "--suite", suite, "--kind", "baseline", "--branch", "main",
                 "--commit", "base", "--gate"},
                &out),
            0)
      << out;
  EXPECT_EQ(Cli({"-o", "json", "run", "submit", "--suite", suite, "--kind", "candidate", "--branch",
                 "f", "--baseline-branch", "main", "--commit", "same", "--gate"},
                &out),
            0)
      << out;
  // JSON Lines: the last line is the run with its final verdict.
  std::string last;
  for (absl::string_view line : absl::StrSplit(out, '\n'))
    if (absl::StartsWith(line, "{")) last = std::string(line);
  EXPECT_EQ(json::parse(last, nullptr, false).value("verdict", ""), "no_change") << out;
  SetValue(2.0, "slow");
  EXPECT_EQ(Cli({"run", "submit", "--suite", suite, "--kind", "candidate", "--branch", "f",
                 "--baseline-branch", "main", "--commit", "slow", "--gate"},
                &out),
            5)
      << out;
  EXPECT_TRUE(absl::StrContains(out, "verdict regression")) << out;
}

}  // namespace
}  // namespace perfgate::testing

namespace perfgate::testing {
namespace {

// GitLab's API as the controller uses it, recorded: commit statuses and merge request notes.
class FakeGitLabApi {
 public:
  FakeGitLabApi() {
    auto record = [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu_);
      calls_.push_back({req.method, req.target.empty() ? req.path : req.target, req.body,
                        req.get_header_value("PRIVATE-TOKEN")});
      if (req.method == "GET") {
        res.set_content("[]", "application/json");
      } else {
        res.status = req.method == "POST" ? 201 : 200;
        res.set_content(R"({"id": 55})", "application/json");
      }
    };
    server_.Get(".*", record);
    server_.Post(".*", record);
    server_.Put(".*", record);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeGitLabApi() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  struct Call {
    std::string method, path, body, token;
  };
  std::vector<Call> Calls(const std::string& method, const std::string& path_part) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Call> out;
    for (const auto& c : calls_)
      if (c.method == method && absl::StrContains(c.path, path_part)) out.push_back(c);
    return out;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<Call> calls_;
};

json GitLabProject() {
  return {{"id", 15}, {"path_with_namespace", "group/app"}, {"default_branch", "main"}};
}

json MergeRequest(const std::string& action, const std::string& sha) {
  return {{"object_kind", "merge_request"},
          {"event_type", "merge_request"},
          {"user", {{"username", "root"}}},
          {"project", GitLabProject()},
          {"object_attributes",
           {{"iid", 3},
            {"action", action},
            {"source_branch", "feature"},
            {"target_branch", "main"},
            {"source_project_id", 15},
            {"target_project_id", 15},
            {"last_commit", {{"id", sha}}}}},
          {"labels", json::array()}};
}

TEST_F(ForgeTest, GitLabMergeRequestsGetStatusesAndOneNote) {
  FakeGitLabApi gitlab;
  std::ofstream(dir_ + "/gl-secret") << "gl-secret\n";
  std::ofstream(dir_ + "/gl-token") << "glpat-test\n";
  ControllerOptions o;
  o.extra_args = {"--gitlab-webhook-secret-file",
                  dir_ + "/gl-secret",
                  "--gitlab-token-file",
                  dir_ + "/gl-token",
                  "--gitlab-api-url",
                  absl::StrCat("http://127.0.0.1:", gitlab.port(), "/api/v4"),
                  "--outbox-poll",
                  "1s",
                  "--analysis-poll",
                  "1s"};
  StartController(o);
  StartAgent("a1");
  std::string out;
  ASSERT_EQ(Cli({"project", "add", "app", "--forge", "gitlab", "--repository", "group/app",
                 "--suite", dir_ + "/suite.yaml", "--trusted-user", "root"},
                &out),
            0)
      << out;
  auto deliver = [&](const std::string& event, const json& body, const std::string& uuid,
                     const std::string& token = "gl-secret") {
    return Post(
        "/hooks/gitlab", body.dump(),
        {{"X-Gitlab-Event", event}, {"X-Gitlab-Token", token}, {"X-Gitlab-Event-UUID", uuid}});
  };
  const std::string sha = std::string(40, 'e');
  EXPECT_EQ(deliver("Merge Request Hook", MergeRequest("open", sha), "u0", "wrong").status, 401);
  EXPECT_EQ(CountRows("webhook_deliveries"), 0);
  Answer opened = deliver("Merge Request Hook", MergeRequest("open", sha), "u1");
  ASSERT_EQ(opened.status, 202) << opened.body.dump();
  ASSERT_EQ(Runs(opened).size(), 1u);
  EXPECT_TRUE(deliver("Merge Request Hook", MergeRequest("open", sha), "u1")
                  .body.value("duplicate", false));
  const int64_t run = Runs(opened)[0];
  ASSERT_TRUE(WaitUntil([&] { return Analysed(run); }, absl::Seconds(120)));
  ASSERT_TRUE(WaitUntil([&] { return OutboxDrained(); }, absl::Seconds(60)));
  auto statuses = gitlab.Calls("POST", "/api/v4/projects/group%2Fapp/statuses/" + sha);
  ASSERT_FALSE(statuses.empty());
  json last = json::parse(statuses.back().body);
  EXPECT_EQ(last["name"], "perfgate/hello");
  EXPECT_EQ(last["state"], "success") << last.dump();  // no baseline yet: neutral, not failed
  EXPECT_EQ(statuses.back().token, "glpat-test");
  ASSERT_EQ(gitlab.Calls("POST", "/merge_requests/3/notes").size(), 1u);
  EXPECT_TRUE(absl::StrContains(gitlab.Calls("POST", "/merge_requests/3/notes")[0].body,
                                "perfgate:pr-comment"));
  // A note with a command from a trusted user: a run, a reply, the note edited in place.
  json note = {
      {"object_kind", "note"},
      {"user", {{"username", "root"}}},
      {"project", GitLabProject()},
      {"object_attributes", {{"note", "/perfgate run"}, {"noteable_type", "MergeRequest"}}},
      {"merge_request", MergeRequest("open", sha)["object_attributes"]}};
  Answer cmd = deliver("Note Hook", note, "u2");
  ASSERT_EQ(cmd.status, 202) << cmd.body.dump();
  ASSERT_TRUE(WaitUntil([&] { return Analysed(Runs(cmd)[0]); }, absl::Seconds(120)));
  ASSERT_TRUE(WaitUntil([&] { return OutboxDrained(); }, absl::Seconds(60)));
  EXPECT_EQ(gitlab.Calls("POST", "/merge_requests/3/notes").size(), 2u);  // the note, the reply
  EXPECT_FALSE(gitlab.Calls("PUT", "/merge_requests/3/notes/55").empty());
}

}  // namespace
}  // namespace perfgate::testing
