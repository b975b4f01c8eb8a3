#include "controller/analysis/analyser.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hist/hdr_histogram.h"
#include "common/spec/analysis_spec.h"
#include "controller/profile/pprof.h"

namespace perfgate::controller {
namespace {

// Latency curves are drawn for these histograms when both sides have them.
constexpr const char* kCurveHistograms[] = {"http.latency"};
constexpr double kCurvePercentiles[] = {50, 75, 90, 95, 99, 99.9};
// Profiles read per side and diff: a run's repetitions, or the first of several pooled runs'.
constexpr size_t kMaxProfilesPerSide = 12;

absl::StatusOr<common::HdrHistogram> Merge(const std::vector<v1::HdrHistogram>& hs) {
  auto out = common::HdrHistogram::Create();
  if (!out.ok()) return out.status();
  for (const auto& p : hs) {
    auto h = common::HdrHistogram::FromProto(p);
    if (!h.ok()) return h.status();
    if (auto s = out->Merge(*h); !s.ok()) return s;
  }
  return out;
}

// The profile's default sample type for diffs: CPU time, or memory in use.
std::string DiffSampleType(const std::string& kind) {
  if (kind == "cpu") return "cpu";
  if (kind == "heap") return "inuse_space";
  return "";
}

}  // namespace

void Analyser::Start() {
  thread_ = std::thread([this] {
    while (!stop_) {
      const uint64_t seen = run_states_.generation();
      RunOnce();
      // Woken by a run state change (a run finishing among them) or Stop, else the slow poll.
      run_states_.WaitForChange(seen, opts_.poll);
    }
  });
}

void Analyser::Stop() {
  stop_ = true;
  run_states_.Notify();
  if (thread_.joinable()) thread_.join();
}

int Analyser::RunOnce() {
  auto runs = store_.RunsToAnalyse(20);
  if (!runs.ok()) {
    spdlog::warn("component=analyser msg=\"cannot list runs to analyse\" error=\"{}\"",
                 runs.status().ToString());
    return 0;
  }
  int done = 0;
  for (const v1::Run& run : *runs) {
    if (stop_) break;
    absl::Status s = Analyse(run);
    if (!s.ok() && !IsTransient(s)) {
      // Trying again would fail again, and runs wait for analysis oldest first: a run that
      // cannot be analysed is recorded as analysed, with why, so that it blocks nothing.
      spdlog::error(
          "component=analyser msg=\"analysis failed; the run is left unanalysed\" "
          "run={} error=\"{}\"",
          run.id(), s.ToString());
      s = SaveFailure(run, s);
    }
    if (!s.ok()) {
      spdlog::warn("component=analyser msg=\"analysis failed; will retry\" run={} error=\"{}\"",
                   run.id(), s.ToString());
      continue;
    }
    ++done;
  }
  return done;
}

bool Analyser::IsTransient(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsAborted(s) || absl::IsDeadlineExceeded(s) ||
         absl::IsResourceExhausted(s) || absl::IsCancelled(s);
}

absl::Status Analyser::SaveFailure(const v1::Run& run, const absl::Status& why) {
  AnalysisOutcome out;
  out.run_id = run.id();
  const bool compared =
      run.kind() == v1::RUN_KIND_CANDIDATE || run.against_run_id() != 0 || run.aa();
  if (compared && run.state() == v1::RUN_STATE_SUCCEEDED) {
    RunSamples r;
    r.run = run;
    r.run.clear_jobs();
    out.comparison = NoComparison(r, absl::StrCat("analysis failed: ", why.message()));
  }
  return store_.SaveAnalysis(&out);
}

absl::StatusOr<v1::Comparison> Analyser::Compare(int64_t candidate, int64_t against) {
  auto samples = store_.LoadRunSamples(candidate);
  if (!samples.ok()) return samples.status();
  if (against != 0 && against == candidate)
    return absl::InvalidArgumentError("against_run_id: a run cannot be compared with itself");
  return CompareSamples(*samples, against);
}

absl::StatusOr<v1::Comparison> Analyser::CompareSamples(const RunSamples& candidate,
                                                        int64_t against) {
  const v1::Run& run = candidate.run;
  const std::string branch = run.baseline_branch().empty() ? run.branch() : run.baseline_branch();
  if (candidate.jobs.empty()) return NoComparison(candidate, "the run measured nothing");
  // The baseline runs: the explicit one, or per job the newest K on the same machine class.
  std::vector<int64_t> ids;
  std::vector<std::string> missing;
  if (against != 0) {
    ids.push_back(against);
  } else {
    for (const JobSamples& job : candidate.jobs) {
      auto b = store_.BaselineRuns(run, branch, job.job_name, job.machine_class,
                                   std::max(1, run.baseline_runs()));
      if (!b.ok()) return b.status();
      if (b->empty()) missing.push_back(job.job_name + " on " + job.machine_class);
      for (int64_t id : *b) {
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
      }
    }
  }
  if (ids.empty()) {
    return NoComparison(
        candidate,
        absl::StrCat("no baseline: branch ", branch, " has no succeeded baseline run of suite ",
                     run.suite_name(), " for ", absl::StrJoin(missing, ", "),
                     "; submit one with --kind baseline (perfgate does not guess across machine "
                     "classes)"));
  }
  ComparisonInputs in;
  in.candidate = candidate;
  for (int64_t id : ids) {
    auto b = store_.LoadRunSamples(id);
    if (!b.ok()) return b.status();
    in.baselines.push_back(*std::move(b));
  }
  if (auto s = LearnNoise(candidate, &in); !s.ok()) return s;
  v1::Comparison c = BuildComparison(in, opts_.verdict);
  if (!missing.empty()) {
    c.set_note(absl::StrCat("no baseline for ", absl::StrJoin(missing, ", ")));
  }
  std::vector<const RunSamples*> base_runs;
  for (const RunSamples& b : in.baselines) base_runs.push_back(&b);
  const SideSources cand_src = SourcesOf({&candidate}), base_src = SourcesOf(base_runs);
  AddCurves(cand_src, base_src, &c);
  AddProfileDiffs(cand_src, base_src, &c);
  return c;
}

absl::Status Analyser::LearnNoise(const RunSamples& candidate, ComparisonInputs* in) {
  const v1::Run& run = candidate.run;
  const std::string branch = run.baseline_branch().empty() ? run.branch() : run.baseline_branch();
  for (const JobSamples& job : candidate.jobs) {
    auto noise =
        store_.NoiseSamples(run, branch, job.job_name, job.machine_class, opts_.noise_runs);
    if (!noise.ok()) return noise.status();
    for (const auto& [metric, runs] : *noise)
      in->noise[{job.job_name, metric}] = controller::LearnNoise(runs);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Comparison> Analyser::CompareArms(const RunSamples& run, std::string* how) {
  auto [base, cand] = SplitConfirmation(run);
  if (base.jobs.empty() || cand.jobs.empty()) return absl::NotFoundError("a side measured nothing");
  ComparisonInputs in;
  in.candidate = std::move(cand);
  in.baselines.push_back(std::move(base));
  in.interleaved = true;  // no run-to-run margin, or more evidence would never decide
  if (auto s = LearnNoise(in.candidate, &in); !s.ok()) return s;
  v1::Comparison c = BuildComparison(in, opts_.verdict);
  const SideSources cand_src = ArmSources(run, false);
  const SideSources base_src = ArmSources(run, true);
  AddCurves(cand_src, base_src, &c);
  AddProfileDiffs(cand_src, base_src, &c);
  std::set<std::string> agents;
  for (const JobSamples& j : in.candidate.jobs) agents.insert(j.agent);
  int rounds = 0;
  for (const JobSamples& j : run.jobs)
    if (j.spec.has_arm()) rounds = std::max(rounds, j.spec.arm().round());
  *how = absl::StrCat("baseline commit ", in.baselines[0].run.commit().substr(0, 12),
                      " and candidate commit ", run.run.commit().substr(0, 12),
                      " measured in turn (A B x ", rounds, ") on ", absl::StrJoin(agents, ", "));
  return c;
}

absl::Status Analyser::DecideConfirmation(const RunSamples& confirmation, AnalysisOutcome* out) {
  const v1::Run& run = confirmation.run;
  std::string how;
  auto compared = CompareArms(confirmation, &how);
  if (absl::IsNotFound(compared.status())) {
    out->comparison =
        NoComparison(confirmation, absl::StrCat("confirmation of run ", run.confirms_run_id(),
                                                ": a side measured nothing, so run ",
                                                run.confirms_run_id(), " stays inconclusive"));
    return absl::OkStatus();
  }
  if (!compared.ok()) return compared.status();
  v1::Comparison& c = *compared;
  c.set_note(absl::StrCat("interleaved confirmation of run ", run.confirms_run_id(), ": ", how));
  out->comparison = c;
  // The decision, as the confirmed run's latest comparison.
  v1::Comparison d = c;
  d.set_candidate_run_id(run.confirms_run_id());
  d.set_note(absl::StrCat("decided by confirmation run ", run.id(), " (the first comparison was ",
                          "inconclusive): ", how));
  d.set_summary(absl::StrCat(c.summary(), " (confirmed by run ", run.id(), ")"));
  out->alerts =
      AlertsFor(d, absl::StrCat(opts_.external_url, "/runs/", run.confirms_run_id(), "/compare"));
  out->decision = std::move(d);
  return absl::OkStatus();
}

Analyser::SideSources Analyser::SourcesOf(const std::vector<const RunSamples*>& runs) {
  SideSources out;
  for (const RunSamples* r : runs) {
    for (const JobSamples& j : r->jobs) out[j.job_name].push_back({r->run.id(), j.job_name});
  }
  return out;
}

Analyser::SideSources Analyser::ArmSources(const RunSamples& confirmation, bool baseline) {
  SideSources out;
  for (const JobSamples& j : confirmation.jobs) {
    if (!j.spec.has_arm() || j.spec.arm().baseline() != baseline) continue;
    out[j.spec.arm().job()].push_back({confirmation.run.id(), j.job_name});
  }
  return out;
}

void Analyser::AddCurves(const SideSources& candidate, const SideSources& baseline,
                         v1::Comparison* c) {
  auto histograms = [&](const std::vector<JobSource>& sources, const char* name) {
    std::vector<v1::HdrHistogram> out;
    for (const JobSource& s : sources) {
      auto h = store_.Histograms(s.run_id, s.stored_job, name);
      if (h.ok()) out.insert(out.end(), h->begin(), h->end());
    }
    return out;
  };
  for (const auto& [job, sources] : candidate) {
    auto base = baseline.find(job);
    if (base == baseline.end()) continue;
    for (const char* name : kCurveHistograms) {
      std::vector<v1::HdrHistogram> ch = histograms(sources, name);
      if (ch.empty()) continue;
      std::vector<v1::HdrHistogram> bh = histograms(base->second, name);
      if (bh.empty()) continue;
      auto cm = Merge(ch), bm = Merge(bh);
      if (!cm.ok() || !bm.ok()) continue;
      v1::PercentileCurve* curve = c->add_curves();
      curve->set_job_name(job);
      curve->set_histogram(name);
      for (double p : kCurvePercentiles) {
        curve->add_percentiles(p);
        curve->add_baseline_ms(bm->ValueAtPercentile(p) / 1000.0);
        curve->add_candidate_ms(cm->ValueAtPercentile(p) / 1000.0);
      }
    }
  }
}

void Analyser::AddProfileDiffs(const SideSources& candidate, const SideSources& baseline,
                               v1::Comparison* c) {
  // A side's profiles by job/service/kind/point (the logical job's name), oldest repetition
  // first, each run's listing read once.
  auto collect = [&](const SideSources& side) {
    std::map<int64_t, std::map<std::string, std::string>> stored;  // run -> stored job -> job
    for (const auto& [job, sources] : side)
      for (const JobSource& s : sources) stored[s.run_id][s.stored_job] = job;
    std::map<std::string, std::vector<v1::ProfileRef>> out;
    for (const auto& [run, jobs] : stored) {
      auto list = results_.ListProfiles(run);
      if (!list.ok()) continue;
      for (const auto& p : list->profiles()) {
        auto it = jobs.find(p.job_name());
        if (it == jobs.end()) continue;
        out[absl::StrCat(it->second, "/", p.service(), "/", p.kind(), "/", p.point())].push_back(p);
      }
    }
    for (auto& [_, v] : out) {
      std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
        return a.repetition() < b.repetition();
      });
      if (v.size() > kMaxProfilesPerSide) v.resize(kMaxProfilesPerSide);
    }
    return out;
  };
  // Parsed one at a time: only one profile's proto is held while its costs are added.
  auto sum = [&](const std::vector<v1::ProfileRef>& refs, const std::string& type, CostSum* into) {
    for (const auto& r : refs) {
      auto blob = results_.GetProfile(r.id());
      if (!blob.ok()) continue;
      auto p = Profile::Parse(blob->second);
      if (!p.ok()) continue;
      if (!into->Add(*p, type).ok()) continue;  // a profile without that sample type
    }
  };
  const auto cand = collect(candidate), base = collect(baseline);
  for (const auto& [key, crefs] : cand) {
    if (c->profile_diffs_size() >= opts_.max_profile_diffs) break;
    auto bit = base.find(key);
    if (bit == base.end()) continue;
    CostSum bsum, csum;
    sum(bit->second, DiffSampleType(crefs.front().kind()), &bsum);
    if (bsum.profiles() == 0) continue;
    sum(crefs, bsum.sample_type(), &csum);
    auto d = DiffCostSums(bsum, csum, 10);
    if (!d.ok()) continue;
    d->set_base_id(bit->second.front().id());
    d->set_candidate_id(crefs.front().id());
    d->set_label(key);
    *c->add_profile_diffs() = *std::move(d);
  }
}

absl::Status Analyser::FindChangePoints(const RunSamples& baseline, AnalysisOutcome* out) {
  const v1::Run& run = baseline.run;
  // History is kept per suite: a run of an unnamed suite (a command, or a suite file without
  // `name:`) has none to extend.
  if (run.suite_name().empty()) return absl::OkStatus();
  for (const JobSamples& job : baseline.jobs) {
    for (const auto& [metric, m] : job.metrics) {
      if (!IsComparedMetric(metric)) continue;
      v1::GetHistoryRequest req;
      req.set_project(run.project());
      req.set_branch(run.branch());
      req.set_suite_name(run.suite_name());
      req.set_machine_class(job.machine_class);
      req.set_job_name(job.job_name);
      req.set_metric(metric);
      req.set_limit(opts_.history_window);
      auto h = store_.GetHistory(req);
      if (!h.ok()) return h.status();
      const int n = h->points_size();
      if (n < 2 * opts_.change_points.min_segment) continue;
      std::vector<double> medians;
      for (const auto& p : h->points()) medians.push_back(p.median());
      // A step smaller than the metric's practical floor is not worth anyone's time, however
      // steady the series (a throughput that went from 200 to 199.8 requests/s).
      const common::MetricRules rules = common::RulesFor(job.spec.benchmark().analysis(), metric);
      const double floor = rules.min_effect;
      for (const common::ChangePoint& cp : common::EDivisive(medians, opts_.change_points)) {
        if (n - cp.index < opts_.min_points_after) continue;  // wait for more evidence
        if (cp.mean_before != 0 && std::abs(cp.mean_after / cp.mean_before - 1) < floor) continue;
        const int64_t at_run = h->points(cp.index).run_id();
        // The same change seen again a point or two away is not a new one.
        bool known = false;
        for (const auto& k : h->change_points()) {
          for (int d = -3; d <= 3 && !known; ++d) {
            const int i = cp.index + d;
            known = i >= 0 && i < n && h->points(i).run_id() == k.run_id();
          }
        }
        if (known) continue;
        v1::ChangePointRecord r;
        r.set_project(run.project());
        r.set_branch(run.branch());
        r.set_suite_name(run.suite_name());
        r.set_machine_class(job.machine_class);
        r.set_job_name(job.job_name);
        r.set_metric(metric);
        r.set_run_id(at_run);
        r.set_commit(h->points(cp.index).commit());
        r.set_before(cp.mean_before);
        r.set_after(cp.mean_after);
        r.set_p(cp.p);
        r.set_direction(m.direction);
        r.set_gating(rules.gate);
        v1::Alert alert = ChangePointAlert(r, absl::StrCat(opts_.external_url, "/changepoints"));
        out->change_points.push_back({std::move(r), std::move(alert)});
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Analyser::Analyse(const v1::Run& run) {
  AnalysisOutcome out;
  out.run_id = run.id();
  out.webhook = opts_.webhook;
  out.alertmanager = opts_.alertmanager;
  const bool confirming = run.confirms_run_id() != 0;
  // A bisection's step (its commit listing has no arms and is left alone).
  const bool stepping =
      run.bisection_id() != 0 && run.kind() == v1::RUN_KIND_EXPERIMENT && run.commit() != "";
  const bool compared =
      !confirming && !stepping &&
      (run.kind() == v1::RUN_KIND_CANDIDATE || run.against_run_id() != 0 || run.aa());
  if (run.state() == v1::RUN_STATE_SUCCEEDED &&
      (compared || confirming || stepping || run.kind() == v1::RUN_KIND_BASELINE)) {
    auto samples = store_.LoadRunSamples(run.id());
    if (!samples.ok()) return samples.status();
    if (confirming) {
      if (auto s = DecideConfirmation(*samples, &out); !s.ok()) return s;
    }
    if (stepping) {
      // A bisection's step: its own comparison, which the bisector reads (no alerts: the
      // bisection reports its outcome).
      std::string how;
      auto c = CompareArms(*samples, &how);
      if (absl::IsNotFound(c.status())) {
        out.comparison = NoComparison(
            *samples, absl::StrCat("bisection ", run.bisection_id(), ": a side measured nothing"));
      } else if (!c.ok()) {
        return c.status();
      } else {
        c->set_note(absl::StrCat("step of bisection ", run.bisection_id(), ": ", how));
        c->clear_confirmation_repetitions();
        c->clear_confirmation_plan();
        out.comparison = *std::move(c);
      }
    }
    if (compared) {
      auto c = CompareSamples(*samples, run.against_run_id());
      if (!c.ok()) return c.status();
      out.comparison = *std::move(c);
      // An A/A that moves is a statement about noise (it feeds the noise estimate), not a
      // regression to alert anyone about.
      if (!run.aa()) {
        out.alerts = AlertsFor(*out.comparison,
                               absl::StrCat(opts_.external_url, "/runs/", run.id(), "/compare"));
      }
      const bool confirmable = run.kind() == v1::RUN_KIND_CANDIDATE && run.against_run_id() == 0;
      if (!confirmable) {
        // An A/A or a comparison against an explicit run is never confirmed: no plan to show.
        out.comparison->clear_confirmation_repetitions();
        out.comparison->clear_confirmation_plan();
      }
      if (out.comparison->verdict() == v1::VERDICT_INCONCLUSIVE && opts_.confirm_inconclusive &&
          confirmable) {
        std::string why;
        out.confirmation =
            ConfirmationSpec(*samples, *out.comparison, opts_.verdict.min_repetitions, &why);
        // Alerts wait for the decision (an inconclusive comparison can still hold improvements).
        if (out.confirmation) out.alerts.clear();
        v1::Comparison& c = *out.comparison;
        std::string note = out.confirmation
                               ? std::string(
                                     "inconclusive: a confirmation run interleaving the "
                                     "baseline and candidate commits is scheduled")
                               : "inconclusive, and no confirmation run can be made: " + why;
        c.set_note(c.note().empty() ? note : absl::StrCat(c.note(), "; ", note));
      }
    }
    if (run.kind() == v1::RUN_KIND_BASELINE) {
      if (auto s = FindChangePoints(*samples, &out); !s.ok()) return s;
    }
  }
  if (auto s = store_.SaveAnalysis(&out); !s.ok()) return s;
  if (out.comparison) {
    spdlog::info(
        "component=analyser msg=\"run compared\" run={} verdict={} comparison={} baselines={} "
        "alerts={}",
        run.id(), VerdictText(out.comparison->verdict()), out.comparison->id(),
        out.comparison->baseline_run_ids_size(), out.alerts.size());
  }
  if (out.confirmation_run_id != 0) {
    spdlog::info(
        "component=analyser msg=\"confirmation run scheduled\" run={} confirmation={} jobs={}",
        run.id(), out.confirmation_run_id, out.confirmation->jobs_size());
  }
  if (out.decision) {
    spdlog::info("component=analyser msg=\"confirmation decided\" run={} confirmed={} verdict={}",
                 run.id(), out.decision->candidate_run_id(), VerdictText(out.decision->verdict()));
  }
  for (const auto& [cp, alert] : out.change_points) {
    spdlog::info(
        "component=analyser msg=\"change point\" run={} metric={} job={} before={} after={} p={}",
        cp.run_id(), cp.metric(), cp.job_name(), cp.before(), cp.after(), cp.p());
  }
  return absl::OkStatus();
}

}  // namespace perfgate::controller
