#include "agent/hosts/cgroup.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace perfgate::agent {
namespace {

constexpr char kRoot[] = "/sys/fs/cgroup";
constexpr char kGroup[] = "perfgate";
constexpr int64_t kCpuPeriodUs = 100000;

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": ", strerror(errno)));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::Status WriteFile(const std::string& path, const std::string& value) {
  // One write(2), as the kernel wants for control files.
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return absl::InternalError(absl::StrCat("open ", path, ": ", strerror(errno)));
  const bool ok = std::fputs(value.c_str(), f) >= 0;
  const int err = errno;
  if (std::fclose(f) != 0 || !ok) {
    return absl::InternalError(
        absl::StrCat("write '", value, "' to ", path, ": ", strerror(ok ? errno : err)));
  }
  return absl::OkStatus();
}

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("mkdir ", path, ": ", strerror(errno)));
}

// A "key value" line of a flat-keyed control file (cpu.stat, memory.events, memory.oom_control).
int64_t KeyedValue(const std::string& text, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, ' ');
    int64_t v = 0;
    if (kv.first == key && absl::SimpleAtoi(kv.second, &v)) return v;
  }
  return 0;
}

int64_t FileValue(const std::string& path, int64_t fallback) {
  auto text = ReadFile(path);
  int64_t v = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &v)) return fallback;
  return v;
}

bool V2Usable() {
  auto controllers = ReadFile(absl::StrCat(kRoot, "/cgroup.controllers"));
  if (!controllers.ok()) return false;
  std::set<std::string> have = absl::StrSplit(absl::StripAsciiWhitespace(*controllers), ' ');
  return have.count("cpu") && have.count("memory") && access(kRoot, W_OK) == 0;
}

// The v1 hierarchies a host's group spans, by controller directory; cpu and memory required.
std::vector<std::string> V1Hierarchies() {
  std::vector<std::string> out;
  for (const char* h : {"cpu", "memory", "cpuacct", "pids"}) {
    const std::string dir = absl::StrCat(kRoot, "/", h);
    if (Exists(dir + "/cgroup.procs") && access(dir.c_str(), W_OK) == 0) out.push_back(dir);
  }
  return out;
}

// The groups perfgate keeps hosts in, one per hierarchy.
std::vector<std::string> ParentDirs(Cgroup::Version v) {
  if (v == Cgroup::Version::kV2) return {absl::StrCat(kRoot, "/", kGroup)};
  std::vector<std::string> out;
  for (const std::string& h : V1Hierarchies()) out.push_back(absl::StrCat(h, "/", kGroup));
  return out;
}

std::vector<int> ReadPids(const std::string& dir) {
  std::vector<int> out;
  auto text = ReadFile(dir + "/cgroup.procs");
  if (!text.ok()) return out;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    int pid = 0;
    if (absl::SimpleAtoi(line, &pid) && pid > 1) out.push_back(pid);
  }
  return out;
}

// Kills every process in the groups `dirs` until they are empty, then removes them.
absl::Status KillAndRemove(const std::vector<std::string>& dirs) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (true) {
    std::set<int> pids;
    for (const std::string& d : dirs) {
      for (int p : ReadPids(d)) pids.insert(p);
    }
    if (pids.empty()) break;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(dirs.front(), ": ", pids.size(), " processes survived SIGKILL for 5 s"));
    }
    for (const std::string& d : dirs) {
      if (Exists(d + "/cgroup.kill")) (void)WriteFile(d + "/cgroup.kill", "1");
    }
    for (int p : pids) kill(p, SIGKILL);
    absl::SleepFor(absl::Milliseconds(5));
  }
  absl::Status result;
  // A group stays busy while a killed process is a zombie: until its parent reaps it, or, for
  // the orphans of a crashed agent, until init (or the nearest subreaper) does: systemd at once,
  // some container inits much later. Bounded: 15 s for all the group's hierarchies.
  const absl::Time give_up = absl::Now() + absl::Seconds(15);
  for (const std::string& d : dirs) {
    while (rmdir(d.c_str()) != 0 && errno == EBUSY && absl::Now() < give_up)
      absl::SleepFor(absl::Milliseconds(10));
    if (Exists(d))
      result.Update(absl::InternalError(absl::StrCat("rmdir ", d, ": ", strerror(errno))));
  }
  return result;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  }
  return name != "." && name != "..";
}

}  // namespace

