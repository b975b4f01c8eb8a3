#include "controller/queue/run_spec.h"

#include "absl/strings/str_cat.h"

namespace perfgate::controller {
namespace {

absl::Status Bad(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat("spec.", field, ": ", problem));
}

absl::Status CheckString(const std::string& field, const std::string& v, size_t max,
                         bool required) {
  if (required && v.empty()) return Bad(field, "is required");
  if (v.size() > max)
    return Bad(field, absl::StrCat("is ", v.size(), " bytes; at most ", max, " allowed"));
  if (v.find('\0') != std::string::npos) return Bad(field, "contains a NUL byte");
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateAndDefaultRunSpec(v1::RunSpec* spec, const RetryPolicy& retry,
                                       const SpecLimits& limits) {
  if (auto s = CheckString("project", spec->project(), limits.max_string_bytes, false); !s.ok())
    return s;
  if (auto s = CheckString("branch", spec->branch(), limits.max_string_bytes, false); !s.ok())
    return s;
  if (auto s = CheckString("commit", spec->commit(), limits.max_string_bytes, false); !s.ok())
    return s;
  if (auto s = CheckString("suite_name", spec->suite_name(), limits.max_string_bytes, false);
      !s.ok())
    return s;
  if (!v1::RunKind_IsValid(spec->kind())) return Bad("kind", "unknown run kind");
  if (spec->kind() == v1::RUN_KIND_UNSPECIFIED) spec->set_kind(v1::RUN_KIND_EXPERIMENT);
  if (spec->jobs().empty()) return Bad("jobs", "at least one job is required");
  if (spec->jobs_size() > limits.max_jobs) {
    return Bad("jobs", absl::StrCat("has ", spec->jobs_size(), " jobs; at most ", limits.max_jobs,
                                    " allowed"));
  }
  for (int i = 0; i < spec->jobs_size(); ++i) {
    v1::JobSpec* job = spec->mutable_jobs(i);
    std::string f = absl::StrCat("jobs[", i, "]");
    if (job->name().empty()) job->set_name(absl::StrCat("job-", i));
    if (auto s = CheckString(f + ".name", job->name(), limits.max_string_bytes, true); !s.ok())
      return s;
    for (const auto& [k, v] : job->agent_selector()) {
      if (auto s = CheckString(f + ".agent_selector key", k, limits.max_string_bytes, true);
          !s.ok())
        return s;
      if (auto s = CheckString(f + ".agent_selector[" + k + "]", v, limits.max_string_bytes, false);
          !s.ok())
        return s;
    }
    if (job->max_attempts() == 0) job->set_max_attempts(retry.default_max_attempts);
    if (job->max_attempts() > 10) return Bad(f + ".max_attempts", "at most 10");
    if (!job->has_command()) return Bad(f + ".command", "is required (the only job type so far)");
    v1::CommandJob* cmd = job->mutable_command();
    if (auto s =
            CheckString(f + ".command.command", cmd->command(), limits.max_command_bytes, true);
        !s.ok())
      return s;
    if (auto s = CheckString(f + ".command.working_dir", cmd->working_dir(),
                             limits.max_string_bytes, false);
        !s.ok())
      return s;
    if (cmd->env_size() > static_cast<int>(limits.max_env_entries)) {
      return Bad(f + ".command.env", absl::StrCat("at most ", limits.max_env_entries, " entries"));
    }
    for (const auto& [k, v] : cmd->env()) {
      if (k.empty() || k.find('=') != std::string::npos) {
        return Bad(f + ".command.env", "variable name '" + k + "' is empty or contains '='");
      }
      if (auto s = CheckString(f + ".command.env[" + k + "]", v, limits.max_command_bytes, false);
          !s.ok())
        return s;
    }
    if (cmd->timeout_seconds() == 0) cmd->set_timeout_seconds(3600);
    if (cmd->timeout_seconds() > limits.max_timeout_seconds) {
      return Bad(f + ".command.timeout_seconds",
                 absl::StrCat("at most ", limits.max_timeout_seconds));
    }
    if (cmd->cancel_grace_seconds() == 0) cmd->set_cancel_grace_seconds(30);
    if (cmd->cancel_grace_seconds() > 3600)
      return Bad(f + ".command.cancel_grace_seconds", "at most 3600");
  }
  return absl::OkStatus();
}

}  // namespace perfgate::controller
