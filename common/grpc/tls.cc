#include "common/grpc/tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc/auth.h"

namespace perfgate::common {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(flag + ": " + path + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) return absl::InvalidArgumentError(flag + ": " + path + " is empty");
  return ss.str();
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr FirstCert(const std::string& pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// Every certificate in a CA bundle parses and is within its validity period.
absl::Status CheckCerts(const std::string& flag, const std::string& path, const std::string& pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  int n = 0;
  while (X509Ptr x{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    ++n;
    if (X509_cmp_current_time(X509_get0_notAfter(x.get())) < 0)
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", path, ": certificate ", n, " has expired"));
    if (X509_cmp_current_time(X509_get0_notBefore(x.get())) > 0)
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", path, ": certificate ", n, " is not valid yet"));
  }
  if (n == 0)
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, ": holds no PEM certificate"));
  return absl::OkStatus();
}

// The certificate (chain) and its key, checked to belong together.
absl::StatusOr<std::pair<std::string, std::string>> ReadKeyPair(const std::string& cert_flag,
                                                                const std::string& cert_path,
                                                                const std::string& key_flag,
                                                                const std::string& key_path) {
  if (cert_path.empty() != key_path.empty())
    return absl::InvalidArgumentError(cert_flag + " and " + key_flag + " go together");
  auto cert = ReadPem(cert_flag, cert_path);
  if (!cert.ok()) return cert.status();
  if (auto s = CheckCerts(cert_flag, cert_path, *cert); !s.ok()) return s;
  if (auto s = CheckSecretFileMode(key_flag, key_path); !s.ok()) return s;
  auto key = ReadPem(key_flag, key_path);
  if (!key.ok()) return key.status();
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(key->data(), static_cast<int>(key->size())));
  std::unique_ptr<EVP_PKEY, KeyFree> pkey(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return absl::InvalidArgumentError(key_flag + ": " + key_path + ": not a PEM key");
  X509Ptr x = FirstCert(*cert);
  if (X509_check_private_key(x.get(), pkey.get()) != 1)
    return absl::InvalidArgumentError(key_flag + ": " + key_path + " is not the key of " +
                                      cert_flag + " " + cert_path);
  return std::pair{*std::move(cert), *std::move(key)};
}

}  // namespace

absl::Status CheckServerKeyPair(const std::string& cert_flag, const std::string& cert,
                                const std::string& key_flag, const std::string& key) {
  auto pair = ReadKeyPair(cert_flag, cert, key_flag, key);
  return pair.ok() ? absl::OkStatus() : pair.status();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsServerFiles& f) {
  if (f.cert.empty() && f.key.empty()) {
    if (!f.client_ca.empty())
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    return grpc::InsecureServerCredentials();
  }
  // Checked once here, so that a mistake stops the start with the flag named; from then on
  // gRPC's file watcher re-reads the files every kTlsRefreshSeconds, so that a certificate, its
  // key or the client CA bundle is rotated by replacing the files, without a restart.
  auto pair = ReadKeyPair("--tls-cert", f.cert, "--tls-key", f.key);
  if (!pair.ok()) return pair.status();
  if (!f.client_ca.empty()) {
    auto ca = ReadPem("--tls-client-ca", f.client_ca);
    if (!ca.ok()) return ca.status();
    if (auto s = CheckCerts("--tls-client-ca", f.client_ca, *ca); !s.ok()) return s;
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      f.key, f.cert, f.client_ca, kTlsRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions o(provider);
  o.watch_identity_key_cert_pairs();
  if (!f.client_ca.empty()) {
    o.watch_root_certs();
    // Verified when presented; the agent gateway refuses calls without one.
    o.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(o);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsClientFiles& f) {
  if (f.ca.empty()) {
    if (!f.cert.empty() || !f.key.empty())
      return absl::InvalidArgumentError("--tls-cert and --tls-key need --tls-ca");
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions o;
  auto ca = ReadPem("--tls-ca", f.ca);
  if (!ca.ok()) return ca.status();
  if (auto s = CheckCerts("--tls-ca", f.ca, *ca); !s.ok()) return s;
  o.pem_root_certs = *ca;
  if (!f.cert.empty() || !f.key.empty()) {
    auto pair = ReadKeyPair("--tls-cert", f.cert, "--tls-key", f.key);
    if (!pair.ok()) return pair.status();
    o.pem_cert_chain = pair->first;
    o.pem_private_key = pair->second;
  }
  return grpc::SslCredentials(o);
}

std::string PeerCertificateName(const grpc::ServerContextBase& ctx) {
  auto auth = ctx.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return "";
  auto cn = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (cn.size() == 1) return std::string(cn[0].data(), cn[0].size());
  auto san = auth->FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME);
  if (cn.empty() && san.size() == 1) return std::string(san[0].data(), san[0].size());
  return "";
}

absl::StatusOr<std::string> CertificateName(const std::string& flag, const std::string& path) {
  auto pem = ReadPem(flag, path);
  if (!pem.ok()) return pem.status();
  X509Ptr x = FirstCert(*pem);
  if (!x) return absl::InvalidArgumentError(flag + ": " + path + ": holds no PEM certificate");
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(x.get()), NID_commonName, cn, sizeof cn) > 0)
    return std::string(cn);
  std::unique_ptr<GENERAL_NAMES, void (*)(GENERAL_NAMES*)> sans(
      static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr)),
      GENERAL_NAMES_free);
  if (sans && sk_GENERAL_NAME_num(sans.get()) == 1) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans.get(), 0);
    if (n->type == GEN_DNS)
      return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                         ASN1_STRING_length(n->d.dNSName));
  }
  return absl::InvalidArgumentError(flag + ": " + path +
                                    ": the certificate has no CN and not exactly one DNS name");
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || absl::StartsWith(host, "127.");
}

}  // namespace perfgate::common
