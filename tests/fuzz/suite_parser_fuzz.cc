// libFuzzer: a suite file (YAML or JSON), as `perfgate run submit --suite` and a repository's
// suite file deliver it. Parsing and validation must answer OK or an error, never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/spec/suite_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)perfgate::common::ParseSuite("fuzz.yaml", text);
  return 0;
}
