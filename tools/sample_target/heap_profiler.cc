#include "tools/sample_target/heap_profiler.h"

#include <dlfcn.h>
#include <gperftools/heap-profiler.h>
#include <gperftools/malloc_extension.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tools/sample_target/pprof_encoder.h"

namespace perfgate::sample_target {
namespace {

std::mutex g_mu;
bool g_running = false;
HeapMode g_mode = HeapMode::kSampled;
std::string g_dir;  // the exact mode's dump directory
absl::Time g_started;

// "  12:  3456" -> 12, 3456.
bool ParsePair(absl::string_view s, int64_t* count, int64_t* bytes) {
  std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(s, ':');
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(kv.first), count) &&
         absl::SimpleAtoi(absl::StripAsciiWhitespace(kv.second), bytes);
}

// Whether `address` is in libtcmalloc: a sampled stack starts inside its operator new.
bool InTcmalloc(void* address) {
  Dl_info info{};
  return dladdr(address, &info) && info.dli_fname && strstr(info.dli_fname, "libtcmalloc");
}

}  // namespace

absl::StatusOr<HeapText> ParseHeapText(const std::string& text) {
  HeapText out;
  int n = 0;
  bool header = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++n;
    if (line.empty() || absl::StartsWith(line, "%")) continue;  // %warn: sampling is off
    auto bad = [&](const char* what) {
      return absl::InvalidArgumentError(
          absl::StrCat("heap profile line ", n, ": ", what, ": '", line.substr(0, 120), "'"));
    };
    if (!header) {  // "heap profile: N: B [N: B] @ heapprofile" or "@ heap_v2/524288"
      header = true;
      if (!absl::StartsWith(line, "heap profile:")) return bad("want 'heap profile: ...'");
      const size_t v2 = line.find("heap_v2/");
      if (v2 != line.npos &&
          !absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(v2 + 8)), &out.period))
        return bad("sampling period");
      continue;
    }
    if (absl::StartsWith(line, "MAPPED_LIBRARIES")) break;
    const size_t open = line.find('['), close = line.find(']'), at = line.find('@');
    if (open == line.npos || close == line.npos || at == line.npos || !(open < close && close < at))
      return bad("want 'N: BYTES [N: BYTES] @ ADDRESSES'");
    HeapStack s;
    if (!ParsePair(line.substr(0, open), &s.inuse_objects, &s.inuse_bytes) ||
        !ParsePair(line.substr(open + 1, close - open - 1), &s.alloc_objects, &s.alloc_bytes))
      return bad("counts");
    for (absl::string_view a : absl::StrSplit(line.substr(at + 1), ' ', absl::SkipEmpty())) {
      uint64_t v = 0;
      if (!absl::ConsumePrefix(&a, "0x") || !absl::SimpleHexAtoi(a, &v)) return bad("address");
      s.frames.push_back(reinterpret_cast<void*>(static_cast<uintptr_t>(v)));
    }
    out.stacks.push_back(std::move(s));
  }
  if (!header) return absl::InvalidArgumentError("heap profile: empty");
  return out;
}

HeapStack Unsample(const HeapStack& s, int64_t period) {
  HeapStack out = s;
  if (period <= 0) return out;
  auto scale = [period](int64_t* count, int64_t* bytes) {
    if (*count <= 0 || *bytes <= 0) return;
    const double mean = static_cast<double>(*bytes) / static_cast<double>(*count);
    const double f = 1 / (1 - std::exp(-mean / static_cast<double>(period)));
    *count = std::llround(static_cast<double>(*count) * f);
    *bytes = std::llround(static_cast<double>(*bytes) * f);
  };
  scale(&out.inuse_objects, &out.inuse_bytes);
  scale(&out.alloc_objects, &out.alloc_bytes);
  return out;
}

absl::Status ExecWithHeapSampling(char** argv) {
  if (const char* v = getenv(kHeapSampleEnv); v && *v) return absl::OkStatus();
  setenv(kHeapSampleEnv, std::to_string(kHeapSamplePeriod).c_str(), 1);
  execv("/proc/self/exe", argv);
  return absl::InternalError(
      absl::StrCat("re-executing with ", kHeapSampleEnv, ": ", strerror(errno)));
}

absl::Status StartHeapProfiler(HeapMode mode) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_running || IsHeapProfilerRunning())
    return absl::FailedPreconditionError("the heap profiler is already running");
  if (mode == HeapMode::kSampled) {
    const char* v = getenv(kHeapSampleEnv);
    int64_t period = 0;
    if (!v || !absl::SimpleAtoi(v, &period) || period <= 0)
      return absl::InternalError(
          absl::StrCat(kHeapSampleEnv, " is not a positive number: ", "tcmalloc samples nothing"));
  } else {
    const char* tmp = getenv("TMPDIR");
    std::string dir = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/perfgate-heap.XXXXXX");
    if (mkdtemp(dir.data()) == nullptr)
      return absl::InternalError(absl::StrCat("mkdtemp ", dir, ": ", strerror(errno)));
    HeapProfilerStart((dir + "/heap").c_str());
    g_dir = dir;
  }
  g_mode = mode;
  g_running = true;
  g_started = absl::Now();
  return absl::OkStatus();
}

void StopHeapProfiler() {
  std::lock_guard<std::mutex> l(g_mu);
  if (!g_running) return;
  g_running = false;
  if (g_mode != HeapMode::kExact) return;
  HeapProfilerStop();
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
  g_dir.clear();
}

absl::StatusOr<std::string> HeapProfile() {
  std::string text;
  absl::Time started;
  {
    std::lock_guard<std::mutex> l(g_mu);
    if (!g_running)
      return absl::FailedPreconditionError(
          "no heap profile: start with --heap-profile sampled (or exact)");
    if (g_mode == HeapMode::kExact) {
      char* p = GetHeapProfile();
      if (p == nullptr) return absl::InternalError("gperftools returned no heap profile");
      text = p;
      free(p);
    } else {
      MallocExtension::instance()->GetHeapSample(&text);
    }
    started = g_started;
  }
  auto parsed = ParseHeapText(text);
  if (!parsed.ok()) return absl::InternalError(parsed.status().message());
  PprofEncoder enc({{"alloc_objects", "count"},
                    {"alloc_space", "bytes"},
                    {"inuse_objects", "count"},
                    {"inuse_space", "bytes"}},
                   {"space", "bytes"}, parsed->period > 0 ? parsed->period : 1);
  for (const HeapStack& raw : parsed->stacks) {
    const HeapStack s = Unsample(raw, parsed->period);
    size_t skip = 0;  // a sample's stack starts in tcmalloc's operator new
    while (skip < s.frames.size() && InTcmalloc(s.frames[skip])) ++skip;
    enc.Add(s.frames.data() + skip, static_cast<int>(s.frames.size() - skip), false,
            {s.alloc_objects, s.alloc_bytes, s.inuse_objects, s.inuse_bytes});
  }
  const absl::Time now = absl::Now();
  return enc.Finish(absl::ToUnixNanos(now), absl::ToInt64Nanoseconds(now - started), "inuse_space");
}

}  // namespace perfgate::sample_target
