// A repetition's Prometheus range series stay within what the controller takes (issue 17): past
// the caps, series are dropped with a gap saying how many, instead of the whole repetition being
// refused. Prometheus's HTTP API answered by a canned server (the unit's seam; the real server
// is in tests/integration/observe_test.cc).
#include <httplib.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/observe/prometheus.h"
#include "gtest/gtest.h"

namespace perfgate::agent {
namespace {

TEST(PromSeriesCapsTest, SeriesPastTheCapsAreDroppedWithAGap) {
  httplib::Server prom;
  prom.Post("/api/v1/query_range", [](const httplib::Request&, httplib::Response& res) {
    std::string result;
    for (int i = 0; i < 5; ++i) {
      absl::StrAppend(&result, i ? "," : "", "{\"metric\":{\"instance\":\"i", i,
                      "\"},\"values\":[[1700000000,\"1\"],[1700000001,\"2\"],[1700000002,\"3\"]]}");
    }
    res.set_content(absl::StrCat("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
                                 "\"result\":[",
                                 result, "]}}"),
                    "application/json");
  });
  const int port = prom.bind_to_any_port("127.0.0.1");
  std::thread serve([&] { prom.listen_after_bind(); });
  PromClient client(absl::StrCat("http://127.0.0.1:", port));
  google::protobuf::RepeatedPtrField<v1::PromQuery> queries;
  v1::PromQuery* q = queries.Add();
  q->set_name("cpu");
  q->set_expr("rate(cpu[1m])");
  q->set_mode(v1::PromQuery::MODE_RANGE);
  q->set_step_ms(1000);
  const absl::Time start = absl::FromUnixSeconds(1700000000);

  v1::RepetitionResult by_count;
  RunPromQueries(client, queries, start, start + absl::Seconds(2), &by_count, {3, 100});
  EXPECT_EQ(by_count.series_size(), 3);
  ASSERT_EQ(by_count.gaps_size(), 1);
  EXPECT_EQ(by_count.gaps(0).name(), "prom.cpu");
  EXPECT_EQ(by_count.gaps(0).reason(),
            "2 of 5 series dropped: a repetition keeps at most 3 series and 100 points");

  v1::RepetitionResult by_points;
  RunPromQueries(client, queries, start, start + absl::Seconds(2), &by_points, {10, 7});
  EXPECT_EQ(by_points.series_size(), 2) << "3 points each: 6 of at most 7";
  ASSERT_EQ(by_points.gaps_size(), 1);
  EXPECT_NE(by_points.gaps(0).reason().find("3 of 5 series dropped"), std::string::npos);

  v1::RepetitionResult all;
  RunPromQueries(client, queries, start, start + absl::Seconds(2), &all);
  EXPECT_EQ(all.series_size(), 5);
  EXPECT_EQ(all.gaps_size(), 0);
  prom.stop();
  serve.join();
}

}  // namespace
}  // namespace perfgate::agent
