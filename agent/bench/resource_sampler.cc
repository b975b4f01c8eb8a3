#include "agent/bench/resource_sampler.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "agent/bench/generators.h"

namespace perfgate::agent {
namespace {

struct StatLine {
  pid_t ppid = 0;
  double cpu = 0;           // utime + stime
  double children_cpu = 0;  // cutime + cstime
  int64_t rss_pages = 0;
};

// One /proc/PID/stat line (NUL-terminated) with `ticks` clock ticks a second.
bool ParseStat(const char* buf, double ticks, StatLine* out) {
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const char* p = strrchr(buf, ')');
  if (!p || p[1] != ' ' || !p[2]) return false;
  p += 3;  // past ") " and the state letter
  // Fields 4.. of stat(5): ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss
  long long f[21] = {0};
  for (int i = 0; i < 21; ++i) {
    char* end = nullptr;
    f[i] = strtoll(p, &end, 10);
    if (end == p) return false;
    p = end;
  }
  out->ppid = static_cast<pid_t>(f[0]);
  out->cpu = (f[10] + f[11]) / ticks;
  out->children_cpu = (f[12] + f[13]) / ticks;
  out->rss_pages = f[20];
  return true;
}

bool ReadStat(pid_t pid, StatLine* out) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  // read(2) and strtoll: a sampler tick reads every process's line, so no streams.
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return ParseStat(buf, ticks, out);
}

}  // namespace

ProcSnapshot ProcSnapshot::Take(const std::vector<pid_t>* only) {
  ProcSnapshot snap;
  if (only) {
    for (pid_t pid : *only) {
      StatLine s;
      if (!ReadStat(pid, &s)) continue;
      snap.all_[pid] = {s.ppid, s.cpu, s.children_cpu, s.rss_pages};
      snap.children_[s.ppid].push_back(pid);
    }
    return snap;
  }
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      char* end = nullptr;
      long pid = strtol(e->d_name, &end, 10);
      if (pid <= 0 || *end != '\0') continue;
      StatLine s;
      if (!ReadStat(static_cast<pid_t>(pid), &s)) continue;
      snap.all_[static_cast<pid_t>(pid)] = {s.ppid, s.cpu, s.children_cpu, s.rss_pages};
      snap.children_[s.ppid].push_back(static_cast<pid_t>(pid));
    }
    closedir(d);
  }
  return snap;
}

ProcSnapshot ProcSnapshot::Parse(const std::string& lines, int64_t page_size, double clock_ticks) {
  ProcSnapshot snap;
  snap.page_size_ = page_size;
  size_t at = 0;
  while (at < lines.size()) {
    size_t end = lines.find('\n', at);
    if (end == std::string::npos) end = lines.size();
    const std::string line = lines.substr(at, end - at);
    at = end + 1;
    char* rest = nullptr;
    const long pid = strtol(line.c_str(), &rest, 10);
    StatLine s;
    if (pid <= 0 || rest == line.c_str() || !ParseStat(line.c_str(), clock_ticks, &s)) continue;
    snap.all_[static_cast<pid_t>(pid)] = {s.ppid, s.cpu, s.children_cpu, s.rss_pages};
    snap.children_[s.ppid].push_back(static_cast<pid_t>(pid));
  }
  return snap;
}

ProcTreeSample ProcSnapshot::Tree(const std::vector<pid_t>& roots) const {
  const int64_t page = page_size_;
  ProcTreeSample out;
  std::set<pid_t> seen;
  std::vector<pid_t> todo;
  for (pid_t r : roots) {
    auto it = all_.find(r);
    if (it == all_.end()) continue;
    out.cpu_seconds += it->second.children_cpu;
    todo.push_back(r);
  }
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    if (!seen.insert(p).second) continue;
    auto it = all_.find(p);
    if (it == all_.end()) continue;
    out.rss_bytes += it->second.rss_pages * page;
    out.cpu_seconds += it->second.cpu;
    ++out.processes;
    if (auto c = children_.find(p); c != children_.end())
      for (pid_t child : c->second) todo.push_back(child);
  }
  return out;
}

