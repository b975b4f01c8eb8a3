#include "common/spec/suite_tiers.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/spec/limit_levels.h"
#include "common/spec/template.h"
#include "common/spec/yaml_reader.h"

namespace perfgate::common {
namespace {

bool ParamName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      return false;
  }
  return true;
}

bool TierName(const std::string& s) {
  if (s.empty() || s.size() > 32 || !absl::ascii_isalnum(static_cast<unsigned char>(s[0])))
    return false;
  for (char c : s) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) &&
        !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      return false;
  }
  return true;
}

class TierReader : public YamlReader {
 public:
  using YamlReader::YamlReader;

  absl::StatusOr<SuiteTiers> Read(const YAML::Node& root) {
    SuiteTiers out;
    if (root["params"]) RETURN_IF_ERROR(Params(root["params"], "params", &out.params));
    const YAML::Node tiers = root["tiers"];
    if (!tiers) return out;
    if (!tiers.IsMap() || tiers.size() == 0)
      return Error(tiers, "tiers", "must be a mapping of tier names to tiers (small: {...})");
    if (tiers.size() > kMaxTiers)
      return Error(tiers, "tiers", absl::StrCat("at most ", kMaxTiers, " tiers"));
    for (const auto& kv : tiers) {
      TierSpec t;
      t.name = kv.first.as<std::string>();
      t.path = "tiers." + t.name;
      if (!TierName(t.name) || t.name == kCustomTier) {
        return Error(kv.first, t.path,
                     "a tier name is 1 to 32 of a-z, 0-9, _ and -, starting with a letter or "
                     "digit, and not 'custom' (the name of a tier made of --param alone)");
      }
      const YAML::Node& n = kv.second;
      if (n.IsNull()) {
        out.tiers.push_back(std::move(t));
        continue;
      }
      RETURN_IF_ERROR(CheckKeys(n, t.path, {"params", "hosts", "limits"}));
      if (n["params"]) RETURN_IF_ERROR(Params(n["params"], t.path + ".params", &t.params));
      for (const auto& [name, value] : t.params) {
        if (!out.params.count(name)) {
          return Error(n["params"], t.path + ".params." + name,
                       "is not a parameter of the suite: give its default in the suite's "
                       "params: first");
        }
      }
      if (n["hosts"]) RETURN_IF_ERROR(Hosts(n["hosts"], t.path + ".hosts", &t.hosts));
      if (n["limits"]) {
        RETURN_IF_ERROR(List(n["limits"], t.path + ".limits"));
        for (size_t i = 0; i < n["limits"].size(); ++i) {
          v1::MetricLimit l;
          const std::string p = absl::StrCat(t.path, ".limits[", i, "]");
          RETURN_IF_ERROR(Limit(n["limits"][i], p, &l));
          if (l.metric().empty()) return Error(n["limits"][i], p + ".metric", "is required");
          if (absl::Status s = CheckLimitLevels(l); !s.ok())
            return Error(n["limits"][i], p, std::string(s.message()));
          t.limits.push_back(std::move(l));
        }
      }
      out.tiers.push_back(std::move(t));
    }
    return out;
  }

 private:
  absl::Status Params(const YAML::Node& n, const std::string& path,
                      std::map<std::string, std::string>* out) {
    if (!n.IsMap()) return Error(n, path, "must be a mapping of parameter names to values");
    if (n.size() > kMaxParams)
      return Error(n, path, absl::StrCat("at most ", kMaxParams, " parameters"));
    for (const auto& kv : n) {
      const std::string name = kv.first.as<std::string>();
      if (!ParamName(name))
        return Error(kv.first, path + "." + name,
                     "a parameter name is 1 to 64 of A-Z a-z 0-9 _ . -");
      if (!kv.second.IsScalar() || kv.second.as<std::string>().size() > 1024)
        return Error(kv.second, path + "." + name, "must be a single value (at most 1 KiB)");
      (*out)[name] = kv.second.as<std::string>();
    }
    return absl::OkStatus();
  }

