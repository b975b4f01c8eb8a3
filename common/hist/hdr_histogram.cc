#include "common/hist/hdr_histogram.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace perfgate::common {
namespace {

int Log2Floor(uint64_t v) { return 63 - __builtin_clzll(v); }

absl::Status CheckShape(int64_t lowest, int64_t highest, int64_t digits) {
  if (lowest < 1) return absl::InvalidArgumentError("histogram lowest: must be >= 1");
  if (highest / 2 < lowest)  // highest < 2 * lowest, without overflowing
    return absl::InvalidArgumentError("histogram highest: must be >= 2 * lowest");
  if (highest > (int64_t{1} << 50))
    return absl::InvalidArgumentError("histogram highest: at most 2^50");
  if (digits < 1 || digits > 5)
    return absl::InvalidArgumentError("histogram significant_digits: 1..5");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HdrHistogram> HdrHistogram::Create(int64_t lowest, int64_t highest, int digits) {
  if (auto s = CheckShape(lowest, highest, digits); !s.ok()) return s;
  return HdrHistogram(lowest, highest, digits);
}

HdrHistogram::Shape HdrHistogram::ShapeOf(int64_t lowest, int64_t highest, int digits) {
  Shape s;
  // Enough linear sub-buckets that one step is at most 10^-digits of the bucket's values.
  int64_t largest_single_unit = 2 * static_cast<int64_t>(std::pow(10, digits));
  int sub_bucket_count_magnitude =
      static_cast<int>(std::ceil(std::log2(static_cast<double>(largest_single_unit))));
  s.sub_bucket_half_count_magnitude = std::max(sub_bucket_count_magnitude, 1) - 1;
  s.unit_magnitude = Log2Floor(static_cast<uint64_t>(lowest));
  s.sub_bucket_count = int64_t{1} << (s.sub_bucket_half_count_magnitude + 1);
  int64_t smallest_untrackable = s.sub_bucket_count << s.unit_magnitude;
  int buckets = 1;
  while (smallest_untrackable <= highest) {
    smallest_untrackable <<= 1;
    ++buckets;
  }
  s.counts = static_cast<size_t>((buckets + 1) * (s.sub_bucket_count / 2));
  return s;
}

HdrHistogram::HdrHistogram(int64_t lowest, int64_t highest, int digits)
    : lowest_(lowest), highest_(highest), digits_(digits) {
  const Shape shape = ShapeOf(lowest, highest, digits);
  sub_bucket_half_count_magnitude_ = shape.sub_bucket_half_count_magnitude;
  unit_magnitude_ = shape.unit_magnitude;
  sub_bucket_count_ = shape.sub_bucket_count;
  sub_bucket_half_count_ = sub_bucket_count_ / 2;
  sub_bucket_mask_ = (sub_bucket_count_ - 1) << unit_magnitude_;
  counts_.assign(shape.counts, 0);
}

int HdrHistogram::BucketIndex(int64_t v) const {
  int pow2ceiling = 64 - __builtin_clzll(static_cast<uint64_t>(v | sub_bucket_mask_));
  return pow2ceiling - unit_magnitude_ - (sub_bucket_half_count_magnitude_ + 1);
}

size_t HdrHistogram::CountsIndex(int64_t v) const {
  int bucket = BucketIndex(v);
  int64_t sub = v >> (bucket + unit_magnitude_);
  return static_cast<size_t>(
      ((static_cast<int64_t>(bucket) + 1) << sub_bucket_half_count_magnitude_) +
      (sub - sub_bucket_half_count_));
}

int64_t HdrHistogram::ValueFromIndex(size_t index) const {
  int64_t bucket = static_cast<int64_t>(index >> sub_bucket_half_count_magnitude_) - 1;
  int64_t sub = static_cast<int64_t>(index & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
  if (bucket < 0) {
    sub -= sub_bucket_half_count_;
    bucket = 0;
  }
  return sub << (bucket + unit_magnitude_);
}

int64_t HdrHistogram::EquivalentRangeSize(int64_t v) const {
  int bucket = BucketIndex(v);
  int64_t sub = v >> (bucket + unit_magnitude_);
  int adjusted = sub >= sub_bucket_count_ ? bucket + 1 : bucket;
  return int64_t{1} << (unit_magnitude_ + adjusted);
}

int64_t HdrHistogram::LowestEquivalent(int64_t v) const { return ValueFromIndex(CountsIndex(v)); }

int64_t HdrHistogram::HighestEquivalent(int64_t v) const {
  return LowestEquivalent(v) + EquivalentRangeSize(v) - 1;
}

void HdrHistogram::Record(int64_t value, int64_t count) {
  if (count <= 0) return;
  if (value < lowest_) {
    clamped_low_ += count;
    value = lowest_;
  } else if (value > highest_) {
    clamped_high_ += count;
    value = highest_;
  }
  counts_[CountsIndex(value)] += count;
  total_ += count;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  double v = static_cast<double>(value);
  sum_ += v * count;
  sum_squares_ += v * v * count;
}

absl::Status HdrHistogram::Merge(const HdrHistogram& o) {
  if (o.lowest_ != lowest_ || o.highest_ != highest_ || o.digits_ != digits_) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot merge histograms of different shapes (", lowest_, "..", highest_, "/",
                     digits_, " vs ", o.lowest_, "..", o.highest_, "/", o.digits_, ")"));
  }
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
  if (o.total_) {
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }
  total_ += o.total_;
  sum_ += o.sum_;
  sum_squares_ += o.sum_squares_;
  clamped_low_ += o.clamped_low_;
  clamped_high_ += o.clamped_high_;
  return absl::OkStatus();
}

void HdrHistogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  min_ = INT64_MAX;
  max_ = clamped_low_ = clamped_high_ = 0;
  sum_ = sum_squares_ = 0;
}

