#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "util/histogram.h"

namespace ssdcache::util {
namespace {

TEST(Histogram, EmptyIsZero) {
  Histogram h;
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.count(), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 0; v < 8; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(0.0), 0u);
  EXPECT_EQ(h.Percentile(1.0), 7u);
  EXPECT_EQ(h.max(), 7u);
}

TEST(Histogram, PercentilesWithinABucketOfTheTruth) {
  std::mt19937_64 rng(3);
  std::vector<uint64_t> values;
  Histogram h;
  for (int i = 0; i < 100000; ++i) {
    uint64_t v = 1000 + rng() % 5000000;
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    uint64_t exact = values[static_cast<size_t>(q * (values.size() - 1))];
    uint64_t got = h.Percentile(q);
    EXPECT_GE(got, exact) << q;
    EXPECT_LE(got, exact + exact / 8 + 1) << q;
  }
  EXPECT_EQ(h.Percentile(1.0), values.back());
  h.Reset();
  EXPECT_EQ(h.count(), 0u);
}

TEST(Histogram, HugeValuesFit) {
  Histogram h;
  h.Record(~0ULL);
  h.Record(1ULL << 62);
  EXPECT_EQ(h.Percentile(1.0), ~0ULL);
  EXPECT_EQ(h.count(), 2u);
}

// The Prometheus page's buckets: counts below powers of two are exact, and the sum is kept.
TEST(Histogram, CountBelowPowersOfTwoIsExact) {
  Histogram h;
  const uint64_t values[] = {0, 3, 7, 8, 1023, 1024, 1025, 5000, 1 << 20};
  uint64_t sum = 0;
  for (uint64_t v : values) {
    h.Record(v);
    sum += v;
  }
  EXPECT_EQ(h.sum(), sum);
  EXPECT_EQ(h.CountBelow(0), 0u);
  EXPECT_EQ(h.CountBelow(8), 3u);
  EXPECT_EQ(h.CountBelow(1024), 5u);
  EXPECT_EQ(h.CountBelow(2048), 7u);
  EXPECT_EQ(h.CountBelow(1 << 20), 8u);
  EXPECT_EQ(h.CountBelow(1ULL << 40), 9u);
}

}  // namespace
}  // namespace ssdcache::util
