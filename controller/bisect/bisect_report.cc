#include "controller/bisect/bisect_report.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "controller/analysis/comparer.h"
#include "controller/bisect/bisect_plan.h"

namespace perfgate::controller {
namespace {

std::string Cell(std::string s) {
  for (char& c : s)
    if (c == '|' || c == '\n') c = ' ';
  return s;
}

const v1::CommitInfo* Commit(const v1::Bisection& b, const std::string& sha) {
  for (const v1::CommitInfo& c : b.commits())
    if (c.sha() == sha) return &c;
  return nullptr;
}

}  // namespace

std::string BisectionMarkdown(const v1::Bisection& b, const v1::Comparison* culprit,
                              const std::string& base_url) {
  std::string out = absl::StrFormat("## perfgate bisection %d: %s\n\n%s\n\n", b.id(),
                                    StateText(b.state()), Cell(b.message()));
  absl::StrAppend(&out, "| | |\n|---|---|\n");
  absl::StrAppend(&out, "| suite | ", Cell(b.suite_name()), " (project ", Cell(b.project()),
                  ") |\n");
  absl::StrAppend(&out, "| metric | ", Cell(b.metric()), " of job ", Cell(b.job_name()), " |\n");
  absl::StrAppend(&out, "| range | ", b.good().substr(0, 12), "..", b.bad().substr(0, 12), " (",
                  std::max(0, b.commits_size() - 1), " commits after the good one) |\n");
  if (b.change_point_id() != 0)
    absl::StrAppend(&out, "| change point | ", b.change_point_id(), " |\n");
  if (!b.direction().empty()) {
    absl::StrAppend(&out, "| change | ", b.direction(),
                    absl::StrFormat(" of %+.1f %% between the ends", 100 * b.effect()), " |\n");
  }
  absl::StrAppend(&out, "| agent | ", Cell(b.agent()), " |\n");
  absl::StrAppend(&out, "| steps | ", b.steps_size(), " measured, ",
                  absl::StrFormat("%.1f", b.agent_seconds() / 60), " agent-minutes |\n\n");
  if (!b.culprit().empty()) {
    const v1::CommitInfo* c = Commit(b, b.culprit());
    absl::StrAppend(&out, "### ", b.spread() ? "First bad commit (part of the change)" : "Culprit",
                    "\n\n`", b.culprit(), "`", c ? " " + Cell(c->author()) : "",
                    c ? ": " + Cell(c->subject()) : "", "\n\n");
  } else if (!b.range_first().empty()) {
    absl::StrAppend(&out, "### Range\n\nThe first bad commit is in `", b.range_first(), "` .. `",
                    b.range_last(), "`.\n\n");
  }
  if (culprit != nullptr) {
    for (const v1::MetricComparison& m : culprit->metrics()) {
      if (m.job_name() != b.job_name() || m.name() != b.metric()) continue;
      absl::StrAppend(
          &out,
          absl::StrFormat("Against its parent: %s %.4g -> %.4g %s, %+.1f %% (interval %+.1f .. "
                          "%+.1f %%, p = %.2g): %s. ",
                          m.name(), m.baseline_median(), m.candidate_median(), m.unit(),
                          100 * (m.ratio() - 1), 100 * (m.interval_low() - 1),
                          100 * (m.interval_high() - 1), m.p(), VerdictText(m.verdict())));
    }
    absl::StrAppend(&out, "[Comparison](", base_url, "/runs/", culprit->candidate_run_id(),
                    "/compare)\n\n");
    for (const v1::ProfileDiff& d : culprit->profile_diffs()) {
      absl::StrAppend(&out, "Profile diff `", Cell(d.label()), "` (", d.sample_type(),
                      "), the functions that moved most:\n\n| function | parent | culprit |\n|---|"
                      "---:|---:|\n");
      int n = 0;
      for (const v1::FunctionDelta& f : d.functions()) {
        if (++n > 5) break;
        absl::StrAppend(&out, "| `", Cell(f.name()), "` | ", f.base_flat(), " | ",
                        f.candidate_flat(), " |\n");
      }
      absl::StrAppend(&out, "\n");
      break;
    }
  }
  if (!b.steps().empty()) {
    absl::StrAppend(&out,
                    "### Steps\n\n| # | purpose | commit | against | outcome | change | "
                    "repetitions | agent time | run |\n|---|---|---|---|---|---|---:|---:|---|\n");
    for (const v1::BisectionStep& s : b.steps()) {
      absl::StrAppend(&out, "| ", s.number(), " | ", s.purpose(), " | ", s.commit().substr(0, 12),
                      " | ", s.against().substr(0, 12), " | ", s.outcome(), " | ", StepEffect(s),
                      " | ", s.repetitions(), " | ", absl::StrFormat("%.0f s", s.agent_seconds()),
                      " | [", s.run_id(), "](", base_url, "/runs/", s.run_id(), ") |\n");
    }
  }
  return out;
}

}  // namespace perfgate::controller
