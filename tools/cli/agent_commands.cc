// `perfgate agent …`: the benchmark machines' agents: list them, drain one.
#include <iostream>

#include "tools/cli/command.h"
#include "tools/cli/render.h"

namespace perfgate::cli {

void AddAgentCommands(CLI::App& app, Commands& cmds) {
  auto* agent = app.add_subcommand("agent", "inspect and drain agents");
  agent->require_subcommand(1);
  auto* list = agent->add_subcommand("list", "list agents");
  cmds.Add(list, [](Client* c, const Globals&) {
    return CallAndShow<v1::ListAgentsRequest, v1::ListAgentsResponse>(
        *c, &v1::Controller::Stub::ListAgents, v1::ListAgentsRequest(),
        [](const v1::ListAgentsResponse& r) { RenderAgents(std::cout, r); });
  });

  auto req = std::make_shared<v1::DrainAgentRequest>();
  auto undo = std::make_shared<bool>(false);
  auto* drain =
      agent->add_subcommand("drain", "stop giving work to an agent (its running job finishes)");
  drain->add_option("NAME", *req->mutable_name(), "agent name")->required();
  drain->add_flag("--undo", *undo, "resume giving it work");
  cmds.Add(drain, [req, undo](Client* c, const Globals&) {
    req->set_undo(*undo);
    return CallAndShow<v1::DrainAgentRequest, v1::Agent>(*c, &v1::Controller::Stub::DrainAgent,
                                                         *req, [](const v1::Agent& a) {
                                                           v1::ListAgentsResponse one;
                                                           *one.add_agents() = a;
                                                           RenderAgents(std::cout, one);
                                                         });
  });
}

}  // namespace perfgate::cli
