// The commands people type in pull (merge) request comments:
//   /perfgate run [SUITE...] [--repetitions N]   benchmark the head (all suites by default)
//   /perfgate rerun                              the request's latest runs again
//   /perfgate aa                                 an A/A experiment on the base branch
//   /perfgate help
// Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace perfgate::controller {

struct ForgeCommand {
  enum class Verb { kRun, kRerun, kAa, kHelp };
  Verb verb = Verb::kHelp;
  std::vector<std::string> suites;  // kRun: "" = every suite of the project
  int repetitions = 0;              // kRun: 0 = as the suite says
};

inline constexpr int kMaxCommandRepetitions = 200;

// The first line starting with "/perfgate" is the command; nullopt when there is none (an
// ordinary comment). INVALID_ARGUMENT with a message meant for the commenter on a malformed
// command.
absl::StatusOr<std::optional<ForgeCommand>> ParseForgeCommand(absl::string_view comment);

// The reply to /perfgate help (and to a malformed command, after the error).
std::string ForgeCommandHelp();

}  // namespace perfgate::controller
