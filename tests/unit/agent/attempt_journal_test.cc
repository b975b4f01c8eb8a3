#include "agent/spool/attempt_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tests/harness/test_postgres.h"

namespace perfgate::agent {
namespace {

v1::Assign MakeAssign(int64_t id) {
  v1::Assign a;
  a.set_attempt_id(id);
  a.set_epoch(100 + id);
  a.set_job_id(5);
  return a;
}

TEST(AttemptJournalTest, SurvivesReopenWithChunksAckAndResult) {
  std::string dir = perfgate::testing::MakeTempDir("journal") + "/a1";
  {
    auto j = AttemptJournal::Create(dir, MakeAssign(1));
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_EQ(*(*j)->AppendLog(v1::LOG_STREAM_STDOUT, "one\n"), 0);
    EXPECT_EQ(*(*j)->AppendLog(v1::LOG_STREAM_STDERR, "two\n"), 1);
    EXPECT_EQ(*(*j)->AppendLog(v1::LOG_STREAM_STDOUT, std::string(3000, 'x')), 2);
    ASSERT_TRUE((*j)->AddProcess({4242, 99}).ok());
    ASSERT_TRUE((*j)->AddProcess({4343, 7}).ok());
    ASSERT_TRUE((*j)->AddProcess({4444, 8}).ok());
    ASSERT_TRUE((*j)->RemoveProcess(4343).ok());
    v1::RepetitionResult r;
    r.set_repetition(2);
    r.add_measurements()->set_name("m");
    ASSERT_TRUE((*j)->AddResult(r).ok());
    r.set_repetition(1);
    ASSERT_TRUE((*j)->AddResult(r).ok());
    r.set_repetition(3);
    ASSERT_TRUE((*j)->AddResult(r).ok());
    ASSERT_TRUE((*j)->AckResults({3}).ok());
    ASSERT_TRUE((*j)->Ack(1).ok());
    EXPECT_TRUE(absl::IsAlreadyExists(AttemptJournal::Create(dir, MakeAssign(1)).status()));
  }
  auto j = AttemptJournal::Open(dir);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)->assign().epoch(), 101);
  EXPECT_EQ((*j)->chunk_count(), 3);
  EXPECT_EQ((*j)->acked(), 1);
  auto procs = (*j)->processes();
  ASSERT_EQ(procs.size(), 2u);
  EXPECT_EQ(procs[0].pgid, 4242);
  EXPECT_EQ(procs[1].pgid, 4444);
  EXPECT_EQ(procs[1].start_ticks, 8u);
  auto results = (*j)->UnackedResults();
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 2u);
  EXPECT_EQ((*results)[0].repetition(), 1);
  EXPECT_EQ((*results)[1].repetition(), 2);
  EXPECT_EQ((*results)[1].measurements(0).name(), "m");
  EXPECT_EQ((*j)->result_count(), 3);
  auto unacked = (*j)->Unacked(1 << 20);
  ASSERT_TRUE(unacked.ok());
  ASSERT_EQ(unacked->size(), 2u);
  EXPECT_EQ((*unacked)[0].seq(), 1);
  EXPECT_EQ((*unacked)[0].stream(), v1::LOG_STREAM_STDERR);
  EXPECT_EQ((*unacked)[0].data(), "two\n");
  EXPECT_EQ((*unacked)[1].data().size(), 3000u);
  // A byte budget smaller than one chunk still returns one chunk (progress is guaranteed).
  EXPECT_EQ((*j)->Unacked(10)->size(), 1u);
  v1::CompleteAttemptRequest r;
  r.set_outcome(v1::ATTEMPT_OUTCOME_SUCCEEDED);
  ASSERT_TRUE((*j)->Finish(r).ok());
  auto again = AttemptJournal::Open(dir);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->result().has_value());
  EXPECT_EQ((*again)->result()->log_chunks(), 3);
  ASSERT_TRUE((*again)->Remove().ok());
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(AttemptJournalTest, TornTailRecordIsCutOff) {
  std::string dir = perfgate::testing::MakeTempDir("journal") + "/a2";
  {
    auto j = AttemptJournal::Create(dir, MakeAssign(2));
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->AppendLog(v1::LOG_STREAM_STDOUT, "complete\n").ok());
  }
  // A crash in the middle of an append leaves a header promising more than was written.
  int fd = open((dir + "/log.spool").c_str(), O_WRONLY | O_APPEND);
  uint32_t len = 1000;
  ASSERT_EQ(write(fd, &len, 4), 4);
  ASSERT_EQ(write(fd, "\x01partial", 8), 8);
  close(fd);
  auto j = AttemptJournal::Open(dir);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)->chunk_count(), 1);
  EXPECT_EQ(*(*j)->AppendLog(v1::LOG_STREAM_STDOUT, "next\n"), 1);
  auto all = (*j)->Unacked(1 << 20);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].data(), "next\n");
}

