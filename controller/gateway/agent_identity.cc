#include "controller/gateway/agent_identity.h"

#include "common/grpc/tls.h"

namespace perfgate::controller {

absl::StatusOr<std::string> AgentIdentities::Identify(const grpc::ServerContextBase& ctx) const {
  auto token = tokens_.Authenticate(ctx);
  if (!token.ok()) return token.status();
  std::string cert = common::PeerCertificateName(ctx);
  if (require_certificate_ && cert.empty())
    return absl::UnauthenticatedError(
        "agent calls need a client certificate issued by the controller's --tls-client-ca");
  if (!cert.empty() && !token->name.empty() && cert != token->name)
    return absl::PermissionDeniedError("the client certificate is agent '" + cert +
                                       "' but the token is agent '" + token->name + "'s");
  return cert.empty() ? token->name : cert;
}

}  // namespace perfgate::controller
