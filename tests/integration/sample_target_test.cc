// The sample target as a real process: its metrics count exactly what it served, and each
// injected regression shows where it should (wall time, CPU time, resident memory).
#include "tests/integration/sample_target.h"

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/compress/gzip.h"
#include "common/process/proc_stats.h"
#include "common/process/subprocess.h"
#include "common/stats/summary.h"
#include "controller/profile/pprof.h"
#include "tests/integration/fixture.h"

namespace perfgate::testing {
namespace {

common::ProcStats Stats(pid_t pid) {
  auto s = common::ReadProcStats(pid);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : common::ProcStats{};
}

TEST_F(ClusterTest, SampleTargetCountsExactlyWhatItServed) {
  SampleTarget t(dir_, "plain", {});
  auto c = t.Client();
  for (int i = 0; i < 300; ++i) ASSERT_EQ(c.Get("/api/items")->status, 200);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(c.Get("/api/items/99")->status, 404);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(c.Post("/api/items", "hello", "text/plain")->status, 201);
  auto one = c.Get("/api/items/7");
  ASSERT_EQ(one->status, 200);
  EXPECT_EQ(nlohmann::json::parse(one->body)["name"], "item-7");
  std::string m = t.Metrics();
  for (const char* want : {"sample_target_requests_total{route=\"list\",status=\"2xx\"} 300",
                           "sample_target_requests_total{route=\"get\",status=\"4xx\"} 50",
                           "sample_target_requests_total{route=\"get\",status=\"2xx\"} 1",
                           "sample_target_requests_total{route=\"create\",status=\"2xx\"} 20",
                           "sample_target_request_duration_seconds_count{route=\"list\"} 300",
                           "sample_target_leaked_bytes 0"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want;
  }
}

TEST_F(ClusterTest, SampleTargetInjectsLatencyCpuAndMemoryGrowth) {
  SampleTarget slow(dir_, "slow", {"--added-latency", "20ms"});
  auto c = slow.Client();
  for (int i = 0; i < 10; ++i) {
    absl::Time t0 = absl::Now();
    ASSERT_EQ(c.Get("/api/items")->status, 200);
    EXPECT_GE(absl::Now() - t0, absl::Milliseconds(20));  // a floor, not a speed claim
  }

  SampleTarget burner(dir_, "burner", {"--cpu-burn", "10ms"});
  double cpu0 = Stats(burner.process().pid()).cpu_seconds;
  auto b = burner.Client();
  for (int i = 0; i < 30; ++i) ASSERT_EQ(b.Get("/api/items")->status, 200);
  EXPECT_GE(Stats(burner.process().pid()).cpu_seconds - cpu0, 0.25) << "30 requests x 10 ms of CPU";

  SampleTarget leaker(dir_, "leaker", {"--leak-bytes", "1000000"});
  int64_t rss0 = Stats(leaker.process().pid()).rss_bytes;
  auto l = leaker.Client();
  for (int i = 0; i < 40; ++i) ASSERT_EQ(l.Get("/api/items")->status, 200);
  EXPECT_NE(leaker.Metrics().find("sample_target_leaked_bytes 40000000"), std::string::npos);
  EXPECT_GE(Stats(leaker.process().pid()).rss_bytes - rss0, 38'000'000) << "40 MB kept resident";
}

// Per 300 ms period (the noise level's), the median latency of sequential requests over 3 s.
std::vector<double> PeriodMedians(SampleTarget& t) {
  auto c = t.Client();
  std::map<int64_t, std::vector<double>> by_period;
  const absl::Time end = absl::Now() + absl::Seconds(3);
  while (absl::Now() < end) {
    const absl::Time t0 = absl::Now();
    EXPECT_EQ(c.Get("/api/items")->status, 200);
    by_period[absl::ToUnixMillis(t0) / 300].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  std::vector<double> medians;
  for (auto& [k, v] : by_period)
    if (v.size() >= 5) medians.push_back(common::Summarize(v).median);
  return medians;
}

// --noise-*: a level that holds for a period and changes between periods, so that a window's
// median moves the way a real system's does; without it the same window is steady.
TEST_F(ClusterTest, SampleTargetNoiseVariesFromPeriodToPeriod) {
  SampleTarget steady(dir_, "steady", {"--added-latency", "5ms"});
  SampleTarget noisy(dir_, "noisy",
                     {"--noise-latency", "5ms", "--noise-cv", "1", "--noise-period", "300ms",
                      "--noise-seed", "7"});
  const std::vector<double> s = PeriodMedians(steady), n = PeriodMedians(noisy);
  ASSERT_GE(s.size(), 5u);
  ASSERT_GE(n.size(), 5u);
  // The steady target's periods agree up to this machine's own noise (0.11 once with other
  // tests loading both cores), the noisy one's differ by far more.
  const double steady_cv = common::Summarize(s).cv, noisy_cv = common::Summarize(n).cv;
  EXPECT_LT(steady_cv, 0.2) << "without noise the periods agree";
  EXPECT_GT(noisy_cv, 0.15) << "the noise level changes between periods";
  EXPECT_GT(noisy_cv, 3 * steady_cv) << "noise, not the machine, makes the periods differ";
  RecordProperty("steady_cv", std::to_string(common::Summarize(s).cv));
  RecordProperty("noisy_cv", std::to_string(common::Summarize(n).cv));
}

// The sample target's CPU profile is a real pprof profile of where its CPU went: read by our
// reader and by Go's own tool, with the injected work in BurnCpu carrying most of it.
TEST_F(ClusterTest, SampleTargetServesACpuProfileThatShowsWhereItsCpuWent) {
  SampleTarget t(dir_, "profiled", {"--cpu-burn", "2ms"});
  // Requests keep the CPU busy in BurnCpu while the profile is taken (bounded: 5 s at most).
  std::atomic<bool> done{false};
  std::thread load([&] {
    auto c = t.Client();
    for (int i = 0; i < 2500 && !done; ++i) c.Get("/api/items");
  });
  int busy_status = 0;
  std::string busy_body;
  std::thread second([&] {
    absl::SleepFor(absl::Milliseconds(500));  // while the first profile runs
    if (auto r = t.Client().Get("/debug/pprof/profile?seconds=1")) {
      busy_status = r->status;
      busy_body = r->body;
    }
  });
  auto c = t.Client();
  c.set_read_timeout(10, 0);
  auto res = c.Get("/debug/pprof/profile?seconds=2");
  done = true;
  load.join();
  second.join();
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(busy_status, 409) << "one profile at a time: " << busy_body;
  EXPECT_EQ(c.Get("/debug/pprof/profile?seconds=0")->status, 400);
  EXPECT_EQ(c.Get("/debug/pprof/profile?seconds=x")->status, 400);

  auto p = controller::Profile::Parse(res->body);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(common::IsGzip(res->body)) << "gzipped, as Go serves it";
  EXPECT_NEAR(p->proto().duration_nanos() / 1e9, 2.0, 0.5);
  auto top = controller::TopFunctions(*p, "cpu", 1000);
  ASSERT_TRUE(top.ok()) << top.status();
  ASSERT_GT(top->total(), 0);
  int64_t burn_cum = 0;
  for (const auto& f : top->functions()) {
    if (f.name().rfind("perfgate::sample_target::BurnCpu(", 0) == 0) burn_cum = f.cum();
    EXPECT_EQ(f.name().find("OnSigprof"), std::string::npos)
        << "the handler's own frame is dropped";
  }
  // Nearly all the process's CPU is the 2 ms a request it was told to spend.
  EXPECT_GT(burn_cum, top->total() / 2) << top->DebugString();

  const std::string go = common::FindProgram("go");
  if (go.empty()) GTEST_SKIP() << "golang-go not installed: go tool pprof not checked";
  const std::string file = dir_ + "/sample-target-cpu.pb.gz";
  std::ofstream(file, std::ios::binary) << res->body;
  std::string out;
  common::SpawnOptions o;
  o.argv = {go, "tool", "pprof", "-top", "-symbolize=none", file};
  o.env_add = {{"HOME", dir_}, {"GOCACHE", dir_ + "/gocache"}};
  int code = -1;
  auto text = common::RunAndCapture(o, &code);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(code, 0) << *text;
  EXPECT_NE(text->find("Type: cpu"), std::string::npos) << *text;
  EXPECT_NE(text->find("perfgate::sample_target::BurnCpu"), std::string::npos) << *text;
}

// The exact heap profile (gperftools' heap profiler, --heap-profile exact): a manager told to leak
// 64 KiB a heartbeat holds that in RetainHeartbeat; two profiles taken 40 heartbeats apart differ
// there by what those heartbeats kept. Without the flag there is no heap profile.
TEST_F(ClusterTest, SampleTargetServesAHeapProfileThatNamesWhereMemoryIsKept) {
  SampleTarget plain(dir_, "no-heap", {});
  auto r = plain.Client().Get("/debug/pprof/heap");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("--heap-profile"), std::string::npos) << r->body;

  SampleTarget t(dir_, "heap",
                 {"--role", "manager", "--leak-per-heartbeat", "65536", "--heap-profile", "exact"});
  auto c = t.Client();
  auto heartbeats = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto h =
          c.Post("/workers", R"({"name": "w1", "address": "127.0.0.1:1"})", "application/json");
      ASSERT_TRUE(h && h->status == 200);
    }
  };
  auto inuse = [&](const std::string& body, int64_t* total) {
    auto p = controller::Profile::Parse(body);
    EXPECT_TRUE(p.ok()) << p.status();
    std::map<std::string, int64_t> out;
    if (!p.ok()) return out;
    EXPECT_TRUE(common::IsGzip(body));
    auto index = p->SampleTypeIndex("");
    EXPECT_TRUE(index.ok());
    EXPECT_EQ(p->SampleTypes()[*index], "inuse_space/bytes") << "the default, as Go's";
    for (const auto& [name, cost] : p->Costs(*index, total)) out[name] = cost.flat;
    return out;
  };
  heartbeats(10);
  auto first = c.Get("/debug/pprof/heap");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  heartbeats(40);
  auto second = c.Get("/debug/pprof/heap");
  ASSERT_TRUE(second);
  ASSERT_EQ(second->status, 200) << second->body;
  int64_t t1 = 0, t2 = 0;
  auto a = inuse(first->body, &t1), b = inuse(second->body, &t2);
  const std::string leak = "perfgate::sample_target::Manager::RetainHeartbeat()";
  // Exactly the blocks, and the list that holds them (a pointer each, grown by doubling).
  EXPECT_GE(a[leak], 10 * 65536);
  EXPECT_LE(a[leak], 10 * 65536 + 1024);
  EXPECT_GE(b[leak], 50 * 65536);
  EXPECT_LE(b[leak], 50 * 65536 + 1024);
  // The whole heap holds at least the blocks (the totals' difference also counts what the first
  // profile's own request held, so it is not compared).
  EXPECT_GE(t2, 50 * 65536);
  auto diff = controller::DiffProfiles(*controller::Profile::Parse(first->body),
                                       *controller::Profile::Parse(second->body), "inuse_space", 3);
  ASSERT_TRUE(diff.ok()) << diff.status();
  ASSERT_GT(diff->functions_size(), 0);
  EXPECT_EQ(diff->functions(0).name(), leak) << diff->DebugString();
}

// The sampled heap profile (tcmalloc's heap sample, --heap-profile sampled, the process
// re-executed with its sampling period set): 200 heartbeats keeping 256 KiB each, all in
// RetainHeartbeat, without tcmalloc's own frames. The figure is an estimate: over one
// keep-alive connection tcmalloc records fewer of these allocations than its period says (the
// estimate comes out at 0.56-0.61 of the truth here, 0.96-1.07 over a connection per request),
// so only its order is checked; exact mode is exact.
TEST_F(ClusterTest, SampleTargetServesASampledHeapProfileWithEstimatesOfTheRightOrder) {
  SampleTarget t(
      dir_, "sampled",
      {"--role", "manager", "--leak-per-heartbeat", "262144", "--heap-profile", "sampled"});
  auto c = t.Client();
  for (int i = 0; i < 200; ++i) {
    auto h = c.Post("/workers", R"({"name": "w1", "address": "127.0.0.1:1"})", "application/json");
    ASSERT_TRUE(h && h->status == 200);
  }
  auto res = c.Get("/debug/pprof/heap");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto p = controller::Profile::Parse(res->body);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->proto().period(), 512 << 10);
  auto top = controller::TopFunctions(*p, "inuse_space", 5);
  ASSERT_TRUE(top.ok()) << top.status();
  ASSERT_GT(top->functions_size(), 0);
  EXPECT_EQ(top->functions(0).name(), "perfgate::sample_target::Manager::RetainHeartbeat()")
      << top->DebugString();
  const double truth = 200.0 * 262144;
  EXPECT_GT(static_cast<double>(top->functions(0).flat()), 0.35 * truth) << top->DebugString();
  EXPECT_LT(static_cast<double>(top->functions(0).flat()), 2.0 * truth) << top->DebugString();
  for (const auto& f : top->functions())
    EXPECT_EQ(f.name().find("tc_"), std::string::npos) << "tcmalloc's frames are dropped";
}

}  // namespace
}  // namespace perfgate::testing

