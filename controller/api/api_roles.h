// Which role each call of the Controller API needs (viewer < submitter < admin), in one table,
// and the check every handler starts with. A method missing from the table is refused to
// everyone, so a new call cannot be served before it is given a role; a unit test checks the
// table against the service's descriptor.
#pragma once

#include <grpcpp/server_context.h>

#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/grpc/auth.h"

namespace perfgate::controller {

std::optional<common::Role> RequiredRole(absl::string_view method);

// The caller, when its token allows `method`: UNAUTHENTICATED for a missing or bad token,
// PERMISSION_DENIED naming the role the call needs and the caller's.
absl::StatusOr<common::Principal> Authorize(const common::TokenAuth& auth,
                                            const grpc::ServerContextBase& ctx,
                                            absl::string_view method);

// Whether `who` may act on something `owner` made (cancel a run or a campaign): its owner, or
// an admin. PERMISSION_DENIED otherwise, naming the owner.
absl::Status MayActOnOwn(const common::Principal& who, const std::string& owner,
                         absl::string_view what);

}  // namespace perfgate::controller
