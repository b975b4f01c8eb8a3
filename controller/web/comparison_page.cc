#include "controller/web/comparison_page.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "controller/analysis/comparer.h"
#include "controller/report/render.h"
#include "controller/web/layout.h"
#include "controller/web/svg.h"

namespace perfgate::controller {

std::string ComparisonPage(const v1::Comparison& c) {
  E body = absl::StrCat("<p class=\"", VerdictText(c.verdict()),
                        "\" id=\"verdict\">Verdict: ", VerdictText(c.verdict()), "</p><p>",
                        Esc(c.summary()), "</p><p>Candidate <a href=\"/runs/", c.candidate_run_id(),
                        "\">run ", c.candidate_run_id(), "</a> <code>",
                        Esc(c.candidate_commit().substr(0, 12)), "</code> (", Esc(c.branch()),
                        ") against ");
  for (int i = 0; i < c.baseline_run_ids_size(); ++i)
    absl::StrAppend(&body, i ? ", " : "", "<a href=\"/runs/", c.baseline_run_ids(i), "\">run ",
                    c.baseline_run_ids(i), "</a>");
  absl::StrAppend(&body, " of ", Esc(c.baseline_branch()), " on machine class ",
                  Esc(c.machine_class()), ".</p>");
  if (!c.note().empty()) absl::StrAppend(&body, "<p><em>", Esc(c.note()), "</em></p>");
  if (!c.confirmation_plan().empty())
    absl::StrAppend(&body, "<p>Confirmation: ", Esc(c.confirmation_plan()), "</p>");
  if (c.metrics_size()) {
    body +=
        "<h2>Verdicts</h2><table><tr><th>verdict</th><th>job</th><th>metric</th>"
        "<th>baseline</th><th>candidate</th><th>change</th><th>interval</th><th>floor</th>"
        "<th>decided by</th><th>p</th><th>p (BH)</th><th>why</th></tr>";
    for (const auto& m : c.metrics()) {
      absl::StrAppend(
          &body, "<tr>", VerdictCell(VerdictText(m.verdict())), "<td>", Esc(m.job_name()),
          "</td><td><a href=\"/history?project=", Esc(c.project()),
          "&amp;branch=", Esc(c.baseline_branch()), "&amp;suite=", Esc(c.suite_name()),
          "&amp;job=", Esc(m.job_name()), "&amp;metric=", Esc(m.name()), "\">", Esc(m.name()),
          "</a>", IsGate(m) ? "" : " <small>(reported)</small>", "</td><td class=\"num\">",
          FormatValue(m.baseline_median()), " ", Esc(m.unit()), "</td><td class=\"num\">",
          FormatValue(m.candidate_median()), " ", Esc(m.unit()), "</td><td class=\"num\">",
          FormatChange(m), "</td><td class=\"num\">", FormatInterval(m), "</td><td class=\"num\">",
          Esc(FormatFloor(m)), "</td><td>", Esc(DecidedBy(m)), "</td><td class=\"num\">",
          absl::StrFormat("%.2g", m.p()), "</td><td class=\"num\">",
          absl::StrFormat("%.2g", m.p_adjusted()), "</td><td>", Esc(m.reason()), "</td></tr>");
    }
    body += "</table>";
  }
  if (c.limits_size()) {
    body += "<h2>Limits</h2><table><tr><th>level</th><th>job</th><th>metric</th><th></th></tr>";
    for (const auto& l : c.limits())
      absl::StrAppend(&body, "<tr><td>", Esc(l.level()), "</td><td>", Esc(l.job_name()),
                      "</td><td>", Esc(l.metric()), "</td><td>", Esc(l.text()), "</td></tr>");
    body += "</table>";
  }
  for (const auto& curve : c.curves()) {
    absl::StrAppend(&body, "<h2>Latency percentiles: ", Esc(curve.job_name()), " ",
                    Esc(curve.histogram()),
                    "</h2><p><span style=\"color:#1f77b4\">baseline</span> · <span "
                    "style=\"color:#d62728\">candidate</span>, all repetitions merged</p>");
    body += PercentileCurveSvg({curve.percentiles().begin(), curve.percentiles().end()},
                               {curve.baseline_ms().begin(), curve.baseline_ms().end()},
                               {curve.candidate_ms().begin(), curve.candidate_ms().end()});
  }
  if (c.metrics_size()) {
    body += "<h2>Repetitions</h2>";
    for (const auto& m : c.metrics()) {
      const bool notable = m.verdict() != v1::VERDICT_NO_CHANGE;
      absl::StrAppend(
          &body, notable ? "<details open>" : "<details>", "<summary>", Esc(m.job_name()), " ",
          Esc(m.name()), " — ", VerdictText(m.verdict()), "</summary>",
          DotPlotSvg({m.baseline_values().begin(), m.baseline_values().end()},
                     {m.candidate_values().begin(), m.candidate_values().end()}, m.unit()),
          "</details>");
    }
  }
  for (const auto& d : c.profile_diffs()) {
    const std::string& u = d.unit();
    absl::StrAppend(&body, "<h2>Profile diff: ", Esc(d.label()), "</h2><p>", Esc(d.sample_type()),
                    "; totals ", FormatProfileValue(d.base_total(), u), " → ",
                    FormatProfileValue(d.candidate_total(), u), " (", ProfileCounts(d),
                    "; first profiles ", d.base_id(), " → ", d.candidate_id(),
                    ")</p><table><tr><th>function</th><th>baseline flat</th><th>candidate flat"
                    "</th><th>change</th><th>baseline cum</th><th>candidate cum</th></tr>");
    for (const auto& f : d.functions())
      absl::StrAppend(&body, "<tr><td><code>", Esc(f.name()), "</code></td><td class=\"num\">",
                      FormatProfileValue(f.base_flat(), u), "</td><td class=\"num\">",
                      FormatProfileValue(f.candidate_flat(), u), "</td><td class=\"num\">",
                      SignedProfileValue(f.candidate_flat() - f.base_flat(), u),
                      "</td><td class=\"num\">", FormatProfileValue(f.base_cum(), u),
                      "</td><td class=\"num\">", FormatProfileValue(f.candidate_cum(), u),
                      "</td></tr>");
    body += "</table>";
  }
  return Layout(absl::StrCat("Comparison: run ", c.candidate_run_id()), body);
}

}  // namespace perfgate::controller
