#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "histogram.h"
#include "rng.h"

namespace ssdcache::bench {
namespace {

// The exact percentile under the same definition as Histogram::Percentile: the smallest value
// with at least p percent of the samples at or below it.
uint64_t ExactPercentile(std::vector<uint64_t> values, double p) {
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

void ExpectClose(uint64_t got, uint64_t exact, double p) {
  // A bucket spans at most 1/128 of its values; the report is the bucket top.
  EXPECT_GE(got, exact) << "p" << p;
  EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * (1.0 + 1.0 / 128) + 1)
      << "p" << p;
}

TEST(BenchHistogram, BucketsAreContiguousAndNarrow) {
  for (size_t i = 0; i + 1 < Histogram::kBuckets; ++i) {
    ASSERT_EQ(Histogram::BucketHigh(i) + 1, Histogram::BucketLow(i + 1)) << i;
    ASSERT_EQ(Histogram::BucketIndex(Histogram::BucketLow(i)), i);
    ASSERT_EQ(Histogram::BucketIndex(Histogram::BucketHigh(i)), i);
    const double width = Histogram::BucketHigh(i) - Histogram::BucketLow(i) + 1;
    if (i < 256) {
      ASSERT_EQ(width, 1) << i;  // exact below 256
    } else {
      ASSERT_LE(width / Histogram::BucketLow(i), 1.0 / 128) << i;
    }
  }
  EXPECT_EQ(Histogram::BucketIndex(Histogram::kMaxValue), Histogram::kBuckets - 1);
  EXPECT_GE(Histogram::BucketHigh(Histogram::kBuckets - 1), Histogram::kMaxValue);
}

TEST(BenchHistogram, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(50), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.min(), 0u);
}

TEST(BenchHistogram, SmallValuesAreExact) {
  Histogram h;
  std::vector<uint64_t> values;
  for (uint64_t v = 0; v < 256; ++v) {
    h.Record(v);
    values.push_back(v);
  }
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(h.Percentile(p), ExactPercentile(values, p)) << p;
  }
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 255u);
  EXPECT_DOUBLE_EQ(h.mean(), 127.5);
}

TEST(BenchHistogram, PercentilesOfUniformValues) {
  Histogram h;
  std::vector<uint64_t> values;
  for (uint64_t v = 1; v <= 100000; ++v) {
    h.Record(v);
    values.push_back(v);
  }
  for (double p : {50.0, 90.0, 99.0, 99.9})
    ExpectClose(h.Percentile(p), ExactPercentile(values, p), p);
  EXPECT_EQ(h.Percentile(100), 100000u);
  EXPECT_EQ(h.max(), 100000u);
}

TEST(BenchHistogram, PercentilesOfLongTailedValues) {
  // Log-uniform from 1 us to 10 s, the shape of real latency tails.
  Histogram h;
  std::vector<uint64_t> values;
  Rng rng(7);
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = static_cast<uint64_t>(std::exp(rng.NextDouble() * std::log(1e7)));
    h.Record(v);
    values.push_back(v);
  }
  for (double p : {1.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99}) {
    ExpectClose(h.Percentile(p), ExactPercentile(values, p), p);
  }
  EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(h.Percentile(100), h.max());
}

TEST(BenchHistogram, SkewedMassAndOutlier) {
  Histogram h;
  h.RecordN(100, 999);
  h.Record(5'000'000);
  EXPECT_EQ(h.Percentile(50), 100u);
  EXPECT_EQ(h.Percentile(99.9), 100u);  // rank 999 of 1000
  EXPECT_EQ(h.Percentile(99.95), 5'000'000u);
  EXPECT_EQ(h.max(), 5'000'000u);
}

TEST(BenchHistogram, ClampsValuesAboveRange) {
  Histogram h;
  h.Record(Histogram::kMaxValue * 10);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.max(), Histogram::kMaxValue);
  EXPECT_EQ(h.Percentile(99), Histogram::kMaxValue);
}

TEST(BenchHistogram, MergeEqualsRecordingEverything) {
  Histogram a, b, all;
  Rng rng(3);
  for (int i = 0; i < 50000; ++i) {
    const uint64_t v = rng.Below(2'000'000);
    (i % 3 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {0.1, 50.0, 90.0, 99.0, 99.9, 100.0})
    EXPECT_EQ(a.Percentile(p), all.Percentile(p));
  Histogram empty;
  a.Merge(empty);
  EXPECT_EQ(a.count(), all.count());
  a.Reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.Percentile(50), 0u);
}

}  // namespace
}  // namespace ssdcache::bench
