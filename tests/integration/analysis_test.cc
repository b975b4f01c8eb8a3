// Analysis end to end: a baseline and candidates of the sample target measured by a real agent,
// compared by the controller (verdicts, CIs, limit levels, curves), reported (Markdown, JSON),
// alerted to a webhook (HMAC-signed) and to a real Alertmanager, and shown on the web pages.
#include <arpa/inet.h>
#include <google/protobuf/util/time_util.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/hash/sha256.h"
#include "common/process/subprocess.h"
#include "tests/harness/browser.h"
#include "tests/harness/webhook_receiver.h"
#include "tests/integration/benchmark_fixture.h"

namespace perfgate::testing {
namespace {

constexpr char kSuite[] = R"yaml(
name: it-analysis
project: it
jobs:
  - name: api
    benchmark:
      build:
        repository: $REPO
        commands: ["true"]
      stack:
        services:
          - name: api
            args: [/bin/sh, -c, "exec $TARGET --listen {host}:{port:api} --threads 16 $(cat {srcdir}/flags)"]
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", timeout: 20s}
      workload:
        duration: 1s
        repetitions: 8
        pause: 0s
        http:
          target: "http://{host}:{port:api}"
          rate: 200
          connections: 8
          max_generator_lag_p99: 250ms
          requests: [{name: get, path: /api/items/7}]
      limits:
        # The baseline (~1.2 ms) meets the target, the candidate (~10.3 ms, more when the machine
        # is busy) does not but stays acceptable.
        - {metric: http.latency.p50, target: 1.5, acceptable: 20, critical: 100}
)yaml";

// A port free on loopback right now (bind to 0, read it, release).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class AnalysisTest : public BenchmarkTest {
 protected:
  // Regression or improvement alerts raised for the run, one per metric (0 when none).
  int AlertsOfRun(int64_t run) {
    std::string out;
    EXPECT_EQ(Cli({"-o", "json", "alert", "list"}, &out), 0) << out;
    auto j = nlohmann::json::parse(out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << out;
    int n = 0;
    if (j.is_discarded() || !j.contains("alerts")) return n;
    for (const auto& a : j["alerts"]) n += a.value("run_id", "") == std::to_string(run);
    return n;
  }

  void CheckInBrowser(const std::vector<std::string>& paths, const std::set<std::string>& charted) {
    CheckPagesInBrowser(dir_, controller_->http_port(), paths, charted);
  }

  std::pair<int, std::string> Get(const std::string& path) {
    httplib::Client cli("127.0.0.1", controller_->http_port());
    auto res = cli.Get(path.c_str());
    if (!res) return {0, ""};
    return {res->status, res->body};
  }
};

TEST_F(AnalysisTest, CandidatesGetVerdictsReportsAlertsAndPages) {
  WebhookReceiver hook;
  std::string secret_file = dir_ + "/hook-secret";
  std::ofstream(secret_file) << "s3cret\n";
  // A real Alertmanager (Debian's prometheus-alertmanager) when installed.
  std::unique_ptr<ChildProcess> am;
  int am_port = 0;
  const std::string am_bin = common::FindProgram("prometheus-alertmanager");
  if (!am_bin.empty()) {
    am_port = FreePort();
    std::ofstream(dir_ + "/am.yml") << "route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n";
    am = std::make_unique<ChildProcess>(
        "alertmanager",
        std::vector<std::string>{am_bin, "--config.file=" + dir_ + "/am.yml",
                                 "--storage.path=" + dir_ + "/am-data",
                                 "--web.listen-address=127.0.0.1:" + std::to_string(am_port),
                                 "--cluster.listen-address="},
        dir_ + "/alertmanager.log");
  }
  ControllerOptions co;
  co.extra_args = {"--alert-webhook-url", hook.url(),        "--alert-webhook-secret-file",
                   secret_file,           "--analysis-poll", "1s"};
  if (am) {
    co.extra_args.push_back("--alertmanager-url");
    co.extra_args.push_back(absl::StrCat("http://127.0.0.1:", am_port));
  }
  StartController(co);
  StartAgent("a1");
  // 9 ms more on ~1.1 ms: a shift that a busy CI machine cannot hide. It has pushed a whole
  // baseline's p50 to 2.3 ms while the same code's A/A run an instant later measured 1.1 ms, so
  // a 3 ms step left the A/A shift (-50 %) larger than half the regression's (+77 %).
  const std::string base = Commit("--added-latency 1ms");
  const std::string slow = Commit("--added-latency 10ms");
  const std::string suite = WriteSuite("analysis", kSuite);

  // A candidate before any baseline: told so, no guess.
  const int64_t early = SubmitKind(suite, slow, "candidate", "early");
  v1::Comparison none = Compared(early);
  EXPECT_EQ(none.verdict(), v1::VERDICT_UNSPECIFIED);
  EXPECT_NE(none.note().find("no baseline"), std::string::npos) << none.note();

  const int64_t baseline = SubmitKind(suite, base, "baseline", "main");
  const int64_t regressed = SubmitKind(suite, slow, "candidate", "feature");
  const int64_t aa = SubmitKind(suite, base, "candidate", "aa");

  v1::Comparison c = Compared(regressed);
  EXPECT_EQ(c.verdict(), v1::VERDICT_REGRESSION) << c.summary();
  ASSERT_EQ(c.baseline_run_ids_size(), 1);
  EXPECT_EQ(c.baseline_run_ids(0), baseline);
  const v1::MetricComparison* p50 = Metric(c, "http.latency.p50");
  ASSERT_NE(p50, nullptr);
  EXPECT_EQ(p50->verdict(), v1::VERDICT_REGRESSION) << p50->reason();
  EXPECT_GE(p50->baseline_values_size(), 6);
  EXPECT_GT(p50->ratio_low(), 1.3) << "9 ms more on ~1.1 ms";
  EXPECT_LT(p50->p(), 0.01);
  EXPECT_EQ(Metric(c, "http.target_rate"), nullptr) << "generator figures are not judged";
  ASSERT_EQ(c.limits_size(), 1);
  EXPECT_EQ(c.limits(0).level(), "acceptable") << c.limits(0).text();
  ASSERT_EQ(c.curves_size(), 1);
  EXPECT_GT(c.curves(0).candidate_ms(0), c.curves(0).baseline_ms(0));

  v1::Comparison same = Compared(aa);
  const v1::MetricComparison* aa50 = Metric(same, "http.latency.p50");
  ASSERT_NE(aa50, nullptr);
  // Same code, compared with the same baseline: its shift is small next to the real 9 ms
  // regression's. Not asserted: its verdict. With tests running side by side on two shared
  // cores, sleep-based latency drifts between runs by 15 % and more (seen: +16 %, p = 0.01), so
  // an A/A verdict here is a statement about the machine; the false-positive rate belongs in a
  // benchmark on a quiet machine.
  ASSERT_EQ(same.baseline_run_ids_size(), 1);
  EXPECT_EQ(same.baseline_run_ids(0), baseline);
  EXPECT_LT(std::abs(aa50->ratio() - 1), (p50->ratio() - 1) / 2) << aa50->reason();

  // Explicit comparison against a run, computed afresh.
  std::string out;
  EXPECT_EQ(
      Cli({"-o", "json", "compare", std::to_string(aa), "--against", std::to_string(regressed)},
          &out),
      0)
      << out;
  auto against = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(against.is_discarded()) << out;
  EXPECT_EQ(against["baseline_run_ids"][0], std::to_string(regressed));

  // Reports.
  EXPECT_EQ(Cli({"report", std::to_string(regressed), "--format", "md"}, &out), 0) << out;
  EXPECT_NE(out.find("**regression**"), std::string::npos) << out;
  EXPECT_NE(out.find("http.latency.p50"), std::string::npos) << out;
  EXPECT_NE(out.find("<details>"), std::string::npos) << out;
  EXPECT_EQ(Cli({"report", std::to_string(regressed), "--format", "json"}, &out), 0) << out;
  auto json = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << out;
  EXPECT_EQ(json["verdict"], "VERDICT_REGRESSION");
  EXPECT_EQ(Cli({"report", "999999", "--format", "md"}, &out), 2) << out;

  // Alerts: the p50 regression, delivered to the webhook with a valid signature.
  EXPECT_TRUE(WaitUntil(
      [&] {
        for (const auto& d : hook.Deliveries())
          if (d.body.find("http.latency.p50") != std::string::npos) return true;
        return false;
      },
      absl::Seconds(20)));
  // Signed over its send time and body (the receiver's check, docs/analysis.md): a replay
  // under a fresh timestamp would need the secret.
  bool signed_ok = false;
  for (const auto& d : hook.Deliveries()) {
    const std::string& body = d.body;
    const std::string stamp = d.Header("X-Perfgate-Timestamp");
    int64_t ts = 0;
    ASSERT_TRUE(absl::SimpleAtoi(stamp, &ts)) << "X-Perfgate-Timestamp: " << stamp;
    EXPECT_LE(std::abs(absl::ToUnixSeconds(absl::Now()) - ts), 300);
    EXPECT_EQ(d.Header("X-Perfgate-Signature"),
              "sha256=" + common::HmacSha256Hex("s3cret", stamp + "." + body))
        << body;
    auto j = nlohmann::json::parse(body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << body;
    EXPECT_EQ(j["event"], "perfgate.alert");
    signed_ok = true;
  }
  EXPECT_TRUE(signed_ok);
  EXPECT_EQ(Cli({"-o", "json", "alert", "list", "--state", "firing"}, &out), 0) << out;
  auto alerts = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(alerts.is_discarded()) << out;
  std::string alert_id;
  for (const auto& a : alerts["alerts"]) {
    if (a["metric"] == "http.latency.p50" && a["kind"] == "regression") alert_id = a["id"];
  }
  ASSERT_FALSE(alert_id.empty()) << out;
  if (am) {
    // Alertmanager holds it, labelled with our id.
    EXPECT_TRUE(WaitUntil(
        [&] {
          httplib::Client cli("127.0.0.1", am_port);
          auto res = cli.Get("/api/v2/alerts");
          return res && res->status == 200 &&
                 res->body.find("\"alert_id\":\"" + alert_id + "\"") != std::string::npos;
        },
        absl::Seconds(20)))
        << am->Log();
  } else {
    std::cerr << "prometheus-alertmanager not installed: Alertmanager delivery not checked\n";
  }
  EXPECT_EQ(Cli({"alert", "ack", alert_id, "--note", "looking"}, &out), 0) << out;
  EXPECT_NE(out.find("acknowledged"), std::string::npos) << out;
  EXPECT_EQ(Cli({"alert", "resolve", alert_id}, &out), 0) << out;
  EXPECT_EQ(Cli({"alert", "resolve", "999999"}, &out), 2) << out;

  // Pages: each loads, with its charts.
  auto compare = Get(absl::StrCat("/runs/", regressed, "/compare"));
  EXPECT_EQ(compare.first, 200);
  EXPECT_NE(compare.second.find("Verdict: regression"), std::string::npos);
  EXPECT_NE(compare.second.find("<svg"), std::string::npos);
  EXPECT_NE(compare.second.find("<polyline"), std::string::npos) << "percentile curves";
  EXPECT_NE(compare.second.find("<circle"), std::string::npos) << "dot plots";
  auto history = Get("/history?project=it&suite=it-analysis&metric=http.latency.p50");
  EXPECT_EQ(history.first, 200) << history.second;
  EXPECT_NE(history.second.find("<svg"), std::string::npos);
  for (const std::string& path :
       {std::string("/runs"), absl::StrCat("/runs/", regressed), std::string("/agents"),
        std::string("/queue"), std::string("/changepoints"), std::string("/alerts"),
        std::string("/outbox"), std::string("/runs?kind=CANDIDATE&branch=feature")}) {
    auto page = Get(path);
    EXPECT_EQ(page.first, 200) << path;
    EXPECT_NE(page.second.find("</html>"), std::string::npos) << path;
  }
  const std::string history_path = "/history?project=it&suite=it-analysis&metric=http.latency.p50";
  const std::string compare_path = absl::StrCat("/runs/", regressed, "/compare");
  CheckInBrowser({"/runs", absl::StrCat("/runs/", regressed), compare_path, history_path, "/agents",
                  "/queue", "/changepoints", "/alerts", "/outbox"},
                 {compare_path, history_path});
  EXPECT_EQ(Get("/runs/999999").first, 404);
  EXPECT_EQ(Get("/runs?state=bogus").first, 400);
  EXPECT_EQ(Get("/history?suite=it-analysis").first, 400);
}

TEST_F(AnalysisTest, InconclusiveCandidateIsConfirmedInterleavedOnItsAgentAndAaLearnsNoise) {
  ControllerOptions co;
  co.extra_args = {"--analysis-poll", "1s"};
  StartController(co);
  StartAgent("a1");
  StartAgent("a2");  // idle or not, the confirmation must stay on the candidate's agent
  // 3 ms more on ~1.1 ms: a shift that a busy CI machine, which has pushed a baseline's p50 to
  // 2.2 ms with repetitions 20 % apart, cannot hide.
  const std::string base = Commit("--added-latency 1ms");
  const std::string slow = Commit("--added-latency 4ms");
  // Four repetitions: below the six a verdict needs, so the first comparison is inconclusive.
  std::string yaml = kSuite;
  yaml.replace(yaml.find("repetitions: 8"), 14, "repetitions: 4");
  yaml += "analysis:\n  min_effect: 5%\n";  // the suite's floor, every job's default
  const std::string suite = WriteSuite("confirm", yaml);
  std::string out;

  // An A/A before any baseline: refused, with the field named; and never as a candidate.
  EXPECT_EQ(
      Cli({"run", "submit", "--suite", suite, "--aa", "--branch", "x", "--baseline-branch", "main"},
          &out),
      2)
      << out;
  EXPECT_NE(out.find("aa: no succeeded baseline run"), std::string::npos) << out;
  EXPECT_EQ(Cli({"run", "submit", "--suite", suite, "--aa", "--kind", "candidate"}, &out), 2)
      << out;
  EXPECT_NE(out.find("aa: an A/A run is an experiment"), std::string::npos) << out;

  const int64_t baseline = SubmitKind(suite, base, "baseline", "main");
  const int64_t cand = SubmitKind(suite, slow, "candidate", "feature");
  v1::Comparison first = Compared(cand);
  EXPECT_EQ(first.verdict(), v1::VERDICT_INCONCLUSIVE) << first.summary();
  EXPECT_NE(first.note().find("confirmation run"), std::string::npos) << first.note();
  const v1::MetricComparison* first_p50 = Metric(first, "http.latency.p50");
  ASSERT_NE(first_p50, nullptr);
  EXPECT_EQ(first_p50->decided_by(), "too_few_repetitions");
  EXPECT_TRUE(first_p50->gate());
  EXPECT_DOUBLE_EQ(first_p50->floor(), 0.05) << "the suite's analysis.min_effect";
  EXPECT_NE(first.confirmation_plan().find("job api: "), std::string::npos)
      << first.confirmation_plan();
  EXPECT_NE(first.confirmation_plan().find(": too_few_repetitions)"), std::string::npos)
      << first.confirmation_plan();
  EXPECT_NE(first.confirmation_plan().find("a confirmation measures 6 a side"), std::string::npos)
      << first.confirmation_plan();
  const std::string cand_agent = GetRun(*stub_, cand).jobs(0).attempts(0).agent();

  // The confirmation: scheduled by the controller, A B A B A B on the candidate's agent.
  int64_t confirmation = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::ListRunsRequest req;
        req.set_kind(v1::RUN_KIND_EXPERIMENT);
        v1::ListRunsResponse resp;
        auto ctx = Ctx();
        if (!stub_->ListRuns(ctx.get(), req, &resp).ok()) return false;
        for (const auto& r : resp.runs())
          if (r.confirms_run_id() == cand) confirmation = r.id();
        return confirmation != 0;
      },
      absl::Seconds(30)));
  WaitForSuccess(confirmation);
  v1::Run conf = GetRun(*stub_, confirmation);
  ASSERT_EQ(conf.jobs_size(), 6);
  for (int i = 0; i < conf.jobs_size(); ++i) {
    const v1::Job& j = conf.jobs(i);
    SCOPED_TRACE(j.name());
    EXPECT_EQ(j.spec().commit(), i % 2 == 0 ? base : slow) << "A B A B: baseline first";
    ASSERT_FALSE(j.attempts().empty());
    EXPECT_EQ(j.attempts(0).agent(), cand_agent);
  }
  // Ran one after another in that order.
  for (int i = 1; i < conf.jobs_size(); ++i) {
    EXPECT_LE(google::protobuf::util::TimeUtil::TimestampToNanoseconds(
                  conf.jobs(i - 1).attempts(0).finished_at()),
              google::protobuf::util::TimeUtil::TimestampToNanoseconds(
                  conf.jobs(i).attempts(0).created_at()));
  }
  // The decision: the candidate's latest comparison and verdict, with its alert.
  v1::Comparison decided;
  ASSERT_TRUE(WaitUntil(
      [&] {
        decided = Compared(cand);
        return decided.note().find("decided by confirmation run") != std::string::npos;
      },
      absl::Seconds(30)))
      << decided.note();
  EXPECT_EQ(decided.verdict(), v1::VERDICT_REGRESSION) << decided.summary();
  const v1::MetricComparison* p50 = Metric(decided, "http.latency.p50");
  ASSERT_NE(p50, nullptr);
  // Three rounds of 2 + 1 spare a side; one found invalid on a busy machine may be missing.
  EXPECT_GE(p50->baseline_values_size(), 6);
  EXPECT_LE(p50->baseline_values_size(), 9);
  EXPECT_GE(p50->candidate_values_size(), 6);
  EXPECT_GT(p50->ratio_low(), 1.3) << "3 ms more on ~1.1 ms";
  EXPECT_EQ(p50->decided_by(), "beyond_floor") << p50->reason();
  EXPECT_DOUBLE_EQ(p50->margin(), 0) << "the sides took turns: no run-to-run margin";
  EXPECT_GT(p50->interval_low(), 1.05);
  EXPECT_EQ(Cli({"compare", std::to_string(cand)}, &out), 0) << out;
  EXPECT_NE(out.find("interval beyond the floor"), std::string::npos) << out;
  // The decision draws its latency curve from the arms' own histograms: A jobs against B jobs.
  ASSERT_EQ(decided.curves_size(), 1) << "the decided comparison has its curve";
  EXPECT_EQ(decided.curves(0).job_name(), "api");
  EXPECT_GT(decided.curves(0).candidate_ms(0), decided.curves(0).baseline_ms(0) + 0.5);
  EXPECT_EQ(GetRun(*stub_, cand).verdict(), "regression");
  EXPECT_GE(AlertsOfRun(cand), 1) << "the regressions, once decided";
  // Confirmed once: the confirmation itself is not confirmed again.
  EXPECT_EQ(Cli({"run", "get", std::to_string(confirmation)}, &out), 0) << out;
  EXPECT_NE(out.find("confirms run " + std::to_string(cand)), std::string::npos) << out;
  auto page = Get(absl::StrCat("/runs/", confirmation));
  EXPECT_EQ(page.first, 200);
  EXPECT_NE(page.second.find(absl::StrCat("<a href=\"/runs/", cand, "\">run ", cand, "</a>")),
            std::string::npos)
      << page.second;
  EXPECT_NE(page.second.find("<code>" + base.substr(0, 12) + "</code>"), std::string::npos)
      << "each job's commit";

  // An A/A: the baseline's commit by default, compared with the baseline, no alert.
  const int64_t aa = SubmitKind(suite, "", "experiment", "aa-check", {"--aa"});
  v1::Run aa_run = GetRun(*stub_, aa);
  EXPECT_TRUE(aa_run.aa());
  EXPECT_EQ(aa_run.commit(), base);
  v1::Comparison aac = Compared(aa);
  ASSERT_EQ(aac.baseline_run_ids_size(), 1);
  EXPECT_EQ(aac.baseline_run_ids(0), baseline);
  EXPECT_EQ(AlertsOfRun(aa), 0) << "an A/A says something about noise, not a regression";
  EXPECT_TRUE(aac.confirmation_plan().empty()) << "an A/A is never confirmed";
  EXPECT_EQ(Cli({"run", "get", std::to_string(aa)}, &out), 0) << out;
  EXPECT_NE(out.find("(A/A)"), std::string::npos) << out;
}

