// What every CLI command group shares: the connection to the controller (Client), how a result
// is shown (a table, or JSON with -o json), what an error exits with, and the registry through
// which each group (run_commands.cc, profile_commands.cc, …) adds its subcommands. A group owns
// its flags; main.cc only parses and runs the action of the subcommand that was given.
//
// Exit codes: 0 success (for watch/--wait: the run succeeded; with --gate: and no regression), 1
// the run failed, 2 bad usage or a refused request, 3 the run was cancelled, 4 the controller
// could not be reached (or --gate-timeout passed), 5 (--gate) a regression or a critical limit,
// 6 (--gate) no verdict: inconclusive after confirmation, or no baseline to compare with.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "perfgate/v1/controller.grpc.pb.h"

namespace perfgate::cli {

struct Globals {
  std::string controller;
  std::string token;
  std::string token_file;
  std::string output = "table";
  std::string tls_ca;  // verify the controller's TLS certificate with this CA ("" plaintext)
  std::shared_ptr<grpc::ChannelCredentials> credentials;  // from tls_ca, set before Client
};

class Client {
 public:
  explicit Client(const Globals& g);
  // A call context with the token and a deadline (none for InfiniteDuration).
  std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout = absl::Seconds(30)) const;
  v1::Controller::Stub& stub() { return *stub_; }
  bool json() const { return g_.output == "json"; }

 private:
  const Globals& g_;
  std::unique_ptr<v1::Controller::Stub> stub_;
};

// A parsed subcommand's action; returns the exit code. `client` is null for commands that do not
// talk to the controller (registered with Commands::AddLocal).
using Action = std::function<int(Client* client, const Globals& g)>;

class Commands {
 public:
  void Add(CLI::App* sub, Action a) { actions_.push_back({sub, std::move(a), true}); }
  void AddLocal(CLI::App* sub, Action a) { actions_.push_back({sub, std::move(a), false}); }
  // The action of the parsed subcommand, and whether it needs a Client; nullptr if none parsed.
  const Action* Parsed(bool* needs_client) const;

 private:
  struct Entry {
    CLI::App* sub;
    Action action;
    bool needs_client;
  };
  std::vector<Entry> actions_;
};

// The command groups, one file each.
void AddRunCommands(CLI::App& app, Commands& cmds);
void AddProfileCommands(CLI::App& app, Commands& cmds);
void AddAgentCommands(CLI::App& app, Commands& cmds);
void AddAnalysisCommands(CLI::App& app, Commands& cmds);  // compare, report, history
void AddAlertCommands(CLI::App& app, Commands& cmds);     // alert, changepoint
void AddLoadCommand(CLI::App& app, Commands& cmds);
void AddProjectCommands(CLI::App& app, Commands& cmds);  // project, outbox
void AddCampaignCommands(CLI::App& app, Commands& cmds);
void AddScheduleCommands(CLI::App& app, Commands& cmds);
void AddStorageCommands(CLI::App& app, Commands& cmds);  // storage, gc
void AddBisectCommands(CLI::App& app, Commands& cmds);

// The campaign a suite's tiers make (`campaign submit`, `schedule add --campaign`): every tier
// of `tier_list` (comma-separated; default the suite's, or "custom" with params alone) read with
// the --param overrides. 0, or the usage exit code after printing the problem.
int CampaignFromSuite(const std::string& suite, const std::string& tier_list,
                      const std::vector<std::string>& param_flags,
                      const std::string& baseline_branch, v1::Campaign* camp);

// Prints the error and returns its exit code (4 when the controller is unreachable, else 2).
int Fail(const grpc::Status& s);
// A fresh id for one submission ("cli-" and 32 random hex digits).
std::string NewRequestId();
// Calls `call` until it succeeds or fails for good: UNAVAILABLE and DEADLINE_EXCEEDED (the
// reply may have been lost) are retried 4 times, after 0.5, 1, 2 and 4 s, each retry waiting up
// to 5 s for the controller to be reachable, saying so on stderr. Only for calls that are safe
// to repeat (an idempotent request, like a submission's request_id).
grpc::Status CallWithRetries(const std::string& what,
                             const std::function<grpc::Status(grpc::ClientContext*)>& call,
                             const Client& c);
// Prints a usage problem and returns 2.
int Usage(const std::string& problem);
int ExitCodeFor(v1::RunState s);
// `m` as JSON with -o json, else the table.
int Show(Client& c, const google::protobuf::Message& m, const std::function<void()>& table);

// Calls a unary method and shows its answer: the shape of most commands.
template <typename Req, typename Resp>
int CallAndShow(Client& c,
                grpc::Status (v1::Controller::Stub::*method)(grpc::ClientContext*, const Req&,
                                                             Resp*),
                const Req& req, const std::function<void(const Resp&)>& table,
                absl::Duration timeout = absl::Seconds(30)) {
  Resp resp;
  auto ctx = c.Ctx(timeout);
  if (grpc::Status s = (c.stub().*method)(ctx.get(), req, &resp); !s.ok()) return Fail(s);
  return Show(c, resp, [&] { table(resp); });
}

// Streams a run's changes (and logs) until it ends. Returns the exit code for its outcome.
// With -o json it prints JSON Lines: one compact run document per line at each state change,
// the final run last (what a CI script reads with `tail -n 1 | jq`); logs are left out.
int Watch(Client& c, int64_t id, bool logs);
// After Watch: waits (polling) until the ended run's verdict is final (analysed; an inconclusive
// candidate's confirmation decided) or `timeout` passes, shows it (-o json: the final run as one
// more JSON line) and returns the gate's exit code (above). Runs that are not compared
// (baselines) pass when they succeeded.
int AwaitVerdict(Client& c, int64_t id, absl::Duration timeout);
// How `run submit|rerun|watch` follow a run: not (print it), to its end (--wait), or to its
// final verdict (--gate, with --gate-timeout).
struct FollowFlags {
  bool wait = false;
  bool gate = false;
  std::string gate_timeout = "2h";
};
void AddFollowFlags(CLI::App* sub, FollowFlags& f);
int Follow(Client& c, int64_t id, const FollowFlags& f);

// "failed" -> RUN_STATE_FAILED etc. False when the value names no enum member.
template <typename Enum>
bool ParseEnumFlag(const std::string& value, const std::string& prefix,
                   bool (*parse)(const std::string&, Enum*), Enum* out) {
  std::string up = value;
  for (auto& ch : up) ch = static_cast<char>(toupper(static_cast<unsigned char>(ch)));
  return parse(prefix + up, out);
}

// KEY=VALUE flags; CLI::ValidationError naming `flag` for anything else.
std::map<std::string, std::string> ParsePairs(const std::vector<std::string>& items,
                                              const std::string& flag);

}  // namespace perfgate::cli
