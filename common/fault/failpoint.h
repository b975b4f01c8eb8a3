// Failpoints: named places where a test can make a real process die, to prove what happens at a
// boundary no timing could hit reliably (between a commit and its reply, between an upload and
// the journal noting it). Inert unless the process was started with
//   PERFGATE_FAILPOINTS=NAME[@N][=ACTION][,NAME[@N][=ACTION]...]
// in its environment: the Nth time (default the first) a named point is reached, the process
// logs it and kills itself with SIGKILL, as kill -9 would (ACTION kill, the default), or stops
// itself with SIGSTOP (ACTION stop) so that a test can act at that moment — kill PostgreSQL
// right after a commit — and then continue it with SIGCONT. The same idea as FreeBSD's fail(9)
// and etcd's gofail, kept to the actions the fault matrix needs. The names are listed in
// docs/reliability.md.
#pragma once

#include "absl/strings/string_view.h"

namespace perfgate::common {

// Kills (or stops) the process if `name` is armed and this is the hit it waits for. Cheap when
// nothing is armed (the environment is read once).
void Failpoint(absl::string_view name);

}  // namespace perfgate::common
