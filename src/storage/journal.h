// The write-ahead journal of key hashes: what makes "no key returns a value it was not last set
// to" hold after a crash (SIGKILL; with --journal-sync device also power loss), not only after a
// clean shutdown.
//
// A record on the device stays there until its disk slab is evicted. When a newer version of the
// key (or a delete) is acknowledged while that newer record is still only in DRAM, a crash would
// bring the old record back at the warm restart. So before such a request is acknowledged, the
// engine appends (key hash, wseq of the new record) here, and the reply waits until the entry is
// committed. At restart, every record of that hash with a smaller wseq is superseded (a miss).
// Entries are true statements forever ("a version newer than wseq w of this key existed"), so a
// stale entry read back from an old lap of the ring is harmless.
//
// Two ways to commit (JournalSync, item.h):
//  - kDevice: entries are collected into a block that is written with O_DIRECT aio; they are
//    committed when the write completes (~65 us here), and replies wait for that.
//  - kProcess: the ring is mapped MAP_SHARED and an entry is stored straight into its block in
//    the mapping, i.e. into the page cache, which survives the death of the process: it is
//    committed when stored, Append() hands out no ticket and no reply waits. Only when the ring
//    has no free slot does an entry queue (as in device mode) until Commit() finds one. The page
//    cache does not survive the kernel: the engine's superblock records the boot and a clean
//    shutdown (which msyncs the mapping) so that a journal that may miss entries is never used.
//
// Owned state: the ring geometry (a region of the device slice after the superblock), the entries
// not yet committed (pending), up to kJournalMaxInFlight blocks being written at once (each with
// its own 4 KiB aligned buffer and entries), the mapping and the open in-place block (process
// mode), a count per hash of the entries pending or in flight, and the ring accounting (which
// block sequences may be overwritten).
//
// Device layout (blocks of kJournalBlockSize; block sequence s lives at slot s % blocks):
//
//   slice:  | superblock (4 KiB) | journal slot 0 | slot 1 | ... | slot n-1 | pad | disk slabs ...
//   block:  | JournalBlockHeader (32 B) | entry 0 | entry 1 | ... | entry 253 |
//   header: magic u32 | crc32c u32 | epoch u64 | seq u64 | count u32 | flags u32
//   entry:  key hash u64 | wseq u64                  (254 entries per block)
//
//   device-mode block (flags 0), written whole:
//           crc over the whole block; entries 0..count-1, then zeros
//   in-place block (flags kJournalInPlace), filled entry by entry in the mapping:
//           crc over the 32-byte header only; count 0; entries up to the first with wseq 0
//
// Invariants:
//  - A block is valid only with the magic, the device epoch and its CRC (computed with crc = 0):
//    torn or foreign blocks are ignored at recovery.
//  - A device-mode block takes a fresh slot: a block that holds acknowledged entries is never
//    rewritten (a torn rewrite would lose them).
//  - An in-place block is written so that a kill at any instant leaves a valid statement: opening
//    it zeroes the entry area, then (compiler barrier) writes the header; an entry stores its hash,
//    then (barrier) its wseq. wseq is never 0, so the first zero wseq ends the block. A kill leaves
//    either the slot's previous header with a subset of its (still true, already reclaimed)
//    entries, or the new header with every entry whose wseq store happened. The header itself is
//    never rewritten while the block is open, so no acknowledged entry depends on a CRC rewrite.
//  - The open in-place block has seq next_seq_ - 1 and counts as used; CutBlock() closes it, so
//    that entries appended after a checkpoint started land in a block >= the one it noted.
//  - Block seq s may be opened or written only if s < reclaimed_before() + blocks(): a slot is
//    reused only once the engine said (Reclaim) that every entry in the block it held is covered
//    (the newer record is durably on the device). Until then entries wait; nothing is dropped.
//  - Block seq s is written from flight slot s % kJournalMaxInFlight, so the blocks in flight are
//    within a window of that many consecutive sequences; a block waits when its slot is busy.
//  - A slot is never rewritten while an earlier write to it may still be in flight: Reclaim() is
//    clamped to the oldest block in flight (two writes racing on one slot could leave the older
//    one there and lose acknowledged entries).
//  - Tickets number the entries that wait (every one in device mode, only queued ones in process
//    mode) from 1 in append order; a block holds a contiguous range of them. Blocks may complete
//    in any order: the listener learns of each block's completion exactly once, with its own
//    ticket range, as soon as that block is written (or failed); in process mode synchronously,
//    from Commit(). Entries are independent statements, so a later block being on the device
//    while an earlier one is torn or missing is a valid ring: Load() replays every valid block,
//    with no "stop at the first gap", and continues after the newest.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "storage/device.h"
#include "storage/io_backend.h"
#include "storage/item.h"
#include "util/aligned_buffer.h"

