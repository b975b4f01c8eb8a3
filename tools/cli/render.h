// How the CLI shows controller objects: one renderer per object, as a table for people; JSON
// for scripts is common::ProtoToJson (common/json/proto_json.h).
#pragma once

#include <google/protobuf/message.h>

#include <ostream>
#include <string>

#include "perfgate/v1/controller.pb.h"
#include "perfgate/v1/results.pb.h"

namespace perfgate::cli {

void RenderRun(std::ostream& out, const v1::Run& run);
void RenderRunList(std::ostream& out, const v1::ListRunsResponse& list);
void RenderAgents(std::ostream& out, const v1::ListAgentsResponse& agents);
std::string RunStateShort(v1::RunState s);
// An enum value without its prefix, in lower case: ("RUN_KIND_BASELINE", "RUN_KIND_") ->
// "baseline".
std::string EnumLower(const std::string& enum_name, const std::string& prefix);
// Per job: one row per metric with its median, IQR, CV and each repetition's value. Without
// `all`, only headline metrics (throughput, latency percentiles, resources).
void RenderResults(std::ostream& out, const v1::RunResults& results, bool all);
// Observation captures (render_observe.cc).
void RenderSeries(std::ostream& out, const v1::GetRunSeriesResponse& s);
void RenderDbStats(std::ostream& out, const v1::GetRunDbStatsResponse& d);
void RenderProfiles(std::ostream& out, const v1::ListProfilesResponse& p);
void RenderProfileTop(std::ostream& out, const v1::ProfileTop& t);
void RenderProfileDiff(std::ostream& out, const v1::ProfileDiff& d);
// Analysis (render_analysis.cc).
void RenderComparison(std::ostream& out, const v1::Comparison& c);
void RenderHistory(std::ostream& out, const v1::History& h);
void RenderAlerts(std::ostream& out, const v1::ListAlertsResponse& a);
void RenderChangePoints(std::ostream& out,
                        const google::protobuf::RepeatedPtrField<v1::ChangePointRecord>& cps);

}  // namespace perfgate::cli
