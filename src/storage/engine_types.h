// The values the engine's interface takes and returns (engine.h): a lookup's waiter and outcome,
// a store's request and outcome, an erase's outcome, meta marks, and the counters `stats` shows.
// Plain values with no behaviour beyond their constructors: kept apart from engine.h so that the
// engine's class stays readable and callers that only pass these around need not see it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "storage/index.h"
#include "storage/item.h"

namespace ssdcache::storage {

// Receives the result of a lookup that had to read the device.
class LookupWaiter {
 public:
  // `item` is nullptr on a miss; its views are valid only during the call. `where` is the index
  // location that was read (for optimistic read-modify-write).
  virtual void OnLookupDone(uint64_t token, const ItemView* item, const IndexEntry& where) = 0;

 protected:
  ~LookupWaiter() = default;
};

enum class LookupResult : uint8_t { kMiss, kHit, kPending };

// What Lookup() did: its kind and, for kPending, the bytes of the device read it started (its
// buffer is held until the waiter runs).
struct LookupOutcome {
  LookupResult kind = LookupResult::kMiss;
  uint32_t read_bytes = 0;
};

// Meta-protocol state a store gives the new version: `stale` is written into the record (it
// survives a restart), `token_sent` and `fetched` into the index entry (after a restart the first
// reader of a stale item wins again; `fetched` survives a snapshot restart only). A touch carries
// them over, as memcached changes such an item in place.
struct ItemMarks {
  bool stale = false;
  bool token_sent = false;
  bool fetched = false;
  // The last access the new version reports (meta l, me la; also written as the record's store
  // time, the fallback), 0: the store is the access (now). A touch that must not count as an
  // access (mg T u) passes the item's last access.
  uint32_t last_access = 0;
};
// kOutOfMemory: refused under -M (EngineOptions::disable_evictions), as memcached's "out of memory
// storing object": the store would need a slab that only evicting live items could free.
enum class StoreResult : uint8_t { kStored, kTooLarge, kNoMemory, kConflict, kOutOfMemory };

// A new version of `key` for Store(): value = value_a + value_b (append/prepend pass two parts).
// The views need to stay valid for the call only.
struct StoreRequest {
  StoreRequest(std::string_view k, uint64_t h, std::string_view value) : key(k), hash(h) {
    value_a = value;
  }
  // Stores only if the key's current location is `at` (see `expected`).
  StoreRequest& Expect(const std::optional<IndexEntry>& at) {
    check_expected = true;
    expected = at;
    return *this;
  }

