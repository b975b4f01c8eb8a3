#include "common/process/proc_stats.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace perfgate::common {

absl::StatusOr<ProcStats> ReadProcStats(pid_t pid) {
  std::string base = "/proc/" + std::to_string(pid);
  ProcStats s;
  std::ifstream stat(base + "/stat");
  std::string line;
  if (!stat || !std::getline(stat, line))
    return absl::NotFoundError("no process " + std::to_string(pid));
  // Fields restart after the command name's closing parenthesis: f[0] is field 3 (state),
  // utime and stime are fields 14 and 15.
  auto rp = line.rfind(')');
  if (rp == std::string::npos || rp + 2 > line.size())
    return absl::InternalError("malformed " + base + "/stat");
  std::vector<absl::string_view> f = absl::StrSplit(absl::string_view(line).substr(rp + 2), ' ');
  double utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtod(f[11], &utime) || !absl::SimpleAtod(f[12], &stime)) {
    return absl::InternalError("malformed " + base + "/stat");
  }
  s.cpu_seconds = (utime + stime) / sysconf(_SC_CLK_TCK);
  std::ifstream status(base + "/status");
  while (std::getline(status, line)) {
    absl::string_view l(line);
    int64_t* out = absl::ConsumePrefix(&l, "VmRSS:")   ? &s.rss_bytes
                   : absl::ConsumePrefix(&l, "VmHWM:") ? &s.peak_rss_bytes
                                                       : nullptr;
    if (!out) continue;
    l = absl::StripAsciiWhitespace(l);
    absl::ConsumeSuffix(&l, " kB");
    int64_t kib = 0;
    if (absl::SimpleAtoi(l, &kib)) *out = kib * 1024;
  }
  return s;
}

}  // namespace perfgate::common
