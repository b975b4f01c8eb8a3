#include "controller/campaign/campaign_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/json/proto_json.h"
#include "common/spec/analysis_spec.h"
#include "common/spec/limit_levels.h"
#include "common/status/macros.h"
#include "controller/analysis/comparer.h"
#include "controller/campaign/soak_heaps.h"
#include "controller/queue/job_state.h"
#include "controller/queue/result_summary.h"
#include "controller/report/render.h"

namespace perfgate::controller {
namespace {

// "api@medium" -> "api" for the tier "medium".
std::string BaseJob(const std::string& job, const std::string& tier) {
  const std::string suffix = "@" + tier;
  if (job.size() > suffix.size() &&
      job.compare(job.size() - suffix.size(), suffix.size(), suffix) == 0)
    return job.substr(0, job.size() - suffix.size());
  return job;
}

const v1::JobSpec* JobSpecNamed(const v1::Run& run, const std::string& name) {
  for (const v1::Job& j : run.jobs())
    if (j.name() == name) return &j.spec();
  return nullptr;
}

const v1::MetricSummary* SummaryOf(const v1::JobResults& jr, const std::string& metric) {
  for (const v1::MetricSummary& m : jr.summary())
    if (m.name() == metric) return &m;
  return nullptr;
}

const v1::MetricComparison* ComparisonOf(const std::optional<v1::Comparison>& c,
                                         const std::string& job, const std::string& metric) {
  if (!c) return nullptr;
  for (const v1::MetricComparison& m : c->metrics())
    if (m.job_name() == job && m.name() == metric) return &m;
  return nullptr;
}

// A cell as a short line: "212 ms acceptable, +8.1 % no_change".
std::string CellText(const v1::CampaignCell& c, const std::string& unit) {
  if (!c.present()) return "-";
  std::string s = absl::StrCat(FormatValue(c.value()), unit.empty() ? "" : " ", unit);
  if (!c.level().empty()) absl::StrAppend(&s, " ", LevelWord(c.level()));
  if (!c.limit_broken().empty()) absl::StrAppend(&s, " BROKEN ", c.limit_broken());
  if (c.verdict() != v1::VERDICT_UNSPECIFIED)
    absl::StrAppend(&s, ", ", ChangeText(c), " ", VerdictText(c.verdict()));
  return s;
}

// The job's faults over its repetitions, by (phase, name) in order of first appearance. A fault
// that was not applied, or did not recover within the window, is worth a look (`warns`).
void AddFaults(const std::string& tier, const std::string& job, const v1::JobResults& jr,
               v1::CampaignReport* r, std::vector<std::string>* warns) {
  std::vector<std::pair<std::string, std::string>> order;
  std::map<std::pair<std::string, std::string>, v1::CampaignFault> by;
  std::map<std::pair<std::string, std::string>, std::vector<double>> recoveries;
  std::map<std::pair<std::string, std::string>, int> unrecovered;
  std::map<std::pair<std::string, std::string>, std::string> unapplied;  // the first error
  for (const v1::RepetitionResult& rep : jr.repetitions()) {
    for (const v1::FaultRecord& f : rep.faults()) {
      const auto key = std::make_pair(f.phase(), f.name());
      auto [it, added] = by.try_emplace(key);
      v1::CampaignFault& cf = it->second;
      if (added) {
        order.push_back(key);
        cf.set_tier(tier);
        cf.set_job(job);
        cf.set_phase(f.phase());
        cf.set_name(f.name());
        cf.set_action(f.action());
        cf.set_target(f.target());
      }
      auto note = [&cf](const std::string& text) {
        if (text.empty() || cf.errors_size() >= 5) return;
        for (const std::string& e : cf.errors())
          if (e == text) return;
        cf.add_errors(text);
      };
      note(f.error());
      if (f.applied_ms() < 0) {
        unapplied.try_emplace(key, f.error());
        continue;
      }
      cf.set_repetitions(cf.repetitions() + 1);
      if (!f.host().empty() &&
          std::find(cf.hosts().begin(), cf.hosts().end(), f.host()) == cf.hosts().end())
        cf.add_hosts(f.host());
      if (f.recovery_ms() >= 0) {
        cf.set_recovered(cf.recovered() + 1);
        recoveries[key].push_back(f.recovery_ms());
      } else {
        // The note says why: not within the window, before the next fault, nothing to recover to.
        note(f.recovery_note().substr(0, f.recovery_note().find(':')));
        if (absl::StartsWith(f.recovery_note(), "not recovered")) ++unrecovered[key];
      }
    }
  }
  for (const auto& key : order) {
    v1::CampaignFault& cf = by[key];
    std::vector<double>& v = recoveries[key];
    if (!v.empty()) {
      std::sort(v.begin(), v.end());
      const size_t n = v.size();
      cf.set_recovery_ms_median(n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
      cf.set_recovery_ms_max(v.back());
    }
    const std::string where =
        absl::StrCat("tier ", tier, ": ", job, " fault ", cf.name(), " (", cf.action(), " ",
                     cf.target(), cf.phase().empty() ? "" : " in " + cf.phase(), ")");
    const int total = jr.repetitions_size();
    if (cf.repetitions() < total)
      warns->push_back(absl::StrCat(where, " was applied in ", cf.repetitions(), " of ", total,
                                    " repetitions",
                                    unapplied[key].empty() ? "" : ": " + unapplied[key]));
    if (unrecovered[key] > 0)
      warns->push_back(absl::StrCat(where, " did not recover in ", unrecovered[key], " of ",
                                    cf.repetitions(), " repetitions"));
    *r->add_faults() = std::move(cf);
  }
}

}  // namespace

std::string ChangeText(const v1::CampaignCell& c) {
  // A change from (about) nothing has no percentage: a slope of 0 MiB/h that became 7,000.
  if (std::abs(c.baseline()) <= 1e-9 * std::max(1.0, std::abs(c.value())))
    return std::abs(c.value()) <= 1e-9 ? "±0" : "from " + FormatValue(c.baseline());
  return absl::StrFormat("%+.1f %%", c.change() * 100);
}

std::string EnumWord(const std::string& name) {
  std::string s = name.substr(name.rfind('_') + 1);
  for (auto& ch : s) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string FaultLine(const v1::CampaignFault& f) {
  std::string s = absl::StrCat("tier ", f.tier(), ": ", f.job(), f.phase().empty() ? "" : " ",
                               f.phase(), " fault ", f.name(), " (", f.action(), " ", f.target());
  if (f.hosts_size() > 0) absl::StrAppend(&s, " on ", absl::StrJoin(f.hosts(), ", "));
  absl::StrAppend(&s, "): ");
  if (f.repetitions() == 0) {
    absl::StrAppend(&s, "never applied");
  } else {
    absl::StrAppend(&s, "recovered in ", f.recovered(), " of ", f.repetitions(), " repetitions");
    if (f.recovered() > 0)
      absl::StrAppend(&s, ", median ", FormatValue(f.recovery_ms_median()), " ms, max ",
                      FormatValue(f.recovery_ms_max()), " ms");
  }
  if (f.errors_size() > 0) absl::StrAppend(&s, "; ", absl::StrJoin(f.errors(), "; "));
  return s;
}

std::string SoakHeapLine(const v1::SoakHeap& h) {
  return absl::StrCat("tier ", h.tier(), ": ", h.job(), " ", h.phase(), ", ", h.service(),
                      ": in use ", FormatProfileValue(h.start_bytes(), "bytes"), " -> ",
                      FormatProfileValue(h.end_bytes(), "bytes"), " over ",
                      FormatValue(h.seconds()), " s (", h.profiles(),
                      h.profiles() == 1 ? " repetition)" : " repetitions)");
}

std::string LeakSuspectLine(const v1::FunctionDelta& f, const std::string& quote) {
  return absl::StrCat(SignedProfileValue(f.candidate_flat() - f.base_flat(), "bytes"),
                      quote.empty() ? "  " : " ", quote, f.name(), quote, " (",
                      FormatProfileValue(f.candidate_flat(), "bytes"), " in use at the end)");
}

std::string LevelWord(const std::string& level) {
  return level == "above_acceptable" ? "above acceptable" : level;
}

v1::CampaignReport BuildCampaignReport(const v1::Campaign& c,
                                       const std::vector<TierInputs>& tiers) {
  v1::CampaignReport r;
  *r.mutable_campaign() = c;
  // Rows in order of first appearance: (job, metric).
  std::vector<std::pair<std::string, std::string>> keys;
  std::map<std::pair<std::string, std::string>, v1::CampaignRow> rows;
  auto row = [&](const std::string& job, const v1::MetricSummary& m) -> v1::CampaignRow& {
    auto key = std::make_pair(job, m.name());
    auto it = rows.find(key);
    if (it != rows.end()) return it->second;
    keys.push_back(key);
    v1::CampaignRow& out = rows[key];
    out.set_job(job);
    out.set_metric(m.name());
    out.set_unit(m.unit());
    out.set_direction(m.direction());
    for (const v1::CampaignTier& t : c.tiers()) out.add_cells()->set_tier(t.name());
    return out;
  };
  bool pending = false;
  std::vector<std::string> fails, warns;
  for (size_t ti = 0; ti < tiers.size() && ti < static_cast<size_t>(c.tiers_size()); ++ti) {
    const v1::CampaignTier& tier = c.tiers(ti);
    const TierInputs& in = tiers[ti];
    // A candidate's figures are final once the analyser compared them with the baseline.
    if (!IsTerminal(tier.state()) || (c.kind() == v1::RUN_KIND_CANDIDATE &&
                                      tier.state() == v1::RUN_STATE_SUCCEEDED && !tier.analysed()))
      pending = true;
    if (tier.state() == v1::RUN_STATE_FAILED || tier.state() == v1::RUN_STATE_CANCELLED) {
      std::string why;
      for (const v1::Job& j : in.run.jobs())
        if (j.state() == v1::JOB_STATE_FAILED || j.state() == v1::JOB_STATE_CANCELLED)
          absl::StrAppend(&why, why.empty() ? "" : "; ", j.name(), ": ", j.message());
      r.add_failures(absl::StrCat("tier ", tier.name(), ": run ", tier.run_id(), " ",
                                  tier.state() == v1::RUN_STATE_FAILED ? "failed" : "was cancelled",
                                  why.empty() ? "" : ": " + why));
      fails.push_back(r.failures(r.failures_size() - 1));
    }
    for (const v1::JobResults& jr : in.results.jobs()) {
      const std::string job = BaseJob(jr.job_name(), tier.name());
      AddFaults(tier.name(), job, jr, &r, &warns);
      for (const v1::SoakHeap& h : in.soak_heaps) {
        if (h.job() != jr.job_name()) continue;
        v1::SoakHeap& out = *r.add_soak_heaps();
        out = h;
        out.set_tier(tier.name());
        out.set_job(job);
        out.set_seconds(SoakSeconds(jr, h.phase()));
      }
      // Phases that failed: operations that failed, waits never true; once per phase.
      std::map<std::string, std::pair<int, const v1::PhaseRecord*>>
          failed;  // name -> (reps, first)
      std::vector<std::string> order;
      for (const v1::RepetitionResult& rep : jr.repetitions()) {
        for (const v1::PhaseRecord& ph : rep.phases()) {
          if (ph.ok()) continue;
          auto& f = failed[ph.name()];
          if (f.first++ == 0) {
            f.second = &ph;
            order.push_back(ph.name());
          }
        }
      }
      for (const std::string& name : order) {
        const auto& [reps, ph] = failed[name];
        std::string line =
            absl::StrCat("tier ", tier.name(), ": ", job, " phase ", name, " (", ph->kind(),
                         ") failed in ", reps, " of ", jr.repetitions_size(), " repetitions");
        if (ph->failures() > 0)
          absl::StrAppend(&line, ", ", ph->failures(), " operations the first time");
        if (!ph->errors().empty()) absl::StrAppend(&line, "; first: ", ph->errors(0));
        r.add_failures(line);
        (ph->kind() == "cleanup" ? warns : fails).push_back(line);
      }
      const v1::JobSpec* spec = JobSpecNamed(in.run, jr.job_name());
      const v1::BenchmarkJob* bench = spec ? &spec->benchmark() : nullptr;
      std::vector<std::string> metrics;
      if (bench) {
        for (const v1::MetricLimit& l : bench->limits()) metrics.push_back(l.metric());
      }
      std::vector<std::string> gating;
      for (const v1::MetricSummary& m : jr.summary()) {
        const bool gate = bench ? common::RulesFor(bench->analysis(), m.name()).gate
                                : common::GatesByDefault(m.name());
        if (gate) gating.push_back(m.name());
      }
      std::sort(gating.begin(), gating.end());
      metrics.insert(metrics.end(), gating.begin(), gating.end());
      std::set<std::string> seen;
      for (const std::string& metric : metrics) {
        if (!seen.insert(metric).second) continue;
        const v1::MetricSummary* m = SummaryOf(jr, metric);
        if (m == nullptr) {
          if (bench)
            warns.push_back(absl::StrCat("tier ", tier.name(), ": ", job, " measured no ", metric,
                                         " (it has levels)"));
          continue;
        }
        v1::CampaignCell& cell = *row(job, *m).mutable_cells(static_cast<int>(ti));
        if (m->valid() == 0) continue;
        cell.set_present(true);
        cell.set_value(m->median());
        const bool lower = m->direction() != v1::DIRECTION_HIGHER_IS_BETTER;
        const std::string where = absl::StrCat("tier ", tier.name(), ": ", job, " ", metric, " ");
        if (bench) {
          for (const v1::MetricLimit& l : bench->limits()) {
            if (l.metric() != metric) continue;
            if (common::HasLevels(l)) {
              const common::LevelResult lv =
                  common::ClassifyLevel(l, m->median(), lower, m->unit());
              cell.set_level(lv.level);
              cell.set_level_text(lv.text);
              if (lv.level == "critical") fails.push_back(where + lv.text);
              if (lv.level == "above_acceptable") warns.push_back(where + lv.text);
            }
            if (l.has_max() && m->median() > l.max())
              cell.set_limit_broken(absl::StrCat("max ", FormatValue(l.max())));
            if (l.has_min() && m->median() < l.min())
              cell.set_limit_broken(absl::StrCat("min ", FormatValue(l.min())));
            if (!cell.limit_broken().empty())
              fails.push_back(absl::StrCat(where, FormatValue(m->median()), " ", m->unit(),
                                           " breaks its ", cell.limit_broken()));
          }
        }
        if (const v1::MetricComparison* mc = ComparisonOf(in.comparison, jr.job_name(), metric)) {
          cell.set_verdict(mc->verdict());
          cell.set_baseline(mc->baseline_median());
          if (mc->has_ratio()) cell.set_change(mc->ratio() - 1);
          if (mc->gate() && mc->verdict() == v1::VERDICT_REGRESSION)
            fails.push_back(absl::StrCat(where, "regressed ", ChangeText(cell),
                                         " against the tier's baseline"));
          if (mc->gate() && mc->verdict() == v1::VERDICT_INCONCLUSIVE)
            warns.push_back(where + "is inconclusive against the tier's baseline");
        }
      }
    }
  }
  for (const auto& key : keys) *r.add_rows() = std::move(rows[key]);
  if (pending) {
    r.set_outcome("pending");
  } else if (!fails.empty()) {
    r.set_outcome("fail");
  } else if (!warns.empty()) {
    r.set_outcome("warn");
  } else {
    r.set_outcome("pass");
  }
  for (const auto& f : fails) r.add_reasons(f);
  for (const auto& w : warns) r.add_reasons(w);
  return r;
}

absl::StatusOr<v1::CampaignReport> LoadCampaignReport(CampaignStore& campaigns, JobStore& jobs,
                                                      ResultStore& results, AnalysisStore& analysis,
                                                      int64_t id) {
  ASSIGN_OR_RETURN(v1::Campaign c, campaigns.GetCampaign(id));
  std::vector<TierInputs> tiers;
  for (const v1::CampaignTier& tier : c.tiers()) {
    TierInputs in;
    ASSIGN_OR_RETURN(in.run, jobs.GetRun(tier.run_id()));
    ASSIGN_OR_RETURN(in.results, results.GetRunResults(tier.run_id()));
    SummarizeRunResults(&in.results);
    auto cmp = analysis.LatestComparison(tier.run_id());
    if (cmp.ok()) {
      in.comparison = *std::move(cmp);
    } else if (cmp.status().code() != absl::StatusCode::kNotFound) {
      return cmp.status();
    }
    if (IsTerminal(tier.state())) {
      ASSIGN_OR_RETURN(in.soak_heaps, LoadSoakHeaps(results, tier.run_id()));
    }
    tiers.push_back(std::move(in));
  }
  return BuildCampaignReport(c, tiers);
}

std::string RenderCampaignText(const v1::CampaignReport& r) {
  const v1::Campaign& c = r.campaign();
  std::string out = absl::StrCat("campaign ", c.id(), " of ", c.suite_name(), " at ",
                                 c.commit().substr(0, 12), " (", EnumWord(RunKindName(c.kind())),
                                 ", ", c.branch(), "): ", r.outcome(), "\n\n");
  for (const v1::CampaignTier& t : c.tiers()) {
    std::vector<std::string> params;
    for (const auto& [k, v] :
         std::map<std::string, std::string>(t.params().begin(), t.params().end()))
      params.push_back(k + "=" + v);
    absl::StrAppend(&out, "  tier ", t.name(), ": run ", t.run_id(), " ",
                    EnumWord(RunStateName(t.state())),
                    t.hosts() ? absl::StrCat(", ", t.hosts(), " hosts") : "",
                    params.empty() ? "" : ", " + absl::StrJoin(params, " "), "\n");
  }
  // A fixed-width table: job, metric, then one column per tier.
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> head = {"job", "metric"};
  for (const v1::CampaignTier& t : c.tiers()) head.push_back(t.name());
  table.push_back(head);
  for (const v1::CampaignRow& row : r.rows()) {
    std::vector<std::string> line = {row.job(), row.metric()};
    for (const v1::CampaignCell& cell : row.cells()) line.push_back(CellText(cell, row.unit()));
    table.push_back(line);
  }
  std::vector<size_t> width(head.size(), 0);
  for (const auto& line : table)
    for (size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  out += "\n";
  for (const auto& line : table) {
    std::string l = " ";
    for (size_t i = 0; i < line.size(); ++i)
      absl::StrAppend(&l, " ", line[i], std::string(width[i] - line[i].size(), ' '), " ");
    while (!l.empty() && l.back() == ' ') l.pop_back();
    absl::StrAppend(&out, l, "\n");
  }
  if (r.faults_size() > 0) {
    absl::StrAppend(&out, "\nfaults:\n");
    for (const v1::CampaignFault& f : r.faults()) absl::StrAppend(&out, "  ", FaultLine(f), "\n");
  }
  if (r.soak_heaps_size() > 0) {
    absl::StrAppend(&out, "\nsoak heaps and leak suspects (in-use growth from start to end):\n");
    for (const v1::SoakHeap& h : r.soak_heaps()) {
      absl::StrAppend(&out, "  ", SoakHeapLine(h), h.suspects().empty() ? ": no suspect" : "",
                      "\n");
      for (const v1::FunctionDelta& f : h.suspects())
        absl::StrAppend(&out, "    ", LeakSuspectLine(f), "\n");
    }
  }
  if (r.reasons_size() > 0) {
    absl::StrAppend(&out, "\n", r.outcome() == "fail" ? "why it fails" : "to look at", ":\n");
    for (const std::string& why : r.reasons()) absl::StrAppend(&out, "  - ", why, "\n");
  }
  return out;
}

std::string RenderCampaignMarkdown(const v1::CampaignReport& r, const std::string& url) {
  const v1::Campaign& c = r.campaign();
  std::string out = absl::StrCat("### perfgate campaign: **", r.outcome(), "** — `", c.suite_name(),
                                 "` at `", c.commit().substr(0, 12), "`");
  if (!url.empty()) absl::StrAppend(&out, " ([campaign ", c.id(), "](", url, "))");
  absl::StrAppend(&out, "\n\n| job | metric |");
  for (const v1::CampaignTier& t : c.tiers())
    absl::StrAppend(&out, " ", t.name(), t.hosts() ? absl::StrCat(" (", t.hosts(), " hosts)") : "",
                    " |");
  absl::StrAppend(&out, "\n|---|---|");
  for (int i = 0; i < c.tiers_size(); ++i) out += "---|";
  out += "\n";
  for (const v1::CampaignRow& row : r.rows()) {
    absl::StrAppend(&out, "| ", row.job(), " | `", row.metric(), "` |");
    for (const v1::CampaignCell& cell : row.cells()) {
      std::string text = CellText(cell, row.unit());
      if (cell.level() == "critical" || !cell.limit_broken().empty() ||
          cell.verdict() == v1::VERDICT_REGRESSION)
        text = "**" + text + "**";
      absl::StrAppend(&out, " ", text, " |");
    }
    out += "\n";
  }
  if (r.reasons_size() > 0) {
    out += "\n";
    for (const std::string& why : r.reasons()) absl::StrAppend(&out, "- ", why, "\n");
  }
  if (r.faults_size() > 0) {
    absl::StrAppend(&out, "\n<details><summary>Faults</summary>\n\n");
    for (const v1::CampaignFault& f : r.faults()) absl::StrAppend(&out, "- ", FaultLine(f), "\n");
    absl::StrAppend(&out, "\n</details>\n");
  }
  if (r.soak_heaps_size() > 0) {
    absl::StrAppend(&out, "\n<details><summary>Soak heaps and leak suspects</summary>\n\n");
    for (const v1::SoakHeap& h : r.soak_heaps()) {
      absl::StrAppend(&out, "- ", SoakHeapLine(h), h.suspects().empty() ? ": no suspect" : "",
                      "\n");
      for (const v1::FunctionDelta& f : h.suspects())
        absl::StrAppend(&out, "  - ", LeakSuspectLine(f, "`"), "\n");
    }
    absl::StrAppend(&out, "\n</details>\n");
  }
  return out;
}

std::string RenderCampaignJson(const v1::CampaignReport& r) { return common::ProtoToJson(r); }

}  // namespace perfgate::controller
