// The open-loop pacer: the spin window learnt from wake-up lateness (pure, on constructed
// figures), and the timer's contract on a real timerfd (what it asks epoll to do; no timing is
// asserted).
#include "agent/load/pacer.h"

#include <sys/epoll.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace perfgate::agent {
namespace {

int64_t NowNs() { return MonotonicNowNs(); }

TEST(SpinWindowTest, StartsWideThenNarrowsToTheLatenessThisMachineShows) {
  SpinWindow w;
  EXPECT_EQ(w.ns(), SpinWindow::kMaxNs) << "until wake-ups were seen, the old behaviour";
  for (int i = 0; i < SpinWindow::kSamples; ++i) w.Record(5'000);  // 5 us late, always
  EXPECT_EQ(w.ns(), SpinWindow::kMinNs) << "5 us + margin is under the floor";
  for (int i = 0; i < SpinWindow::kSamples; ++i) w.Record(i % 100 == 0 ? 400'000 : 40'000);
  // Three of the last 256 wake-ups were 400 us late, more than 1 %: the 99th percentile is one
  // of them, and the window covers it plus the margin.
  EXPECT_EQ(w.ns(), 400'000 + SpinWindow::kMarginNs);
  for (int i = 0; i < SpinWindow::kSamples; ++i) w.Record(40'000);
  EXPECT_EQ(w.ns(), 40'000 + SpinWindow::kMarginNs) << "the late ones aged out";
}

TEST(SpinWindowTest, AWakeUpLaterThanTheWindowWidensItAtOnceWithinTheCeiling) {
  SpinWindow w;
  for (int i = 0; i < SpinWindow::kSamples; ++i) w.Record(0);
  ASSERT_EQ(w.ns(), SpinWindow::kMinNs);
  w.Record(250'000);  // one late wake-up, before any recompute
  EXPECT_EQ(w.ns(), 250'000 + SpinWindow::kMarginNs);
  w.Record(50'000'000);  // 50 ms: the machine stalled; never spin more than the ceiling
  EXPECT_EQ(w.ns(), SpinWindow::kMaxNs);
  w.Record(-7);  // a clock read before the armed time counts as on time
  EXPECT_EQ(w.ns(), SpinWindow::kMaxNs);
}

TEST(SpinWindowTest, AFixedWindowNeverMoves) {
  SpinWindow w(200'000);
  EXPECT_EQ(w.ns(), 200'000);
  for (int i = 0; i < 1000; ++i) w.Record(i % 2 ? 0 : 900'000);
  EXPECT_EQ(w.ns(), 200'000);
}

TEST(PacerTest, SleepsOnItsTimerWhenTheSendIsFarAndPollsWhenItIsNear) {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  constexpr uint64_t kTag = 77;
  auto p = Pacer::Create(ep, kTag, /*fixed_window_ns=*/100'000);
  ASSERT_TRUE(p.ok()) << p.status();
  const int64_t now = NowNs();
  EXPECT_EQ(p->Timeout(now, now + 50'000, 10), 0) << "inside the window: poll";
  EXPECT_EQ(p->Timeout(now, now - 1, 10), 0) << "overdue: poll";
  // 20 ms away: the timer is armed for 100 us before it and epoll may wait the cap.
  const int64_t next = now + 20'000'000;
  EXPECT_EQ(p->Timeout(now, next, 10), 10);
  // The timer, not the cap, ends the wait: epoll reports our tag (within a generous bound).
  epoll_event ev{};
  int n = 0;
  for (int i = 0; i < 200 && n == 0; ++i) {
    n = epoll_wait(ep, &ev, 1, 10);
  }
  ASSERT_EQ(n, 1);
  EXPECT_EQ(ev.data.u64, kTag);
  EXPECT_GE(NowNs(), next - 100'000) << "not before the armed time";
  p->OnTimer(NowNs());
  // Cleared: nothing more to report until armed again.
  EXPECT_EQ(epoll_wait(ep, &ev, 1, 0), 0);
  close(ep);
}

}  // namespace
}  // namespace perfgate::agent
