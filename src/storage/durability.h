// Durability: what makes an acknowledged change survive a crash, apart from the slab writes.
//  - The superblock (first block of the slice): geometry, epoch, flush_all sequence, eviction
//    frontier, write sequence ceiling, and whether the run is clean. Rewritten asynchronously
//    (one write in flight; a change meanwhile marks it dirty and it is written again when that
//    completes), retried after a failure (at once a few times, then once a second from
//    Retry()), and written synchronously (pwrite + fdatasync) at start and at a clean stop.
//  - The write sequence (also the cas of a new version): never handed out at or above the
//    durable ceiling, which a superblock write raises when half the window is used, so a restart
//    can reject a journal entry above the ceiling as corrupt.
//  - The journal tickets replies wait on (held, in ticket order; blocks complete in any order).
//  - Checkpoints: journal blocks before a cut are reclaimed once every slab older than the cut
//    was written.
//
// Invariants:
//  - durable_frontier() and durable_wseq_ceiling() only grow, and only to values a completed
//    superblock write (or a synchronous one with no asynchronous write in flight) recorded.
//  - frontier() >= durable_frontier(); while it is greater, a crash may still find slabs the
//    engine evicted, so new versions are journaled (see Engine::Store).
//  - next_wseq() < durable_wseq_ceiling() for every wseq handed out.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "storage/device.h"
#include "storage/index.h"
#include "storage/io_backend.h"
#include "storage/item.h"
#include "storage/journal.h"
#include "util/aligned_buffer.h"

namespace ssdcache::storage {

// Receives the outcome of a journal commit a reply waits for (see StoreOutcome::ticket).
class CommitWaiter {
 public:
  // `ok` false: the journal write failed, the request's change was undone (the key is a miss).
  virtual void OnCommitDone(uint64_t token, uint64_t ticket, bool ok) = 0;

 protected:
  ~CommitWaiter() = default;
};

class Durability {
 public:
  // Write sequences reserved by one superblock write (see TakeWseq): at a million writes a second
  // the ceiling moves about every 36 minutes, and 2^32 restarts fit in the 64-bit sequence.
  static constexpr uint64_t kWseqWindow = uint64_t{1} << 32;

  // `geometry` holds the superblock's fixed fields (device and slab sizes, classes, instance,
  // boot id); superblock write completions go to `handler` (the engine: see IsSuperblockOp).
  Durability(Device& device, IoBackend& aio, IoHandler& handler, const Superblock& geometry);
  Durability(const Durability&) = delete;
  Durability& operator=(const Durability&) = delete;

  // The journal (null: none); set once, before anything is written.
  void set_journal(Journal* journal) { journal_ = journal; }

  // The superblock as it would be written now.
  void Fill(Superblock& sb) const;
  // Starts an asynchronous write of the superblock (or marks it dirty if one is in flight).
  void WriteSuperblock();
  // Blocking write (and flush) of the superblock, at start and at the end of a shutdown.
  bool WriteSuperblockNow(std::string& error);
  bool IsSuperblockOp(const IoOp& op) const { return &op == &super_op_; }
  // The asynchronous write completed with `result`: false when it failed (it is written again).
  bool SuperblockWritten(int64_t result);
  // Writes the superblock again if writes kept failing.
  void Retry();
  bool superblock_dirty() const { return super_dirty_; }
  bool superblock_in_flight() const { return super_in_flight_; }

  // A new epoch (every record on the device is void), logged with `why`.
  bool Format(const char* why, std::string& error);
  // Takes over a valid superblock found at start: its epoch, flush_all, frontier, whether that
  // run stopped cleanly, and a write sequence from its ceiling on.
  void Restore(const Superblock& found);
  // A record at `max_wseq` was found: the sequence continues above it (written synchronously).
  bool RaiseWseqAbove(uint64_t max_wseq, std::string& error);
  // Syncs the journal mapping and marks the superblock clean, synchronously.
  bool FinishShutdown(std::string& error);

  uint64_t epoch() const { return epoch_; }
  // The superblock found at start said the run before stopped cleanly (see Restore).
  bool last_run_clean() const { return last_run_clean_; }
  // The ceiling the next superblock write records (see TakeWseq).
  uint64_t wseq_ceiling() const { return wseq_ceiling_; }
  uint64_t flush_seq() const { return flush_seq_; }
  // flush_all: every slab below `seq` is void.
  void set_flush_seq(uint64_t seq) { flush_seq_ = seq; }
  // flush_all in the small-object tier: its records below `wseq` are gone.
  uint64_t small_flush_wseq() const { return small_flush_wseq_; }
  void set_small_flush_wseq(uint64_t wseq) { small_flush_wseq_ = wseq; }
  // The eviction frontier (every slab sealed below it was evicted), and what the device says.
  uint64_t frontier() const { return evicted_below_; }
  uint64_t durable_frontier() const { return durable_evicted_below_; }
  void set_frontier(uint64_t frontier) { evicted_below_ = frontier; }
  // The next write sequence (also the cas of a new version), below the durable ceiling.
  uint64_t TakeWseq();
  uint64_t next_wseq() const { return next_cas_; }

