// The slab table and disk placement: every logical slab's state and location, and the disk slabs
// they are written into. Bookkeeping only: no IO, no index, no stats; the engine drives it.
//
// A logical slab is table entry `seq & (size - 1)`. A disk slab holds one full slab, or several
// partly filled ones packed back to back (slabs sealed early under memory pressure):
//
//   disk slab d:  | slab 17 (12 KiB) | slab 21 (8 KiB) | slab 30 (4 KiB) | ...free...  |
//                  fill_id = 17      offsets in SlabInfo::disk_off        fill
//
// Invariants:
//  - The table has twice the entries of the logical slabs that can be alive at once, so an id is
//    reused only every ~half lap; TakeId() reuses an id only once the index sweeper completed
//    two passes since it died (no stale entry can alias a newer slab).
//  - At most one disk slab (packing()) takes partly filled slabs; a disk slab closes when full or
//    when it holds max_pieces() slabs, and the eviction policy hears of it (DiskClosed).
//  - A disk slab is free, in use (taken and not finished) or freeing (every slab in it evicted
//    or dead, waiting until the eviction frontier past its slabs is durable).
//    free + freeing + in use = disk_count(). A write into a disk slab that fails closes it (it
//    takes no more pieces) but does not retire it: it is reused like any other once its slabs
//    are gone, so that failed writes can never leave the engine without a disk slab.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "storage/eviction_policy.h"
#include "storage/slab_class.h"

namespace ssdcache::storage {

enum class SlabState : uint8_t { kFree, kMemory, kFlushing, kDisk };

struct SlabInfo {
  uint64_t seq = 0;
  uint64_t freed_pass = 0;  // sweep pass count when the slab died
  SlabState state = SlabState::kFree;
  uint8_t cls = 0;
  uint32_t mem = 0;       // memory buffer index (kMemory, kFlushing)
  uint32_t disk = 0;      // disk slab index (kFlushing: target, kDisk)
  uint32_t disk_off = 0;  // byte offset of this slab inside that disk slab
  uint32_t disk_len = 0;  // bytes written there (a partly filled slab is written short)
  bool cached = false;    // kDisk with its memory buffer still intact: read from DRAM
  // An index entry of a record here was dropped for lack of index room: that key's record
  // lingers unindexed, so new keys are journaled while any such slab lives (see Engine::Store).
  bool unindexed = false;
  bool placed = false;  // kFlushing: has its disk slab and its write was queued
  // kMemory: a probation slab (admission.h), screened instead of sealed when full.
  bool probation = false;
  uint64_t seal = 0;  // seal sequence (eviction order), once sealed
  uint32_t used = 0;  // chunks written
  uint32_t live = 0;  // index entries pointing here
  // kMemory: records voided here since it opened or was last compacted (their chunks are dead
  // room that Engine::CompactOpenSlabs can reclaim before the slab is written).
  uint32_t voided = 0;
  // Reads that set an entry's hit bit here (an upper bound of the entries read since placed):
  // reinsertion reads the slab before its eviction only when it is not 0.
  uint32_t hits = 0;
  // Unix seconds when its first record was written (after a restart: its oldest record's store
  // time): no live record here is older (`stats items` age).
  uint32_t opened_at = 0;
};

// Whether the slab's records can be read from its memory buffer (not yet written, being written,
// or written and still cached).
inline bool InDram(const SlabInfo& s) {
  return s.state == SlabState::kMemory || s.state == SlabState::kFlushing || s.cached;
}

// Where the disk slabs lie on the device: disk slab d starts at base + d * slab_size (after the
// superblock and the journal), and its pieces start on block boundaries.
struct DiskPlacement {
  uint64_t base = 0;
  uint32_t slab_size = 0;
  uint32_t block = 0;

  uint64_t Offset(uint32_t disk) const { return base + uint64_t{disk} * slab_size; }
  // The aligned device bytes [start, end) holding chunks [c0, c1) of slab `s` (placed on the
  // device, laid out by `layout`), chunk c0 `skip` bytes in.
  struct Range {
    uint64_t start, end;
    uint32_t skip;
  };
  Range ChunkRange(const SlabInfo& s, const ChunkLayout& layout, uint32_t c0, uint32_t c1) const {
    const uint64_t piece = Offset(s.disk) + s.disk_off;
    const uint64_t off = piece + layout.offset(c0);
    const uint64_t start = off / block * block;
    const uint64_t end =
        std::min((piece + layout.end(c1) + block - 1) / block * block, piece + s.disk_len);
    return {start, end, static_cast<uint32_t>(off - start)};
  }
};

struct DiskSlab {
  std::vector<uint32_t> pieces;  // logical ids written into it
  uint32_t fill = 0;             // bytes placed
  uint32_t pending = 0;          // writes in flight into it
  bool closed = false;           // takes no more pieces
  uint64_t fill_id = 0;          // seq of its first slab since (re)use
  uint32_t live_pieces = 0;      // pieces not evicted yet
  uint64_t free_after = 0;       // eviction frontier that must be durable before it is reused
  bool written = false;          // a write into it succeeded since it was taken
};

class SlabTable {
 public:
  // Partly filled slabs packed into one disk slab at most; large devices get fewer (PiecesFor).
  static constexpr size_t kMaxPiecesPerDiskSlab = 16;
  // Partly filled slabs per disk slab at most, so that the table (twice the slabs alive at once,
  // a power of two) fits the index's slab id bits (0: the device holds too many slabs for it).
  static size_t PiecesFor(uint64_t disk_slabs, uint64_t mem_slabs);

