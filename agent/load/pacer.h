// Waiting for an open-loop schedule's next intended send without burning a core. A worker's
// epoll set holds a timerfd armed (absolute CLOCK_MONOTONIC) a short *spin window* before the
// send; the rest is polled (epoll timeout 0), because a sleeping thread can wake late. Polling
// the whole gap instead, as the generator once did whenever a send was under 1 ms away, spent
// about half a core at 400 req/s: CPU taken from the system under test on the same machine,
// and the reason its latency then depended on scheduling collisions with the generator.
//
// The window adapts to how late this machine's wake-ups are (SpinWindow): on a quiet dedicated
// benchmark machine it stays near its floor; where wake-ups run late it widens, up to the old
// behaviour, so that the generator's own lag stays small either way. At high rates the gap
// between sends is shorter than the window and the worker polls, as before.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace perfgate::agent {

// The clock every time here is in: CLOCK_MONOTONIC, nanoseconds (the timerfd's clock).
int64_t MonotonicNowNs();

// The spin window, learnt from the lateness of recent timer wake-ups: the 99th percentile of
// the last kSamples, plus a margin, within [kMin, kMax]; kMax until enough wake-ups were seen.
// A wake-up later than the current window widens it at once. Pure; not thread-safe (one per
// worker).
class SpinWindow {
 public:
  static constexpr int64_t kMinNs = 30'000;
  static constexpr int64_t kMaxNs = 1'000'000;
  static constexpr int64_t kMarginNs = 20'000;
  static constexpr int kSamples = 256;
  static constexpr int kRecomputeEvery = 32;

  // fixed_ns > 0: always that window (perfgate load --spin-window, for comparisons).
  explicit SpinWindow(int64_t fixed_ns = 0);
  // A timer wake-up `lateness_ns` after the time it was armed for.
  void Record(int64_t lateness_ns);
  int64_t ns() const { return window_ns_; }

 private:
  void Recompute();
  int64_t fixed_ns_;
  int64_t window_ns_;
  std::vector<int64_t> ring_;
  size_t next_ = 0;
  int since_recompute_ = 0;
};

// One worker's timer. Not thread-safe; owned by the worker thread.
class Pacer {
 public:
  // Adds a timerfd to `epfd`, its events tagged `tag`. INTERNAL with errno's text on failure.
  static absl::StatusOr<Pacer> Create(int epfd, uint64_t tag, int64_t fixed_window_ns = 0);
  Pacer(Pacer&& o) noexcept;
  Pacer& operator=(Pacer&&) = delete;
  ~Pacer();

  // The epoll_wait timeout (ms) to use while the next send is due at `next_ns`: 0 to poll when
  // it is within the spin window (or past), else `cap_ms` with the timer armed to wake the
  // worker at next_ns - window.
  int Timeout(int64_t now_ns, int64_t next_ns, int cap_ms);
  // The timer's fd was readable (at now_ns): clears it and learns how late it fired.
  void OnTimer(int64_t now_ns);
  int64_t window_ns() const { return window_.ns(); }

 private:
  Pacer(int epfd, int fd, int64_t fixed_window_ns);
  int epfd_;
  int fd_;
  SpinWindow window_;
  int64_t armed_for_ns_ = 0;  // 0 = not armed
};

}  // namespace perfgate::agent
