// Latency histogram: log-linear buckets (HdrHistogram-like) with at least two significant decimal
// digits from 1 us to 60 s, in fixed memory, mergeable, so every second and the whole run can be
// summarised without keeping samples.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace ssdcache::bench {

namespace histogram_layout {

// Values are microseconds; anything larger is clamped and still counted.
inline constexpr uint64_t kMaxValue = 60'000'000;
// 128 sub-buckets per power of two bound a bucket's width by 1/128 of its value (< 1%).
inline constexpr int kSubBits = 7;
inline constexpr uint64_t kSubCount = uint64_t{1} << kSubBits;

// Values below 2 * kSubCount get one bucket each; above, every power-of-two band [2^b, 2^(b+1))
// is split into kSubCount equal buckets, so the index stays monotonic in the value.
constexpr size_t BucketIndex(uint64_t value) {
  value = value < kMaxValue ? value : kMaxValue;
  const int width = std::bit_width(value);
  const int shift = width > kSubBits + 1 ? width - (kSubBits + 1) : 0;
  return static_cast<size_t>(shift) * kSubCount + static_cast<size_t>(value >> shift);
}

}  // namespace histogram_layout

class Histogram {
 public:
  static constexpr uint64_t kMaxValue = histogram_layout::kMaxValue;
  static constexpr size_t kBuckets = histogram_layout::BucketIndex(kMaxValue) + 1;

  Histogram() { Reset(); }

  void Record(uint64_t value) { RecordN(value, 1); }
  void RecordN(uint64_t value, uint64_t n);
  void Merge(const Histogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const;

  // Smallest value v such that at least p percent of the recorded values are <= v, reported as
  // the top of v's bucket but never above the exact maximum. p in [0, 100]; 0 when empty.
  uint64_t Percentile(double p) const;

  static size_t BucketIndex(uint64_t value) { return histogram_layout::BucketIndex(value); }
  static uint64_t BucketLow(size_t index);
  static uint64_t BucketHigh(size_t index);

 private:
  std::array<uint64_t, kBuckets> counts_;
  uint64_t count_;
  uint64_t min_;
  uint64_t max_;
  long double sum_;
};

}  // namespace ssdcache::bench
