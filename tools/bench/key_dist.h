// Key-id distributions: uniform, and Zipf by rejection-inversion (Hormann & Derflinger, 1996),
// which needs O(1) memory and O(1) expected time for any key space, tens of millions included.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rng.h"

namespace ssdcache::bench {

struct KeyDistSpec {
  enum class Kind { kUniform, kZipf };
  Kind kind = Kind::kUniform;
  double alpha = 0;  // Zipf exponent, > 0

  std::string ToString() const;
};

// Parses "uniform" or "zipf:A" (0 < A <= 10); returns false with a reason in *error.
bool ParseKeyDist(std::string_view text, KeyDistSpec* out, std::string* error);

// Zipf over ranks 1..n: P(k) proportional to k^-alpha.
class ZipfSampler {
 public:
  ZipfSampler(uint64_t n, double alpha);
  uint64_t Sample(Rng& rng) const;  // a rank in [1, n]

 private:
  double H(double x) const;     // integral of h(x) = x^-alpha, shifted so that H(1) = 0
  double HInv(double x) const;  // inverse of H
  double h(double x) const;

  uint64_t n_;
  double alpha_;
  double h_integral_x1_;
  double h_integral_n_;
  double s_;
};

// Key ids in [0, key_space): ids are Zipf ranks minus one, so id 0 is the hottest key.
class KeyChooser {
 public:
  KeyChooser(uint64_t key_space, const KeyDistSpec& spec);
  uint64_t Next(Rng& rng) const {
    return zipf_ ? zipf_sampler_.Sample(rng) - 1 : rng.Below(key_space_);
  }

 private:
  uint64_t key_space_;
  bool zipf_;
  ZipfSampler zipf_sampler_;
};

}  // namespace ssdcache::bench
