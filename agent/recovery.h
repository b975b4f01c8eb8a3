// The agent's restart recovery: what its previous life left in --work-dir/attempts. Every
// attempt journal is handed back to the uploader (to re-send what the controller did not
// acknowledge); an attempt that was still running is ended as an infrastructure failure, after
// its orphaned process groups are killed (only ours: a recycled pid is checked by its start
// time). A journal that cannot be read is moved aside, never deleted.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "agent/spool/uploader.h"

namespace perfgate::agent {

// Called once at start, before the session opens. An error means a journal could not be
// finished (the disk is gone); the agent must not start then. `agent_prefix` names what the
// agent's stacks made (HostsPrefix of its name: compose projects).
absl::Status RecoverAttempts(const std::string& attempts_dir, const std::string& agent_prefix,
                             Uploader& uploader);

}  // namespace perfgate::agent
