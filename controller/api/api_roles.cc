#include "controller/api/api_roles.h"

#include <map>

#include "absl/strings/str_cat.h"

namespace perfgate::controller {
namespace {

using common::Role;

const std::map<absl::string_view, Role>& Table() {
  static const auto* t = new std::map<absl::string_view, Role>{
      // Reading: runs, results, comparisons, reports, profiles, agents, projects, campaigns.
      {"GetRun", Role::kViewer},
      {"ListRuns", Role::kViewer},
      {"WatchRun", Role::kViewer},
      {"GetRunLogs", Role::kViewer},
      {"GetRunResults", Role::kViewer},
      {"GetRunSeries", Role::kViewer},
      {"GetRunDbStats", Role::kViewer},
      {"ListProfiles", Role::kViewer},
      {"GetProfileTop", Role::kViewer},
      {"DiffProfiles", Role::kViewer},
      {"DownloadProfile", Role::kViewer},
      {"CompareRun", Role::kViewer},
      {"GetReport", Role::kViewer},
      {"GetHistory", Role::kViewer},
      {"ListChangePoints", Role::kViewer},
      {"ListAlerts", Role::kViewer},
      {"ListAgents", Role::kViewer},
      {"GetProject", Role::kViewer},
      {"ListProjects", Role::kViewer},
      {"ListOutbox", Role::kViewer},
      {"GetCampaign", Role::kViewer},
      {"ListCampaigns", Role::kViewer},
      {"GetCampaignReport", Role::kViewer},
      {"GetBisection", Role::kViewer},
      {"ListBisections", Role::kViewer},
      {"GetBisectionReport", Role::kViewer},
      {"ListSchedules", Role::kViewer},
      {"GetStorage", Role::kViewer},
      // Running benchmarks (and cancelling one's own).
      {"SubmitRun", Role::kSubmitter},
      {"RerunRun", Role::kSubmitter},
      {"CancelRun", Role::kSubmitter},
      {"SubmitCampaign", Role::kSubmitter},
      {"CancelCampaign", Role::kSubmitter},
      {"StartBisection", Role::kSubmitter},
      {"CancelBisection", Role::kSubmitter},
      {"MarkBisection", Role::kSubmitter},
      // Running the lab: agents, projects (their webhook secrets and rules), triage,
      // schedules (which run on every matching machine without anyone asking).
      {"DrainAgent", Role::kAdmin},
      {"AddProject", Role::kAdmin},
      {"UpdateProject", Role::kAdmin},
      {"RemoveProject", Role::kAdmin},
      {"TriageChangePoint", Role::kAdmin},
      {"UpdateAlert", Role::kAdmin},
      {"AddSchedule", Role::kAdmin},
      {"SetSchedulePaused", Role::kAdmin},
      {"RemoveSchedule", Role::kAdmin},
      // Removing data (logs and profiles past the retention policy, or younger on request).
      {"CollectGarbage", Role::kAdmin},
  };
  return *t;
}

}  // namespace

std::optional<Role> RequiredRole(absl::string_view method) {
  auto it = Table().find(method);
  if (it == Table().end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<common::Principal> Authorize(const common::TokenAuth& auth,
                                            const grpc::ServerContextBase& ctx,
                                            absl::string_view method) {
  auto who = auth.Authenticate(ctx);
  if (!who.ok()) return who.status();
  std::optional<Role> need = RequiredRole(method);
  if (!need)
    return absl::PermissionDeniedError(absl::StrCat(method,
                                                    ": no role may call it (not in the "
                                                    "controller's role table)"));
  if (who->role < *need) {
    return absl::PermissionDeniedError(absl::StrCat(method, " needs the ", common::RoleName(*need),
                                                    " role; token '", who->name, "' is ",
                                                    common::RoleName(who->role)));
  }
  return who;
}

absl::Status MayActOnOwn(const common::Principal& who, const std::string& owner,
                         absl::string_view what) {
  if (who.role >= Role::kAdmin || who.name == owner) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(what, " was submitted by '", owner,
                                                  "': acting on another's needs the admin role"));
}

}  // namespace perfgate::controller
