#include "tools/sample_target/heap_profiler.h"

#include <gperftools/heap-profiler.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tools/sample_target/pprof_encoder.h"

namespace perfgate::sample_target {
namespace {

std::mutex g_mu;
std::string g_dir;  // "" while not running
absl::Time g_started;

// "  12:  3456" -> 12, 3456.
bool ParsePair(absl::string_view s, int64_t* count, int64_t* bytes) {
  std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(s, ':');
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(kv.first), count) &&
         absl::SimpleAtoi(absl::StripAsciiWhitespace(kv.second), bytes);
}

}  // namespace

absl::StatusOr<std::vector<HeapStack>> ParseHeapText(const std::string& text) {
  std::vector<HeapStack> out;
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++n;
    if (n == 1 || line.empty()) continue;  // "heap profile: ..." totals
    if (absl::StartsWith(line, "MAPPED_LIBRARIES")) break;
    auto bad = [&](const char* what) {
      return absl::InvalidArgumentError(
          absl::StrCat("heap profile line ", n, ": ", what, ": '", line.substr(0, 120), "'"));
    };
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
    out.push_back(std::move(s));
  }
  return out;
}

absl::Status StartHeapProfiler() {
  std::lock_guard<std::mutex> l(g_mu);
  if (!g_dir.empty() || IsHeapProfilerRunning())
    return absl::FailedPreconditionError("the heap profiler is already running");
  const char* tmp = getenv("TMPDIR");
  std::string dir = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/perfgate-heap.XXXXXX");
  if (mkdtemp(dir.data()) == nullptr)
    return absl::InternalError(absl::StrCat("mkdtemp ", dir, ": ", strerror(errno)));
  HeapProfilerStart((dir + "/heap").c_str());
  g_dir = dir;
  g_started = absl::Now();
  return absl::OkStatus();
}

void StopHeapProfiler() {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_dir.empty()) return;
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
    if (g_dir.empty())
      return absl::FailedPreconditionError("no heap profile: start with --heap-profile");
    char* p = GetHeapProfile();
    if (p == nullptr) return absl::InternalError("gperftools returned no heap profile");
    text = p;
    free(p);
    started = g_started;
  }
  auto stacks = ParseHeapText(text);
  if (!stacks.ok()) return absl::InternalError(stacks.status().message());
  // Every allocation is recorded, so the period (bytes per sample) is 1.
  PprofEncoder enc({{"alloc_objects", "count"},
                    {"alloc_space", "bytes"},
                    {"inuse_objects", "count"},
                    {"inuse_space", "bytes"}},
                   {"space", "bytes"}, 1);
  for (const HeapStack& s : *stacks)
    enc.Add(s.frames.data(), static_cast<int>(s.frames.size()), false,
            {s.alloc_objects, s.alloc_bytes, s.inuse_objects, s.inuse_bytes});
  const absl::Time now = absl::Now();
  return enc.Finish(absl::ToUnixNanos(now), absl::ToInt64Nanoseconds(now - started), "inuse_space");
}

}  // namespace perfgate::sample_target
