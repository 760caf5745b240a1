// The small-object tier (issue 14; Kangaroo's KLog + KSet, CacheLib navy's BigHash): small items
// live in 4 KiB sets on the device, the set picked by the key hash, with no per-item DRAM entry.
// Not used by the engine yet (see docs/design.md "Small-object tier"); driven through the IO
// seam, so tests run it over memory_backend.h.
//
// Owned state: the device byte range [base, base + sets * 4096), and in DRAM the set filters
// (set_filter.h), a hit bit per set slot (RRIP-style second chance), a void bit per set and the
// short list of void sets (each with its journal floor), the log (small_log.h: new versions and
// tombstones waiting for their set's rewrite), up to max_moves set moves in flight (each with a
// read and a write page), the pooled lookup reads, a u16 rewrite generation per 16 sets
// (versions), the flush_all floor, and the sets' item counts by size step (set_page.h
// SizeStep: the per-class item counts).
//
//   device:  | set 0 | set 1 | ... | set n-1 |     set s at base + s * 4096, s = hash % sets
//   move:    log records of set s --> read set s --> merge (newest wseq wins, tombstones and
//            expired records go, evict to fit) --> write set s --> rebuild its filter, release
//            the records from the log
//
// DRAM per item (SmallTier::Dram()): a 100-byte item with a 10-byte key takes 142 bytes in a set,
// 28 per set; per set 160 filter bits + 32 hit bits + 1 void bit + 1 generation bit (16 bits
// per 16 sets) = 194 bits, so 0.87 B per item when full and 0.96 B at 90% full, plus the log's
// share (log_bytes + 4 per 256 bytes of index, over the tier's items: a 4 MiB log in front of
// 16 GiB of sets adds 0.04 B per item).
//
// Invariants (what the engine integration relies on):
//  - A lookup answers the newest version: the log first (no IO), then the set; a set read that
//    completes after a newer version entered the log, or after its set was rewritten, is
//    answered from the log or read again. Full key compared, CRC verified; expired is a miss.
//  - Filters have no false negatives for what the set holds on the device (records below the
//    flush floor aside): a filter is rebuilt only once the set write it describes completed. A void
//    set (its write failed: its content is unknown) has an empty filter and is never read; its next
//    write does not read it either.
//  - No older version comes back while running: a record leaves the log only once its set write
//    completed, or when it is dropped (admission, failed write) and the set cannot hold an older
//    version of it (filter says no) or is void.
//  - Crash safety needs the engine's journal (journal.h): Insert()/Erase() answer `journal` when
//    an older version of the key may be on the device (the filter says maybe, the set is void, or
//    a move of the set in flight carries a version of the key, even one replaced since: its read
//    may have merged it); the engine journals (hash, wseq) before the reply. A crash loses the
//    log; Rebuild() with the journal's supersede test drops every set record a journal entry
//    supersedes and rewrites that set (synchronously) before serving.
//    Journal blocks may be reclaimed once UnsettledFloor() is above the checkpoint's wseq. A void
//    set keeps its own floor (the smallest wseq its failed writes dropped) until a rewrite of it
//    succeeds; void sets are rewritten while running (one per kVoidRetryMoves moves of log
//    records), by Flush(), and again during a forced Flush() when they fail (kForcedWrites).
//  - kNoRoom (the log full of records pinned by moves in flight) changes nothing that could serve
//    an older version: Insert() then also drops the key's log version when no older version can
//    be on the device; Erase() is kNoRoom only when it needs a tombstone.
//  - Erase() of a key the filter rules out (and no write of it in flight) needs no tombstone.
//  - Meta marks (Remark, small_tier_versions.cc) never make a new version: in place in the log,
//    or a copy of the set's version with its wseq, *settled* (kLogSettled: no journal entry, out
//    of UnsettledFloor(), droppable by admission; a crash loses its marks, never the value). Token
//    bits of sets sealed below marks_floor_ (an earlier run) are dropped when read; moves seal at
//    marks_floor_ or above.
//  - Snapshot (small_tier_snapshot.cc): SaveSnapshot() only when settled (idle, the log empty,
//    no void set), when the sets hold everything: the filters and hit bits saved are what a
//    Rebuild() would find (save that it keeps expired records' bits: a false positive at most).
//    LoadSnapshot() verifies the whole image and the geometry before it changes anything.
//  - Key dumps (small_tier_cursor.h): open cursors are registered here (not owned) and told of
//    every completed set write, so that a cursor read a rewrite overtook is done again.
//  - Admission drops (a set rewritten for fewer than admit_threshold records) drop only records of
//    keys the set cannot hold (filter says no): an update of a key the set may hold always forces
//    the rewrite, so a drop never uncovers an older version. Drops are counted as evictions.
//
// Versions (optimistic read-modify-write: cas, incr/decr, append/prepend, touch, meta). A lookup
// answers a SmallTierVersion: the log record's wseq when the log answered, else "in the set (or
// absent)" stamped with the generation of the key's set group (gens_[set % (sets / 16)]) and
// the flush count, as of the answer (a read's, when it completes). InsertIf/EraseIf conflict
// when FlushBelow() ran since; else, when the log holds a version now, unless it is the one
// seen; else when the seen version came from the log (it left: moved, dropped or deleted);
// else when the group's generation moved. Why that suffices: every store or delete of a key
// passes through the log, and the newest version stays there until a move of its set
// completes; it leaves without one only when the set cannot hold the key (admission drops, an
// erase or refused insert that needs no tombstone), so the key is then as absent as before. Only
// the set's content is left, and it changes only when a move's write completes or fails (void) or
// its read loses the set: each bumps the group's generation. A conflict is conservative (a
// rewrite of another set of the group, a version that moved to its set): the caller reads
// again. It cannot livelock on other sets' rewrites: a version is fresh as of its answer, and
// an InsertIf right after it (in the waiter's callback) never conflicts. A generation wraps
// after 65536 rewrites of its 16 sets: far longer than a read-modify-write takes.
//
// flush_all (FlushBelow(w)): records below w are gone for lookups at once, with no IO. The log's
// are killed; the sets' are skipped by lookup reads, dropped by their set's next rewrite and
// left out of the filters by Rebuild(); when w is above every wseq the tier has seen, every
// filter is cleared (no read until a set is rewritten). Void sets' journal floors rise to w.
// The engine keeps w durable and sets it again on a new tier before Rebuild().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/io_backend.h"
#include "storage/set_filter.h"
#include "storage/set_page.h"
#include "storage/small_log.h"
#include "storage/small_version.h"
#include "util/aligned_buffer.h"

