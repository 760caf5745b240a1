// Reinsertion at eviction (as CacheLib navy's hits-based reinsertion): an item read since it was
// placed in its slab (the index entry's hit bit) is copied into a memory slab when its slab is
// evicted, instead of being dropped, within a budget: the bytes copied may be at most
// `share_percent` of the chunk bytes clients stored (so device bytes written per set grow by at
// most that share). This part decides; the engine reads and copies (engine_reinsert.cc).
//
//   evict slab k-1 --> Want(k)? --> read slab k (async, whole piece) --> Judge each record --> copy
//                                                                          |
//   evict slab k: its read still in flight? --> late: its items are dropped (counted), the read's
//                                              result is ignored when it lands
//
// The victim is the policy's next candidate, read as soon as the previous one is evicted, so the
// read has a slab fill's time to land; the copies are made when it lands (a completion, never
// inside a store), before the victim is evicted. Nothing waits for it: a writer that needs the
// disk slab evicts it anyway (Late()).
//
// Invariants:
//  - At most one victim read in flight; a slab is read at most once (by seq).
//  - Copies never spend more than the credit earned: credit = share_percent% of stored bytes,
//    capped at `max_credit` bytes (an idle period does not save up an unbounded burst).
//  - The part holds no pointer into the engine: the engine hands it slab refs and sizes and gets
//    verdicts back as values.
#pragma once

#include <cstdint>
#include <optional>

#include "storage/eviction_policy.h"

namespace ssdcache::storage {

class Reinsertion {
 public:
  // `share_percent` 0 turns reinsertion off.
  Reinsertion(uint32_t share_percent, uint64_t max_credit)
      : share_(share_percent), max_credit_(max_credit * 100) {}

  bool enabled() const { return share_ != 0; }
  uint32_t share_percent() const { return share_; }

  // A client stored `bytes` (its chunk): earns share_percent% of them.
  void Earn(uint64_t bytes) {
    if (share_ == 0) return;
    credit_ = credit_ + bytes * share_ > max_credit_ ? max_credit_ : credit_ + bytes * share_;
  }

  enum class Verdict : uint8_t {
    kCopy,    // copy it (the credit was spent)
    kCold,    // not read since placed: dropped with its slab
    kBudget,  // read, but the credit does not cover it: dropped (counted)
  };
  // For a live, unexpired record of `bytes` (its chunk) in the victim.
  Verdict Judge(bool hit, uint32_t bytes) {
    if (!hit) return Verdict::kCold;
    const uint64_t cost = uint64_t{bytes} * 100;
    if (credit_ < cost) return Verdict::kBudget;
    credit_ -= cost;
    return Verdict::kCopy;
  }

  // Whether to start reading `candidate` (the next slab to be evicted, on the device) now.
  bool Want(const SlabRef& candidate) const {
    return enabled() && !reading_ && candidate.seq != last_seq_;
  }
  // Its read started.
  void Reading(const SlabRef& victim) {
    reading_ = true;
    last_seq_ = victim.seq;
  }
  // The read of the slab with `seq` landed: its records may be copied now unless it was evicted
  // meanwhile (then nothing is copied). Returns whether it is still the victim read.
  bool Landed(uint64_t seq) {
    reading_ = false;
    const bool evicted = late_seq_ == seq;
    late_seq_ = 0;
    return !evicted;
  }
  // The slab with `seq` is being evicted: true when its read is still in flight (late: its items
  // are dropped, and Landed() will say so).
  bool Late(uint64_t seq) {
    if (!reading_ || last_seq_ != seq) return false;
    late_seq_ = seq;
    return true;
  }
  bool reading() const { return reading_; }
  uint64_t victim_seq() const { return last_seq_; }  // the slab read last, or being read
  // Shutdown: no more reads or copies (a copy made after the last memory slabs were written
  // would be lost by a clean stop). A read in flight lands and is ignored.
  void Stop() { share_ = 0; }
  uint64_t credit_bytes() const { return credit_ / 100; }

 private:
  uint32_t share_;
  uint64_t max_credit_;  // in bytes x 100
  uint64_t credit_ = 0;  // in bytes x 100
  bool reading_ = false;
  uint64_t last_seq_ = 0;  // the slab read last (or being read)
  uint64_t late_seq_ = 0;  // evicted while its read was in flight
};

}  // namespace ssdcache::storage
