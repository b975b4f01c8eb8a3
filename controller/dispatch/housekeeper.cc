#include "controller/dispatch/housekeeper.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "common/log/log.h"

namespace perfgate::controller {

void Housekeeper::Start() {
  thread_ = std::thread([this] {
    while (!stop_) {
      uint64_t seen = stop_signal_.generation();
      RunOnce();
      stop_signal_.WaitForChange(seen, interval_);
    }
  });
}

void Housekeeper::Stop() {
  stop_ = true;
  stop_signal_.Notify();
  if (thread_.joinable()) thread_.join();
}

void Housekeeper::RunOnce() {
  auto swept = jobs_.Sweep(lost_after_);
  if (!swept.ok()) {
    spdlog::warn("msg=\"sweep failed\" error=\"{}\"", swept.status().message());
  } else if (swept->leases_expired || swept->lost_expired || swept->agents_offline) {
    spdlog::info("msg=\"sweep\" leases_expired={} lost_expired={} agents_offline={}",
                 swept->leases_expired, swept->lost_expired, swept->agents_offline);
    work_.Notify();
  }
  sessions_.ExpireSilentSessions();
  if (absl::Now() >= next_trim_) {
    // glibc keeps what was freed in its per-thread arenas for reuse and gives back only the
    // top of the main heap: a controller that served a burst of comparisons (bootstraps on
    // helper threads) or a thousand agents' connection handshakes held tens of MiB of free
    // memory for ever. Handing free pages back to the kernel costs 0.1–10 ms.
    next_trim_ = absl::Now() + kTrimEvery;
    const absl::Time t0 = absl::Now();
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    spdlog::debug("msg=\"free memory returned\" took_us={}",
                  absl::ToInt64Microseconds(absl::Now() - t0));
  }
  if (retention_ != nullptr && absl::Now() >= next_retention_) {
    next_retention_ = absl::Now() + retention_every_;
    Retain();
  }
}

void Housekeeper::Retain() {
  // A few seconds at a time, so that a large backlog (retention newly enabled on a big store)
  // does not hold up lease sweeping; the rest follows on the next rounds.
  auto r = retention_->Collect(ages_, /*dry_run=*/false, absl::Now() + absl::Seconds(5));
  if (r.ok() && r->more()) next_retention_ = absl::Now();
  if (!r.ok()) {
    spdlog::warn("msg=\"retention failed\" error=\"{}\"", r.status().message());
    return;
  }
  for (const auto& k : r->kinds()) {
    if (k.runs() == 0) continue;
    metrics_->retention_removed_bytes(k.kind()).Increment(static_cast<double>(k.bytes()));
    spdlog::info("msg=\"retention removed\" kind={} older_than_days={} runs={} items={} bytes={}",
                 k.kind(), k.older_than_days(), k.runs(), k.items(), k.bytes());
  }
}

}  // namespace perfgate::controller