namespace ssdcache::storage {

class SmallTierCursor;

struct SmallTierOptions {
  uint64_t base = 0;  // device offset of set 0, 4 KiB aligned
  uint64_t sets = 0;
  uint64_t epoch = 0;          // the device epoch sets are written under (set_page.h)
  uint32_t filter_bits = 160;  // per set: ~5.3 bits per 100-byte item, ~9% false positives
  uint32_t filter_hashes = 3;
  uint32_t hit_bits = 32;       // per set (slots beyond have none); 0: FIFO eviction
  size_t log_bytes = 4u << 20;  // the DRAM log's ring
  // Fewest log records a set is rewritten for (1: admit all). 1 by measurement: with a DRAM log
  // of < 1 record per set, 2 halves set writes but doubles misses; at 3+ per set it changes
  // little (docs/design.md "Small-object tier"). 2 suits a write-limited device.
  uint32_t admit_threshold = 1;
  // Set moves (read + write) in flight at once. 64 by measurement: 1M pipelined 100-byte stores
  // into a 1 GiB tier on a file device saw 627k refused for log room (kNoRoom, to slabs) at 8,
  // 212k at 32, 36-53k at 64 (docs/design.md "Small-object tier"); 8 KiB of DRAM each.
  uint32_t max_moves = 64;
  // The log keeps this share of its ring for tombstones (data appends leave it free).
  uint32_t tomb_reserve_div = 16;

  // False and a one-line `error` naming the field when out of range.
  bool Validate(std::string& error) const;
};

// What a lookup that read the device found. `item` is null on a miss; its views are valid only
// during the call (the engine copies the value out, as from LookupWaiter), and only until the
// waiter calls into the tier. The answer's version is SmallTier::answer_version() (read it before
// calling into the tier; an InsertIf() from here with it is fresh).
class SmallTierWaiter {
 public:
  virtual void OnSmallLookupDone(uint64_t token, const SetRecord* item) = 0;

