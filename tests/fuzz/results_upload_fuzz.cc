// libFuzzer: an agent's results upload (a binary perfgate.v1.UploadResultsRequest) through the
// controller's checks, then what the store does with an accepted one: per-metric summaries.
// The checks must answer OK or INVALID_ARGUMENT naming the field, never crash.
//
// Seeds: with PERFGATE_FUZZ_SEED_OUT=DIR set, the target first writes a well-formed upload
// (measurements, a latency histogram, a gap, a series, a profile reference) there.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/hist/hdr_histogram.h"
#include "controller/queue/result_summary.h"
#include "controller/queue/upload_checks.h"

namespace pg = perfgate;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* out = std::getenv("PERFGATE_FUZZ_SEED_OUT");
  if (out == nullptr) return 0;
  std::filesystem::create_directories(out);
  pg::v1::UploadResultsRequest req;
  req.set_attempt_id(7);
  req.set_epoch(1);
  for (int r = 1; r <= 2; ++r) {
    auto* rep = req.add_results();
    rep->set_repetition(r);
    rep->set_valid(true);
    rep->set_generator("http-open-loop");
    rep->mutable_started_at()->set_seconds(1'700'000'000 + r * 10);
    rep->mutable_ended_at()->set_seconds(1'700'000'005 + r * 10);
    auto* m = rep->add_measurements();
    m->set_name("http.latency.p99");
    m->set_unit("ms");
    m->set_value(1.5 * r);
    auto h = pg::common::HdrHistogram::Create();
    for (int v = 1; v < 5000; v += 7) h->Record(v * 13, 1 + v % 3);
    auto* nh = rep->add_histograms();
    nh->set_name("http.latency");
    *nh->mutable_histogram() = h->ToProto();
    auto* g = rep->add_gaps();
    g->set_name("prom.cpu");
    g->set_reason("no data");
    auto* s = rep->add_series();
    s->set_name("rss");
    (*s->mutable_labels())["job"] = "api";
    for (int i = 0; i < 5; ++i) {
      auto* p = s->add_points();
      p->set_t_ms(1'700'000'000'000 + i * 1000);
      p->set_value(i);
    }
    auto* prof = rep->add_profiles();
    prof->set_service("api");
    prof->set_kind("cpu");
    prof->set_point("window");
    prof->set_sha256(std::string(64, 'a'));
    prof->set_size(4096);
  }
  std::ofstream(std::filesystem::path(out) / "upload.pb", std::ios::binary)
      << req.SerializeAsString();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pg::v1::UploadResultsRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (!pg::controller::CheckResultsUpload(req, pg::controller::UploadLimits{}).ok()) return 0;
  pg::v1::RunResults results;
  auto* job = results.add_jobs();
  for (const auto& r : req.results()) *job->add_repetitions() = r;
  pg::controller::SummarizeRunResults(&results);
  return 0;
}
