#include "storage/index.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ssdcache::storage {

struct alignas(64) Index::Bucket {
  uint64_t slots[kSlotsPerBucket];
  uint16_t expiry[kSlotsPerBucket];
  uint32_t spare;
};

namespace {

constexpr unsigned kSlots = Index::kSlotsPerBucket;
constexpr uint64_t kOccupied = 1ULL << 63;
constexpr unsigned kTagShift = 47;
constexpr unsigned kSlabShift = 23;
constexpr unsigned kChunkShift = 3;
constexpr uint64_t kSlabMask = (1ULL << Index::kSlabBits) - 1;
constexpr uint64_t kChunkMask = (1ULL << Index::kChunkBits) - 1;
constexpr uint64_t kFetched = 1;
constexpr uint64_t kTokenSent = 2;
constexpr uint64_t kHit = 4;
// Bits 63..47 of an occupied slot holding `tag`: one compare checks occupancy and tag together.
constexpr uint64_t kOccupiedTagBase = 1ULL << Index::kTagBits;

// Each walk step reads up to six buckets (one step of look-ahead); 16 steps keep the worst-case
// insert bounded while the first eviction comes at about 97% load with 6-slot buckets.
constexpr int kMaxCuckooSteps = 16;

// Coarse expiry window: only expiries less than 2^20 s (2^14 units, a quarter of the 16-bit code
// space) ahead of `now` are encoded, so the signed wrapping difference stays meaningful for a long
// time on both sides of the encoding time.
constexpr int64_t kExpiryHorizonSeconds = int64_t{1} << 20;

uint16_t TagOf(uint64_t hash) { return static_cast<uint16_t>(hash >> 48); }

uint16_t SlotTag(uint64_t slot) { return static_cast<uint16_t>(slot >> kTagShift); }

bool SlotMatches(uint64_t slot, uint16_t tag) {
  return (slot >> kTagShift) == (kOccupiedTagBase | tag);
}

uint64_t EncodeSlot(uint16_t tag, const IndexEntry& e) {
  assert(e.slab <= kSlabMask);
  assert(e.chunk <= kChunkMask);
  return kOccupied | (uint64_t{tag} << kTagShift) | ((uint64_t{e.slab} & kSlabMask) << kSlabShift) |
         ((uint64_t{e.chunk} & kChunkMask) << kChunkShift) | (e.token_sent ? kTokenSent : 0) |
         (e.fetched ? kFetched : 0) | (e.hit ? kHit : 0);
}

uint32_t SlotSlab(uint64_t slot) { return static_cast<uint32_t>((slot >> kSlabShift) & kSlabMask); }

IndexEntry DecodeSlot(uint64_t slot, uint16_t expiry) {
  return IndexEntry{SlotSlab(slot),
                    static_cast<uint32_t>((slot >> kChunkShift) & kChunkMask),
                    expiry,
                    (slot & kFetched) != 0,
                    (slot & kTokenSent) != 0,
                    (slot & kHit) != 0};
}

// Spreads the 16 tag bits over all 64 so that the alternate bucket offset is uniform for any
// table size; the bucket index comes from the low hash bits and must not correlate with it.
uint64_t MixTag(uint16_t tag) {
  uint64_t x = (uint64_t{tag} + 1) * 0x9E3779B97F4A7C15ULL;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 29;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 32;
  return x;
}

int FindTag(const uint64_t* slots, uint16_t tag) {
  for (unsigned i = 0; i < kSlots; ++i) {
    if (SlotMatches(slots[i], tag)) return static_cast<int>(i);
  }
  return -1;
}

int FirstFree(const uint64_t* slots) {
  for (unsigned i = 0; i < kSlots; ++i) {
    if ((slots[i] & kOccupied) == 0) return static_cast<int>(i);
  }
  return -1;
}

unsigned CountFree(const uint64_t* slots) {
  unsigned n = 0;
  for (unsigned i = 0; i < kSlots; ++i) n += (slots[i] & kOccupied) == 0;
  return n;
}

// Frees the slots whose slab is no longer live; returns how many.
size_t ReclaimDead(uint64_t* slots, uint16_t* expiry, const SlabLiveness& liveness) {
  size_t freed = 0;
  for (unsigned i = 0; i < kSlots; ++i) {
    if ((slots[i] & kOccupied) != 0 && !liveness.IsSlabLive(SlotSlab(slots[i]))) {
      slots[i] = 0;
      expiry[i] = 0;
      ++freed;
    }
  }
  return freed;
}

}  // namespace