 protected:
  ~SmallTierWaiter() = default;
};

enum class SmallTierLookup : uint8_t { kHit, kMiss, kReading };
struct SmallTierLookupResult {
  SmallTierLookup kind = SmallTierLookup::kMiss;
  SetRecord item;            // kHit: views into the log, valid until the tier's next Insert/Erase
  SmallTierVersion version;  // kHit and kMiss (kReading: answer_version() in the waiter's call)
};

// kBadKey: the key is empty or longer than 255 bytes; kTooLarge: key + value do not fit a set;
// kConflict: InsertIf()/EraseIf() found that the key may have changed since the version seen.
enum class SmallTierStatus : uint8_t { kOk, kBadKey, kTooLarge, kNoRoom, kConflict };
struct SmallTierWrite {
  SmallTierStatus status = SmallTierStatus::kOk;
  // An older version may be on the device: journal (hash, wseq) before acknowledging.
  bool journal = false;
  // Remark(): every mark asked for was set already in the key's current record (another
  // reader's win token: the test-and-set a token needs).
  bool unchanged = false;
};

// What Rebuild() found.
struct SmallTierRebuild {
  bool ok = true;
  std::string error;
  uint64_t items = 0;       // records the sets hold (expired ones included)
  uint64_t blank = 0;       // sets never written
  uint64_t corrupt = 0;     // sets that failed verification (empty now)
  uint64_t superseded = 0;  // records the supersede test dropped
  uint64_t rewritten = 0;   // sets rewritten without them
  uint64_t expired = 0;     // of them, expired: left out of the filters
  uint64_t flushed = 0;     // of them, below FlushBelow()'s floor: left out of the filters
  uint64_t max_wseq = 0;    // the write sequence must continue above it
};

// The journal's answer at recovery: a record of `hash` at `wseq` was superseded by a newer
// version that may have died with the log.
class SupersedeTest {
 public:
  virtual bool Superseded(uint64_t hash, uint64_t wseq) const = 0;

 protected:
  ~SupersedeTest() = default;
};

struct SmallTierStats {
  // In sets (expired and flushed ones too, until their set's next write): counted at each set
  // write from what its read found.
  uint64_t items = 0;
  uint64_t sets = 0;
  uint64_t filter_bytes = 0;
  uint64_t log_bytes = 0;       // ring bytes in use (live, moving, not yet reclaimed)
  uint64_t log_items = 0;       // live log records (tombstones included)
  uint64_t log_tombstones = 0;  // of them, tombstones
  uint64_t log_hits = 0;
  uint64_t set_hits = 0;
  uint64_t filter_misses = 0;         // lookups answered "miss" by the filter, no IO
  uint64_t set_reads = 0;             // lookup reads of a set
  uint64_t false_positive_reads = 0;  // ... that did not find the key
  uint64_t read_errors = 0;           // set reads (lookup or move) that failed: misses
  uint64_t corrupt_sets = 0;          // set reads that failed verification: empty
  // Sets whose content a move lost: its read failed 3 times, or the set failed verification (its
  // items, estimated from the filter, leave `items`).
  uint64_t set_losses = 0;
  uint64_t set_writes = 0;  // completed set rewrites
  uint64_t set_write_bytes = 0;
  // Key + value bytes of new records written into sets (a marks copy of the set's own version
  // is not one: its rewrite counts in set_writes only).
  uint64_t stored_bytes = 0;
  double write_amplification = 0;  // set_write_bytes / stored_bytes
  uint64_t admission_drops = 0;    // records dropped instead of a rewrite for too few
  uint64_t evictions = 0;          // records evicted from a full set, and admission drops
  uint64_t write_errors = 0;       // set writes that failed (the set is void until rewritten)
  uint64_t write_drops = 0;        // records lost with a failed set write (the log's and the set's)
  uint64_t no_room = 0;            // Insert/Erase refused: the log was full of pinned records
  uint64_t mark_writes = 0;        // Remark() copies appended to the log (rewrites for marks)
  // Records FlushBelow() removed: the log's at the call (tombstones too), a set's at its next
  // write.
  uint64_t flush_drops = 0;
};

// The tier's DRAM, byte by byte.
struct SmallTierDram {
  size_t filters = 0;
  size_t hit_bits = 0;
  size_t void_bits = 0;
  size_t log = 0;
  size_t log_index = 0;
  size_t io = 0;            // move pages and lookup read buffers, with their scratch vectors
  size_t rewrite_gens = 0;  // u16 per 16 sets: the versions' rewrite generations
  size_t size_counts = 0;   // items by size step, the sets' and the log's (kSizeSteps each)
  size_t total() const {
    return filters + hit_bits + void_bits + log + log_index + io + rewrite_gens + size_counts;
  }
};

class SmallTier final : private IoHandler {
 public:
  // `aio` must outlive the tier. Options must Validate(). Destroy the tier only when idle() (or
  // after the backend dropped its ops, a simulated crash): completions call into it.
  SmallTier(IoBackend& aio, const SmallTierOptions& options);
  ~SmallTier();
  SmallTier(const SmallTier&) = delete;
  SmallTier& operator=(const SmallTier&) = delete;

