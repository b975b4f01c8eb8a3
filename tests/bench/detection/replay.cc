#include "tests/bench/detection/replay.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/json/proto_json.h"
#include "tests/bench/detection/previous_rules.h"

namespace perfgate::bench {

using controller::JobSamples;
using controller::NoiseEstimate;
using controller::RunSamples;

controller::RunSamples RunFromComparison(const v1::Comparison& comparison, bool candidate_side,
                                         const v1::JobSpec& spec, int64_t run_id) {
  RunSamples r;
  r.run.set_id(run_id);
  for (const v1::MetricComparison& m : comparison.metrics()) {
    auto it = std::find_if(r.jobs.begin(), r.jobs.end(),
                           [&](const JobSamples& j) { return j.job_name == m.job_name(); });
    if (it == r.jobs.end()) {
      JobSamples j;
      j.job_name = m.job_name();
      j.machine_class = comparison.machine_class();
      j.spec = spec;
      j.agent = "replay";
      r.jobs.push_back(std::move(j));
      it = r.jobs.end() - 1;
    }
    const auto& values = candidate_side ? m.candidate_values() : m.baseline_values();
    JobSamples::Metric& metric = it->metrics[m.name()];
    metric.unit = m.unit();
    metric.direction = m.direction();
    metric.values.assign(values.begin(), values.end());
    it->valid = it->total = std::max<int>(it->valid, values.size());
  }
  return r;
}

nlohmann::json RunsToJson(const std::vector<RunSamples>& runs) {
  nlohmann::json out = nlohmann::json::array();
  for (const RunSamples& r : runs) {
    nlohmann::json jobs = nlohmann::json::array();
    for (const JobSamples& j : r.jobs) {
      nlohmann::json metrics = nlohmann::json::object();
      for (const auto& [name, m] : j.metrics)
        metrics[name] = {{"unit", m.unit}, {"direction", m.direction}, {"values", m.values}};
      jobs.push_back({{"name", j.job_name},
                      {"machine_class", j.machine_class},
                      {"spec", nlohmann::json::parse(common::ProtoToJson(j.spec, false))},
                      {"metrics", metrics}});
    }
    out.push_back({{"id", r.run.id()}, {"jobs", jobs}});
  }
  return out;
}

absl::StatusOr<std::vector<RunSamples>> RunsFromJson(const nlohmann::json& j) {
  std::vector<RunSamples> runs;
  try {
    for (const auto& r : j) {
      RunSamples run;
      run.run.set_id(r.at("id").get<int64_t>());
      for (const auto& jj : r.at("jobs")) {
        JobSamples job;
        job.job_name = jj.at("name").get<std::string>();
        job.machine_class = jj.at("machine_class").get<std::string>();
        job.agent = "replay";
        const auto st =
            google::protobuf::util::JsonStringToMessage(jj.at("spec").dump(), &job.spec);
        if (!st.ok())
          return absl::InvalidArgumentError(
              absl::StrCat("run ", run.run.id(), " job ", job.job_name, ": spec: ", st.ToString()));
        for (const auto& [name, m] : jj.at("metrics").items()) {
          JobSamples::Metric& metric = job.metrics[name];
          metric.unit = m.at("unit").get<std::string>();
          metric.direction = static_cast<v1::Direction>(m.at("direction").get<int>());
          metric.values = m.at("values").get<std::vector<double>>();
          job.valid = job.total = std::max<int>(job.valid, metric.values.size());
        }
        run.jobs.push_back(std::move(job));
      }
      runs.push_back(std::move(run));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("runs: ", e.what()));
  }
  return runs;
}

namespace {

// What a latency regression of d multiplies: every metric measured in time.
bool IsLatency(const JobSamples::Metric& m) { return m.unit == "ms" || m.unit == "us"; }

// `run` with its latency metrics multiplied by `scale`.
RunSamples Scaled(const RunSamples& run, double scale) {
  RunSamples out = run;
  for (JobSamples& j : out.jobs)
    for (auto& [name, m] : j.metrics)
      if (IsLatency(m))
        for (double& v : m.values) v *= scale;
  return out;
}

// Draws a side of `reps` repetitions a job for a confirmation: each repetition from a run
// picked among `from`, its metrics taken together from one repetition of that run. Latency
// metrics are multiplied by `scale`.
RunSamples Draw(const std::vector<const RunSamples*>& from, int64_t id, int reps, double scale,
                std::mt19937_64& rng) {
  RunSamples out;
  out.run.set_id(id);
  for (const JobSamples& job : from[0]->jobs) {
    JobSamples j = job;
    for (auto& [name, m] : j.metrics) m.values.clear();
    for (int k = 0; k < reps; ++k) {
      const RunSamples* run = from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
      const JobSamples* src = run->Job(job.job_name);
      if (!src || src->valid == 0) continue;
      const size_t rep = std::uniform_int_distribution<size_t>(0, src->valid - 1)(rng);
      for (const auto& [name, m] : src->metrics) {
        if (m.values.empty() || !j.metrics.count(name)) continue;
        // A metric missing from some repetitions: any of its values in that run.
        const size_t i = rep < m.values.size()
                             ? rep
                             : std::uniform_int_distribution<size_t>(0, m.values.size() - 1)(rng);
        j.metrics[name].values.push_back(m.values[i] * (IsLatency(m) ? scale : 1));
      }
    }
    j.valid = j.total = reps;
    out.jobs.push_back(std::move(j));
  }
  return out;
}

// The noise the analyser would learn from `runs` but the one at `skip` (the candidate).
std::map<std::pair<std::string, std::string>, NoiseEstimate> Noise(
    const std::vector<RunSamples>& runs, size_t skip) {
  std::map<std::pair<std::string, std::string>, std::vector<std::vector<double>>> values;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (i == skip) continue;
    for (const JobSamples& j : runs[i].jobs)
      for (const auto& [name, m] : j.metrics) values[{j.job_name, name}].push_back(m.values);
  }
  std::map<std::pair<std::string, std::string>, NoiseEstimate> out;
  for (const auto& [key, v] : values) out[key] = controller::LearnNoise(v);
  return out;
}

// Repetitions a side a confirmation planned at `side` measures: kConfirmationRounds rounds of
// ceil(side / rounds) plus the spare one (ConfirmationSpec).
int Measured(int side) {
  const int r = controller::kConfirmationRounds;
  return r * ((side + r - 1) / r + 1);
}

struct Judged {
  v1::Verdict overall = v1::VERDICT_UNSPECIFIED;
  std::vector<v1::Verdict> metrics;
  v1::Verdict primary = v1::VERDICT_UNSPECIFIED;
};

Judged Judge(const v1::Comparison& c, bool previous, const std::string& primary) {
  Judged j;
  if (previous) {
    j.metrics = PreviousVerdicts(c, &j.overall);
  } else {
    j.overall = c.verdict();
    for (const auto& m : c.metrics()) j.metrics.push_back(m.verdict());
  }
  for (int i = 0; i < c.metrics_size(); ++i)
    if (c.metrics(i).name() == primary) j.primary = j.metrics[i];
  return j;
}

bool IsFlagged(v1::Verdict v) {
  return v == v1::VERDICT_REGRESSION || v == v1::VERDICT_IMPROVEMENT;
}

int Flagged(const Judged& j) {
  return static_cast<int>(std::count_if(j.metrics.begin(), j.metrics.end(), IsFlagged));
}

// Counts what the final comparison flagged and which gating metrics it left undecided.
void Explain(const v1::Comparison& c, const Judged& j, bool previous, ReplayFigures* f) {
  for (int i = 0; i < c.metrics_size(); ++i) {
    const v1::MetricComparison& m = c.metrics(i);
    if (IsFlagged(j.metrics[i])) ++f->flagged[m.name()];
    if (j.metrics[i] == v1::VERDICT_INCONCLUSIVE && (previous || m.gate()))
      ++f->undecided[previous ? m.name() : absl::StrCat(m.name(), " (", m.decided_by(), ")")];
  }
}

}  // namespace