Index::Index(size_t max_bytes, const SlabLiveness* liveness) : liveness_(liveness) {
  static_assert(sizeof(Bucket) == 64, "a bucket must be exactly one cache line");
  static_assert(alignof(Bucket) == 64, "a bucket must not straddle cache lines");
  assert(liveness_ != nullptr);
  num_buckets_ = BucketsFor(max_bytes);
  mask_ = num_buckets_ - 1;
  // Anonymous memory comes zeroed and is only backed as buckets are touched, so an empty index
  // costs no RSS; huge pages spare a TLB miss on most lookups of a large index.
  void* mem = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    // No exceptions and no way to run without the index: this is a start-up failure.
    std::fprintf(stderr, "ssdcache: cannot allocate %zu bytes for the index\n", bytes());
    std::abort();
  }
  madvise(mem, bytes(), MADV_HUGEPAGE);
  buckets_ = static_cast<Bucket*>(mem);
}

Index::~Index() { munmap(buckets_, bytes()); }

size_t Index::BucketsFor(size_t max_bytes) {
  return std::bit_floor(std::max<size_t>(max_bytes / sizeof(Bucket), 1));
}

std::optional<IndexEntry> Index::Find(uint64_t hash) const {
  const uint16_t tag = TagOf(hash);
  const size_t b1 = hash & mask_;
  const size_t b2 = b1 ^ (MixTag(tag) & mask_);
  for (size_t b : {b1, b2}) {
    const Bucket& bucket = buckets_[b];
    const int i = FindTag(bucket.slots, tag);
    if (i >= 0) {
      // At most one slot per key exists across the pair, so a dead match means a miss.
      if (!liveness_->IsSlabLive(SlotSlab(bucket.slots[i]))) return std::nullopt;
      return DecodeSlot(bucket.slots[i], bucket.expiry[i]);
    }
  }
  return std::nullopt;
}

void Index::Prefetch(uint64_t hash) const {
  const size_t b1 = hash & mask_;
  __builtin_prefetch(&buckets_[b1]);
  __builtin_prefetch(&buckets_[b1 ^ (MixTag(TagOf(hash)) & mask_)]);
}

size_t Index::Populate(size_t from, size_t len) {
  if (from >= bytes()) return bytes();
  len = std::min(len, bytes() - from);
  if (madvise(reinterpret_cast<char*>(buckets_) + from, len, MADV_POPULATE_WRITE) != 0) {
    return bytes();
  }
  return from + len;
}

