#include "tools/sample_target/cpu_profiler.h"

#include <execinfo.h>
#include <signal.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/sample_target/pprof_encoder.h"

namespace perfgate::sample_target {
namespace {

constexpr int kMaxDepth = 64;
// backtrace() called in the handler starts with the handler itself, then the kernel's signal
// trampoline (__restore_rt); the interrupted code follows.
constexpr int kSkip = 2;

// Filled by the signal handler: it only reads the pointer, claims a slot and writes into
// memory allocated before the timer started.
struct Samples {
  explicit Samples(int capacity)
      : capacity(capacity), frames(static_cast<size_t>(capacity) * kMaxDepth), depth(capacity) {}
  const int capacity;
  std::vector<void*> frames;
  std::vector<int> depth;
};

std::atomic<Samples*> g_samples{nullptr};
std::atomic<int> g_next{0};
std::atomic<int> g_in_handler{0};
std::atomic<int> g_dropped{0};
std::mutex g_one_at_a_time;

void OnSigprof(int) {
  const int saved_errno = errno;
  // Entered before the buffer is read, so that the collector, which clears the pointer and then
  // waits for no handler to be inside, never frees memory a handler is writing.
  g_in_handler.fetch_add(1);
  if (Samples* s = g_samples.load()) {
    const int i = g_next.fetch_add(1);
    if (i < s->capacity) {
      s->depth[i] = backtrace(&s->frames[static_cast<size_t>(i) * kMaxDepth], kMaxDepth);
    } else {
      g_dropped.fetch_add(1);
    }
  }
  g_in_handler.fetch_sub(1);
  errno = saved_errno;
}

absl::Status InstallHandlerOnce() {
  static absl::Status status = [] {
    // backtrace() loads the unwinder on first use, which allocates: never in a signal handler.
    void* warm[4];
    backtrace(warm, 4);
    struct sigaction sa {};
    sa.sa_handler = OnSigprof;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPROF, &sa, nullptr) != 0)
      return absl::InternalError(absl::StrCat("sigaction(SIGPROF): ", strerror(errno)));
    return absl::OkStatus();
  }();
  return status;
}

absl::Status SetTimer(int hz) {
  itimerval t{};
  if (hz > 0) {
    t.it_interval.tv_usec = 1'000'000 / hz;
    t.it_value = t.it_interval;
  }
  if (setitimer(ITIMER_PROF, &t, nullptr) != 0)
    return absl::InternalError(absl::StrCat("setitimer(ITIMER_PROF): ", strerror(errno)));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ProfileCpu(absl::Duration duration, int hz) {
  if (duration <= absl::ZeroDuration() || duration > absl::Minutes(5))
    return absl::InvalidArgumentError("seconds: from 1 to 300");
  if (hz < 1 || hz > 1000) return absl::InvalidArgumentError("hz: from 1 to 1000");
  std::unique_lock<std::mutex> one(g_one_at_a_time, std::try_to_lock);
  if (!one.owns_lock()) return absl::FailedPreconditionError("a CPU profile is already running");
  if (auto s = InstallHandlerOnce(); !s.ok()) return s;
  // Room for every core busy for the whole duration, and some.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int capacity = static_cast<int>(std::min<int64_t>(
      1 << 20, absl::ToInt64Seconds(duration + absl::Seconds(1)) * hz * cores + 64));
  auto samples = std::make_unique<Samples>(capacity);
  g_next = 0;
  g_dropped = 0;
  g_samples = samples.get();
  const absl::Time start = absl::Now();
  if (auto s = SetTimer(hz); !s.ok()) {
    g_samples = nullptr;
    return s;
  }
  absl::SleepFor(duration);
  SetTimer(0).IgnoreError();  // a failure here leaves signals that find no buffer: harmless
  const absl::Duration took = absl::Now() - start;
  g_samples = nullptr;
  while (g_in_handler.load() != 0) std::this_thread::yield();

  const int64_t period_ns = 1'000'000'000 / hz;
  PprofEncoder enc({{"samples", "count"}, {"cpu", "nanoseconds"}}, {"cpu", "nanoseconds"},
                   period_ns);
  const int n = std::min(g_next.load(), capacity);
  for (int i = 0; i < n; ++i) {
    const int depth = samples->depth[i];
    if (depth > kSkip)
      enc.Add(&samples->frames[static_cast<size_t>(i) * kMaxDepth + kSkip], depth - kSkip, true,
              {1, period_ns});
  }
  return enc.Finish(absl::ToUnixNanos(start), absl::ToInt64Nanoseconds(took));
}

}  // namespace perfgate::sample_target
