// A fixed-size log-linear latency histogram (HdrHistogram-like: 8 linear sub-buckets per power of
// two, so any value is placed within 12.5%). Owns 512 counters; recording is a few instructions
// and never allocates. Values are nanoseconds; percentiles report a bucket's upper bound.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace ssdcache::util {

class Histogram {
 public:
  static constexpr int kSubBits = 3;
  static constexpr int kBuckets = 64 << kSubBits;

  void Record(uint64_t v) {
    ++counts_[Index(v)];
    ++count_;
    sum_ += v;
    if (v > max_) max_ = v;
  }
  void Reset() { *this = Histogram(); }

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t sum() const { return sum_; }

  // How many values were below `bound`: exact when `bound` is a power of two (a bucket edge), as
  // the Prometheus page's buckets are.
  uint64_t CountBelow(uint64_t bound) const {
    uint64_t n = 0;
    for (int i = 0, end = bound == 0 ? 0 : Index(bound); i < end; ++i) n += counts_[i];
    return n;
  }

  // The smallest bucket upper bound below which `q` (0..1) of the values lie; 0 when empty.
  uint64_t Percentile(double q) const {
    if (count_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        uint64_t upper = UpperBound(i);
        return upper < max_ ? upper : max_;
      }
    }
    return max_;
  }

 private:
  static int Index(uint64_t v) {
    if (v < (1u << kSubBits)) return static_cast<int>(v);
    int msb = 63 - std::countl_zero(v);
    int sub = static_cast<int>((v >> (msb - kSubBits)) & ((1u << kSubBits) - 1));
    return ((msb - kSubBits + 1) << kSubBits) + sub;
  }
  static uint64_t UpperBound(int index) {
    if (index < (1 << kSubBits)) return static_cast<uint64_t>(index);
    int msb = (index >> kSubBits) + kSubBits - 1;
    uint64_t sub = static_cast<uint64_t>(index & ((1 << kSubBits) - 1));
    uint64_t base = (uint64_t{1} << msb) | (sub << (msb - kSubBits));
    return base + (uint64_t{1} << (msb - kSubBits)) - 1;
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

}  // namespace ssdcache::util

#include <ctime>

namespace ssdcache::util {

// Monotonic nanoseconds (vDSO clock_gettime: tens of ns), for latency measurements.
inline uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace ssdcache::util