namespace perfgate::testing {
namespace {

std::string Url(const SampleTarget& t) { return absl::StrCat("http://127.0.0.1:", t.port()); }

// Which worker each task of `service` is on, in a manager's view.
std::map<std::string, std::string> Placement(const SampleTarget& manager,
                                             const std::string& service) {
  std::map<std::string, std::string> out;
  auto r = manager.Client().Get(("/services/" + service).c_str());
  if (!r || r->status != 200) return out;
  const nlohmann::json j = nlohmann::json::parse(r->body);
  for (const auto& t : j["tasks"]) out[t["id"]] = t["worker"];
  return out;
}

// `n` calls through the manager, each answered by the task's worker.
bool AllCallsAnswered(const SampleTarget& manager, int n) {
  auto c = manager.Client();
  for (int i = 0; i < n; ++i) {
    auto r = c.Get("/services/web/call");
    if (!r || r->status != 200) return false;
  }
  return true;
}

// The manager/worker mode (tools/sample_target/cluster.h): two manager replicas, two workers
// heartbeating to both; tasks spread and placed alike by both managers; a worker killed, its
// tasks moved to the other within the worker timeout and a heartbeat.
TEST_F(ClusterTest, SampleTargetManagersPlaceTasksOnWorkersAndMoveThemWhenOneDies) {
  SampleTarget a(dir_, "mgr-a", {"--role", "manager", "--worker-timeout", "500ms"});
  SampleTarget b(dir_, "mgr-b",
                 {"--role", "manager", "--worker-timeout", "500ms", "--peers", Url(a)});
  const std::string managers = Url(a) + "," + Url(b);
  SampleTarget w1(dir_, "w1", {"--role", "worker", "--name", "w1", "--manager", managers});
  SampleTarget w2(dir_, "w2", {"--role", "worker", "--name", "w2", "--manager", managers});

  // Bad requests name the field.
  auto c = b.Client();
  auto bad = c.Post("/services", "{}", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("name: want a string"), std::string::npos) << bad->body;
  bad = c.Post("/services", R"({"name": "web", "replicas": 0})", "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("replicas: want a whole number from 1 to 1000"), std::string::npos);
  EXPECT_EQ(a.Client().Get("/services/nothing/call")->status, 404);

  // Created on b, told to a; placed on both workers, alike by both managers.
  auto made = c.Post("/services", R"({"name": "web", "replicas": 6})", "application/json");
  ASSERT_TRUE(made);
  EXPECT_EQ(made->status, 201) << made->body;
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::set<std::string> workers;
        for (const auto& [task, w] : Placement(a, "web")) workers.insert(w);
        return workers == std::set<std::string>{"w1", "w2"};
      },
      absl::Seconds(5)))
      << "tasks on both workers";
  EXPECT_EQ(Placement(a, "web").size(), 6u);
  EXPECT_EQ(Placement(a, "web"), Placement(b, "web"));
  ASSERT_TRUE(WaitUntil([&] { return AllCallsAnswered(a, 12); }, absl::Seconds(5)));

