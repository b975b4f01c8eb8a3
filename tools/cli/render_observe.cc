// Tables for what agents observe: Prometheus series, database statistics, profiles.
#include <cmath>
#include <iomanip>
#include <sstream>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "controller/report/render.h"
#include "tools/cli/render.h"

namespace perfgate::cli {

using controller::FormatProfileValue;

namespace {

std::string Pct(int64_t v, int64_t total) {
  if (total == 0) return "-";
  return absl::StrFormat("%.1f%%", 100.0 * v / total);
}

std::string Signed(int64_t v, const std::string& unit) {
  return (v > 0 ? "+" : "") + FormatProfileValue(v, unit);
}

std::string Shorten(const std::string& s, size_t n) {
  std::string one;
  for (char c : s) one += (c == '\n' || c == '\t') ? ' ' : c;
  return one.size() > n ? one.substr(0, n - 3) + "..." : one;
}

}  // namespace

void RenderSeries(std::ostream& out, const v1::GetRunSeriesResponse& s) {
  if (s.repetitions().empty()) {
    out << "no series of that name\n";
    return;
  }
  for (const auto& rep : s.repetitions()) {
    for (const auto& series : rep.series()) {
      out << "job " << rep.job_name() << " repetition " << rep.repetition() << " " << series.name();
      if (!series.labels().empty()) {
        out << " {";
        bool first = true;
        std::map<std::string, std::string> sorted(series.labels().begin(), series.labels().end());
        for (const auto& [k, v] : sorted) {
          out << (first ? "" : ", ") << k << "=\"" << v << "\"";
          first = false;
        }
        out << "}";
      }
      if (!series.unit().empty()) out << " (" << series.unit() << ")";
      out << "\n";
      const int64_t t0 = series.points().empty() ? 0 : series.points(0).t_ms();
      for (const auto& p : series.points()) {
        out << "  " << std::setw(8) << absl::StrFormat("+%.1fs", (p.t_ms() - t0) / 1000.0) << "  "
            << absl::StrFormat("%.6g", p.value()) << "\n";
      }
    }
  }
}

void RenderDbStats(std::ostream& out, const v1::GetRunDbStatsResponse& d) {
  if (d.repetitions().empty()) {
    out << "no database statistics\n";
    return;
  }
  for (const auto& rep : d.repetitions()) {
    out << "job " << rep.job_name() << " repetition " << rep.repetition() << "\n";
    out << "  " << std::setw(10) << "calls" << std::setw(12) << "total ms" << std::setw(10)
        << "mean ms" << std::setw(10) << "rows" << std::setw(10) << "hit" << std::setw(8) << "read"
        << "  query\n";
    for (const auto& st : rep.dbstats().statements()) {
      out << "  " << std::setw(10) << st.calls() << std::setw(12)
          << absl::StrFormat("%.2f", st.total_ms()) << std::setw(10)
          << absl::StrFormat("%.3f", st.mean_ms()) << std::setw(10) << st.rows() << std::setw(10)
          << st.shared_blks_hit() << std::setw(8) << st.shared_blks_read() << "  "
          << Shorten(st.query(), 70) << "\n";
    }
    for (const auto& x : rep.dbstats().explains()) {
      out << "  explain " << x.name() << ": " << Shorten(x.plan_json(), 200) << "\n";
    }
  }
}

void RenderProfiles(std::ostream& out, const v1::ListProfilesResponse& p) {
  if (p.profiles().empty()) {
    out << "no profiles\n";
    return;
  }
  out << std::setw(6) << "id"
      << "  " << std::left << std::setw(14) << "job" << std::right << std::setw(4) << "rep"
      << "  " << std::left << std::setw(14) << "service" << std::setw(11) << "kind" << std::setw(9)
      << "point" << std::right << std::setw(11) << "size"
      << "  sha256\n";
  for (const auto& r : p.profiles()) {
    out << std::setw(6) << r.id() << "  " << std::left << std::setw(14) << r.job_name()
        << std::right << std::setw(4) << r.repetition() << "  " << std::left << std::setw(14)
        << r.service() << std::setw(11) << r.kind() << std::setw(9) << r.point() << std::right
        << std::setw(11) << FormatProfileValue(r.size(), "bytes") << "  "
        << r.sha256().substr(0, 12) << "\n";
  }
}

void RenderProfileTop(std::ostream& out, const v1::ProfileTop& t) {
  out << "profile " << t.profile_id() << ": " << t.sample_type() << " (" << t.unit() << "), total "
      << FormatProfileValue(t.total(), t.unit()) << " in " << t.samples() << " samples\n";
  out << "sample types:";
  for (const auto& s : t.sample_types()) out << " " << s;
  out << "\n";
  out << std::setw(12) << "flat" << std::setw(7) << "flat%" << std::setw(12) << "cum"
      << std::setw(7) << "cum%"
      << "  function\n";
  for (const auto& f : t.functions()) {
    out << std::setw(12) << FormatProfileValue(f.flat(), t.unit()) << std::setw(7)
        << Pct(f.flat(), t.total()) << std::setw(12) << FormatProfileValue(f.cum(), t.unit())
        << std::setw(7) << Pct(f.cum(), t.total()) << "  " << f.name() << "\n";
  }
}

void RenderProfileDiff(std::ostream& out, const v1::ProfileDiff& d) {
  out << "profile " << d.base_id() << " -> " << d.candidate_id() << ": " << d.sample_type() << " ("
      << d.unit() << "), total " << FormatProfileValue(d.base_total(), d.unit()) << " -> "
      << FormatProfileValue(d.candidate_total(), d.unit()) << " ("
      << Signed(d.candidate_total() - d.base_total(), d.unit()) << ")\n";
  out << std::setw(13) << "flat delta" << std::setw(12) << "base" << std::setw(12) << "candidate"
      << std::setw(13) << "cum delta"
      << "  function\n";
  for (const auto& f : d.functions()) {
    out << std::setw(13) << Signed(f.candidate_flat() - f.base_flat(), d.unit()) << std::setw(12)
        << FormatProfileValue(f.base_flat(), d.unit()) << std::setw(12)
        << FormatProfileValue(f.candidate_flat(), d.unit()) << std::setw(13)
        << Signed(f.candidate_cum() - f.base_cum(), d.unit()) << "  " << f.name() << "\n";
  }
}

}  // namespace perfgate::cli
