#include "common/json/json_path.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace perfgate::common {

absl::StatusOr<std::string> JsonFieldText(const std::string& body, const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError("the answer is not JSON");
  const nlohmann::json* at = &j;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (!at->is_object() || !at->contains(std::string(part)))
      return absl::NotFoundError(absl::StrCat("the answer has no field '", path, "'"));
    at = &(*at)[std::string(part)];
  }
  if (at->is_string()) return at->get<std::string>();
  if (at->is_number() || at->is_boolean()) return at->dump();
  return absl::InvalidArgumentError(absl::StrCat("field '", path, "' is not a string or number"));
}

}  // namespace perfgate::common
