// gzip (RFC 1952) in memory, over zlib: pprof profiles are gzip-compressed protobufs, written
// by the sample target and tests, read by the controller. Pure functions, safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace perfgate::common {

// Whether `data` starts with gzip's magic bytes.
bool IsGzip(std::string_view data);

std::string Gzip(std::string_view raw);

// INVALID_ARGUMENT for data that is corrupt, truncated, or decompresses to more than
// `max_bytes` (the error says which); INTERNAL when zlib cannot start.
absl::StatusOr<std::string> Gunzip(std::string_view gz, size_t max_bytes);

}  // namespace perfgate::common