  // hosts: {ROLE: COUNT, ...} or [{role, count, cpus, memory}, ...].
  absl::Status Hosts(const YAML::Node& n, const std::string& path, std::vector<v1::HostRole>* out) {
    if (n.IsMap()) {
      for (const auto& kv : n) {
        v1::HostRole h;
        h.set_role(kv.first.as<std::string>());
        ASSIGN_OR_RETURN(uint32_t count, Whole(kv.second, path + "." + h.role(), 1, kMaxHosts));
        h.set_count(count);
        out->push_back(std::move(h));
      }
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(List(n, path, "a mapping of roles to counts, or a list of host roles"));
    for (size_t i = 0; i < n.size(); ++i) {
      v1::HostRole h;
      RETURN_IF_ERROR(HostRole(n[i], absl::StrCat(path, "[", i, "]"), &h));
      out->push_back(std::move(h));
    }
    return absl::OkStatus();
  }
};

template <typename F>
void WalkScalars(YAML::Node node, const std::string& path, F&& f) {
  if (node.IsScalar()) {
    f(node, path);
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i)
      WalkScalars(node[i], absl::StrCat(path, "[", i, "]"), f);
  } else if (node.IsMap()) {
    for (auto kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.as<std::string>() : "?";
      WalkScalars(kv.second, path.empty() ? key : path + "." + key, f);
    }
  }
}

}  // namespace

absl::StatusOr<SuiteTiers> ReadSuiteTiers(const std::string& file, const YAML::Node& root) {
  TierReader r(file);
  return r.Read(root);
}

absl::Status SubstituteParams(const std::string& file, const std::string& path, YAML::Node node,
                              const std::map<std::string, std::string>& params) {
  absl::Status status;
  WalkScalars(node, path, [&](YAML::Node n, const std::string& p) {
    if (!status.ok()) return;
    auto text = ExpandParams(n.Scalar(), params);
    if (!text.ok()) {
      status = SuitePositions::ErrorAt(file, n.Mark(), p, std::string(text.status().message()));
      return;
    }
    if (*text != n.Scalar()) n = *text;  // in place: the node keeps its position and style
  });
  return status;
}

absl::Status ApplyTier(const TierSpec& tier, v1::RunSpec* spec) {
  for (size_t i = 0; i < tier.hosts.size(); ++i) {
    const v1::HostRole& want = tier.hosts[i];
    bool found = false;
    for (v1::JobSpec& job : *spec->mutable_jobs()) {
      if (!job.has_benchmark() || !job.benchmark().stack().has_exec()) continue;
      for (v1::HostRole& h :
           *job.mutable_benchmark()->mutable_stack()->mutable_exec()->mutable_hosts()) {
        if (h.role() != want.role()) continue;
        found = true;
        if (want.count()) h.set_count(want.count());
        if (want.cpus() > 0) h.set_cpus(want.cpus());
        if (want.memory_bytes()) h.set_memory_bytes(want.memory_bytes());
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(tier.path, ".hosts: role '", want.role(),
                                                     "' is no role of any job's stack.hosts"));
    }
  }
  for (int j = 0; j < spec->jobs_size(); ++j) {
    v1::JobSpec& job = *spec->mutable_jobs(j);
    if (job.name().empty()) job.set_name(absl::StrCat("job-", j));
    job.set_name(absl::StrCat(job.name(), "@", tier.name));
    if (!job.has_benchmark()) continue;
    auto* limits = job.mutable_benchmark()->mutable_limits();
    for (const v1::MetricLimit& add : tier.limits) {
      auto it = std::find_if(limits->begin(), limits->end(),
                             [&](const v1::MetricLimit& l) { return l.metric() == add.metric(); });
      if (it == limits->end()) {
        *limits->Add() = add;
      } else {
        it->MergeFrom(add);  // the tier's fields win; the job's others stay
      }
    }
  }
  return absl::OkStatus();
}

uint32_t StackHosts(const v1::RunSpec& spec) {
  uint32_t most = 0;
  for (const v1::JobSpec& job : spec.jobs()) {
    uint32_t n = 0;
    for (const v1::HostRole& h : job.benchmark().stack().exec().hosts()) n += h.count();
    most = std::max(most, n);
  }
  return most;
}

}  // namespace perfgate::common
