#include "controller/events/controller_event.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace perfgate::controller {

std::string EncodeEvent(const ControllerEvent& e) {
  switch (e.kind) {
    case ControllerEvent::Kind::kWork:
      return "work";
    case ControllerEvent::Kind::kRunChanged:
      return absl::StrCat("run:", e.run_id);
    case ControllerEvent::Kind::kStopAttempt:
      return absl::StrCat("stop:", e.attempt_id, ":", e.agent);
    case ControllerEvent::Kind::kOutbox:
      return "outbox";
    case ControllerEvent::Kind::kAnything:
      break;
  }
  return "*";
}

std::optional<ControllerEvent> DecodeEvent(absl::string_view payload) {
  if (payload == "work") return ControllerEvent::Work();
  if (payload == "outbox") return ControllerEvent::Outbox();
  if (payload == "*") return ControllerEvent::Of(ControllerEvent::Kind::kAnything);
  if (absl::ConsumePrefix(&payload, "run:")) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(payload, &id) || id <= 0) return std::nullopt;
    return ControllerEvent::RunChanged(id);
  }
  if (absl::ConsumePrefix(&payload, "stop:")) {
    std::vector<std::string> parts = absl::StrSplit(payload, absl::MaxSplits(':', 1));
    int64_t attempt = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &attempt) || attempt <= 0 ||
        parts[1].empty())
      return std::nullopt;
    return ControllerEvent::StopAttempt(attempt, parts[1]);
  }
  return std::nullopt;
}

}  // namespace perfgate::controller
