// Builds a gzip-compressed pprof protobuf (proto/perfgate/pprof/profile.proto) from stacks of
// this process's addresses, the way Go's runtime/pprof writes them: one location per address,
// one function per symbol (dladdr(3): link the executable with -rdynamic so that its own
// functions are named; functions with internal linkage stay unnamed locations), identical
// stacks merged with their values summed. Used by the CPU and heap profilers.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "perfgate/pprof/profile.pb.h"

namespace perfgate::sample_target {

class PprofEncoder {
 public:
  // `types`: (type, unit) per value of a sample, e.g. {"inuse_space", "bytes"}; the period is
  // in `period_type`.
  PprofEncoder(const std::vector<std::pair<std::string, std::string>>& types,
               const std::pair<std::string, std::string>& period_type, int64_t period);

  // A stack, leaf first, with one value per sample type. When `leaf_is_pc` the first address
  // is where the thread was (a CPU sample); the others (all, otherwise) are return addresses,
  // looked up one byte back so that a call ending its function is named by its caller.
  void Add(void* const* frames, int n, bool leaf_is_pc, const std::vector<int64_t>& values);

  // The gzipped profile; `default_type` names the sample type pprof shows first ("" = the last).
  std::string Finish(int64_t start_unix_ns, int64_t duration_ns,
                     const std::string& default_type = "");

 private:
  int64_t Str(const std::string& s);
  uint64_t Location(uintptr_t address, bool is_pc);
  uint64_t Function(const char* symbol, const std::string& file);

  pprof::Profile p_;
  size_t values_ = 0;
  std::map<std::string, int64_t> strings_;
  std::map<uintptr_t, uint64_t> locations_;
  std::map<std::string, uint64_t> functions_;
  std::map<std::vector<uint64_t>, std::vector<int64_t>> stacks_;
};

}  // namespace perfgate::sample_target
