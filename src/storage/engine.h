// The SSD slab engine: owns the memory slabs (DRAM write buffers) and the item index, serves
// lookups, stores and deletes, and drives the device through its IoBackend, whose submit and reap
// it owns (SubmitIo/PollIo/ReapIo/DrainIo). It composes its parts (see docs/design.md "The
// engine's parts"): SlabTable (slab table, disk placement), EvictionPolicy (eviction order and
// frontier), ReadPath (device reads and their buffers), Durability (superblock, write sequence,
// journal tickets, checkpoints) and Recovery (warm restart). Single-threaded: every call comes
// from the event loop thread, and completions arrive through ReapIo()/PollIo().
//
// Slab lifecycle (a "slab" is a logical id in the slab table; see docs/design.md):
//
//   kFree --open--> kMemory --full/seal--> kFlushing --write ok--> kDisk --FIFO evict--> kFree
//                   (filling its          (data still in DRAM,    (data on a disk slab;
//                    memory buffer)        write in flight)        buffer recycled)
//
// Invariants:
//  - The index points only at (logical slab, chunk); flushing a slab to disk changes the slab
//  table,
//    never an index entry. An entry whose slab is kFree is dead (SlabLiveness) and is never
//    returned.
//  - A logical id is reused only after the index sweeper completed a full pass since the id died,
//    so a stale entry can never alias a newer slab; reads also check the slab sequence in the item.
//  - Every value returned was verified: in DRAM by key; from the device by magic, slab sequence,
//    CRC32C and full key. Anything else is a miss.
//  - Items a client was told STORED are in a memory slab or on the device; ShutdownFlush() writes
//    every memory slab holding items.
//  - Eviction follows the seal order. A record that reaches the device was superseded (if ever)
//    by a record written after its slab was sealed (a record superseded while its slab is still
//    open is voided), so the superseding record's slab is sealed later. Logical slabs are
//    evicted strictly in seal order, one at a time (a disk slab holding several packed slabs is
//    reused once all of them are evicted): a record is therefore never evicted before an older
//    record of its key. Evicted slabs can linger on the device (their disk slab still holds
//    younger pieces, or was not rewritten yet), so the superblock records the eviction frontier
//    (every slab sealed below it is void) and a freed disk slab is rewritten only once a
//    superblock write holding a frontier past all of its slabs completed: a restart never finds
//    an older record whose newer version was evicted and overwritten.
//  - Crash safety (with a journal, see journal.h): a record superseded while its slab is still
//    an open memory slab is voided in the buffer (it never reaches the device); one superseded
//    while its slab is being written or on the device gets a journal entry. If the entry is not
//    committed at once (device mode; process mode with a full ring) the request that superseded
//    it hands out a ticket (StoreOutcome, EraseOutcome) whose reply must wait for the commit. A key
//    whose entry is not yet committed journals every new version too. Several journal blocks may be
//    in flight; each ticket completes when its own block does, in any order (a later version's
//    entry covers every older record of its key, so it needs no earlier block). Journal slots are
//    reused only after a checkpoint: every memory slab holding records older than it was written.
//    A slab write that fails re-journals, with a tombstone, each current item and tombstone it
//    lost (a checkpoint counts the failed write as done, and might free their entries).
//  - The superblock on the device says whether the run that wrote it is still running or crashed
//    (clean 0) and on which boot: a process-mode journal of a run that crashed on another boot
//    (its page cache lost) is never trusted, the device starts empty instead.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/access_table.h"
#include "storage/admission.h"
#include "storage/device.h"
#include "storage/durability.h"
#include "storage/engine_options.h"
#include "storage/engine_types.h"
#include "storage/eviction_policy.h"
#include "storage/index.h"
#include "storage/io_backend.h"
#include "storage/item.h"
#include "storage/journal.h"
#include "storage/key_scan.h"
#include "storage/memory_buffers.h"
#include "storage/read_path.h"
#include "storage/recovery.h"
#include "storage/reinsertion.h"
#include "storage/slab_class.h"
#include "storage/slab_table.h"
#include "storage/small_tier.h"
#include "util/aligned_buffer.h"
#include "util/histogram.h"

