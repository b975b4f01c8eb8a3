// The fault schedule's two halves: FaultRunner firing and undoing actions on time against a
// recording HostControl (the seam; the real hosts are in tests/integration/
// fault_schedule_test.cc), and AddFaultResults reading before / during / after and recovery
// out of a load timeline built by hand.
#include "agent/bench/faults.h"

#include <map>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "agent/load/pacer.h"
#include "tests/unit/agent/bench_fixture.h"

namespace perfgate::agent {
namespace {

// Records every call with its time since construction; Kill of "broken" fails.
class RecordingHosts : public HostControl {
 public:
  RecordingHosts() : t0_(MonotonicNowNs()) {}
  std::vector<HostInfo> TestHosts() const override {
    return {{"db-1", "db", "10.0.0.2"}, {"db-2", "db", "10.0.0.3"}, {"web-1", "web", "10.0.0.4"}};
  }
  absl::Status Kill(const std::string& s, const std::string& h) override {
    if (s == "broken") return absl::FailedPreconditionError("broken is not running");
    return Log("kill " + s + " " + h);
  }
  absl::Status Restart(const std::string& s, const std::string& h) override {
    return Log("restart " + s + " " + h);
  }
  absl::Status Pause(const std::string& s, const std::string& h, bool pause) override {
    return Log((pause ? "pause " : "resume ") + s + " " + h);
  }
  absl::Status Partition(const std::string& h, bool both) override {
    return Log("partition " + h + (both ? " both" : " one"));
  }
  absl::Status Heal(const std::string& h) override { return Log("heal " + h); }
  absl::Status SetNetem(const std::string& h, absl::Duration d, absl::Duration j,
                        double loss) override {
    return Log(absl::StrCat("netem ", h, " ", absl::ToInt64Milliseconds(d), " ",
                            absl::ToInt64Milliseconds(j), " ", loss));
  }
  absl::Status ClearNetem(const std::string& h) override { return Log("clear " + h); }
  absl::Status WaitRestartedReady() override { return Log("wait ready"); }

  std::vector<std::pair<std::string, int64_t>> calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }

