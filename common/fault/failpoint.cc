#include "common/fault/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/spdlog.h"

namespace perfgate::common {
namespace {

struct Point {
  int remaining = 1;  // hits left before the action
  bool stop = false;  // SIGSTOP instead of SIGKILL
};

struct Armed {
  absl::Mutex mu;
  std::map<std::string, Point, std::less<>> points;
};

// Parsed once from the environment; nullptr when nothing is armed.
Armed* Points() {
  static Armed* armed = []() -> Armed* {
    const char* spec = std::getenv("PERFGATE_FAILPOINTS");
    if (spec == nullptr || *spec == '\0') return nullptr;
    auto* a = new Armed;
    for (absl::string_view item : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
      std::pair<absl::string_view, absl::string_view> action = absl::StrSplit(item, '=');
      std::pair<absl::string_view, absl::string_view> nth = absl::StrSplit(action.first, '@');
      Point p;
      if (!nth.second.empty() && (!absl::SimpleAtoi(nth.second, &p.remaining) || p.remaining < 1)) {
        spdlog::error("msg=\"PERFGATE_FAILPOINTS: bad hit count, point ignored\" item=\"{}\"",
                      std::string(item));
        continue;
      }
      if (action.second != "" && action.second != "kill" && action.second != "stop") {
        spdlog::error(
            "msg=\"PERFGATE_FAILPOINTS: unknown action (kill or stop), point ignored\" "
            "item=\"{}\"",
            std::string(item));
        continue;
      }
      p.stop = action.second == "stop";
      a->points[std::string(nth.first)] = p;
      spdlog::warn("msg=\"failpoint armed\" name={} hit={} action={}", std::string(nth.first),
                   p.remaining, p.stop ? "stop" : "kill");
    }
    return a;
  }();
  return armed;
}

}  // namespace

void Failpoint(absl::string_view name) {
  Armed* a = Points();
  if (a == nullptr) return;
  absl::MutexLock lock(&a->mu);
  auto it = a->points.find(name);
  if (it == a->points.end() || --it->second.remaining != 0) return;
  if (it->second.stop) {
    spdlog::warn("msg=\"failpoint reached: stopping the process\" name={}", std::string(name));
    spdlog::default_logger()->flush();
    kill(getpid(), SIGSTOP);  // the test acts, then sends SIGCONT; this call returns
    spdlog::warn("msg=\"failpoint: continued\" name={}", std::string(name));
    return;
  }
  spdlog::warn("msg=\"failpoint reached: killing the process\" name={}", std::string(name));
  spdlog::default_logger()->flush();
  kill(getpid(), SIGKILL);
  pause();
}

}  // namespace perfgate::common
