// The sample target as a real process: its metrics count exactly what it served, and each
// injected regression shows where it should (wall time, CPU time, resident memory).
#include "tests/integration/sample_target.h"

#include "common/process/proc_stats.h"
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

}  // namespace
}  // namespace perfgate::testing
