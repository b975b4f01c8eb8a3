// SHA-256 (OpenSSL's libcrypto), for content-addressed blobs.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace perfgate::common {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  std::string HexDigest();  // 64 lowercase hex digits; the hasher must not be used afterwards

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string Sha256Hex(std::string_view data);
// True for 64 lowercase hex digits.
bool IsSha256Hex(std::string_view s);

}  // namespace perfgate::common

namespace perfgate::common {

// HMAC-SHA256 of `data` under `key`, as 64 lowercase hex digits (signatures of outgoing
// webhooks).
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// Compares without leaking where the first difference is (OpenSSL's CRYPTO_memcmp): for
// signatures and tokens. Different lengths compare unequal.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace perfgate::common
