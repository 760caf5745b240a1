// Recovery: the warm restart. Rebuilds an engine's slab table, disk slabs, eviction order and
// index from the device at start (or loads them from the snapshot a clean stop wrote, when it
// matches the superblock: snapshot.h), or formats the device when it is blank, when asked to,
// or when its process-mode journal may have been lost. Runs once, synchronously, before serving.
//
//   superblock --check--> journal --load, reject, dedup--> slab headers (pass 1, across the gap
//   a failed write left) --seal order-->
//   records (pass 2: index by wseq) --> dead entries, orphans --> free disk slabs, sequences
//
// Both passes read through a ScanReader (scan_reader.h): several large reads in flight on the
// backend's asynchronous path while the last one is parsed. Pass 1 reads the first header block of
// every disk slab in disk order, and the rest of a disk slab in one read when its chain goes on
// or breaks; pass 2 reads the pieces in seal order, adjacent ones coalesced into reads of up to
// kScanReadBytes. A range the reader failed to read is read synchronously (ReadSync), as the scan
// always did, so the result (index, stats, order of decisions) is that of a synchronous scan.
//
// Invariants it restores (see docs/design.md "Warm restart"):
//  - Nothing sealed below the durable eviction frontier, or written before the last flush_all,
//    is indexed: its slab may hold an older record whose newer record was evicted.
//  - Of the records of one key, only the one with the largest wseq is indexed, and none whose
//    wseq a journal entry supersedes; a key left with only superseded records gets a tombstone.
//  - Nothing is evicted while rebuilding: a record that finds no index room stays unindexed and
//    its slab is marked so (a new version of its key is journaled).
//  - Write sequences start at the superblock's ceiling (or above every record's), never below.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/access_table.h"
#include "storage/device.h"
#include "storage/durability.h"
#include "storage/engine_options.h"
#include "storage/eviction_policy.h"
#include "storage/index.h"
#include "storage/io_backend.h"
#include "storage/item.h"
#include "storage/journal.h"
#include "storage/scan_reader.h"
#include "storage/slab_class.h"
#include "storage/slab_table.h"
#include "storage/small_tier.h"
#include "util/aligned_buffer.h"
#include "util/huge_buffer.h"

namespace ssdcache::storage {

// The engine's parts recovery rebuilds (index, slab table, eviction order, durability state) and
// what it reads them with, lent for the call by Engine::Recover. Recovery sees nothing else of
// the engine: the item counts, the orphans' tombstones and the first checkpoint are the
// engine's, from the RecoveryResult.
struct RecoveryParts {
  const EngineOptions& options;
  Device& device;
  IoBackend& io;  // the scan's reads only: nothing else is running yet
  const SlabClasses& classes;
  const std::vector<ChunkLayout>& layouts;  // per class
  uint32_t slab_size;
  uint64_t disk_base;  // device offset of disk slab 0 (after the superblock and the journal)
  uint32_t now;        // for expiry
  Index& index;
  SlabTable& table;
  EvictionPolicy& policy;
  Durability& durable;
  Journal* journal;  // null without one
  AccessTable& access;
  uint64_t snapshot_offset;  // the snapshot region (snapshot.h); 0 bytes: none
  uint64_t snapshot_bytes;
  // Rebuilds the small-object tier (empty: none) once the journal is loaded, with the journal's
  // test of which of its records newer versions superseded; false and `error` to fail the start.
  std::function<bool(const SupersedeTest&, std::string& error)> rebuild_small;
};

struct RecoveryStats {
  uint64_t slabs = 0;  // slab pieces found valid
  uint64_t items = 0;  // items indexed
  uint64_t tombstones = 0;
  uint64_t skipped = 0;  // records that failed verification (torn writes) or expired
  uint64_t bytes_scanned = 0;
  uint64_t journal_entries = 0;     // valid entries read from the journal
  uint64_t superseded = 0;          // records dropped because a journal entry superseded them
  uint64_t journal_tombstones = 0;  // tombstones written for keys left without a newer record
  uint64_t journal_rejected = 0;    // entries at or above the wseq ceiling: corrupt, ignored
  uint64_t pieces_past_gap = 0;     // slab pieces found behind one whose write had failed
  uint64_t tag_collisions = 0;      // records left unindexed: another key held their tag
  uint64_t index_full = 0;          // records left unindexed: no room in their buckets
  bool snapshot = false;            // loaded from the snapshot a clean stop wrote (no scan)
  double seconds = 0;
  double cpu_seconds = 0;   // the thread's CPU time (user + system) in the whole restart
  double wait_seconds = 0;  // the scan's time waiting for the device (all else is CPU)
  double idle_seconds = 0;  // CPU time spent backing the index with pages while reads were out
};

struct RecoveryResult {
  RecoveryStats stats;
  bool formatted = false;  // the device was formatted: nothing was rebuilt
  uint64_t next_seal = 1;  // above every slab found
  // Keys all of whose records a journal entry superseded, with no newer record on the device:
  // each needs a tombstone before the journal slot may be reused (then a checkpoint).
  std::vector<std::string> orphans;
};

class Recovery final : private SupersedeTest {
 public:
  // The scan's reads: how many are in flight at once, and how large pass 2's may grow when
  // pieces are adjacent on the device (at least one slab). Measured in docs/benchmarks.md
  // ("Crash restarts", and the s6 run of 2026-12-03 13:48 in analysis.md): at 8 the scan
  // rarely waits for the device, at 16 its waits are steadier (0.01-0.09 s per 4 GiB against
  // 0.02-0.12 s); larger reads only cost buffer memory (depth + 1 of them: 17 MiB).
  static constexpr size_t kScanDepth = 16;
  static constexpr uint32_t kScanReadBytes = 1 << 20;