namespace ssdcache::storage {

inline constexpr uint32_t kJournalBlockSize = 4096;
inline constexpr uint32_t kJournalMagic = 0x534A524E;  // "SJRN"
// Blocks written at once: one loop turn's entries go out while earlier turns' blocks are still
// being written, so a held reply waits for its own block only (not for the one before it too).
inline constexpr uint32_t kJournalMaxInFlight = 8;

struct JournalEntry {
  uint64_t hash;
  uint64_t wseq;
};
static_assert(sizeof(JournalEntry) == 16, "JournalEntry is part of the on-device format");

struct JournalBlockHeader {
  uint32_t magic;
  uint32_t crc;  // CRC32C with this field 0: of the whole block, or of the header if in place
  uint64_t epoch;
  uint64_t seq;
  uint32_t count;  // entries (device-mode block); 0 in an in-place block
  uint32_t flags;  // kJournalInPlace or 0
};
static_assert(sizeof(JournalBlockHeader) == 32,
              "JournalBlockHeader is part of the on-device format");

inline constexpr uint32_t kJournalEntriesPerBlock =
    (kJournalBlockSize - sizeof(JournalBlockHeader)) / sizeof(JournalEntry);
// JournalBlockHeader::flags: the block is filled in place (process mode; see above).
inline constexpr uint32_t kJournalInPlace = 1;

// Encodes `entries` (at most kJournalEntriesPerBlock) into the kJournalBlockSize bytes at `block`
// as a device-mode block.
void EncodeJournalBlock(char* block, uint64_t epoch, uint64_t seq,
                        std::span<const JournalEntry> entries);
// Opens an empty in-place block at `block` (which may hold anything, e.g. a block of an older
// lap): zeroes the entries, then writes the header, in that order.
void OpenInPlaceBlock(char* block, uint64_t epoch, uint64_t seq);
// Stores entry `i` of the in-place block at `block`: the hash, then the wseq (never 0).
void StoreInPlaceEntry(char* block, uint32_t i, uint64_t hash, uint64_t wseq);
// Validates the block (magic, epoch, flags, count, CRC) and appends its entries to `out`. Both
// kinds of block are accepted.
bool DecodeJournalBlock(const char* block, uint64_t epoch, uint64_t& seq,
                        std::vector<JournalEntry>& out);

class JournalListener {
 public:
  // The block holding tickets first_ticket..last_ticket was written (ok) or failed. Blocks may
  // complete out of ticket order. In process mode it runs from Commit(), always ok, for entries
  // that waited for ring room.
  virtual void OnJournalCommitted(uint64_t first_ticket, uint64_t last_ticket, bool ok) = 0;

 protected:
  ~JournalListener() = default;
};

struct JournalStats {
  uint64_t writes = 0;         // blocks written (device mode) or opened in place (process mode)
  uint64_t entries = 0;        // entries appended
  uint64_t errors = 0;         // block writes that failed
  uint64_t full_waits = 0;     // turns a commit waited for ring space
  uint64_t in_flight_max = 0;  // most block writes in flight at once (0 in process mode)
};

class Journal final : public IoHandler {
 public:
  // `offset` (absolute, aligned) and `blocks` describe the ring on `device`. kProcess maps the
  // ring (shared, pre-faulted, locked if allowed); on failure returns nullptr and a one-line
  // `error` naming the flag.
  static std::unique_ptr<Journal> Create(Device& device, IoBackend& aio, uint64_t offset,
                                         uint32_t blocks, JournalSync sync,
                                         JournalListener* listener, std::string& error);
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  uint32_t blocks() const { return blocks_; }
  JournalSync sync() const { return sync_; }

  // A freshly formatted device: block sequences start at 1 and every slot is free.
  void Reset(uint64_t epoch);
  // Warm restart: reads the whole ring (blocking, before serving) and appends the entries of
  // every valid block to `entries`. Writing continues after the newest block; no slot is free
  // until the engine reclaims them (its first checkpoint).
  bool Load(uint64_t epoch, std::vector<JournalEntry>& entries, std::string& error);

