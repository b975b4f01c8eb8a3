#include "agent/hosts/netns_hosts.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/hash/stable_hash.h"
#include "common/log/log.h"
#include "common/status/macros.h"

namespace perfgate::agent {
namespace {

constexpr int kMaxHosts = 250;  // .2 .. .251 of a /24

// Runs a program to completion; its output, or an error carrying the command and its output.
absl::StatusOr<std::string> Run(const std::vector<std::string>& argv) {
  common::SpawnOptions o;
  o.argv = argv;
  int code = 0;
  auto out = common::RunAndCapture(o, &code);
  if (!out.ok()) return out.status();
  if (code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), ": exit ", code, ": ",
                                            absl::StripAsciiWhitespace(*out)));
  }
  return out;
}

// `ip [-n NETNS] -batch FILE` over `commands`: one process for many changes. ip stops at the
// first failing line and names it.
absl::Status IpBatch(const std::string& netns, const std::vector<std::string>& commands) {
  char path[] = "/tmp/perfgate-ip-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return absl::InternalError("mkstemp: cannot write an ip batch file");
  const std::string text = absl::StrJoin(commands, "\n") + "\n";
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  absl::Status s = written ? absl::OkStatus() : absl::InternalError("writing the ip batch file");
  if (s.ok()) {
    std::vector<std::string> argv = {"ip"};
    if (!netns.empty()) argv.insert(argv.end(), {"-n", netns});
    argv.insert(argv.end(), {"-batch", path});
    s = Run(argv).status();
  }
  unlink(path);
  return s;
}

bool Alnum(const std::string& s) {
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return !s.empty();
}

// The third octet of 10.213.N.0/24 subnets some interface address or route already uses.
std::set<int> UsedSubnets() {
  std::set<int> used;
  for (const auto& argv : {std::vector<std::string>{"ip", "-o", "-4", "addr", "show"},
                           std::vector<std::string>{"ip", "-4", "route", "show", "table", "all"}}) {
    auto out = Run(argv);
    if (!out.ok()) continue;
    size_t at = 0;
    while ((at = out->find("10.213.", at)) != std::string::npos) {
      at += 7;
      int n = 0;
      size_t end = out->find('.', at);
      if (end != std::string::npos && absl::SimpleAtoi(out->substr(at, end - at), &n))
        used.insert(n);
    }
  }
  return used;
}

// "10.213.7.0/24" -> "10.213.7."; empty unless a /24 of dotted quads ending in .0.
std::string SubnetBase(const std::string& subnet) {
  std::vector<std::string> parts = absl::StrSplit(subnet, absl::ByAnyChar("./"));
  if (parts.size() != 5 || parts[3] != "0" || parts[4] != "24") return "";
  for (int i = 0; i < 3; ++i) {
    int v = -1;
    if (!absl::SimpleAtoi(parts[i], &v) || v < 0 || v > 255) return "";
  }
  return absl::StrCat(parts[0], ".", parts[1], ".", parts[2], ".");
}

// The FORWARD rule letting the hosts talk to each other across the bridge, when bridged
// traffic passes iptables and iptables is there.
bool NeedsForwardRule() {
  std::ifstream f("/proc/sys/net/bridge/bridge-nf-call-iptables");
  int on = 0;
  return f >> on && on == 1 && !common::FindProgram("iptables").empty();
}

}  // namespace

std::string HostsPrefix(const std::string& agent_name) {
  uint64_t h = common::StableHash(agent_name);
  constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out = "p";
  for (int i = 0; i < 3; ++i, h /= 36) out += kDigits[h % 36];
  return out;
}

