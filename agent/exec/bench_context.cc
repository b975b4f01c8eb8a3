#include "agent/exec/bench_context.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace perfgate::agent {

bool BenchContext::Sleep(absl::Duration d) const {
  absl::Time until = clock.Now() + d;
  while (!cancel) {
    absl::Duration left = until - clock.Now();
    if (left <= absl::ZeroDuration()) return true;
    absl::SleepFor(std::min(left, absl::Milliseconds(50)));
  }
  return false;
}

std::string DescribeFailure(const std::string& what, const StepResult& r) {
  if (!r.spawn_error.empty()) return absl::StrCat(what, ": could not start: ", r.spawn_error);
  if (r.cancelled) return absl::StrCat(what, ": cancelled");
  if (r.timed_out) return absl::StrCat(what, ": timed out after ", absl::FormatDuration(r.elapsed));
  if (r.exit_code == 127) return absl::StrCat(what, ": exit code 127 (command not found?)");
  return absl::StrCat(what, ": exit code ", r.exit_code);
}

}  // namespace perfgate::agent