  // The clock expiry is judged by (unix seconds), as Engine::set_now.
  void set_now(uint32_t now) { now_ = now; }
  // The set a key of this hash lives in. `hash` must be util::HashKey(key): Rebuild recomputes it.
  uint64_t SetOf(uint64_t hash) const { return hash % options_.sets; }
  // Whether key + value fit a set (kSetMaxPayload) and the key is 1-255 bytes.
  static bool Fits(size_t nkey, size_t nvalue);

  // A new version (r.wseq larger than every earlier version of the key). IO it starts is queued
  // on the backend (the caller's loop submits). kNoRoom: the version is not kept, and the key's
  // log version is dropped when no older version can be on the device. A caller that stores the
  // version elsewhere (the slab tier) then calls Erase(key, hash, r.wseq), which hides whatever
  // is left here (kOk and no IO when nothing is) before it replies.
  SmallTierWrite Insert(const SetRecord& r, uint64_t hash);
  // Deletes the key: a later lookup misses, now and after a flush, a restart or (with the journal
  // entry `journal` asks for) a crash. kNoRoom only when a tombstone is needed (an older version
  // may be on the device) and the log is full of pinned records: nothing changed; the caller
  // holds its reply and calls again once the tier's IO has completed (a finished move frees room).
  SmallTierWrite Erase(std::string_view key, uint64_t hash, uint64_t wseq);
  // kReading: `waiter` hears the answer later, from the backend's completions, with `token`.
  // `bump`: a fetch (memcached's bump, not DONT_UPDATE): a set item's hit bit is set, which is
  // also its fetched mark until its set's next write folds it into the record (kMarkFetched).
  SmallTierLookupResult Lookup(std::string_view key, uint64_t hash, SmallTierWaiter* waiter,
                               uint64_t token, bool bump = true);

