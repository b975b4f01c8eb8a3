// libFuzzer: a run spec as `SubmitRun` receives it (a binary perfgate.v1.RunSpec from any API
// client), through the controller's validation and defaults. Validation must answer OK or
// INVALID_ARGUMENT naming a field, never crash; a spec it accepted must be accepted again
// unchanged (defaulting is idempotent), since the stored spec is validated again on rerun.
//
// Seeds: with PERFGATE_FUZZ_SUITES=DIR and PERFGATE_FUZZ_SEED_OUT=DIR set, the target first
// writes the run spec of every suite file in the first directory into the second
// (tests/fuzz/run.sh does this with deploy/examples).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/spec/run_spec_rules.h"
#include "common/spec/suite_parser.h"
#include "google/protobuf/util/message_differencer.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* suites = std::getenv("PERFGATE_FUZZ_SUITES");
  const char* out = std::getenv("PERFGATE_FUZZ_SEED_OUT");
  if (suites == nullptr || out == nullptr) return 0;
  std::filesystem::create_directories(out);
  for (const auto& f : std::filesystem::directory_iterator(suites)) {
    const auto ext = f.path().extension();
    if (ext != ".yaml" && ext != ".yml" && ext != ".json") continue;
    std::ifstream in(f.path());
    std::stringstream text;
    text << in.rdbuf();
    auto spec = perfgate::common::ParseSuite(f.path().filename().string(), text.str());
    if (!spec.ok()) continue;
    std::ofstream(std::filesystem::path(out) / (f.path().stem().string() + ".pb"), std::ios::binary)
        << spec->SerializeAsString();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  perfgate::v1::RunSpec spec;
  if (!spec.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (!perfgate::common::ValidateAndDefaultRunSpec(&spec).ok()) return 0;
  perfgate::v1::RunSpec again = spec;
  const absl::Status s = perfgate::common::ValidateAndDefaultRunSpec(&again);
  if (!s.ok() || !google::protobuf::util::MessageDifferencer::Equals(spec, again)) {
    std::fprintf(stderr, "a validated spec changed or failed on a second validation: %s\n",
                 s.ToString().c_str());
    std::abort();
  }
  return 0;
}
