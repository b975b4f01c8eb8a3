// libFuzzer: a webhook body as the controller parses it after checking its signature (GitHub)
// or token (GitLab), and the /perfgate command in a comment's text. The first byte chooses the
// forge and the event header; the rest is the body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "controller/forge/commands.h"
#include "controller/forge/forge_event.h"

namespace {
constexpr const char* kGitHubEvents[] = {"push", "pull_request", "issue_comment",
                                         "ping", "check_run",    "installation"};
constexpr const char* kGitLabEvents[] = {"Push Hook", "Merge Request Hook", "Note Hook",
                                         "Tag Push Hook"};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace perfgate::controller;
  if (size == 0) return 0;
  const uint8_t select = data[0];
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  absl::StatusOr<ForgeEvent> e;
  if (select & 1) {
    e = ParseGitLabEvent(kGitLabEvents[(select >> 1) % std::size(kGitLabEvents)], body);
  } else {
    e = ParseGitHubEvent(kGitHubEvents[(select >> 1) % std::size(kGitHubEvents)], body);
  }
  if (e.ok() && e->kind == ForgeEvent::Kind::kComment) (void)ParseForgeCommand(e->comment_body);
  if (select == 0xff) (void)ParseForgeCommand(body);
  return 0;
}
