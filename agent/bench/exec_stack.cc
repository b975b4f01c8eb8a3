#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/bench/stack.h"
#include "agent/bench/stack_internal.h"
#include "agent/exec/readiness.h"
#include "agent/hosts/netns_hosts.h"
#include "common/log/log.h"
#include "common/process/subprocess.h"
#include "common/status/macros.h"

namespace perfgate::agent {
namespace {

class ExecStackImpl : public Stack, public HostControl {
 public:
  ExecStackImpl(const v1::StackSpec& spec, BenchContext& ctx) : spec_(spec), ctx_(ctx) {}
  ~ExecStackImpl() override { Stop(); }

  absl::Status Start() override {
    std::error_code ec;
    std::filesystem::create_directories(ctx_.workdir + "/logs", ec);
    if (!spec_.exec().hosts().empty()) {
      if (auto st = MakeHosts(); !st.ok()) return st;
    }
    for (const v1::ServiceSpec& s : spec_.exec().services()) {
      if (ctx_.cancel) return absl::CancelledError("cancelled");
      if (auto st = StartService(s); !st.ok()) return st;
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
    if (topology_) {
      const absl::Status down = topology_->Teardown();
      ctx_.steps.Note(down.ok() ? std::string("test hosts removed")
                                : "test hosts not all removed: " + std::string(down.message()));
      topology_.reset();
    }
  }

  std::vector<ServiceProcesses> Processes() override {
    std::vector<ServiceProcesses> out;
    for (const auto& r : running_) {
      if (!r.exited) out.push_back({r.name, {r.pid}});
    }
    return out;
  }

  std::vector<HostGroup> HostGroups() override {
    std::vector<HostGroup> out;
    if (topology_) {
      for (const auto& h : topology_->hosts()) out.push_back({h.name, h.role, h.cgroup.get()});
    }
    return out;
  }

  std::string CheckAlive() override {
    for (auto& r : running_) {
      if (r.faulted) continue;  // a fault killed it on purpose
      if (Reap(r))
        return absl::StrCat("service ", r.name, " exited (", HowItEnded(r),
                            "); see its output in the log");
    }
    return "";
  }

  HostControl* host_control() override { return topology_ ? this : nullptr; }

  // HostControl: what a fault schedule does to the hosts.
  std::vector<HostInfo> TestHosts() const override {
    std::vector<HostInfo> out;
    for (const auto& h : topology_->hosts()) out.push_back({h.name, h.role, h.address});
    return out;
  }

  absl::Status Kill(const std::string& service, const std::string& host) override {
    ASSIGN_OR_RETURN(Running * r, Instance(service, host));
    if (Reap(*r)) return absl::FailedPreconditionError(r->name + " is not running");
    r->faulted = true;
    RETURN_IF_ERROR(common::SignalGroup(r->pid, SIGKILL));
    auto w = common::WaitFor(r->pid, absl::Seconds(10));
    r->exited = true;
    if (w.ok()) r->status = *w;
    ctx_.journal.RemoveProcess(r->pid).IgnoreError();
    return absl::OkStatus();
  }

  absl::Status Restart(const std::string& service, const std::string& host) override {
    ASSIGN_OR_RETURN(Running * r, Instance(service, host));
    if (!Reap(*r)) return absl::FailedPreconditionError(r->name + " is still running");
    // Whatever its children left in its group goes before it starts again.
    if (common::GroupAlive(r->pid)) common::SignalGroup(r->pid, SIGKILL).IgnoreError();
    ASSIGN_OR_RETURN(Running fresh, Launch(*r->spec, r->name, r->vars, r->host));
    *r = std::move(fresh);
    r->restarted = true;
    return absl::OkStatus();
  }

  absl::Status Pause(const std::string& service, const std::string& host, bool pause) override {
    ASSIGN_OR_RETURN(Running * r, Instance(service, host));
    if (Reap(*r)) return absl::FailedPreconditionError(r->name + " is not running");
    return common::SignalGroup(r->pid, pause ? SIGSTOP : SIGCONT);
  }

  absl::Status Partition(const std::string& host, bool both_ways) override {
    std::vector<std::string> others;
    for (const auto& h : topology_->hosts())
      if (h.name != host) others.push_back(h.name);
    if (others.empty()) return absl::FailedPreconditionError("a partition needs two hosts or more");
    return topology_->Partition({host}, others, both_ways);
  }

  absl::Status Heal(const std::string& host) override { return topology_->Heal(host); }

  absl::Status SetNetem(const std::string& host, absl::Duration delay, absl::Duration jitter,
                        double loss) override {
    return topology_->SetNetem(host, delay, jitter, loss);
  }

  absl::Status ClearNetem(const std::string& host) override { return topology_->ClearNetem(host); }

  absl::Status WaitRestartedReady() override {
    for (size_t i = 0; i < running_.size(); ++i) {
      if (!running_[i].restarted) continue;
      running_[i].restarted = false;
      running_[i].faulted = false;
      RETURN_IF_ERROR(WaitForReady(*running_[i].spec, i));
    }
    return absl::OkStatus();
  }

 private:
  // An instance of a service: on the agent's machine, or on one test host.
  struct Running {
    std::string name;  // SERVICE, or SERVICE.HOST
    const v1::ServiceSpec* spec = nullptr;
    const NetnsTopology::Host* host = nullptr;
    std::map<std::string, std::string> vars;  // its template variables ({host}, {index})
    pid_t pid = 0;
    std::string log_path;
    bool exited = false;
    int status = 0;
    bool faulted = false;    // killed by a fault: not reported dead
    bool restarted = false;  // started again after a fault: to be waited for
  };

  static std::string ExitText(int code) {
    return code > 128 ? absl::StrCat("signal ", code - 128) : absl::StrCat("exit code ", code);
  }

  // How an exited instance ended, and when its host's memory limit was the cause, that.
  std::string HowItEnded(const Running& r) const {
    std::string text = ExitText(common::ExitCodeFromWaitStatus(r.status));
    if (!r.host || !r.host->cgroup) return text;
    auto st = r.host->cgroup->Stats();
    if (!st.ok() || st->oom_kills == 0) return text;
    uint64_t limit = 0;
    for (const v1::HostRole& role : spec_.exec().hosts())
      if (role.role() == r.host->role) limit = role.memory_bytes();
    return absl::StrCat(text, "; the kernel's OOM killer killed ", st->oom_kills,
                        " process(es) on host ", r.host->name, ", which went over its memory limit",
                        limit ? absl::StrCat(" of ", limit >> 20, " MiB") : std::string());
  }

  // The instance of `service` on `host`.
  absl::StatusOr<Running*> Instance(const std::string& service, const std::string& host) {
    for (auto& r : running_) {
      if (r.spec->name() == service && r.host && r.host->name == host) return &r;
    }
    return absl::NotFoundError(
        absl::StrCat("service ", service, " has no instance on host ", host));
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

  // The stack's test hosts (agent/hosts/), named ROLE-1 .. ROLE-count, and their variables:
  // {hosts:ROLE} (their addresses, comma-separated) and {host:ROLE-N}.
  absl::Status MakeHosts() {
    std::vector<HostSpec> hosts;
    for (const v1::HostRole& r : spec_.exec().hosts()) {
      for (uint32_t i = 1; i <= r.count(); ++i) {
        hosts.push_back({absl::StrCat(r.role(), "-", i),
                         {r.cpus(), static_cast<int64_t>(r.memory_bytes()), 0},
                         r.role(),
                         absl::StrCat(i)});
      }
    }
    // The attempt's id in base 36 (its last 5 digits): this attempt's names on the machine.
    uint64_t id = 0;
    (void)absl::SimpleAtoi(ctx_.vars["attempt_id"], &id);
    std::string tag;
    for (int i = 0; i < 5 && (i == 0 || id > 0); ++i, id /= 36)
      tag.insert(tag.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[id % 36]);
    TopologyOptions o;
    o.prefix = ctx_.hosts_prefix;
    auto t = NetnsTopology::Create("a" + tag, hosts, o);
    if (!t.ok()) {
      // This agent cannot make them (not root, no namespaces): the machine's failing, not the
      // job's; a bad spec was refused at submit.
      return absl::UnavailableError("stack.hosts: " + std::string(t.status().message()));
    }
    topology_ = *std::move(t);
    std::map<std::string, std::vector<std::string>> by_role;
    std::vector<std::string> listed;
    for (const auto& h : topology_->hosts()) {
      ctx_.vars["host:" + h.name] = h.address;
      by_role[h.role].push_back(h.address);
      listed.push_back(h.name + " " + h.address);
    }
    for (const auto& [role, addresses] : by_role)
      ctx_.vars["hosts:" + role] = absl::StrJoin(addresses, ",");
    ctx_.steps.Note(absl::StrCat("test hosts up in ",
                                 absl::ToInt64Milliseconds(topology_->setup_time()), " ms (bridge ",
                                 topology_->bridge(), ", gateway ", topology_->gateway(),
                                 "): ", absl::StrJoin(listed, ", ")));
    return absl::OkStatus();
  }

  // A service: one instance on the agent's machine, or one per host it is `on` (a role's hosts
  // or one host), each with its {host} and {index}. Every instance is started before any is
  // waited for, so that members which are ready only once a quorum is up come up together.
  absl::Status StartService(const v1::ServiceSpec& s) {
    std::vector<std::pair<const NetnsTopology::Host*, std::string>> where;  // (host, index)
    if (s.on().empty()) {
      where.emplace_back(nullptr, "");
    } else if (topology_) {
      for (const auto& h : topology_->hosts()) {
        if (h.name == s.on() || h.role == s.on()) where.emplace_back(&h, h.index);
      }
    }
    if (where.empty())
      return absl::FailedPreconditionError("service " + s.name() + ": on '" + s.on() +
                                           "': no such host");
    std::vector<size_t> started;
    for (const auto& [host, index] : where) {
      std::map<std::string, std::string> vars = ctx_.vars;
      if (host) {
        vars["host"] = host->address;
        vars["index"] = index;
      }
      const std::string name = host ? s.name() + "." + host->name : s.name();
      ASSIGN_OR_RETURN(Running r, Launch(s, name, vars, host));
      running_.push_back(std::move(r));
      started.push_back(running_.size() - 1);
    }
    if (s.ready_any() && started.size() > 1) return WaitForAnyReady(s, started);
    for (size_t at : started) RETURN_IF_ERROR(WaitForReady(s, at));
    return absl::OkStatus();
  }

  // A role is ready once the check passes on any of its hosts; every instance must stay up.
  absl::Status WaitForAnyReady(const v1::ServiceSpec& s, const std::vector<size_t>& started) {
    std::vector<std::map<std::string, std::string>> instances;
    for (size_t at : started) instances.push_back(running_[at].vars);
    absl::Time t0 = ctx_.clock.Now();
    absl::Status ready = WaitReadyAny(s.ready(), ctx_, instances, [&]() -> std::string {
      for (size_t at : started) {
        if (Reap(running_[at]))
          return absl::StrCat("service ", running_[at].name, ": exited (", HowItEnded(running_[at]),
                              ") before the role was ready");
      }
      return "";
    });
    if (absl::IsCancelled(ready)) return ready;
    if (!ready.ok())
      return absl::FailedPreconditionError("service " + s.name() + " (ready on any of its " +
                                           std::to_string(started.size()) +
                                           " hosts): " + std::string(ready.message()));
    ctx_.steps.Note(absl::StrCat(
        "service ", s.name(), " ready on one of its ", started.size(), " hosts after ",
        absl::FormatDuration(absl::Trunc(ctx_.clock.Now() - t0, absl::Milliseconds(1)))));
    return absl::OkStatus();
  }

  // Starts an instance of `s` named `name` (on `host` when given).
  absl::StatusOr<Running> Launch(const v1::ServiceSpec& s, const std::string& name,
                                 const std::map<std::string, std::string>& vars,
                                 const NetnsTopology::Host* host) {
    auto fail = [&](const std::string& m) {
      return absl::FailedPreconditionError("service " + name + ": " + m);
    };
    auto expand = [&](const std::string& text) { return common::ExpandTemplate(text, vars); };
    common::SpawnOptions o;
    if (host) NetnsTopology::Place(*host, &o);
    for (const auto& a : s.args()) {
      auto v = expand(a);
      if (!v.ok()) return fail(std::string(v.status().message()));
      o.argv.push_back(*v);
    }
    for (const auto& [k, v] : s.env()) {
      auto e = expand(v);
      if (!e.ok()) return fail(std::string(e.status().message()));
      o.env_add[k] = *e;
    }
    std::string wd = ctx_.workdir + "/" + name;
    if (!s.working_dir().empty()) {
      auto w = expand(s.working_dir());
      if (!w.ok()) return fail(std::string(w.status().message()));
      wd = *w;
    }
    std::error_code ec;
    std::filesystem::create_directories(wd, ec);
    o.working_dir = wd;
    Running r;
    r.name = name;
    r.spec = &s;
    r.host = host;
    r.vars = vars;
    r.log_path = ctx_.workdir + "/logs/" + name + ".log";
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
    ctx_.steps.Note(absl::StrCat("service ", name, " started (pid ", r.pid,
                                 host ? ", on host " + host->name : std::string(),
                                 "): ", absl::StrJoin(o.argv, " ")));
    return r;
  }

  absl::Status WaitForReady(const v1::ServiceSpec& s, size_t at) {
    Running& mine = running_[at];
    auto fail = [&](const std::string& m) {
      return absl::FailedPreconditionError("service " + mine.name + ": " + m);
    };
    absl::Time t0 = ctx_.clock.Now();
    // The check sees the instance's own variables ({host}, {index}).
    absl::Status ready = WaitReadyAny(s.ready(), ctx_, {mine.vars}, [&]() -> std::string {
      if (!Reap(mine)) return "";
      int code = common::ExitCodeFromWaitStatus(mine.status);
      return absl::StrCat("exited (", HowItEnded(mine), ") before it was ready",
                          code == 127 ? " - is the program on the agent's PATH?" : "");
    });
    if (absl::IsCancelled(ready)) return ready;
    if (!ready.ok()) return fail(std::string(ready.message()));
    ctx_.steps.Note(absl::StrCat(
        "service ", mine.name, " ready after ",
        absl::FormatDuration(absl::Trunc(ctx_.clock.Now() - t0, absl::Milliseconds(1)))));
    return absl::OkStatus();
  }

  const v1::StackSpec& spec_;
  BenchContext& ctx_;
  // The fault thread (HostControl) is the only one to touch it between FaultRunner::Start and
  // Finish; the benchmark's thread is in the load generator meanwhile, and asks CheckAlive after.
  std::vector<Running> running_;
  std::unique_ptr<NetnsTopology> topology_;  // the stack's test hosts, when it has any
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
