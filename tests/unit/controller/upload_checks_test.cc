#include "controller/queue/upload_checks.h"

#include <cmath>
#include <functional>

#include "gtest/gtest.h"

namespace perfgate::controller {
namespace {

v1::UploadResultsRequest OneRepetition() {
  v1::UploadResultsRequest req;
  req.set_attempt_id(1);
  req.set_epoch(1);
  auto* r = req.add_results();
  r->set_repetition(1);
  auto* m = r->add_measurements();
  m->set_name("http.latency.p50");
  m->set_unit("ms");
  m->set_value(1.5);
  return req;
}

TEST(UploadChecksTest, AGoodBatchPasses) {
  EXPECT_TRUE(CheckResultsUpload(OneRepetition(), UploadLimits{}).ok());
}

TEST(UploadChecksTest, EachProblemNamesItsField) {
  struct Case {
    std::function<void(v1::UploadResultsRequest*)> mutate;
    std::string want;
  } cases[] = {
      {[](auto* q) { q->set_epoch(0); }, "attempt_id and epoch are required"},
      {[](auto* q) { q->mutable_results(0)->set_repetition(0); },
       "results[0].repetition: must be 1 or more"},
      {[](auto* q) { *q->mutable_results(0)->add_measurements() = q->results(0).measurements(0); },
       "results[0].measurements[1].name: 'http.latency.p50' appears twice"},
      {[](auto* q) { q->mutable_results(0)->mutable_measurements(0)->set_value(NAN); },
       "results[0].measurements[0].value: not a finite number"},
      {[](auto* q) { q->mutable_results(0)->mutable_measurements(0)->set_name(""); },
       "results[0].measurements[0]: name must be 1..256 bytes"},
      {[](auto* q) {
         auto* h = q->mutable_results(0)->add_histograms();
         h->set_name("lat");
         h->mutable_histogram()->set_significant_digits(99);
       },
       "results[0].histograms[0]: "},
      {[](auto* q) { q->mutable_results(0)->add_profiles()->set_sha256("xyz"); },
       "results[0].profiles[0].sha256: want 64 lowercase hex digits"},
      {[](auto* q) {
         for (int i = 0; i < 101; ++i) *q->add_results() = q->results(0);
       },
       "results: at most 100 repetitions per request"},
  };
  for (const auto& c : cases) {
    v1::UploadResultsRequest req = OneRepetition();
    c.mutate(&req);
    absl::Status s = CheckResultsUpload(req, UploadLimits{});
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << c.want;
    EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
  }
}

TEST(UploadChecksTest, LogChunksAreBounded) {
  v1::UploadLogRequest req;
  req.set_attempt_id(1);
  req.set_epoch(1);
  auto* c = req.add_chunks();
  c->set_seq(0);
  c->set_stream(v1::LOG_STREAM_STDOUT);
  c->set_data("hello\n");
  EXPECT_TRUE(CheckLogUpload(req, UploadLimits{}).ok());
  c->set_stream(v1::LOG_STREAM_UNSPECIFIED);
  EXPECT_NE(CheckLogUpload(req, UploadLimits{}).message().find("chunks[0].stream: unknown"),
            std::string::npos);
  c->set_stream(v1::LOG_STREAM_STDERR);
  c->set_data(std::string(300 * 1024, 'x'));
  EXPECT_NE(CheckLogUpload(req, UploadLimits{}).message().find("chunks[0].data: "),
            std::string::npos);
}

}  // namespace
}  // namespace perfgate::controller
