#include "controller/campaign/soak_heaps.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "common/spec/run_spec_rules.h"
#include "common/status/macros.h"
#include "controller/profile/pprof.h"

namespace perfgate::controller {
namespace {

// At most this many repetitions' profiles a side are read.
constexpr size_t kMaxPairs = 12;

// "soak.start" -> ("soak", true); "soak.idle.end" -> ("soak.idle", false); else false.
bool SoakPoint(const std::string& point, std::string* phase, bool* start) {
  absl::string_view p = point;
  if (!absl::StartsWith(p, "soak")) return false;
  if (absl::ConsumeSuffix(&p, ".start")) {
    *start = true;
  } else if (absl::ConsumeSuffix(&p, ".end")) {
    *start = false;
  } else {
    return false;
  }
  if (p != "soak" && !absl::StartsWith(p, "soak.")) return false;
  *phase = std::string(p);
  return true;
}

}  // namespace

absl::StatusOr<std::vector<v1::SoakHeap>> LoadSoakHeaps(ResultStore& results, int64_t run_id) {
  ASSIGN_OR_RETURN(v1::ListProfilesResponse list, results.ListProfiles(run_id));
  // (job, phase, service) -> repetition -> (start id, end id)
  using Key = std::tuple<std::string, std::string, std::string>;
  std::map<Key, std::map<int, std::pair<int64_t, int64_t>>> pairs;
  for (const v1::ProfileRef& p : list.profiles()) {
    std::string phase;
    bool start = false;
    if (p.kind() != "heap" || !SoakPoint(p.point(), &phase, &start)) continue;
    auto& pair = pairs[{p.job_name(), phase, p.service()}][p.repetition()];
    (start ? pair.first : pair.second) = p.id();
  }
  std::vector<v1::SoakHeap> out;
  for (const auto& [key, reps] : pairs) {
    CostSum start, end;
    size_t used = 0;
    int64_t period = 0;  // the largest sampling period among the profiles (bytes)
    for (const auto& [rep, ids] : reps) {
      if (ids.first == 0 || ids.second == 0 || used >= kMaxPairs) continue;
      // Both profiles of a repetition, or neither: the means compare the same repetitions.
      auto a = results.GetProfile(ids.first);
      auto b = results.GetProfile(ids.second);
      if (!a.ok() || !b.ok()) continue;
      auto pa = Profile::Parse(a->second);
      auto pb = Profile::Parse(b->second);
      if (!pa.ok() || !pb.ok()) continue;
      CostSum one_start = start, one_end = end;
      if (!one_start.Add(*pa, start.profiles() ? start.sample_type() : "inuse_space").ok() ||
          !one_end.Add(*pb, one_start.sample_type()).ok())
        continue;
      start = std::move(one_start);
      end = std::move(one_end);
      ++used;
      period = std::max({period, pa->proto().period(), pb->proto().period()});
    }
    if (used == 0) continue;
    auto d = DiffCostSums(start, end, 1000);
    if (!d.ok()) continue;
    v1::SoakHeap h;
    h.set_job(std::get<0>(key));
    h.set_phase(std::get<1>(key));
    h.set_service(std::get<2>(key));
    h.set_profiles(static_cast<int32_t>(used));
    h.set_start_bytes(d->base_total());
    h.set_end_bytes(d->candidate_total());
    const int64_t floor = std::max(kLeakSuspectBytes, 2 * period);
    for (const v1::FunctionDelta& f : d->functions()) {
      if (h.suspects_size() >= kMaxLeakSuspects) break;
      if (f.candidate_flat() - f.base_flat() >= floor) *h.add_suspects() = f;
    }
    out.push_back(std::move(h));
  }
  return out;
}

double SoakSeconds(const v1::JobResults& job, const std::string& phase) {
  double sum = 0;
  int n = 0;
  for (const v1::RepetitionResult& r : job.repetitions()) {
    for (const v1::PhaseRecord& p : r.phases()) {
      if (p.kind() != "soak" || common::PhaseMetricPrefix("soak", p.name()) != phase) continue;
      sum += p.seconds();
      ++n;
    }
  }
  return n ? sum / n : 0;
}

}  // namespace perfgate::controller
