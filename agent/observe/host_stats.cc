#include "agent/observe/host_stats.h"

#include <fstream>
#include <sstream>
#include <string>

namespace perfgate::agent {

absl::StatusOr<HostSnapshot> ReadHostSnapshot(const common::Clock& clock) {
  HostSnapshot s;
  s.at = clock.Now();
  std::ifstream stat("/proc/stat");
  if (!stat) return absl::UnavailableError("cannot read /proc/stat");
  std::string line;
  while (std::getline(stat, line)) {
    std::istringstream in(line);
    std::string key;
    in >> key;
    if (key == "cpu") {
      // user nice system idle iowait irq softirq steal (guest time is inside user/nice)
      uint64_t v[8] = {};
      for (auto& x : v) in >> x;
      for (auto x : v) s.cpu_total += x;
      s.cpu_idle = v[3] + v[4];
      s.cpu_iowait = v[4];
    } else if (key == "ctxt") {
      in >> s.ctxt;
    }
  }
  std::ifstream load("/proc/loadavg");
  if (load) load >> s.load1;
  std::ifstream mem("/proc/meminfo");
  int64_t swap_total = 0, swap_free = 0;
  while (std::getline(mem, line)) {
    std::istringstream in(line);
    std::string key;
    int64_t kib = 0;
    in >> key >> kib;
    if (key == "MemTotal:") s.mem_total_kib = kib;
    if (key == "MemAvailable:") s.mem_available_kib = kib;
    if (key == "SwapTotal:") swap_total = kib;
    if (key == "SwapFree:") swap_free = kib;
  }
  s.swap_used_kib = swap_total - swap_free;
  return s;
}

void AppendHostMeasurements(const HostSnapshot& a, const HostSnapshot& b,
                            v1::RepetitionResult* out) {
  auto add = [&](const char* name, const char* unit, double v) {
    v1::Measurement* m = out->add_measurements();
    m->set_name(name);
    m->set_unit(unit);
    m->set_value(v);
    m->set_direction(v1::DIRECTION_LOWER_IS_BETTER);
  };
  const double total = static_cast<double>(b.cpu_total - a.cpu_total);
  if (total > 0) {
    add("host.cpu_util", "ratio", 1.0 - static_cast<double>(b.cpu_idle - a.cpu_idle) / total);
    add("host.iowait_util", "ratio", static_cast<double>(b.cpu_iowait - a.cpu_iowait) / total);
  }
  const double secs = absl::ToDoubleSeconds(b.at - a.at);
  if (secs > 0) add("host.ctx_switches", "1/s", static_cast<double>(b.ctxt - a.ctxt) / secs);
  add("host.load1", "count", b.load1);
  add("host.mem_used", "MiB", static_cast<double>(b.mem_total_kib - b.mem_available_kib) / 1024);
  add("host.swap_used", "MiB", static_cast<double>(b.swap_used_kib) / 1024);
}

}  // namespace perfgate::agent
