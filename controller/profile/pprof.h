// Reading pprof profiles (gzip-compressed or not) and summarising them the way `go tool pprof
// -top` does: per sample type, each function's flat value (samples where it is the leaf) and
// cumulative value (samples where it is anywhere on the stack, counted once per sample).
// Diffs line two profiles' functions up by name: baseline vs candidate, or a run's first and
// last heap profile (growth by function = leak suspects).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "perfgate/pprof/profile.pb.h"
#include "perfgate/v1/controller.pb.h"

namespace perfgate::controller {

inline constexpr size_t kMaxProfileBytes = 256 << 20;  // decompressed

class Profile {
 public:
  // INVALID_ARGUMENT (saying what is wrong) for bytes that are not a pprof profile.
  static absl::StatusOr<Profile> Parse(const std::string& bytes);

  // "type/unit" for each sample type, in order.
  std::vector<std::string> SampleTypes() const;
  // The index of `type` ("" = the profile's default, else the last one, as pprof does).
  // INVALID_ARGUMENT naming the types there are.
  absl::StatusOr<int> SampleTypeIndex(const std::string& type) const;

  struct Cost {
    std::string file;
    int64_t flat = 0, cum = 0;
  };
  // Function name -> cost for sample type `index`; `total` is the sum over samples.
  std::map<std::string, Cost> Costs(int index, int64_t* total) const;

  int64_t samples() const { return p_.sample_size(); }
  const pprof::Profile& proto() const { return p_; }

 private:
  const std::string& Str(int64_t i) const;
  pprof::Profile p_;
};

// The `limit` functions with the largest flat values (ties by cum, then name).
absl::StatusOr<v1::ProfileTop> TopFunctions(const Profile& p, const std::string& sample_type,
                                            int limit);
// Per-function costs summed over several profiles of one kind (a side's repetitions), added
// one at a time so that only one parsed profile need be held. Diffs use the mean per profile,
// so sides with different numbers of repetitions compare fairly and one odd repetition does
// not make the evidence alone. Not thread-safe.
class CostSum {
 public:
  // The first profile fixes the sample type (`sample_type`, "" = its default); every later one
  // must have a type of that name. INVALID_ARGUMENT (naming the types there are) otherwise.
  absl::Status Add(const Profile& p, const std::string& sample_type);

  int profiles() const { return profiles_; }
  const std::string& sample_type() const { return type_; }
  const std::string& unit() const { return unit_; }
  // Function -> summed cost; `total` is the sum over all samples of all profiles.
  const std::map<std::string, Profile::Cost>& sums() const { return sums_; }
  int64_t total() const { return total_; }

 private:
  int profiles_ = 0;
  std::string type_, unit_;
  std::map<std::string, Profile::Cost> sums_;
  int64_t total_ = 0;
};

// Functions by the size of the change of their mean flat value per profile (then cum),
// largest first. INVALID_ARGUMENT when a side is empty or the sample types differ.
absl::StatusOr<v1::ProfileDiff> DiffCostSums(const CostSum& base, const CostSum& candidate,
                                             int limit);
// The same for one profile a side.
absl::StatusOr<v1::ProfileDiff> DiffProfiles(const Profile& base, const Profile& candidate,
                                             const std::string& sample_type, int limit);

}  // namespace perfgate::controller
