// libFuzzer: the load generator's HTTP/1.1 response parser, fed what a server under test sends,
// in two pieces at a point the input chooses.
#include <cstddef>
#include <cstdint>

#include "agent/load/http_response_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  perfgate::agent::HttpResponseParser p;
  p.Reset(data[0] & 1);
  const size_t cut = size > 1 ? data[0] % size : 0;
  const char* bytes = reinterpret_cast<const char*>(data) + 1;
  const size_t n = size - 1;
  const size_t first = cut < n ? cut : n;
  using R = perfgate::agent::HttpResponseParser::Result;
  if (p.Feed(bytes, first) == R::kNeedMore && p.Feed(bytes + first, n - first) == R::kNeedMore)
    (void)p.Feed(nullptr, 0);  // the peer closes
  return 0;
}
