// Prometheus's query API answers as the agent reads them: the three result types, Prometheus's
// own error, and malformed answers (a Prometheus named in an agent's config may be anything, or
// a proxy in front of it) refused with an error instead of an exception escaping or undefined
// behaviour. The fuzz target tests/fuzz/prom_answer_fuzz.cc covers the rest.
#include "agent/observe/prometheus.h"
#include "gtest/gtest.h"

namespace perfgate::agent {
namespace {

TEST(PromAnswerTest, ReadsVectorMatrixAndScalar) {
  auto v = ParsePromAnswer(200, R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{"job":"api"},"value":[1700000000.5,"2.5"]}]}})");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 1u);
  EXPECT_EQ((*v)[0].labels.at("job"), "api");
  EXPECT_EQ((*v)[0].points[0].first, 1700000000500);
  EXPECT_EQ((*v)[0].points[0].second, 2.5);

  auto m = ParsePromAnswer(200, R"({"status":"success","data":{"resultType":"matrix","result":[
      {"metric":{},"values":[[1,"1"],[2,"2"],[3,"3"]]}]}})");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)[0].points.size(), 3u);

  auto s = ParsePromAnswer(200, R"({"status":"success","data":{"resultType":"scalar",
      "result":[1,"7"]}})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)[0].points[0].second, 7);
}

TEST(PromAnswerTest, PrometheusErrorIsInvalidArgumentWithItsText) {
  auto e =
      ParsePromAnswer(400, R"({"status":"error","errorType":"bad_data","error":"parse error"})");
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.status().message(), "bad_data: parse error");
  // Error fields of the wrong type do not throw.
  auto odd = ParsePromAnswer(400, R"({"status":1,"errorType":[],"error":{}})");
  EXPECT_EQ(odd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(odd.status().message(), "error: (no message)");
}

TEST(PromAnswerTest, MalformedAnswersAreUnavailableNotCrashes) {
  for (const char* body : {
           "",
           "[]",
           "not json",
           R"({"status":"success"})",                                 // no data
           R"({"status":"success","data":[]})",                       // data not an object
           R"({"status":"success","data":{"resultType":7}})",         // type not a string
           R"({"status":"success","data":{"resultType":"vector"}})",  // no result
           R"({"status":"success","data":{"resultType":"vector","result":[{}]}})",
           R"({"status":"success","data":{"resultType":"vector","result":[
               {"metric":{"a":1},"value":[1,"1"]}]}})",    // label not a string
           R"({"status":"success","data":{"resultType":"matrix","result":[
               {"metric":{},"values":[[1e300,"1"]]}]}})",  // time out of range
           R"({"status":"success","data":{"resultType":"scalar","result":[1]}})",
       }) {
    auto r = ParsePromAnswer(200, body);
    EXPECT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << body << ": " << r.status();
  }
}

}  // namespace
}  // namespace perfgate::agent
