// libFuzzer: a pprof profile (gzip-compressed or not) as the controller reads an uploaded blob.
#include <cstddef>
#include <cstdint>
#include <string>

#include "controller/profile/pprof.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)perfgate::controller::Profile::Parse(
      std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
