#include "controller/events/controller_event.h"

#include "gtest/gtest.h"

namespace perfgate::controller {
namespace {

TEST(ControllerEventTest, EveryEventRoundTripsThroughItsPayload) {
  using Kind = ControllerEvent::Kind;
  EXPECT_EQ(EncodeEvent(ControllerEvent::Work()), "work");
  EXPECT_EQ(EncodeEvent(ControllerEvent::RunChanged(42)), "run:42");
  EXPECT_EQ(EncodeEvent(ControllerEvent::StopAttempt(7, "bm-1:rack")), "stop:7:bm-1:rack");
  EXPECT_EQ(EncodeEvent(ControllerEvent::Outbox()), "outbox");
  for (const ControllerEvent& e :
       {ControllerEvent::Work(), ControllerEvent::RunChanged(42),
        ControllerEvent::StopAttempt(7, "bm-1:rack"), ControllerEvent::Outbox(),
        ControllerEvent::Of(Kind::kAnything)}) {
    auto d = DecodeEvent(EncodeEvent(e));
    ASSERT_TRUE(d.has_value()) << EncodeEvent(e);
    EXPECT_EQ(d->kind, e.kind);
    EXPECT_EQ(d->run_id, e.run_id);
    EXPECT_EQ(d->attempt_id, e.attempt_id);
    EXPECT_EQ(d->agent, e.agent) << "an agent name may itself contain ':'";
  }
}

TEST(ControllerEventTest, MalformedPayloadsAreIgnored) {
  for (const char* p : {"", "works", "run:", "run:x", "run:-3", "run:0", "stop:", "stop:5",
                        "stop:5:", "stop:x:agent", "stop:0:agent", "STOP:1:a"}) {
    EXPECT_FALSE(DecodeEvent(p).has_value()) << p;
  }
}

}  // namespace
}  // namespace perfgate::controller
