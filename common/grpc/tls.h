// TLS for the gRPC port: the controller's server credentials (optionally asking agents for a
// client certificate: mutual TLS) and the agents' and the CLI's channel credentials. PEM files
// are checked when loaded (a certificate that does not parse, a key that is not the
// certificate's, an expired certificate, a key group or others can read), each error naming
// the flag, so a misconfiguration stops the process at start rather than failing handshakes.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace perfgate::common {

struct TlsServerFiles {
  std::string cert, key;  // --tls-cert, --tls-key: both or neither (neither: plaintext)
  // --tls-client-ca: CA certificates (several may be concatenated, for a rotation) whose
  // client certificates are verified. Clients without a certificate are still accepted by the
  // handshake; the agent gateway then requires one (the CLI authenticates with a token).
  std::string client_ca;
};
// The files are checked now and then watched: replaced files (a rotation) are served within
// kTlsRefreshSeconds, without a restart.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsServerFiles& f);
constexpr unsigned kTlsRefreshSeconds = 5;

struct TlsClientFiles {
  std::string ca;         // --tls-ca: verify the controller with these CAs (empty: plaintext)
  std::string cert, key;  // --tls-cert, --tls-key: the client's certificate (mutual TLS)
};
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsClientFiles& f);

// The name in the call's verified client certificate: its subject CN, or (no CN) its only
// subject alternative name. Empty when the call came without a certificate or over plaintext.
std::string PeerCertificateName(const grpc::ServerContextBase& ctx);

// The name a certificate file's (first) certificate gives its holder, as PeerCertificateName
// reads it on the other side: its CN, or (no CN) its only subject alternative name.
// INVALID_ARGUMENT naming `flag` when the file holds no certificate or the name is ambiguous.
absl::StatusOr<std::string> CertificateName(const std::string& flag, const std::string& path);

// Checks a certificate and its key as MakeServerCredentials does (parses, not expired, the key
// is the certificate's, the key file mode 0600), each error naming its flag: for listeners that
// load the files themselves (the HTTP port's TLS).
absl::Status CheckServerKeyPair(const std::string& cert_flag, const std::string& cert,
                                const std::string& key_flag, const std::string& key);

// Whether a listener on `host` is reachable only from this machine.
bool IsLoopbackHost(const std::string& host);

}  // namespace perfgate::common