// Longer than ~80 lines on purpose: the cases of a two-bucket insert (the key's own slot, a free
// slot, a cuckoo path of displacements, eviction or kFull) are one decision read top to bottom;
// split, each piece would need the whole bucket pair's state passed in.
Index::InsertOutcome Index::Upsert(uint64_t hash, const IndexEntry& entry, bool may_evict) {
  const uint16_t tag = TagOf(hash);
  const uint64_t new_slot = EncodeSlot(tag, entry);
  const size_t b1 = hash & mask_;
  const size_t b2 = b1 ^ (MixTag(tag) & mask_);
  auto put = [&](size_t b, unsigned i) {
    buckets_[b].slots[i] = new_slot;
    buckets_[b].expiry[i] = entry.expiry;
  };
  auto next_random = [this] {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  };

  for (size_t b : {b1, b2}) {
    const int i = FindTag(buckets_[b].slots, tag);
    if (i >= 0) {
      const IndexEntry old = DecodeSlot(buckets_[b].slots[i], buckets_[b].expiry[i]);
      const bool live = liveness_->IsSlabLive(old.slab);
      put(b, static_cast<unsigned>(i));
      if (live) return {InsertResult::kReplaced, old};
      return {};
    }
  }

  // Free slot: prefer the emptier bucket so both fill evenly and the cuckoo walk starts late.
  auto insert_free = [&]() -> bool {
    const unsigned f1 = CountFree(buckets_[b1].slots);
    const unsigned f2 = b2 == b1 ? 0 : CountFree(buckets_[b2].slots);
    if (f1 == 0 && f2 == 0) return false;
    const size_t b = f1 >= f2 ? b1 : b2;
    put(b, static_cast<unsigned>(FirstFree(buckets_[b].slots)));
    ++size_;
    return true;
  };
  if (insert_free()) return {};
  size_t freed = ReclaimDead(buckets_[b1].slots, buckets_[b1].expiry, *liveness_);
  if (b2 != b1) freed += ReclaimDead(buckets_[b2].slots, buckets_[b2].expiry, *liveness_);
  size_ -= freed;
  if (freed > 0 && insert_free()) return {};

  // Cuckoo: first find a path of distinct slots p0 -> p1 -> ... -> pk -> free slot, where each
  // p(i+1) lies in the alternate bucket of the entry at p(i), without moving anything; then
  // shift the entries along it from the end. Distinct slots make every move read an entry before
  // its slot is overwritten, so nothing is lost or duplicated, and every entry stays in one of its
  // two buckets. No entry of this key exists (checked above), and moving an entry to its other
  // bucket cannot meet a tag match there (that would be the same key twice), so keys stay unique.
  size_t path_bucket[kMaxCuckooSteps];
  unsigned path_slot[kMaxCuckooSteps];
  int len = 0;
  auto on_path = [&](size_t b, unsigned i) {
    for (int k = 0; k < len; ++k) {
      if (path_bucket[k] == b && path_slot[k] == i) return true;
    }
    return false;
  };
  size_t b = (next_random() & 1) != 0 ? b2 : b1;
  size_t dest_bucket = 0;
  int dest_slot = -1;
  while (len < kMaxCuckooSteps) {
    // Look one step ahead from every movable entry of `b` before committing to a random one:
    // one of six alternate buckets having room is far likelier than one bucket having it.
    const unsigned start = static_cast<unsigned>(next_random() % kSlots);
    int victim = -1;
    size_t victim_alt = 0;
    for (unsigned k = 0; k < kSlots; ++k) {
      const unsigned i = (start + k) % kSlots;
      if (on_path(b, i)) continue;
      const size_t alt = b ^ (MixTag(SlotTag(buckets_[b].slots[i])) & mask_);
      if (alt == b) continue;
      const int free_slot = FirstFree(buckets_[alt].slots);
      if (victim < 0 || free_slot >= 0) {
        victim = static_cast<int>(i);
        victim_alt = alt;
      }
      if (free_slot >= 0) {
        dest_slot = free_slot;
        break;
      }
    }
    if (victim < 0) break;
    path_bucket[len] = b;
    path_slot[len] = static_cast<unsigned>(victim);
    ++len;
    Bucket& target = buckets_[victim_alt];
    if (dest_slot < 0) {
      // Path entries are never dead here (their buckets were reclaimed before the walk reached
      // them), so this cannot free a slot of the path.
      const size_t reclaimed = ReclaimDead(target.slots, target.expiry, *liveness_);
      size_ -= reclaimed;
      if (reclaimed > 0) dest_slot = FirstFree(target.slots);
    }
    if (dest_slot >= 0) {
      dest_bucket = victim_alt;
      break;
    }
    b = victim_alt;
  }
  if (dest_slot >= 0) {
    size_t to_bucket = dest_bucket;
    unsigned to_slot = static_cast<unsigned>(dest_slot);
    for (int k = len - 1; k >= 0; --k) {
      Bucket& from = buckets_[path_bucket[k]];
      buckets_[to_bucket].slots[to_slot] = from.slots[path_slot[k]];
      buckets_[to_bucket].expiry[to_slot] = from.expiry[path_slot[k]];
      to_bucket = path_bucket[k];
      to_slot = path_slot[k];
    }
    put(to_bucket, to_slot);
    ++size_;
    return {};
  }

  if (!may_evict) return {InsertResult::kFull, entry};
  const size_t vb = (next_random() & 1) != 0 ? b2 : b1;
  const unsigned vi = static_cast<unsigned>(next_random() % kSlots);
  const IndexEntry old = DecodeSlot(buckets_[vb].slots[vi], buckets_[vb].expiry[vi]);
  put(vb, vi);
  ++evictions_;
  return {InsertResult::kEvicted, old};
}