  // Appends an entry. Returns its ticket when it has to wait for Commit() (always in device mode;
  // in process mode only when the ring had no free slot), or 0 when it is committed already.
  uint64_t Append(uint64_t hash, uint64_t wseq);
  // Whether an entry of `hash` is appended but not yet committed.
  bool Uncommitted(uint64_t hash) const;
  // Commits the pending entries while room allows: device mode starts block writes (earlier
  // blocks may still be in flight) while flight slots allow; process mode stores them in place
  // and reports them committed at once. Called once per loop turn, before the aio submit, so one
  // turn's entries share one block (or as few as fit them).
  void Commit();
  // Closes the open in-place block (process mode) and returns the sequence the next block will
  // have: every entry appended from now on lands in a block >= it.
  uint64_t CutBlock();
  // Process mode: writes the mapping back to the device and waits (clean shutdown). Returns the
  // errno, 0 on success (and always in device mode).
  int Sync() const;

  // Ring accounting for the engine's checkpoints.
  uint64_t next_block() const { return next_seq_; }
  // Every block sequence below this may be overwritten: the engine's reclaim point, but never past
  // a block still in flight.
  uint64_t reclaimed_before() const;
  // Block sequences below `before` may be overwritten (once no longer in flight).
  void Reclaim(uint64_t before);
  // Slots holding blocks not yet reclaimed (written, being written, or open in place).
  uint64_t used_blocks() const { return next_seq_ - reclaimed_before(); }
  bool HasRoom() const { return next_seq_ < reclaimed_before() + blocks_; }
  bool idle() const { return in_flight_ == 0 && pending_.empty(); }
  uint32_t in_flight() const { return in_flight_; }

  const JournalStats& stats() const { return stats_; }
  void ResetStats() { stats_ = JournalStats{}; }

  void OnIoComplete(IoOp& op, int64_t result) override;

 private:
  Journal(Device& device, IoBackend& aio, uint64_t offset, uint32_t blocks, JournalSync sync,
          JournalListener* listener);

  // A block being written.
  struct Flight {
    bool busy = false;
    uint64_t seq = 0;
    uint64_t first_ticket = 0;
    std::vector<JournalEntry> entries;
    IoOp op;
  };

  void CommitToDevice();
  void CommitInPlace();
  // Process mode: a slot to store the next entry in, opening a block if needed and the ring has
  // room; false when it has none.
  bool InPlaceSlot();
  void Track(uint64_t hash);
  void Untrack(uint64_t hash);

  Device& device_;
  IoBackend& aio_;
  uint64_t offset_;
  uint32_t blocks_;
  JournalSync sync_;
  JournalListener* listener_;

  uint64_t epoch_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t reclaimed_before_ = 1;  // as the engine said; see reclaimed_before()
  uint64_t appended_ = 0;          // last ticket handed out
  uint64_t pending_first_ = 1;     // ticket of pending_.front()
  std::vector<JournalEntry> pending_;
  // Entries pending or in flight per hash: Uncommitted() is asked on every store, so it must not
  // scan up to kJournalMaxInFlight blocks of entries. An open-addressed table (linear probing,
  // backward-shift deletion, hash 0 = empty slot, counted apart) that only allocates when it
  // grows, so a journaled store allocates nothing in the steady state.
  struct CountSlot {
    uint64_t hash = 0;
    uint32_t count = 0;
  };
  std::vector<CountSlot> uncommitted_;
  size_t uncommitted_keys_ = 0;
  uint32_t uncommitted_zero_ = 0;  // entries of hash 0
  size_t SlotOf(uint64_t hash) const;
  void GrowUncommitted();
  std::array<Flight, kJournalMaxInFlight> flights_;
  uint32_t in_flight_ = 0;
  bool waited_ = false;      // counted the current wait for room already
  util::AlignedBuffer buf_;  // device mode: kJournalMaxInFlight blocks, one per flight slot
  // Process mode: the ring, mapped; the open in-place block (seq next_seq_ - 1) and its entries.
  IoMapping map_;
  char* open_block_ = nullptr;
  uint32_t open_count_ = 0;
  JournalStats stats_;
};

}  // namespace ssdcache::storage
