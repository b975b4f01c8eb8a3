// A benchmark attempt's context for unit tests: a journal in a temporary directory, a step
// runner, a workdir and the template variables an attempt has.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "agent/exec/bench_context.h"
#include "agent/spool/attempt_journal.h"
#include "gtest/gtest.h"
#include "tests/harness/processes.h"
#include "tests/harness/test_postgres.h"  // MakeTempDir

namespace perfgate::agent {

// A repetition's measurement by name, or null.
inline const v1::Measurement* Find(const v1::RepetitionResult& r, const std::string& name) {
  for (const auto& m : r.measurements())
    if (m.name() == name) return &m;
  return nullptr;
}

class BenchFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = perfgate::testing::MakeTempDir("bench");
    v1::Assign a;
    a.set_attempt_id(42);
    a.set_epoch(1);
    journal_ = *AttemptJournal::Create(dir_ + "/attempt", a);
    steps_ = std::make_unique<StepRunner>(*journal_, cancel_);
    ctx_ = std::make_unique<BenchContext>(
        BenchContext{*journal_, *steps_, cancel_, dir_ + "/work", {{"host", "127.0.0.1"}}});
    ctx_->vars["workdir"] = ctx_->workdir;
    ctx_->vars["attempt_id"] = "42";
    std::filesystem::create_directories(ctx_->workdir);
  }
  std::string Log() {
    std::string out;
    auto chunks = journal_->Unacked(1 << 30);
    for (const auto& c : *chunks) out += c.data();
    return out;
  }
  void Write(const std::string& path, const std::string& data) { std::ofstream(path) << data; }
  void Sh(const std::string& cmd) { ASSERT_EQ(system(cmd.c_str()), 0) << cmd; }

  std::string dir_;
  std::atomic<bool> cancel_{false};
  std::unique_ptr<AttemptJournal> journal_;
  std::unique_ptr<StepRunner> steps_;
  std::unique_ptr<BenchContext> ctx_;
};

}  // namespace perfgate::agent
