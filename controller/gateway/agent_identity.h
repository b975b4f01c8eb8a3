// Who an agent call comes from. An agent is named by its client certificate (mutual TLS: the
// certificate's CN) or by its token (an 'AGENT TOKEN' line of --agent-token-file); never by
// what it says in its hello. The gateway then lets a call touch only the calls' agent's
// attempts (agent_gateway_service.cc).
#pragma once

#include <grpcpp/server_context.h>

#include <string>

#include "absl/status/statusor.h"
#include "common/grpc/auth.h"

namespace perfgate::controller {

class AgentIdentities {
 public:
  // Anyone, bound to no name (a loopback lab without credentials).
  AgentIdentities() = default;
  // `require_certificate`: every agent call must come with a verified client certificate.
  AgentIdentities(common::TokenAuth tokens, bool require_certificate)
      : tokens_(std::move(tokens)), require_certificate_(require_certificate) {}

  // The agent the call's credentials name, or "" when they name none (no certificate and a
  // token line without a name, or no credentials configured). UNAUTHENTICATED for a missing or
  // bad token or a missing certificate; PERMISSION_DENIED when the certificate and the token
  // name different agents.
  absl::StatusOr<std::string> Identify(const grpc::ServerContextBase& ctx) const;

 private:
  common::TokenAuth tokens_;
  bool require_certificate_ = false;
};

}  // namespace perfgate::controller