bool Index::Erase(uint64_t hash) {
  const uint16_t tag = TagOf(hash);
  const size_t b1 = hash & mask_;
  const size_t b2 = b1 ^ (MixTag(tag) & mask_);
  for (size_t b : {b1, b2}) {
    Bucket& bucket = buckets_[b];
    const int i = FindTag(bucket.slots, tag);
    if (i >= 0) {
      const bool live = liveness_->IsSlabLive(SlotSlab(bucket.slots[i]));
      bucket.slots[i] = 0;
      bucket.expiry[i] = 0;
      --size_;
      return live;
    }
  }
  return false;
}

bool Index::EraseIf(uint64_t hash, uint32_t slab, uint32_t chunk) {
  const uint16_t tag = TagOf(hash);
  const size_t b1 = hash & mask_;
  const size_t b2 = b1 ^ (MixTag(tag) & mask_);
  for (size_t b : {b1, b2}) {
    Bucket& bucket = buckets_[b];
    const int i = FindTag(bucket.slots, tag);
    if (i >= 0) {
      const IndexEntry cur = DecodeSlot(bucket.slots[i], bucket.expiry[i]);
      const bool live = liveness_->IsSlabLive(cur.slab);
      if (live && !cur.At(slab, chunk)) return false;
      bucket.slots[i] = 0;
      bucket.expiry[i] = 0;
      --size_;
      return live;
    }
  }
  return false;
}

size_t Index::Sweep(size_t buckets) {
  // Visiting a bucket twice in one call cannot free more.
  const size_t n = std::min(buckets, num_buckets_);
  size_t freed = 0;
  for (size_t k = 0; k < n; ++k) {
    Bucket& bucket = buckets_[sweep_cursor_];
    freed += ReclaimDead(bucket.slots, bucket.expiry, *liveness_);
    sweep_cursor_ = (sweep_cursor_ + 1) & mask_;
  }
  size_ -= freed;
  return freed;
}

void Index::MarkFetched(uint64_t hash, uint32_t slab, uint32_t chunk) {
  SetBits(hash, slab, chunk, kFetched | kHit);
}

bool Index::MarkTokenSent(uint64_t hash, uint32_t slab, uint32_t chunk) {
  uint64_t* slot = SlotAt(hash, slab, chunk);
  if (slot == nullptr) return true;
  if ((*slot & kTokenSent) != 0) return false;
  *slot |= kTokenSent;
  return true;
}

void Index::Move(uint64_t hash, uint32_t slab, uint32_t from, uint32_t to) {
  assert(to <= kChunkMask);
  if (uint64_t* slot = SlotAt(hash, slab, from)) {
    *slot = (*slot & ~(kChunkMask << kChunkShift)) | (uint64_t{to} << kChunkShift);
  }
}

void Index::SetBits(uint64_t hash, uint32_t slab, uint32_t chunk, uint64_t bits) {
  if (uint64_t* slot = SlotAt(hash, slab, chunk)) *slot |= bits;
}