ProcTreeSample SampleProcessTree(const std::vector<pid_t>& roots) {
  return ProcSnapshot::Take().Tree(roots);
}

ResourceSampler::ResourceSampler(std::vector<ServiceProcesses> services,
                                 std::vector<HostGroup> hosts, absl::Duration interval,
                                 const common::Clock& clock)
    : services_(std::move(services)),
      hosts_(std::move(hosts)),
      interval_(interval),
      clock_(clock) {}

ResourceSampler::~ResourceSampler() {
  if (thread_.joinable()) {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
}

namespace {

// Every figure of the sampler is a cost: lower is better.
void AddCost(v1::RepetitionResult* out, const std::string& name, const char* unit, double v) {
  AddMeasurement(out, name, unit, v, v1::DIRECTION_LOWER_IS_BETTER);
}

void Add(ResourceSampler::Series* ser, const ProcTreeSample& s, double hours) {
  if (s.processes == 0) return;
  ser->peak = std::max(ser->peak, s.rss_bytes);
  ser->rss_sum += static_cast<double>(s.rss_bytes);
  ++ser->samples;
  const double mib = s.rss_bytes / 1048576.0;
  ser->sum_t += hours;
  ser->sum_tt += hours * hours;
  ser->sum_y += mib;
  ser->sum_ty += hours * mib;
  if (ser->cpu_first < 0) ser->cpu_first = s.cpu_seconds;
  ser->cpu_last = std::max(ser->cpu_last, s.cpu_seconds);
}

}  // namespace

std::map<std::string, double> ResourceSampler::RssSlopes() {
  absl::MutexLock lock(&mu_);
  std::map<std::string, double> out;
  for (const auto& [name, s] : series_) {
    const double n = s.samples;
    const double den = n * s.sum_tt - s.sum_t * s.sum_t;
    if (s.samples < 3 || den <= 0) continue;
    // To the KiB per hour: a flat series' slope is rounding noise (1e-12), not a trend.
    out[name] = std::round((n * s.sum_ty - s.sum_t * s.sum_y) / den * 1024) / 1024;
  }
  return out;
}

void ResourceSampler::Tick() {
  const double hours = absl::ToDoubleHours(clock_.Now() - started_);
  // The hosts' processes are their groups' (children stay in their parent's group). When every
  // service runs on a host, they are all there is to read; otherwise one scan of /proc a tick,
  // however many services and hosts there are.
  std::vector<std::vector<pid_t>> in_host;
  std::vector<pid_t> host_pids;
  for (const auto& h : hosts_) {
    const std::vector<int> pids = h.cgroup->Pids();
    in_host.emplace_back(pids.begin(), pids.end());
    host_pids.insert(host_pids.end(), pids.begin(), pids.end());
  }
  std::sort(host_pids.begin(), host_pids.end());
  bool all_on_hosts = !hosts_.empty();
  for (const auto& svc : services_)
    for (pid_t r : svc.roots)
      all_on_hosts = all_on_hosts && std::binary_search(host_pids.begin(), host_pids.end(), r);
  // Services on machines of their own (ssh hosts): one reading of each machine's /proc a tick.
  bool any_local = false;
  std::map<std::string, ProcSnapshot> remote;
  for (const auto& svc : services_) {
    if (!svc.read_remote_stat) {
      any_local = true;
      continue;
    }
    all_on_hosts = false;
    if (remote.count(svc.machine)) continue;
    auto text = svc.read_remote_stat();
    remote[svc.machine] =
        text.ok() ? ProcSnapshot::Parse(*text, svc.page_size, svc.clock_ticks) : ProcSnapshot();
  }
  const ProcSnapshot snap = any_local || !hosts_.empty()
                                ? ProcSnapshot::Take(all_on_hosts ? &host_pids : nullptr)
                                : ProcSnapshot();
  for (const auto& svc : services_) {
    ProcTreeSample s = (svc.read_remote_stat ? remote[svc.machine] : snap).Tree(svc.roots);
    absl::MutexLock lock(&mu_);
    Add(&series_[svc.name], s, hours);
  }
  for (size_t i = 0; i < hosts_.size(); ++i) {
    ProcTreeSample s = snap.Tree(in_host[i]);
    absl::MutexLock lock(&mu_);
    Add(&host_series_[hosts_[i].name].rss, s, hours);
  }
}

void ResourceSampler::AddHostFigures(v1::RepetitionResult* out, double window) {
  struct RoleMax {
    double rss_peak = 0, memory_peak = -1, cpu_util = 0, throttled = 0, oom_kills = 0;
  };
  std::map<std::string, RoleMax> roles;
  for (const auto& h : hosts_) {
    HostSeries& hs = host_series_[h.name];
    auto now = h.cgroup->Stats();
    if (!now.ok() || !hs.have_first) continue;
    const std::string p = "proc." + h.name + ".";
    RoleMax& role = roles[h.role];
    if (hs.rss.samples > 0) {
      AddCost(out, p + "rss_peak", "MiB", hs.rss.peak / 1048576.0);
      AddCost(out, p + "rss_mean", "MiB", hs.rss.rss_sum / hs.rss.samples / 1048576.0);
      role.rss_peak = std::max(role.rss_peak, hs.rss.peak / 1048576.0);
    }
    if (now->memory_peak_bytes >= 0) {
      AddCost(out, p + "memory_peak", "MiB", now->memory_peak_bytes / 1048576.0);
      role.memory_peak = std::max(role.memory_peak, now->memory_peak_bytes / 1048576.0);
    }
    const double cpu = std::max(0.0, now->cpu_seconds - hs.first.cpu_seconds);
    const double throttled = std::max(0.0, now->throttled_seconds - hs.first.throttled_seconds);
    const double ooms = static_cast<double>(now->oom_kills - hs.first.oom_kills);
    AddCost(out, p + "cpu_seconds", "s", cpu);
    AddCost(out, p + "cpu_util", "cores", cpu / window);
    AddCost(out, p + "throttled_seconds", "s", throttled);
    AddCost(out, p + "oom_kills", "count", ooms);
    role.cpu_util = std::max(role.cpu_util, cpu / window);
    role.throttled = std::max(role.throttled, throttled);
    role.oom_kills += ooms;
  }
  for (const auto& [name, r] : roles) {
    const std::string p = "proc." + name + ".";
    AddCost(out, p + "rss_peak", "MiB", r.rss_peak);
    if (r.memory_peak >= 0) AddCost(out, p + "memory_peak", "MiB", r.memory_peak);
    AddCost(out, p + "cpu_util", "cores", r.cpu_util);
    AddCost(out, p + "throttled_seconds", "s", r.throttled);
    AddCost(out, p + "oom_kills", "count", r.oom_kills);
  }
}

void ResourceSampler::Start() {
  started_ = clock_.Now();
  for (const auto& h : hosts_) {
    h.cgroup->ResetPeak();  // where it cannot, the peak counts from the host's start
    auto st = h.cgroup->Stats();
    absl::MutexLock lock(&mu_);
    HostSeries& hs = host_series_[h.name];
    hs.have_first = st.ok();
    if (st.ok()) hs.first = *st;
  }
  Tick();
  thread_ = std::thread([this] {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
        if (mu_.AwaitWithTimeout(absl::Condition(&stop), interval_)) return;
      }
      Tick();
    }
  });
}

void ResourceSampler::Stop(v1::RepetitionResult* out) {
  if (thread_.joinable()) {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
  Tick();
  double window = std::max(1e-3, absl::ToDoubleSeconds(clock_.Now() - started_));
  absl::MutexLock lock(&mu_);
  for (const auto& [name, s] : series_) {
    if (s.samples == 0) continue;
    std::string p = "proc." + name + ".";
    AddCost(out, p + "rss_peak", "MiB", s.peak / 1048576.0);
    AddCost(out, p + "rss_mean", "MiB", s.rss_sum / s.samples / 1048576.0);
    double cpu = std::max(0.0, s.cpu_last - s.cpu_first);
    AddCost(out, p + "cpu_seconds", "s", cpu);
    AddCost(out, p + "cpu_util", "cores", cpu / window);
  }
  AddHostFigures(out, window);
}

}  // namespace perfgate::agent
