#include "controller/web/pages.h"

#include <httplib.h>

#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/spec/fault_text.h"
#include "controller/bisect/bisect_report.h"
#include "controller/campaign/campaign_report.h"
#include "controller/queue/job_state.h"
#include "controller/queue/result_summary.h"
#include "controller/report/render.h"
#include "controller/web/bisect_page.h"
#include "controller/web/campaign_page.h"
#include "controller/web/comparison_page.h"
#include "controller/web/layout.h"
#include "controller/web/svg.h"

namespace perfgate::controller {
namespace {

E RunsTable(const v1::ListRunsResponse& runs) {
  E o =
      "<table><tr><th>run</th><th>state</th><th>kind</th><th>project</th><th>branch</th>"
      "<th>commit</th><th>suite</th><th>verdict</th><th>created (UTC)</th></tr>";
  for (const auto& r : runs.runs()) {
    const std::string verdict =
        r.verdict().empty()
            ? ""
            : absl::StrCat("<a href=\"/runs/", r.id(), "/compare\">", Esc(r.verdict()), "</a>");
    absl::StrAppend(&o, "<tr><td><a href=\"/runs/", r.id(), "\">", r.id(), "</a></td><td>",
                    RunStateName(r.state()), "</td><td>", RunKindName(r.kind()), "</td><td>",
                    Esc(r.project()), "</td><td>", Esc(r.branch()), "</td><td><code>",
                    Esc(r.commit().substr(0, 12)), "</code></td><td>", Esc(r.suite_name()),
                    "</td><td class=\"", Esc(r.verdict()), "\">", verdict, "</td><td>",
                    Time(r.created_at()), "</td></tr>");
  }
  return o + "</table>";
}

}  // namespace

std::pair<int, std::string> WebPages::Runs(const Query& q) {
  v1::ListRunsRequest req;
  req.set_branch(q("branch"));
  req.set_project(q("project"));
  req.set_page_size(100);
  if (!q("state").empty()) {
    req.set_state(ParseRunState(q("state")));
    if (req.state() == v1::RUN_STATE_UNSPECIFIED)
      return ErrorPage(absl::InvalidArgumentError("state: unknown run state " + q("state")));
  }
  if (!q("kind").empty()) {
    req.set_kind(ParseRunKind(q("kind")));
    if (req.kind() == v1::RUN_KIND_UNSPECIFIED)
      return ErrorPage(absl::InvalidArgumentError("kind: unknown run kind " + q("kind")));
  }
  req.set_page_token(q("before"));
  auto runs = jobs_.ListRuns(req);
  if (!runs.ok()) return ErrorPage(runs.status());
  E form = absl::StrCat(
      "<form method=\"get\" action=\"/runs\">project <input name=\"project\" value=\"",
      Esc(q("project")), "\"> branch <input name=\"branch\" value=\"", Esc(q("branch")),
      "\"> state <select name=\"state\"><option value=\"\">any</option>");
  for (const char* s : {"QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"})
    absl::StrAppend(&form, "<option", q("state") == s ? " selected" : "", ">", s, "</option>");
  absl::StrAppend(&form, "</select> kind <select name=\"kind\"><option value=\"\">any</option>");
  for (const char* k : {"BASELINE", "CANDIDATE", "EXPERIMENT"})
    absl::StrAppend(&form, "<option", q("kind") == k ? " selected" : "", ">", k, "</option>");
  absl::StrAppend(&form, "</select> <button>filter</button></form>");
  E body = form + RunsTable(*runs);
  if (!runs->next_page_token().empty())
    absl::StrAppend(&body, "<p><a href=\"/runs?before=", Esc(runs->next_page_token()),
                    "&amp;state=", Esc(q("state")), "&amp;kind=", Esc(q("kind")),
                    "&amp;branch=", Esc(q("branch")), "&amp;project=", Esc(q("project")),
                    "\">older</a></p>");
  return {200, Layout("Runs", body)};
}

std::pair<int, std::string> WebPages::Run(int64_t id) {
  auto run = jobs_.GetRun(id);
  if (!run.ok()) return ErrorPage(run.status());
  E body =
      absl::StrCat("<table><tr><th>state</th><td>", RunStateName(run->state()),
                   "</td></tr><tr><th>kind</th><td>", RunKindName(run->kind()),
                   "</td></tr><tr><th>project / branch</th><td>", Esc(run->project()), " / ",
                   Esc(run->branch()), "</td></tr><tr><th>commit</th><td><code>",
                   Esc(run->commit()), "</code></td></tr><tr><th>suite</th><td>",
                   Esc(run->suite_name()), "</td></tr><tr><th>created / finished (UTC)</th><td>",
                   Time(run->created_at()), " / ", Time(run->finished_at()), "</td></tr>");
  if (!run->submitted_by().empty())
    absl::StrAppend(&body, "<tr><th>submitted by</th><td>", Esc(run->submitted_by()), "</td></tr>");
  if (!run->cancelled_by().empty())
    absl::StrAppend(&body, "<tr><th>cancelled by</th><td>", Esc(run->cancelled_by()), "</td></tr>");
  if (!run->verdict().empty())
    absl::StrAppend(&body, "<tr><th>verdict</th><td class=\"", Esc(run->verdict()),
                    "\"><a href=\"/runs/", id, "/compare\">", Esc(run->verdict()),
                    "</a></td></tr>");
  if (run->aa())
    body += "<tr><th>A/A</th><td>the baseline's code measured again (feeds the noise)</td></tr>";
  if (run->confirms_run_id())
    absl::StrAppend(&body, "<tr><th>confirms</th><td><a href=\"/runs/", run->confirms_run_id(),
                    "\">run ", run->confirms_run_id(),
                    "</a>: baseline and candidate commits interleaved on one agent</td></tr>");
  // Jobs at their own commits (confirmation runs) say which.
  bool commits = false;
  for (const auto& j : run->jobs()) commits |= !j.spec().commit().empty();
  absl::StrAppend(&body,
                  "</table><h2>Jobs</h2><table><tr><th>job</th><th>state</th><th>attempt</th>"
                  "<th>agent</th><th>attempt state</th>",
                  commits ? "<th>commit</th>" : "", "<th>message</th></tr>");
  for (const auto& j : run->jobs()) {
    const std::string commit =
        commits ? absl::StrCat("<td><code>",
                               Esc((j.spec().commit().empty() ? run->commit() : j.spec().commit())
                                       .substr(0, 12)),
                               "</code></td>")
                : "";
    if (j.attempts().empty()) {
      absl::StrAppend(&body, "<tr><td>", Esc(j.name()), "</td><td>", JobStateName(j.state()),
                      "</td><td></td><td></td><td></td>", commit, "<td>", Esc(j.message()),
                      "</td></tr>");
    }
    for (const auto& a : j.attempts()) {
      absl::StrAppend(&body, "<tr><td>", Esc(j.name()), "</td><td>", JobStateName(j.state()),
                      "</td><td>", a.id(), "</td><td>", Esc(a.agent()), "</td><td>", Esc(a.state()),
                      "</td>", commit, "<td>", Esc(a.message()), "</td></tr>");
    }
  }
  body += "</table>";
  auto results = results_.GetRunResults(id);
  if (results.ok()) {
    SummarizeRunResults(&*results);
    for (const auto& job : results->jobs()) {
      if (job.repetitions().empty()) continue;
      absl::StrAppend(&body, "<h2>Results: ", Esc(job.job_name()),
                      "</h2><table><tr><th>metric</th>"
                      "<th>unit</th><th>median</th><th>IQR</th><th>CV</th><th>valid</th>");
      for (const auto& rep : job.repetitions())
        absl::StrAppend(&body, "<th>rep ", rep.repetition(), rep.valid() ? "" : " (invalid)",
                        "</th>");
      body += "</tr>";
      for (const auto& m : job.summary()) {
        absl::StrAppend(&body, "<tr><td>", Esc(m.name()), "</td><td>", Esc(m.unit()),
                        "</td><td class=\"num\">", FormatValue(m.median()),
                        "</td><td class=\"num\">", FormatValue(m.iqr()), "</td><td class=\"num\">",
                        absl::StrFormat("%.1f %%", 100 * m.cv()), "</td><td class=\"num\">",
                        m.valid(), "/", m.total(), "</td>");
        for (const auto& rep : job.repetitions()) {
          std::string v;
          for (const auto& x : rep.measurements())
            if (x.name() == m.name()) v = FormatValue(x.value());
          absl::StrAppend(&body, "<td class=\"num\">", v, "</td>");
        }
        body += "</tr>";
      }
      body += "</table>";
      for (const auto& rep : job.repetitions()) {
        if (!rep.valid())
          absl::StrAppend(&body, "<p>Repetition ", rep.repetition(),
                          " invalid: ", Esc(rep.invalid_reason()), "</p>");
        for (const auto& g : rep.gaps())
          absl::StrAppend(&body, "<p>Repetition ", rep.repetition(), " gap ", Esc(g.name()), ": ",
                          Esc(g.reason()), "</p>");
        for (const auto& f : rep.faults())
          absl::StrAppend(&body, "<p class=\"fault\">Repetition ", rep.repetition(), " fault ",
                          Esc(common::FaultText(f)), "</p>");
      }
    }
  }
  auto logs = jobs_.GetRunLogTail(id, 256);
  if (logs.ok() && logs->chunks_size()) {
    std::string text;
    for (const auto& c : logs->chunks()) text += c.data();
    if (text.size() > 64 * 1024) text = "…\n" + text.substr(text.size() - 64 * 1024);
    absl::StrAppend(&body, "<h2>Logs</h2><pre>", Esc(text), "</pre>");
  }
  for (const auto& [what, at] : {std::pair{"Logs", &run->logs_removed_at()},
                                 std::pair{"Profiles", &run->profiles_removed_at()}}) {
    if (at->seconds() > 0)
      absl::StrAppend(&body, "<h2>", what, "</h2><p>Removed by the retention policy on ", Time(*at),
                      " UTC (the measurements are kept).</p>");
  }
  return {200, Layout(absl::StrCat("Run ", id), body)};
}

std::pair<int, std::string> WebPages::Compare(int64_t id, const Query& q) {
  int64_t against = 0;
  if (!q("against").empty() && (!absl::SimpleAtoi(q("against"), &against) || against <= 0))
    return ErrorPage(absl::InvalidArgumentError("against: must be a run id"));
  auto c = against ? analyser_.Compare(id, against) : analysis_.LatestComparison(id);
  if (!c.ok()) return ErrorPage(c.status());
  return {200, ComparisonPage(*c)};
}

std::pair<int, std::string> WebPages::Campaign(int64_t id) {
  if (campaigns_ == nullptr) return ErrorPage(absl::NotFoundError("no campaigns here"));
  auto r = LoadCampaignReport(*campaigns_, jobs_, results_, analysis_, id);
  if (!r.ok()) return ErrorPage(r.status());
  return {200, CampaignPage(*r)};
}

std::pair<int, std::string> WebPages::Bisections() {
  if (bisections_ == nullptr) return ErrorPage(absl::NotFoundError("no bisections here"));
  auto l = bisections_->ListBisections({});
  if (!l.ok()) return ErrorPage(l.status());
  return {200, BisectionsPage(*l)};
}

std::pair<int, std::string> WebPages::Bisection(int64_t id, bool markdown) {
  if (bisections_ == nullptr) return ErrorPage(absl::NotFoundError("no bisections here"));
  auto b = bisections_->GetBisection(id);
  if (!b.ok()) return ErrorPage(b.status());
  std::optional<v1::Comparison> culprit;
  if (b->culprit_run_id() != 0) {
    auto c = analysis_.LatestComparison(b->culprit_run_id());
    if (c.ok()) culprit = *std::move(c);
  }
  const v1::Comparison* cp = culprit ? &*culprit : nullptr;
  return {200, markdown ? BisectionMarkdown(*b, cp, "") : BisectionPage(*b, cp)};
}

std::pair<int, std::string> WebPages::History(const Query& q) {
  v1::GetHistoryRequest req;
  req.set_project(q("project"));
  req.set_branch(q("branch"));
  req.set_suite_name(q("suite"));
  req.set_job_name(q("job"));
  req.set_machine_class(q("class"));
  req.set_metric(q("metric"));
  auto h = analysis_.GetHistory(req);
  if (!h.ok()) return ErrorPage(h.status());
  std::vector<HistorySvgPoint> pts;
  std::vector<int> changes;
  for (int i = 0; i < h->points_size(); ++i) {
    const auto& p = h->points(i);
    pts.push_back({p.median(), p.q1(), p.q3(),
                   absl::StrCat("run ", p.run_id(), " ", p.commit().substr(0, 12))});
    for (const auto& c : h->change_points())
      if (c.run_id() == p.run_id()) changes.push_back(i);
  }
  E body = absl::StrCat("<p>", Esc(h->suite_name()), " · ", Esc(h->job_name()), " · ",
                        Esc(h->metric()), " (", Esc(h->unit()), ") on ", Esc(h->branch()),
                        ", machine class ", Esc(h->machine_class()),
                        ": median of each baseline "
                        "run with its quartiles; change points dashed.</p>",
                        HistorySvg(pts, changes, h->unit()));
  if (h->change_points_size()) {
    body +=
        "<h2>Change points</h2><table><tr><th>run</th><th>commit</th><th>before</th>"
        "<th>after</th><th>p</th><th>state</th></tr>";
    for (const auto& c : h->change_points())
      absl::StrAppend(&body, "<tr><td><a href=\"/runs/", c.run_id(), "\">", c.run_id(),
                      "</a></td><td><code>", Esc(c.commit().substr(0, 12)),
                      "</code></td><td class=\"num\">", FormatValue(c.before()),
                      "</td><td class=\"num\">", FormatValue(c.after()), "</td><td class=\"num\">",
                      absl::StrFormat("%.2g", c.p()), "</td><td>", Esc(c.state()), "</td></tr>");
    body += "</table>";
  }
  body +=
      "<h2>Points</h2><table><tr><th>run</th><th>commit</th><th>median</th><th>q1</th>"
      "<th>q3</th><th>repetitions</th></tr>";
  for (const auto& p : h->points())
    absl::StrAppend(&body, "<tr><td><a href=\"/runs/", p.run_id(), "\">", p.run_id(),
                    "</a></td><td><code>", Esc(p.commit().substr(0, 12)),
                    "</code></td><td class=\"num\">", FormatValue(p.median()),
                    "</td><td class=\"num\">", FormatValue(p.q1()), "</td><td class=\"num\">",
                    FormatValue(p.q3()), "</td><td class=\"num\">", p.repetitions(), "</td></tr>");
  body += "</table>";
  return {200, Layout("History: " + h->metric(), body)};
}

std::pair<int, std::string> WebPages::Agents() {
  auto agents = agents_.ListAgents();
  if (!agents.ok()) return ErrorPage(agents.status());
  E body =
      "<table><tr><th>agent</th><th>connected</th><th>draining</th><th>machine class</th>"
      "<th>labels</th><th>running attempt</th><th>last seen (UTC)</th></tr>";
  for (const auto& a : *agents) {
    std::map<std::string, std::string> labels(a.labels().begin(), a.labels().end());
    std::string l;
    for (const auto& [k, v] : labels) absl::StrAppend(&l, Esc(k), "=", Esc(v), " ");
    absl::StrAppend(&body, "<tr><td>", Esc(a.name()), "</td><td>", a.connected() ? "yes" : "no",
                    "</td><td>", a.draining() ? "yes" : "no",
                    a.drained_by().empty() ? "" : " (by " + Esc(a.drained_by()) + ")", "</td><td>",
                    Esc(labels["machine_class"]), "</td><td>", l, "</td><td>",
                    a.running_attempt_id() ? std::to_string(a.running_attempt_id()) : "",
                    "</td><td>", Time(a.last_seen()), "</td></tr>");
  }
  return {200, Layout("Agents", body + "</table>")};
}

std::pair<int, std::string> WebPages::Queue() {
  E body;
  for (auto state : {v1::RUN_STATE_RUNNING, v1::RUN_STATE_QUEUED}) {
    v1::ListRunsRequest req;
    req.set_state(state);
    req.set_page_size(500);
    auto runs = jobs_.ListRuns(req);
    if (!runs.ok()) return ErrorPage(runs.status());
    absl::StrAppend(&body, "<h2>", state == v1::RUN_STATE_RUNNING ? "Running" : "Queued", " (",
                    runs->runs_size(), ")</h2>", RunsTable(*runs));
  }
  return {200, Layout("Queue", body)};
}

namespace {
std::string Bytes(int64_t n) { return FormatProfileValue(n, "bytes"); }
std::string Kept(absl::Duration d) {
  return d > absl::ZeroDuration() ? absl::StrCat(absl::ToInt64Hours(d) / 24, " days") : "kept";
}
}  // namespace

std::pair<int, std::string> WebPages::Storage() {
  if (retention_ == nullptr) return {404, Layout("Storage", "<p>No store usage here.</p>")};
  auto usage = retention_->Usage();
  if (!usage.ok()) return ErrorPage(usage.status());
  E body = "<table><tr><th>kind</th><th>size</th><th>removed after</th></tr>";
  for (const auto& k : usage->kinds()) {
    std::string after = "kept";
    if (k.kind() == "logs") after = Kept(retention_policy_.logs);
    if (k.kind() == "profiles") after = Kept(retention_policy_.profiles);
    absl::StrAppend(&body, "<tr><td>", Esc(k.kind()), "</td><td class=\"num\">", Bytes(k.bytes()),
                    "</td><td>", after, "</td></tr>");
  }
  absl::StrAppend(&body, "<tr><th>total</th><th class=\"num\">", Bytes(usage->total_bytes()),
                  "</th><th></th></tr></table><p>Logs and profiles of runs finished longer ago "
                  "than the policy are removed hourly; runs, measurements, verdicts and history "
                  "are kept. <code>perfgate gc --dry-run</code> says what would go now.</p>");
  return {200, Layout("Storage", body)};
}

std::pair<int, std::string> WebPages::ChangePoints(const Query& q) {
  v1::ListChangePointsRequest req;
  req.set_state(q("state"));
  req.set_suite_name(q("suite"));
  auto r = analysis_.ListChangePoints(req);
  if (!r.ok()) return ErrorPage(r.status());
  E body =
      "<table><tr><th>id</th><th>suite</th><th>job</th><th>metric</th><th>branch</th>"
      "<th>machine class</th><th>run</th><th>commit</th><th>before</th><th>after</th>"
      "<th>p</th><th>state</th><th>bisection</th></tr>";
  for (const auto& c : r->change_points()) {
    absl::StrAppend(
        &body, "<tr><td>", c.id(), "</td><td>", Esc(c.suite_name()), "</td><td>", Esc(c.job_name()),
        "</td><td><a href=\"/history?project=", Esc(c.project()), "&amp;branch=", Esc(c.branch()),
        "&amp;suite=", Esc(c.suite_name()), "&amp;job=", Esc(c.job_name()),
        "&amp;class=", Esc(c.machine_class()), "&amp;metric=", Esc(c.metric()), "\">",
        Esc(c.metric()), "</a></td><td>", Esc(c.branch()), "</td><td>", Esc(c.machine_class()),
        "</td><td><a href=\"/runs/", c.run_id(), "\">", c.run_id(), "</a></td><td><code>",
        Esc(c.commit().substr(0, 12)), "</code></td><td class=\"num\">", FormatValue(c.before()),
        "</td><td class=\"num\">", FormatValue(c.after()), "</td><td class=\"num\">",
        absl::StrFormat("%.2g", c.p()), "</td><td>", Esc(c.state()), "</td><td>");
    if (c.bisection_id() != 0) {
      absl::StrAppend(&body, "<a href=\"/bisections/", c.bisection_id(), "\">",
                      c.culprit().empty() ? "running" : Esc(c.culprit()), "</a>");
    }
    absl::StrAppend(&body, "</td></tr>");
  }
  return {200, Layout("Change points", body + "</table>")};
}

std::pair<int, std::string> WebPages::Alerts(const Query& q) {
  v1::ListAlertsRequest req;
  req.set_state(q("state"));
  auto r = analysis_.ListAlerts(req);
  if (!r.ok()) return ErrorPage(r.status());
  E body =
      "<table><tr><th>id</th><th>kind</th><th>state</th><th>summary</th><th>run</th>"
      "<th>webhook</th><th>alertmanager</th><th>last error</th></tr>";
  for (const auto& a : r->alerts())
    absl::StrAppend(&body, "<tr><td>", a.id(), "</td><td class=\"", Esc(a.kind()), "\">",
                    Esc(a.kind()), "</td><td>", Esc(a.state()), "</td><td>", Esc(a.summary()),
                    a.culprit().empty() ? "" : "<br>culprit: " + Esc(a.culprit()),
                    "</td><td><a href=\"/runs/", a.run_id(), "/compare\">", a.run_id(),
                    "</a></td><td>", Esc(a.webhook()), "</td><td>", Esc(a.alertmanager()),
                    "</td><td>", Esc(a.last_error()), "</td></tr>");
  return {200, Layout("Alerts", body + "</table>")};
}

std::pair<int, std::string> WebPages::Outbox(const Query& q) {
  if (!forge_) return ErrorPage(absl::NotFoundError("no CI integration"));
  const std::string state = q("state");
  if (!state.empty() && state != "pending" && state != "done" && state != "failed")
    return ErrorPage(absl::InvalidArgumentError("state: pending, done or failed"));
  auto r = forge_->ListOutbox(q("project"), state, 200);
  if (!r.ok()) return ErrorPage(r.status());
  E body =
      "<p>Reports on their way to GitHub and GitLab, newest first: each is retried with backoff "
      "(honouring the forge's rate limits) until sent; a forge's refusal stops it, with the "
      "forge's message. <a href=\"/outbox?state=pending\">pending</a> "
      "<a href=\"/outbox?state=failed\">failed</a></p>"
      "<table><tr><th>id</th><th>project</th><th>kind</th><th>target</th><th>run</th>"
      "<th>state</th><th>tries</th><th>next</th><th>HTTP</th><th>last error</th></tr>";
  for (const auto& e : *r) {
    absl::StrAppend(&body, "<tr><td>", e.id(), "</td><td>", Esc(e.project()), "</td><td>",
                    Esc(e.kind()), "</td><td>", Esc(e.target()), "</td><td>");
    if (e.run_id())
      absl::StrAppend(&body, "<a href=\"/runs/", e.run_id(), "\">", e.run_id(), "</a>");
    absl::StrAppend(&body, "</td><td class=\"", Esc(e.state()), "\">", Esc(e.state()), "</td><td>",
                    e.attempts(), "</td><td>",
                    e.state() == "pending" ? Esc(Time(e.next_at())) : std::string("-"), "</td><td>",
                    e.last_status() ? std::to_string(e.last_status()) : "-", "</td><td>",
                    Esc(e.last_error()), "</td></tr>");
  }
  return {200, Layout("Outbox", body + "</table>")};
}

void WebPages::Register(httplib::Server& server) {
  auto reply = [](httplib::Response& res, std::pair<int, std::string> page) {
    res.status = page.first;
    // The pages are HTML, inline CSS and inline SVG, nothing else: the browser is told to run
    // no script and fetch nothing, so a page that came to depend on either would show it.
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                   "form-action 'self'; frame-ancestors 'none'");
    res.set_content(page.second, "text/html; charset=utf-8");
  };
  auto query = [](const httplib::Request& req) -> Query {
    return [&req](const std::string& k) {
      std::string v = req.has_param(k.c_str()) ? req.get_param_value(k.c_str()) : "";
      return v.size() > 256 ? v.substr(0, 256) : v;
    };
  };
  auto id_of = [](const httplib::Request& req, int64_t* id) {
    return absl::SimpleAtoi(req.matches[1].str(), id) && *id > 0;
  };
  server.Get("/",
             [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/runs"); });
  server.Get("/runs", [=, this](const httplib::Request& req, httplib::Response& res) {
    reply(res, Runs(query(req)));
  });
  server.Get(R"(/runs/(\d+))", [=, this](const httplib::Request& req, httplib::Response& res) {
    int64_t id = 0;
    reply(res, id_of(req, &id) ? Run(id) : ErrorPage(absl::InvalidArgumentError("bad run id")));
  });
  server.Get(R"(/runs/(\d+)/compare)",
             [=, this](const httplib::Request& req, httplib::Response& res) {
               int64_t id = 0;
               reply(res, id_of(req, &id) ? Compare(id, query(req))
                                          : ErrorPage(absl::InvalidArgumentError("bad run id")));
             });
  server.Get(R"(/campaigns/(\d+))", [=, this](const httplib::Request& req, httplib::Response& res) {
    int64_t id = 0;
    reply(res, id_of(req, &id) ? Campaign(id)
                               : ErrorPage(absl::InvalidArgumentError("bad campaign id")));
  });
  server.Get("/bisections", [=, this](const httplib::Request&, httplib::Response& res) {
    reply(res, Bisections());
  });
  server.Get(
      R"(/bisections/(\d+))", [=, this](const httplib::Request& req, httplib::Response& res) {
        int64_t id = 0;
        reply(res, id_of(req, &id) ? Bisection(id, false)
                                   : ErrorPage(absl::InvalidArgumentError("bad bisection id")));
      });
  server.Get(
      R"(/bisections/(\d+)\.md)", [=, this](const httplib::Request& req, httplib::Response& res) {
        int64_t id = 0;
        if (!id_of(req, &id)) return reply(res, ErrorPage(absl::InvalidArgumentError("bad id")));
        auto [status, body] = Bisection(id, true);
        res.status = status;
        res.set_content(
            body, status == 200 ? "text/markdown; charset=utf-8" : "text/html; charset=utf-8");
      });
  server.Get("/history", [=, this](const httplib::Request& req, httplib::Response& res) {
    reply(res, History(query(req)));
  });
  server.Get("/agents",
             [=, this](const httplib::Request&, httplib::Response& res) { reply(res, Agents()); });
  server.Get("/storage",
             [=, this](const httplib::Request&, httplib::Response& res) { reply(res, Storage()); });
  server.Get("/queue",
             [=, this](const httplib::Request&, httplib::Response& res) { reply(res, Queue()); });
  server.Get("/changepoints", [=, this](const httplib::Request& req, httplib::Response& res) {
    reply(res, ChangePoints(query(req)));
  });
  server.Get("/alerts", [=, this](const httplib::Request& req, httplib::Response& res) {
    reply(res, Alerts(query(req)));
  });
  server.Get("/outbox", [=, this](const httplib::Request& req, httplib::Response& res) {
    reply(res, Outbox(query(req)));
  });
}

}  // namespace perfgate::controller
