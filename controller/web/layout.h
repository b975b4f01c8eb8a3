// The frame every controller page shares (navigation, style, no script) and the small HTML
// helpers the pages use. Pure functions, safe from any thread.
#pragma once

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "google/protobuf/timestamp.pb.h"

namespace perfgate::controller {

using E = std::string;  // escaped HTML

E Esc(const std::string& s);
// A whole page: `title` (text) and `body` (HTML).
std::string Layout(const std::string& title, const E& body);
// (HTTP status, page) for a failed status: 404 for NOT_FOUND, 400 for INVALID_ARGUMENT, else 500.
std::pair<int, std::string> ErrorPage(const absl::Status& s);
// "2026-12-01 20:00:00" (UTC), "" for an unset time.
std::string Time(const google::protobuf::Timestamp& t);
// A table cell coloured by its verdict's class.
std::string VerdictCell(const std::string& verdict);

}  // namespace perfgate::controller