// Profile diffs in comparisons: a Go service in the stack (its pprof), whose candidate commit
// leaks; each side's repetitions are averaged, the leak leads the heap diff, and the latency
// regression's alert carries the worst-moving functions as evidence.
TEST_F(AnalysisTest, ComparisonsDiffEveryRepetitionsProfilesAndAlertsCarryTheWorstFunctions) {
  const std::string goleak = BinaryPath("perfgate-goleak");
  ASSERT_EQ(access(goleak.c_str(), X_OK), 0) << goleak << ": install golang-go and rebuild";
  ControllerOptions co;
  co.extra_args = {"--analysis-poll", "1s"};
  StartController(co);
  StartAgent("a1");
  // Line 1 of the flags file is the sample target's, line 2 the Go service's.
  const std::string base = Commit("--added-latency 1ms\n-burn 1ms");
  const std::string slow = Commit("--added-latency 4ms\n-burn 1ms -leak-bytes 8192");
  std::string yaml = kSuite;
  yaml.replace(yaml.find("$(cat {srcdir}/flags)"), 21, "$(sed -n 1p {srcdir}/flags)");
  yaml.replace(yaml.find("      workload:"), 0,
               absl::StrCat(R"y(          - name: leaky
            args: [/bin/sh, -c, "exec )y",
                            goleak, R"y( -listen {host}:{port:leaky} $(sed -n 2p {srcdir}/flags)"]
            ports: [leaky]
            ready: {http: "http://{host}:{port:leaky}/healthz", timeout: 20s}
)y"));
  yaml.replace(yaml.find("      limits:"), 0, R"y(      observe:
        profiles:
          - {service: leaky, url: "http://{host}:{port:leaky}/debug/pprof", cpu: 1s, heap: [after]}
)y");
  const std::string suite = WriteSuite("profiles", yaml);
  const int64_t baseline = SubmitKind(suite, base, "baseline", "main");
  const int64_t cand = SubmitKind(suite, slow, "candidate", "feature");
  v1::Comparison c = Compared(cand);
  ASSERT_EQ(c.verdict(), v1::VERDICT_REGRESSION) << c.summary();
  EXPECT_EQ(c.baseline_run_ids(0), baseline);
  std::map<std::string, v1::ProfileDiff> diffs;
  for (const auto& d : c.profile_diffs()) diffs[d.label()] = d;
  ASSERT_TRUE(diffs.count("api/leaky/heap/after")) << c.DebugString();
  ASSERT_TRUE(diffs.count("api/leaky/cpu/window")) << c.DebugString();
  const v1::ProfileDiff& heap = diffs["api/leaky/heap/after"];
  EXPECT_EQ(heap.sample_type(), "inuse_space");
  EXPECT_EQ(heap.base_profiles(), 8) << "every repetition's profile, not the first only";
  EXPECT_EQ(heap.candidate_profiles(), 8);
  ASSERT_GE(heap.functions_size(), 1);
  EXPECT_EQ(heap.functions(0).name(), "main.retainForever") << heap.DebugString();
  EXPECT_EQ(heap.functions(0).base_flat(), 0);
  // 8 KiB every 10 ms: after repetition k (about k x 1.5 s in), several MiB are retained.
  EXPECT_GT(heap.functions(0).candidate_flat(), 1 << 20) << heap.DebugString();
  EXPECT_EQ(diffs["api/leaky/cpu/window"].sample_type(), "cpu");

  // The alert of the p50 regression carries functions of the first diff as evidence.
  std::string out;
  ASSERT_EQ(Cli({"-o", "json", "alert", "list"}, &out), 0) << out;
  auto alerts = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(alerts.is_discarded()) << out;
  bool evidence = false;
  for (const auto& a : alerts["alerts"]) {
    if (a.value("run_id", "") != std::to_string(cand) || a["metric"] != "http.latency.p50")
      continue;
    ASSERT_TRUE(a.contains("worst_functions")) << a.dump();
    evidence = !a["worst_functions"].empty();
  }
  EXPECT_TRUE(evidence) << out;
  // The reports say what the figures are.
  ASSERT_EQ(Cli({"report", std::to_string(cand), "--format", "md"}, &out), 0) << out;
  EXPECT_NE(out.find("Profile diff api/leaky/heap/after (inuse_space, bytes, mean of 8 -> 8 "
                     "profiles)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("`main.retainForever`"), std::string::npos) << out;
}

}  // namespace
}  // namespace perfgate::testing
