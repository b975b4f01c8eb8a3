#include "controller/web/campaign_page.h"

#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "controller/analysis/comparer.h"
#include "controller/campaign/campaign_report.h"
#include "controller/campaign/soak_heaps.h"
#include "controller/report/render.h"
#include "controller/web/layout.h"
#include "controller/web/svg.h"

namespace perfgate::controller {
namespace {

E Cell(const v1::CampaignCell& c, const std::string& unit) {
  if (!c.present()) return "<td>-</td>";
  const std::string cls = !c.limit_broken().empty() ? "broken"
                          : c.level().empty()       ? ""
                                                    : "lvl-" + c.level();
  E text = absl::StrCat(Esc(FormatValue(c.value())), " ", Esc(unit));
  if (!c.level().empty()) {
    absl::StrAppend(&text, "<br><span title=\"", Esc(c.level_text()), "\">",
                    Esc(c.level() == "above_acceptable" ? "above acceptable" : c.level()),
                    "</span>");
  }
  if (!c.limit_broken().empty()) absl::StrAppend(&text, "<br>breaks ", Esc(c.limit_broken()));
  if (c.verdict() != v1::VERDICT_UNSPECIFIED) {
    const std::string v = VerdictText(c.verdict());
    absl::StrAppend(&text, "<br><span class=\"", v, "\">", Esc(v), " ", Esc(ChangeText(c)),
                    "</span>");
  }
  return absl::StrCat("<td class=\"num ", cls, "\">", text, "</td>");
}

}  // namespace

std::string CampaignPage(const v1::CampaignReport& r) {
  const v1::Campaign& c = r.campaign();
  E body = absl::StrCat("<p>", Esc(c.suite_name()), " at <code>", Esc(c.commit().substr(0, 12)),
                        "</code> · ", Esc(EnumWord(v1::RunKind_Name(c.kind()))), " on ",
                        Esc(c.branch()), " · ", Esc(EnumWord(v1::RunState_Name(c.state()))),
                        " · outcome <b class=\"outcome-", Esc(r.outcome()), "\">", Esc(r.outcome()),
                        "</b></p>");
  // The tiers, with their runs.
  absl::StrAppend(&body,
                  "<table><tr><th>tier</th><th>hosts</th><th>parameters</th><th>run</th>"
                  "<th>state</th><th>verdict</th></tr>");
  bool any_hosts = false;
  for (const v1::CampaignTier& t : c.tiers()) {
    any_hosts = any_hosts || t.hosts() > 0;
    std::vector<std::string> params;
    for (const auto& [k, v] :
         std::map<std::string, std::string>(t.params().begin(), t.params().end()))
      params.push_back(k + "=" + v);
    absl::StrAppend(&body, "<tr><td>", Esc(t.name()), "</td><td class=\"num\">", t.hosts(),
                    "</td><td>", Esc(absl::StrJoin(params, " ")), "</td><td><a href=\"/runs/",
                    t.run_id(), "\">", t.run_id(), "</a>",
                    t.verdict().empty() ? ""
                                        : absl::StrCat(" (<a href=\"/runs/", t.run_id(),
                                                       "/compare\">compared</a>)"),
                    "</td><td>", Esc(EnumWord(v1::RunState_Name(t.state()))), "</td>",
                    VerdictCell(t.verdict()), "</tr>");
  }
  absl::StrAppend(&body, "</table>");
  // The tier x metric table.
  absl::StrAppend(&body, "<h2>Tier × metric</h2><table><tr><th>job</th><th>metric</th>");
  for (const v1::CampaignTier& t : c.tiers())
    absl::StrAppend(&body, "<th>", Esc(t.name()), "</th>");
  absl::StrAppend(&body, "</tr>");
  for (const v1::CampaignRow& row : r.rows()) {
    absl::StrAppend(&body, "<tr><td>", Esc(row.job()), "</td><td><code>", Esc(row.metric()),
                    "</code></td>");
    for (const v1::CampaignCell& cell : row.cells()) body += Cell(cell, row.unit());
    absl::StrAppend(&body, "</tr>");
  }
  absl::StrAppend(&body, "</table>");
  if (r.reasons_size() > 0) {
    absl::StrAppend(&body, "<h2>", r.outcome() == "fail" ? "Why it fails" : "To look at",
                    "</h2><ul>");
    for (const std::string& why : r.reasons()) absl::StrAppend(&body, "<li>", Esc(why), "</li>");
    absl::StrAppend(&body, "</ul>");
  }
  if (r.faults_size() > 0) {
    absl::StrAppend(&body,
                    "<h2>Faults</h2><table><tr><th>tier</th><th>job</th><th>phase</th>"
                    "<th>fault</th><th>action</th><th>where</th><th>recovered</th>"
                    "<th>median</th><th>max</th><th>notes</th></tr>");
    for (const v1::CampaignFault& f : r.faults()) {
      const bool all = f.repetitions() > 0 && f.recovered() == f.repetitions();
      absl::StrAppend(&body, "<tr><td>", Esc(f.tier()), "</td><td>", Esc(f.job()), "</td><td>",
                      Esc(f.phase()), "</td><td>", Esc(f.name()), "</td><td>", Esc(f.action()), " ",
                      Esc(f.target()), "</td><td>", Esc(absl::StrJoin(f.hosts(), ", ")),
                      "</td><td class=\"num ", all ? "lvl-target" : "lvl-above_acceptable", "\">",
                      f.recovered(), " of ", f.repetitions(), "</td><td class=\"num\">",
                      f.recovered() ? Esc(FormatValue(f.recovery_ms_median()) + " ms") : "-",
                      "</td><td class=\"num\">",
                      f.recovered() ? Esc(FormatValue(f.recovery_ms_max()) + " ms") : "-",
                      "</td><td>", Esc(absl::StrJoin(f.errors(), "; ")), "</td></tr>");
    }
    absl::StrAppend(&body, "</table>");
  }
  if (r.soak_heaps_size() > 0) {
    absl::StrAppend(&body,
                    "<h2>Soak heaps and leak suspects</h2><p>In-use heap at each soak's start and "
                    "end (means over the repetitions); suspects are the functions whose in-use "
                    "memory grew by ",
                    Esc(FormatProfileValue(kLeakSuspectBytes, "bytes")), " or more.</p>");
    for (const v1::SoakHeap& h : r.soak_heaps()) {
      absl::StrAppend(&body, "<h3>", Esc(SoakHeapLine(h)), "</h3>");
      if (h.suspects().empty()) {
        absl::StrAppend(&body, "<p>No suspect.</p>");
        continue;
      }
      absl::StrAppend(&body,
                      "<table><tr><th>function</th><th>start</th><th>end</th><th>growth</th>"
                      "</tr>");
      for (const v1::FunctionDelta& f : h.suspects())
        absl::StrAppend(&body, "<tr><td><code>", Esc(f.name()), "</code></td><td class=\"num\">",
                        Esc(FormatProfileValue(f.base_flat(), "bytes")), "</td><td class=\"num\">",
                        Esc(FormatProfileValue(f.candidate_flat(), "bytes")),
                        "</td><td class=\"num lvl-above_acceptable\">",
                        Esc(SignedProfileValue(f.candidate_flat() - f.base_flat(), "bytes")),
                        "</td></tr>");
      absl::StrAppend(&body, "</table>");
    }
  }
  // How each metric grows with the work: a scale curve where two tiers or more measured it.
  std::vector<std::string> labels;
  std::vector<double> sizes;
  for (int i = 0; i < c.tiers_size(); ++i) {
    const v1::CampaignTier& t = c.tiers(i);
    labels.push_back(any_hosts ? absl::StrCat(t.name(), " (", t.hosts(), ")") : t.name());
    sizes.push_back(any_hosts ? t.hosts() : i + 1);
  }
  E curves;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const v1::CampaignRow& row : r.rows()) {
    std::vector<double> base, mine;
    int present = 0;
    for (const v1::CampaignCell& cell : row.cells()) {
      present += cell.present();
      mine.push_back(cell.present() ? cell.value() : nan);
      base.push_back(cell.verdict() != v1::VERDICT_UNSPECIFIED ? cell.baseline() : nan);
    }
    if (present < 2) continue;
    absl::StrAppend(&curves, "<h3>", Esc(row.job()), " · <code>", Esc(row.metric()), "</code></h3>",
                    ScaleCurveSvg(labels, sizes, base, mine, row.unit()));
  }
  if (!curves.empty()) {
    absl::StrAppend(&body, "<h2>Scale curves</h2><p>Each metric against the tiers' ",
                    any_hosts ? "hosts" : "order",
                    ": <span style=\"color:#1f77b4\">baseline"
                    "</span> and <span style=\"color:#d62728\">this campaign</span>.</p>",
                    curves);
  }
  return Layout(absl::StrCat("Campaign ", c.id()), body);
}

}  // namespace perfgate::controller