absl::Status NetnsHostsAvailable() {
  if (geteuid() != 0) return absl::FailedPreconditionError("netns hosts need root");
  if (common::FindProgram("ip").empty())
    return absl::FailedPreconditionError(
        "netns hosts need iproute2's ip (apt-get install iproute2)");
  if (auto v = Cgroup::Detect(); !v.ok()) return v.status();
  const std::string probe = absl::StrCat("pgprobe", getpid());
  auto made = Run({"ip", "netns", "add", probe});
  if (!made.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("netns hosts: cannot make a network namespace here (an unprivileged "
                     "container?): ",
                     made.status().message()));
  }
  (void)Run({"ip", "netns", "del", probe});
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<NetnsTopology>> NetnsTopology::Create(
    const std::string& tag, const std::vector<HostSpec>& hosts, const TopologyOptions& opts) {
  const absl::Time start = absl::Now();
  if (!Alnum(opts.prefix) || opts.prefix.size() > 4)
    return absl::InvalidArgumentError("prefix: 1 to 4 letters or digits");
  if (!Alnum(tag) || tag.size() > 6)
    return absl::InvalidArgumentError("tag: 1 to 6 letters or digits");
  if (hosts.empty() || hosts.size() > kMaxHosts)
    return absl::InvalidArgumentError(absl::StrCat("hosts: 1 to ", kMaxHosts, " hosts"));
  std::set<std::string> names;
  for (const HostSpec& h : hosts) {
    if (h.name.empty() || h.name.size() > 63 || !names.insert(h.name).second)
      return absl::InvalidArgumentError(
          absl::StrCat("hosts: name '", h.name, "' is empty, too long or given twice"));
    for (char c : h.name) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-')
        return absl::InvalidArgumentError(
            absl::StrCat("hosts: name '", h.name, "': a hostname has letters, digits and '-'"));
    }
  }
  if (auto s = NetnsHostsAvailable(); !s.ok()) return s;
  std::string base;
  if (!opts.subnet.empty()) {
    base = SubnetBase(opts.subnet);
    if (base.empty())
      return absl::InvalidArgumentError(
          absl::StrCat("subnet '", opts.subnet, "': a /24 such as 10.213.7.0/24"));
  } else {
    const std::set<int> used = UsedSubnets();
    // Started from the names' hash, so that topologies made at the same moment (tests side by
    // side) rarely race for the same subnet.
    const int start_at = static_cast<int>(std::hash<std::string>{}(opts.prefix + tag) % 256);
    for (int i = 0; i < 256 && base.empty(); ++i) {
      const int n = (start_at + i) % 256;
      if (!used.count(n)) base = absl::StrCat("10.213.", n, ".");
    }
    if (base.empty()) return absl::ResourceExhaustedError("no free 10.213.N.0/24 subnet");
  }

  std::unique_ptr<NetnsTopology> t(new NetnsTopology());
  t->prefix_ = opts.prefix;
  t->tag_ = tag;
  t->bridge_ = absl::StrCat(opts.prefix, tag, "b");
  t->gateway_ = base + "1";
  // The bridge first: ALREADY_EXISTS when this tag's topology is up (and then nothing of it is
  // touched: torn_down_ keeps the destructor away).
  if (auto s = Run({"ip", "link", "add", t->bridge_, "type", "bridge"}); !s.ok()) {
    t->torn_down_ = true;
    if (absl::StrContains(s.status().message(), "File exists"))
      return absl::AlreadyExistsError(
          absl::StrCat("a topology tagged ", tag, " is up (bridge ", t->bridge_, ")"));
    return s.status();
  }
  std::vector<std::string> root = {absl::StrCat("addr add ", t->gateway_, "/24 dev ", t->bridge_),
                                   absl::StrCat("link set ", t->bridge_, " up")};
  for (size_t i = 0; i < hosts.size(); ++i) {
    Host& h = t->hosts_.emplace_back();
    h.name = hosts[i].name;
    h.role = hosts[i].role;
    h.index = hosts[i].index;
    h.netns = absl::StrCat(opts.prefix, tag, "-", i + 1);
    h.netns_path = "/run/netns/" + h.netns;
    h.address = absl::StrCat(base, i + 2);
    root.push_back("netns add " + h.netns);
    root.push_back(absl::StrCat("link add ", h.netns, " type veth peer name eth0 netns ", h.netns));
    root.push_back(absl::StrCat("link set ", h.netns, " master ", t->bridge_));
    root.push_back(absl::StrCat("link set ", h.netns, " up"));
  }
  if (auto s = IpBatch("", root); !s.ok()) return s;
  if (NeedsForwardRule()) {
    const std::string rule =
        absl::StrCat("FORWARD -i ", t->bridge_, " -o ", t->bridge_, " -j ACCEPT");
    std::vector<std::string> argv = {"iptables", "-w", "-I"};
    for (absl::string_view w : absl::StrSplit(rule, ' ')) argv.emplace_back(w);
    if (auto s = Run(argv); !s.ok()) return s.status();
    t->forward_rule_ = rule;  // removed with the bridge
  }
  for (size_t i = 0; i < hosts.size(); ++i) {
    Host& h = t->hosts_[i];
    auto s =
        IpBatch(h.netns, {"link set lo up", absl::StrCat("addr add ", h.address, "/24 dev eth0"),
                          "link set eth0 up", absl::StrCat("route add default via ", t->gateway_)});
    if (!s.ok()) return s;
    auto g = Cgroup::Create(h.netns, hosts[i].limits);
    if (!g.ok()) return g.status();
    h.cgroup = *std::move(g);
  }
  t->setup_time_ = absl::Now() - start;
  spdlog::info("msg=\"netns hosts up\" bridge={} hosts={} subnet={}0/24 ms={}", t->bridge_,
               hosts.size(), base, absl::ToInt64Milliseconds(t->setup_time_));
  return t;
}

