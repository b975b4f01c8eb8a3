#include "controller/dispatch/housekeeper.h"

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
}

}  // namespace perfgate::controller
