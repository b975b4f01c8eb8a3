#include "agent/bench/build_cache.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/hash/stable_hash.h"
#include "common/status/macros.h"

namespace fs = std::filesystem;

namespace perfgate::agent {
namespace {

// A stable directory name for a repository: readable tail plus a hash of the whole location.
std::string RepoKey(const std::string& repo) {
  const uint64_t h = common::StableHash(repo);
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
  o.agent_tool = true;
  o.timeout = absl::Minutes(30);
  o.capture_stdout = out ? 4096 : 0;
  o.stream_output = out == nullptr;  // rev-parse output is for us, not the log
  StepResult r = ctx.steps.Run(o);
  if (r.cancelled) return absl::CancelledError("cancelled");
  if (!r.ok()) return absl::FailedPreconditionError(DescribeFailure(what, r));
  if (out) *out = std::string(absl::StripAsciiWhitespace(r.stdout_text));
  return absl::OkStatus();
}

absl::StatusOr<BuildCache::Mirrored> BuildCache::Mirror(const std::string& repository,
                                                        const std::string& commit,
                                                        BenchContext& ctx) {
  Mirrored m;
  m.key = RepoKey(repository);
  m.mirror = absl::StrCat(root_, "/repos/", m.key);
  std::error_code ec;
  fs::create_directories(root_ + "/repos", ec);
  if (!fs::exists(m.mirror + "/HEAD")) {
    fs::remove_all(m.mirror, ec);
    ctx.steps.Note("fetching " + repository);
    RETURN_IF_ERROR(Git(ctx, {"clone", "--quiet", "--mirror", repository, m.mirror},
                        "git clone " + repository));
  } else {
    ctx.steps.Note("updating " + repository);
    RETURN_IF_ERROR(Git(ctx, {"-C", m.mirror, "fetch", "--quiet", "--prune", "origin"},
                        "git fetch " + repository));
  }
  std::string want = commit.empty() ? "HEAD" : commit;
  RETURN_IF_ERROR(Git(ctx, {"-C", m.mirror, "rev-parse", "--verify", "--quiet", want + "^{commit}"},
                      "commit '" + want + "' is not in " + repository, &m.sha));
  return m;
}

absl::StatusOr<std::string> BuildCache::ReadFile(const std::string& repository,
                                                 const std::string& commit, const std::string& path,
                                                 size_t max_bytes, BenchContext& ctx) {
  ASSIGN_OR_RETURN(Mirrored m, Mirror(repository, commit, ctx));
  const std::string object = m.sha + ":" + path;
  std::string type;
  if (!Git(ctx, {"-C", m.mirror, "cat-file", "-t", object}, "", &type).ok() || type != "blob") {
    return absl::FailedPreconditionError(absl::StrCat("commit ", m.sha.substr(0, 12),
                                                      " has no file ", path,
                                                      type.empty() ? "" : " (a " + type + ")"));
  }
  std::string size_text;
  RETURN_IF_ERROR(
      Git(ctx, {"-C", m.mirror, "cat-file", "-s", object}, "git cat-file -s", &size_text));
  size_t size = 0;
  if (!absl::SimpleAtoi(size_text, &size) || size > max_bytes) {
    return absl::FailedPreconditionError(absl::StrCat(path, " at ", m.sha.substr(0, 12), " is ",
                                                      size_text, " bytes; at most ", max_bytes));
  }
  StepOptions o;
  o.spawn.argv = {"git", "-C", m.mirror, "cat-file", "blob", object};
  o.agent_tool = true;
  o.timeout = absl::Minutes(5);
  o.capture_stdout = max_bytes;
  o.stream_output = false;
  StepResult r = ctx.steps.Run(o);
  if (r.cancelled) return absl::CancelledError("cancelled");
  if (!r.ok()) return absl::FailedPreconditionError(DescribeFailure("git cat-file blob", r));
  ctx.steps.Note(absl::StrCat("read ", path, " at ", m.sha.substr(0, 12), " (", size, " bytes)"));
  return std::move(r.stdout_text);
}

namespace {

// One commit of `git log --format=%H%x1f%P%x1f%an <%ae>%x1f%ct%x1f%s`.
absl::StatusOr<v1::CommitInfo> ParseCommitLine(absl::string_view line) {
  std::vector<absl::string_view> f = absl::StrSplit(line, '\x1f');
  int64_t t = 0;
  if (f.size() != 5 || f[0].size() < 40 || !absl::SimpleAtoi(f[3], &t))
    return absl::InternalError(absl::StrCat("git log printed an unexpected line: ", line));
  v1::CommitInfo c;
  c.set_sha(std::string(f[0]));
  for (absl::string_view p : absl::StrSplit(f[1], ' ', absl::SkipEmpty()))
    c.add_parents(std::string(p));
  c.set_author(std::string(f[2]));
  c.mutable_time()->set_seconds(t);
  c.set_subject(std::string(f[4]).substr(0, 200));
  return c;
}

}  // namespace

absl::StatusOr<v1::CommitList> BuildCache::ListCommits(const std::string& repository,
                                                       const std::string& good,
                                                       const std::string& bad, size_t max_commits,
                                                       BenchContext& ctx) {
  ASSIGN_OR_RETURN(Mirrored b, Mirror(repository, bad, ctx));
  std::string g;
  RETURN_IF_ERROR(Git(ctx, {"-C", b.mirror, "rev-parse", "--verify", "--quiet", good + "^{commit}"},
                      "commit '" + good + "' is not in " + repository, &g));
  if (!Git(ctx, {"-C", b.mirror, "merge-base", "--is-ancestor", g, b.sha}, "").ok()) {
    // Bisecting into a merged branch (good: the merge's first parent, bad: the branch's tip):
    // the branch's commits start where it forked, the good end is that fork point.
    std::string base;
    RETURN_IF_ERROR(Git(ctx, {"-C", b.mirror, "merge-base", g, b.sha},
                        absl::StrCat("good commit ", g.substr(0, 12), " and bad commit ",
                                     b.sha.substr(0, 12), " share no history"),
                        &base));
    ctx.steps.Note(absl::StrCat("good commit ", g.substr(0, 12), " is not an ancestor of ",
                                b.sha.substr(0, 12), ": the range starts at their merge base ",
                                base.substr(0, 12)));
    g = base;
  }
  // A line is at most ~400 bytes (the subject is cut to 200 by us, not by git: allow more).
  const size_t cap = std::min<size_t>(max_commits + 1, 1000000) * 2048;
  auto log = [&](std::vector<std::string> args) -> absl::StatusOr<std::string> {
    StepOptions o;
    o.spawn.argv = {"git", "-C", b.mirror, "log", "--format=%H%x1f%P%x1f%an <%ae>%x1f%ct%x1f%s"};
    o.spawn.argv.insert(o.spawn.argv.end(), args.begin(), args.end());
    o.agent_tool = true;
    o.timeout = absl::Minutes(10);
    o.capture_stdout = cap;
    o.stream_output = false;
    StepResult r = ctx.steps.Run(o);
    if (r.cancelled) return absl::CancelledError("cancelled");
    if (!r.ok()) return absl::FailedPreconditionError(DescribeFailure("git log", r));
    return std::move(r.stdout_text);
  };
  v1::CommitList out;
  ASSIGN_OR_RETURN(std::string first, log({"-1", g}));
  ASSIGN_OR_RETURN(*out.mutable_good(), ParseCommitLine(absl::StripAsciiWhitespace(first)));
  ASSIGN_OR_RETURN(std::string text,
                   log({"--first-parent", "--reverse", absl::StrCat(g, "..", b.sha)}));
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    if (static_cast<size_t>(out.commits_size()) >= max_commits) {
      return absl::FailedPreconditionError(
          absl::StrCat("the range ", g.substr(0, 12), "..", b.sha.substr(0, 12),
                       " holds more than ", max_commits, " commits; bisect a shorter one"));
    }
    ASSIGN_OR_RETURN(*out.add_commits(), ParseCommitLine(line));
  }
  if (out.commits().empty() || out.commits().rbegin()->sha() != b.sha) {
    return absl::FailedPreconditionError(absl::StrCat("bad commit ", b.sha.substr(0, 12),
                                                      " is not after good commit ", g.substr(0, 12),
                                                      " on its first-parent line"));
  }
  ctx.steps.Note(absl::StrCat("listed ", out.commits_size(), " commits after ", g.substr(0, 12),
                              " up to ", b.sha.substr(0, 12)));
  return out;
}

absl::StatusOr<std::string> BuildCache::Prepare(const v1::BuildSpec& build,
                                                const std::string& commit, BenchContext& ctx) {
  ASSIGN_OR_RETURN(Mirrored m, Mirror(build.repository(), commit, ctx));
  const std::string& key = m.key;
  const std::string& mirror = m.mirror;
  const std::string& sha = m.sha;
  std::error_code ec;
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
  // The build is job code: its checkout becomes the job user's.
  if (const JobSandbox* box = ctx.steps.sandbox(); box && box->user)
    RETURN_IF_ERROR(ChownTree(src, *box->user));
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