NetnsTopology::~NetnsTopology() {
  if (auto s = Teardown(); !s.ok()) {
    spdlog::warn("msg=\"netns hosts: teardown incomplete\" bridge={} error=\"{}\"", bridge_,
                 s.message());
  }
}

absl::Status NetnsTopology::Teardown() {
  if (torn_down_) return absl::OkStatus();
  torn_down_ = true;
  absl::Status result;
  // The processes first (through their cgroups), then what they lived in.
  for (Host& h : hosts_) {
    if (h.cgroup) result.Update(h.cgroup->Remove());
    h.cgroup.reset();
  }
  std::vector<std::string> batch;
  // Each veth first: deleted with its namespace it lingers until the kernel's asynchronous
  // namespace cleanup gets to it; deleted itself it is gone when the command returns.
  for (const Host& h : hosts_) batch.push_back("link del " + h.netns);
  for (const Host& h : hosts_) batch.push_back("netns del " + h.netns);
  batch.push_back("link del " + bridge_);
  // One at a time, going on past what is already gone, so the rest is removed.
  for (const std::string& line : batch) {
    const std::vector<std::string> argv = absl::StrSplit(absl::StrCat("ip ", line), ' ');
    auto s = Run(argv);
    if (!s.ok() && !absl::StrContains(s.status().message(), "No such file") &&
        !absl::StrContains(s.status().message(), "Cannot find device"))
      result.Update(s.status());
  }
  if (!forward_rule_.empty()) {
    std::vector<std::string> argv = {"iptables", "-w", "-D"};
    for (absl::string_view w : absl::StrSplit(forward_rule_, ' ')) argv.emplace_back(w);
    auto s = Run(argv);
    if (!s.ok() && !absl::StrContains(s.status().message(), "matching rule"))
      result.Update(s.status());
  }
  return result;
}

