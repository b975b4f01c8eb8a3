#include "agent/bench/resource_sampler.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

namespace perfgate::agent {
namespace {

struct StatLine {
  pid_t ppid = 0;
  double cpu = 0;           // utime + stime
  double children_cpu = 0;  // cutime + cstime
  int64_t rss_pages = 0;
};

bool ReadStat(pid_t pid, StatLine* out) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return false;
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  std::string state;
  long long f[40] = {0};
  rest >> state;
  // Fields 4.. of stat(5): ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss
  for (int i = 0; i < 21 && rest >> f[i]; ++i) {
  }
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  out->ppid = static_cast<pid_t>(f[0]);
  out->cpu = (f[10] + f[11]) / ticks;
  out->children_cpu = (f[12] + f[13]) / ticks;
  out->rss_pages = f[20];
  return true;
}

}  // namespace

ProcTreeSample SampleProcessTree(const std::vector<pid_t>& roots) {
  std::map<pid_t, StatLine> all;
  std::map<pid_t, std::vector<pid_t>> children;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      char* end = nullptr;
      long pid = strtol(e->d_name, &end, 10);
      if (pid <= 0 || *end != '\0') continue;
      StatLine s;
      if (!ReadStat(static_cast<pid_t>(pid), &s)) continue;
      all[static_cast<pid_t>(pid)] = s;
      children[s.ppid].push_back(static_cast<pid_t>(pid));
    }
    closedir(d);
  }
  static const int64_t page = sysconf(_SC_PAGE_SIZE);
  ProcTreeSample out;
  std::set<pid_t> seen;
  std::vector<pid_t> todo;
  for (pid_t r : roots) {
    auto it = all.find(r);
    if (it == all.end()) continue;
    out.cpu_seconds += it->second.children_cpu;
    todo.push_back(r);
  }
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    if (!seen.insert(p).second) continue;
    const StatLine& s = all[p];
    out.rss_bytes += s.rss_pages * page;
    out.cpu_seconds += s.cpu;
    ++out.processes;
    for (pid_t c : children[p]) todo.push_back(c);
  }
  return out;
}

ResourceSampler::ResourceSampler(std::vector<ServiceProcesses> services, absl::Duration interval,
                                 const common::Clock& clock)
    : services_(std::move(services)), interval_(interval), clock_(clock) {}

ResourceSampler::~ResourceSampler() {
  if (thread_.joinable()) {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
}

void ResourceSampler::Tick() {
  for (const auto& svc : services_) {
    ProcTreeSample s = SampleProcessTree(svc.roots);
    absl::MutexLock lock(&mu_);
    Series& ser = series_[svc.name];
    if (s.processes == 0) continue;
    ser.peak = std::max(ser.peak, s.rss_bytes);
    ser.rss_sum += static_cast<double>(s.rss_bytes);
    ++ser.samples;
    if (ser.cpu_first < 0) ser.cpu_first = s.cpu_seconds;
    ser.cpu_last = std::max(ser.cpu_last, s.cpu_seconds);
  }
}

void ResourceSampler::Start() {
  started_ = clock_.Now();
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
  auto add = [&](const std::string& name, const char* unit, double v) {
    v1::Measurement* m = out->add_measurements();
    m->set_name(name);
    m->set_unit(unit);
    m->set_value(v);
    m->set_direction(v1::DIRECTION_LOWER_IS_BETTER);
  };
  for (const auto& [name, s] : series_) {
    if (s.samples == 0) continue;
    std::string p = "proc." + name + ".";
    add(p + "rss_peak", "MiB", s.peak / 1048576.0);
    add(p + "rss_mean", "MiB", s.rss_sum / s.samples / 1048576.0);
    double cpu = std::max(0.0, s.cpu_last - s.cpu_first);
    add(p + "cpu_seconds", "s", cpu);
    add(p + "cpu_util", "cores", cpu / window);
  }
}

}  // namespace perfgate::agent
