// The small-object tier's log (issue 14; Kangaroo's KLog, in DRAM): new versions and tombstones of
// small items wait here until their set is rewritten, so that one 4 KiB set write carries every
// record bound for that set. SmallTier (small_tier.h) decides when records move out; the log only
// keeps them and finds them.
//
// Owned state: a ring of `bytes` bytes holding records in append order, and an index of chains:
// bucket b links the records of every set s with s % buckets == b, newest first, so that a
// lookup of a key walks one short chain and all the records bound for one set are found together.
//
//   ring:    | tail ... records (live, moving or dead) ... head | free | (wraps; a record never
//            |                                                  |        wraps: a pad fills the
//            end)
//   record:  | LogRecordHeader (56 B) | key | value | pad to 8 |
//   index:   buckets x u32 (ring offset of the newest record of the chain, or kLogNil)
//
// Invariants:
//  - Per key at most one record is linked (live): Append()ing a version and Kill()ing the older
//    one is the caller's pair; Find() returns the linked one.
//  - A record is linked iff it is live; a moving record (part of a set write in flight) keeps its
//    bytes even once killed, so a set write's references stay valid until Release().
//  - The tail only passes records that are neither live nor moving: a pinned record holds the
//    ring, and an Append() that does not fit fails (the caller moves records out first).
//  - `keep_free` bytes stay free for appends that ask for less: data leaves room for tombstones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "storage/set_page.h"

namespace ssdcache::storage {

inline constexpr uint32_t kLogNil = 0xFFFFFFFFu;

struct LogRecordHeader {
  uint64_t hash;
  uint64_t wseq;
  uint64_t cas;
  uint32_t set;
  uint32_t flags;
  uint32_t exptime;
  uint32_t stored_at;
  uint32_t next;  // the next (older) record of the bucket's chain, or kLogNil
  uint16_t nvalue;
  uint8_t nkey;
  uint8_t marks;
  uint8_t state;  // kLogLive | kLogMoving | kLogTomb | kLogSettled, or kLogPad
  uint8_t pad[7];
};
static_assert(sizeof(LogRecordHeader) == 56, "a log record's header is 8-byte aligned");

inline constexpr uint8_t kLogLive = 1;    // linked in its chain: the key's current log version
inline constexpr uint8_t kLogMoving = 2;  // part of a set write in flight: its bytes are pinned
inline constexpr uint8_t kLogTomb = 4;    // a tombstone (no value)
inline constexpr uint8_t kLogPad = 8;     // fills the end of the ring
// A copy of the version its set holds, for its meta marks (SmallTier::Remark): no older version
// is on the device, so OldestWseq() leaves it out, and losing it loses only the marks.
inline constexpr uint8_t kLogSettled = 16;

class SmallLog {
 public:
  // `bytes` (at least 64 KiB, below 4 GiB) of ring; one bucket per 256 bytes (a power of two).
  explicit SmallLog(size_t bytes);

  // Ring bytes a record of this key and value takes.
  static uint32_t RecordBytes(size_t nkey, size_t nvalue) {
    return static_cast<uint32_t>((sizeof(LogRecordHeader) + nkey + nvalue + 7) & ~size_t{7});
  }
  // Whether a record of this size fits now with `keep_free` bytes left over.
  bool HasRoom(uint32_t record_bytes, size_t keep_free) const;
  // Appends `r` (a tombstone when `tomb`: r.value is ignored) as a live record of `set`; the
  // record's offset, or kLogNil when it does not fit (see HasRoom).
  uint32_t Append(const SetRecord& r, uint64_t hash, uint32_t set, bool tomb, size_t keep_free);
  // The live record of `key` (in `set`, with `hash`), or kLogNil.
  uint32_t Find(std::string_view key, uint64_t hash, uint32_t set) const;
  // Calls f(offset) for each live record of `set`, newest first.
  template <typename F>
  void ForSet(uint32_t set, F&& f) const {
    for (uint32_t at = heads_[set & mask_]; at != kLogNil; at = header(at).next) {
      if (header(at).set == set) f(at);
    }
  }
  // Unlinks a live record; its bytes are free once the tail passes it (and it is not moving).
  void Kill(uint32_t at);
  void SetMoving(uint32_t at);
  // A live record's meta marks (kMarkFetched, ...), changed in place; and its kLogSettled bit.
  void SetMarks(uint32_t at, uint8_t marks) { mut(at).marks = marks; }
  // A settled record is not counted in live_by_step() (its set's record is).
  void SetSettled(uint32_t at) {
    Count(header(at), -1);
    mut(at).state |= kLogSettled;
  }
  // The set write that pinned it is over: clears moving (and kills it if still live).
  void Release(uint32_t at);
  // Kills every live record of a smaller wseq (flush_all); how many. A walk of every chain.
  uint64_t KillBelow(uint64_t wseq);

