// Conversion from absl::Status (our error values) to grpc::Status (the wire).
// The canonical codes are numerically identical in both.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace perfgate::common {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace perfgate::common
