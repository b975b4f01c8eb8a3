// perfgate: the operator CLI. Talks to the controller's gRPC API. Each command group lives in a
// file of its own (run_commands.cc, profile_commands.cc, agent_commands.cc,
// analysis_commands.cc, alert_commands.cc, load_command.cc) and registers its subcommands with
// their actions; this file holds the global flags, parses, and runs the one that was given.
// Exit codes: see tools/cli/command.h.
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "common/grpc/auth.h"
#include "common/grpc/tls.h"
#include "tools/cli/command.h"

int main(int argc, char** argv) {
  using namespace perfgate;
  using namespace perfgate::cli;
  Globals g;
  if (const char* e = std::getenv("PERFGATE_CONTROLLER")) g.controller = e;
  if (g.controller.empty()) g.controller = "127.0.0.1:7600";
  if (const char* e = std::getenv("PERFGATE_TOKEN")) g.token = e;
  if (const char* e = std::getenv("PERFGATE_TLS_CA")) g.tls_ca = e;
  std::string token_on_command_line;

  CLI::App app{
      "perfgate: operate a perfgate performance lab (runs, logs, agents) through its controller."};
  app.require_subcommand(1);
  // Global options may also follow the subcommand: `perfgate run results 7 --output json`.
  app.fallthrough();
  app.add_option("--controller", g.controller,
                 "controller address HOST:PORT (env PERFGATE_CONTROLLER)")
      ->capture_default_str();
  // Kept only to say why it is refused: a command line is visible to every user (ps, /proc).
  app.add_option("--token", token_on_command_line, "refused: use --token-file or PERFGATE_TOKEN")
      ->group("");
  app.add_option("--token-file", g.token_file,
                 "read the API token from this file (mode 0600; or env PERFGATE_TOKEN)");
  app.add_option("--tls-ca", g.tls_ca,
                 "the controller serves TLS: verify it with this CA certificate (PEM; env "
                 "PERFGATE_TLS_CA)");
  app.add_option("--output,-o", g.output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();

  Commands cmds;
  AddRunCommands(app, cmds);
  AddProfileCommands(app, cmds);
  AddAgentCommands(app, cmds);
  AddAnalysisCommands(app, cmds);
  AddAlertCommands(app, cmds);
  AddProjectCommands(app, cmds);
  AddCampaignCommands(app, cmds);
  AddBisectCommands(app, cmds);
  AddScheduleCommands(app, cmds);
  AddStorageCommands(app, cmds);
  AddLoadCommand(app, cmds);
  CLI11_PARSE(app, argc, argv);

  bool needs_client = false;
  const Action* action = cmds.Parsed(&needs_client);
  if (action == nullptr) return Usage("no command given (see --help)");
  if (!token_on_command_line.empty())
    return Usage(
        "--token: a token on the command line is visible to every user of this machine; pass "
        "--token-file FILE (mode 0600) or set PERFGATE_TOKEN");
  if (!needs_client) return (*action)(nullptr, g);
  if (!g.token_file.empty()) {
    auto t = common::ReadTokenFile(g.token_file);
    if (!t.ok()) return Usage(std::string(t.status().message()));
    g.token = *t;
  }
  auto creds = common::MakeChannelCredentials({g.tls_ca, "", ""});
  if (!creds.ok()) return Usage(std::string(creds.status().message()));
  g.credentials = *creds;
  Client client(g);
  return (*action)(&client, g);
}
