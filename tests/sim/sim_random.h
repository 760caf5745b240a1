// The simulator's PRNG: the load generator's xoshiro256** (tools/bench/rng.h), so that a seed means
// the same stream on every platform and standard library (std::uniform_int_distribution does not
// promise that), with the few draws the workload needs.
#pragma once

#include <cstdint>

#include "rng.h"

namespace ssdcache::sim {

class Random {
 public:
  explicit Random(uint64_t seed) : rng_(seed) {}
  uint64_t Next() { return rng_.Next(); }
  // Uniform in [0, n), n > 0.
  uint64_t Below(uint64_t n) { return rng_.Below(n); }
  // Uniform in [lo, hi].
  uint64_t Between(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }
  // True with probability 1/n.
  bool OneIn(uint64_t n) { return Below(n) == 0; }

 private:
  bench::Rng rng_;
};

}  // namespace ssdcache::sim