const NetnsTopology::Host* NetnsTopology::Find(const std::string& name) const {
  for (const Host& h : hosts_) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

void NetnsTopology::Place(const Host& host, common::SpawnOptions* o) {
  if (host.cgroup) o->cgroup_procs = host.cgroup->procs_files();
  o->netns = host.netns_path;
  o->hostname = host.name;
}

absl::Status NetnsTopology::Partition(const std::vector<std::string>& from,
                                      const std::vector<std::string>& to, bool both_ways) {
  std::vector<const Host*> a, b;
  for (auto [names, into] : {std::pair{&from, &a}, std::pair{&to, &b}}) {
    for (const std::string& n : *names) {
      const Host* h = Find(n);
      if (!h) return absl::InvalidArgumentError(absl::StrCat("partition: no host '", n, "'"));
      into->push_back(h);
    }
  }
  if (a.empty() || b.empty())
    return absl::InvalidArgumentError("partition: hosts on both sides are needed");
  // All rules sit in the `from` hosts' own namespaces, one iptables-restore each (a fault
  // schedule fires on time only if this is quick): what they send to the other side is dropped
  // on OUTPUT, and both ways also what they receive from it, on INPUT.
  for (const Host* x : a) {
    std::string rules = "*filter\n";
    for (const Host* y : b) {
      if (x == y) continue;
      absl::StrAppend(&rules, "-A OUTPUT -d ", y->address, " -j DROP\n");
      if (both_ways) absl::StrAppend(&rules, "-A INPUT -s ", y->address, " -j DROP\n");
    }
    rules += "COMMIT\n";
    char path[] = "/tmp/perfgate-iptables-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) return absl::InternalError("mkstemp: cannot write the partition's rules");
    const bool written =
        write(fd, rules.data(), rules.size()) == static_cast<ssize_t>(rules.size());
    close(fd);
    absl::Status s =
        written
            ? Run({"ip", "netns", "exec", x->netns, "iptables-restore", "--noflush", path}).status()
            : absl::InternalError("writing the partition's rules");
    unlink(path);
    if (!s.ok()) return s;
    partitioned_.insert(x->name);
  }
  return absl::OkStatus();
}

absl::Status NetnsTopology::Heal() {
  absl::Status result;
  for (const std::string& name : std::set<std::string>(partitioned_)) result.Update(Heal(name));
  return result;
}

absl::Status NetnsTopology::Heal(const std::string& host) {
  const Host* h = Find(host);
  if (!h) return absl::InvalidArgumentError(absl::StrCat("heal: no host '", host, "'"));
  if (!partitioned_.count(host)) return absl::OkStatus();
  // The namespace is the host's own: its filter table holds only partitions.
  RETURN_IF_ERROR(Run({"ip", "netns", "exec", h->netns, "iptables", "-w", "-F"}).status());
  partitioned_.erase(host);
  return absl::OkStatus();
}

absl::Status NetnsTopology::SetNetem(const std::string& host, absl::Duration delay,
                                     absl::Duration jitter, double loss) {
  const Host* h = Find(host);
  if (!h) return absl::InvalidArgumentError(absl::StrCat("netem: no host '", host, "'"));
  std::vector<std::string> argv = {"ip",      "netns", "exec", h->netns, "tc",   "qdisc",
                                   "replace", "dev",   "eth0", "root",   "netem"};
  if (delay > absl::ZeroDuration()) {
    argv.insert(argv.end(), {"delay", absl::StrCat(absl::ToInt64Microseconds(delay), "us")});
    if (jitter > absl::ZeroDuration())
      argv.push_back(absl::StrCat(absl::ToInt64Microseconds(jitter), "us"));
  }
  if (loss > 0) argv.insert(argv.end(), {"loss", absl::StrCat(loss * 100, "%")});
  absl::Status s = Run(argv).status();
  if (!s.ok() && absl::StrContains(s.message(), "qdisc kind is unknown")) {
    return absl::FailedPreconditionError(
        absl::StrCat("netem on ", host,
                     ": this machine's kernel has no netem qdisc (sch_netem, "
                     "CONFIG_NET_SCH_NETEM): ",
                     s.message()));
  }
  return s;
}

absl::Status NetnsTopology::ClearNetem(const std::string& host) {
  const Host* h = Find(host);
  if (!h) return absl::InvalidArgumentError(absl::StrCat("netem: no host '", host, "'"));
  return Run({"ip", "netns", "exec", h->netns, "tc", "qdisc", "del", "dev", "eth0", "root"})
      .status();
}

absl::StatusOr<int> RemoveLeftoverHosts(const std::string& prefix) {
  if (!Alnum(prefix)) return absl::InvalidArgumentError("prefix: letters and digits");
  absl::Status result;
  // Processes first: those in cgroups, then any left in a namespace outside them.
  if (auto g = RemoveLeftoverCgroups(prefix); !g.ok()) result.Update(g.status());
  int removed = 0;
  if (auto list = Run({"ip", "netns", "list"}); list.ok()) {
    for (absl::string_view line : absl::StrSplit(*list, '\n', absl::SkipEmpty())) {
      const std::string name(line.substr(0, line.find(' ')));
      if (!absl::StartsWith(name, prefix)) continue;
      if (auto pids = Run({"ip", "netns", "pids", name}); pids.ok()) {
        for (absl::string_view p : absl::StrSplit(*pids, '\n', absl::SkipEmpty())) {
          int pid = 0;
          if (absl::SimpleAtoi(p, &pid) && pid > 1) kill(pid, SIGKILL);
        }
      }
      if (auto s = Run({"ip", "netns", "del", name}); s.ok()) {
        ++removed;
      } else {
        result.Update(s.status());
      }
    }
  }
  if (auto links = Run({"ip", "-o", "link", "show"}); links.ok()) {
    for (absl::string_view line : absl::StrSplit(*links, '\n', absl::SkipEmpty())) {
      // "7: pgh12ab: <BROADCAST,...": the name, less any "@peer".
      std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(": ", 2));
      if (f.size() < 2) continue;
      const std::string name(f[1].substr(0, f[1].find('@')));
      if (absl::StartsWith(name, prefix)) {
        auto s = Run({"ip", "link", "del", name});
        if (!s.ok() && !absl::StrContains(s.status().message(), "Cannot find device"))
          result.Update(s.status());
      }
    }
  }
  if (!common::FindProgram("iptables").empty()) {
    if (auto rules = Run({"iptables", "-w", "-S", "FORWARD"}); rules.ok()) {
      for (absl::string_view line : absl::StrSplit(*rules, '\n', absl::SkipEmpty())) {
        if (!absl::StartsWith(line, "-A FORWARD -i " + prefix)) continue;
        std::vector<std::string> argv = {"iptables", "-w", "-D"};
        for (absl::string_view w : absl::StrSplit(line.substr(3), ' ')) argv.emplace_back(w);
        result.Update(Run(argv).status());
      }
    }
  }
  if (!result.ok()) return result;
  if (removed)
    spdlog::info("msg=\"netns hosts: removed leftovers\" prefix={} netns={}", prefix, removed);
  return removed;
}

}  // namespace perfgate::agent
