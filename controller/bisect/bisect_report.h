// A bisection as Markdown (an issue or PR comment, `perfgate bisect get --markdown`, the page's
// download): the outcome, the culprit with its comparison against its parent and the functions
// its profile diff moved, and every step with its measurements. Pure.
#pragma once

#include <string>

#include "perfgate/v1/analysis.pb.h"
#include "perfgate/v1/bisect.pb.h"

namespace perfgate::controller {

// `culprit`: the comparison of the culprit's step (nullptr when there is none); `base_url`: where
// the web pages are ("" for relative links).
std::string BisectionMarkdown(const v1::Bisection& b, const v1::Comparison* culprit,
                              const std::string& base_url);

}  // namespace perfgate::controller