namespace ssdcache::storage {

class Engine final : public SlabLiveness,
                     public IoHandler,
                     public JournalListener,
                     private SmallTierWaiter {
 public:
  // Validates the geometry (classes, slab counts) against the device and allocates the memory
  // slabs and the index. On failure returns nullptr and a one-line `error` naming the flag.
  static std::unique_ptr<Engine> Create(const EngineOptions& options, Device& device,
                                        IoBackend& aio, std::string& error);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // The cached clock (unix seconds) used for expiry; the server sets it once per loop turn.
  void set_now(uint32_t now) {
    now_ = now;
    if (small_ != nullptr) small_->set_now(now);
  }
  uint32_t now() const { return now_; }

  // Largest item (header + key + value) a slab can hold.
  uint32_t max_item_size() const { return classes_.max_item(); }

  // Looks up `key`. kHit: `out` views DRAM, valid until the next call into the engine. A hit also
  // records the access and sets the entry's fetched bit (out.last_access is the access before it),
  // unless `bump` is false (memcached's DONT_UPDATE: mg u, me, the read of a read-modify-write
  // command): both are left as they were.
  // kPending: a device read of `read_bytes` started; waiter->OnLookupDone(token, ...) runs exactly
  // once later. `where` (optional) receives the index location found.
  LookupOutcome Lookup(std::string_view key, uint64_t hash, ItemView& out, LookupWaiter* waiter,
                       uint64_t token, IndexEntry* where = nullptr, bool bump = true);

  // The key's current index location, with no IO (nullopt: no live entry).
  std::optional<IndexEntry> Locate(uint64_t hash) const;

  // Writes a new version of `req.key` into a memory slab and points the index at it. kNoMemory:
  // every memory slab is busy; retry after the memory listener fires. kConflict: the key moved
  // from `req.expected` (see StoreRequest).
  StoreOutcome Store(const StoreRequest& req);

  // Records that a win token (meta W) is handed out for the version at `where`, `item` as the
  // lookup answered it. A test-and-set: false when the bit was set already (another reader won
  // since this one's lookup answered) or, for a small-object tier version, when its record could
  // not take it (log full) or the key is no longer at that version: the caller then hands out no
  // W. A slab entry that changed meanwhile is left alone and the win stands (true). A tier version
  // keeps the bit in its record (engine_small.cc); `where` then becomes the version after it.
  [[nodiscard]] bool MarkTokenSent(uint64_t hash, IndexEntry& where, const ItemView& item);

  // Drops the key's entry if it still points at `where` (or unconditionally when where is null),
  // and writes a tombstone so that the delete survives a restart.
  // `erased` false: no entry (or not at `where`), nothing was done. With the small-object tier
  // and no `where`, true also when the tier may have held the key (only a set read would tell).
  EraseOutcome Erase(std::string_view key, uint64_t hash, const IndexEntry* where = nullptr);

  // Invalidates every item (flush_all); persisted in the superblock.
  void FlushAll();

  // Calls waiter->OnCommitDone(token, ticket, ok) once the ticket's journal block completed (a
  // Store's or Erase's non-zero ticket; at once if the ticket completed already).
  void AwaitCommit(uint64_t ticket, CommitWaiter* waiter, uint64_t token);
  // Once per loop turn, before the aio submit: writes the turn's journal entries as one block
  // (even while earlier turns' blocks are still being written) and starts a checkpoint when the
  // ring is half used.
  void CommitJournal();
  const Journal* journal() const { return journal_.get(); }
  // Once per loop turn, while no caller holds a view into a memory slab (Lookup's `out` lives
  // until the next call into the engine; this moves records): reclaims the chunks of records
  // voided in open memory slabs (--compact, engine_compact.cc), so they cost no device write.
  void CompactOpenSlabs();
  // For the simulator: "" when every decodable, unexpired record in an open memory slab is the
  // one the index points at or has no entry; else what is not (a stale copy would reach the
  // device and outlive an overwrite that voided only the copy the index points at).
  std::string AuditOpenSlabs() const;

  // The IO seam, driven by the event loop (the server never sees the backend): PollIo() after a
  // connection's batch (submits early while the device is short of work, runs what completed),
  // SubmitIo() before the loop sleeps (everything queued goes out), ReapIo() when io_event_fd()
  // is readable, DrainIo() at shutdown. Completions run the handlers from inside these calls.
  int io_event_fd() const { return aio_.event_fd(); }
  void PollIo() {
    aio_.Poll();
    AfterSmallIo();
  }
  void SubmitIo() { aio_.Submit(); }
  void ReapIo() {
    aio_.Reap();
    AfterSmallIo();
  }
  void DrainIo() {
    aio_.Drain();
    AfterSmallIo();
  }
  size_t io_in_flight() const { return aio_.in_flight(); }
  size_t io_queued() const { return aio_.queued(); }
  IoStats io_stats() const { return aio_.stats(); }

  // Key listings (lru_crawler metadump, stats cachedump): a scan of the slabs (key_scan.h) of the
  // listed classes (0-based; empty: all), which tells `listener` when its reads complete. nullptr
  // when kMaxScans are open. CloseScan() may come with reads in flight: the scan is freed when
  // the last one completes, and calls nobody meanwhile.
  static constexpr size_t kMaxScans = 8;
  KeyScan* OpenScan(std::vector<bool> classes, ScanListener* listener);
  void CloseScan(KeyScan* scan);
  size_t scans_open() const;

  // Reads the superblock and rebuilds the index from the slabs on the device (warm restart), or
  // formats a blank device (or any device when `format`, or one whose process-mode journal may
  // have been lost: an unclean shutdown on another boot). Then records this run (boot id, journal
  // mode, not clean) in the superblock, synchronously. Call once, before serving. Fails with
  // a one-line `error` when the device holds another format or geometry.
  bool Recover(bool format, std::string& error);
  using RecoveryStats = storage::RecoveryStats;
  const RecoveryStats& recovery() const { return recovery_; }

  // Periodic work: retries a failed superblock write, writes the tombstones failed writes gave
  // back, and sweeps part of the index for entries of dead slabs.
  void Housekeeping();

  // Shutdown (SIGTERM): writes pending tombstones, seals every memory slab holding records and
  // submits the writes. Returns true while work remains: drain the IO and call again.
  bool ShutdownFlush();
  // Whether the stop has nothing left to write, after the IO drained: a slab write that failed
  // during the drain puts its tombstones back, and another ShutdownFlush() round must run.
  // Starts nothing (unlike ShutdownFlush(), which may submit writes).
  bool ShutdownWritten() const;
  // After ShutdownFlush() is done and the IO drained: writes the journal mapping back (process
  // mode) and marks the superblock clean, synchronously. Nothing may be stored afterwards.
  bool FinishShutdown(std::string& error);

  // Called whenever a memory slab becomes free (stores that got kNoMemory may retry).
  void set_memory_listener(std::function<void()> fn) { memory_listener_ = std::move(fn); }

  bool IsSlabLive(uint32_t slab) const override;
  void OnIoComplete(IoOp& op, int64_t result) override;
  void OnJournalCommitted(uint64_t first_ticket, uint64_t last_ticket, bool ok) override;

  const EngineStats& stats() const { return stats_; }
  const EngineGauges& gauges() const { return gauges_; }
  // Device reads that failed (IO error or short) in both tiers, since the start or the last
  // ResetStats: stats().read_errors plus the small-object tier's (its set reads, a lookup's or a
  // move's). (engine_small_stats.cc)
  uint64_t read_errors() const;
  // Live items evicted in both tiers, since the start or the last ResetStats: stats().evictions
  // plus the small-object tier's (records evicted from a full set, threshold admission drops).
  uint64_t evictions() const;
  // Items in both tiers: the slab tier's live ones and the small-object tier's, in its sets and
  // its log (tombstones aside; where that count is not exact: SmallTier::set_items_by_size).
  uint64_t curr_items() const;
  // The small-object tier's items per slab class, in the class their size would take
  // (ClassFor(ItemSize(key, value))): those in its sets and those in its log, as curr_items()
  // counts them. Both are all zeros without a tier. (engine_small_stats.cc)
  void SmallClassItems(std::vector<uint64_t>& in_sets, std::vector<uint64_t>& in_log) const;
  // Device latency: lookups' reads, queued to submitted and submitted to reaped, and slab writes.
  const util::Histogram& read_queue_latency() const { return reads_.queue_latency(); }
  const util::Histogram& read_latency() const { return reads_.latency(); }
  const util::Histogram& write_latency() const { return write_latency_; }
  // `stats reset`: zeroes the counters (EngineStats, per class, the journal's) and the latency
  // histograms; the gauges stay.
  void ResetStats();
  std::vector<ClassStats> class_stats() const;
  const SlabClasses& classes() const { return classes_; }
  const Index& index() const { return *index_; }
  uint32_t disk_slabs_total() const { return static_cast<uint32_t>(table_.disk_count()); }
  // Disk slabs holding no live slab (some wait for the eviction frontier to be durable).
  uint32_t disk_slabs_free() const { return static_cast<uint32_t>(table_.disks_free()); }
  uint32_t disk_slabs_used() const;
  uint32_t memory_slabs_total() const { return static_cast<uint32_t>(buffers_.count()); }
  // Buffers a new slab can take: unused ones and those caching a slab already on the device.
  uint32_t memory_slabs_free() const { return static_cast<uint32_t>(buffers_.available()); }
  uint32_t memory_slabs_cached() const { return static_cast<uint32_t>(cached_); }
  uint32_t memory_slabs_flushing() const { return flushing_; }
  // Probation slabs (open and full; admission.h), and the ghost's DRAM (out of -m).
  uint32_t probation_slabs() const { return static_cast<uint32_t>(admit_.slabs()); }
  size_t ghost_bytes() const { return admit_.ghost_bytes(); }
  size_t reads_in_flight() const { return reads_in_flight_; }
  // The logical slab whose reinsertion read is in flight (nullopt: none), and the key hash of the
  // last item copied forward (0: none yet): what a simulator needs to aim at a reinsertion.
  std::optional<uint32_t> reinsert_victim() const;
  uint64_t last_reinserted_hash() const { return last_reinserted_hash_; }
  uint64_t next_cas() const { return durable_.next_wseq(); }
  // The small-object tier (--small-max; engine_small.cc), null when the device has none.
  const SmallTier* small_tier() const { return small_.get(); }
  // -C: every item's cas unique is 0.
  bool cas_enabled() const { return !options_.disable_cas; }
  uint32_t slab_size() const { return slab_size_; }

 private:
  Engine(const EngineOptions& options, Device& device, IoBackend& aio, SlabClasses classes);

  char* MemSlab(uint32_t mem) { return buffers_.data(mem); }
  char* ChunkInMemory(const SlabInfo& s, uint32_t chunk);
  uint64_t DiskOffset(uint32_t disk) const { return placement_.Offset(disk); }
  // Frees the closed scans whose reads all completed.
  void ReapScans();

  // Returns the logical id of an open memory slab of class `cls` with a free chunk, or -1 when no
  // memory buffer is free (a flush was started where possible).
  int64_t OpenSlabFor(uint8_t cls);
  bool AllocateSlabId(uint32_t& id);
  // Logical slab `id` becomes an empty memory slab of class `cls` in a buffer (HasBuffer()).
  void StartSlab(uint32_t id, uint8_t cls, bool probation);
  // The superblock's fixed fields.
  static Superblock Geometry(const EngineOptions& options, const Device& device,
                             const SlabClasses& classes);
  // Slab-sized regions before disk slab 0: the superblock, the journal and the snapshot.
  static uint32_t ReservedSlabs(const EngineOptions& options, const Device& device);
  // The snapshot region's size (snapshot.h) for `options` (auto: what the device records, else
  // Snapshot::AutoBytes), and where it starts (behind the journal). options_ holds the size.
  static uint64_t SnapshotBytes(const EngineOptions& options, const Device& device,
                                const SlabClasses& classes, uint64_t mem_slabs);
  uint64_t SnapshotOffset() const {
    return device_.offset() + device_.block_size() + options_.journal_size;
  }
  bool HasBuffer() const { return buffers_.Available(); }
  // A buffer for a new slab; the slab whose copy it held (if still alive) is read from the
  // device from now on.
  uint32_t TakeBuffer();
  void Seal(uint32_t id);
  // Places the sealed slab on a disk slab and queues its write; false while no disk slab can be
  // had yet (one is waiting for the eviction frontier to be durable, or the oldest slab is still
  // being written): the slab then waits in awaiting_disk_.
  bool StartWrite(uint32_t id);
  void PlaceAwaiting();
  bool TakeDiskSlab(uint32_t& disk);
  // Evicts in seal order until a disk slab is free or waiting for the frontier (or nothing can be
  // evicted now).
  void EvictUntilADiskSlabFrees();
  // Evicts the oldest sealed slab; false when there is none, or it is still being written.
  bool EvictOldest();
  // Raises the eviction frontier (never lowers it) and writes it to the superblock.
  void AdvanceFrontier(uint64_t frontier);
  // -M: whether opening another memory slab could make an eviction of live items necessary. Every
  // open or sealed-but-unplaced memory slab will need a disk slab; they must not outnumber the free
  // ones (evicting slabs without live items is allowed, and done first).
  bool WouldNeedEviction();
  bool PlaceOnDisk(uint32_t id, uint32_t len, uint32_t& disk, uint32_t& off);
  void CloseDiskSlab(uint32_t disk);
  // A closed disk slab with no write in flight: freed once every slab in it was evicted or died.
  void FinishDiskSlab(uint32_t disk);
  void ReleaseDisks();
  void KillSlab(SlabInfo& s, bool evicted);
  void DropEntry(const IndexEntry& e);
  void SweepSome(size_t buckets);
  uint64_t SweepPasses() const { return swept_buckets_ / index_->num_buckets(); }

  bool TryWriteTombstone(std::string_view key, uint64_t wseq = 0);
  // The key's record at `old` is being superseded by the record with `wseq` (new location
  // `now_at`, or none for a delete): voids it in DRAM or journals the change.
  // `old` may be null: no previous record in the index, only an uncommitted journal entry or
  // (`force`) an older record the index may have dropped.
  // Returns the journal ticket the request must wait for (0: none).
  uint64_t Supersede(uint64_t hash, const IndexEntry* old, uint64_t wseq,
                     const std::optional<IndexEntry>& now_at, bool force = false);
  // An entry the index dropped for lack of room: its record must not come back after a crash
  // over a newer, DRAM-only version of its key.
  void MarkUnindexed(const IndexEntry& dropped);
  // Whether `hash` may have an older record on the device that neither an index entry nor a
  // committed journal entry keeps superseded: a new version must then be journaled (Store), and
  // may not wait in probation, whose drops leave no trace.
  bool OlderRecordMayLinger(uint64_t hash) const;
  void VoidRecord(SlabInfo& s, uint32_t chunk);
  // The index dropped the entry of the record at `chunk` of `s` (written or being written): if
  // its change may still be undone (journal commit pending), writes and journals a tombstone.
  void TombstoneIfUndoable(const SlabInfo& s, uint32_t chunk);
  // A hit of `hash` at `at`, wherever it was read: reports the key's previous access into `v`
  // when the access table still holds it and, if `bump`, records this one and sets the entry's
  // fetched bit.
  void NoteHit(uint64_t hash, const IndexEntry& at, ItemView& v, bool bump);
  // Journals (hash, wseq) for records lost with a failed slab write (no reply waits for it).
  void JournalLost(uint64_t hash, uint64_t wseq);
  void StartCheckpoint();
  void CheckpointWriteDone(uint64_t slab_seq);
  void DrainTombstones();
  // The next write sequence number (also the cas of a new version), below the durable ceiling.
  uint64_t TakeWseq() { return durable_.TakeWseq(); }
  // The journal block holding the change to `hash` now at `where` failed: undoes it.
  void UndoChange(uint64_t hash, const IndexEntry& where);
  // Reads the undone record at `at` for its key, whose tombstone gets `wseq`.
  void StartUndoRead(const IndexEntry& at, uint64_t hash, uint64_t wseq, uint8_t attempts);
  void FinishUndoRead(ReadOp* r, int64_t result);
  static constexpr uint8_t kUndoReadAttempts = 8;
  // After Recovery rebuilt the parts: the item counts and unindexed slabs from the slab table,
  // the orphans' tombstones, and the first checkpoint.
  void AdoptRecovered(RecoveryResult& result);

  // Starts the device read of the record at `e` (of a slab on the device); null when no buffer.
  ReadOp* StartRead(const IndexEntry& e, std::string_view key, uint64_t hash);
  // Whether the record at `e` is in DRAM and belongs to another key than `key`.
  bool HoldsOtherKey(const IndexEntry& e, std::string_view key);
  // `key` took the index entry `old` of a record on the device without knowing whose it was:
  // reads it, and if it was another key's (a tag collision) counts the loss and marks its slab
  // unindexed. Until then new versions of keys of that tag are journaled (Suspect).
  void CheckReplaced(const IndexEntry& old, std::string_view key, uint64_t hash);
  void FinishCheck(ReadOp* r, int64_t result);
  static size_t SuspectSlot(uint64_t hash) { return (hash >> 48) & (kSuspectSlots - 1); }
  bool Suspect(uint64_t hash) const { return suspects_[SuspectSlot(hash)] != 0; }
  void CompleteRead(ReadOp* r, int64_t result);

  // Reinsertion (engine_reinsert.cc): starts the read of the next slab to be evicted when it is on
  // the device and not read yet; copies what it holds forward when it lands.
  void PumpReinsertion();
  void FinishReinsertRead(ReadOp* r, int64_t result);
  void CopyForward(uint32_t id, const ReadOp& r);
  // Whether the record at `chunk` of a memory slab is a reinserted copy (kMarkReinserted).
  bool IsReinsertedCopy(const SlabInfo& s, uint32_t chunk);
  // Copies the record `v` the index entry `at` of `hash` points at into an ordinary memory slab
  // (with `marks` added) and points the entry there; false when no memory slab can take it
  // without a wait, or the slab of `at` died meanwhile.
  bool CopyRecord(uint64_t hash, const IndexEntry& at, const ItemView& v, uint8_t marks);

  // Admission (engine_admit.cc, admission.h). The memory buffers and the ghost's bytes: -m less
  // the ghost's share when admission is on.
  static size_t GhostBudget(const EngineOptions& options);
  static uint64_t BufferCount(const EngineOptions& options);
  // Probation's share of the buffers (0: admission off).
  static size_t ProbationSlabs(const EngineOptions& options);
  // Whether this store of `hash` (a key with no index entry) is a first write for probation:
  // the ghost does not remember it, and no older record of it could outlive a drop (nothing a
  // store would journal: see Store).
  bool ForProbation(uint64_t hash);
  // An open probation slab of class `cls` with a free chunk (screening the oldest full one when
  // probation is at its share), or -1: the store goes to an ordinary slab.
  int64_t OpenProbationFor(uint8_t cls);
  // A slab just got its last chunk: an ordinary one is sealed (or left for CompactOpenSlabs when
  // that would reclaim room), a probation one queued.
  void SlabFilled(uint32_t id);
  // Compaction (engine_compact.cc): whether open slab `s` has dead room enough for a pass, and
  // the pass (true when it left the slab empty and freed its buffer).
  bool WorthCompacting(const SlabInfo& s) const;
  bool CompactSlab(uint32_t id);
  // Copies the records of probation slab `id` read since stored into ordinary slabs, drops the
  // others (evictions, remembered by the ghost) and frees the slab.
  void Screen(uint32_t id);
  // Stop: seals every probation slab holding records (written as ordinary slabs from now on).
  void SealProbation();
  // flush_all: recycles every probation slab unwritten.
  void DiscardProbation();

  // The small-object tier's glue (engine_small.cc): its sets' count for a device, whether an
  // item goes there, the store, lookup and delete paths of its items, and the work after its
  // IO completed (parked deletes, the memory listener, a checkpoint waiting for it).
  static uint64_t SmallSets(const EngineOptions& options, const Device& device);
  static SmallTierOptions SmallOptions(const EngineOptions& options, uint64_t base, uint64_t epoch);
  // The tier's image region (engine_small_image.cc): its bytes, where it starts, its write at a
  // clean stop and its load at a clean start (false and `why` when the sets must be read).
  static uint64_t SmallImageBytes(const EngineOptions& options);
  uint64_t SmallImageOffset() const {
    return SnapshotOffset() + options_.snapshot_size + options_.small_sets * kSetBytes;
  }
  void SaveSmallImage();
  bool LoadSmallImage(SmallTierRebuild& out, std::string& why);
  void MakeSmallTier();
  // Warm restart: makes the tier and rebuilds it from its sets (Recovery, after the journal).
  bool RebuildSmall(const SupersedeTest& superseded, std::string& error);
  std::function<bool(const SupersedeTest&, std::string&)> RebuildSmallHook();
  bool ForSmallTier(size_t nkey, size_t nvalue) const;
  // kNoMemory with `room` false: the tier's log is full, store in a slab instead.
  StoreOutcome StoreSmall(const StoreRequest& req, bool& room);
  // Hides the key's version in the tier behind `wseq` (a newer one in a slab, or a delete); the
  // journal ticket to wait for. With `seen`, only if the key did not change since that version:
  // kSmallConflict when it may have (nothing changed).
  static constexpr uint64_t kSmallConflict = UINT64_MAX;
  uint64_t HideSmall(std::string_view key, uint64_t hash, uint64_t wseq,
                     const SmallTierVersion* seen = nullptr);
  // `other`: the index entry of another key sharing the tag that the lookup met first.
  LookupOutcome LookupSmall(std::string_view key, uint64_t hash, ItemView& out,
                            LookupWaiter* waiter, uint64_t token, IndexEntry* where, bool bump,
                            const IndexEntry* other = nullptr);
  // The location of a tier version (IndexEntry::small) with what the index held for its hash.
  static IndexEntry SmallWhere(const IndexEntry* other);
  void OnSmallLookupDone(uint64_t token, const SetRecord* item) override;
  // A lookup's device read found another key (a tag collision): asks the tier instead; false on
  // a miss there (the read's waiter is then answered as before).
  bool FallThroughToSmall(ReadOp* r);
  static ItemView ViewOf(const SetRecord& r);
  uint64_t JournalSmall(uint64_t hash, uint64_t wseq);
  // The key's newest version goes to the tier, or is deleted there: its slab version, or a record
  // of it the index dropped that may linger on the device, is retired with a tombstone at `wseq`
  // (below the tier version's). `known_other`: the index entry of its hash is another key's.
  EraseOutcome RetireSlab(std::string_view key, uint64_t hash, uint64_t wseq, bool known_other);
  void AfterSmallIo();
  // Whether a delete of `key` waits in small_erases_; whether the tier (with those waiting
  // deletes) settled everything below `wseq`: until then journal entries at or above its
  // smallest unsettled wseq must stay.
  bool SmallErasePending(std::string_view key) const;
  bool SmallSettledBelow(uint64_t wseq) const;
  // flush_all in the tier.
  void FlushSmall();
  // Shutdown: moves everything the tier's log holds to its sets (one forced flush); true once
  // nothing is left to write there.
  bool StopSmall();
  EraseOutcome EraseSlab(std::string_view key, uint64_t hash, const IndexEntry* where,
                         uint64_t wseq);

  EngineOptions options_;  // as given, but snapshot_size is the region's bytes (never auto)
  Device& device_;
  IoBackend& aio_;
  SlabClasses classes_;
  uint32_t slab_size_;
  std::vector<ChunkLayout> layouts_;  // per class: where its chunks lie in a slab
  std::unique_ptr<Index> index_;
  AccessTable access_;  // recent accesses, for meta l / me la

  MemoryBuffers buffers_;  // the memory slabs (-m): write buffers, then read caches
  // Slabs on the device whose copy a clean buffer still holds (SlabInfo::cached).
  size_t cached_ = 0;
  uint32_t unindexed_slabs_ = 0;  // live slabs with unindexed = true
  // Replace checks in flight by tag (folded): a key of such a tag may have lost its entry.
  static constexpr size_t kSuspectSlots = 4096;
  std::array<uint32_t, kSuspectSlots> suspects_{};
  std::vector<IoOp> write_ops_;           // one per memory buffer
  std::vector<uint64_t> write_start_ns_;  // when each buffer's write was queued
  util::Histogram write_latency_;
  std::vector<int64_t> open_;  // per class: logical id of the open memory slab, or -1
  uint32_t flushing_ = 0;

  // Sealed slabs in the order they are evicted (seal order), and the frontier that order implies.
  std::unique_ptr<EvictionPolicy> policy_;
  SlabTable table_;  // logical slabs and disk slabs (tells policy_ of closed disk slabs)
  std::deque<uint32_t> awaiting_disk_;  // sealed slabs waiting for a disk slab, in seal order
  uint64_t next_seal_ = 1;
  uint64_t swept_buckets_ = 0;
  size_t sweep_per_alloc_ = 1;

  ReadPath reads_;        // lookups' and replace checks' device reads, and their buffers
  Reinsertion reinsert_;  // what to copy forward at eviction, within its budget
  Admission admit_;       // the probation queue and the ghost
  std::vector<int64_t> open_probation_;  // per class: logical id of the open probation slab, or -1
  uint64_t last_reinserted_hash_ = 0;
  size_t reads_in_flight_ = 0;
  size_t undo_reads_ = 0;  // reads for the key of an undone change (block checkpoints)
  std::vector<std::unique_ptr<KeyScan>> scans_;  // key listings, open or closed with reads

  // The superblock, the write sequence, journal tickets and checkpoints.
  Durability durable_;
  // Tombstones waiting for a free memory slab, with the wseq reserved for them when the key was
  // deleted (0: take one when written), so that a version stored meanwhile stays the newer one.
  struct PendingTombstone {
    std::string key;
    uint64_t wseq;
  };
  std::vector<PendingTombstone> pending_tombstones_;
  RecoveryStats recovery_;

  // The crash journal (null without one); durable_ holds the requests waiting on it.
  std::unique_ptr<Journal> journal_;
  uint32_t reserved_slabs_ = 1;  // slab-sized regions before disk slab 0: superblock, journal
  DiskPlacement placement_;      // where disk slab 0 starts, behind the reserved slabs
  uint32_t now_ = 0;
  EngineStats stats_;
  EngineGauges gauges_;
  std::vector<ClassCounters> class_counters_;  // per class
  std::function<void()> memory_listener_;

  std::unique_ptr<SmallTier> small_;
  // Lookups reading a set: the waiter and token a tier token stands for (a free list of slots).
  struct SmallWait {
    LookupWaiter* waiter = nullptr;
    uint64_t token = 0;
    bool bump = false;
    IndexEntry where;
  };
  std::vector<SmallWait> small_waits_;
  std::vector<uint32_t> small_free_waits_;
  // Deletes the tier refused for room (its log full of records being moved): retried after its
  // IO; meanwhile a lookup of the key misses there.
  std::vector<PendingTombstone> small_erases_;
  std::string small_value_;         // an append's or prepend's two parts, joined for the tier
  bool small_room_wanted_ = false;  // a store fell back for room: tell the memory listener
  bool small_stopping_ = false;     // StopSmall() started the tier's forced flush
  // A checkpoint counts one write more while the tier holds unsettled records below this wseq.
  uint64_t small_checkpoint_wseq_ = 0;
  SmallTierStats small_at_reset_;  // the tier's counters at the last ResetStats
};

}  // namespace ssdcache::storage
