// A small, stable string hash for names that must come out the same on every build and machine
// (cache directories, test-host and cgroup prefixes): FNV-1a's step with the offset basis the
// agent has always used (one digit short of FNV's published one, kept so that the names of
// earlier versions' directories and groups are still recognised). Not for security.
#pragma once

#include <cstdint>
#include <string_view>

namespace perfgate::common {

inline uint64_t StableHash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace perfgate::common
