// The CLI's tables for comparisons, history, alerts and change points. A comparison is shown
// by the same plain-text renderer the controller uses for reports.
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "controller/report/render.h"
#include "tools/cli/render.h"

namespace perfgate::cli {

void RenderComparison(std::ostream& out, const v1::Comparison& c) {
  out << controller::RenderText(c);
}

void RenderHistory(std::ostream& out, const v1::History& h) {
  out << h.suite_name() << " " << h.job_name() << " " << h.metric() << " (" << h.unit() << ") on "
      << h.branch() << ", machine class " << h.machine_class() << ": " << h.points_size()
      << " baseline runs\n";
  out << absl::StrFormat("%-8s %-14s %-20s %12s %12s %12s %5s  %s\n", "RUN", "COMMIT", "AT (UTC)",
                         "MEDIAN", "Q1", "Q3", "REPS", "");
  for (const auto& p : h.points()) {
    std::string mark;
    for (const auto& c : h.change_points())
      if (c.run_id() == p.run_id())
        mark = absl::StrFormat("<- change point %d (%s): %.4g -> %.4g, p %.2g", c.id(), c.state(),
                               c.before(), c.after(), c.p());
    out << absl::StrFormat(
        "%-8d %-14s %-20s %12.4g %12.4g %12.4g %5d  %s\n", p.run_id(), p.commit().substr(0, 12),
        absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(p.at().seconds()),
                         absl::UTCTimeZone()),
        p.median(), p.q1(), p.q3(), p.repetitions(), mark);
  }
}

void RenderAlerts(std::ostream& out, const v1::ListAlertsResponse& a) {
  out << absl::StrFormat("%-6s %-13s %-13s %-10s %-12s %s\n", "ID", "KIND", "STATE", "WEBHOOK",
                         "ALERTMANAGER", "SUMMARY");
  for (const auto& x : a.alerts()) {
    out << absl::StrFormat("%-6d %-13s %-13s %-10s %-12s %s\n", x.id(), x.kind(), x.state(),
                           x.webhook(), x.alertmanager(), x.summary());
    if (x.worst_functions_size() > 0)
      out << "       worst-moving functions (" << x.worst_functions_profile() << ", flat):\n";
    for (const std::string& line : controller::WorstFunctionLines(x))
      out << "         " << line << "\n";
    if (!x.culprit().empty()) out << "       culprit: " << x.culprit() << "\n";
    if (!x.url().empty()) out << "       " << x.url() << "\n";
    if (!x.last_error().empty()) out << "       last delivery error: " << x.last_error() << "\n";
    if (!x.triaged_by().empty())
      out << "       " << x.state() << " by " << x.triaged_by()
          << (x.note().empty() ? "" : ": " + x.note()) << "\n";
  }
}

void RenderChangePoints(std::ostream& out,
                        const google::protobuf::RepeatedPtrField<v1::ChangePointRecord>& cps) {
  out << absl::StrFormat("%-5s %-14s %-16s %-24s %-8s %-14s %12s %12s %8s\n", "ID", "STATE",
                         "SUITE", "METRIC", "RUN", "COMMIT", "BEFORE", "AFTER", "P");
  for (const auto& c : cps) {
    out << absl::StrFormat("%-5d %-14s %-16s %-24s %-8d %-14s %12.4g %12.4g %8.2g\n", c.id(),
                           c.state(), c.suite_name(), c.job_name() + "/" + c.metric(), c.run_id(),
                           c.commit().substr(0, 12), c.before(), c.after(), c.p());
    if (c.bisection_id() != 0)
      out << "      bisection " << c.bisection_id() << ": "
          << (c.culprit().empty() ? "running" : c.culprit()) << "\n";
    if (!c.triaged_by().empty())
      out << "      " << c.state() << " by " << c.triaged_by()
          << (c.note().empty() ? "" : ": " + c.note()) << "\n";
  }
}

}  // namespace perfgate::cli