  // `policy` hears of every disk slab that closes; it must outlive the table.
  SlabTable(size_t disk_count, size_t mem_count, uint32_t slab_size, EvictionPolicy& policy);

  // Logical slabs.
  SlabInfo& operator[](size_t id) { return slabs_[id]; }
  const SlabInfo& operator[](size_t id) const { return slabs_[id]; }
  size_t size() const { return slabs_.size(); }
  std::vector<SlabInfo>::iterator begin() { return slabs_.begin(); }
  std::vector<SlabInfo>::iterator end() { return slabs_.end(); }
  std::vector<SlabInfo>::const_iterator begin() const { return slabs_.begin(); }
  std::vector<SlabInfo>::const_iterator end() const { return slabs_.end(); }
  uint32_t IdOf(uint64_t seq) const { return static_cast<uint32_t>(seq & mask_); }
  bool IsLive(uint32_t id) const {
    return id < slabs_.size() && slabs_[id].state != SlabState::kFree;
  }
  // The seq the next slab gets (every slab alive has a smaller one).
  uint64_t next_seq() const { return next_seq_; }
  void set_next_seq(uint64_t seq) { next_seq_ = seq; }
  // One pass over the table for a free id whose death `sweep_passes` passed twice; gives it the
  // next seq. False when every free id died too recently.
  bool TakeId(uint64_t sweep_passes, uint32_t& id);

  // Disk slabs.
  size_t disk_count() const { return disks_.size(); }
  size_t max_pieces() const { return max_pieces_; }
  DiskSlab& disk(uint32_t d) { return disks_[d]; }
  const DiskSlab& disk(uint32_t d) const { return disks_[d]; }
  size_t disks_in_use() const { return in_use_; }
  size_t disks_free() const { return free_.size() + freeing_.size(); }
  bool AnyDiskFreeOrFreeing() const { return !free_.empty() || !freeing_.empty(); }
  // The disk slab receiving partly filled slabs, or -1.
  int64_t packing() const { return packing_; }
  // Whether a slab of `len` bytes goes behind the slabs in the packing disk slab.
  bool Packs(uint32_t len) const;
  // Takes a free disk slab (false: none is free).
  bool TakeDisk(uint32_t& disk);
  // The taken `disk` starts with the slab of `first_seq`, `len` bytes. A partly filled one makes
  // it the packing disk slab: returns the previous one (-1: none), which the caller must Close().
  int64_t StartFill(uint32_t disk, uint64_t first_seq, uint32_t len);
  // Places slab `id` of `len` bytes at the end of `disk` and counts its write in flight; closes
  // the disk slab when full. Returns the slab's offset in it.
  uint32_t AddPiece(uint32_t disk, uint32_t id, uint32_t len);
  // It takes no more pieces. True when no write is in flight into it: the caller finishes it.
  bool Close(uint32_t disk);
  // A write into it failed: closed (without finishing it: the caller does when it is the last
  // write in flight).
  void Fail(uint32_t disk);
  enum class Finished : uint8_t { kInUse, kFreeing };
  // A closed disk slab with no write in flight: freeing once every slab in it was evicted or
  // died (reusable when `frontier` is durable; at once when no write into it succeeded).
  Finished Finish(uint32_t disk, uint64_t frontier);
  // Frees the freeing disk slabs `durable_frontier` covers; true while some still wait.
  bool Release(uint64_t durable_frontier);
  // A restart found slab `s` (state kDisk, placed) on the device: it becomes entry `id` (free
  // until now) and the next piece of its disk slab, the first naming the disk slab's fill_id.
  void EnterRecovered(uint32_t id, const SlabInfo& s);
  // After a restart entered every slab found: the disk slabs without one are free, the others in
  // use and closed (the policy hears of them in disk order).
  void Recovered();

 private:
  void MarkClosed(DiskSlab& d);

  EvictionPolicy& policy_;
  uint32_t slab_size_;
  std::vector<SlabInfo> slabs_;
  uint32_t mask_ = 0;
  uint64_t next_seq_ = 1;
  std::vector<DiskSlab> disks_;
  std::vector<uint32_t> free_;
  // Disk slabs whose slabs were all evicted, waiting for a superblock write that records a
  // frontier of at least their free_after.
  std::deque<uint32_t> freeing_;
  int64_t packing_ = -1;
  size_t max_pieces_ = 1;
  size_t in_use_ = 0;
};

}  // namespace ssdcache::storage
