#include "controller/report/render.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json/proto_json.h"
#include "controller/analysis/comparer.h"

namespace perfgate::controller {
namespace {

// What goes in the top table: every gating metric that did not come out no_change, and any
// metric that moved (an inconclusive metric that does not gate only in the full table).
bool Notable(const v1::MetricComparison& m) {
  return m.verdict() == v1::VERDICT_REGRESSION || m.verdict() == v1::VERDICT_IMPROVEMENT ||
         (m.verdict() == v1::VERDICT_INCONCLUSIVE && IsGate(m));
}

std::string Short(const std::string& commit) { return commit.substr(0, 12); }

std::string Baselines(const v1::Comparison& c) {
  std::string out;
  for (int i = 0; i < c.baseline_run_ids_size(); ++i) {
    if (i) out += ", ";
    out += absl::StrFormat("run %d (%s)", c.baseline_run_ids(i),
                           Short(i < c.baseline_commits_size() ? c.baseline_commits(i) : ""));
  }
  return out.empty() ? "none" : out;
}

// A Markdown table row of the verdict table.
std::string MetricRow(const v1::MetricComparison& m) {
  return absl::StrCat("| ", VerdictText(m.verdict()), " | ", m.job_name(), " | ", m.name(),
                      IsGate(m) ? "" : " (reported)", " | ", FormatValue(m.baseline_median()), " ",
                      m.unit(), " | ", FormatValue(m.candidate_median()), " ", m.unit(), " | ",
                      FormatChange(m), " | ", FormatInterval(m), " | ", FormatFloor(m), " | ",
                      DecidedBy(m), " | ", absl::StrFormat("%.2g", m.p()), " |\n");
}

}  // namespace

std::string FormatValue(double v) { return absl::StrFormat("%.4g", v); }

std::vector<std::string> WorstFunctionLines(const v1::Alert& a) {
  std::vector<std::string> lines;
  for (const auto& f : a.worst_functions()) {
    lines.push_back(absl::StrCat(
        SignedProfileValue(f.candidate_flat() - f.base_flat(), a.worst_functions_unit()), "  ",
        f.name()));
  }
  return lines;
}

std::string SignedProfileValue(int64_t v, const std::string& unit) {
  return (v > 0 ? "+" : "") + FormatProfileValue(v, unit);
}

std::string FormatProfileValue(int64_t v, const std::string& unit) {
  const double a = std::fabs(static_cast<double>(v));
  if (unit == "bytes") {
    if (a >= 1 << 30) return absl::StrFormat("%.2f GiB", v / double(1 << 30));
    if (a >= 1 << 20) return absl::StrFormat("%.2f MiB", v / double(1 << 20));
    if (a >= 1 << 10) return absl::StrFormat("%.1f KiB", v / 1024.0);
    return absl::StrFormat("%d B", v);
  }
  if (unit == "nanoseconds") {
    if (a >= 1e9) return absl::StrFormat("%.2f s", v / 1e9);
    if (a >= 1e6) return absl::StrFormat("%.2f ms", v / 1e6);
    if (a >= 1e3) return absl::StrFormat("%.2f us", v / 1e3);
    return absl::StrFormat("%d ns", v);
  }
  return absl::StrFormat("%d", v);
}

std::string ProfileCounts(const v1::ProfileDiff& d) {
  // Diffs stored before the counts existed were of one profile a side.
  const int b = std::max(1, d.base_profiles()), c = std::max(1, d.candidate_profiles());
  if (b == 1 && c == 1) return "1 -> 1 profile";
  return absl::StrFormat("mean of %d -> %d profiles", b, c);
}

std::string FormatChange(const v1::MetricComparison& m) {
  if (!m.has_ratio()) return m.candidate_median() == 0 ? "0" : "from 0";
  return absl::StrFormat("%+.1f %%", 100 * (m.ratio() - 1));
}

std::string FormatInterval(const v1::MetricComparison& m) {
  // Comparisons stored before the widened interval existed show the repetitions' interval.
  const bool widened = m.interval_low() != 0 || m.interval_high() != 0;
  const double low = widened ? m.interval_low() : m.ratio_low();
  const double high = widened ? m.interval_high() : m.ratio_high();
  if (!m.has_ratio() || (low == 0 && high == 0)) return "-";
  return absl::StrFormat("%+.1f .. %+.1f %%", 100 * (low - 1), 100 * (high - 1));
}

std::string FormatFloor(const v1::MetricComparison& m) {
  std::string f = absl::StrFormat("+-%.1f %%", 100 * m.floor());
  if (m.margin() > 0)
    absl::StrAppend(&f, absl::StrFormat(" (runs +-%.1f %%%s)", 100 * m.margin(),
                                        m.margin_prior() ? " assumed" : ""));
  return f;
}

std::string DecidedBy(const v1::MetricComparison& m) {
  const std::string& d = m.decided_by();
  if (d.empty()) return "-";  // stored before the decision was recorded
  std::string out = d == "beyond_floor"          ? "interval beyond the floor"
                    : d == "within_floor"        ? "interval within the floor"
                    : d == "straddles_floor"     ? "interval across the floor"
                    : d == "not_significant"     ? "not significant"
                    : d == "too_few_repetitions" ? "too few repetitions"
                                                 : d;
  if (m.repetitions_needed() > 0)
    absl::StrAppend(&out, m.repetitions_needed() >= 100000
                              ? std::string("; needs >100,000 a side")
                              : absl::StrCat("; needs ", m.repetitions_needed(), " a side"));
  return out;
}

bool IsGate(const v1::MetricComparison& m) { return m.gate() || m.decided_by().empty(); }

std::string RenderMarkdown(const v1::Comparison& c, const std::string& page_url) {
  std::ostringstream o;
  o << "### perfgate: **" << VerdictText(c.verdict()) << "** — `" << c.suite_name() << "` at `"
    << Short(c.candidate_commit()) << "`\n\n";
  o << "Candidate run " << c.candidate_run_id() << " (" << c.branch() << ") against "
    << Baselines(c) << " of `" << c.baseline_branch() << "` on machine class `" << c.machine_class()
    << "`.";
  if (!page_url.empty()) o << " [Comparison page](" << page_url << ")";
  o << "\n\n";
  if (!c.note().empty()) o << "> " << c.note() << "\n\n";
  if (!c.confirmation_plan().empty()) o << "> Confirmation: " << c.confirmation_plan() << "\n\n";
  const char* header =
      "| verdict | job | metric | baseline | candidate | change | interval | floor | decided by "
      "| p |\n"
      "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n";
  int notable = 0;
  for (const auto& m : c.metrics()) notable += Notable(m);
  if (notable) {
    o << header;
    for (const auto& m : c.metrics())
      if (Notable(m)) o << MetricRow(m);
    o << "\n";
  } else if (c.metrics_size()) {
    o << "No change beyond the floor in " << c.metrics_size() << " metrics.\n\n";
  }
  if (c.limits_size()) {
    o << "| limit | job | metric | level |\n| --- | --- | --- | --- |\n";
    for (const auto& l : c.limits())
      o << "| " << l.level() << " | " << l.job_name() << " | " << l.metric() << " | " << l.text()
        << " |\n";
    o << "\n";
  }
  if (c.metrics_size()) {
    o << "<details><summary>All " << c.metrics_size() << " metrics</summary>\n\n" << header;
    for (const auto& m : c.metrics()) o << MetricRow(m);
    o << "\nchange = ratio of medians; interval = its bootstrap 95 % interval over the "
         "repetitions, widened by the run-to-run noise; regression or improvement when the "
         "interval lies beyond the floor (and Mann-Whitney U with Benjamini-Hochberg agrees), "
         "no_change when it lies within it, inconclusive when it reaches across. Metrics marked "
         "(reported) do not decide the verdict.\n\n</details>\n\n";
  }
  for (const auto& curve : c.curves()) {
    o << "<details><summary>Latency percentiles, " << curve.job_name() << " " << curve.histogram()
      << "</summary>\n\n| percentile | baseline ms | candidate ms |\n| ---: | ---: | ---: |\n";
    for (int i = 0; i < curve.percentiles_size(); ++i)
      o << "| p" << curve.percentiles(i) << " | " << FormatValue(curve.baseline_ms(i)) << " | "
        << FormatValue(curve.candidate_ms(i)) << " |\n";
    o << "\n</details>\n\n";
  }
  for (const auto& d : c.profile_diffs()) {
    o << "<details><summary>Profile diff " << d.label() << " (" << d.sample_type() << ", "
      << d.unit() << ", " << ProfileCounts(d)
      << ")</summary>\n\n| function | baseline flat | candidate flat | change |\n"
      << "| --- | ---: | ---: | ---: |\n";
    for (const auto& f : d.functions())
      o << "| `" << f.name() << "` | " << FormatProfileValue(f.base_flat(), d.unit()) << " | "
        << FormatProfileValue(f.candidate_flat(), d.unit()) << " | "
        << SignedProfileValue(f.candidate_flat() - f.base_flat(), d.unit()) << " |\n";
    o << "\n</details>\n\n";
  }
  return o.str();
}

std::string RenderText(const v1::Comparison& c) {
  std::ostringstream o;
  o << "verdict: " << VerdictText(c.verdict()) << "\n";
  o << "candidate: run " << c.candidate_run_id() << " " << Short(c.candidate_commit()) << " ("
    << c.branch() << ")\n";
  o << "baseline:  " << Baselines(c) << " of " << c.baseline_branch() << "\n";
  o << "machine class: " << c.machine_class() << "\n";
  if (!c.note().empty()) o << "note: " << c.note() << "\n";
  if (!c.confirmation_plan().empty()) o << "confirmation: " << c.confirmation_plan() << "\n";
  o << c.summary() << "\n\n";
  if (c.metrics_size()) {
    o << absl::StrFormat("%-12s %-4s %-10s %-28s %12s %12s %9s %18s  %-31s %-28s %8s\n", "VERDICT",
                         "GATE", "JOB", "METRIC", "BASELINE", "CANDIDATE", "CHANGE", "INTERVAL",
                         "FLOOR", "DECIDED BY", "P");
    for (const auto& m : c.metrics()) {
      o << absl::StrFormat("%-12s %-4s %-10s %-28s %12s %12s %9s %18s  %-31s %-28s %8.2g\n",
                           VerdictText(m.verdict()), IsGate(m) ? "yes" : "no", m.job_name(),
                           m.name(), FormatValue(m.baseline_median()),
                           FormatValue(m.candidate_median()), FormatChange(m), FormatInterval(m),
                           FormatFloor(m), DecidedBy(m), m.p());
    }
  }
  for (const auto& l : c.limits())
    o << "\nlimit " << l.job_name() << "/" << l.metric() << ": " << l.text();
  if (c.limits_size()) o << "\n";
  for (const auto& curve : c.curves()) {
    o << "\n" << curve.job_name() << " " << curve.histogram() << " percentiles (ms): ";
    for (int i = 0; i < curve.percentiles_size(); ++i)
      o << absl::StrFormat("p%g %s->%s  ", curve.percentiles(i), FormatValue(curve.baseline_ms(i)),
                           FormatValue(curve.candidate_ms(i)));
    o << "\n";
  }
  for (const auto& d : c.profile_diffs()) {
    o << "\nprofile diff " << d.label() << " (" << d.sample_type() << ", " << d.unit() << ", "
      << ProfileCounts(d) << "):\n";
    for (int i = 0; i < d.functions_size() && i < 5; ++i) {
      const auto& f = d.functions(i);
      o << absl::StrFormat("  %12s  %s\n",
                           SignedProfileValue(f.candidate_flat() - f.base_flat(), d.unit()),
                           f.name());
    }
  }
  return o.str();
}

std::string RenderJson(const v1::Comparison& c) { return common::ProtoToJson(c); }

}  // namespace perfgate::controller