  // w2 dies: its tasks go to w1 once its heartbeats stop (500 ms), and w1 answers for them
  // from its next heartbeat (250 ms).
  w2.process().Kill9();
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& [task, w] : Placement(a, "web"))
          if (w != "w1") return false;
        return true;
      },
      absl::Seconds(5)));
  ASSERT_TRUE(WaitUntil([&] { return AllCallsAnswered(a, 12); }, absl::Seconds(5)));
  EXPECT_LT(absl::Now() - killed, absl::Seconds(4));
  EXPECT_EQ(Placement(b, "web"), Placement(a, "web"));
  EXPECT_EQ(nlohmann::json::parse(a.Client().Get("/workers")->body).size(), 2u);
  EXPECT_NE(a.Metrics().find("sample_target_task_moves_total "), std::string::npos);
  EXPECT_EQ(a.Metrics().find("sample_target_task_moves_total 0\n"), std::string::npos)
      << "the moved tasks were counted";

  // A worker without managers is refused.
  common::SpawnOptions o;
  o.argv = {BinaryPath("perfgate-sample-target"), "--role", "worker"};
  int code = 0;
  auto out = common::RunAndCapture(o, &code);
  EXPECT_EQ(code, 2);
  EXPECT_NE(out->find("--manager: a worker needs its managers' URLs"), std::string::npos) << *out;
}

}  // namespace
}  // namespace perfgate::testing
