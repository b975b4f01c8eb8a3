#include "controller/queue/result_summary.h"

#include <map>
#include <vector>

#include "common/stats/summary.h"

namespace perfgate::controller {

void SummarizeRunResults(v1::RunResults* results) {
  for (v1::JobResults& job : *results->mutable_jobs()) {
    struct Values {
      const v1::Measurement* first = nullptr;
      std::vector<double> valid;
      int total = 0;
    };
    std::map<std::string, Values> metrics;
    for (const auto& rep : job.repetitions()) {
      for (const auto& m : rep.measurements()) {
        Values& v = metrics[m.name()];
        if (!v.first) v.first = &m;
        ++v.total;
        if (rep.valid()) v.valid.push_back(m.value());
      }
    }
    job.clear_summary();
    for (auto& [name, v] : metrics) {
      common::Summary s = common::Summarize(v.valid);
      v1::MetricSummary* out = job.add_summary();
      out->set_name(name);
      out->set_unit(v.first->unit());
      out->set_direction(v.first->direction());
      out->set_valid(s.n);
      out->set_total(v.total);
      out->set_median(s.median);
      out->set_q1(s.q1);
      out->set_q3(s.q3);
      out->set_iqr(s.iqr);
      out->set_cv(s.cv);
      out->set_min(s.min);
      out->set_max(s.max);
    }
  }
}

}  // namespace perfgate::controller
