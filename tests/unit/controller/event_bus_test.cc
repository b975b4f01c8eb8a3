#include "controller/events/event_bus.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"

namespace perfgate::controller {
namespace {

TEST(EventBusTest, NotifyBeforeWaitIsNotMissed) {
  EventBus bus;
  uint64_t seen = bus.generation();
  bus.Notify();  // between reading the generation and waiting: must still wake
  EXPECT_TRUE(bus.WaitForChange(seen, absl::ZeroDuration()));
}

TEST(EventBusTest, WakesAWaiter) {
  EventBus bus;
  uint64_t seen = bus.generation();
  std::thread t([&] { bus.Notify(); });
  EXPECT_TRUE(bus.WaitForChange(seen, absl::Seconds(30)));
  t.join();
  EXPECT_FALSE(bus.WaitForChange(bus.generation(), absl::Milliseconds(1)));
}

}  // namespace
}  // namespace perfgate::controller
