// perfgate: the operator CLI. Talks to the controller's gRPC API. Each command group lives in a
// file of its own (run_commands.cc, profile_commands.cc, agent_commands.cc,
// analysis_commands.cc, alert_commands.cc, load_command.cc) and registers its subcommands with
// their actions; this file holds the global flags, parses, and runs the one that was given.
// Exit codes: see tools/cli/command.h.
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "common/grpc/auth.h"
#include "tools/cli/command.h"

int main(int argc, char** argv) {
  using namespace perfgate;
  using namespace perfgate::cli;
  Globals g;
  if (const char* e = std::getenv("PERFGATE_CONTROLLER")) g.controller = e;
  if (g.controller.empty()) g.controller = "127.0.0.1:7600";
  if (const char* e = std::getenv("PERFGATE_TOKEN")) g.token = e;

  CLI::App app{
      "perfgate: operate a perfgate performance lab (runs, logs, agents) through its controller."};
  app.require_subcommand(1);
  // Global options may also follow the subcommand: `perfgate run results 7 --output json`.
  app.fallthrough();
  app.add_option("--controller", g.controller,
                 "controller address HOST:PORT (env PERFGATE_CONTROLLER)")
      ->capture_default_str();
  app.add_option("--token", g.token, "API bearer token (env PERFGATE_TOKEN)");
  app.add_option("--token-file", g.token_file, "read the API token from this file");
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
  AddScheduleCommands(app, cmds);
  AddLoadCommand(app, cmds);
  CLI11_PARSE(app, argc, argv);

  bool needs_client = false;
  const Action* action = cmds.Parsed(&needs_client);
  if (action == nullptr) return Usage("no command given (see --help)");
  if (!needs_client) return (*action)(nullptr, g);
  if (!g.token_file.empty()) {
    auto t = common::ReadTokenFile(g.token_file);
    if (!t.ok()) return Usage(std::string(t.status().message()));
    g.token = *t;
  }
  Client client(g);
  return (*action)(&client, g);
}
