// libFuzzer: a serialised HDR histogram as an agent uploads it (results' histograms). Decoding
// must refuse or accept without undefined behaviour, within its allocation bound, and what it
// accepts must round-trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/hist/hdr_histogram.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  perfgate::v1::HdrHistogram p;
  if (!p.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto h = perfgate::common::HdrHistogram::FromProto(p);
  if (!h.ok()) return 0;
  for (double q : {0.0, 50.0, 99.9, 100.0}) (void)h->ValueAtPercentile(q);
  auto again = perfgate::common::HdrHistogram::FromProto(h->ToProto());
  if (!again.ok() || again->total() != h->total()) std::abort();
  return 0;
}
