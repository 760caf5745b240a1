#include "histogram.h"

#include <algorithm>
#include <cmath>

namespace ssdcache::bench {

using histogram_layout::kSubCount;

uint64_t Histogram::BucketLow(size_t index) {
  if (index < 2 * kSubCount) return index;
  const uint64_t shift = index / kSubCount - 1;
  const uint64_t mantissa = index - shift * kSubCount;
  return mantissa << shift;
}

uint64_t Histogram::BucketHigh(size_t index) {
  if (index < 2 * kSubCount) return index;
  const uint64_t shift = index / kSubCount - 1;
  const uint64_t mantissa = index - shift * kSubCount;
  return ((mantissa + 1) << shift) - 1;
}

void Histogram::RecordN(uint64_t value, uint64_t n) {
  if (n == 0) return;
  value = std::min(value, kMaxValue);
  counts_[BucketIndex(value)] += n;
  if (count_ == 0 || value < min_) min_ = value;
  max_ = std::max(max_, value);
  count_ += n;
  sum_ += static_cast<long double>(value) * n;
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  if (count_ == 0 || other.min_ < min_) min_ = other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void Histogram::Reset() {
  counts_.fill(0);
  count_ = 0;
  min_ = 0;
  max_ = 0;
  sum_ = 0;
}

double Histogram::mean() const {
  return count_ ? static_cast<double>(sum_ / static_cast<long double>(count_)) : 0.0;
}

uint64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // p is a decimal fraction with no exact binary form (99.9 * 1000 comes out as 999.00000000001):
  // a millionth of a sample of slack keeps such ranks on the integer they mean.
  const long double exact = static_cast<long double>(p) / 100.0L * count_;
  uint64_t rank = static_cast<uint64_t>(std::ceil(exact - 1e-6L));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(BucketHigh(i), min_, max_);
  }
  return max_;
}

}  // namespace ssdcache::bench
