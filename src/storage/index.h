// The in-DRAM item index: key hash -> (logical slab id, chunk index, coarse expiry). It stores no
// key and no full digest: a bucket holds 6 entries of 8 bytes plus a 16-bit coarse expiry per
// entry, exactly one 64-byte cache line, so a lookup touches at most two cache lines and an item
// costs 64/6 = 10.7 bytes at full load (the goal is <= 12 bytes per item with the load factor
// included).
//
//   bucket (64 B):  | entry0 .. entry5 (6 x u64) | expiry0 .. expiry5 (6 x u16) | spare (4 B) |
//   entry (u64):    bit 63 occupied | 62..47 tag (16) | 46..23 slab (24) | 22..3 chunk (20) |
//                   2 hit | 1 token sent | 0 fetched
//
// The three flag bits are not in the record (a scan restart rebuilds the entries with all clear;
// a snapshot restart keeps "fetched", never "token sent" or "hit"): "fetched" is mg's h, "token
// sent" records that a client was given the meta protocol's win token (W) for the current
// version, so later readers get Z. "hit" is set with fetched, but a copy made by reinsertion
// starts with it clear (while it keeps fetched, which the protocol reports): it says the record at
// this location was read since it was placed there, which is what reinsertion asks.
//
// Hash use: bucket b1 = hash & mask; tag = hash >> 48; the alternate bucket b2 = b1 ^ (mix(tag) &
// mask), so an entry can move between its two buckets knowing only its tag (partial-key cuckoo).
//
// Invariants:
//  - At most one entry per (tag, bucket pair): Upsert replaces a tag match. Two keys that share
//    both are indistinguishable here; the caller compares the full key stored with the item, so a
//    collision is a miss, never another key's value.
//  - An entry whose slab the SlabLiveness says is not live is dead: Find() never returns it, and
//    Upsert()/Sweep() reclaim its slot. The caller must let Sweep() visit every bucket between two
//    reuses of a logical slab id (the slab table sizes its id space for that).
//  - Memory is allocated once at construction (never more than max_bytes) and never grows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "storage/small_version.h"

namespace ssdcache::storage {

class SlabLiveness {
 public:
  virtual bool IsSlabLive(uint32_t slab) const = 0;

 protected:
  ~SlabLiveness() = default;
};

struct IndexEntry {
  uint32_t slab = 0;    // logical slab id (< 2^24)
  uint32_t chunk = 0;   // chunk index inside the slab (< 2^20)
  uint16_t expiry = 0;  // coarse expiry code, see CoarseExpiry(); 0 = none or unknown
  // Both flags are stored by Upsert as given (a new version normally starts with both clear).
  bool fetched = false;     // read since written
  bool token_sent = false;  // a win token (W) was handed out for this version
  bool hit = false;         // read since placed at this location (reinsertion's test)
  // A location in the small-object tier (Engine; never in the index): slab and chunk then say
  // what the index held for the key's hash when the tier was read (kSmallTierSlab in engine.h:
  // nothing; else another key's entry sharing the tag), `small_version` the tier's version.
  bool small = false;
  SmallTierVersion small_version{};
  bool operator==(const IndexEntry&) const = default;
  // Whether this entry points at chunk `chunk` of slab `slab`.
  bool At(uint32_t s, uint32_t c) const { return slab == s && chunk == c; }
};

class Index {
 public:
  static constexpr unsigned kSlabBits = 24;
  static constexpr unsigned kChunkBits = 20;
  static constexpr unsigned kTagBits = 16;
  static constexpr unsigned kSlotsPerBucket = 6;
  static constexpr unsigned kExpiryUnitSeconds = 64;

  // Uses the largest power-of-two number of 64-byte buckets that fits in max_bytes (at least 1):
  // BucketsFor(max_bytes).
  Index(size_t max_bytes, const SlabLiveness* liveness);
  static size_t BucketsFor(size_t max_bytes);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // The live entry whose tag matches in either bucket of `hash`, if any.
  std::optional<IndexEntry> Find(uint64_t hash) const;
  // The live entry of `hash` if it points at chunk `chunk` of slab `slab`: whether the record
  // there is the version the index serves (a later write or delete moved or removed the entry).
  std::optional<IndexEntry> FindAt(uint64_t hash, uint32_t slab, uint32_t chunk) const {
    std::optional<IndexEntry> e = Find(hash);
    return e && e->At(slab, chunk) ? e : std::nullopt;
  }
  // Starts loading both buckets of `hash` into the cache (a hint, no effect on the entries): a
  // batch of lookups issued ahead overlaps their cache misses (the warm-restart scan).
  void Prefetch(uint64_t hash) const;
  // Backs [from, from + len) of the index's memory with pages (MADV_POPULATE_WRITE: the entries
  // stay as they are), so that inserts there later take no page fault. Returns where the next
  // call starts: bytes() once all is done, or when the kernel cannot do it.
  size_t Populate(size_t from, size_t len);

