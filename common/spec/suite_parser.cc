#include "common/spec/suite_parser.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace perfgate::common {
namespace {

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  absl::Status Error(const YAML::Node& n, const std::string& path,
                     const std::string& problem) const {
    auto m = n.Mark();
    if (m.is_null())
      return absl::InvalidArgumentError(absl::StrCat(file_, ": ", path, ": ", problem));
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ":", m.line + 1, ":", m.column + 1, ": ", path, ": ", problem));
  }

  absl::Status CheckKeys(const YAML::Node& map, const std::string& path,
                         const std::set<std::string>& allowed) const {
    if (!map.IsMap()) return Error(map, path, "must be a mapping");
    for (const auto& kv : map) {
      std::string key = kv.first.as<std::string>();
      if (!allowed.count(key)) {
        std::string known;
        for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
        return Error(kv.first, path.empty() ? key : path + "." + key,
                     "unknown key (known: " + known + ")");
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Str(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) return Error(n, path, "must be a string");
    return n.as<std::string>();
  }

  absl::StatusOr<uint32_t> Seconds(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) return Error(n, path, "must be a duration like 30s, 10m, 1h");
    std::string v = n.as<std::string>();
    absl::Duration d;
    if (!absl::ParseDuration(v, &d) || d <= absl::ZeroDuration()) {
      return Error(n, path, "want a positive duration like 30s, 10m, 1h; got '" + v + "'");
    }
    return static_cast<uint32_t>(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
  }

  absl::Status StrMap(const YAML::Node& n, const std::string& path,
                      google::protobuf::Map<std::string, std::string>* out) const {
    if (!n.IsMap()) return Error(n, path, "must be a mapping of strings");
    for (const auto& kv : n) {
      std::string k = kv.first.as<std::string>();
      auto v = Str(kv.second, path + "." + k);
      if (!v.ok()) return v.status();
      (*out)[k] = *v;
    }
    return absl::OkStatus();
  }

  absl::Status Job(const YAML::Node& n, const std::string& path, v1::JobSpec* job) const {
    if (auto s = CheckKeys(n, path,
                           {"name", "command", "env", "working_dir", "timeout", "cancel_grace",
                            "agent_selector", "max_attempts"});
        !s.ok()) {
      return s;
    }
    if (n["name"]) {
      auto v = Str(n["name"], path + ".name");
      if (!v.ok()) return v.status();
      job->set_name(*v);
    }
    if (!n["command"]) return Error(n, path + ".command", "is required");
    auto cmd = Str(n["command"], path + ".command");
    if (!cmd.ok()) return cmd.status();
    if (cmd->empty()) return Error(n["command"], path + ".command", "must not be empty");
    v1::CommandJob* c = job->mutable_command();
    c->set_command(*cmd);
    if (n["env"]) {
      if (auto s = StrMap(n["env"], path + ".env", c->mutable_env()); !s.ok()) return s;
    }
    if (n["working_dir"]) {
      auto v = Str(n["working_dir"], path + ".working_dir");
      if (!v.ok()) return v.status();
      c->set_working_dir(*v);
    }
    if (n["timeout"]) {
      auto v = Seconds(n["timeout"], path + ".timeout");
      if (!v.ok()) return v.status();
      c->set_timeout_seconds(*v);
    }
    if (n["cancel_grace"]) {
      auto v = Seconds(n["cancel_grace"], path + ".cancel_grace");
      if (!v.ok()) return v.status();
      c->set_cancel_grace_seconds(*v);
    }
    if (n["agent_selector"]) {
      if (auto s =
              StrMap(n["agent_selector"], path + ".agent_selector", job->mutable_agent_selector());
          !s.ok())
        return s;
    }
    if (n["max_attempts"]) {
      int v = 0;
      if (!n["max_attempts"].IsScalar() || !YAML::convert<int>::decode(n["max_attempts"], v) ||
          v < 1 || v > 10) {
        return Error(n["max_attempts"], path + ".max_attempts",
                     "must be a whole number from 1 to 10");
      }
      job->set_max_attempts(v);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<v1::RunSpec> Suite(const YAML::Node& root) const {
    v1::RunSpec spec;
    if (!root || root.IsNull()) return Error(root, "suite", "the file is empty");
    if (auto s = CheckKeys(root, "", {"name", "project", "jobs"}); !s.ok()) return s;
    if (root["name"]) {
      auto v = Str(root["name"], "name");
      if (!v.ok()) return v.status();
      spec.set_suite_name(*v);
    }
    if (root["project"]) {
      auto v = Str(root["project"], "project");
      if (!v.ok()) return v.status();
      spec.set_project(*v);
    }
    YAML::Node jobs = root["jobs"];
    if (!jobs) return Error(root, "jobs", "is required (a list of jobs)");
    if (!jobs.IsSequence() || jobs.size() == 0)
      return Error(jobs, "jobs", "must be a non-empty list");
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (auto s = Job(jobs[i], absl::StrCat("jobs[", i, "]"), spec.add_jobs()); !s.ok()) return s;
    }
    return spec;
  }

 private:
  std::string file_;
};

}  // namespace

absl::StatusOr<v1::RunSpec> ParseSuite(const std::string& filename, const std::string& text) {
  if (text.size() > kMaxSuiteBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ": ", text.size(), " bytes; a suite file may be at most ", kMaxSuiteBytes));
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ":", e.mark.line + 1, ":", e.mark.column + 1, ": not valid YAML/JSON: ", e.msg));
  }
  try {
    return Parser(filename).Suite(root);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ":", e.mark.line + 1, ": ", e.msg));
  }
}

absl::StatusOr<v1::RunSpec> LoadSuiteFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path + ": cannot be read");
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, in.gcount());
    if (text.size() > kMaxSuiteBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than ", kMaxSuiteBytes, " bytes"));
    }
  }
  return ParseSuite(path, text);
}

}  // namespace perfgate::common
