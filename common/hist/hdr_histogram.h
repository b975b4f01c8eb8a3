// An HDR-style histogram of integer values (perfgate records latencies in microseconds):
// every value from `lowest` to `highest` is kept to `significant_digits` relative precision in
// a fixed array of counters allocated at construction, so memory stays flat however many
// values are recorded. The default tracks 1 µs .. 60 s at 3 digits in ~136 KiB. Histograms of
// the same shape merge exactly (per thread, per repetition), and serialise to the
// perfgate.v1.HdrHistogram proto. The bucket layout follows Gil Tene's HdrHistogram: buckets
// of doubling width, each split into 2^k linear sub-buckets.
//
// Not thread-safe: keep one per thread and Merge() them.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "perfgate/v1/histogram.pb.h"

namespace perfgate::common {

class HdrHistogram {
 public:
  // INVALID_ARGUMENT unless 1 <= lowest, 2 * lowest <= highest and 1 <= digits <= 5.
  static absl::StatusOr<HdrHistogram> Create(int64_t lowest = 1, int64_t highest = 60'000'000,
                                             int significant_digits = 3);
  // Reads a serialised histogram. INVALID_ARGUMENT naming the field for a histogram no agent could
  // have sent: a shape of more than kMaxDecodedBuckets buckets (decoding cost is bounded), counts
  // that run past the shape or whose total overflows, min/max outside the range.
  static absl::StatusOr<HdrHistogram> FromProto(const v1::HdrHistogram& p);
  static constexpr size_t kMaxDecodedBuckets = size_t{1} << 20;

  // Records `value` `count` times. Values outside [lowest, highest] are clamped into it and
  // counted in clamped_low()/clamped_high().
  void Record(int64_t value, int64_t count = 1);
  // Adds every count of `other`. INVALID_ARGUMENT if the shapes differ.
  absl::Status Merge(const HdrHistogram& other);
  void Reset();

  int64_t total() const { return total_; }
  int64_t min() const { return total_ ? min_ : 0; }
  int64_t max() const { return total_ ? max_ : 0; }
  double mean() const { return total_ ? sum_ / total_ : 0; }
  double stddev() const;
  int64_t clamped_low() const { return clamped_low_; }
  int64_t clamped_high() const { return clamped_high_; }
  // The smallest recorded value v such that at least p percent of values are <= v, reported
  // as the highest value equivalent to it (never above max()). 0 when empty. p in [0, 100].
  int64_t ValueAtPercentile(double p) const;
  // The non-empty buckets in ascending order, each as the value ValueAtPercentile reports for
  // it (its highest equivalent, never above max()) with its count.
  std::vector<std::pair<int64_t, int64_t>> Buckets() const;

  // Values that land in the same counter as `v` are "equivalent": [LowestEquivalent,
  // HighestEquivalent] is at most v / 10^digits wide.
  int64_t LowestEquivalent(int64_t v) const;
  int64_t HighestEquivalent(int64_t v) const;

  v1::HdrHistogram ToProto() const;
  size_t memory_bytes() const { return counts_.size() * sizeof(int64_t); }

 private:
  HdrHistogram(int64_t lowest, int64_t highest, int digits);
  // The shape's derived sizes, computed before anything is allocated.
  struct Shape {
    int sub_bucket_half_count_magnitude, unit_magnitude;
    int64_t sub_bucket_count;
    size_t counts;
  };
  static Shape ShapeOf(int64_t lowest, int64_t highest, int digits);
  int BucketIndex(int64_t v) const;
  size_t CountsIndex(int64_t v) const;
  int64_t ValueFromIndex(size_t index) const;
  int64_t EquivalentRangeSize(int64_t v) const;

  int64_t lowest_, highest_;
  int digits_;
  int unit_magnitude_;
  int sub_bucket_half_count_magnitude_;
  int64_t sub_bucket_count_, sub_bucket_half_count_, sub_bucket_mask_;
  std::vector<int64_t> counts_;
  int64_t total_ = 0, min_ = INT64_MAX, max_ = 0, clamped_low_ = 0, clamped_high_ = 0;
  double sum_ = 0, sum_squares_ = 0;
};

}  // namespace perfgate::common