  // The oldest record that is live and not moving, or kLogNil. Advances a cursor past dead and
  // moving records (neither ever becomes live and unmoved again).
  uint32_t OldestUnmoved();

  const LogRecordHeader& header(uint32_t at) const {
    return *reinterpret_cast<const LogRecordHeader*>(ring_.data() + at);
  }
  // The record as a SetRecord whose views point into the ring (valid until the next Append).
  SetRecord View(uint32_t at) const;
  bool Matches(uint32_t at, std::string_view key, uint64_t hash) const;

  size_t capacity() const { return ring_.size(); }
  size_t used_bytes() const { return head_ - tail_; }  // live, moving, dead and pad bytes
  size_t live_bytes() const { return live_bytes_; }
  size_t moving_bytes() const { return moving_bytes_; }
  uint64_t live_records() const { return live_records_; }
  // Of them, tombstones; the others but settled copies by size (live_by_step()[SizeStep(...)]).
  uint64_t live_tombstones() const { return live_tombs_; }
  const std::vector<uint64_t>& live_by_step() const { return live_by_step_; }
  size_t index_bytes() const { return heads_.size() * sizeof(uint32_t); }
  // The smallest wseq of a record still live or moving, settled ones aside (UINT64_MAX when
  // none): a scan.
  uint64_t OldestWseq() const;
  // Whether a record still live or moving, settled ones aside, has a wseq below `wseq`: a scan
  // from the tail that stops at the first such record (the oldest appends come first, so while
  // a checkpoint waits the answer is usually found within its first records).
  bool AnyUnsettledBelow(uint64_t wseq) const;

 private:
  LogRecordHeader& mut(uint32_t at) {
    return *reinterpret_cast<LogRecordHeader*>(ring_.data() + at);
  }
  uint32_t Phys(uint64_t pos) const { return static_cast<uint32_t>(pos % ring_.size()); }
  // Bytes an append of `bytes` takes from head_ (with the pad up to the end when it would wrap).
  uint64_t Footprint(uint32_t bytes) const;
  // Moves the tail past records that are neither live nor moving.
  void Reclaim();
  // The logical position of the record after the one at `pos` (skipping a pad or short end).
  uint64_t Next(uint64_t pos) const;
  void Unlink(uint32_t at);
  // Whether the record at logical position `pos` is live or moving and not settled.
  bool Unsettled(uint64_t pos) const;
  // Counts a record in (delta 1) or out of (-1) live_tombs_ / live_by_step_.
  void Count(const LogRecordHeader& h, int delta);

  std::vector<char> ring_;
  std::vector<uint32_t> heads_;
  uint32_t mask_ = 0;
  uint64_t head_ = 0;    // logical position of the next append
  uint64_t tail_ = 0;    // logical position of the oldest record kept
  uint64_t cursor_ = 0;  // OldestUnmoved: every record before it is dead or moving
  size_t live_bytes_ = 0;
  size_t moving_bytes_ = 0;
  uint64_t live_records_ = 0;
  uint64_t live_tombs_ = 0;
  std::vector<uint64_t> live_by_step_ = std::vector<uint64_t>(kSizeSteps);
};

}  // namespace ssdcache::storage
