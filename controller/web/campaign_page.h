// The campaign page (/campaigns/ID): the tier x metric table with each cell coloured by its
// level (Target green, Acceptable yellow, above it orange, Critical red), the changes against
// each tier's baseline, why the outcome is what it is, and a scale curve per metric (value
// against tier size, baseline and this campaign on one chart). The same CampaignReport the
// text, Markdown and JSON forms render (controller/campaign). Pure; pinned by the golden file
// tests/unit/controller/testdata/campaign.html.
#pragma once

#include <string>

#include "perfgate/v1/campaign.pb.h"

namespace perfgate::controller {

std::string CampaignPage(const v1::CampaignReport& report);

}  // namespace perfgate::controller
