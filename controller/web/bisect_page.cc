#include "controller/web/bisect_page.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "controller/bisect/bisect_plan.h"
#include "controller/bisect/bisect_report.h"
#include "controller/web/layout.h"

namespace perfgate::controller {
std::string BisectionPage(const v1::Bisection& b, const v1::Comparison* culprit) {
  E body =
      absl::StrCat("<p>", Esc(b.suite_name()), " · <code>", Esc(b.metric()), "</code> of job ",
                   Esc(b.job_name()), " · <code>", Esc(b.good().substr(0, 12)), "</code>..<code>",
                   Esc(b.bad().substr(0, 12)), "</code> · on ", Esc(b.agent()), " · <b>",
                   Esc(StateText(b.state())), "</b> · <a href=\"/bisections/", b.id(),
                   ".md\">Markdown</a></p><p>", Esc(b.message()), "</p>");
  absl::StrAppend(&body, absl::StrFormat("<p>%d steps, %.1f agent-minutes", b.steps_size(),
                                         b.agent_seconds() / 60));
  if (!b.direction().empty())
    absl::StrAppend(&body, absl::StrFormat("; the ends differ by %+.1f %% (%s)", 100 * b.effect(),
                                           b.direction()));
  if (b.change_point_id() != 0)
    absl::StrAppend(&body, "; for <a href=\"/changepoints\">change point ", b.change_point_id(),
                    "</a>");
  absl::StrAppend(&body, "</p>");
  if (culprit != nullptr) {
    absl::StrAppend(&body, "<h2>", b.spread() ? "First bad commit" : "Culprit",
                    "</h2><p><a href=\"/runs/", culprit->candidate_run_id(),
                    "/compare\">Its comparison against its parent</a> (latency curves, every "
                    "metric, profile diffs).</p>");
    for (const v1::ProfileDiff& d : culprit->profile_diffs()) {
      absl::StrAppend(&body, "<p>Profile diff <code>", Esc(d.label()),
                      "</code>: the functions that moved most</p><table><tr><th>function</th>"
                      "<th>parent</th><th>culprit</th></tr>");
      int n = 0;
      for (const v1::FunctionDelta& f : d.functions()) {
        if (++n > 8) break;
        absl::StrAppend(&body, "<tr><td><code>", Esc(f.name()), "</code></td><td class=\"num\">",
                        f.base_flat(), "</td><td class=\"num\">", f.candidate_flat(), "</td></tr>");
      }
      absl::StrAppend(&body, "</table>");
      break;
    }
  }
  if (!b.steps().empty()) {
    absl::StrAppend(&body,
                    "<h2>Steps</h2><table><tr><th>#</th><th>purpose</th><th>commit</th>"
                    "<th>against</th><th>outcome</th><th>change</th><th>repetitions</th>"
                    "<th>agent time</th><th>run</th></tr>");
    for (const v1::BisectionStep& s : b.steps()) {
      absl::StrAppend(&body, "<tr><td>", s.number(), "</td><td>", Esc(s.purpose()),
                      "</td><td><code>", Esc(s.commit().substr(0, 12)), "</code></td><td><code>",
                      Esc(s.against().substr(0, 12)), "</code></td><td title=\"", Esc(s.note()),
                      "\">", Esc(s.outcome()), "</td><td class=\"num\">", Esc(StepEffect(s)),
                      "</td><td class=\"num\">", s.repetitions(), "</td><td class=\"num\">",
                      absl::StrFormat("%.0f s", s.agent_seconds()), "</td><td><a href=\"/runs/",
                      s.run_id(), "/compare\">", s.run_id(), "</a></td></tr>");
    }
    absl::StrAppend(&body, "</table>");
  }
  if (!b.commits().empty()) {
    absl::StrAppend(&body,
                    "<h2>Commits</h2><table><tr><th>commit</th><th>mark</th><th>author</th>"
                    "<th>subject</th></tr>");
    for (int i = 0; i < b.commits_size(); ++i) {
      const v1::CommitInfo& c = b.commits(i);
      const bool hit = c.sha() == b.culprit();
      absl::StrAppend(
          &body, "<tr", hit ? " class=\"regression\"" : "", "><td><code>",
          Esc(c.sha().substr(0, 12)), "</code></td><td>",
          Esc(i < b.marks_size() ? MarkText(static_cast<v1::CommitMark>(b.marks(i))) : "unknown"),
          "</td><td>", Esc(c.author()), "</td><td>", Esc(c.subject()), "</td></tr>");
    }
    absl::StrAppend(&body, "</table>");
  }
  return Layout(absl::StrCat("Bisection ", b.id()), body);
}

std::string BisectionsPage(const v1::ListBisectionsResponse& list) {
  E body =
      "<table><tr><th>id</th><th>suite</th><th>metric</th><th>range</th><th>state</th>"
      "<th>steps</th><th>outcome</th><th>started</th></tr>";
  for (const v1::Bisection& b : list.bisections()) {
    absl::StrAppend(&body, "<tr><td><a href=\"/bisections/", b.id(), "\">", b.id(), "</a></td><td>",
                    Esc(b.suite_name()), "</td><td><code>", Esc(b.metric()),
                    "</code></td><td><code>", Esc(b.good().substr(0, 12)), "</code>..<code>",
                    Esc(b.bad().substr(0, 12)), "</code></td><td>", Esc(StateText(b.state())),
                    "</td><td class=\"num\">", b.steps_size(), "</td><td>", Esc(b.message()),
                    "</td><td>", Esc(Time(b.created_at())), "</td></tr>");
  }
  absl::StrAppend(&body, "</table>");
  if (list.bisections().empty())
    body = "<p>No bisections yet: <code>perfgate bisect start</code>.</p>";
  return Layout("Bisections", body);
}

}  // namespace perfgate::controller