double HdrHistogram::stddev() const {
  if (total_ < 2) return 0;
  double m = mean();
  double var = sum_squares_ / total_ - m * m;
  return var > 0 ? std::sqrt(var) : 0;
}

int64_t HdrHistogram::ValueAtPercentile(double p) const {
  if (total_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  if (p == 0) return min();
  int64_t target = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(p / 100.0 * total_)));
  int64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= target) return std::min(HighestEquivalent(ValueFromIndex(i)), max());
  }
  return max();
}

std::vector<std::pair<int64_t, int64_t>> HdrHistogram::Buckets() const {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i])
      out.emplace_back(std::min(HighestEquivalent(ValueFromIndex(i)), max()), counts_[i]);
  }
  return out;
}

v1::HdrHistogram HdrHistogram::ToProto() const {
  v1::HdrHistogram p;
  p.set_lowest(lowest_);
  p.set_highest(highest_);
  p.set_significant_digits(digits_);
  int64_t zeros = 0;
  size_t last = counts_.size();
  while (last > 0 && counts_[last - 1] == 0) --last;
  for (size_t i = 0; i < last; ++i) {
    if (counts_[i] == 0) {
      ++zeros;
      continue;
    }
    if (zeros) p.add_counts(-zeros);
    zeros = 0;
    p.add_counts(counts_[i]);
  }
  p.set_total(total_);
  p.set_min(min());
  p.set_max(max());
  p.set_sum(sum_);
  p.set_clamped_low(clamped_low_);
  p.set_clamped_high(clamped_high_);
  return p;
}

absl::StatusOr<HdrHistogram> HdrHistogram::FromProto(const v1::HdrHistogram& p) {
  // The shape's checks first, and its size before anything is allocated.
  if (auto s = CheckShape(p.lowest(), p.highest(), p.significant_digits()); !s.ok()) return s;
  const size_t buckets = ShapeOf(p.lowest(), p.highest(), p.significant_digits()).counts;
  if (buckets > kMaxDecodedBuckets)
    return absl::InvalidArgumentError(
        absl::StrCat("histogram significant_digits: ", p.significant_digits(), " with lowest ",
                     p.lowest(), " and highest ", p.highest(), " makes ", buckets,
                     " buckets, more than ", kMaxDecodedBuckets));
  auto h = Create(p.lowest(), p.highest(), p.significant_digits());
  if (!h.ok()) return h.status();
  size_t i = 0;
  int64_t total = 0;
  for (int64_t c : p.counts()) {
    if (c < 0) {
      // A run of -c empty buckets (negated unsigned: INT64_MIN is a run, not an overflow).
      const uint64_t run = uint64_t{0} - static_cast<uint64_t>(c);
      if (run > h->counts_.size() - i)
        return absl::InvalidArgumentError("histogram counts: run of empty buckets past the end");
      i += static_cast<size_t>(run);
      continue;
    }
    if (i >= h->counts_.size())
      return absl::InvalidArgumentError("histogram counts: more buckets than the shape has");
    h->counts_[i] = c;
    i++;
    if (__builtin_add_overflow(total, c, &total))
      return absl::InvalidArgumentError("histogram counts: their total overflows");
  }
  if (total != p.total()) {
    return absl::InvalidArgumentError(
        absl::StrCat("histogram total: ", p.total(), " but the buckets hold ", total));
  }
  if (total > 0 && (p.min() > p.max() || p.min() < p.lowest() || p.max() > p.highest())) {
    return absl::InvalidArgumentError("histogram min/max: outside the histogram's range");
  }
  h->total_ = total;
  if (total > 0) {
    h->min_ = p.min();
    h->max_ = p.max();
  }
  h->sum_ = p.sum();
  h->clamped_low_ = p.clamped_low();
  h->clamped_high_ = p.clamped_high();
  // Sum of squares is not serialised; rebuild it from bucket midpoints (stddev stays close).
  for (size_t k = 0; k < h->counts_.size(); ++k) {
    if (!h->counts_[k]) continue;
    int64_t lo = h->ValueFromIndex(k);
    double mid = lo + (h->EquivalentRangeSize(lo) - 1) / 2.0;
    h->sum_squares_ += mid * mid * h->counts_[k];
  }
  return h;
}

}  // namespace perfgate::common
