// libFuzzer: an answer of Prometheus's query API as the agent reads it after each repetition
// (a private Prometheus, or one the agent's config names, which may be anything).
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/observe/prometheus.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)perfgate::agent::ParsePromAnswer(200,
                                         std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