// A write the spool could not take (a full disk: the spool is /dev/full here) is kept as the
// journal's write error, the first one, so the executor ends the attempt as an infrastructure
// failure instead of passing it with lines missing; the completion is kept in memory even when
// its file cannot be written, so the attempt still ends.
TEST(AttemptJournalTest, AFailedWriteIsKeptAsTheJournalsWriteError) {
  std::string dir = perfgate::testing::MakeTempDir("journal") + "/a3";
  {
    auto j = AttemptJournal::Create(dir, MakeAssign(3));
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_TRUE((*j)->WriteError().ok());
  }
  ASSERT_EQ(unlink((dir + "/log.spool").c_str()), 0);
  ASSERT_EQ(symlink("/dev/full", (dir + "/log.spool").c_str()), 0);
  auto j = AttemptJournal::Open(dir);
  ASSERT_TRUE(j.ok()) << j.status();
  auto seq = (*j)->AppendLog(v1::LOG_STREAM_STDOUT, "line\n");
  EXPECT_FALSE(seq.ok());
  absl::Status first = (*j)->WriteError();
  EXPECT_NE(first.message().find("append to log spool"), std::string::npos) << first;
  EXPECT_NE(first.message().find("No space left on device"), std::string::npos) << first;
  std::ofstream(dir + "/results") << "not a directory";
  v1::RepetitionResult r;
  r.set_repetition(1);
  EXPECT_FALSE((*j)->AddResult(r).ok());
  EXPECT_EQ((*j)->WriteError(), first) << "the first failure is the one kept";
  // The completion's file cannot be written (its directory is gone): it is still kept.
  std::filesystem::remove_all(dir);
  v1::CompleteAttemptRequest done;
  done.set_outcome(v1::ATTEMPT_OUTCOME_INFRA_FAILURE);
  EXPECT_FALSE((*j)->Finish(done).ok());
  ASSERT_TRUE((*j)->result().has_value());
  EXPECT_EQ((*j)->result()->outcome(), v1::ATTEMPT_OUTCOME_INFRA_FAILURE);
}

// Batches stay within the controller's count per request however small the chunks are (a job
// printing short lines quickly spooled thousands, and the whole batch was refused).
TEST(AttemptJournalTest, UnackedChunksAreBatchedWithinACount) {
  std::string dir = perfgate::testing::MakeTempDir("journal") + "/a4";
  auto j = AttemptJournal::Create(dir, MakeAssign(4));
  ASSERT_TRUE(j.ok()) << j.status();
  for (int i = 0; i < 2500; ++i) ASSERT_TRUE((*j)->AppendLog(v1::LOG_STREAM_STDOUT, "x\n").ok());
  auto batch = (*j)->Unacked(1 << 20, 1000);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->size(), 1000u);
  EXPECT_EQ(batch->back().seq(), 999);
  EXPECT_EQ((*j)->Unacked(1 << 20)->size(), 2500u) << "no count: bytes only";
}

}  // namespace
}  // namespace perfgate::agent
