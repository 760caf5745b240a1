// KeyScan: a listing of the keys the engine holds (lru_crawler metadump, stats cachedump), made by
// a sequential scan of the slabs: the disk slabs in device order, read through the engine's
// ReadPath in windows of whole chunks with a bounded number of reads in flight, and the memory
// slabs (and slabs still cached in DRAM) decoded in place. The index keeps no keys, so the
// records are the only place they can be listed from. Then the small-object tier's keys, through
// a SmallTierCursor (small_tier_cursor.h): its sets in order merged with its log, each record in
// the slab class its size would take (SlabClasses::ClassFor(ItemSize(key, value))).
//
//   targets (live slabs, seq < bound, sorted by disk slab and offset; memory slabs last)
//     cursor --> in DRAM?  yes: decode chunk by chunk            --> Current? --> sink
//                          no:  window read (chunks c0..c1) ... completion --^
//   then the tier: SmallTierCursor::Next (set reads, merged with the log) --> class? --> sink
//
// A record is handed to the sink only if, when it is handed over, the index points at exactly
// that (slab, chunk), it is no tombstone and it has not expired: an older version, a deleted key
// or an expired item is never listed, however the cache changed since the scan started.
//
// Invariants:
//  - The engine owns every scan (Engine::OpenScan / CloseScan) and drives its reads: a scan's
//    completions arrive through the engine's normal reap, and a closed scan is freed only once
//    its last read completed (nothing calls back into a closed scan's owner).
//  - At most kMaxReads reads and kMaxReadBytes bytes in flight per scan (at least one read);
//    Pump() examines at most kChunksPerPump chunks per call, and returns when the sink has no
//    room: the caller's loop is never held for long, and nothing is buffered beyond the reads.
//  - It ends: phase 0 visits the slabs that existed when it opened, phase 1 those opened during
//    phase 0 (a key overwritten meanwhile is listed from its new record), and no more.
//    A key stored during the scan may or may not be listed; one changed during it may be listed
//    twice (its old record, visited while current, and its new one).
//  - The tier's records follow the cursor's rules (small_tier_cursor.h): a key deleted or replaced
//    before the walk reached its set is never listed, nor an older version; nor a key whose delete
//    the engine parked (ScanParts::small_hidden, as lookups miss it). The cursor is the scan's:
//    Close() closes it, idle() waits for its reads too, and the engine frees a scan before the
//    tier.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "storage/access_table.h"
#include "storage/index.h"
#include "storage/item.h"
#include "storage/memory_buffers.h"
#include "storage/read_path.h"
#include "storage/slab_class.h"
#include "storage/slab_table.h"
#include "storage/small_tier_cursor.h"

namespace ssdcache::storage {

// What a scan reads, lent by the engine that owns it for the scan's life (the engine outlives
// its scans): every part read-only but the read path, which the scan starts reads through and
// gives its ops back to.
struct ScanParts {
  const SlabTable& table;
  const SlabClasses& classes;
  const std::vector<ChunkLayout>& layouts;  // per class
  const MemoryBuffers& buffers;
  const Index& index;
  const AccessTable& access;
  const DiskPlacement& placement;
  const uint32_t& now;  // the engine's clock, read at each record
  ReadPath& reads;
  // The small-object tier, listed after the slabs (null: none), and whether the engine hides a
  // key there (a delete it parked: lookups of the key miss in the tier).
  SmallTier* small = nullptr;
  std::function<bool(std::string_view key)> small_hidden;
};

// One listed record. Views point into the engine's DRAM or a read buffer, valid during Take().
struct ScanRecord {
  std::string_view key;
  uint32_t exptime = 0;      // absolute unix seconds, 0: never
  uint32_t last_access = 0;  // unix seconds: the access table's time, else the store time
  uint64_t cas = 0;
  uint32_t nvalue = 0;
  uint32_t size = 0;  // header + key + value
  uint8_t cls = 0;    // slab class, 0-based
  bool fetched = false;
};

class ScanSink {
 public:
  // Takes `r`; false: no room now, the same record is offered again at the next Pump().
  virtual bool Take(const ScanRecord& r) = 0;

