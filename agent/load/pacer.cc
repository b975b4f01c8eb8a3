#include "agent/load/pacer.h"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace perfgate::agent {

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

SpinWindow::SpinWindow(int64_t fixed_ns)
    : fixed_ns_(fixed_ns), window_ns_(fixed_ns > 0 ? fixed_ns : kMaxNs) {
  ring_.reserve(kSamples);
}

void SpinWindow::Record(int64_t lateness_ns) {
  if (fixed_ns_ > 0) return;
  lateness_ns = std::max<int64_t>(0, lateness_ns);
  if (ring_.size() < static_cast<size_t>(kSamples)) {
    ring_.push_back(lateness_ns);
  } else {
    ring_[next_] = lateness_ns;
    next_ = (next_ + 1) % kSamples;
  }
  // Late beyond the window: the send it guarded was late too. Widen now, not at the next
  // recompute, so a machine turning busy costs a few late sends rather than a stretch of them.
  if (lateness_ns + kMarginNs > window_ns_)
    window_ns_ = std::min(kMaxNs, lateness_ns + kMarginNs);
  if (++since_recompute_ >= kRecomputeEvery && ring_.size() >= static_cast<size_t>(kSamples / 4)) {
    since_recompute_ = 0;
    Recompute();
  }
}

void SpinWindow::Recompute() {
  std::vector<int64_t> v(ring_);
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(v.size() * 0.99));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  window_ns_ = std::clamp(v[k] + kMarginNs, kMinNs, kMaxNs);
}

absl::StatusOr<Pacer> Pacer::Create(int epfd, uint64_t tag, int64_t fixed_window_ns) {
  const int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("timerfd_create: ", strerror(errno)));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    const int e = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("epoll_ctl(timerfd): ", strerror(e)));
  }
  return Pacer(epfd, fd, fixed_window_ns);
}

Pacer::Pacer(int epfd, int fd, int64_t fixed_window_ns)
    : epfd_(epfd), fd_(fd), window_(fixed_window_ns) {}

Pacer::Pacer(Pacer&& o) noexcept
    : epfd_(o.epfd_), fd_(o.fd_), window_(o.window_), armed_for_ns_(o.armed_for_ns_) {
  o.fd_ = -1;
}

Pacer::~Pacer() {
  if (fd_ >= 0) close(fd_);  // closing removes it from the epoll set
}

int Pacer::Timeout(int64_t now_ns, int64_t next_ns, int cap_ms) {
  const int64_t wake = next_ns - window_.ns();
  if (wake <= now_ns) return 0;
  if (armed_for_ns_ != wake) {
    itimerspec its{};
    its.it_value.tv_sec = wake / 1'000'000'000;
    its.it_value.tv_nsec = wake % 1'000'000'000;
    if (timerfd_settime(fd_, TFD_TIMER_ABSTIME, &its, nullptr) != 0) return 0;  // poll instead
    armed_for_ns_ = wake;
  }
  return cap_ms;
}

void Pacer::OnTimer(int64_t now_ns) {
  uint64_t expirations = 0;
  if (read(fd_, &expirations, sizeof expirations) != sizeof expirations) return;  // spurious
  if (armed_for_ns_ != 0) window_.Record(now_ns - armed_for_ns_);
  armed_for_ns_ = 0;
}

}  // namespace perfgate::agent
