// A controller on a fresh database with agents on demand, all real processes.
#pragma once

#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>

#include "common/process/subprocess.h"
#include "gtest/gtest.h"
#include "tests/harness/processes.h"
#include "tests/harness/test_postgres.h"

namespace perfgate::testing {

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("perfgate-it");
    dsn_ = TestPostgres::Get().NewDatabase();
  }
  void TearDown() override {
    if (HasFailure()) {
      if (controller_) std::cerr << "---- controller log ----\n" << controller_->process().Log();
      for (auto& [name, a] : agents_)
        std::cerr << "---- agent " << name << " log ----\n" << a->process().Log();
    }
    agents_.clear();
    // A controller running its own PostgreSQL stops it only when it is asked to stop: killed,
    // it would leave the server running after the test.
    if (controller_ && embedded_postgres_) controller_->process().Terminate();
    controller_.reset();
  }
  void StartController(ControllerOptions o = {}) {
    embedded_postgres_ = !o.data_dir.empty();
    if (o.data_dir.empty()) o.dsn = dsn_;
    controller_ = std::make_unique<ControllerProcess>(dir_, o);
    stub_ = controller_->ControllerStub();
  }
  AgentProcess& StartAgent(const std::string& name, std::vector<std::string> extra_args = {}) {
    agents_.erase(name);
    auto& a = agents_[name];
    a = std::make_unique<AgentProcess>(name, controller_->agent_address(), dir_ + "/agent-" + name,
                                       std::move(extra_args));
    EXPECT_TRUE(WaitUntil([&] { return AgentConnected(name); }, absl::Seconds(20)))
        << name << " never connected";
    return *a;
  }
  bool AgentConnected(const std::string& name) {
    v1::ListAgentsResponse resp;
    auto ctx = Ctx();
    if (!stub_->ListAgents(ctx.get(), v1::ListAgentsRequest(), &resp).ok()) return false;
    for (const auto& a : resp.agents()) {
      if (a.name() == name && a.connected()) return true;
    }
    return false;
  }
  // A directory under ours that job code may write in (it may run as the agents' job user, who
  // can only pass through `dir_`): for the files a test's job leaves for the test to read.
  std::string JobDrop() {
    const std::string drop = dir_ + "/job-drop";
    mkdir(drop.c_str(), 0777);
    chmod(drop.c_str(), 0777);
    return drop;
  }
  // Runs the perfgate CLI; returns its exit code and fills *out with stdout+stderr.
  int Cli(const std::vector<std::string>& args, std::string* out) {
    common::SpawnOptions o;
    o.argv = {BinaryPath("perfgate"), "--controller", controller_->address()};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    int code = -1;
    auto r = common::RunAndCapture(o, &code);
    *out = r.ok() ? *r : std::string(r.status().message());
    return code;
  }

  std::string dir_;
  std::string dsn_;
  std::unique_ptr<ControllerProcess> controller_;
  bool embedded_postgres_ = false;  // the controller started with a data dir of its own
  std::unique_ptr<v1::Controller::Stub> stub_;
  std::map<std::string, std::unique_ptr<AgentProcess>> agents_;
};

}  // namespace perfgate::testing