uint64_t* Index::SlotAt(uint64_t hash, uint32_t slab, uint32_t chunk) {
  const uint16_t tag = TagOf(hash);
  const size_t b1 = hash & mask_;
  const size_t b2 = b1 ^ (MixTag(tag) & mask_);
  for (size_t b : {b1, b2}) {
    const int i = FindTag(buckets_[b].slots, tag);
    if (i < 0) continue;
    uint64_t& slot = buckets_[b].slots[i];
    const IndexEntry e = DecodeSlot(slot, buckets_[b].expiry[i]);
    return e.At(slab, chunk) ? &slot : nullptr;
  }
  return nullptr;
}

void Index::Clear() {
  // Handing the pages back makes them read as zeros again, without touching (and so backing)
  // every bucket of a large, mostly empty index; memset is the fallback.
  if (madvise(buckets_, bytes(), MADV_DONTNEED) != 0) {
    std::memset(static_cast<void*>(buckets_), 0, bytes());
  }
  size_ = 0;
}

// Coarse expiry rule. Let e' >= exptime be the time actually encoded and E = floor(e' / 64):
//   code = (E + 1) mod 2^16, except that E = 0xFFFF (mod 2^16) would give the "unknown" code 0, so
//   it is encoded as E + 1 (code 1): a later expiry, which is still conservative.
//   DefinitelyExpired(code, now) = code != 0 && int16((now / 64) - (code - 1)) >= 1,
//   i.e. now / 64 > E, hence now >= (E + 1) * 64 > e' >= exptime.
// The wrap is harmless while the true difference now/64 - E lies in [-2^15, 2^15). Only expiries
// less than 2^20 s (2^14 units) ahead are encoded, so E - now/64 <= 2^14 + 1 at encoding time, and
// a false "expired" would need the clock to go back by about 2^14 units (12 days) from there.
// Past 2^15 units (24 days) after expiry the difference wraps to "not expired", which is only a
// missed shortcut: the caller still checks the item's exact exptime. An exptime already in the
// past is encoded as max(exptime, now - 64), close enough to `now` to read as expired at once for
// those 24 days. An item is reported expired at most 64 s (128 s with the 0xFFFF bump) after e'.
uint16_t Index::CoarseExpiry(uint32_t exptime, uint32_t now) {
  if (exptime == 0) return 0;
  int64_t e = exptime;
  const int64_t ahead = e - int64_t{now};
  if (ahead >= kExpiryHorizonSeconds) return 0;
  if (ahead < 0) e = std::max<int64_t>(e, int64_t{now} - kExpiryUnitSeconds);
  const uint16_t code = static_cast<uint16_t>(e / kExpiryUnitSeconds + 1);
  return code == 0 ? 1 : code;
}

bool Index::DefinitelyExpired(uint16_t code, uint32_t now) {
  if (code == 0) return false;
  const uint16_t expiry_unit = static_cast<uint16_t>(code - 1);
  const uint16_t now_unit = static_cast<uint16_t>(now / kExpiryUnitSeconds);
  return static_cast<int16_t>(static_cast<uint16_t>(now_unit - expiry_unit)) >= 1;
}

void Index::LiveSlots(std::vector<Slot>& out, size_t first, size_t count) const {
  const size_t end = first + std::min(count, num_buckets_ - std::min(first, num_buckets_));
  for (size_t b = first; b < end; ++b) {
    const Bucket& bucket = buckets_[b];
    for (unsigned i = 0; i < kSlots; ++i) {
      const uint64_t slot = bucket.slots[i];
      if ((slot & kOccupied) == 0 || !liveness_->IsSlabLive(SlotSlab(slot))) continue;
      out.push_back({b, SlotTag(slot), DecodeSlot(slot, bucket.expiry[i])});
    }
  }
}

bool Index::PlaceInBucket(uint64_t bucket, uint16_t tag, const IndexEntry& entry) {
  Bucket& b = buckets_[bucket & mask_];
  const int i = FirstFree(b.slots);
  if (i < 0) return false;
  b.slots[i] = EncodeSlot(tag, entry);
  b.expiry[i] = entry.expiry;
  ++size_;
  return true;
}

}  // namespace ssdcache::storage
