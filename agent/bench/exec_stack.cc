#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/bench/stack.h"
#include "agent/bench/stack_internal.h"
#include "agent/exec/readiness.h"
#include "common/log/log.h"
#include "common/process/subprocess.h"

namespace perfgate::agent {
namespace {

class ExecStackImpl : public Stack {
 public:
  ExecStackImpl(const v1::StackSpec& spec, BenchContext& ctx) : spec_(spec), ctx_(ctx) {}
  ~ExecStackImpl() override { Stop(); }

  absl::Status Start() override {
    std::error_code ec;
    std::filesystem::create_directories(ctx_.workdir + "/logs", ec);
    for (const v1::ServiceSpec& s : spec_.exec().services()) {
      if (ctx_.cancel) return absl::CancelledError("cancelled");
      if (auto st = StartOne(s); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  void Stop() override {
    absl::Duration grace = absl::Seconds(spec_.stop_grace_seconds());
    for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
      Running& r = *it;
      if (!r.exited) {
        common::SignalGroup(r.pid, SIGTERM).IgnoreError();
        absl::Time kill_at = ctx_.clock.Now() + grace;
        while (!Reap(r) && ctx_.clock.Now() < kill_at) absl::SleepFor(absl::Milliseconds(20));
        if (!r.exited) {
          ctx_.steps.Note("service " + r.name + " ignored SIGTERM for " +
                          absl::FormatDuration(grace) + "; killing it");
          common::SignalGroup(r.pid, SIGKILL).IgnoreError();
          auto w = common::WaitFor(r.pid, absl::Seconds(10));
          r.exited = true;
          if (w.ok()) r.status = *w;
        }
        ctx_.steps.Note(absl::StrCat("service ", r.name, " stopped (",
                                     ExitText(common::ExitCodeFromWaitStatus(r.status)), ")"));
      }
      // Whatever the leader left in its group goes too.
      if (common::GroupAlive(r.pid)) common::SignalGroup(r.pid, SIGKILL).IgnoreError();
      ctx_.journal.RemoveProcess(r.pid).IgnoreError();
      ShipLogTail(ctx_, r.name, r.log_path);
    }
    running_.clear();
  }

  std::vector<ServiceProcesses> Processes() override {
    std::vector<ServiceProcesses> out;
    for (const auto& r : running_) {
      if (!r.exited) out.push_back({r.name, {r.pid}});
    }
    return out;
  }

  std::string CheckAlive() override {
    for (auto& r : running_) {
      if (Reap(r)) {
        return absl::StrCat("service ", r.name, " exited (",
                            ExitText(common::ExitCodeFromWaitStatus(r.status)),
                            "); see its output in the log");
      }
    }
    return "";
  }

 private:
  struct Running {
    std::string name;
    pid_t pid = 0;
    std::string log_path;
    bool exited = false;
    int status = 0;
  };

  static std::string ExitText(int code) {
    return code > 128 ? absl::StrCat("signal ", code - 128) : absl::StrCat("exit code ", code);
  }

  // True once the service has exited (reaped now or before).
  static bool Reap(Running& r) {
    if (r.exited) return true;
    int st = 0;
    if (waitpid(r.pid, &st, WNOHANG) == r.pid) {
      r.exited = true;
      r.status = st;
    }
    return r.exited;
  }

  absl::Status StartOne(const v1::ServiceSpec& s) {
    auto fail = [&](const std::string& m) {
      return absl::FailedPreconditionError("service " + s.name() + ": " + m);
    };
    common::SpawnOptions o;
    for (const auto& a : s.args()) {
      auto v = ctx_.Expand(a);
      if (!v.ok()) return fail(std::string(v.status().message()));
      o.argv.push_back(*v);
    }
    for (const auto& [k, v] : s.env()) {
      auto e = ctx_.Expand(v);
      if (!e.ok()) return fail(std::string(e.status().message()));
      o.env_add[k] = *e;
    }
    std::string wd = ctx_.workdir + "/" + s.name();
    if (!s.working_dir().empty()) {
      auto w = ctx_.Expand(s.working_dir());
      if (!w.ok()) return fail(std::string(w.status().message()));
      wd = *w;
    }
    std::error_code ec;
    std::filesystem::create_directories(wd, ec);
    o.working_dir = wd;
    Running r;
    r.name = s.name();
    r.log_path = ctx_.workdir + "/logs/" + s.name() + ".log";
    int fd = open(r.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return fail("cannot open " + r.log_path + ": " + strerror(errno));
    o.stdout_fd = fd;
    o.stderr_fd = fd;
    auto pid = common::Spawn(o);
    close(fd);
    if (!pid.ok()) return fail(std::string(pid.status().message()));
    r.pid = *pid;
    if (auto t = common::ProcessStartTicks(r.pid); t.ok())
      ctx_.journal.AddProcess({r.pid, *t}).IgnoreError();
    ctx_.steps.Note(absl::StrCat("service ", s.name(), " started (pid ", r.pid,
                                 "): ", absl::StrJoin(o.argv, " ")));
    running_.push_back(r);
    Running& mine = running_.back();
    absl::Time t0 = ctx_.clock.Now();
    absl::Status ready = WaitReady(s.ready(), ctx_, [&]() -> std::string {
      if (!Reap(mine)) return "";
      int code = common::ExitCodeFromWaitStatus(mine.status);
      return absl::StrCat("exited (", ExitText(code), ") before it was ready",
                          code == 127 ? " - is the program on the agent's PATH?" : "");
    });
    if (absl::IsCancelled(ready)) return ready;
    if (!ready.ok()) return fail(std::string(ready.message()));
    ctx_.steps.Note(absl::StrCat(
        "service ", s.name(), " ready after ",
        absl::FormatDuration(absl::Trunc(ctx_.clock.Now() - t0, absl::Milliseconds(1)))));
    return absl::OkStatus();
  }

  const v1::StackSpec& spec_;
  BenchContext& ctx_;
  std::vector<Running> running_;
};

}  // namespace

std::unique_ptr<Stack> MakeExecStack(const v1::StackSpec& spec, BenchContext& ctx) {
  return std::make_unique<ExecStackImpl>(spec, ctx);
}

void ShipLogTail(BenchContext& ctx, const std::string& name, const std::string& path) {
  constexpr off_t kMaxShip = 256 * 1024;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  off_t size = lseek(fd, 0, SEEK_END);
  off_t from = std::max<off_t>(0, size - kMaxShip);
  std::string data(size - from, '\0');
  ssize_t n = pread(fd, data.data(), data.size(), from);
  close(fd);
  if (n <= 0) return;
  data.resize(n);
  ctx.steps.Note(
      absl::StrCat("---- output of service ", name, from > 0 ? " (last 256 KiB)" : "", " ----"));
  ctx.steps.Emit(v1::LOG_STREAM_STDOUT, data.back() == '\n' ? data : data + "\n");
}

std::unique_ptr<Stack> MakeStack(const v1::StackSpec& spec, BenchContext& ctx) {
  if (spec.has_compose()) return MakeComposeStack(spec, ctx);
  return MakeExecStack(spec, ctx);
}

}  // namespace perfgate::agent