  // Versions (small_tier_versions.cc). Insert()/Erase() when the key cannot have changed since
  // the lookup answered `seen` (the rule in the header comment), else kConflict and nothing
  // changes: the caller looks the key up again. Never kConflict unless, since that answer, the
  // key was stored or erased, FlushBelow() was called, or the tier's IO completed (so never
  // right after Lookup() or Peek() answered, nor from the waiter's callback).
  SmallTierWrite InsertIf(const SetRecord& r, uint64_t hash, const SmallTierVersion& seen);
  SmallTierWrite EraseIf(std::string_view key, uint64_t hash, uint64_t wseq,
                         const SmallTierVersion& seen);
  // The key's version when the tier knows it with no IO (the log's record, or absent: a void set
  // or a filter "no"); nullopt when only a read of its set can tell. Counts nothing.
  std::optional<SmallTierVersion> Peek(std::string_view key, uint64_t hash) const;
  // Meta marks (item.h: kMarkFetched, kMarkTokenSent) ORed into the key's version as a lookup
  // answered it (`r`, `version`), if it is still the key's version (else kConflict: nothing
  // changes, as InsertIf). The same version, not a new one (same wseq, cas, value): in place when
  // the log holds it (not moving), else a copy appended to the log, for the next rewrite of its
  // set (`mark_writes`; kNoRoom when the log has no room: the marks are lost). So no journal entry
  // and no crash can lose more than the marks. `version` becomes the key's version after the
  // call (an InsertIf with it is fresh).
  SmallTierWrite Remark(const SetRecord& r, uint64_t hash, uint8_t marks,
                        SmallTierVersion& version);
  // The write sequence this run started at (the engine's, at startup): a set sealed below it was
  // written by an earlier run, and its records' kMarkTokenSent bits are dropped (a win token does
  // not survive a restart, as in the slab tier). 0 (the default): every token bit counts.
  void set_marks_floor(uint64_t wseq) { marks_floor_ = wseq; }
  // Whether the key may have changed since `seen` (the test InsertIf/EraseIf make), with no
  // change: for an engine that stores the key's next version elsewhere (a slab).
  bool Changed(std::string_view key, uint64_t hash, const SmallTierVersion& seen) const;
  // The version of the answer SmallTierWaiter::OnSmallLookupDone() is being given: valid during
  // that call, until the waiter calls into the tier.
  const SmallTierVersion& answer_version() const { return answer_version_; }
  // flush_all: every record of a smaller wseq is gone for lookups at once, log and sets, with no
  // IO: the log's are killed, the sets' skipped by lookups and dropped by the sets' next
  // rewrites (flush_drops) and by Rebuild() (`flushed`). Never lowers the floor. The caller
  // makes `wseq` durable (its superblock) before acknowledging anything after the call (the
  // tier stops journaling versions below it), and after a restart calls it again before
  // Rebuild(). Inserts and erases below the floor are dropped as they arrive (kOk).
  void FlushBelow(uint64_t wseq);
  uint64_t flushed_below() const { return flushed_below_; }

  // Moves the records now in the log out to their sets (admission applies), oldest first, up to the
  // first appended after this call; `force`: no admission drops (a clean stop). Moves beyond
  // max_moves start as earlier ones complete. Every void set is rewritten too (first, as slots
  // allow). While a forced flush runs, a set whose write fails (a void set's rewrite included)
  // is written again, up to kForcedWrites writes per set per Flush().
  void Flush(bool force = false);
  // Rewrites every void set, as slots allow (what Flush() does first), e.g. from a checkpoint
  // that UnsettledFloor() holds back while the tier is quiet.
  void RetryVoidSets();
  // No move and no lookup read in flight, and nothing waiting to be moved by Flush() (void sets
  // included). After a forced flush, a set still void failed kForcedWrites writes in a row:
  // UnsettledFloor() then keeps its journal entries.
  bool idle() const;
  // The smallest wseq whose record is not settled (durably in its set, or dropped with no older
  // version left on the device); UINT64_MAX when all are. A scan of the log and the void sets.
  uint64_t UnsettledFloor() const;
  // UnsettledFloor() >= wseq, answered as soon as one unsettled record below is found (what a
  // checkpoint asks after every turn of IO while it waits: a full scan each time cost 8.7% of
  // the CPU under a stream of tier stores).
  bool SettledBelow(uint64_t wseq) const;

  // While running, one void set is rewritten per this many completed moves of log records.
  static constexpr uint32_t kVoidRetryMoves = 16;
  // During a forced Flush(), the writes a set is given before it is left void.
  static constexpr uint32_t kForcedWrites = 3;

  // Warm restart, on a new tier before any Insert: reads every set (ReadSync, 1 MiB at a time),
  // drops the records `superseded` names (rewriting those sets with WriteSync) and rebuilds the
  // filters. Blank and corrupt sets are empty. `superseded` may be null.
  SmallTierRebuild Rebuild(const SupersedeTest* superseded);

  SmallTierStats stats() const;
  // Items by size step (set_page.h SizeStep(key + value)): the sets' records as stats().items
  // counts them (after a set loss every step shrinks in proportion to the filter's estimate),
  // and the log's live records but tombstones. A key whose set holds a version while the log
  // holds a newer one (or a tombstone) is in both until its set's next write.
  const std::vector<uint64_t>& set_items_by_size() const { return set_by_step_; }
  const std::vector<uint64_t>& log_items_by_size() const { return log_.live_by_step(); }
  SmallTierDram Dram() const;
  const SmallTierOptions& options() const { return options_; }

