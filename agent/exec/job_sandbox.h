// What an attempt's job code runs with (docs/security.md). Job code is what the suite brings:
// build steps, services, fixtures, command generators, readiness and phase commands, command
// jobs; the agent's own tools (git, docker compose, tc) are not. The executor builds one per
// attempt (agent/executor.cc):
//  - a control group of the attempt's own that every job process joins before its first
//    instruction, so that teardown, cancel and restart recovery kill all it started, also a
//    daemon that double-forked out of its process group (processes placed on a test host are
//    in the host's group instead, which its teardown kills);
//  - an environment made only of a fixed base (PATH, HOME, LANG) and what the job declares
//    (PERFGATE_* and the suite's env), never the agent's own;
//  - with --job-user, that unprivileged user, who cannot read the agent's key or token files.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/process/subprocess.h"

namespace perfgate::agent {

struct JobUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};
// The account `name`, checked by switching to it once (a child that drops to it and exits):
// NOT_FOUND when there is none; FAILED_PRECONDITION when this process cannot switch users
// (not root, or a user namespace that denies setgroups).
absl::StatusOr<JobUser> LookupJobUser(const std::string& name);

struct JobSandbox {
  std::vector<std::string> cgroup_procs;  // the attempt's group (empty: none could be made)
  std::map<std::string, std::string> base_env;
  std::optional<JobUser> user;

  // Makes `o` a job process: the base environment under the job's own variables (and no
  // other), the user, and the attempt's group unless `o` is already placed in one.
  void Apply(common::SpawnOptions* o) const;
};

// The fixed base: the agent's PATH (or a standard one), LANG (default C.UTF-8), HOME = `home`.
std::map<std::string, std::string> BaseJobEnvironment(const std::string& home);

// Gives `path` and everything under it to `user` (the job's directories, made by the agent).
absl::Status ChownTree(const std::string& path, const JobUser& user);
// A directory the agent has just made for the job to write in: the job user's when `sandbox`
// has one (the directory itself, not what it holds). Logged, not fatal: the job then fails
// saying why.
void GiveToJob(const JobSandbox* sandbox, const std::string& dir);

}  // namespace perfgate::agent
