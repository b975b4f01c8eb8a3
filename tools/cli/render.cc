#include "tools/cli/render.h"

#include <google/protobuf/util/time_util.h>

#include <cmath>
#include <iomanip>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json/proto_json.h"
#include "common/spec/fault_text.h"

namespace perfgate::cli {
namespace {

std::string Short(const std::string& enum_name, const std::string& prefix) {
  return enum_name.rfind(prefix, 0) == 0 ? enum_name.substr(prefix.size()) : enum_name;
}

std::string When(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0) return "-";
  std::string s = google::protobuf::util::TimeUtil::ToString(ts);
  return s.substr(0, 19) + "Z";
}

}  // namespace

std::string RunStateShort(v1::RunState s) { return Short(v1::RunState_Name(s), "RUN_STATE_"); }

std::string EnumLower(const std::string& enum_name, const std::string& prefix) {
  std::string s = Short(enum_name, prefix);
  for (auto& ch : s) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  return s;
}

void RenderRun(std::ostream& out, const v1::Run& run) {
  out << "run " << run.id() << "  " << RunStateShort(run.state()) << "\n"
      << "  kind:    " << Short(v1::RunKind_Name(run.kind()), "RUN_KIND_")
      << (run.aa() ? " (A/A)" : "")
      << (run.confirms_run_id() ? absl::StrCat(" (confirms run ", run.confirms_run_id(), ")")
                                : std::string())
      << (run.verdict().empty() ? "" : "   verdict: " + run.verdict()) << "\n"
      << "  project: " << (run.project().empty() ? "-" : run.project())
      << "   branch: " << (run.branch().empty() ? "-" : run.branch())
      << "   commit: " << (run.commit().empty() ? "-" : run.commit()) << "\n"
      << "  suite:   " << (run.suite_name().empty() ? "-" : run.suite_name()) << "\n"
      << "  created: " << When(run.created_at()) << "   finished: " << When(run.finished_at())
      << "\n";
  if (!run.submitted_by().empty()) out << "  submitted by: " << run.submitted_by() << "\n";
  if (!run.cancelled_by().empty()) out << "  cancelled by: " << run.cancelled_by() << "\n";
  if (run.jobs().empty()) return;
  bool commits = false;  // jobs at their own commits (confirmation runs)
  for (const auto& j : run.jobs()) commits |= !j.spec().commit().empty();
  out << "\n  " << std::left << std::setw(8) << "JOB" << std::setw(24) << "NAME" << std::setw(12)
      << "STATE" << std::setw(9) << "ATTEMPTS" << std::setw(20) << "AGENT"
      << (commits ? "COMMIT        " : "") << "MESSAGE\n";
  for (const auto& j : run.jobs()) {
    std::string agent = j.attempts().empty() ? "-" : j.attempts(j.attempts_size() - 1).agent();
    out << "  " << std::left << std::setw(8) << j.id() << std::setw(24) << j.name().substr(0, 23)
        << std::setw(12) << Short(v1::JobState_Name(j.state()), "JOB_STATE_") << std::setw(9)
        << j.attempts_made() << std::setw(20) << agent.substr(0, 19);
    if (commits) {
      out << std::setw(14)
          << (j.spec().commit().empty() ? run.commit() : j.spec().commit()).substr(0, 12);
    }
    out << j.message() << "\n";
  }
}

void RenderRunList(std::ostream& out, const v1::ListRunsResponse& list) {
  out << std::left << std::setw(8) << "RUN" << std::setw(12) << "STATE" << std::setw(12) << "KIND"
      << std::setw(20) << "BRANCH" << std::setw(14) << "COMMIT" << std::setw(20) << "SUITE"
      << "CREATED\n";
  for (const auto& r : list.runs()) {
    out << std::left << std::setw(8) << r.id() << std::setw(12) << RunStateShort(r.state())
        << std::setw(12) << Short(v1::RunKind_Name(r.kind()), "RUN_KIND_") << std::setw(20)
        << r.branch().substr(0, 19) << std::setw(14) << r.commit().substr(0, 12) << std::setw(20)
        << r.suite_name().substr(0, 19) << When(r.created_at()) << "\n";
  }
  if (!list.next_page_token().empty())
    out << "(more: --page-token " << list.next_page_token() << ")\n";
}

