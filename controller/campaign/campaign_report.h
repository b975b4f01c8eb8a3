// The campaign report (docs/campaigns.md): one model, a tier x metric table, built from each
// tier's run, results and comparison, then rendered as text, Markdown and JSON. Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/analysis/analysis_store.h"
#include "controller/campaign/campaign_store.h"
#include "controller/queue/job_store.h"
#include "controller/queue/result_store.h"
#include "perfgate/v1/analysis.pb.h"
#include "perfgate/v1/campaign.pb.h"
#include "perfgate/v1/results.pb.h"

namespace perfgate::controller {

// What the report reads of one tier (in the campaign's tier order).
struct TierInputs {
  v1::Run run;                               // with its jobs' specs (limits, analysis)
  v1::RunResults results;                    // per job, a summary per metric
  std::optional<v1::Comparison> comparison;  // against the tier's baseline, once analysed
  std::vector<v1::SoakHeap> soak_heaps;      // LoadSoakHeaps of its run (stored job names)
};

// Rows: per job, every metric a tier gives a limit for, then every gating metric measured.
// Cells: the median, its level, a broken max/min, the change and verdict against the baseline.
// Also each job's faults (over its repetitions) and its soaks' heaps with their leak suspects.
v1::CampaignReport BuildCampaignReport(const v1::Campaign& c, const std::vector<TierInputs>& tiers);

// The report of campaign `id` from the stores: each tier's run, results (summarised) and stored
// comparison. NOT_FOUND for an unknown campaign.
absl::StatusOr<v1::CampaignReport> LoadCampaignReport(CampaignStore& campaigns, JobStore& jobs,
                                                      ResultStore& results, AnalysisStore& analysis,
                                                      int64_t id);

std::string RenderCampaignText(const v1::CampaignReport& r);
std::string RenderCampaignMarkdown(const v1::CampaignReport& r, const std::string& url);
std::string RenderCampaignJson(const v1::CampaignReport& r);

// A cell's change against its baseline: "+8.1 %"; "from 0" when the baseline is (about) zero,
// "±0" when both are.
std::string ChangeText(const v1::CampaignCell& c);

// An enum value as a word: "RUN_STATE_SUCCEEDED" or "SUCCEEDED" -> "succeeded".
std::string EnumWord(const std::string& name);

// One line each, shared by the renderings:
//  "tier medium: api load.api fault kill-1 (kill random:worker on h3, h5): recovered in 2 of 2
//   repetitions, median 1200 ms, max 1500 ms"
std::string FaultLine(const v1::CampaignFault& f);
//  "tier medium: cluster soak, manager: in use 1.20 MiB -> 5.60 MiB over 20 s (2 repetitions)"
std::string SoakHeapLine(const v1::SoakHeap& h);
//  "+4.30 MiB  perfgate::sample_target::Manager::RetainHeartbeat() (5.10 MiB in use at the end)";
//  the function's name between `quote`s (Markdown: "`").
std::string LeakSuspectLine(const v1::FunctionDelta& f, const std::string& quote = "");

// "target", "acceptable", "above acceptable", "critical", or "" (no levels).
std::string LevelWord(const std::string& level);

}  // namespace perfgate::controller
