#include "controller/forge/project_rules.h"

#include <filesystem>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/spec/run_spec_rules.h"
#include "common/spec/suite_parser.h"
#include "common/status/macros.h"
#include "controller/forge/forge_event.h"

namespace perfgate::controller {
namespace {

absl::Status Bad(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat("project.", field, ": ", problem));
}

absl::Status CheckList(const std::string& field, const auto& list,
                       const std::set<std::string>& allowed) {
  if (list.size() > kMaxProjectListEntries)
    return Bad(field, absl::StrCat("at most ", kMaxProjectListEntries, " entries"));
  for (int i = 0; i < list.size(); ++i) {
    const std::string& v = list[i];
    const std::string f = absl::StrCat(field, "[", i, "]");
    if (v.empty() || v.size() > 255) return Bad(f, "must be 1 to 255 characters");
    if (!allowed.empty() && !allowed.count(v)) {
      std::string names;
      for (const auto& a : allowed) absl::StrAppend(&names, names.empty() ? "" : ", ", a);
      return Bad(f, absl::StrCat("`", v, "` is not one of ", names));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// A suite kept in the repository: a relative path, read by an agent at each commit; named after
// the file unless a name is given.
absl::Status CheckPathSuite(const std::string& f, v1::ProjectSuite* s) {
  static const std::regex kSuiteName("[A-Za-z0-9][A-Za-z0-9._-]{0,99}");
  if (!s->yaml().empty()) return Bad(f, "give a registered file or a path, not both");
  v1::SuiteFileJob probe;
  probe.set_repository("-");
  probe.set_path(s->path());
  v1::RunSpec spec;
  *spec.add_jobs()->mutable_suite_file() = probe;
  if (auto st = common::ValidateAndDefaultRunSpec(&spec); !st.ok()) {
    return Bad(f + ".path",
               std::string(absl::StripPrefix(st.message(), "spec.jobs[0].suite_file.path: ")));
  }
  if (s->name().empty()) {
    std::string base = std::filesystem::path(s->path()).stem().string();
    s->set_name(base);
  }
  if (!std::regex_match(s->name(), kSuiteName))
    return Bad(f + ".name", absl::StrCat("`", s->name(), "`: want 1 to 100 of A-Z a-z 0-9 . _ -"));
  return absl::OkStatus();
}

absl::Status ValidateProject(v1::Project* p) {
  static const std::regex kName("[a-z0-9][a-z0-9._-]{0,62}");
  static const std::regex kGitHubRepo("[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+");
  static const std::regex kGitLabRepo("[0-9]+|[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+");
  if (!std::regex_match(p->name(), kName))
    return Bad("name", "want 1 to 63 of a-z 0-9 . _ - starting with a letter or digit");
  if (p->forge() != kGitHub && p->forge() != kGitLab)
    return Bad("forge", absl::StrCat("`", p->forge(), "` is not github or gitlab"));
  const bool github = p->forge() == kGitHub;
  if (p->repository().size() > 255 ||
      !std::regex_match(p->repository(), github ? kGitHubRepo : kGitLabRepo))
    return Bad("repository", github ? "want owner/name" : "want a project path (group/name) or id");
  if (p->suites_size() == 0) return Bad("suites", "at least one suite");
  if (p->suites_size() > kMaxProjectSuites)
    return Bad("suites", absl::StrCat("at most ", kMaxProjectSuites));
  std::set<std::string> names;
  for (int i = 0; i < p->suites_size(); ++i) {
    v1::ProjectSuite* s = p->mutable_suites(i);
    const std::string f = absl::StrCat("suites[", i, "]");
    if (!s->path().empty()) {
      RETURN_IF_ERROR(CheckPathSuite(f, s));
      if (!names.insert(s->name()).second)
        return Bad(f, absl::StrCat("suite `", s->name(), "` appears twice"));
      continue;
    }
    if (s->yaml().size() > common::kMaxSuiteBytes)
      return Bad(f, absl::StrCat("larger than ", common::kMaxSuiteBytes, " bytes"));
    auto spec = common::ParseSuite(s->name().empty() ? f : s->name(), s->yaml());
    if (!spec.ok()) return Bad(f, std::string(spec.status().message()));
    if (!s->name().empty() && s->name() != spec->suite_name())
      return Bad(f, absl::StrCat("named `", s->name(), "` but the file's name is `",
                                 spec->suite_name(), "`"));
    s->set_name(spec->suite_name());
    if (!names.insert(s->name()).second)
      return Bad(f, absl::StrCat("suite `", s->name(), "` appears twice"));
  }
  if (auto st = CheckList("baseline_branches", p->baseline_branches(), {}); !st.ok()) return st;
  if (auto st = CheckList("triggers", p->triggers(), {"push", "pull_request", "comment"}); !st.ok())
    return st;
  if (auto st = CheckList("trusted_users", p->trusted_users(), {}); !st.ok()) return st;
  const std::set<std::string> reports = github ? std::set<std::string>{"check_run", "commit_status"}
                                               : std::set<std::string>{"commit_status"};
  if (auto st = CheckList("reports", p->reports(), reports); !st.ok()) return st;
  if (p->comment().empty()) p->set_comment("always");
  if (p->comment() != "always" && p->comment() != "on_change" && p->comment() != "never")
    return Bad("comment", absl::StrCat("`", p->comment(), "` is not always, on_change or never"));
  if (p->bisect().empty()) p->set_bisect("manual");
  if (p->bisect() != "auto" && p->bisect() != "manual")
    return Bad("bisect", absl::StrCat("`", p->bisect(), "` is not auto or manual"));
  if (p->fork_label().size() > 255) return Bad("fork_label", "at most 255 characters");
  if (p->webhook_secret_file().size() > 4096) return Bad("webhook_secret_file", "too long");
  if (p->clone_url().size() > 1024) return Bad("clone_url", "at most 1024 characters");
  return absl::OkStatus();
}

}  // namespace perfgate::controller