  // Reads the superblock and rebuilds `parts` from the device (or formats it, see Engine::
  // Recover). The slab table's live counts and unindexed marks are exact afterwards. nullopt
  // with a one-line `error` when the device holds another format or geometry or cannot be read.
  static std::optional<RecoveryResult> Run(const RecoveryParts& parts, bool format,
                                           std::string& error);

 private:
  // A slab written into a disk slab, as its header says.
  struct Piece {
    uint64_t seq, seal;
    uint32_t disk, off, len, used;
    uint8_t cls;
  };
  // Per indexed record: its wseq and key hash (the index keeps only a tag of the hash).
  struct Seen {
    uint64_t wseq, hash;
  };
  // A record of the batch RebuildPiece verified and hashed, its index buckets and journal entries
  // prefetched, before IndexRecord takes them in chunk order.
  struct Verified {
    uint32_t chunk;
    uint64_t hash;
    ItemView view;
  };
  // Records verified ahead of indexing them: far enough for the prefetches to land, close enough
  // to stay in the cache.
  static constexpr uint32_t kBatch = 32;
  // Indexed tombstones and expired records, dropped once every record was seen.
  struct Dead {
    uint64_t hash;
    uint32_t slab, chunk;
  };
  enum class Start : uint8_t { kWarm, kFormatted, kFailed };

  explicit Recovery(const RecoveryParts& parts);

  bool ReadBlock(uint64_t offset, char* buf, size_t len, std::string& error);
  // The device's bytes at [offset, offset + len): in view_ when the scan reader read them, else
  // read synchronously into buf_ (nullptr and `error` when that fails).
  const char* Fetch(uint64_t offset, uint32_t len, std::string& error);
  // Pass 1: reads the rest of `disk` from `off` in one read into buf_, as view_.
  void ReadRest(ScanReader& reader, uint32_t disk, uint32_t off);
  uint64_t DiskOffset(uint32_t disk) const { return p_.disk_base + uint64_t{disk} * p_.slab_size; }
  // Drops the index's count of the record at `e` (its entry goes or is replaced).
  void DropEntry(const IndexEntry& e);
  // Marks the slab of a record left without an index entry (all slabs are on the device here).
  void MarkUnindexed(const IndexEntry& e) { p_.table[e.slab].unindexed = true; }
  std::vector<std::string> TakeOrphans();

