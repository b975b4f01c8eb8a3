// The bisection pages: /bisections (the newest, with their state and outcome) and
// /bisections/ID (the outcome, the culprit with its comparison against its parent and profile
// diff, the range's commits with their marks, and every step with its measurement), plus
// /bisections/ID.md (the Markdown for an issue or PR comment). Pure.
#pragma once

#include <string>

#include "perfgate/v1/analysis.pb.h"
#include "perfgate/v1/bisect.pb.h"

namespace perfgate::controller {

std::string BisectionPage(const v1::Bisection& b, const v1::Comparison* culprit);
std::string BisectionsPage(const v1::ListBisectionsResponse& list);

}  // namespace perfgate::controller