  // Journal tickets: one per entry a reply (or nobody, waiter null) waits on, in ticket order.
  // `where`: the new record (none for a delete), undone if the entry's block fails.
  void Hold(uint64_t ticket, uint64_t hash, const std::optional<IndexEntry>& where) {
    held_.push_back({ticket, hash, where, nullptr, 0, false, false});
  }
  // The record a held ticket would undo moved inside its slab (compaction): the undo must find
  // it at chunk `to`. Every held ticket of `hash` at (slab, from) follows it.
  void Moved(uint64_t hash, uint32_t slab, uint32_t from, uint32_t to) {
    for (Held& h : held_) {
      if (!h.done && h.hash == hash && h.where && h.where->At(slab, from)) {
        h.where->chunk = to;
      }
    }
  }
  // Calls waiter->OnCommitDone once the ticket's block completed (at once if it has).
  void AwaitCommit(uint64_t ticket, CommitWaiter* waiter, uint64_t token);
  // The block of tickets [first, last] completed: marks them, calls undo(hash, where) for each
  // change whose entry failed (which may hold more tickets), then its waiter.
  template <typename Undo>
  void Committed(uint64_t first, uint64_t last, bool ok, Undo&& undo);

  // Checkpoints: slabs with seq < slab_seq were all sealed when it started; once `writes` of
  // them completed, journal blocks before `block` are reclaimed. True when that happened now.
  bool checkpoint_active() const { return cp_active_; }
  bool BeginCheckpoint(uint64_t slab_seq, uint64_t block, size_t writes);
  // A slab write completed (or was dropped): true when it completed the checkpoint.
  bool CheckpointWriteDone(uint64_t slab_seq);

 private:
  struct Held {
    uint64_t ticket;
    uint64_t hash;
    std::optional<IndexEntry> where;  // the new record (none for a delete)
    CommitWaiter* waiter;
    uint64_t token;
    bool done;  // its block completed (held_ drops done entries from the front only)
    bool ok;
  };
  std::deque<Held>::iterator FindHeld(uint64_t ticket);

  Device& device_;
  IoBackend& aio_;
  IoHandler& handler_;
  Journal* journal_ = nullptr;
  Superblock geometry_;

  uint64_t epoch_ = 0;
  uint64_t flush_seq_ = 0;
  uint64_t small_flush_wseq_ = 0;
  bool clean_ = false;           // FinishShutdown() ran: the superblock says so
  bool last_run_clean_ = false;  // the superblock Restore() took over said clean
  util::AlignedBuffer super_buf_;
  IoOp super_op_;
  bool super_in_flight_ = false;
  bool super_dirty_ = false;
  bool super_retry_ = false;            // superblock writes kept failing: Retry() writes it again
  uint32_t super_failures_ = 0;         // superblock writes failed in a row
  uint64_t evicted_below_ = 1;          // every slab sealed below it was evicted
  uint64_t durable_evicted_below_ = 1;  // the frontier a completed superblock write records
  uint64_t super_evicted_below_ = 0;    // the frontier of the superblock write in flight
  uint64_t next_cas_ = 1;
  // The write sequence (cas) ceiling: no wseq at or above durable_wseq_ceiling_ is handed out.
  // Raised (to wseq_ceiling_) by an asynchronous superblock write when half the window is used.
  uint64_t wseq_ceiling_ = 0;
  uint64_t durable_wseq_ceiling_ = 0;
  uint64_t super_wseq_ceiling_ = 0;  // the ceiling of the superblock write in flight

  std::deque<Held> held_;  // in ticket order, one per ticket
  bool cp_active_ = false;
  uint64_t cp_slab_seq_ = 0;
  uint64_t cp_block_ = 0;
  size_t cp_writes_ = 0;
};

template <typename Undo>
void Durability::Committed(uint64_t first, uint64_t last, bool ok, Undo&& undo) {
  // Blocks complete in any order, so this block's tickets may sit behind earlier ones still in
  // flight: they are marked done where they are, and the done prefix is dropped at the end.
  // By index: undoing a change appends (a tombstone's entry), which may grow held_.
  for (size_t i = static_cast<size_t>(FindHeld(first) - held_.begin());
       i < held_.size() && held_[i].ticket <= last; ++i) {
    held_[i].done = true;
    held_[i].ok = ok;
    Held h = held_[i];
    if (!ok && h.where) undo(h.hash, *h.where);
    if (h.waiter != nullptr) h.waiter->OnCommitDone(h.token, h.ticket, ok);
  }
  while (!held_.empty() && held_.front().done) held_.pop_front();
}

}  // namespace ssdcache::storage