 private:
  // A set move in flight: the log records it carries (pinned), its read, then its write.
  struct Move {
    IoOp io;
    util::AlignedBuffer page{kSetBytes, kSetBytes};  // the set as read (old records' views)
    util::AlignedBuffer out{kSetBytes, kSetBytes};   // the set as written
    bool busy = false;
    uint32_t set = 0;
    std::vector<uint32_t> refs;    // log records, oldest first
    std::vector<uint64_t> hashes;  // of the records written: the filter once the write completes
    // Scratch of the merge, kept so that a move allocates nothing once warm.
    std::vector<SetRecord> old;   // the set as read (views into page)
    std::vector<SetRecord> recs;  // the set as written
    std::vector<uint32_t> fresh;  // live log records
    std::vector<uint32_t> slots;  // the old slot of each record written (kNoSlot: from the log)
    uint64_t old_count = 0;       // records the read found
    uint64_t new_count = 0;
    uint64_t new_bytes = 0;  // key + value bytes of the log records written
    uint64_t min_wseq = UINT64_MAX;
    uint32_t read_tries = 0;
    bool retry = false;  // a void set's rewrite with no log records
  };
  // A set whose last write failed, waiting for a rewrite.
  struct VoidSet {
    uint32_t set = 0;
    uint32_t fails = 0;           // failed writes during the forced Flush() running
    uint64_t floor = UINT64_MAX;  // the smallest wseq its failed writes dropped
  };
  // A lookup's read of a set.
  struct Read {
    IoOp io;
    util::AlignedBuffer page{kSetBytes, kSetBytes};
    SmallTierWaiter* waiter = nullptr;
    uint64_t token = 0;
    uint64_t hash = 0;
    uint64_t set = 0;
    bool stale = false;  // the set was rewritten while this read was in flight: read it again
    bool bump = true;    // Lookup()'s
    uint8_t nkey = 0;
    char key[256];
    std::string_view Key() const { return std::string_view(key, nkey); }
  };

  void OnIoComplete(IoOp& op, int64_t result) override;
  // Starts moves of the oldest log records while slots allow and there is work.
  void Pump();
  // Starts a rewrite of the void set retried longest ago when kVoidRetryMoves moves completed.
  void RetryOneVoidSet();
  bool Pressure() const;
  // Moves the log records of `set` out (or drops them: admission). False when no slot was free.
  bool StartMove(uint32_t set);
  bool SetBusy(uint64_t set) const;
  void OnMoveRead(Move& m, int64_t result);
  // The set's content could not be read (after retries) or failed verification: it is lost.
  void LoseSet(uint64_t set);
  // Writes the merge of m.old (what the read found) and the log's records.
  void WriteMerged(Move& m);
  void OnMoveWritten(Move& m, int64_t result);
  void FinishMove(Move& m);
  // The records of the set write (m.recs): m.old minus what the log supersedes, plus the log's,
  // evicting (FIFO or second chance) until they fit. Fills m.hashes and the counts.
  void Merge(Move& m);
  void Evict(uint64_t set, std::vector<SetRecord>& recs, std::vector<uint64_t>& hashes,
             std::vector<uint32_t>& slots);
  void StartRead(Read& r);
  void OnLookupRead(Read& r, int64_t result);
  // The log's answer for a key: true when it has a version (set `out`/`hit` and `version`).
  bool FromLog(std::string_view key, uint64_t hash, uint64_t set, SetRecord& out, bool& hit,
               SmallTierVersion& version) const;
  bool MayBeOnDevice(uint64_t set, uint64_t hash) const;
  bool Expired(uint32_t exptime) const { return exptime != 0 && exptime <= now_; }
  bool Bit(const std::vector<uint64_t>& v, uint64_t i) const { return (v[i / 64] >> (i % 64)) & 1; }
  static void SetBit(std::vector<uint64_t>& v, uint64_t i, bool on);
  void ClearHits(uint64_t set);
  // Counts `recs` into (delta 1) or out of (-1) set_by_step_.
  void CountSet(const std::vector<SetRecord>& recs, int delta);
  void MakeVoid(uint64_t set, uint64_t floor);
  bool RebuildSet(char* page, uint64_t set, const SupersedeTest* superseded, SmallTierRebuild& out);
  // Versions (small_tier_versions.cc): the tier's side of a version taken now, and whether the
  // key may have changed since `seen`.
  SmallTierVersion Stamp(uint64_t set) const;
  SmallTierVersion LogVersion(uint32_t at, uint64_t set) const;
  // The set's content changed (a move's write completed or failed, or its read lost the set).
  void BumpGen(uint64_t set) { ++gens_[set % gens_.size()]; }
  // Drops the token bits of records read from a set sealed at `set_wseq` by an earlier run.
  void DropOldTokens(std::vector<SetRecord>& recs, size_t first, uint64_t set_wseq) const;

