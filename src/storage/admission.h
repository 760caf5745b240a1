// Admission (--admit, in the manner of S3-FIFO's small queue and ghost queue): a key's first
// write goes to a probation slab, a memory slab that is not written to the device as such. When
// probation holds its share of the memory buffers, its oldest full slab is screened: a record read
// since it was stored (its index entry's hit bit) is copied into an ordinary memory slab and so
// reaches the device; one never read is dropped (counted in evictions) and its key remembered by
// the ghost. A key the ghost remembers, and a key written again, goes to an ordinary slab at once.
// This part keeps the probation queue and the ghost and decides; the engine places, screens and
// copies (engine_admit.cc, docs/design.md "Admission").
//
//   first write --> open probation slab --full--> queue --screen (probation over its share)-->
//                     read since stored? yes: copied to an ordinary slab --> device
//                                        no:  dropped (evictions), key into the ghost
//
// Invariants:
//  - At most max_slabs() probation slabs exist at once, open ones included; the other memory
//    buffers stay with the ordinary slabs.
//  - The ghost is allocated once (its bytes come out of -m, see Engine) and never grows: a
//    remembered key may be forgotten (a slot reused), never invented (a fingerprint match of
//    another key only sends that key to an ordinary slab, as without admission).
//  - The part holds no pointer into the engine: it gets logical ids and hashes, gives verdicts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace ssdcache::storage {

// Fingerprints of keys recently dropped from probation, each with the count of drops before it:
// 64-byte buckets of 8 (fingerprint, count) slots, the oldest slot reused when a bucket is full.
// As S3-FIFO's ghost queue, it remembers only as many of the last drops as the cache holds items
// (Recall's `window`): a key dropped longer ago than that is a first write again.
class Ghost {
 public:
  // The largest power of two of buckets that fits in `bytes` (none: remembers nothing).
  explicit Ghost(size_t bytes);

  void Remember(uint64_t hash);
  // Whether `hash` was remembered among the last `window` drops (and forgets it: the key leaves
  // the ghost for the ordinary slabs).
  bool Recall(uint64_t hash, uint64_t window);
  size_t bytes() const { return buckets_.size() * sizeof(Bucket); }
  static size_t BytesFor(size_t budget);

 private:
  struct alignas(64) Bucket {
    std::array<uint32_t, 8> fp{};
    std::array<uint32_t, 8> at{};  // the drop count when remembered (wraps)
  };
  static uint32_t Fingerprint(uint64_t hash) { return static_cast<uint32_t>(hash >> 32) | 1U; }
  Bucket& BucketOf(uint64_t hash) { return buckets_[hash & mask_]; }
  std::vector<Bucket> buckets_;
  uint64_t mask_ = 0;
  uint32_t drops_ = 0;  // drops remembered so far (wraps; windows are far below 2^32)
};

class Admission {
 public:
  // `max_slabs` 0 turns admission off.
  Admission(size_t max_slabs, size_t ghost_bytes) : max_slabs_(max_slabs), ghost_(ghost_bytes) {}

  bool enabled() const { return max_slabs_ != 0; }
  size_t max_slabs() const { return max_slabs_; }
  size_t slabs() const { return slabs_; }  // open and queued
  // Whether another probation slab may be opened.
  bool HasRoom() const { return slabs_ < max_slabs_; }
  void Opened() { ++slabs_; }
  // A full probation slab waits for screening, oldest first.
  void Queue(uint32_t id) { queue_.push_back(id); }
  // The oldest full probation slab, taken off the queue (its screening follows).
  std::optional<uint32_t> TakeOldest();
  // A probation slab was screened, written (a stop) or discarded (flush_all).
  void Closed() {
    if (slabs_ > 0) --slabs_;
  }
  // Every queued slab, oldest first, taken off the queue.
  std::deque<uint32_t> TakeQueue();

  void Remember(uint64_t hash) { ghost_.Remember(hash); }
  bool Recall(uint64_t hash, uint64_t window) { return ghost_.Recall(hash, window); }
  size_t ghost_bytes() const { return ghost_.bytes(); }
  // A stop: no more first writes to probation (what it holds is written with the memory slabs).
  void Stop() { max_slabs_ = 0; }

 private:
  size_t max_slabs_;
  size_t slabs_ = 0;
  std::deque<uint32_t> queue_;
  Ghost ghost_;
};

}  // namespace ssdcache::storage