 protected:
  ~ScanSink() = default;
};

// Told when a read of the scan completed (Pump() has work again).
class ScanListener {
 public:
  virtual void OnScanReady() = 0;

 protected:
  ~ScanListener() = default;
};

class KeyScan final : private SmallTierCursorListener {
 public:
  static constexpr size_t kMaxReads = 4;
  static constexpr size_t kMaxReadBytes = 1 << 20;
  static constexpr uint32_t kWindowBytes = 256 * 1024;
  static constexpr size_t kChunksPerPump = 4096;
  static constexpr size_t kTierBatch = 64;  // tier records taken from its cursor at once

  // `classes`: which classes to list (by 0-based class; empty: all).
  KeyScan(const ScanParts& parts, std::vector<bool> classes, ScanListener* listener);
  KeyScan(const KeyScan&) = delete;
  KeyScan& operator=(const KeyScan&) = delete;

  enum class Step : uint8_t {
    kMore,     // call again: the sink was full, or this call's share of work is done
    kWaiting,  // reads in flight: the listener is told when one completes
    kDone,     // every record was offered
  };
  Step Pump(ScanSink& sink);

  // A read of this scan completed (from Engine::OnIoComplete).
  void OnRead(ReadOp* r, int64_t result);
  // The owner is gone: no more reads, no more calls to the listener; completed reads are given
  // back. The engine frees it once idle().
  void Close();
  bool closed() const { return closed_; }
  bool idle() const { return windows_.empty() && (tier_ == nullptr || tier_->idle()); }
  uint64_t read_errors() const {
    return read_errors_ + (tier_ != nullptr ? tier_->read_errors() : 0);
  }

 private:
  // A window read: chunks [c0, c1) of slab `id` (whose seq was `seq`), `next` the first not yet
  // offered.
  struct Window {
    ReadOp* op;
    uint32_t id;
    uint64_t seq;
    uint32_t c0, c1, next;
    int64_t result;
    bool done;
  };

  // Collects the live slabs with seq in [lo_, hi_) of the listed classes, in device order.
  void Snapshot();
  // Whether the slab of `id` is still the one the cursor started on (or may start on).
  bool Still(uint32_t id) const;
  void Advance();
  // Offers the records of DRAM slab `id` from next_chunk_ on; false when stopped (sink full or
  // `budget` used up) before its end.
  bool VisitDram(uint32_t id, ScanSink& sink, size_t& budget);
  // Offers the records of a completed window; false when stopped before its end.
  bool DrainWindow(Window& w, ScanSink& sink, size_t& budget);
  bool StartWindow(uint32_t id);
  // Offers the record of (id, chunk) if the index points at it (see the header comment); false
  // only when the sink had no room.
  bool Offer(uint32_t id, uint32_t chunk, uint8_t cls, const ItemView& v, ScanSink& sink);
  void Release(Window& w);
  // Phase 2: the small-object tier's records, through its cursor.
  Step PumpTier(ScanSink& sink, size_t& budget);
  // Whether a listed class can hold tier items (else the tier is not walked at all).
  bool ListsTierClasses() const;
  // Offers a tier record in the listed classes (unless the engine hides its key); false only
  // when the sink had no room.
  bool OfferTier(const SmallTierListed& l, ScanSink& sink);
  void OnSmallCursorReady() override;

  ScanParts p_;
  std::vector<bool> classes_;
  ScanListener* listener_;
  std::vector<uint32_t> targets_;  // slab ids, in visiting order
  size_t cursor_ = 0;
  uint64_t cur_seq_ = 0;  // seq of targets_[cursor_] once started (0: not started)
  uint32_t next_chunk_ = 0;
  uint64_t lo_ = 0, hi_ = 0;
  int phase_ = 0;
  std::vector<Window> windows_;
  size_t bytes_in_flight_ = 0;
  uint64_t read_errors_ = 0;
  bool closed_ = false;
  std::unique_ptr<SmallTierCursor> tier_;  // phase 2 (opened when it starts)
  std::vector<SmallTierListed> tier_batch_;
  size_t tier_next_ = 0;  // of tier_batch_, the first not yet offered
};

}  // namespace ssdcache::storage
