#include "tests/harness/processes.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/process/subprocess.h"
#include "gtest/gtest.h"

namespace perfgate::testing {

std::string BinaryPath(const std::string& name) {
  return std::string(PERFGATE_BIN_DIR) + "/" + name;
}

bool WaitUntil(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

pid_t WaitForPidFile(const std::string& path, absl::Duration timeout) {
  pid_t pid = 0;
  WaitUntil(
      [&] {
        std::ifstream f(path);
        std::string line;
        // A line and its newline: `echo` writes both at once, so a partial number is never read.
        return std::getline(f, line) && !f.eof() && absl::SimpleAtoi(line, &pid) && pid > 0;
      },
      timeout);
  return pid;
}

ChildProcess::ChildProcess(std::string name, std::vector<std::string> argv, std::string log_path)
    : name_(std::move(name)), log_path_(std::move(log_path)) {
  int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  common::SpawnOptions o;
  o.argv = std::move(argv);
  o.stdout_fd = fd;
  o.stderr_fd = fd;
  auto pid = common::Spawn(o);
  close(fd);
  if (!pid.ok()) ADD_FAILURE() << "cannot start " << name_ << ": " << pid.status();
  pid_ = pid.ok() ? *pid : -1;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) Kill9();
}

void ChildProcess::Kill9() {
  if (pid_ <= 0 || reaped_) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  reaped_ = true;
}

int ChildProcess::Terminate(absl::Duration timeout) {
  if (pid_ <= 0 || reaped_) return -1;
  kill(pid_, SIGTERM);
  auto st = common::WaitFor(pid_, timeout);
  if (!st.ok()) {
    Kill9();
    return -1;
  }
  reaped_ = true;
  return common::ExitCodeFromWaitStatus(*st);
}

bool ChildProcess::Running() {
  if (pid_ <= 0 || reaped_) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

std::string ChildProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ControllerProcess::ControllerProcess(const std::string& dir, ControllerOptions opts) {
  std::string ready = dir + "/controller.ready";
  unlink(ready.c_str());
  grpc_host_ = opts.grpc_host;
  std::vector<std::string> argv = {BinaryPath("perfgate-controller"),
                                   opts.data_dir.empty() ? "--postgres-dsn" : "--data-dir",
                                   opts.data_dir.empty() ? opts.dsn : opts.data_dir,
                                   "--grpc-listen",
                                   opts.grpc_host + ":" + std::to_string(opts.grpc_port),
                                   "--http-listen",
                                   "127.0.0.1:0",
                                   "--ready-file",
                                   ready};
  // Fast timings so that failure paths finish within a test, unless the test names its own.
  for (const auto& [flag, value] :
       std::vector<std::pair<std::string, std::string>>{{"--lease", "3s"},
                                                        {"--sweep-interval", "200ms"},
                                                        {"--lost-after", "3s"},
                                                        {"--retry-backoff", "200ms"},
                                                        {"--heartbeat-interval", "1s"},
                                                        {"--offline-after", "4s"},
                                                        {"--startup-grace", "5s"}}) {
    if (std::find(opts.extra_args.begin(), opts.extra_args.end(), flag) == opts.extra_args.end())
      argv.insert(argv.end(), {flag, value});
  }
  if (!opts.api_token_file.empty()) {
    argv.push_back("--api-token-file");
    argv.push_back(opts.api_token_file);
  }
  argv.insert(argv.end(), opts.extra_args.begin(), opts.extra_args.end());
  proc_ = std::make_unique<ChildProcess>("controller", argv, dir + "/controller.log");
  bool up = WaitUntil([&] { return access(ready.c_str(), R_OK) == 0 || !proc_->Running(); },
                      absl::Seconds(30));
  if (!up || !proc_->Running()) {
    ADD_FAILURE() << "controller did not become ready:\n" << proc_->Log();
    return;
  }
  std::ifstream in(ready);
  auto j = nlohmann::json::parse(in);
  grpc_port_ = j["grpc_port"];
  http_port_ = j["http_port"];
  if (j.contains("agent_port")) agent_port_ = j["agent_port"];
}

std::unique_ptr<v1::Controller::Stub> ControllerProcess::ControllerStub() const {
  return v1::Controller::NewStub(
      grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<v1::AgentGateway::Stub> ControllerProcess::GatewayStub() const {
  return v1::AgentGateway::NewStub(
      grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
}

bool OpenToOthers(const std::string& path) {
  for (std::filesystem::path p = std::filesystem::path(path).parent_path(); !p.empty();
       p = p.parent_path()) {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0 || (st.st_mode & S_IXOTH) == 0) return false;
    if (p == p.root_path()) break;
  }
  return true;
}

AgentProcess::AgentProcess(const std::string& name, const std::string& controller,
                           const std::string& work_dir, std::vector<std::string> extra_args,
                           std::vector<std::string> prefix) {
  std::vector<std::string> argv = std::move(prefix);
  argv.insert(argv.end(), {BinaryPath("perfgate-agent"), "--controller", controller, "--name", name,
                           "--work-dir", work_dir, "--http-listen", "127.0.0.1:0"});
  // Jobs run as the agent's default job user where it can run the tests' binaries: where the
  // build tree is closed to other users, as the agent's own (a test that names --job-user
  // chooses for itself).
  if (std::find(extra_args.begin(), extra_args.end(), "--job-user") == extra_args.end() &&
      !OpenToOthers(BinaryPath("perfgate-sample-target")))
    argv.insert(argv.end(), {"--job-user", ""});
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  proc_ = std::make_unique<ChildProcess>("agent " + name, argv, work_dir + ".log");
}

AgentProcess::~AgentProcess() {
  if (proc_ && proc_->Running()) proc_->Terminate(absl::Seconds(30));
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token, absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  return ctx;
}

v1::Run SubmitCommand(v1::Controller::Stub& stub, const std::string& command,
                      const std::string& token) {
  v1::SubmitRunRequest req;
  auto* job = req.mutable_spec()->add_jobs();
  job->set_name("cmd");
  job->mutable_command()->set_command(command);
  job->mutable_command()->set_cancel_grace_seconds(2);
  v1::SubmitRunResponse resp;
  auto ctx = Ctx(token);
  grpc::Status s = stub.SubmitRun(ctx.get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.run();
}

v1::Run GetRun(v1::Controller::Stub& stub, int64_t id, const std::string& token) {
  v1::GetRunRequest req;
  req.set_id(id);
  v1::Run run;
  auto ctx = Ctx(token);
  grpc::Status s = stub.GetRun(ctx.get(), req, &run);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return run;
}

bool IsTerminal(v1::RunState s) {
  return s == v1::RUN_STATE_SUCCEEDED || s == v1::RUN_STATE_FAILED || s == v1::RUN_STATE_CANCELLED;
}

v1::Run WaitForRunEnd(v1::Controller::Stub& stub, int64_t id, absl::Duration timeout) {
  v1::Run run;
  WaitUntil(
      [&] {
        v1::GetRunRequest req;
        req.set_id(id);
        auto ctx = Ctx();
        if (!stub.GetRun(ctx.get(), req, &run).ok()) return false;
        return IsTerminal(run.state());
      },
      timeout);
  return run;
}

std::vector<v1::LogChunk> RunLogs(v1::Controller::Stub& stub, int64_t id) {
  std::vector<v1::LogChunk> out;
  v1::GetRunLogsRequest req;
  req.set_run_id(id);
  while (true) {
    v1::GetRunLogsResponse resp;
    auto ctx = Ctx();
    grpc::Status s = stub.GetRunLogs(ctx.get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok() || resp.chunks().empty()) break;
    for (const auto& c : resp.chunks()) out.push_back(c);
    req.set_after_id(resp.last_id());
  }
  return out;
}

std::string AttemptStdout(const std::vector<v1::LogChunk>& chunks, int64_t attempt_id) {
  std::string out;
  for (const auto& c : chunks) {
    if (c.attempt_id() == attempt_id && c.stream() == v1::LOG_STREAM_STDOUT) out += c.data();
  }
  return out;
}

int Occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::vector<int> NumberedLines(const std::string& out) {
  std::vector<int> v;
  for (absl::string_view l : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    int n = 0;
    if (absl::ConsumePrefix(&l, "line-") && absl::SimpleAtoi(l, &n)) v.push_back(n);
  }
  return v;
}

std::vector<int> Range(int from, int to) {
  std::vector<int> v;
  for (int i = from; i <= to; ++i) v.push_back(i);
  return v;
}

}  // namespace perfgate::testing