absl::StatusOr<Cgroup::Version> Cgroup::Detect() {
  if (V2Usable()) return Version::kV2;
  const std::vector<std::string> v1 = V1Hierarchies();
  bool cpu = false, memory = false;
  for (const std::string& h : v1) {
    cpu |= absl::EndsWith(h, "/cpu");
    memory |= absl::EndsWith(h, "/memory");
  }
  if (cpu && memory) return Version::kV1;
  return absl::FailedPreconditionError(
      "cgroups: neither cgroup v2 with the cpu and memory controllers nor writable cgroup v1 cpu "
      "and memory hierarchies under /sys/fs/cgroup (hosts need root and a writable cgroupfs)");
}

Cgroup::Cgroup(std::string name, Version v, std::vector<std::string> dirs)
    : name_(std::move(name)), version_(v), dirs_(std::move(dirs)) {
  for (const std::string& d : dirs_) procs_files_.push_back(d + "/cgroup.procs");
}

Cgroup::~Cgroup() {
  if (!removed_) (void)Remove();
}

absl::StatusOr<std::unique_ptr<Cgroup>> Cgroup::Create(const std::string& name,
                                                       const CgroupLimits& limits) {
  if (!ValidName(name))
    return absl::InvalidArgumentError(absl::StrCat("cgroup name '", name,
                                                   "': letters, digits, "
                                                   "'-', '_' and '.' only, at most 64"));
  auto version = Detect();
  if (!version.ok()) return version.status();
  std::vector<std::string> dirs;
  if (*version == Version::kV2) {
    // Controllers must be enabled on the way down for a leaf to have them.
    const std::string parent = absl::StrCat(kRoot, "/", kGroup);
    if (auto s = MakeDir(parent); !s.ok()) return s;
    for (const std::string& dir : {std::string(kRoot), parent}) {
      for (const char* c : {"+cpu", "+memory", "+pids"}) {
        // pids may be missing; cpu and memory were checked by Detect.
        (void)WriteFile(dir + "/cgroup.subtree_control", c);
      }
    }
    dirs.push_back(parent + "/" + name);
  } else {
    for (const std::string& p : ParentDirs(*version)) {
      if (auto s = MakeDir(p); !s.ok()) return s;
      dirs.push_back(p + "/" + name);
    }
  }
  for (const std::string& d : dirs) {
    if (Exists(d)) return absl::AlreadyExistsError(absl::StrCat("cgroup ", d, " exists"));
  }
  std::unique_ptr<Cgroup> g(new Cgroup(name, *version, dirs));
  for (const std::string& d : dirs) {
    if (auto s = MakeDir(d); !s.ok()) return s;
  }
  auto set = [&](const std::string& file, const std::string& value) -> absl::Status {
    for (const std::string& d : dirs) {
      if (Exists(d + "/" + file)) return WriteFile(d + "/" + file, value);
    }
    return absl::FailedPreconditionError(absl::StrCat("cgroup ", name, ": no ", file));
  };
  absl::Status s;
  if (limits.cpus > 0) {
    const int64_t quota = std::max<int64_t>(1000, static_cast<int64_t>(limits.cpus * kCpuPeriodUs));
    s = g->version_ == Version::kV2 ? set("cpu.max", absl::StrCat(quota, " ", kCpuPeriodUs))
                                    : set("cpu.cfs_period_us", absl::StrCat(kCpuPeriodUs));
    if (s.ok() && g->version_ == Version::kV1) s = set("cpu.cfs_quota_us", absl::StrCat(quota));
    if (!s.ok()) return s;
  }
  if (limits.memory_bytes > 0) {
    const std::string bytes = absl::StrCat(limits.memory_bytes);
    if (g->version_ == Version::kV2) {
      s = set("memory.max", bytes);
      if (s.ok()) (void)set("memory.swap.max", "0");  // absent without swap accounting
    } else {
      s = set("memory.limit_in_bytes", bytes);
      if (s.ok()) (void)set("memory.memsw.limit_in_bytes", bytes);  // the same: no swapping out
    }
    if (!s.ok()) return s;
  }
  if (limits.max_pids > 0) {
    if (s = set("pids.max", absl::StrCat(limits.max_pids)); !s.ok()) return s;
  }
  return g;
}