  IoBackend& aio_;
  SmallTierOptions options_;
  SetFilters filters_;
  std::vector<uint64_t> hits_;      // sets x hit_bits
  std::vector<uint64_t> void_;      // sets
  std::vector<VoidSet> void_list_;  // void sets waiting for a rewrite, least recently retried first
  std::vector<uint32_t> void_retry_;  // ... that Flush() asked to rewrite, not yet started
  uint32_t void_credit_ = 0;          // completed moves of log records, up to kVoidRetryMoves
  SmallLog log_;
  std::vector<std::unique_ptr<Move>> moves_;
  std::vector<std::unique_ptr<Read>> reads_;  // every lookup read (pool)
  std::vector<Read*> free_reads_;
  std::vector<Read*> active_reads_;
  std::vector<SetRecord> lookup_recs_;  // scratch of a lookup read
  uint64_t newest_wseq_ = 0;            // of the records appended to the log or Rebuild() found
  uint64_t flush_below_ = 0;  // Flush(): move the records below this wseq out (0: none asked)
  bool force_ = false;        // ... with no admission drops
  bool forced_ = false;       // a forced Flush() runs (until its last move completes)
  uint32_t now_ = 0;
  uint64_t marks_floor_ = 0;  // set_marks_floor()
  // Versions: a rewrite generation per set group (set % size, size max(1, sets / 16)), the
  // FlushBelow() floor and how many times it rose.
  std::vector<uint16_t> gens_;
  uint64_t flushed_below_ = 0;
  uint32_t flushes_ = 0;
  SmallTierVersion answer_version_;  // of the waiter's answer being delivered
  // Records the sets hold (expired and flushed ones too, until their set's next write).
  uint64_t items_ = 0;
  std::vector<uint64_t> set_by_step_ = std::vector<uint64_t>(kSizeSteps);  // items_ by size step
  SmallTierStats stats_;

  // The snapshot of the tier's DRAM state (small_tier_snapshot.cc) and key dumps
  // (small_tier_cursor.h).
 public:
  // Bytes SaveSnapshot() writes: a header, the filters and the hit bits (no void bits: a void
  // set refuses the save), about 24 B per set at the defaults.
  size_t SnapshotBytes() const { return SnapshotBytesFor(options_); }
  // The same for a tier of these options (sizing the engine's snapshot region before it exists).
  static size_t SnapshotBytesFor(const SmallTierOptions& options);
  // Writes the image into out[0, SnapshotBytes()). False (nothing to save) unless the tier is
  // idle() with an empty log and no void set, i.e. after a forced Flush() that settled all, or
  // when `out` is too small.
  bool SaveSnapshot(std::span<char> out) const;
  // On a new tier before any Insert, instead of Rebuild(): verifies the image (CRC32C, format,
  // and the geometry: base, sets, filter bits and hashes, hit bits, probe function, epoch) and
  // only then loads it, reading no set. Not ok with the reason when anything does not match:
  // the tier is then as it was, and the caller calls Rebuild(). `items` and `max_wseq` are the
  // saved ones; the other counts are 0. Valid only for a device whose sets no one wrote since the
  // save (the engine keeps it inside its own snapshot, under its id).
  SmallTierRebuild LoadSnapshot(std::span<const char> image);

 private:
  // The image's size from the arrays themselves (SnapshotBytesFor() must agree).
  size_t ArraysBytes() const;
  friend class SmallTierCursor;
  std::vector<SmallTierCursor*> cursors_;  // open cursors, told of every completed set write
};

}  // namespace ssdcache::storage
