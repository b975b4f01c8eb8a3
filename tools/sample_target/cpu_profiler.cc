#include "tools/sample_target/cpu_profiler.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/compress/gzip.h"
#include "perfgate/pprof/profile.pb.h"

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

std::string Demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : name;
  free(d);
  return out;
}

// Builds the pprof profile: one location per address, one function per symbol.
class Encoder {
 public:
  explicit Encoder(int hz) {
    p_.add_string_table("");
    auto* samples = p_.add_sample_type();
    samples->set_type(Str("samples"));
    samples->set_unit(Str("count"));
    auto* cpu = p_.add_sample_type();
    cpu->set_type(Str("cpu"));
    cpu->set_unit(Str("nanoseconds"));
    p_.mutable_period_type()->set_type(Str("cpu"));
    p_.mutable_period_type()->set_unit(Str("nanoseconds"));
    period_ns_ = 1'000'000'000 / hz;
    p_.set_period(period_ns_);
  }

  // A stack, leaf first: the leaf is where the thread was; the others are return addresses,
  // looked up one byte back so that a call ending its function is named by its caller.
  void Add(void* const* frames, int n) {
    std::vector<uint64_t> locs;
    for (int i = 0; i < n; ++i)
      locs.push_back(Location(reinterpret_cast<uintptr_t>(frames[i]), i == 0));
    if (!locs.empty()) ++stacks_[locs];
  }

  std::string Finish(int64_t start_unix_ns, int64_t duration_ns) {
    for (const auto& [locs, count] : stacks_) {
      auto* s = p_.add_sample();
      for (uint64_t l : locs) s->add_location_id(l);
      s->add_value(count);
      s->add_value(count * period_ns_);
    }
    p_.set_time_nanos(start_unix_ns);
    p_.set_duration_nanos(duration_ns);
    return common::Gzip(p_.SerializeAsString());
  }

 private:
  int64_t Str(const std::string& s) {
    auto [it, added] = strings_.emplace(s, p_.string_table_size());
    if (added) p_.add_string_table(s);
    return it->second;
  }

  uint64_t Location(uintptr_t pc, bool leaf) {
    auto [it, added] = locations_.emplace(pc, p_.location_size() + 1);
    if (!added) return it->second;
    auto* l = p_.add_location();
    l->set_id(it->second);
    l->set_address(pc);
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(leaf ? pc : pc - 1), &info) && info.dli_sname) {
      l->add_line()->set_function_id(
          Function(info.dli_sname, info.dli_fname ? info.dli_fname : ""));
    }
    return it->second;
  }

  uint64_t Function(const char* symbol, const std::string& file) {
    auto [it, added] = functions_.emplace(symbol, p_.function_size() + 1);
    if (!added) return it->second;
    auto* f = p_.add_function();
    f->set_id(it->second);
    f->set_name(Str(Demangle(symbol)));
    f->set_system_name(Str(symbol));
    f->set_filename(Str(file));
    return it->second;
  }

  pprof::Profile p_;
  int64_t period_ns_ = 0;
  std::map<std::string, int64_t> strings_;
  std::map<uintptr_t, uint64_t> locations_;
  std::map<std::string, uint64_t> functions_;
  std::map<std::vector<uint64_t>, int64_t> stacks_;
};

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

  Encoder enc(hz);
  const int n = std::min(g_next.load(), capacity);
  for (int i = 0; i < n; ++i) {
    const int depth = samples->depth[i];
    if (depth > kSkip)
      enc.Add(&samples->frames[static_cast<size_t>(i) * kMaxDepth + kSkip], depth - kSkip);
  }
  return enc.Finish(absl::ToUnixNanos(start), absl::ToInt64Nanoseconds(took));
}

}  // namespace perfgate::sample_target
