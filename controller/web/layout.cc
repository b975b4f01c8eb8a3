#include "controller/web/layout.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "controller/web/svg.h"

namespace perfgate::controller {

E Esc(const std::string& s) { return HtmlEscape(s); }

std::string Layout(const std::string& title, const E& body) {
  return absl::StrCat(
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      // No icon: otherwise every browser asks for /favicon.ico and logs the 404 as an error.
      "<link rel=\"icon\" href=\"data:,\"><title>",
      Esc(title),
      " · perfgate</title><style>"
      "body{font:14px/1.4 system-ui,sans-serif;margin:0 2em 2em;color:#222}"
      "nav{padding:.8em 0;border-bottom:1px solid #ddd;margin-bottom:1em}nav a{margin-right:1.2em}"
      "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ddd;"
      "padding:3px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}"
      "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
      ".regression{color:#b00;font-weight:600}.improvement{color:#070;font-weight:600}"
      ".inconclusive{color:#a60}.no_change{color:#666}pre{background:#f8f8f8;padding:.6em;"
      "}.lvl-target{background:#e3f4e1}.lvl-acceptable{background:#fdf6d3}"
      ".lvl-above_acceptable{background:#fde3c0}.lvl-critical,.broken{background:#fbd5d2}"
      ".outcome-pass{color:#070}.outcome-warn{color:#a60}.outcome-fail{color:#b00}pre{"
      "overflow:auto;max-height:30em}.chart{display:block;margin:.3em 0}form{margin:.5em 0}"
      "</style></head><body><nav><a href=\"/runs\">Runs</a><a href=\"/queue\">Queue</a>"
      "<a href=\"/agents\">Agents</a><a href=\"/changepoints\">Change points</a>"
      "<a href=\"/alerts\">Alerts</a><a href=\"/outbox\">Outbox</a><a href=\"/storage\">Storage</a>"
      "</nav><h1>",
      Esc(title), "</h1>", body, "</body></html>");
}

std::pair<int, std::string> ErrorPage(const absl::Status& s) {
  int code = 500;
  if (absl::IsNotFound(s)) code = 404;
  if (absl::IsInvalidArgument(s)) code = 400;
  return {code, Layout(code == 404 ? "Not found" : "Error",
                       absl::StrCat("<p>", Esc(std::string(s.message())), "</p>"))};
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0) return "";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

std::string VerdictCell(const std::string& verdict) {
  if (verdict.empty()) return "<td></td>";
  return absl::StrCat("<td class=\"", Esc(verdict), "\">", Esc(verdict), "</td>");
}

}  // namespace perfgate::controller
