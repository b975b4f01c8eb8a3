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

struct Armed {
  absl::Mutex mu;
  std::map<std::string, int, std::less<>> remaining;  // hits left before the kill
};

// Parsed once from the environment; nullptr when nothing is armed.
Armed* Points() {
  static Armed* armed = []() -> Armed* {
    const char* spec = std::getenv("PERFGATE_FAILPOINTS");
    if (spec == nullptr || *spec == '\0') return nullptr;
    auto* a = new Armed;
    for (absl::string_view item : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
      std::pair<absl::string_view, absl::string_view> nth = absl::StrSplit(item, '@');
      int n = 1;
      if (!nth.second.empty() && (!absl::SimpleAtoi(nth.second, &n) || n < 1)) {
        spdlog::error("msg=\"PERFGATE_FAILPOINTS: bad hit count, point ignored\" item=\"{}\"",
                      std::string(item));
        continue;
      }
      a->remaining[std::string(nth.first)] = n;
      spdlog::warn("msg=\"failpoint armed\" name={} hit={}", std::string(nth.first), n);
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
  auto it = a->remaining.find(name);
  if (it == a->remaining.end() || --it->second > 0) return;
  spdlog::warn("msg=\"failpoint reached: killing the process\" name={}", std::string(name));
  spdlog::default_logger()->flush();
  kill(getpid(), SIGKILL);
  pause();
}

}  // namespace perfgate::common