ReplayResult Replay(const std::vector<RunSamples>& measured, const ReplayOptions& opts) {
  ReplayResult out;
  std::vector<RunSamples> runs = measured;
  if (opts.min_effect >= 0)
    for (RunSamples& r : runs)
      for (JobSamples& j : r.jobs)
        j.spec.mutable_benchmark()->mutable_analysis()->set_min_effect(opts.min_effect);
  const size_t k = static_cast<size_t>(std::max(1, opts.baseline_runs));
  if (runs.size() < k + 2) return out;
  const absl::Time start = absl::Now();
  const common::VerdictOptions verdict;  // the controller's defaults
  std::mt19937_64 rng(opts.seed);
  std::vector<const RunSamples*> pool;
  for (const RunSamples& r : runs) pool.push_back(&r);
  std::vector<std::map<std::pair<std::string, std::string>, NoiseEstimate>> noise;
  for (size_t i = 0; i < runs.size(); ++i) noise.push_back(Noise(runs, i));
  const v1::WorkloadSpec& w = runs[0].jobs[0].spec.benchmark().workload();
  const double per_rep = w.warmup_seconds() + w.duration_seconds() + w.pause_seconds();
  int64_t next_id = 1000000;

  // The first looks: a candidate run and k baseline runs, all different, as they were measured
  // (a first look is one real run against others; resampling a run's repetitions again would
  // count its sampling noise twice). With k = 1 every ordered pair, cycled, so that a rate over
  // the trials is the rate over the pairs; else random choices.
  std::vector<std::vector<size_t>> looks;  // [0] the candidate, then the baselines
  if (k == 1) {
    for (size_t c = 0; c < runs.size(); ++c)
      for (size_t b = 0; b < runs.size(); ++b)
        if (b != c) looks.push_back({c, b});
  } else {
    std::vector<size_t> order(runs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (int t = 0; t < opts.trials; ++t) {
      std::shuffle(order.begin(), order.end(), rng);
      looks.emplace_back(order.begin(), order.begin() + static_cast<long>(k) + 1);
    }
  }
  std::shuffle(looks.begin(), looks.end(), rng);
  out.distinct_looks = static_cast<int>(looks.size());
  const int trials =
      k == 1 ? static_cast<int>((opts.trials + looks.size() - 1) / looks.size() * looks.size())
             : opts.trials;

  for (double shift : opts.shifts) {
    ReplayFigures today, previous;
    today.shift = previous.shift = shift;
    for (int t = 0; t < trials; ++t) {
      const std::vector<size_t>& chosen = looks[static_cast<size_t>(t) % looks.size()];
      const size_t c = chosen[0];
      controller::ComparisonInputs first;
      for (size_t i = 1; i < chosen.size(); ++i) first.baselines.push_back(runs[chosen[i]]);
      first.candidate = Scaled(runs[c], 1 + shift);
      first.noise = noise[c];
      const v1::Comparison look = controller::BuildComparison(first, verdict);
      double candidate_reps = 0;
      for (const JobSamples& j : first.candidate.jobs) candidate_reps += j.valid;

      for (bool prev : {false, true}) {
        ReplayFigures& f = prev ? previous : today;
        ++f.trials;
        const Judged j = Judge(look, prev, opts.primary);
        f.first_regression += j.primary == v1::VERDICT_REGRESSION;
        f.metric_comparisons += static_cast<int>(j.metrics.size());
        f.first_flagged += Flagged(j);
        f.agent_seconds += candidate_reps * per_rep;
        Judged final = j;
        const v1::Comparison* final_comparison = &look;
        v1::Comparison decided;
        if (j.overall == v1::VERDICT_INCONCLUSIVE) {
          // One side size for the job (the example suite has one): what the plan asks, or,
          // under the previous rules, the job's own repetitions.
          const JobSamples& job = first.candidate.jobs[0];
          const int side =
              prev ? controller::BaseRepetitions(job, verdict.min_repetitions)
                   : std::max(controller::PlanConfirmation(job, look, verdict.min_repetitions).side,
                              controller::BaseRepetitions(job, verdict.min_repetitions));
          const int measured = Measured(side);
          controller::ComparisonInputs conf;
          conf.baselines.push_back(Draw(pool, next_id++, measured, 1, rng));
          conf.candidate = Draw(pool, next_id++, measured, 1 + shift, rng);
          conf.noise = noise[c];
          conf.interleaved = true;
          decided = controller::BuildComparison(conf, verdict);
          final_comparison = &decided;
          // The previous rules took no margin for an interleaved confirmation either.
          if (prev)
            for (auto& m : *decided.mutable_metrics()) m.set_run_noise_cv(-1);
          final = Judge(decided, prev, opts.primary);
          ++f.confirmations;
          f.confirmation_sides.push_back(measured);
          f.agent_seconds += 2.0 * measured * per_rep;
        }
        f.final_regression += final.primary == v1::VERDICT_REGRESSION;
        f.final_inconclusive += final.primary == v1::VERDICT_INCONCLUSIVE;
        f.final_no_change += final.primary == v1::VERDICT_NO_CHANGE;
        f.run_regression += final.overall == v1::VERDICT_REGRESSION;
        f.run_no_change += final.overall == v1::VERDICT_NO_CHANGE;
        f.run_inconclusive += final.overall == v1::VERDICT_INCONCLUSIVE;
        f.final_flagged += Flagged(final);
        Explain(*final_comparison, final, prev, &f);
      }
    }
    out.today.push_back(std::move(today));
    out.previous.push_back(std::move(previous));
  }
  out.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return out;
}

}  // namespace perfgate::bench
