// Test hosts on one machine (the `netns` provider of a topology): each host a network namespace
// with its own loopback, address and default route on a bridge of the topology's own, a
// hostname (given to every process started on it, in a UTS namespace of its own), and a control
// group holding its CPU quota and memory limit (cgroup.h). The agent, in the root namespace,
// reaches every host over the bridge, whose address is the hosts' gateway; hosts reach each
// other. A machine whose FORWARD policy drops (a running dockerd sets it) gets an ACCEPT rule
// for the bridge, removed with it.
//
// Everything made is named `<prefix><tag>...`: the bridge `<prefix><tag>b`, each host's
// namespace, veth and cgroup `<prefix><tag>-<n>` (interface names have 15 characters). Teardown
// removes it all (killing what still runs on the hosts); RemoveLeftoverHosts(prefix) removes
// what an earlier life of the agent left behind after a crash.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/hosts/cgroup.h"
#include "common/process/subprocess.h"

namespace perfgate::agent {

struct HostSpec {
  std::string name;  // "manager-1": the host's hostname, and how services and faults name it
  CgroupLimits limits;
  std::string role = {};   // "manager": what services and faults select it by (may be empty)
  std::string index = {};  // "1": its place in the role ({index} of what runs on it)
};

struct TopologyOptions {
  std::string prefix = "pgh";  // what RemoveLeftoverHosts looks for; at most 4 characters
  // The hosts' subnet, a /24 ("10.213.7.0/24"); empty: the first 10.213.N.0/24 from a start
  // derived from the tag that no interface or route of the machine uses.
  std::string subnet;
};

class NetnsTopology {
 public:
  struct Host {
    std::string name, role, index;  // the spec's
    std::string netns;              // the namespace's name (ip netns)
    std::string netns_path;         // /run/netns/...
    std::string address;            // on the bridge
    std::unique_ptr<Cgroup> cgroup;
  };

  // Makes the bridge and the hosts. `tag` (letters and digits, at most 6) tells this topology's
  // names from others'. INVALID_ARGUMENT for a bad name, tag or subnet; ALREADY_EXISTS when a
  // topology with the tag is up; FAILED_PRECONDITION where hosts cannot be made (see
  // NetnsHostsAvailable). Whatever was made before a failure is removed.
  static absl::StatusOr<std::unique_ptr<NetnsTopology>> Create(const std::string& tag,
                                                               const std::vector<HostSpec>& hosts,
                                                               const TopologyOptions& opts = {});
  ~NetnsTopology();
  // Kills every process on the hosts and removes the cgroups, namespaces, bridge and rule.
  // Goes on past a failure and reports the first; a second call does nothing.
  absl::Status Teardown();

  const std::vector<Host>& hosts() const { return hosts_; }
  const Host* Find(const std::string& name) const;  // null when there is no such host
  const std::string& bridge() const { return bridge_; }
  const std::string& gateway() const { return gateway_; }  // the bridge's address
  // How long Create took (the hosts themselves, for the figures).
  absl::Duration setup_time() const { return setup_time_; }

  // Makes `o` start its process on `host`: inside its cgroup, network namespace and hostname.
  static void Place(const Host& host, common::SpawnOptions* o);

  // A network partition (a fault): packets from each host of `from` to each host of `to` are
  // dropped, and with `both_ways` those from `to` to `from` too, by iptables rules inside the
  // `from` hosts' namespaces (OUTPUT, and INPUT both ways; nothing changes on the machine
  // itself), one iptables-restore per host. The agent in the root
  // namespace still reaches every host. INVALID_ARGUMENT naming an unknown host.
  absl::Status Partition(const std::vector<std::string>& from, const std::vector<std::string>& to,
                         bool both_ways);
  // Removes every partition; Heal(host), those whose rules `host` holds (the partitions whose
  // `from` side it was), leaving others in force.
  absl::Status Heal();
  absl::Status Heal(const std::string& host);
  // Delay (with jitter) and loss on everything `host` sends (a netem qdisc on its eth0); the
  // kernel needs sch_netem. ClearNetem removes it.
  absl::Status SetNetem(const std::string& host, absl::Duration delay, absl::Duration jitter,
                        double loss);
  absl::Status ClearNetem(const std::string& host);

 private:
  NetnsTopology() = default;
  std::string prefix_, tag_, bridge_, gateway_, forward_rule_;
  std::vector<Host> hosts_;
  std::set<std::string> partitioned_;  // hosts holding partition rules, for Heal
  absl::Duration setup_time_;
  bool torn_down_ = false;
};

// The prefix of the test hosts the agent `agent_name` makes ("p" and 3 letters or digits from a
// hash of the name): agents sharing a machine have distinct names, so one's cleanup at start
// leaves the others' hosts alone.
std::string HostsPrefix(const std::string& agent_name);

// OK when this machine can make netns hosts: root, iproute2's `ip`, a network namespace that
// can be made, and cgroups (Cgroup::Detect). FAILED_PRECONDITION naming what is missing.
absl::Status NetnsHostsAvailable();

// Removes every namespace, interface, FORWARD rule and cgroup whose name starts with `prefix`,
// killing what runs in them. Returns how many namespaces it removed.
absl::StatusOr<int> RemoveLeftoverHosts(const std::string& prefix);

}  // namespace perfgate::agent