  enum class InsertResult : uint8_t {
    kInserted,  // new entry, nothing displaced
    kReplaced,  // the key's previous entry (`old`) was overwritten
    kEvicted,   // both buckets were full of live entries: another key's entry (`old`) was dropped
    kFull,      // the same, but the caller forbade eviction: nothing was stored
  };
  struct InsertOutcome {
    InsertResult result = InsertResult::kInserted;
    IndexEntry old;
  };
  // Inserts or replaces the entry of `hash`. When both buckets are full it first reclaims dead
  // entries, then tries a bounded number of cuckoo moves, and only then evicts a live entry
  // (unless `may_evict` is false: then it stores nothing and answers kFull).
  InsertOutcome Upsert(uint64_t hash, const IndexEntry& entry, bool may_evict = true);

  // Removes the entry of `hash`; returns whether one was there (dead entries don't count).
  bool Erase(uint64_t hash);
  // Removes the entry of `hash` only if it still points at (slab, chunk).
  bool EraseIf(uint64_t hash, uint32_t slab, uint32_t chunk);
  // Sets the fetched and hit bits of the entry of `hash` if it still points at (slab, chunk).
  void MarkFetched(uint64_t hash, uint32_t slab, uint32_t chunk);
  // Points the entry of `hash` at chunk `to` instead of `from` of `slab`, if it still points at
  // (slab, from); its other bits stay (a record moved inside its slab, engine_compact.cc).
  void Move(uint64_t hash, uint32_t slab, uint32_t from, uint32_t to);
  // Sets the token-sent bit of the entry of `hash` if it still points at (slab, chunk); false
  // when that entry had it already (a test-and-set), true otherwise.
  bool MarkTokenSent(uint64_t hash, uint32_t slab, uint32_t chunk);

  // A live entry where it sits: what a snapshot keeps of it (the index holds no full hash; the
  // bucket gives its low bits).
  struct Slot {
    uint64_t bucket = 0;
    uint16_t tag = 0;
    IndexEntry entry;
  };
  // Appends the live entries of buckets [first, first + count) (clamped to the index), bucket
  // by bucket: a caller walks the index a stretch at a time without a copy of all of it.
  void LiveSlots(std::vector<Slot>& out, size_t first, size_t count) const;
  // Puts an entry of `tag` into `bucket` (of this index's size) as a snapshot recorded it: false
  // when the bucket is full (insert it with Upsert instead).
  bool PlaceInBucket(uint64_t bucket, uint16_t tag, const IndexEntry& entry);

  // Visits the next `buckets` buckets (wrapping) and frees the slots of dead entries. Returns the
  // number of slots freed.
  size_t Sweep(size_t buckets);
  // Drops every entry.
  void Clear();

  size_t size() const { return size_; }  // occupied slots (dead ones included until reclaimed)
  size_t capacity() const { return num_buckets_ * kSlotsPerBucket; }
  size_t num_buckets() const { return num_buckets_; }
  size_t bytes() const { return num_buckets_ * 64; }
  uint64_t evictions() const { return evictions_; }  // live entries dropped by Upsert for room

  // Coarse expiry: encodes an absolute expiry time (unix seconds; 0 = never) relative to `now` in
  // 16 wrapping bits of kExpiryUnitSeconds, so that DefinitelyExpired() can answer "expired"
  // without reading the item. Conservative: an expiry too far ahead to encode, or 0, gives code 0
  // ("unknown"), and DefinitelyExpired() is only true when the item has certainly expired.
  static uint16_t CoarseExpiry(uint32_t exptime, uint32_t now);
  static bool DefinitelyExpired(uint16_t code, uint32_t now);

 private:
  struct alignas(64) Bucket;
  void SetBits(uint64_t hash, uint32_t slab, uint32_t chunk, uint64_t bits);
  // The slot of `hash`'s entry if it points at (slab, chunk), else null.
  uint64_t* SlotAt(uint64_t hash, uint32_t slab, uint32_t chunk);
  Bucket* buckets_ = nullptr;
  size_t num_buckets_ = 0;
  uint64_t mask_ = 0;
  size_t size_ = 0;
  size_t sweep_cursor_ = 0;
  uint64_t evictions_ = 0;
  uint64_t rng_ = 0x9E3779B97F4A7C15ULL;
  const SlabLiveness* liveness_;
};

}  // namespace ssdcache::storage
