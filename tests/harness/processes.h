// Real perfgate processes for integration tests: the controller and agents run as child
// processes on ephemeral ports, with their logs in files, and can be stopped politely or
// killed with SIGKILL. Helpers wait on conditions (readiness files, run states) with a
// deadline instead of sleeping for fixed times.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "perfgate/v1/agent_gateway.grpc.pb.h"
#include "perfgate/v1/controller.grpc.pb.h"

namespace perfgate::testing {

// Path of a built binary (set by CMake through PERFGATE_BIN_DIR).
std::string BinaryPath(const std::string& name);
// A shell command's standard output, trailing newlines cut (stderr stays the test's).
inline std::string ShOut(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Whether every directory above `path` lets other users through (a job user must reach it).
bool OpenToOthers(const std::string& path);

// Polls `cond` every few milliseconds until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& cond, absl::Duration timeout);

// The pid a job wrote to `path` (`echo $$ > path`), once the whole number is there: the shell
// creates the file before it writes, so the file alone says nothing yet. 0 after `timeout`.
pid_t WaitForPidFile(const std::string& path, absl::Duration timeout);

class ChildProcess {
 public:
  ChildProcess(std::string name, std::vector<std::string> argv, std::string log_path);
  ~ChildProcess();  // SIGKILL if still running
  pid_t pid() const { return pid_; }
  void Kill9();
  // SIGTERM and wait; returns the exit code (or -1 on timeout, after SIGKILL).
  int Terminate(absl::Duration timeout = absl::Seconds(20));
  bool Running();
  std::string Log() const;
  const std::string& log_path() const { return log_path_; }

 private:
  std::string name_;
  std::string log_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

struct ControllerOptions {
  std::string dsn;
  std::string data_dir;  // instead of `dsn`: the controller's own private PostgreSQL here
  int grpc_port = 0;     // 0: ephemeral
  // The gRPC listener's address: loopback, or an address the test made (a veth's, for agents
  // in network namespaces; the test then passes --insecure-plaintext).
  std::string grpc_host = "127.0.0.1";
  std::string api_token_file;
  // Added to the command line; a timing flag named here (--lease, --lost-after, ...) replaces
  // the harness's fast default for it.
  std::vector<std::string> extra_args;
};

class ControllerProcess {
 public:
  ControllerProcess(const std::string& dir, ControllerOptions opts);
  std::string address() const { return grpc_host_ + ":" + std::to_string(grpc_port_); }
  int grpc_port() const { return grpc_port_; }
  // Where agents connect: the --agent-listen port when the controller has one, else address().
  std::string agent_address() const {
    return agent_port_ == 0 ? address() : grpc_host_ + ":" + std::to_string(agent_port_);
  }
  int http_port() const { return http_port_; }
  ChildProcess& process() { return *proc_; }
  std::unique_ptr<v1::Controller::Stub> ControllerStub() const;
  std::unique_ptr<v1::AgentGateway::Stub> GatewayStub() const;

 private:
  std::unique_ptr<ChildProcess> proc_;
  std::string grpc_host_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  int agent_port_ = 0;
};

class AgentProcess {
 public:
  // `prefix` runs before the agent's command line (["ip", "netns", "exec", NS] puts it in a
  // network namespace; `ip` execs the agent, so the process is the agent's).
  AgentProcess(const std::string& name, const std::string& controller, const std::string& work_dir,
               std::vector<std::string> extra_args = {}, std::vector<std::string> prefix = {});
  // Stops the agent as an operator would (SIGTERM): it cancels what it runs and tears the
  // stack down. Killed outright, it would leave a running attempt's services behind (they run
  // in their own process groups, for the next agent start to clean up).
  ~AgentProcess();
  ChildProcess& process() { return *proc_; }

 private:
  std::unique_ptr<ChildProcess> proc_;
};

// Client helpers.
std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "",
                                         absl::Duration timeout = absl::Seconds(10));
v1::Run SubmitCommand(v1::Controller::Stub& stub, const std::string& command,
                      const std::string& token = "");
v1::Run GetRun(v1::Controller::Stub& stub, int64_t id, const std::string& token = "");
// SUCCEEDED, FAILED or CANCELLED: the run will not change state again.
bool IsTerminal(v1::RunState s);
// Waits for the run to reach a terminal state; returns the last seen run.
v1::Run WaitForRunEnd(v1::Controller::Stub& stub, int64_t id,
                      absl::Duration timeout = absl::Seconds(60));
// All log chunks of a run, in order.
std::vector<v1::LogChunk> RunLogs(v1::Controller::Stub& stub, int64_t id);
// The stdout text of one attempt, reassembled from its chunks.
std::string AttemptStdout(const std::vector<v1::LogChunk>& chunks, int64_t attempt_id);
// The N of every "line-N" of a job's output, in order (jobs that count their lines).
std::vector<int> NumberedLines(const std::string& out);
// from, from + 1, ..., to.
std::vector<int> Range(int from, int to);
// How often `what` occurs in `text` (overlaps counted): lines of a log, say.
int Occurrences(const std::string& text, const std::string& what);

}  // namespace perfgate::testing
