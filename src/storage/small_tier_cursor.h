// SmallTierCursor: a listing of the small-object tier's live keys (lru_crawler metadump, stats
// cachedump; KeyScan, key_scan.h, lists the slab tier's). It walks the sets in order, reading
// each through the IoBackend (up to kMaxReads at once) and merging, when its read completes, the
// set's records with the log's records for that set as they are at that moment: the newest wseq
// wins, tombstones, expired records and those below the flush_all floor are hidden. What it hands
// out is copied (owned).
//
//   set s:  void or empty filter? --yes--> the log's records of s alone (no IO)
//                  | no
//           read s (async) ... complete: a move of s completed meanwhile? --yes--> read again
//                  | no
//           verify (CRC; corrupt: the log's alone, as lookups do) + merge with the log --> ready
//   ready sets are handed out in set order by Next(), in batches.
//
// Invariants:
//  - What a set's merge lists is the tier's content of that set at one instant (the read's
//    completion): every completed set write (the tier calls OnSetWritten) between a read's start
//    and its completion sends it to read again, and until a move's write completed its records
//    are still in the log, whose versions win by wseq over what the read found. So a key deleted
//    or replaced before the walk reached its set is never listed, nor an older version of one.
//    A key changed while the walk runs may be missed or listed twice (as memcached's crawler).
//  - Void sets (content unknown) are never read; a set the filter says is empty is not read.
//  - Close() stops it at once: no more records, no listener calls, no reads started; reads in
//    flight complete into it and are dropped. Destroy it only once idle() (as KeyScan), and
//    before the tier.
//  - At most kMaxReads reads in flight; Next() visits at most kSetsPerCall sets per call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/io_backend.h"
#include "storage/small_tier.h"
#include "util/aligned_buffer.h"

namespace ssdcache::storage {

// One listed record (owned: valid after the tier changes).
struct SmallTierListed {
  std::string key;
  uint32_t nvalue = 0;
  uint32_t flags = 0;
  uint32_t exptime = 0;    // absolute unix seconds, 0: never
  uint32_t stored_at = 0;  // unix seconds of its write: the last access the tier knows
  uint64_t cas = 0;
  uint64_t wseq = 0;
  uint8_t marks = 0;     // the record's (item.h kMark*)
  bool fetched = false;  // its set slot's hit bit: read since its set was last written
  bool in_log = false;   // listed from the log (not written to its set yet)
};

// Told when a read of the cursor completed (Next() has work again).
class SmallTierCursorListener {
 public:
  virtual void OnSmallCursorReady() = 0;

 protected:
  ~SmallTierCursorListener() = default;
};

class SmallTierCursor final : private IoHandler {
 public:
  static constexpr size_t kMaxReads = 4;
  static constexpr size_t kSetsPerCall = 4096;
  static constexpr uint32_t kReadTries = 3;  // a set whose read fails this often is skipped

  // `tier` must outlive the cursor; `listener` may be null (the caller polls).
  SmallTierCursor(SmallTier& tier, SmallTierCursorListener* listener);
  ~SmallTierCursor();
  SmallTierCursor(const SmallTierCursor&) = delete;
  SmallTierCursor& operator=(const SmallTierCursor&) = delete;

  enum class Step : uint8_t {
    kMore,     // call again: `max` records were appended, or this call's share of work is done
    kWaiting,  // reads in flight: the listener is told when one completes
    kDone,     // every set was listed (or the cursor is closed)
  };
  // Appends up to `max` (at least 1) records to `out`, the sets in order. The tier's IO it starts
  // is queued on the backend (the caller's loop submits).
  Step Next(std::vector<SmallTierListed>& out, size_t max);

  void Close();
  bool closed() const { return closed_; }
  bool idle() const;
  uint64_t read_errors() const { return read_errors_; }
  uint64_t corrupt_sets() const { return corrupt_sets_; }
  uint64_t sets_read() const { return sets_read_; }

  // From the tier: a write of `set` completed (or failed: the set is void).
  void OnSetWritten(uint64_t set);

 private:
  struct Slot {
    IoOp io;
    util::AlignedBuffer page{kSetBytes, kSetBytes};
    uint64_t set = 0;
    // In order_ (in use): reading, or ready, or neither: waiting for a move's write of the set
    // to complete (its read was torn by it).
    bool reading = false;  // a read is in flight
    bool ready = false;    // `listed` holds the set's records
    bool stale = false;    // a write of the set completed while the read was in flight
    uint32_t tries = 0;
    std::vector<SmallTierListed> listed;
    size_t taken = 0;  // of `listed`, handed out
  };

  void OnIoComplete(IoOp& op, int64_t result) override;
  // Starts set `set` in a free slot: a read, or its listing at once when it needs none.
  void Start(Slot& s, uint64_t set);
  // A void set or one whose filter is empty: its log records are all it has.
  bool NeedsNoRead(uint64_t set) const;
  void Read(Slot& s);
  // Lists the set: `recs` (what its read found, verified) merged with the log's records.
  void List(Slot& s, const std::vector<SetRecord>& recs);
  static SmallTierListed& Add(Slot& s, const SetRecord& r);

  SmallTier& tier_;
  SmallTierCursorListener* listener_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> order_;  // slots in use, in set order
  std::vector<SetRecord> recs_;
  uint64_t next_set_ = 0;
  uint64_t read_errors_ = 0;
  uint64_t corrupt_sets_ = 0;
  uint64_t sets_read_ = 0;
  bool closed_ = false;
};

}  // namespace ssdcache::storage
