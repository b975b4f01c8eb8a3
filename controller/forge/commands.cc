#include "controller/forge/commands.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace perfgate::controller {

absl::StatusOr<std::optional<ForgeCommand>> ParseForgeCommand(absl::string_view comment) {
  for (absl::string_view line : absl::StrSplit(comment, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (words.empty() || words[0] != "/perfgate") continue;
    ForgeCommand c;
    if (words.size() == 1) return std::optional<ForgeCommand>(c);  // bare: help
    const absl::string_view verb = words[1];
    if (verb == "help") {
      c.verb = ForgeCommand::Verb::kHelp;
    } else if (verb == "rerun") {
      c.verb = ForgeCommand::Verb::kRerun;
    } else if (verb == "aa") {
      c.verb = ForgeCommand::Verb::kAa;
    } else if (verb == "run") {
      c.verb = ForgeCommand::Verb::kRun;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown command `", verb, "`"));
    }
    for (size_t i = 2; i < words.size(); ++i) {
      absl::string_view w = words[i];
      if (c.verb != ForgeCommand::Verb::kRun)
        return absl::InvalidArgumentError(absl::StrCat("`", verb, "` takes no arguments"));
      if (w == "--repetitions" || absl::StartsWith(w, "--repetitions=")) {
        absl::string_view value;
        if (w == "--repetitions") {
          if (i + 1 >= words.size())
            return absl::InvalidArgumentError("--repetitions: needs a number");
          value = words[++i];
        } else {
          value = w.substr(sizeof("--repetitions=") - 1);
        }
        if (!absl::SimpleAtoi(value, &c.repetitions) || c.repetitions < 2 ||
            c.repetitions > kMaxCommandRepetitions)
          return absl::InvalidArgumentError(absl::StrCat(
              "--repetitions: `", value, "` is not a number from 2 to ", kMaxCommandRepetitions));
      } else if (absl::StartsWith(w, "-")) {
        return absl::InvalidArgumentError(absl::StrCat("unknown option `", w, "`"));
      } else {
        c.suites.emplace_back(w);
      }
    }
    return std::optional<ForgeCommand>(c);
  }
  return std::optional<ForgeCommand>();
}

std::string ForgeCommandHelp() {
  return "perfgate commands (from the repository's owners, members, collaborators or the "
         "project's trusted users):\n\n"
         "- `/perfgate run [SUITE...] [--repetitions N]`: benchmark this pull request's head "
         "(every suite of the project unless named)\n"
         "- `/perfgate rerun`: run this pull request's latest runs again\n"
         "- `/perfgate aa`: an A/A experiment on the base branch (its baseline's code measured "
         "again, to see the noise)\n"
         "- `/perfgate help`: this text\n";
}

}  // namespace perfgate::controller
