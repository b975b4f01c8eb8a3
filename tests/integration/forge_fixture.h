// The CI-integration test fixture: Prism serving GitHub's OpenAPI description behind a recording
// proxy, a controller with forge flags, a registered project, deliveries signed by Octokit, and
// readers of runs and the outbox. Used by forge_test.cc and suite_file_test.cc.
#pragma once

#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/harness/forge.h"
#include "tests/integration/fixture.h"

namespace perfgate::testing {

using nlohmann::json;

inline constexpr char kSecret[] = "it-webhook-secret";
inline constexpr char kRepo[] = "Codertocat/Hello-World";  // the examples' repository

// A tiny benchmark: the command prints one measurement around the value in `value_file`-COMMIT
// (else `value_file`), so that a confirmation run, which measures both commits again, sees the
// same difference.
inline std::string SuiteYaml(const std::string& name, const std::string& value_file) {
  return absl::StrCat(
      "name: ", name, R"y(
jobs:
  - name: tiny
    benchmark:
      workload:
        duration: 1s
        repetitions: 5
        command:
          run: >-
            awk -v v="$(cat )y",
      value_file, "-{commit} 2>/dev/null || cat ", value_file,
      R"y()" 'BEGIN { srand(); printf "{\"measurements\": [{\"name\": \"op.latency\", \"value\": %.4f, \"unit\": \"ms\", \"lower_is_better\": true}], \"valid\": true}\n", v * (1 + rand() * 0.002) }'
)y");
}

struct Answer {
  int status = 0;
  json body;
};

class ForgeTest : public ClusterTest {
 protected:
  static void SetUpTestSuite() {
    std::string why;
    if (ForgeNodeModules(&why).empty()) {
      missing_ = why;
      return;
    }
    prism_ = new PrismServer(MakeTempDir("perfgate-prism"));
  }
  static void TearDownTestSuite() {
    delete prism_;
    prism_ = nullptr;
  }

  void SetUp() override {
    ClusterTest::SetUp();
    ASSERT_TRUE(missing_.empty()) << missing_;
    ASSERT_TRUE(prism_ && prism_->ok()) << "Prism did not start:\n"
                                        << (prism_ ? prism_->Log() : "");
    proxy_ = std::make_unique<RecordingProxy>(prism_->port());
    std::ofstream(dir_ + "/secret") << kSecret << "\n";
    std::ofstream(dir_ + "/token") << "ghp_test_token\n";
    value_file_ = dir_ + "/value";
    SetValue(1.0);
    std::ofstream(dir_ + "/suite.yaml") << SuiteYaml("hello", value_file_);
  }
  void TearDown() override {
    if (HasFailure() && proxy_) {
      for (const auto& e : proxy_->Exchanges())
        std::cerr << "forge: " << e.method << " " << e.path << " -> " << e.status << " "
                  << e.answer.substr(0, 300) << "\n";
    }
    ClusterTest::TearDown();
    proxy_.reset();
  }

  void SetValue(double v, const std::string& commit = "") {
    std::ofstream(commit.empty() ? value_file_ : value_file_ + "-" + commit) << v << "\n";
  }

  void StartForgeController(int grpc_port = 0, const std::vector<std::string>& extra = {}) {
    ControllerOptions o;
    o.grpc_port = grpc_port;
    o.extra_args = {"--github-webhook-secret-file",
                    dir_ + "/secret",
                    "--github-token-file",
                    dir_ + "/token",
                    "--github-api-url",
                    absl::StrCat("http://127.0.0.1:", proxy_->port()),
                    "--outbox-poll",
                    "1s",
                    "--analysis-poll",
                    "1s"};
    o.extra_args.insert(o.extra_args.end(), extra.begin(), extra.end());
    StartController(o);
  }

  void AddProject(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"project", "add",     "hello",
                                     "--forge", "github",  "--repository",
                                     kRepo,     "--suite", dir_ + "/suite.yaml"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string out;
    ASSERT_EQ(Cli(args, &out), 0) << out;
  }