  std::string_view key;
  uint64_t hash = 0;
  std::string_view value_a;
  std::string_view value_b;
  uint32_t flags = 0;
  uint32_t exptime = 0;  // absolute, 0: never
  // When set, the key's current location must equal `expected` (nullopt: no live entry), else
  // kConflict: an optimistic read-modify-write.
  bool check_expected = false;
  std::optional<IndexEntry> expected;
  // Non-zero: the new version keeps this cas unique (touch and gat do not change it, as in
  // memcached); zero: a new one.
  uint64_t keep_cas = 0;
  ItemMarks marks;
};

// A journal ticket (see Engine::AwaitCommit): 0 when the reply needs no wait (no journal entry,
// or its entry was stored in place in process mode); otherwise acknowledge the request only from
// AwaitCommit's callback.
struct StoreOutcome {
  StoreResult result = StoreResult::kStored;
  uint64_t cas = 0;  // the new version's cas unique (kStored)
  uint64_t ticket = 0;
};
struct EraseOutcome {
  bool erased = false;
  uint64_t ticket = 0;
};

// Per-class counters kept as slabs change (`stats items`); ResetStats clears them.
struct ClassCounters {
  uint64_t evicted = 0;            // live entries dropped with an evicted slab or index slot
  uint32_t evicted_time = 0;       // seconds the last slab evicted with live items had been open
  uint64_t expired_unfetched = 0;  // expired entries a lookup dropped, never fetched
};

// One slab class as `stats slabs` / `stats items` show it: the slab table's state at the call
// plus the class's counters.
struct ClassStats {
  uint32_t chunk_size = 0;
  uint32_t chunks_per_slab = 0;
  uint64_t memory_slabs = 0;  // kMemory + kFlushing
  uint64_t disk_slabs = 0;
  uint64_t items = 0;                 // live items in slabs of this class
  uint64_t memory_items = 0;          // of which in memory slabs (not yet on the device)
  uint64_t open_chunks_free = 0;      // chunks its open memory slab has left (new items go there)
  uint32_t oldest_opened = 0;         // open time of its oldest slab holding a live item (0: none)
  uint32_t oldest_memory_opened = 0;  // the same among its memory slabs
  ClassCounters counters;
};

// What the engine holds now: kept up to date as items come and go, never reset.
struct EngineGauges {
  uint64_t curr_items = 0;
  uint64_t bytes = 0;  // chunk bytes held by live items
};

// Counters since the start or the last ResetStats, which zeroes all of them.
struct EngineStats {
  uint64_t total_items = 0;          // items stored since start
  uint64_t evictions = 0;            // live items dropped with an evicted disk slab or index slot
  uint64_t slab_evictions = 0;       // disk slabs reclaimed by FIFO eviction
  uint64_t index_evictions = 0;      // live entries dropped because both index buckets were full
  uint64_t reads_memory = 0;         // lookups served from memory slabs
  uint64_t reads_device = 0;         // device reads started for lookups
  uint64_t reads_in_flight_max = 0;  // most lookup reads in flight at once (since stats reset)
  uint64_t read_errors = 0;          // the slab tier's device reads that failed (IO error or short)
  uint64_t checksum_errors = 0;    // device records that failed verification (torn, stale, corrupt)
  uint64_t key_mismatches = 0;     // index tag collisions resolved by the full key
  uint64_t tag_collisions = 0;     // entries lost to another key sharing their tag (evictions)
  uint64_t replace_checks = 0;     // device reads telling an overwrite from a tag collision
  uint64_t slab_writes = 0;        // memory slabs written to the device
  uint64_t write_errors = 0;       // failed slab writes (their items were dropped)
  uint64_t expired_unfetched = 0;  // expired entries dropped without a device read
  uint64_t memory_waits = 0;       // stores that had to wait for a free memory slab
  uint64_t journal_waits = 0;      // replies held until their journal entry was on the device
  uint64_t journal_undone = 0;     // changes undone because their journal write failed
  uint64_t journal_checkpoints = 0;  // checkpoints that freed journal slots
  uint64_t records_voided = 0;       // superseded records dropped from memory slabs before a write
  uint64_t compactions = 0;          // open memory slabs compacted (engine_compact.cc)
  uint64_t compacted_bytes = 0;      // chunk bytes of voided records they reclaimed (never written)
  // Reinsertion at eviction (reinsertion.h): items copied forward and their chunk bytes; reads of
  // slabs to be evicted; items read since placed but dropped for the budget or for lack of a
  // memory slab; slabs evicted before their read landed (their items dropped).
  uint64_t reinserted_items = 0;
  uint64_t reinserted_bytes = 0;
  uint64_t reinsert_reads = 0;
  uint64_t reinsert_skipped_budget = 0;
  uint64_t reinsert_skipped_memory = 0;
  uint64_t reinsert_late = 0;
  // Admission (admission.h): first writes placed in probation; of those screened, the ones copied
  // to an ordinary slab (read while in probation) and the ones dropped (also in evictions); stores
  // that went to an ordinary slab because the ghost remembered their key.
  uint64_t admit_probation = 0;
  uint64_t admit_promoted = 0;
  uint64_t admit_dropped = 0;
  uint64_t admit_ghost_hits = 0;
};

// The index location of an item of the small-object tier (IndexEntry::slab): no slab has it.
inline constexpr uint32_t kSmallTierSlab = 0xFFFFFFFFu;

}  // namespace ssdcache::storage
