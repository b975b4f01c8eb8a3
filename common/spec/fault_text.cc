#include "common/spec/fault_text.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace perfgate::common {

std::string FaultActionWord(v1::FaultSpec::Action a) {
  if (a == v1::FaultSpec::ACTION_UNSPECIFIED || !v1::FaultSpec::Action_IsValid(a)) return "";
  return absl::AsciiStrToLower(absl::StripPrefix(v1::FaultSpec::Action_Name(a), "ACTION_"));
}

bool ParseFaultAction(const std::string& word, v1::FaultSpec::Action* out) {
  v1::FaultSpec::Action a;
  if (word.empty() || word != absl::AsciiStrToLower(word) ||
      !v1::FaultSpec::Action_Parse("ACTION_" + absl::AsciiStrToUpper(word), &a) ||
      a == v1::FaultSpec::ACTION_UNSPECIFIED)
    return false;
  *out = a;
  return true;
}

std::string FaultName(const v1::FaultSpec& f, int index) {
  return f.name().empty() ? absl::StrCat(FaultActionWord(f.action()), "-", index + 1) : f.name();
}

std::string FaultText(const v1::FaultRecord& f) {
  std::string s = absl::StrCat(f.name(), ": ", f.action());
  if (!f.service().empty()) absl::StrAppend(&s, " ", f.service());
  absl::StrAppend(&s, " on ", f.host().empty() ? f.target() : f.host());
  if (f.applied_ms() < 0) {
    return absl::StrCat(s, ", scheduled at +", f.scheduled_ms(), " ms, not applied: ", f.error());
  }
  absl::StrAppend(&s, " at +", f.applied_ms(), " ms (scheduled +", f.scheduled_ms(), " ms",
                  f.detail().empty() ? "" : "; " + f.detail(), ")");
  absl::StrAppend(&s, f.undone_ms() >= 0 ? absl::StrCat(", undone at +", f.undone_ms(), " ms")
                                         : std::string(", undone after the window"));
  if (!f.error().empty()) absl::StrAppend(&s, "; ", f.error());
  if (f.recovery_ms() >= 0) {
    absl::StrAppend(&s, absl::StrFormat(", recovered %.0f ms after it", f.recovery_ms()));
  } else if (!f.recovery_note().empty()) {
    absl::StrAppend(&s, ", ", f.recovery_note());
  }
  return s;
}

}  // namespace perfgate::common
