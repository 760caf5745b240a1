// The small-object tier's DRAM per set (issue 14; SmallTier owns them, not the engine yet): a
// Bloom filter per 4 KiB set, so that a get of a key the set does not hold rarely reads the
// device. There is no per-item entry: a set's filter is rebuilt from the keys it holds each time
// the set is written (or read whole at a restart), so deletes need no counting filter.
//
//   filters: sets x bits_per_set bits, one contiguous bit array; set s owns bits
//            [s * bits_per_set, (s + 1) * bits_per_set)
//
// Invariants:
//  - No false negatives: after Rebuild(s, hashes), MayContain(s, h) is true for every h given.
//  - Allocated once (sets x bits_per_set bits, rounded up to 64-bit words); never grows.
//  - The probe positions come from the key hash remixed, so they do not repeat the bits that
//    chose the set (the tier picks the set from the hash's low bits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ssdcache::storage {

class SetFilters {
 public:
  // `hashes` probes per key (1-8), `bits_per_set` at least 8.
  SetFilters(uint64_t sets, uint32_t bits_per_set, uint32_t hashes);

  // Set `set` now holds exactly the keys with these hashes.
  void Rebuild(uint64_t set, std::span<const uint64_t> key_hashes);
  // Adds one key to the set's filter (an item written into the set without a rebuild).
  void Add(uint64_t set, uint64_t key_hash);
  // False: the set certainly does not hold the key. True: it may (read the set).
  bool MayContain(uint64_t set, uint64_t key_hash) const;
  void Clear(uint64_t set);
  void ClearAll();
  // How many keys the set's filter holds, estimated from its bits set: -(m/k) ln(1 - X/m).
  uint32_t EstimateKeys(uint64_t set) const;
  // No bit of the set's filter is set: it holds no key (SmallTierCursor skips its read).
  bool Empty(uint64_t set) const;

  uint64_t sets() const { return sets_; }
  size_t bytes() const { return words_.size() * sizeof(uint64_t); }
  // The bit array whole (a snapshot of the tier saves and loads it: SmallTier::SaveSnapshot).
  std::span<const uint64_t> words() const { return words_; }
  std::span<uint64_t> words() { return words_; }

  // The false-positive rate a filter of `bits` bits holding `keys` keys with `hashes` probes
  // has in theory: (1 - e^(-hashes * keys / bits))^hashes.
  static double ExpectedFalsePositives(uint32_t bits, uint32_t keys, uint32_t hashes);

 private:
  uint64_t Bit(uint64_t set, uint64_t key_hash, uint32_t probe) const;
  uint64_t sets_;
  uint32_t bits_per_set_;
  uint32_t hashes_;
  std::vector<uint64_t> words_;
};

}  // namespace ssdcache::storage