std::vector<int> Cgroup::Pids() const {
  std::set<int> all;
  for (const std::string& d : dirs_) {
    for (int p : ReadPids(d)) all.insert(p);
  }
  return {all.begin(), all.end()};
}

absl::StatusOr<CgroupStats> Cgroup::Stats() const {
  CgroupStats st;
  auto in = [&](const std::string& file) -> std::string {
    for (const std::string& d : dirs_) {
      if (Exists(d + "/" + file)) return d + "/" + file;
    }
    return "";
  };
  auto text = [&](const std::string& file) -> std::string {
    const std::string path = in(file);
    if (path.empty()) return "";
    auto t = ReadFile(path);
    return t.ok() ? *t : "";
  };
  const std::string cpu_stat = text("cpu.stat");
  st.throttled_periods = KeyedValue(cpu_stat, "nr_throttled");
  if (version_ == Version::kV2) {
    if (const std::string p = in("memory.peak"); !p.empty())
      st.memory_peak_bytes = FileValue(p, -1);
    st.oom_kills = KeyedValue(text("memory.events"), "oom_kill");
    if (const std::string p = in("memory.current"); !p.empty()) st.memory_bytes = FileValue(p, 0);
    st.throttled_seconds = KeyedValue(cpu_stat, "throttled_usec") / 1e6;
    st.cpu_seconds = KeyedValue(cpu_stat, "usage_usec") / 1e6;
  } else {
    if (const std::string p = in("memory.max_usage_in_bytes"); !p.empty())
      st.memory_peak_bytes = FileValue(p, -1);
    st.oom_kills = KeyedValue(text("memory.oom_control"), "oom_kill");
    if (const std::string p = in("memory.usage_in_bytes"); !p.empty())
      st.memory_bytes = FileValue(p, 0);
    st.throttled_seconds = KeyedValue(cpu_stat, "throttled_time") / 1e9;
    if (const std::string p = in("cpuacct.usage"); !p.empty())
      st.cpu_seconds = FileValue(p, 0) / 1e9;
  }
  return st;
}

bool Cgroup::ResetPeak() const {
  const char* file = version_ == Version::kV2 ? "memory.peak" : "memory.max_usage_in_bytes";
  for (const std::string& d : dirs_) {
    if (Exists(d + "/" + file)) return WriteFile(d + "/" + file, "0").ok();
  }
  return false;
}

absl::Status Cgroup::Remove() {
  if (removed_) return absl::OkStatus();
  absl::Status s = KillAndRemove(dirs_);
  if (s.ok()) removed_ = true;
  return s;
}

absl::StatusOr<int> RemoveLeftoverCgroups(const std::string& prefix) {
  if (prefix.empty()) return absl::InvalidArgumentError("prefix: must not be empty");
  auto version = Cgroup::Detect();
  if (!version.ok()) return 0;                              // nothing could have been made here
  std::map<std::string, std::vector<std::string>> by_name;  // a host's group in each hierarchy
  for (const std::string& parent : ParentDirs(*version)) {
    DIR* d = opendir(parent.c_str());
    if (!d) continue;
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (e->d_type == DT_DIR && absl::StartsWith(n, prefix))
        by_name[n].push_back(parent + "/" + n);
    }
    closedir(d);
  }
  absl::Status result;
  for (const auto& [name, dirs] : by_name) result.Update(KillAndRemove(dirs));
  if (!result.ok()) return result;
  return static_cast<int>(by_name.size());
}

}  // namespace perfgate::agent
