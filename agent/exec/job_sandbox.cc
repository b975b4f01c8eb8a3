#include "agent/exec/job_sandbox.h"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/log/log.h"

namespace perfgate::agent {

absl::StatusOr<JobUser> LookupJobUser(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr)
    return absl::NotFoundError("--job-user " + name +
                               ": no such user (create it with `useradd "
                               "--system --no-create-home " +
                               name + "`)");
  if (pw.pw_uid == 0) return absl::InvalidArgumentError("--job-user " + name + ": is root");
  JobUser user{name, pw.pw_uid, pw.pw_gid};
  common::SpawnOptions probe;
  probe.argv = {"/bin/true"};
  probe.uid = user.uid;
  probe.gid = user.gid;
  int code = -1;
  auto ran = common::RunAndCapture(probe, &code);
  if (!ran.ok() || code != 0)
    return absl::FailedPreconditionError(
        "--job-user " + name + ": this agent cannot switch to that user (exit code " +
        std::to_string(code) + "; it must run as root, outside a user namespace that denies it)");
  return user;
}

std::map<std::string, std::string> BaseJobEnvironment(const std::string& home) {
  const char* path = std::getenv("PATH");
  const char* lang = std::getenv("LANG");
  return {{"PATH",
           path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
          {"LANG", lang && *lang ? lang : "C.UTF-8"},
          {"HOME", home}};
}

void JobSandbox::Apply(common::SpawnOptions* o) const {
  o->inherit_env = false;
  for (const auto& [k, v] : base_env) o->env_add.emplace(k, v);  // the job's own win
  if (user) {
    o->uid = user->uid;
    o->gid = user->gid;
  }
  if (o->cgroup_procs.empty()) o->cgroup_procs = cgroup_procs;
}

absl::Status ChownTree(const std::string& path, const JobUser& user) {
  std::error_code ec;
  auto own = [&](const std::filesystem::path& p) -> absl::Status {
    if (lchown(p.c_str(), user.uid, user.gid) != 0)
      return absl::InternalError("chown " + p.string() + ": " + strerror(errno));
    return absl::OkStatus();
  };
  if (auto s = own(path); !s.ok()) return s;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (auto s = own(it->path()); !s.ok()) return s;
  }
  if (ec) return absl::InternalError("walking " + path + ": " + ec.message());
  return absl::OkStatus();
}

void GiveToJob(const JobSandbox* sandbox, const std::string& dir) {
  if (sandbox == nullptr || !sandbox->user) return;
  if (lchown(dir.c_str(), sandbox->user->uid, sandbox->user->gid) != 0)
    spdlog::warn("msg=\"directory not given to the job user\" dir={} error=\"{}\"", dir,
                 strerror(errno));
}

}  // namespace perfgate::agent
