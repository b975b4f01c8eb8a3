// Per-metric summaries of a job's repetitions (median, quartiles, CV over the valid ones).
#pragma once

#include "perfgate/v1/results.pb.h"

namespace perfgate::controller {

// Fills every job's `summary` from its repetitions, one entry per metric name in name order.
void SummarizeRunResults(v1::RunResults* results);

}  // namespace perfgate::controller
