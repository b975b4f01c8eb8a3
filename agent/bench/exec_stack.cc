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
#include "agent/hosts/ssh_hosts.h"
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
      if (auto st = spec_.exec().provider() == "ssh" ? MakeSshHosts() : MakeHosts(); !st.ok())
        return st;
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
      if (!r.exited && r.where.ssh) {
        StopRemote(r, grace);
      } else if (!r.exited) {
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
    if (ssh_) {
      const absl::Status down = ssh_->Teardown();
      ctx_.steps.Note(down.ok() ? "ssh hosts cleaned (" + ssh_->remote_dir() + " removed)"
                                : "ssh hosts not all cleaned: " + std::string(down.message()));
      ssh_.reset();
    }
  }

  std::vector<ServiceProcesses> Processes() override {
    std::vector<ServiceProcesses> out;
    for (const auto& r : running_) {
      if (r.exited) continue;
      if (!r.where.ssh) {
        out.push_back({r.name, {r.pid}});
        continue;
      }
      const SshTopology* ssh = ssh_.get();
      const SshTopology::Host* h = r.where.ssh;
      out.push_back({r.name,
                     {r.remote_pid},
                     h->name,
                     [ssh, h] { return ssh->ReadProcStat(*h); },
                     h->page_size,
                     static_cast<double>(h->clock_ticks)});
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

  HostControl* host_control() override { return topology_ || ssh_ ? this : nullptr; }

  // HostControl: what a fault schedule does to the hosts.
  std::vector<HostInfo> TestHosts() const override {
    std::vector<HostInfo> out;
    for (const auto& h : AllHosts()) out.push_back({h.name, h.role, h.address});
    return out;
  }

  absl::Status Kill(const std::string& service, const std::string& host) override {
    ASSIGN_OR_RETURN(Running * r, Instance(service, host));
    if (Reap(*r)) return absl::FailedPreconditionError(r->name + " is not running");
    r->faulted = true;
    // On an ssh host the group is killed there; its ssh then ends with it.
    RETURN_IF_ERROR(r->where.ssh ? ssh_->Signal(*r->where.ssh, r->remote_pid, "KILL")
                                 : common::SignalGroup(r->pid, SIGKILL));
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
    ASSIGN_OR_RETURN(Running fresh, Launch(*r->spec, r->name, r->vars, r->where));
    *r = std::move(fresh);
    r->restarted = true;
    return absl::OkStatus();
  }

  absl::Status Pause(const std::string& service, const std::string& host, bool pause) override {
    ASSIGN_OR_RETURN(Running * r, Instance(service, host));
    if (Reap(*r)) return absl::FailedPreconditionError(r->name + " is not running");
    if (r->where.ssh) return ssh_->Signal(*r->where.ssh, r->remote_pid, pause ? "STOP" : "CONT");
    return common::SignalGroup(r->pid, pause ? SIGSTOP : SIGCONT);
  }

  // Partitions and netem change a host's network: netns hosts only (refused at submit for ssh).
  absl::Status NeedsNetns(const char* what) const {
    if (topology_) return absl::OkStatus();
    return absl::FailedPreconditionError(std::string(what) + " needs netns hosts");
  }

  absl::Status Partition(const std::string& host, bool both_ways) override {
    RETURN_IF_ERROR(NeedsNetns("a partition"));
    std::vector<std::string> others;
    for (const auto& h : topology_->hosts())
      if (h.name != host) others.push_back(h.name);
    if (others.empty()) return absl::FailedPreconditionError("a partition needs two hosts or more");
    return topology_->Partition({host}, others, both_ways);
  }

  absl::Status Heal(const std::string& host) override {
    RETURN_IF_ERROR(NeedsNetns("a partition"));
    return topology_->Heal(host);
  }

  absl::Status SetNetem(const std::string& host, absl::Duration delay, absl::Duration jitter,
                        double loss) override {
    RETURN_IF_ERROR(NeedsNetns("netem"));
    return topology_->SetNetem(host, delay, jitter, loss);
  }

  absl::Status ClearNetem(const std::string& host) override {
    RETURN_IF_ERROR(NeedsNetns("netem"));
    return topology_->ClearNetem(host);
  }

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
  // A test host as services see it: a netns host or an ssh host.
  struct Where {
    std::string name, role, index, address;
    const NetnsTopology::Host* netns = nullptr;
    const SshTopology::Host* ssh = nullptr;
  };
  std::vector<Where> AllHosts() const {
    std::vector<Where> out;
    if (topology_)
      for (const auto& h : topology_->hosts())
        out.push_back({h.name, h.role, h.index, h.address, &h});
    if (ssh_)
      for (const auto& h : ssh_->hosts())
        out.push_back({h.name, h.role, h.index, h.address, nullptr, &h});
    return out;
  }

  // An instance of a service: on the agent's machine, or on one test host.
  struct Running {
    std::string name;  // SERVICE, or SERVICE.HOST
    const v1::ServiceSpec* spec = nullptr;
    Where where;  // the test host it runs on (none: the agent's machine)
    // On an ssh host, `pid` is the local ssh running it and `remote_pid` its process (group)
    // there.
    pid_t remote_pid = 0;
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
    const NetnsTopology::Host* host = r.where.netns;
    if (!host || !host->cgroup) return text;
    auto st = host->cgroup->Stats();
    if (!st.ok() || st->oom_kills == 0) return text;
    uint64_t limit = 0;
    for (const v1::HostRole& role : spec_.exec().hosts())
      if (role.role() == host->role) limit = role.memory_bytes();
    return absl::StrCat(text, "; the kernel's OOM killer killed ", st->oom_kills,
                        " process(es) on host ", host->name, ", which went over its memory limit",
                        limit ? absl::StrCat(" of ", limit >> 20, " MiB") : std::string());
  }

  // The instance of `service` on `host`.
  absl::StatusOr<Running*> Instance(const std::string& service, const std::string& host) {
    for (auto& r : running_) {
      if (r.spec->name() == service && r.where.name == host) return &r;
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
    TopologyOptions o;
    o.prefix = ctx_.hosts_prefix;
    auto t = NetnsTopology::Create(AttemptTag(), hosts, o);
    if (!t.ok()) {
      // This agent cannot make them (not root, no namespaces): the machine's failing, not the
      // job's; a bad spec was refused at submit.
      return absl::UnavailableError("stack.hosts: " + std::string(t.status().message()));
    }
    topology_ = *std::move(t);
    const std::string listed = HostVariables();
    ctx_.steps.Note(absl::StrCat(
        "test hosts up in ", absl::ToInt64Milliseconds(topology_->setup_time()), " ms (bridge ",
        topology_->bridge(), ", gateway ", topology_->gateway(), "): ", listed));
    return absl::OkStatus();
  }

  // The attempt's id in base 36 (its last 5 digits) after "a": this attempt's names.
  std::string AttemptTag() {
    uint64_t id = 0;
    (void)absl::SimpleAtoi(ctx_.vars["attempt_id"], &id);
    std::string tag;
    for (int i = 0; i < 5 && (i == 0 || id > 0); ++i, id /= 36)
      tag.insert(tag.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[id % 36]);
    return "a" + tag;
  }

  // {host:ROLE-N} and {hosts:ROLE} (addresses, comma-separated) of every test host; returns
  // them listed for the log.
  std::string HostVariables() {
    std::map<std::string, std::vector<std::string>> by_role;
    std::vector<std::string> listed;
    for (const Where& h : AllHosts()) {
      ctx_.vars["host:" + h.name] = h.address;
      by_role[h.role].push_back(h.address);
      listed.push_back(h.name + " " + h.address +
                       (h.ssh ? " (" + h.ssh->machine->name + ")" : std::string()));
    }
    for (const auto& [role, addresses] : by_role)
      ctx_.vars["hosts:" + role] = absl::StrJoin(addresses, ",");
    return absl::StrJoin(listed, ", ");
  }

  // The stack's hosts taken from the agent's ssh host pool, and the build copied to each.
  absl::Status MakeSshHosts() {
    if (!ctx_.host_pool) {
      return absl::UnavailableError(
          "stack.hosts: provider ssh, but this agent has no host pool (--host-pool)");
    }
    std::vector<SshTopology::Want> want;
    for (const v1::HostRole& r : spec_.exec().hosts()) {
      for (uint32_t i = 1; i <= r.count(); ++i)
        want.push_back({absl::StrCat(r.role(), "-", i), r.role(), absl::StrCat(i), r.cpus(),
                        r.memory_bytes()});
    }
    const std::string tag = AttemptTag();
    // Control sockets need a short path (a socket's path has at most 107 bytes).
    auto t = SshTopology::Create(ctx_.hosts_prefix, tag, want, *ctx_.host_pool,
                                 absl::StrCat(kSshLocalDir, "/", ctx_.hosts_prefix, tag));
    if (!t.ok()) return absl::UnavailableError("stack.hosts: " + std::string(t.status().message()));
    ssh_ = *std::move(t);
    const std::string listed = HostVariables();
    ctx_.steps.Note(absl::StrCat("ssh hosts connected in ",
                                 absl::ToInt64Milliseconds(ssh_->setup_time()), " ms: ", listed));
    auto src = ctx_.vars.find("srcdir");
    if (src != ctx_.vars.end()) {
      const absl::Time t0 = ctx_.clock.Now();
      RETURN_IF_ERROR(ssh_->CopyToAll(src->second, "src", &ctx_.cancel));
      ctx_.steps.Note(absl::StrCat(
          "build copied to ", ssh_->hosts().size(), " ssh hosts (", ssh_->remote_dir(),
          "/HOST/src) in ",
          absl::FormatDuration(absl::Trunc(ctx_.clock.Now() - t0, absl::Milliseconds(1)))));
    }
    return absl::OkStatus();
  }

  // SIGTERM to the instance's group on its ssh host, the grace period, then SIGKILL there; its
  // ssh ends with it.
  void StopRemote(Running& r, absl::Duration grace) {
    ssh_->Signal(*r.where.ssh, r.remote_pid, "TERM").IgnoreError();
    absl::Time kill_at = ctx_.clock.Now() + grace;
    while (!Reap(r) && ctx_.clock.Now() < kill_at) absl::SleepFor(absl::Milliseconds(20));
    if (!r.exited) {
      ctx_.steps.Note("service " + r.name + " ignored SIGTERM for " + absl::FormatDuration(grace) +
                      "; killing it");
      ssh_->Signal(*r.where.ssh, r.remote_pid, "KILL").IgnoreError();
      auto w = common::WaitFor(r.pid, absl::Seconds(10));
      if (!w.ok()) {  // the connection hangs: end our side
        common::SignalGroup(r.pid, SIGKILL).IgnoreError();
        w = common::WaitFor(r.pid, absl::Seconds(5));
      }
      r.exited = true;
      if (w.ok()) r.status = *w;
    }
    ctx_.steps.Note(absl::StrCat("service ", r.name, " stopped (",
                                 ExitText(common::ExitCodeFromWaitStatus(r.status)), ")"));
  }

  // A service: one instance on the agent's machine, or one per host it is `on` (a role's hosts
  // or one host), each with its {host} and {index}. Every instance is started before any is
  // waited for, so that members which are ready only once a quorum is up come up together.
  absl::Status StartService(const v1::ServiceSpec& s) {
    std::vector<Where> where;
    if (s.on().empty()) {
      where.push_back({});
    } else {
      for (const Where& h : AllHosts()) {
        if (h.name == s.on() || h.role == s.on()) where.push_back(h);
      }
    }
    if (where.empty())
      return absl::FailedPreconditionError("service " + s.name() + ": on '" + s.on() +
                                           "': no such host");
    std::vector<size_t> started;
    for (const Where& host : where) {
      std::map<std::string, std::string> vars = ctx_.vars;
      if (!host.name.empty()) {
        vars["host"] = host.address;
        vars["index"] = host.index;
      }
      if (host.ssh) {  // the build's copy and a scratch directory on that machine
        vars["srcdir"] = host.ssh->dir + "/src";
        vars["workdir"] = host.ssh->dir + "/work";
      }
      const std::string name = host.name.empty() ? s.name() : s.name() + "." + host.name;
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
                                 const Where& where) {
    const NetnsTopology::Host* host = where.netns;
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
    std::string wd = (where.ssh ? vars.at("workdir") : ctx_.workdir) + "/" + name;
    if (!s.working_dir().empty()) {
      auto w = expand(s.working_dir());
      if (!w.ok()) return fail(std::string(w.status().message()));
      wd = *w;
    }
    Running r;
    r.name = name;
    r.spec = &s;
    r.where = where;
    r.vars = vars;
    const std::string launch_id = absl::StrCat(name, ".", ++launches_);
    std::vector<std::string> remote_argv;
    if (where.ssh) {
      // Run there through ssh (this pid); the service's own pid there is recorded by it.
      remote_argv = std::move(o.argv);
      o.argv = ssh_->Argv(*where.ssh,
                          ssh_->LaunchCommand(*where.ssh, launch_id, wd, o.env_add, remote_argv));
      o.env_add.clear();
    } else {
      std::error_code ec;
      std::filesystem::create_directories(wd, ec);
      o.working_dir = wd;
      // The service is job code: in the attempt's sandbox (the ssh client above is ours).
      if (const JobSandbox* box = ctx_.steps.sandbox()) {
        box->Apply(&o);
        // Its default directory is the attempt's; a directory the suite names is left as it is.
        if (s.working_dir().empty()) GiveToJob(box, wd);
      }
    }
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
    if (where.ssh) {
      auto remote_pid = ssh_->LaunchedPid(*where.ssh, launch_id, absl::Seconds(15));
      if (!remote_pid.ok()) {
        common::SignalGroup(r.pid, SIGKILL).IgnoreError();
        common::WaitFor(r.pid, absl::Seconds(5)).IgnoreError();
        ctx_.journal.RemoveProcess(r.pid).IgnoreError();
        return fail(std::string(remote_pid.status().message()) + " (see its output in the log)");
      }
      r.remote_pid = *remote_pid;
    }
    ctx_.steps.Note(absl::StrCat(
        "service ", name, " started (pid ", r.where.ssh ? r.remote_pid : r.pid,
        where.name.empty() ? std::string() : ", on host " + where.name,
        r.where.ssh ? " (" + r.where.ssh->machine->name + ", over ssh)" : std::string(),
        "): ", absl::StrJoin(r.where.ssh ? remote_argv : o.argv, " ")));
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
  std::unique_ptr<NetnsTopology> topology_;  // the stack's netns test hosts, when it has any
  std::unique_ptr<SshTopology> ssh_;         // or its ssh hosts
  int launches_ = 0;                         // instances started, for their ids on ssh hosts
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