  // The snapshot a clean stop wrote, instead of the scan (nullopt: scan, snapshot_why_ says why).
  std::optional<RecoveryResult> LoadSnapshot();
  // Checks the superblock against the options; formats instead when it must.
  Start ReadSuperblock(bool format, std::string& error);
  // The mismatch between the found superblock and this run's geometry ("" when none).
  std::string Mismatch(const Superblock& found) const;
  // Loads the journal: per key hash, the largest wseq of a version that superseded records.
  bool LoadJournal(std::string& error);
  uint64_t SupersededBelow(uint64_t hash) const;
  // The small-object tier's test (rebuild_small): a journal entry names a newer version.
  bool Superseded(uint64_t hash, uint64_t wseq) const override {
    return wseq < SupersededBelow(hash);
  }
  // False when no journal entry has `hash` (journal_filter_); true when one may have.
  bool MayBeJournaled(uint64_t hash) const {
    if (journal_filter_.empty()) return false;
    const uint64_t bit = hash >> (journal_shift_ - kFilterBits);
    return ((journal_filter_[bit >> 6] >> (bit & 63)) & 1) != 0;
  }
  // journal_dir_'s slot of a key hash (its top bits).
  size_t JournalSlot(uint64_t hash) const {
    return journal_shift_ >= 64 ? 0 : hash >> journal_shift_;
  }
  // Pass 1: every valid slab header of every disk slab, in seal order.
  bool ScanHeaders(std::string& error);
  // The chain of pieces of `disk` broke at `off` after `count` pieces of `fill_id` (0: at the
  // first piece): finds the pieces written behind a failed one.
  bool ScanGap(uint32_t disk, uint32_t off, uint64_t fill_id, size_t count, std::string& error);
  // The length of the slab at `off` of `disk` whose header is in buf_ (0: none valid there).
  uint32_t PieceLength(const SlabHeader& h, uint32_t off, uint64_t fill_id) const;
  // Flushed or evicted: pass 2 neither reads nor indexes it.
  bool Void(const Piece& p) const {
    return p.seq < p_.durable.flush_seq() || p.seal < p_.durable.frontier();
  }
  // Pass 2: every piece in seal order, read ahead by a ScanReader.
  bool IndexPieces(std::string& error);
  // Pass 2's reads: the pieces RebuildPiece will read, adjacent ones coalesced; sets extent_of_.
  std::vector<ScanReader::Range> Extents();
  // Pass 2: enters piece `k` into the slab table and indexes its records.
  bool RebuildPiece(size_t k, ScanReader& reader, std::string& error);
  // Verifies the records [from, to) of piece `p` (slab `id`, bytes at `data`) into batch_, and
  // prefetches what IndexRecord will look up for them.
  void VerifyBatch(const Piece& p, uint32_t id, const char* data, uint32_t from, uint32_t to);
  void IndexRecord(uint32_t id, uint32_t chunk, uint64_t hash, const ItemView& v);
  Seen& SeenAt(uint32_t slab, uint32_t chunk) { return seen_[seen_base_[slab] + chunk]; }
  void LogProgress(size_t done);
  // The scan reader's idle work: backs the next part of the index with pages (Index::Populate),
  // so that the inserts take fewer page faults; false once it is all backed.
  bool PopulateIndex();
  // Drops dead entries, keeps the orphans that need a tombstone.
  void DropDead();
  // Free disk slabs, the sequences, the orphans' tombstones.
  bool Finish(std::string& error);

  const RecoveryParts& p_;
  RecoveryStats stats_;
  uint64_t indexed_ = 0;  // index entries made (and not dropped)
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_log_;
  double cpu_start_ = 0;
  util::AlignedBuffer buf_;            // one slab, block aligned
  ScanReader::Chunk view_;             // what the scan reader read last (its buffer, or buf_)
  size_t extents_read_ = 0;            // pass 2: extents the reader returned
  std::vector<uint32_t> extent_of_;    // per piece, its read in Extents() (kNoExtent: not read)
  std::vector<JournalEntry> journal_;  // sorted by hash, one per hash (its largest wseq)
  // journal_dir_[s]: the first entry of journal_ whose JournalSlot is s or more (one slot per
  // entry or so), so that a lookup reads one or two cache lines of journal_, not a binary search's
  // ~18 (a record is looked up whatever its key: most of them miss).
  std::vector<uint32_t> journal_dir_;
  // One bit per 2^kFilterBits of a slot (8-16 bits per entry): set when an entry's hash has that
  // prefix. Small enough to stay in the cache, it answers most lookups (the keys without an
  // entry) with no miss at all.
  static constexpr unsigned kFilterBits = 3;
  std::vector<uint64_t> journal_filter_;
  unsigned journal_shift_ = 64;
  // Keys whose records were all superseded by versions lost with DRAM: they get a tombstone, so
  // the journal entries can be dropped later without those records coming back.
  std::vector<std::pair<uint64_t, std::string>> orphans_;
  std::vector<Piece> pieces_;
  // Per slab id, its records' Seen in seen_buf_ from seen_base_[id] on: one allocation (huge
  // pages) for every record of the scan rather than one per slab, each faulted in 4 KiB pages.
  util::HugeBuffer seen_buf_;
  Seen* seen_ = nullptr;
  std::vector<uint64_t> seen_base_;
  uint64_t seen_used_ = 0;
  std::vector<Verified> batch_;
  size_t populated_ = 0;  // the index's bytes backed by PopulateIndex()
  std::vector<Dead> dead_;
  uint64_t max_seq_ = 0;
  uint64_t max_seal_ = 0;
  uint64_t max_wseq_ = 0;
  std::string snapshot_why_;  // why no snapshot was loaded
};

}  // namespace ssdcache::storage