void RenderAgents(std::ostream& out, const v1::ListAgentsResponse& agents) {
  out << std::left << std::setw(24) << "AGENT" << std::setw(11) << "CONNECTED" << std::setw(18)
      << "DRAINING (BY)" << std::setw(10) << "ATTEMPT" << std::setw(22) << "LAST SEEN"
      << "LABELS\n";
  for (const auto& a : agents.agents()) {
    std::vector<std::string> labels;
    std::map<std::string, std::string> sorted(a.labels().begin(), a.labels().end());
    for (const auto& [k, v] : sorted) labels.push_back(k + "=" + v);
    std::string draining = a.draining() ? "yes" : "no";
    if (!a.drained_by().empty()) draining += " (" + a.drained_by().substr(0, 10) + ")";
    out << std::left << std::setw(24) << a.name().substr(0, 23) << std::setw(11)
        << (a.connected() ? "yes" : "no") << std::setw(18) << draining << std::setw(10)
        << (a.running_attempt_id() ? std::to_string(a.running_attempt_id()) : "-") << std::setw(22)
        << When(a.last_seen()) << absl::StrJoin(labels, ",") << "\n";
  }
}

}  // namespace perfgate::cli

namespace perfgate::cli {
namespace {

bool Headline(const std::string& name) {
  static const char* kPrefixes[] = {"http.throughput",   "http.latency.p50", "http.latency.p99",
                                    "http.latency.p999", "http.errors",      "pg.tps",
                                    "pg.latency.mean",   "pg.latency.p99"};
  for (const char* p : kPrefixes)
    if (name == p) return true;
  // The suite's own Prometheus queries, and whether the host was quiet.
  if (name.rfind("prom.", 0) == 0 || name == "host.cpu_util") return true;
  // Per-service resources.
  return name.rfind("proc.", 0) == 0 && (name.find(".rss_peak") != std::string::npos ||
                                         name.find(".cpu_util") != std::string::npos);
}

std::string Num(double v) {
  std::ostringstream o;
  if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-3)) {
    o << std::setprecision(3) << std::scientific << v;
  } else {
    o << std::setprecision(std::fabs(v) >= 1000 ? 0
                           : std::fabs(v) >= 10 ? 2
                                                : 3)
      << std::fixed << v;
  }
  return o.str();
}

}  // namespace

void RenderResults(std::ostream& out, const v1::RunResults& results, bool all) {
  for (const auto& job : results.jobs()) {
    out << "job " << job.job_name() << " (id " << job.job_id() << ")";
    if (job.repetitions().empty()) {
      out << ": no results\n\n";
      continue;
    }
    int valid = 0;
    for (const auto& r : job.repetitions()) valid += r.valid();
    out << ", attempt " << job.attempt_id() << ": " << job.repetitions_size() << " repetitions, "
        << valid << " valid, generator " << job.repetitions(0).generator() << "\n";
    for (const auto& r : job.repetitions()) {
      if (!r.valid())
        out << "  ! repetition " << r.repetition() << " invalid: " << r.invalid_reason() << "\n";
      for (const auto& g : r.gaps())
        out << "  - repetition " << r.repetition() << " gap " << g.name() << ": " << g.reason()
            << "\n";
      for (const auto& f : r.faults())
        out << "  ~ repetition " << r.repetition() << " fault " << common::FaultText(f) << "\n";
    }
    size_t width = 6;
    for (const auto& s : job.summary())
      if (all || Headline(s.name())) width = std::max(width, s.name().size());
    out << "  " << std::left << std::setw(width) << "metric" << std::right << std::setw(8) << "unit"
        << std::setw(11) << "median" << std::setw(10) << "IQR" << std::setw(8) << "CV"
        << "   repetitions\n";
    for (const auto& s : job.summary()) {
      if (!all && !Headline(s.name())) continue;
      out << "  " << std::left << std::setw(width) << s.name() << std::right << std::setw(8)
          << s.unit() << std::setw(11) << Num(s.median()) << std::setw(10) << Num(s.iqr())
          << std::setw(7) << std::fixed << std::setprecision(1) << s.cv() * 100 << "%"
          << "  ";
      for (const auto& r : job.repetitions()) {
        for (const auto& m : r.measurements()) {
          if (m.name() == s.name()) out << " " << Num(m.value()) << (r.valid() ? "" : "!");
        }
      }
      out << "\n";
    }
    out << "\n";
  }
}

}  // namespace perfgate::cli
