#include "common/hist/hdr_histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

// The exact percentile with the histogram's definition: the smallest value v with at least
// p percent of the values <= v.
int64_t ExactPercentile(std::vector<int64_t> v, double p) {
  std::sort(v.begin(), v.end());
  size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(p / 100.0 * v.size())));
  return v[rank - 1];
}

TEST(HdrHistogramTest, EveryValueIsKeptToThreeSignificantDigits) {
  auto h = HdrHistogram::Create();
  ASSERT_TRUE(h.ok());
  for (int64_t v = 1; v <= 60'000'000; v = v * 1.013 + 1) {
    int64_t lo = h->LowestEquivalent(v), hi = h->HighestEquivalent(v);
    ASSERT_LE(lo, v);
    ASSERT_GE(hi, v);
    // One counter spans at most 1/1000 of its values (and values below 2048 exactly).
    ASSERT_LE(hi - lo, std::max<int64_t>(0, v / 1000)) << v;
  }
  EXPECT_LT(h->memory_bytes(), 150 * 1024u);
}

TEST(HdrHistogramTest, PercentilesMatchExactOnesWithinAThousandth) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(2000.0), 1.2);  // µs: long tail
  std::vector<int64_t> values;
  auto h = HdrHistogram::Create();
  for (int i = 0; i < 200'000; ++i) {
    int64_t v = std::clamp<int64_t>(static_cast<int64_t>(latency(rng)), 1, 60'000'000);
    values.push_back(v);
    h->Record(v);
  }
  for (double p : {1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    int64_t exact = ExactPercentile(values, p);
    int64_t got = h->ValueAtPercentile(p);
    EXPECT_GE(got, exact) << "p" << p;
    EXPECT_LE(got - exact, exact / 1000) << "p" << p << " exact " << exact << " got " << got;
  }
  double exact_mean = 0;
  for (int64_t v : values) exact_mean += v;
  exact_mean /= values.size();
  EXPECT_NEAR(h->mean(), exact_mean, 1e-6 * exact_mean);
  EXPECT_EQ(h->min(), *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(h->max(), *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(h->ValueAtPercentile(0), h->min());
}

TEST(HdrHistogramTest, ATailSampleIsNotLost) {
  // HdrHistogram's own illustration: 10,000 fast requests and one very slow one.
  auto h = HdrHistogram::Create();
  h->Record(1000, 10'000);
  h->Record(50'000'000);
  EXPECT_EQ(h->ValueAtPercentile(50), 1000);
  EXPECT_EQ(h->ValueAtPercentile(99.99), 1000);
  EXPECT_EQ(h->ValueAtPercentile(99.999), 50'000'000);
  EXPECT_EQ(h->max(), 50'000'000);
  EXPECT_EQ(h->total(), 10'001);
}

TEST(HdrHistogramTest, MergeEqualsRecordingEverythingInOne) {
  auto a = HdrHistogram::Create(), b = HdrHistogram::Create(), all = HdrHistogram::Create();
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> d(1, 5'000'000);
  for (int i = 0; i < 50'000; ++i) {
    int64_t v = d(rng);
    (i % 3 ? *a : *b).Record(v);
    all->Record(v);
  }
  ASSERT_TRUE(a->Merge(*b).ok());
  EXPECT_EQ(a->ToProto().SerializeAsString(), all->ToProto().SerializeAsString());
  auto other_shape = HdrHistogram::Create(1, 1'000'000, 2);
  EXPECT_TRUE(absl::IsInvalidArgument(a->Merge(*other_shape)));
}

TEST(HdrHistogramTest, BucketsAreTheValuesPercentilesReport) {
  auto h = HdrHistogram::Create();
  ASSERT_TRUE(h.ok());
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> d(std::log(1000), 0.8);
  for (int i = 0; i < 5000; ++i) h->Record(static_cast<int64_t>(d(rng)));
  const auto buckets = h->Buckets();
  int64_t total = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (i > 0) {
      ASSERT_LT(buckets[i - 1].first, buckets[i].first) << "ascending, distinct";
    }
    ASSERT_GT(buckets[i].second, 0);
    total += buckets[i].second;
  }
  EXPECT_EQ(total, h->total());
  EXPECT_EQ(buckets.back().first, h->max());
  // Walking the buckets to a rank finds what ValueAtPercentile reports.
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9}) {
    const int64_t rank = static_cast<int64_t>(std::ceil(p / 100.0 * h->total()));
    int64_t seen = 0;
    for (const auto& [v, c] : buckets) {
      seen += c;
      if (seen >= rank) {
        EXPECT_EQ(v, h->ValueAtPercentile(p)) << p;
        break;
      }
    }
  }
}

TEST(HdrHistogramTest, OutOfRangeValuesAreClampedAndCounted) {
  auto h = HdrHistogram::Create();
  h->Record(0);
  h->Record(-5);
  h->Record(90'000'000, 2);
  EXPECT_EQ(h->clamped_low(), 2);
  EXPECT_EQ(h->clamped_high(), 2);
  EXPECT_EQ(h->min(), 1);
  EXPECT_EQ(h->max(), 60'000'000);
  EXPECT_TRUE(absl::IsInvalidArgument(HdrHistogram::Create(0, 100, 3).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(HdrHistogram::Create(1, 1, 3).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(HdrHistogram::Create(1, 100, 9).status()));
}

TEST(HdrHistogramTest, SerialisesCompactlyAndRoundTrips) {
  auto h = HdrHistogram::Create();
  for (int64_t v : {5, 5, 17, 900, 12'345, 3'000'000}) h->Record(v);
  v1::HdrHistogram p = h->ToProto();
  EXPECT_LT(p.ByteSizeLong(), 100u) << "empty buckets are run-length encoded";
  auto back = HdrHistogram::FromProto(p);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ToProto().SerializeAsString(), p.SerializeAsString());
  for (double q : {10.0, 50.0, 99.0})
    EXPECT_EQ(back->ValueAtPercentile(q), h->ValueAtPercentile(q));

  v1::HdrHistogram bad = p;
  bad.set_total(p.total() + 1);
  EXPECT_NE(HdrHistogram::FromProto(bad).status().message().find("histogram total"),
            std::string::npos);
  bad = p;
  bad.add_counts(-1'000'000);
  bad.add_counts(1);
  EXPECT_TRUE(absl::IsInvalidArgument(HdrHistogram::FromProto(bad).status()));
  bad = p;
  bad.set_significant_digits(0);
  EXPECT_TRUE(absl::IsInvalidArgument(HdrHistogram::FromProto(bad).status()));
}

// What an upload could hold that no agent sends: decoding refuses it naming the field, without
// overflowing (the sanitizer build checks the "without") or allocating beyond the bound.
TEST(HdrHistogramTest, HostileSerialisedHistogramsAreRefusedWithinBounds) {
  auto h = HdrHistogram::Create();
  h->Record(5);
  const v1::HdrHistogram p = h->ToProto();
  auto refused = [](const v1::HdrHistogram& bad) {
    auto r = HdrHistogram::FromProto(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
    return std::string(r.status().message());
  };
  v1::HdrHistogram bad = p;
  bad.add_counts(std::numeric_limits<int64_t>::min());  // a run of 2^63 empty buckets
  EXPECT_EQ(refused(bad), "histogram counts: run of empty buckets past the end");
  bad = p;
  bad.clear_counts();
  bad.add_counts(std::numeric_limits<int64_t>::max());
  bad.add_counts(std::numeric_limits<int64_t>::max());
  EXPECT_EQ(refused(bad), "histogram counts: their total overflows");
  bad = p;
  bad.set_lowest(std::numeric_limits<int64_t>::max());  // 2 * lowest would overflow
  EXPECT_EQ(refused(bad), "histogram highest: must be >= 2 * lowest");
  bad = p;
  bad.set_significant_digits(5);
  bad.set_highest(int64_t{1} << 50);
  EXPECT_NE(refused(bad).find("makes 4587520 buckets, more than 1048576"), std::string::npos);
  // The largest shape agents use decodes.
  auto wide = HdrHistogram::Create(1, int64_t{1} << 50, 3);
  ASSERT_TRUE(wide.ok());
  wide->Record(1'000'000'000'000);
  EXPECT_TRUE(HdrHistogram::FromProto(wide->ToProto()).ok());
}

TEST(HdrHistogramTest, MemoryIsFixedWhateverIsRecorded) {
  auto h = HdrHistogram::Create();
  size_t before = h->memory_bytes();
  for (int64_t i = 0; i < 1'000'000; ++i) h->Record(1 + (i * 7919) % 60'000'000);
  EXPECT_EQ(h->memory_bytes(), before);
  EXPECT_EQ(h->total(), 1'000'000);
}

}  // namespace
}  // namespace perfgate::common