  Answer Post(const std::string& path, const std::string& body, const httplib::Headers& headers) {
    httplib::Client c("127.0.0.1", controller_->http_port());
    c.set_read_timeout(30, 0);
    auto r = c.Post(path, headers, body, "application/json");
    Answer a;
    if (!r) return a;
    a.status = r->status;
    a.body = json::parse(r->body, nullptr, false);
    return a;
  }

  Answer Deliver(const std::string& event, const json& payload, const std::string& delivery,
                 const std::string& secret = kSecret) {
    const std::string body = payload.dump();
    return Post("/hooks/github", body,
                {{"X-GitHub-Event", event},
                 {"X-GitHub-Delivery", delivery},
                 {"X-Hub-Signature-256", OctokitSign(secret, body)}});
  }

  static std::vector<int64_t> Runs(const Answer& a) {
    std::vector<int64_t> out;
    if (a.body.is_object() && a.body.contains("runs"))
      for (const auto& r : a.body["runs"]) out.push_back(r.get<int64_t>());
    return out;
  }

  v1::Run GetRun(int64_t id) { return testing::GetRun(*stub_, id); }

  // An agent, the project (no comments), and a pull request opened while GitHub answers 503:
  // the candidate run it made (0, with the test failed, when it made none).
  int64_t OpenWhileGitHubIsDown() {
    StartAgent("a1");
    AddProject({"--comment", "never"});
    proxy_->SetMode(RecordingProxy::Mode::kUnavailable);
    Answer opened = Deliver("pull_request", PullRequest("opened"), "o-1");
    EXPECT_EQ(opened.status, 202) << opened.body.dump();
    const std::vector<int64_t> runs = Runs(opened);
    EXPECT_EQ(runs.size(), 1u) << opened.body.dump();
    return runs.empty() ? 0 : runs[0];
  }

  bool Analysed(int64_t id) {
    v1::Run r = GetRun(id);
    if (!r.analysed()) return false;
    return r.confirmed_by_run_id() == 0 || GetRun(r.confirmed_by_run_id()).analysed();
  }

  std::vector<v1::OutboxEntry> Outbox(const std::string& state = "") {
    v1::ListOutboxRequest req;
    req.set_state(state);
    v1::ListOutboxResponse resp;
    auto ctx = Ctx();
    stub_->ListOutbox(ctx.get(), req, &resp);
    return {resp.entries().begin(), resp.entries().end()};
  }

  // Every report sent: nothing pending, and the controller's last send already recorded.
  bool OutboxDrained() {
    auto all = Outbox();
    if (all.empty()) return false;
    for (const auto& e : all)
      if (e.state() == "pending") return false;
    return true;
  }

  int64_t CountRows(const std::string& table) {
    pqxx::connection c(dsn_);
    pqxx::work tx(c);
    return tx.exec1("SELECT count(*) FROM " + table)[0].as<int64_t>();
  }

  json PullRequest(const std::string& action) {
    json pr = GitHubExample("pull_request", action);
    EXPECT_FALSE(pr.is_null()) << "no pull_request." << action << " example";
    return pr;
  }

  // The PR comment example turned into a comment on pull request #2 (GitHub sends issue_comment
  // for PR comments, with issue.pull_request set).
  json Comment(const std::string& body, const std::string& association) {
    json c = GitHubExample("issue_comment", "created");
    c["issue"]["number"] = 2;
    c["issue"]["pull_request"] = {
        {"url", "https://api.github.com/repos/Codertocat/Hello-World/pulls/2"}};
    c["comment"]["body"] = body;
    c["comment"]["author_association"] = association;
    return c;
  }

  static inline PrismServer* prism_ = nullptr;
  static inline std::string missing_;
  std::unique_ptr<RecordingProxy> proxy_;
  std::string value_file_;
};

}  // namespace perfgate::testing
