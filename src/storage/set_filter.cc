#include "storage/set_filter.h"

#include <algorithm>
#include <cmath>

namespace ssdcache::storage {

SetFilters::SetFilters(uint64_t sets, uint32_t bits_per_set, uint32_t hashes)
    : sets_(sets),
      bits_per_set_(std::max<uint32_t>(8, bits_per_set)),
      hashes_(std::clamp<uint32_t>(hashes, 1, 8)),
      words_((sets * bits_per_set_ + 63) / 64, 0) {}

uint64_t SetFilters::Bit(uint64_t set, uint64_t key_hash, uint32_t probe) const {
  // Double hashing over a remix of the key hash (its low bits chose the set).
  uint64_t x = key_hash * 0x9E3779B97F4A7C15ULL;
  x ^= x >> 29;
  const uint64_t h1 = x >> 32;
  const uint64_t h2 = (x & 0xFFFFFFFFULL) | 1;
  return set * bits_per_set_ + (h1 + probe * h2) % bits_per_set_;
}

void SetFilters::Clear(uint64_t set) {
  for (uint64_t b = set * bits_per_set_; b < (set + 1) * bits_per_set_; ++b) {
    words_[b / 64] &= ~(uint64_t{1} << (b % 64));
  }
}

void SetFilters::ClearAll() { std::fill(words_.begin(), words_.end(), 0); }

void SetFilters::Add(uint64_t set, uint64_t key_hash) {
  for (uint32_t p = 0; p < hashes_; ++p) {
    const uint64_t b = Bit(set, key_hash, p);
    words_[b / 64] |= uint64_t{1} << (b % 64);
  }
}

void SetFilters::Rebuild(uint64_t set, std::span<const uint64_t> key_hashes) {
  Clear(set);
  for (const uint64_t h : key_hashes) Add(set, h);
}

uint32_t SetFilters::EstimateKeys(uint64_t set) const {
  uint32_t on = 0;
  for (uint64_t b = set * bits_per_set_; b < (set + 1) * bits_per_set_; ++b) {
    on += (words_[b / 64] >> (b % 64)) & 1;
  }
  const double m = bits_per_set_;
  const double x = std::min<double>(on, m - 1);
  return static_cast<uint32_t>(std::lround(-m / hashes_ * std::log(1.0 - x / m)));
}

bool SetFilters::Empty(uint64_t set) const {
  for (uint64_t b = set * bits_per_set_; b < (set + 1) * bits_per_set_; ++b) {
    if (((words_[b / 64] >> (b % 64)) & 1) != 0) return false;
  }
  return true;
}

bool SetFilters::MayContain(uint64_t set, uint64_t key_hash) const {
  for (uint32_t p = 0; p < hashes_; ++p) {
    const uint64_t b = Bit(set, key_hash, p);
    if ((words_[b / 64] & (uint64_t{1} << (b % 64))) == 0) return false;
  }
  return true;
}

double SetFilters::ExpectedFalsePositives(uint32_t bits, uint32_t keys, uint32_t hashes) {
  return std::pow(1.0 - std::exp(-static_cast<double>(hashes) * keys / bits), hashes);
}

}  // namespace ssdcache::storage
