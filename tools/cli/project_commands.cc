// `perfgate project …` (CI integration: a repository on a forge and the suites run for it) and
// `perfgate outbox list` (the reports on their way to the forge).
#include <iomanip>
#include <iostream>

#include "absl/strings/str_join.h"
#include "common/spec/suite_parser.h"
#include "tools/cli/command.h"

namespace perfgate::cli {
namespace {

struct ProjectFlags {
  std::string name, forge, repository, fork_label, comment, webhook_secret_file, clone_url, bisect;
  std::vector<std::string> suites, suite_paths, baseline_branches, triggers, trusted_users, reports;
  bool clear_fork_label = false;
};

void AddProjectFlags(CLI::App* sub, ProjectFlags& f, bool create) {
  sub->add_option("NAME", f.name, "the project's name (runs' --project)")->required();
  auto* forge = sub->add_option("--forge", f.forge, "github or gitlab")
                    ->check(CLI::IsMember({"github", "gitlab"}));
  auto* repo = sub->add_option("--repository", f.repository,
                               "owner/name on GitHub; the project's path (group/name) or numeric "
                               "id on GitLab");
  sub->add_option("--suite", f.suites,
                  "a suite file to register (repeat for more; stored versioned; on "
                  "update the given files replace the project's suites)")
      ->check(CLI::ExistingFile);
  sub->add_option("--suite-path", f.suite_paths,
                  "[NAME=]PATH: a suite kept in the repository, read by an agent at each commit "
                  "(e.g. .perfgate/suite.yaml; NAME defaults to the file's base name; repeat)");
  sub->add_option("--clone-url", f.clone_url,
                  "where agents clone the repository to read --suite-path suites (default: the "
                  "clone URL each webhook names)");
  if (create) {
    forge->required();
    repo->required();
  }
  sub->add_option("--baseline-branch", f.baseline_branches,
                  "pushes to this branch make baselines (repeat; default: the repository's "
                  "default branch)");
  sub->add_option("--trigger", f.triggers,
                  "what webhooks start: push, pull_request, comment (repeat; default all)")
      ->check(CLI::IsMember({"push", "pull_request", "comment"}));
  sub->add_option("--trusted-user", f.trusted_users,
                  "may command perfgate besides the repository's owners, members and "
                  "collaborators (repeat)");
  sub->add_option("--fork-label", f.fork_label,
                  "a pull request from a fork is benchmarked while it carries this label (by "
                  "default only after a trusted /perfgate run)");
  sub->add_option("--comment", f.comment, "the pull request comment: always, on_change, never")
      ->check(CLI::IsMember({"always", "on_change", "never"}));
  sub->add_option("--bisect", f.bisect,
                  "auto: bisect every change point on a baseline branch to its culprit commit; "
                  "manual (default): only when asked (perfgate bisect start)")
      ->check(CLI::IsMember({"auto", "manual"}));
  sub->add_option("--report", f.reports,
                  "check_run and/or commit_status (repeat; default both on GitHub, "
                  "commit_status on GitLab)")
      ->check(CLI::IsMember({"check_run", "commit_status"}));
  sub->add_option("--webhook-secret-file", f.webhook_secret_file,
                  "a file on the controller's machine with this project's own webhook secret");
}

void Fill(const ProjectFlags& f, v1::Project* p) {
  p->set_name(f.name);
  if (!f.forge.empty()) p->set_forge(f.forge);
  if (!f.repository.empty()) p->set_repository(f.repository);
  auto set_list = [](const std::vector<std::string>& v, auto* field) {
    if (v.empty()) return;
    field->Clear();
    for (const auto& s : v) *field->Add() = s;
  };
  set_list(f.baseline_branches, p->mutable_baseline_branches());
  set_list(f.triggers, p->mutable_triggers());
  set_list(f.trusted_users, p->mutable_trusted_users());
  set_list(f.reports, p->mutable_reports());
  if (!f.fork_label.empty()) p->set_fork_label(f.fork_label);
  if (!f.comment.empty()) p->set_comment(f.comment);
  if (!f.bisect.empty()) p->set_bisect(f.bisect);
  if (!f.webhook_secret_file.empty()) p->set_webhook_secret_file(f.webhook_secret_file);
  if (!f.clone_url.empty()) p->set_clone_url(f.clone_url);
}

// Reads the suite files (the controller parses them and names each suite) and adds the
// repository's suite paths; together they replace the project's suites.
bool ReadSuites(const std::vector<std::string>& files, const std::vector<std::string>& paths,
                v1::Project* p) {
  if (files.empty() && paths.empty()) return true;
  p->clear_suites();
  for (const auto& arg : paths) {
    v1::ProjectSuite* s = p->add_suites();
    if (auto eq = arg.find('='); eq != std::string::npos) {
      s->set_name(arg.substr(0, eq));
      s->set_path(arg.substr(eq + 1));
    } else {
      s->set_path(arg);
    }
  }
  for (const auto& path : files) {
    auto text = common::ReadSuiteText(path);
    if (!text.ok()) {
      std::cerr << "perfgate: --suite " << text.status().message() << "\n";
      return false;
    }
    p->add_suites()->set_yaml(*std::move(text));
  }
  return true;
}

void RenderProject(const v1::Project& p) {
  std::cout << "project " << p.name() << "  " << p.forge() << " " << p.repository() << "\n";
  for (const auto& s : p.suites())
    std::cout << "  suite " << s.name() << " (version " << s.version() << ")"
              << (s.path().empty() ? "" : ": " + s.path() + " in the repository at each commit")
              << "\n";
  auto list = [](const auto& v, const char* dflt) {
    return v.empty() ? std::string(dflt) : absl::StrJoin(v, ", ");
  };
  std::cout << "  baseline branches: " << list(p.baseline_branches(), "the default branch") << "\n"
            << "  triggers: " << list(p.triggers(), "push, pull_request, comment") << "\n"
            << "  trusted: OWNER, MEMBER, COLLABORATOR"
            << (p.trusted_users().empty() ? "" : ", " + absl::StrJoin(p.trusted_users(), ", "))
            << "\n"
            << "  forks: "
            << (p.fork_label().empty()
                    ? "after a trusted /perfgate run"
                    : "with label " + p.fork_label() + " or a trusted /perfgate run")
            << "\n"
            << "  comment: " << p.comment() << "   reports: "
            << list(p.reports(),
                    p.forge() == "github" ? "check_run, commit_status" : "commit_status")
            << "\n";
  if (!p.webhook_secret_file().empty())
    std::cout << "  webhook secret: " << p.webhook_secret_file() << "\n";
}

void AddProjects(CLI::App& app, Commands& cmds) {
  auto* project = app.add_subcommand(
      "project",
      "projects: a repository on GitHub or GitLab, the suites its webhooks run, who "
      "may command them (docs/ci.md)");
  project->require_subcommand(1);
  for (bool create : {true, false}) {
    auto f = std::make_shared<ProjectFlags>();
    auto* sub = create ? project->add_subcommand("add", "register a project")
                       : project->add_subcommand("update",
                                                 "change a project: the flags given replace "
                                                 "those values (lists as a whole)");
    AddProjectFlags(sub, *f, create);
    cmds.Add(sub, [f, create](Client* c, const Globals&) {
      v1::PutProjectRequest req;
      if (!create) {
        v1::GetProjectRequest get;
        get.set_name(f->name);
        auto ctx = c->Ctx();
        if (grpc::Status s = c->stub().GetProject(ctx.get(), get, req.mutable_project()); !s.ok())
          return Fail(s);
        req.mutable_project()->clear_created_at();
        req.mutable_project()->clear_updated_at();
      }
      Fill(*f, req.mutable_project());
      if (create && f->suites.empty() && f->suite_paths.empty()) {
        std::cerr << "perfgate: project add: give --suite FILE or --suite-path PATH (or both)\n";
        return 2;
      }
      if (!ReadSuites(f->suites, f->suite_paths, req.mutable_project())) return 2;
      return CallAndShow<v1::PutProjectRequest, v1::Project>(
          *c, create ? &v1::Controller::Stub::AddProject : &v1::Controller::Stub::UpdateProject,
          req, RenderProject);
    });
  }
  auto* list = project->add_subcommand("list", "every project");
  cmds.Add(list, [](Client* c, const Globals&) {
    return CallAndShow<v1::ListProjectsRequest, v1::ListProjectsResponse>(
        *c, &v1::Controller::Stub::ListProjects, v1::ListProjectsRequest(),
        [](const v1::ListProjectsResponse& r) {
          std::cout << std::left << std::setw(24) << "PROJECT" << std::setw(8) << "FORGE"
                    << std::setw(40) << "REPOSITORY"
                    << "SUITES\n";
          for (const auto& p : r.projects()) {
            std::vector<std::string> suites;
            for (const auto& s : p.suites()) suites.push_back(s.name());
            std::cout << std::setw(24) << p.name() << std::setw(8) << p.forge() << std::setw(40)
                      << p.repository() << absl::StrJoin(suites, ",") << "\n";
          }
        });
  });
  for (bool remove : {false, true}) {
    auto req = std::make_shared<v1::GetProjectRequest>();
    auto* sub = remove ? project->add_subcommand("remove",
                                                 "remove a project and its suites (its runs stay)")
                       : project->add_subcommand("get", "one project with its suites");
    sub->add_option("NAME", *req->mutable_name(), "project name")->required();
    cmds.Add(sub, [req, remove](Client* c, const Globals&) {
      return CallAndShow<v1::GetProjectRequest, v1::Project>(
          *c, remove ? &v1::Controller::Stub::RemoveProject : &v1::Controller::Stub::GetProject,
          *req, RenderProject);
    });
  }
}

void AddOutbox(CLI::App& app, Commands& cmds) {
  auto* outbox = app.add_subcommand("outbox", "reports on their way to GitHub or GitLab");
  outbox->require_subcommand(1);
  auto req = std::make_shared<v1::ListOutboxRequest>();
  auto* list = outbox->add_subcommand("list", "newest first: what is pending, sent or refused");
  list->add_option("--project", *req->mutable_project(), "only this project");
  list->add_option("--state", *req->mutable_state(), "pending, done or failed")
      ->check(CLI::IsMember({"pending", "done", "failed"}));
  list->add_option_function<int>(
          "--limit", [req](int v) { req->set_limit(v); }, "at most this many (default 100)")
      ->check(CLI::Range(1, 1000));
  cmds.Add(list, [req](Client* c, const Globals&) {
    return CallAndShow<v1::ListOutboxRequest, v1::ListOutboxResponse>(
        *c, &v1::Controller::Stub::ListOutbox, *req, [](const v1::ListOutboxResponse& r) {
          std::cout << std::left << std::setw(8) << "ID" << std::setw(16) << "PROJECT"
                    << std::setw(15) << "KIND" << std::setw(36) << "TARGET" << std::setw(9)
                    << "STATE" << std::setw(9) << "TRIES" << std::setw(7) << "HTTP"
                    << "LAST ERROR\n";
          for (const auto& e : r.entries()) {
            std::cout << std::setw(8) << e.id() << std::setw(16) << e.project().substr(0, 15)
                      << std::setw(15) << e.kind() << std::setw(36) << e.target().substr(0, 35)
                      << std::setw(9) << e.state() << std::setw(9) << e.attempts() << std::setw(7)
                      << (e.last_status() ? std::to_string(e.last_status()) : "-")
                      << e.last_error().substr(0, 120) << "\n";
          }
        });
  });
}

}  // namespace

void AddProjectCommands(CLI::App& app, Commands& cmds) {
  AddProjects(app, cmds);
  AddOutbox(app, cmds);
}

}  // namespace perfgate::cli
