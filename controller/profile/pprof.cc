#include "controller/profile/pprof.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/compress/gzip.h"

namespace perfgate::controller {

absl::StatusOr<Profile> Profile::Parse(const std::string& bytes) {
  std::string raw;
  const std::string* data = &bytes;
  if (common::IsGzip(bytes)) {
    auto g = common::Gunzip(bytes, kMaxProfileBytes);
    if (!g.ok()) return g.status();
    raw = std::move(*g);
    data = &raw;
  }
  Profile p;
  if (!p.p_.ParseFromString(*data))
    return absl::InvalidArgumentError("not a pprof profile (the protobuf does not parse)");
  const int64_t n = p.p_.string_table_size();
  if (n == 0 || !p.p_.string_table(0).empty())
    return absl::InvalidArgumentError("not a pprof profile (string_table[0] must be \"\")");
  auto bad_index = [n](int64_t i) { return i < 0 || i >= n; };
  if (p.p_.sample_type_size() == 0) return absl::InvalidArgumentError("no sample types");
  for (const auto& t : p.p_.sample_type()) {
    if (bad_index(t.type()) || bad_index(t.unit()))
      return absl::InvalidArgumentError("a sample type names a string that does not exist");
  }
  for (const auto& f : p.p_.function()) {
    if (bad_index(f.name()) || bad_index(f.filename()) || bad_index(f.system_name()))
      return absl::InvalidArgumentError(
          absl::StrCat("function ", f.id(), " names a string that does not exist"));
  }
  for (const auto& s : p.p_.sample()) {
    if (s.value_size() != p.p_.sample_type_size())
      return absl::InvalidArgumentError("a sample's values do not match the sample types");
  }
  return p;
}

const std::string& Profile::Str(int64_t i) const { return p_.string_table(static_cast<int>(i)); }

std::vector<std::string> Profile::SampleTypes() const {
  std::vector<std::string> out;
  for (const auto& t : p_.sample_type()) out.push_back(Str(t.type()) + "/" + Str(t.unit()));
  return out;
}

absl::StatusOr<int> Profile::SampleTypeIndex(const std::string& type) const {
  if (type.empty()) {
    if (p_.default_sample_type() > 0) {
      for (int i = 0; i < p_.sample_type_size(); ++i) {
        if (p_.sample_type(i).type() == p_.default_sample_type()) return i;
      }
    }
    return p_.sample_type_size() - 1;
  }
  for (int i = 0; i < p_.sample_type_size(); ++i) {
    if (Str(p_.sample_type(i).type()) == type) return i;
  }
  std::vector<std::string> names;
  for (const auto& t : p_.sample_type()) names.push_back(Str(t.type()));
  return absl::InvalidArgumentError("sample_type: '" + type + "' is not in the profile (it has " +
                                    absl::StrJoin(names, ", ") + ")");
}

std::map<std::string, Profile::Cost> Profile::Costs(int index, int64_t* total) const {
  // Functions get dense indexes (by name: two ids with one name are one function, as pprof
  // shows them); each location becomes the list of its frames' indexes, innermost first. The
  // sample loop then touches only integer arrays: a "seen in this sample" stamp per function
  // makes cum count each function once per sample, recursion included.
  std::unordered_map<std::string, int> by_name;
  std::vector<const std::string*> names;
  std::vector<std::string> files, synthetic;
  synthetic.reserve(p_.location_size());
  auto intern = [&](const std::string& name, const std::string& file) {
    auto [it, added] = by_name.emplace(name, static_cast<int>(names.size()));
    if (added) {
      names.push_back(&it->first);
      files.push_back(file);
    }
    return it->second;
  };
  std::unordered_map<uint64_t, int> fn_index;
  for (const auto& f : p_.function()) fn_index[f.id()] = intern(Str(f.name()), Str(f.filename()));
  // Location ids are usually 1..N: index them directly when they are, else through a map.
  uint64_t max_id = 0;
  for (const auto& l : p_.location()) max_id = std::max(max_id, l.id());
  const bool dense = max_id <= 4 * static_cast<uint64_t>(p_.location_size()) + 16;
  std::vector<std::vector<int>> frames(dense ? max_id + 1 : 0);
  std::unordered_map<uint64_t, std::vector<int>> sparse;
  for (const auto& l : p_.location()) {
    std::vector<int>& v = dense ? frames[l.id()] : sparse[l.id()];
    for (const auto& line : l.line()) {
      auto it = fn_index.find(line.function_id());
      if (it != fn_index.end()) v.push_back(it->second);
    }
    if (v.empty()) {  // not symbolised: the address stands in for the function
      char buf[32];
      snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(l.address()));
      v.push_back(intern(buf, ""));
    }
  }
  static const std::vector<int> kNone;
  auto frames_of = [&](uint64_t id) -> const std::vector<int>& {
    if (dense) return id < frames.size() ? frames[id] : kNone;
    auto it = sparse.find(id);
    return it == sparse.end() ? kNone : it->second;
  };
  std::vector<int64_t> flat(names.size()), cum(names.size());
  std::vector<int> stamp(names.size(), -1);
  *total = 0;
  for (int si = 0; si < p_.sample_size(); ++si) {
    const auto& s = p_.sample(si);
    const int64_t v = s.value(index);
    *total += v;
    if (v == 0) continue;
    bool leaf = true;
    for (uint64_t loc : s.location_id()) {
      for (int f : frames_of(loc)) {
        if (leaf) flat[f] += v;
        leaf = false;
        if (stamp[f] != si) {
          stamp[f] = si;
          cum[f] += v;
        }
      }
    }
  }
  std::map<std::string, Cost> out;
  for (size_t f = 0; f < names.size(); ++f) {
    if (flat[f] == 0 && cum[f] == 0) continue;
    out[*names[f]] = Cost{files[f], flat[f], cum[f]};
  }
  return out;
}