 private:
  absl::Status Log(const std::string& what) {
    absl::MutexLock l(&mu_);
    calls_.emplace_back(what, (MonotonicNowNs() - t0_) / 1'000'000);
    return absl::OkStatus();
  }
  const int64_t t0_;
  absl::Mutex mu_;
  std::vector<std::pair<std::string, int64_t>> calls_;
};

v1::FaultSpec Fault(v1::FaultSpec::Action a, uint32_t at, uint32_t duration,
                    const std::string& target, const std::string& service = "") {
  v1::FaultSpec f;
  f.set_action(a);
  f.set_at_ms(at);
  f.set_duration_ms(duration);
  f.set_target(target);
  f.set_service(service);
  return f;
}

class FaultRunnerTest : public BenchFilesTest {};

TEST_F(FaultRunnerTest, FiresAndUndoesOnTimeAndFindsTheLeader) {
  v1::FaultSchedule s;
  *s.add_actions() = Fault(v1::FaultSpec::ACTION_KILL, 100, 150, "leader", "pg");
  s.mutable_actions(0)->set_name("kill-leader");
  *s.add_actions() = Fault(v1::FaultSpec::ACTION_PARTITION, 150, 0, "web-1");
  *s.add_actions() = Fault(v1::FaultSpec::ACTION_PAUSE, 200, 50, "random:db", "pg");
  s.mutable_leader()->set_command("echo 10.0.0.3:5432");
  RecordingHosts hosts;
  FaultRunner runner(s, hosts, *ctx_, 7);
  runner.Start(MonotonicNowNs());
  absl::SleepFor(absl::Milliseconds(400));
  std::vector<v1::FaultRecord> records;
  std::string not_applied;
  ASSERT_TRUE(runner.Finish(&records, &not_applied).ok());
  EXPECT_EQ(not_applied, "");
  ASSERT_EQ(records.size(), 3u);
  // The leader probe's answer (an address with a port) names db-2.
  EXPECT_EQ(records[0].name(), "kill-leader");
  EXPECT_EQ(records[0].host(), "db-2");
  EXPECT_NE(records[0].detail().find("leader probe answered '10.0.0.3:5432'"), std::string::npos);
  EXPECT_EQ(records[1].name(), "partition-2");
  EXPECT_EQ(records[2].target(), "random:db");
  EXPECT_TRUE(records[2].host() == "db-1" || records[2].host() == "db-2") << records[2].host();
  for (const auto& r : records) {
    EXPECT_GE(r.applied_ms(), r.scheduled_ms()) << r.name();
    // On time, not at the window's end (400 ms): a fault whose target is found by the leader
    // probe waits for a shell, which takes tens of ms under a sanitizer on a busy machine.
    EXPECT_LT(r.applied_ms(), r.scheduled_ms() + 150) << r.name();
  }
  EXPECT_GE(records[0].undone_ms(), 250);
  EXPECT_EQ(records[1].undone_ms(), -1) << "no duration: undone after the window";
  // In time order; what was still in force is undone at Finish, then restarted instances are
  // waited for.
  std::vector<std::string> order;
  for (const auto& [what, at] : hosts.calls()) order.push_back(what);
  const std::string pause = "pause pg " + records[2].host();
  const std::string resume = "resume pg " + records[2].host();
  EXPECT_EQ(order,
            (std::vector<std::string>{"kill pg db-2", "partition web-1 both", pause,
                                      "restart pg db-2", resume, "heal web-1", "wait ready"}));
  EXPECT_NE(Log().find("fault kill-leader: kill pg on db-2 at +"), std::string::npos) << Log();
}

TEST_F(FaultRunnerTest, AFaultThatCannotBeAppliedStopsTheScheduleAndSaysWhy) {
  v1::FaultSchedule s;
  *s.add_actions() = Fault(v1::FaultSpec::ACTION_PAUSE, 10, 0, "db-1", "pg");
  *s.add_actions() = Fault(v1::FaultSpec::ACTION_KILL, 30, 0, "leader", "pg");
  *s.add_actions() = Fault(v1::FaultSpec::ACTION_KILL, 60, 0, "db-2", "pg");
  s.mutable_leader()->set_command("echo somewhere-else");
  RecordingHosts hosts;
  FaultRunner runner(s, hosts, *ctx_, 1);
  runner.Start(MonotonicNowNs());
  absl::SleepFor(absl::Milliseconds(150));
  std::vector<v1::FaultRecord> records;
  std::string not_applied;
  ASSERT_TRUE(runner.Finish(&records, &not_applied).ok());
  EXPECT_NE(not_applied.find("fault kill-2 (kill leader at +30 ms) could not be applied: the "
                             "leader probe answered 'somewhere-else', which is no test host"),
            std::string::npos)
      << not_applied;
  EXPECT_EQ(records[1].applied_ms(), -1);
  EXPECT_EQ(records[2].applied_ms(), -1) << "nothing fires after a fault that could not be";
  // The pause still in force is undone.
  std::vector<std::string> order;
  for (const auto& [what, at] : hosts.calls()) order.push_back(what);
  EXPECT_EQ(order, (std::vector<std::string>{"pause pg db-1", "resume pg db-1", "wait ready"}));
}

// A timeline of `n` slices of 100 ms, each with `per` requests answered in `latency_us`.
std::vector<TimelineSlice> Flat(int n, int per, int64_t latency_us) {
  std::vector<TimelineSlice> t(n);
  for (auto& s : t) {
    s.completed = per;
    s.latency.Record(latency_us, per);
  }
  return t;
}

void Set(std::vector<TimelineSlice>* t, int from, int to, int per, int64_t latency_us, int errors) {
  for (int k = from; k < to; ++k) {
    (*t)[k] = TimelineSlice{};
    (*t)[k].completed = per - errors;
    (*t)[k].errors = errors;
    (*t)[k].latency.Record(latency_us, per - errors);
  }
}

double Value(const v1::RepetitionResult& r, const std::string& name) {
  const v1::Measurement* m = Find(r, name);
  return m ? m->value() : -1;
}

v1::FaultRecord Applied(const std::string& name, int64_t at, int64_t undone) {
  v1::FaultRecord f;
  f.set_name(name);
  f.set_applied_ms(at);
  f.set_undone_ms(undone);
  f.set_recovery_ms(-1);
  return f;
}

TEST(FaultResultsTest, BeforeDuringAfterAndRecovery) {
  // 12 s: 1 ms until the fault at 5 s; half the requests fail and the rest take 50 ms while it
  // holds (2 s); then 1 s at 3 ms (outside the 20 % band) before it is back at 1 ms.
  auto t = Flat(120, 20, 1000);
  Set(&t, 50, 70, 20, 50'000, 10);
  Set(&t, 70, 80, 20, 3000, 0);
  std::vector<v1::FaultRecord> records = {Applied("kill", 5000, 7000)};
  v1::RepetitionResult r;
  AddFaultResults({}, t, absl::Milliseconds(100), 12'000, &records, &r);
  EXPECT_NEAR(Value(r, "fault.kill.before.p99"), 1.0, 0.07);
  EXPECT_EQ(Value(r, "fault.kill.before.error_ratio"), 0);
  EXPECT_NEAR(Value(r, "fault.kill.during.p99"), 50, 3.5);
  EXPECT_DOUBLE_EQ(Value(r, "fault.kill.during.error_ratio"), 0.5);
  EXPECT_NEAR(Value(r, "fault.kill.after.p99"), 3, 0.2);
  EXPECT_EQ(Value(r, "fault.kill.after.error_ratio"), 0);
  // Back in the band from 8 s, and it stays there for the default 3 s hold.
  EXPECT_DOUBLE_EQ(records[0].recovery_ms(), 3000);
  EXPECT_DOUBLE_EQ(Value(r, "fault.kill.recovery"), 3000);
  EXPECT_NE(records[0].recovery_note().find("recovered"), std::string::npos);

  // A wider band takes the 3 ms stretch as recovered: from the undo at 7 s.
  v1::RecoveryBand wide;
  wide.set_p99_band(3.5);
  records = {Applied("kill", 5000, 7000)};
  v1::RepetitionResult r2;
  AddFaultResults(wide, t, absl::Milliseconds(100), 12'000, &records, &r2);
  EXPECT_DOUBLE_EQ(records[0].recovery_ms(), 2000);
}

TEST(FaultResultsTest, NotRecoveredAndNoBaselineAreSaidSo) {
  auto t = Flat(100, 20, 1000);
  Set(&t, 50, 100, 20, 1000, 2);  // 10 % errors to the end
  std::vector<v1::FaultRecord> records = {Applied("part", 5000, 6000)};
  v1::RepetitionResult r;
  AddFaultResults({}, t, absl::Milliseconds(100), 10'000, &records, &r);
  EXPECT_EQ(records[0].recovery_ms(), -1);
  EXPECT_NE(records[0].recovery_note().find("not recovered within the window"), std::string::npos)
      << records[0].recovery_note();
  EXPECT_EQ(Find(r, "fault.part.recovery"), nullptr) << "no figure for a fault not recovered";

  records = {Applied("early", 0, 1000)};
  v1::RepetitionResult r2;
  AddFaultResults({}, t, absl::Milliseconds(100), 10'000, &records, &r2);
  EXPECT_EQ(records[0].recovery_note(), "no requests answered before the fault to recover to");
}

TEST(FaultResultsTest, EachFaultsStretchesEndAtTheNext) {
  // Two faults: the second's "before" starts at the first's undo; the first's "after" ends at
  // the second. The first is not back in the band before the second strikes.
  auto t = Flat(100, 20, 1000);
  Set(&t, 20, 40, 20, 20'000, 0);  // first fault 2 s .. 4 s, slow
  Set(&t, 40, 45, 20, 5000, 0);    // still slow after its undo, until the second at 4.5 s
  Set(&t, 45, 50, 20, 1000, 5);    // second fault: errors
  std::vector<v1::FaultRecord> records = {Applied("a", 2000, 4000), Applied("b", 4500, 5000)};
  v1::RepetitionResult r;
  AddFaultResults({}, t, absl::Milliseconds(100), 10'000, &records, &r);
  EXPECT_NEAR(Value(r, "fault.a.after.p99"), 5, 0.35);
  EXPECT_NE(records[0].recovery_note().find("not recovered before the next fault"),
            std::string::npos)
      << records[0].recovery_note();
  // b's baseline is 4 s .. 4.4 s (the slice before it left out): 5 ms, no errors.
  EXPECT_NEAR(Value(r, "fault.b.before.p99"), 5, 0.35);
  EXPECT_DOUBLE_EQ(Value(r, "fault.b.during.error_ratio"), 0.25);
  EXPECT_DOUBLE_EQ(records[1].recovery_ms(), 500) << records[1].recovery_note();
}

}  // namespace
}  // namespace perfgate::agent
