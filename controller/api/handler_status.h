// The answers the API handlers share: a refused argument, and the checks a call on an optional
// store starts with.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status/grpc_status.h"

namespace perfgate::controller {

inline grpc::Status InvalidArgument(const std::string& msg) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
}

// The caller's token checked (`caller`), and a store to answer from: a controller started
// without it keeps no `what` (UNIMPLEMENTED, saying so).
inline grpc::Status StoreReady(const absl::Status& caller, const void* store, const char* what) {
  if (!caller.ok()) return common::ToGrpcStatus(caller);
  if (store == nullptr) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        absl::StrCat("this controller keeps no ", what));
  }
  return grpc::Status::OK;
}

}  // namespace perfgate::controller
