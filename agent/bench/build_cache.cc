#include "agent/bench/build_cache.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fs = std::filesystem;

namespace perfgate::agent {
namespace {

// A stable directory name for a repository: readable tail plus a hash of the whole location.
std::string RepoKey(const std::string& repo) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : repo) h = (h ^ c) * 1099511628211ull;
  std::string tail = fs::path(repo).filename().string();
  if (tail.empty()) tail = fs::path(repo).parent_path().filename().string();
  std::string clean;
  for (char c : tail) clean += absl::ascii_isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return absl::StrFormat("%s-%016x", clean.substr(0, 40), h);
}

}  // namespace

absl::Status BuildCache::Git(BenchContext& ctx, const std::vector<std::string>& args,
                             const std::string& what, std::string* out) {
  StepOptions o;
  o.spawn.argv = {"git"};
  o.spawn.argv.insert(o.spawn.argv.end(), args.begin(), args.end());
  o.spawn.env_add["GIT_TERMINAL_PROMPT"] = "0";
  o.timeout = absl::Minutes(30);
  o.capture_stdout = out ? 4096 : 0;
  o.stream_output = out == nullptr;  // rev-parse output is for us, not the log
  StepResult r = ctx.steps.Run(o);
  if (r.cancelled) return absl::CancelledError("cancelled");
  if (!r.ok()) return absl::FailedPreconditionError(DescribeFailure(what, r));
  if (out) *out = std::string(absl::StripAsciiWhitespace(r.stdout_text));
  return absl::OkStatus();
}

absl::StatusOr<std::string> BuildCache::Prepare(const v1::BuildSpec& build,
                                                const std::string& commit, BenchContext& ctx) {
  const std::string key = RepoKey(build.repository());
  const std::string mirror = absl::StrCat(root_, "/repos/", key);
  std::error_code ec;
  fs::create_directories(root_ + "/repos", ec);
  if (!fs::exists(mirror + "/HEAD")) {
    fs::remove_all(mirror, ec);
    ctx.steps.Note("fetching " + build.repository());
    if (auto s = Git(ctx, {"clone", "--quiet", "--mirror", build.repository(), mirror},
                     "git clone " + build.repository());
        !s.ok())
      return s;
  } else {
    ctx.steps.Note("updating " + build.repository());
    if (auto s = Git(ctx, {"-C", mirror, "fetch", "--quiet", "--prune", "origin"},
                     "git fetch " + build.repository());
        !s.ok())
      return s;
  }
  std::string want = commit.empty() ? "HEAD" : commit;
  std::string sha;
  if (auto s = Git(ctx, {"-C", mirror, "rev-parse", "--verify", "--quiet", want + "^{commit}"},
                   "commit '" + want + "' is not in " + build.repository(), &sha);
      !s.ok())
    return s;
  const std::string builds = absl::StrCat(root_, "/builds/", key);
  const std::string src = absl::StrCat(builds, "/", sha);
  const std::string marker = src + "/.perfgate-built";
  ctx.vars["srcdir"] = src;
  if (fs::exists(marker)) {
    ctx.steps.Note(absl::StrCat("build of ", sha.substr(0, 12), " is cached: ", src));
    fs::last_write_time(marker, fs::file_time_type::clock::now(), ec);  // most recently used
    return src;
  }
  fs::remove_all(src, ec);
  fs::create_directories(builds, ec);
  ctx.steps.Note(absl::StrCat("checking out ", sha.substr(0, 12), " into ", src));
  if (auto s = Git(ctx, {"clone", "--quiet", "--shared", "--no-checkout", mirror, src},
                   "git clone of the mirror");
      !s.ok())
    return s;
  if (auto s = Git(ctx, {"-C", src, "checkout", "--quiet", "--detach", sha}, "git checkout " + sha);
      !s.ok())
    return s;
  const absl::Time deadline = ctx.clock.Now() + absl::Seconds(build.timeout_seconds());
  for (int i = 0; i < build.commands_size(); ++i) {
    auto cmd = ctx.Expand(build.commands(i));
    if (!cmd.ok()) return absl::FailedPreconditionError(cmd.status().message());
    ctx.steps.Note(absl::StrCat("build step ", i + 1, "/", build.commands_size(), ": ", *cmd));
    StepOptions o;
    o.spawn.argv = {"/bin/sh", "-c", *cmd};
    o.spawn.working_dir = src;
    o.spawn.env_add["PERFGATE_COMMIT"] = sha;
    o.spawn.env_add["PERFGATE_SRCDIR"] = src;
    for (const auto& [k, v] : build.env()) {
      auto val = ctx.Expand(v);
      if (!val.ok()) return absl::FailedPreconditionError(val.status().message());
      o.spawn.env_add[k] = *val;
    }
    o.timeout = std::max(absl::Seconds(1), deadline - ctx.clock.Now());
    StepResult r = ctx.steps.Run(o);
    if (r.cancelled) return absl::CancelledError("cancelled");
    if (!r.ok()) {
      return absl::FailedPreconditionError(
          DescribeFailure(absl::StrCat("build step ", i + 1, " (", *cmd, ")"), r));
    }
  }
  std::ofstream(marker) << sha << "\n";
  if (!std::ofstream(marker, std::ios::app)) {
    return absl::InternalError("cannot write " + marker);
  }
  ctx.steps.Note(absl::StrCat("built ", sha.substr(0, 12)));
  Evict(builds, src);
  return src;
}

void BuildCache::Evict(const std::string& builds_dir, const std::string& keep_dir) {
  std::vector<std::pair<fs::file_time_type, fs::path>> built;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(builds_dir, ec)) {
    fs::path m = e.path() / ".perfgate-built";
    auto t = fs::last_write_time(m, ec);
    // Unfinished checkouts (a failed build) are not worth keeping either.
    if (ec) t = fs::file_time_type::min();
    built.emplace_back(t, e.path());
  }
  std::sort(built.rbegin(), built.rend());
  for (size_t i = keep_; i < built.size(); ++i) {
    if (built[i].second == keep_dir) continue;
    fs::remove_all(built[i].second, ec);
  }
}

}  // namespace perfgate::agent