absl::StatusOr<v1::ProfileTop> TopFunctions(const Profile& p, const std::string& sample_type,
                                            int limit) {
  auto idx = p.SampleTypeIndex(sample_type);
  if (!idx.ok()) return idx.status();
  v1::ProfileTop top;
  const auto& t = p.proto().sample_type(*idx);
  top.set_sample_type(p.proto().string_table(static_cast<int>(t.type())));
  top.set_unit(p.proto().string_table(static_cast<int>(t.unit())));
  for (const auto& s : p.SampleTypes()) top.add_sample_types(s);
  top.set_samples(p.samples());
  int64_t total = 0;
  auto costs = p.Costs(*idx, &total);
  top.set_total(total);
  std::vector<std::pair<std::string, Profile::Cost>> v(costs.begin(), costs.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    if (a.second.flat != b.second.flat) return a.second.flat > b.second.flat;
    if (a.second.cum != b.second.cum) return a.second.cum > b.second.cum;
    return a.first < b.first;
  });
  for (size_t i = 0; i < v.size() && static_cast<int>(i) < limit; ++i) {
    v1::FunctionCost* f = top.add_functions();
    f->set_name(v[i].first);
    f->set_file(v[i].second.file);
    f->set_flat(v[i].second.flat);
    f->set_cum(v[i].second.cum);
  }
  return top;
}

absl::Status CostSum::Add(const Profile& p, const std::string& sample_type) {
  auto idx = p.SampleTypeIndex(profiles_ == 0 ? sample_type : type_);
  if (!idx.ok()) return idx.status();
  if (profiles_ == 0) {
    const auto& t = p.proto().sample_type(*idx);
    type_ = p.proto().string_table(static_cast<int>(t.type()));
    unit_ = p.proto().string_table(static_cast<int>(t.unit()));
  }
  int64_t total = 0;
  for (auto& [name, cost] : p.Costs(*idx, &total)) {
    Profile::Cost& into = sums_[name];
    if (into.file.empty()) into.file = std::move(cost.file);
    into.flat += cost.flat;
    into.cum += cost.cum;
  }
  total_ += total;
  ++profiles_;
  return absl::OkStatus();
}

absl::StatusOr<v1::ProfileDiff> DiffCostSums(const CostSum& base, const CostSum& candidate,
                                             int limit) {
  if (base.profiles() == 0 || candidate.profiles() == 0)
    return absl::InvalidArgumentError("a side of the diff has no profile");
  if (base.sample_type() != candidate.sample_type()) {
    return absl::InvalidArgumentError(absl::StrCat("sample types differ: '", base.sample_type(),
                                                   "' and '", candidate.sample_type(), "'"));
  }
  // Means per profile, rounded to the nearest unit.
  auto mean = [](int64_t sum, int n) {
    return static_cast<int64_t>(std::llround(static_cast<double>(sum) / n));
  };
  const int nb = base.profiles(), nc = candidate.profiles();
  v1::ProfileDiff d;
  d.set_sample_type(base.sample_type());
  d.set_unit(base.unit());
  d.set_base_total(mean(base.total(), nb));
  d.set_candidate_total(mean(candidate.total(), nc));
  d.set_base_profiles(nb);
  d.set_candidate_profiles(nc);
  std::map<std::string, v1::FunctionDelta> all;
  for (const auto& [name, cost] : base.sums()) {
    auto& f = all[name];
    f.set_name(name);
    f.set_base_flat(mean(cost.flat, nb));
    f.set_base_cum(mean(cost.cum, nb));
  }
  for (const auto& [name, cost] : candidate.sums()) {
    auto& f = all[name];
    f.set_name(name);
    f.set_candidate_flat(mean(cost.flat, nc));
    f.set_candidate_cum(mean(cost.cum, nc));
  }
  std::vector<v1::FunctionDelta> v;
  for (auto& [_, f] : all) {
    if (f.base_flat() != f.candidate_flat() || f.base_cum() != f.candidate_cum())
      v.push_back(std::move(f));
  }
  auto flat_delta = [](const v1::FunctionDelta& f) {
    return std::llabs(f.candidate_flat() - f.base_flat());
  };
  auto cum_delta = [](const v1::FunctionDelta& f) {
    return std::llabs(f.candidate_cum() - f.base_cum());
  };
  std::sort(v.begin(), v.end(), [&](const auto& x, const auto& y) {
    if (flat_delta(x) != flat_delta(y)) return flat_delta(x) > flat_delta(y);
    if (cum_delta(x) != cum_delta(y)) return cum_delta(x) > cum_delta(y);
    return x.name() < y.name();
  });
  for (size_t i = 0; i < v.size() && static_cast<int>(i) < limit; ++i) *d.add_functions() = v[i];
  return d;
}

absl::StatusOr<v1::ProfileDiff> DiffProfiles(const Profile& base, const Profile& candidate,
                                             const std::string& sample_type, int limit) {
  CostSum b, c;
  if (auto s = b.Add(base, sample_type); !s.ok()) return s;
  if (!c.Add(candidate, b.sample_type()).ok()) {
    return absl::InvalidArgumentError("the candidate profile has no sample type '" +
                                      b.sample_type() + "': are these the same kind of profile?");
  }
  return DiffCostSums(b, c, limit);
}

}  // namespace perfgate::controller
