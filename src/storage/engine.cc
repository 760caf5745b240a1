#include "storage/engine.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "util/hash.h"

namespace ssdcache::storage {

std::unique_ptr<Engine> Engine::Create(const EngineOptions& options, Device& device, IoBackend& aio,
                                       std::string& error) {
  if (options.slab_size < 64 * 1024 || options.slab_size % device.block_size() != 0) {
    error = "-I/--slab-size must be a multiple of the device block size and at least 64 KiB";
    return nullptr;
  }
  uint32_t max_chunk = (options.slab_size - kSlabHeaderSize) / 8 * 8;
  uint32_t min_item = std::max<uint32_t>(options.min_item_size, kItemHeaderSize + 1 + 1);
  std::optional<SlabClasses> classes =
      options.slab_profile.empty()
          ? SlabClasses::Geometric(min_item, options.factor, max_chunk, error)
          : SlabClasses::FromProfile(options.slab_profile, max_chunk, error);
  if (!classes) return nullptr;
  // A get of an item that fits in a device block reads that block alone (ChunkLayout).
  if (options.slab_profile.empty()) classes = classes->FitToBlocks(device.block_size());
  if (options.slab_size / classes->chunk_size(0) >= (1U << Index::kChunkBits)) {
    error = "-n/--min-item-size is too small for -I/--slab-size: at most 2^20 chunks per slab";
    return nullptr;
  }
  uint64_t mem_slabs = BufferCount(options);
  if (mem_slabs < 2) {
    error = "-m/--max-memory must hold at least 2 slabs of -I/--slab-size" +
            std::string(options.admission ? " besides the admission's ghost (-m/16)" : "");
    return nullptr;
  }
  if (options.journal_size % kJournalBlockSize != 0 ||
      (options.journal_size > 0 && options.journal_size < 16 * kJournalBlockSize)) {
    error = "--journal-size must be 0 or a multiple of 4 KiB of at least 64 KiB";
    return nullptr;
  }
  if (options.journal_size > 0 && device.block_size() != kJournalBlockSize) {
    error = "--journal-size needs a device with 4 KiB blocks (this one has " +
            std::to_string(device.block_size()) + "); use --journal-size 0";
    return nullptr;
  }
  if (options.small_max > 0 && options.disable_evictions) {
    error = "--small-max: the small-object tier evicts inside its sets, which -M forbids";
    return nullptr;
  }
  if (options.small_max > 0 &&
      (options.journal_size == 0 || options.journal_sync == JournalSync::kDevice)) {
    error =
        "--small-max: the small-object tier needs the journal (--journal-size > 0) in "
        "--journal-sync process mode for now";
    return nullptr;
  }
  // --snapshot-size auto becomes bytes here: the engine sees the region's size only.
  EngineOptions sized = options;
  sized.snapshot_size = SnapshotBytes(options, device, *classes, mem_slabs);
  sized.small_sets = SmallSets(options, device);
  // The first slab-sized regions of the slice hold the superblock, the journal and the snapshot.
  uint64_t reserved = ReservedSlabs(sized, device);
  uint64_t disk_slabs = device.size() / options.slab_size;
  disk_slabs = disk_slabs > reserved ? disk_slabs - reserved : 0;
  if (disk_slabs < mem_slabs + 2) {
    error = "the device (" + std::to_string(device.size() >> 20) +
            " MiB) must hold at least 2 more disk slabs (" + std::to_string(disk_slabs) +
            ") than -m/--max-memory holds memory slabs (" + std::to_string(mem_slabs) +
            "): enlarge --device-size or lower -m" +
            (options.journal_size > 0 ? " or --journal-size" : "") +
            (sized.snapshot_size > kMinSnapshotSize ? " or --snapshot-size" : "");
    return nullptr;
  }
  if (SlabTable::PiecesFor(disk_slabs, mem_slabs) == 0) {
    error = "the device holds too many slabs for the index: raise -I/--slab-size";
    return nullptr;
  }
  if (options.max_index_memory < 64) {
    error = "-i/--max-index-memory is too small";
    return nullptr;
  }
  auto engine = std::unique_ptr<Engine>(new Engine(sized, device, aio, std::move(*classes)));
  if (!engine->buffers_.allocated()) {
    error = "cannot allocate " + std::to_string(options.max_memory >> 20) +
            " MiB for memory slabs (-m/--max-memory)";
    return nullptr;
  }
  if (options.journal_size > 0) {
    engine->journal_ =
        Journal::Create(device, aio, device.offset() + device.block_size(),
                        static_cast<uint32_t>(options.journal_size / kJournalBlockSize),
                        options.journal_sync, engine.get(), error);
    if (!engine->journal_) return nullptr;
    engine->durable_.set_journal(engine->journal_.get());
  }
  return engine;
}

Engine::Engine(const EngineOptions& options, Device& device, IoBackend& aio, SlabClasses classes)
    : options_(options),
      device_(device),
      aio_(aio),
      classes_(std::move(classes)),
      slab_size_(options.slab_size),
      buffers_(BufferCount(options), options.slab_size),
      policy_(EvictionPolicy::Create(options.eviction_order)),
      table_(device.size() / options.slab_size - ReservedSlabs(options, device),
             BufferCount(options), options.slab_size, *policy_),
      reads_(device, aio, *this, options.slab_size),
      // Not under -M: a slab holding live items is never evicted there.
      reinsert_(options.reinsert && !options.disable_evictions ? options.reinsert_share : 0,
                options.slab_size),
      admit_(ProbationSlabs(options), GhostBudget(options)),
      durable_(device, aio, *this, Geometry(options, device, classes_)) {
  for (size_t c = 0; c < classes_.count(); ++c) {
    layouts_.emplace_back(classes_.chunk_size(c), slab_size_, device.block_size());
  }
  open_.assign(classes_.count(), -1);
  open_probation_.assign(classes_.count(), -1);
  class_counters_.resize(classes_.count());
  write_ops_.resize(buffers_.count());
  write_start_ns_.resize(buffers_.count());
  reserved_slabs_ = ReservedSlabs(options, device);
  placement_ = {.base = device.offset() + uint64_t{reserved_slabs_} * slab_size_,
                .slab_size = slab_size_,
                .block = device.block_size()};
  index_ = std::make_unique<Index>(options.max_index_memory, this);
  sweep_per_alloc_ = std::max<size_t>(1, index_->num_buckets() * 4 / table_.size() + 1);
}

// The scans first: a scan's tier cursor unregisters itself from the tier (small_ goes before
// scans_ in member order).
Engine::~Engine() { scans_.clear(); }

bool Engine::IsSlabLive(uint32_t slab) const { return table_.IsLive(slab); }

char* Engine::ChunkInMemory(const SlabInfo& s, uint32_t chunk) {
  return MemSlab(s.mem) + layouts_[s.cls].offset(chunk);
}

std::optional<IndexEntry> Engine::Locate(uint64_t hash) const {
  std::optional<IndexEntry> e = index_->Find(hash);
  // No slab entry: whatever the key has is in the small-object tier, if there is one.
  if (!e && small_ != nullptr) return SmallWhere(nullptr);
  return e;
}

void Engine::DropEntry(const IndexEntry& e) {
  SlabInfo& s = table_[e.slab];
  if (s.state == SlabState::kFree) return;
  if (s.live > 0) --s.live;
  if (gauges_.curr_items > 0) --gauges_.curr_items;
  uint32_t cs = classes_.chunk_size(s.cls);
  gauges_.bytes = gauges_.bytes >= cs ? gauges_.bytes - cs : 0;
}

LookupOutcome Engine::Lookup(std::string_view key, uint64_t hash, ItemView& out,
                             LookupWaiter* waiter, uint64_t token, IndexEntry* where, bool bump) {
  std::optional<IndexEntry> e = index_->Find(hash);
  if (!e) {
    if (small_ != nullptr) return LookupSmall(key, hash, out, waiter, token, where, bump);
    return {LookupResult::kMiss};
  }
  if (where != nullptr) *where = *e;
  if (Index::DefinitelyExpired(e->expiry, now_)) {
    ++stats_.expired_unfetched;
    if (!e->fetched && table_.IsLive(e->slab)) {
      ++class_counters_[table_[e->slab].cls].expired_unfetched;
    }
    DropEntry(*e);
    index_->EraseIf(hash, e->slab, e->chunk);
    // It may have been another key's sharing the tag: the key's version may be in the tier.
    if (small_ != nullptr) return LookupSmall(key, hash, out, waiter, token, where, bump);
    return {LookupResult::kMiss};
  }
  SlabInfo& s = table_[e->slab];
  if (InDram(s)) {
    ++stats_.reads_memory;
    ItemView v;
    if (!DecodeItemTrusted(ChunkInMemory(s, e->chunk), v) || v.key != key) {
      ++stats_.key_mismatches;
      // Another key's entry that shares the tag: the key's version may be in the tier.
      if (small_ != nullptr) return LookupSmall(key, hash, out, waiter, token, where, bump, &*e);
      return {LookupResult::kMiss};
    }
    if (v.exptime != 0 && v.exptime <= now_) {
      DropEntry(*e);
      index_->EraseIf(hash, e->slab, e->chunk);
      return {LookupResult::kMiss};
    }
    NoteHit(hash, *e, v, bump);
    out = v;
    return {LookupResult::kHit};
  }
  ReadOp* r = StartRead(*e, key, hash);
  if (r == nullptr) {
    ++stats_.read_errors;
    return {LookupResult::kMiss};
  }
  r->waiter = waiter;
  r->token = token;
  r->bump = bump;
  ++reads_in_flight_;
  stats_.reads_in_flight_max = std::max<uint64_t>(stats_.reads_in_flight_max, reads_in_flight_);
  ++stats_.reads_device;
  return {LookupResult::kPending, static_cast<uint32_t>(r->io.len)};
}

ReadOp* Engine::StartRead(const IndexEntry& e, std::string_view key, uint64_t hash) {
  // Only the aligned blocks that cover the chunk: one when it is no larger than a block.
  const SlabInfo& s = table_[e.slab];
  const DiskPlacement::Range range =
      placement_.ChunkRange(s, layouts_[s.cls], e.chunk, e.chunk + 1);
  return reads_.Start(range.start, range.end, range.skip, static_cast<uint32_t>(s.seq), e, key,
                      hash);
}

bool Engine::HoldsOtherKey(const IndexEntry& e, std::string_view key) {
  const SlabInfo& s = table_[e.slab];
  if (!InDram(s)) return false;  // unknown without a read: see CheckReplaced
  ItemView v;
  return DecodeItemTrusted(ChunkInMemory(s, e.chunk), v) && v.key != key;
}

void Engine::CheckReplaced(const IndexEntry& old, std::string_view key, uint64_t hash) {
  ReadOp* r = StartRead(old, key, hash);
  if (r == nullptr) {  // no read buffer: whose record it was stays unknown, so assume the worst
    MarkUnindexed(old);
    return;
  }
  r->kind = ReadOp::Kind::kCheck;
  ++stats_.replace_checks;
  ++suspects_[SuspectSlot(hash)];
}

void Engine::FinishCheck(ReadOp* r, int64_t result) {
  --suspects_[SuspectSlot(r->hash)];
  const SlabInfo& s = table_[r->where.slab];
  const bool live = s.state != SlabState::kFree && static_cast<uint32_t>(s.seq) == r->seq32;
  ItemView v;
  switch (ReadPath::Verify(*r, result, v)) {
    case ReadPath::Outcome::kIoError:
    case ReadPath::Outcome::kCorrupt:
      // Unreadable: whose record it was stays unknown. If its slab still lives, it may be another
      // key's record, now without an entry: treat it as one (not counted: maybe it was not).
      if (live) MarkUnindexed(r->where);
      return;
    case ReadPath::Outcome::kHit:
      return;  // the key's own older version
    case ReadPath::Outcome::kOtherKey:
      break;
  }
  // Another key that shares the tag and the bucket pair: its entry was lost when this key took
  // it. Counted, and its record, now unindexed, must not return over a newer version of it.
  ++stats_.tag_collisions;
  ++stats_.evictions;
  if (!live) return;
  ++class_counters_[s.cls].evicted;
  MarkUnindexed(r->where);
}

void Engine::CompleteRead(ReadOp* r, int64_t result) {
  if (r->kind == ReadOp::Kind::kCheck) {
    FinishCheck(r, result);
    reads_.Put(r);
    return;
  }
  if (r->kind == ReadOp::Kind::kUndo) {
    FinishUndoRead(r, result);
    return;
  }
  if (r->kind == ReadOp::Kind::kReinsert) {
    FinishReinsertRead(r, result);
    return;
  }
  if (r->kind == ReadOp::Kind::kScan) {
    KeyScan* scan = r->scan;
    scan->OnRead(r, result);  // gives the op back when the scan is closed
    if (scan->closed()) ReapScans();
    return;
  }
  --reads_in_flight_;
  reads_.RecordLatency(*r);
  ItemView v;
  const ItemView* found = nullptr;
  switch (ReadPath::Verify(*r, result, v)) {
    case ReadPath::Outcome::kIoError:
      ++stats_.read_errors;
      // The entry may have been another key's: the key's version may be in the tier.
      if (small_ != nullptr && FallThroughToSmall(r)) return;
      break;
    case ReadPath::Outcome::kCorrupt:
      ++stats_.checksum_errors;
      if (small_ != nullptr && FallThroughToSmall(r)) return;
      break;
    case ReadPath::Outcome::kOtherKey:
      ++stats_.key_mismatches;
      // The entry was another key's that shares the tag: the key's version may be in the tier.
      if (small_ != nullptr && FallThroughToSmall(r)) return;
      break;
    case ReadPath::Outcome::kHit:
      if (v.exptime != 0 && v.exptime <= now_) {
        if (auto cur = index_->FindAt(r->hash, r->where.slab, r->where.chunk)) {
          DropEntry(*cur);
          index_->EraseIf(r->hash, cur->slab, cur->chunk);
        }
      } else {
        found = &v;
        NoteHit(r->hash, r->where, v, r->bump);
      }
      break;
  }
  // Hand the buffer back only after the waiter copied the value out of it.
  LookupWaiter* waiter = r->waiter;
  uint64_t token = r->token;
  IndexEntry where = r->where;
  if (waiter != nullptr) waiter->OnLookupDone(token, found, where);
  reads_.Put(r);
}

StoreOutcome Engine::Store(const StoreRequest& req) {
  const std::string_view key = req.key;
  const uint64_t hash = req.hash;
  uint64_t item_size =
      uint64_t{kItemHeaderSize} + key.size() + req.value_a.size() + req.value_b.size();
  if (req.check_expected) {
    std::optional<IndexEntry> cur = index_->Find(hash);
    const std::optional<IndexEntry>& expected = req.expected;
    // The index must hold what it held when the key was read. For a version read in the
    // small-object tier that is nothing (kSmallTierSlab), or another key's entry sharing the
    // tag; and the tier's version must be the one read: InsertIf checks it when the new version
    // goes there (StoreSmall), Changed() when it goes to a slab.
    const bool had = expected && expected->slab != kSmallTierSlab;
    const bool same = cur.has_value() == had && (!cur || cur->At(expected->slab, expected->chunk));
    if (!same) return {StoreResult::kConflict};
  }
  // A delete of the key the tier refused for room waits (AfterSmallIo): until then the tier's
  // answers for the key are not its state, and a version compared with them would never match.
  if (small_ != nullptr && SmallErasePending(key)) {
    small_room_wanted_ = true;
    return {StoreResult::kNoMemory};
  }
  const bool small = ForSmallTier(key.size(), req.value_a.size() + req.value_b.size());
  bool verified = false;  // InsertIf found the version read unchanged, then had no room
  if (small) {
    bool room = true;
    StoreOutcome stored = StoreSmall(req, room);
    if (room) return stored;  // else its log is full: this version goes to a slab
    verified = req.check_expected && req.expected && req.expected->small;
  }
  // (After a refusal the tier may have dropped the version read from its log: nothing older is
  // on the device then, and the check it passed stands.)
  if (!verified && req.check_expected && req.expected && req.expected->small && small_ != nullptr &&
      small_->Changed(key, hash, req.expected->small_version)) {
    return {StoreResult::kConflict};
  }
  if (item_size > classes_.max_item()) return {StoreResult::kTooLarge};
  int cls = classes_.ClassFor(static_cast<uint32_t>(item_size));
  // A first write waits in probation (admission.h); anything else goes to an ordinary slab.
  int64_t id =
      admit_.enabled() && ForProbation(hash) ? OpenProbationFor(static_cast<uint8_t>(cls)) : -1;
  if (id >= 0) {
    ++stats_.admit_probation;
  } else {
    if (options_.disable_evictions &&
        (open_[cls] < 0 || table_[open_[cls]].used == layouts_[cls].count()) &&
        WouldNeedEviction()) {
      return {StoreResult::kOutOfMemory};
    }
    id = OpenSlabFor(static_cast<uint8_t>(cls));
    if (id < 0) return {StoreResult::kNoMemory};
  }
  const size_t pending_before = pending_tombstones_.size();
  SlabInfo& s = table_[id];
  uint32_t chunk = s.used++;
  uint64_t wseq = TakeWseq();
  uint64_t cas = options_.disable_cas ? 0 : req.keep_cas != 0 ? req.keep_cas : wseq;
  // A write is an access, as memcached's l counts it, unless the caller keeps the last one: the
  // record's store time is the access fallback (see AccessTable), so it carries that time too.
  const ItemMarks& marks = req.marks;
  const uint32_t accessed = marks.last_access != 0 ? marks.last_access : now_;
  WriteItem(ChunkInMemory(s, chunk), key, req.value_a, req.value_b, req.flags, req.exptime, cas,
            static_cast<uint32_t>(s.seq), wseq, kKindItem, accessed, marks.stale ? kMarkStale : 0);
  access_.Touch(hash, accessed);
  IndexEntry e{static_cast<uint32_t>(id), chunk, Index::CoarseExpiry(req.exptime, now_)};
  e.token_sent = marks.token_sent;
  e.fetched = marks.fetched;
  uint64_t ticket = 0;
  Index::InsertOutcome outcome = index_->Upsert(hash, e);
  // The index keeps one entry per (tag, bucket pair): a replaced entry is this key's previous
  // version, or another key's that shares both (a collision). In DRAM the key tells at once; on
  // the device a read tells later (CheckReplaced), and until then the entry is taken as ours.
  const bool collided =
      outcome.result == Index::InsertResult::kReplaced && HoldsOtherKey(outcome.old, key);
  if (outcome.result == Index::InsertResult::kReplaced && !collided) {
    ticket = Supersede(hash, &outcome.old, wseq, e);
    if (!InDram(table_[outcome.old.slab])) CheckReplaced(outcome.old, key, hash);
    DropEntry(outcome.old);
  } else if (journal_ != nullptr && OlderRecordMayLinger(hash)) {
    // This acknowledgement must not overtake what OlderRecordMayLinger saw.
    ticket = Supersede(hash, nullptr, wseq, e, /*force=*/true);
  }
  if (outcome.result == Index::InsertResult::kEvicted || collided) {
    MarkUnindexed(outcome.old);
    DropEntry(outcome.old);
    ++(collided ? stats_.tag_collisions : stats_.index_evictions);
    ++stats_.evictions;
    if (table_.IsLive(outcome.old.slab)) ++class_counters_[table_[outcome.old.slab].cls].evicted;
  }
  ++s.live;
  ++gauges_.curr_items;
  ++stats_.total_items;
  gauges_.bytes += classes_.chunk_size(s.cls);
  reinsert_.Earn(classes_.chunk_size(s.cls));
  if (s.used == layouts_[s.cls].count()) SlabFilled(static_cast<uint32_t>(id));
  // A loser's (MarkUnindexed). Not those failed writes gave back: on a failing device each store
  // would write them again, fail, and lose what shares their slabs; housekeeping retries them.
  if (pending_tombstones_.size() > pending_before) DrainTombstones();
  if (small_ != nullptr) ticket = std::max(ticket, HideSmall(key, hash, wseq));
  return {StoreResult::kStored, cas, ticket};
}

EraseOutcome Engine::Erase(std::string_view key, uint64_t hash, const IndexEntry* where) {
  if (small_ == nullptr) return EraseSlab(key, hash, where, 0);
  // A key's version is in one tier: `where` says which; without it, both are cleared. A tier
  // version is erased only while the index holds what it held when the key was read.
  if (where != nullptr && where->small) {
    const std::optional<IndexEntry> cur = index_->Find(hash);
    const bool had = where->slab != kSmallTierSlab;
    if (cur.has_value() != had || (cur && !cur->At(where->slab, where->chunk))) return {};
    const uint64_t wseq = TakeWseq();
    const uint64_t ticket = HideSmall(key, hash, wseq, &where->small_version);
    if (ticket == kSmallConflict) return {};
    return {true, std::max(ticket, RetireSlab(key, hash, wseq, /*known_other=*/had).ticket)};
  }
  if (where != nullptr) return EraseSlab(key, hash, where, 0);  // the tier holds no version
  // Without a lookup first: both tiers. The tier may hold the key unless its log or filter
  // rules it out.
  const uint64_t wseq = TakeWseq();
  const std::optional<SmallTierVersion> v = small_->Peek(key, hash);
  EraseOutcome out = RetireSlab(key, hash, wseq, /*known_other=*/false);
  out.erased = out.erased || !v || v->present;
  out.ticket = std::max(out.ticket, HideSmall(key, hash, wseq));
  return out;
}

EraseOutcome Engine::EraseSlab(std::string_view key, uint64_t hash, const IndexEntry* where,
                               uint64_t wseq) {
  std::optional<IndexEntry> cur = index_->Find(hash);
  if (!cur) return {};
  if (where != nullptr && !cur->At(where->slab, where->chunk)) return {};
  // Without a checked location the entry may be another key's that shares the tag: in DRAM the
  // key tells (then this key has no entry); on the device a read tells later.
  if (where == nullptr && HoldsOtherKey(*cur, key)) return {};
  if (where == nullptr && !InDram(table_[cur->slab])) CheckReplaced(*cur, key, hash);
  // The tombstone's wseq, reserved now (or by the caller) so the journal entry can name it even
  // when the tombstone has to wait for a memory slab.
  if (wseq == 0) wseq = TakeWseq();
  const uint64_t ticket = Supersede(hash, &*cur, wseq, std::nullopt);
  DropEntry(*cur);
  index_->EraseIf(hash, cur->slab, cur->chunk);
  // The record stays on the device until its slab is evicted; a tombstone written after it makes
  // the rebuild at restart drop it again.
  if (!TryWriteTombstone(key, wseq)) pending_tombstones_.push_back({std::string(key), wseq});
  return {true, ticket};
}

bool Engine::OlderRecordMayLinger(uint64_t hash) const {
  // A delete (or an undone change) of this key not on the device yet; an older record the index
  // dropped (for lack of room or to a colliding key; its hash is unknown, only its tag was kept);
  // or one in an evicted slab that a crash would still find (the frontier is not on the device).
  return (journal_ != nullptr && journal_->Uncommitted(hash)) || unindexed_slabs_ > 0 ||
         Suspect(hash) || durable_.frontier() > durable_.durable_frontier();
}

void Engine::MarkUnindexed(const IndexEntry& dropped) {
  SlabInfo& o = table_[dropped.slab];
  if (o.state == SlabState::kMemory) {
    // Not written yet: void it, so it never reaches the device without an index entry (a record
    // sealed after a newer version of its key would break the seal order). It may have been the
    // only newer version of older records on the device (its journal entry, if any, is freed by
    // a later checkpoint): a tombstone, newer than them, keeps them superseded. It is written
    // when the caller is done (DrainTombstones), and a checkpoint waits for it.
    ItemView v;
    if (DecodeItemTrusted(ChunkInMemory(o, dropped.chunk), v) && !v.tombstone) {
      const uint64_t wseq = TakeWseq();
      pending_tombstones_.push_back({std::string(v.key), wseq});
      // A reinserted copy's original (the same version) may still be found on the device, and
      // no journal entry names a version above it: this one does, until the tombstone is written.
      if (v.reinserted) JournalLost(util::HashKey(v.key), wseq);
    }
    VoidRecord(o, dropped.chunk);
  } else {
    if (!o.unindexed) {
      o.unindexed = true;
      ++unindexed_slabs_;
    }
    TombstoneIfUndoable(o, dropped.chunk);
  }
}

uint64_t Engine::Supersede(uint64_t hash, const IndexEntry* old, uint64_t wseq,
                           const std::optional<IndexEntry>& now_at, bool force) {
  bool on_device = false;
  if (old != nullptr) {
    SlabInfo& o = table_[old->slab];
    on_device = o.state == SlabState::kFlushing || o.state == SlabState::kDisk;
    // Not written yet: drop the old version from the buffer, so a crash can never find it on the
    // device after the slab's write while the newer version was still only in DRAM. A
    // reinserted copy's original may still be on the device: journaled as if it were there.
    if (o.state == SlabState::kMemory) {
      on_device = IsReinsertedCopy(o, old->chunk);
      VoidRecord(o, old->chunk);
    }
  }
  if (journal_ == nullptr || (!on_device && !force && !journal_->Uncommitted(hash))) return 0;
  // Ticket 0: committed already (process mode), the reply need not wait.
  const uint64_t ticket = journal_->Append(hash, wseq);
  if (ticket != 0) durable_.Hold(ticket, hash, now_at);
  return ticket;
}

void Engine::NoteHit(uint64_t hash, const IndexEntry& at, ItemView& v, bool bump) {
  if (!bump) {
    if (const uint32_t t = access_.Get(hash); t != 0) v.last_access = t;
    return;
  }
  if (const uint32_t t = access_.Exchange(hash, now_); t != 0) v.last_access = t;
  if (at.fetched && at.hit) return;
  index_->MarkFetched(hash, at.slab, at.chunk);
  if (!at.hit && table_.IsLive(at.slab)) ++table_[at.slab].hits;
}

void Engine::VoidRecord(SlabInfo& s, uint32_t chunk) {
  // A zero magic fails every decode; the key and value bytes stay, since a caller may still hold
  // views into them (append/prepend pass the old value to the Store that supersedes it).
  const uint16_t zero = 0;
  std::memcpy(ChunkInMemory(s, chunk) + offsetof(ItemHeader, magic), &zero, sizeof(zero));
  ++s.voided;
  ++stats_.records_voided;
}

bool Engine::TryWriteTombstone(std::string_view key, uint64_t wseq) {
  int cls = classes_.ClassFor(ItemSize(key.size(), 0));
  int64_t id = OpenSlabFor(static_cast<uint8_t>(cls));
  if (id < 0) return false;
  SlabInfo& s = table_[id];
  uint32_t chunk = s.used++;
  WriteItem(ChunkInMemory(s, chunk), key, {}, {}, 0, 0, 0, static_cast<uint32_t>(s.seq),
            wseq != 0 ? wseq : TakeWseq(), kKindTombstone);
  if (s.used == layouts_[s.cls].count()) SlabFilled(static_cast<uint32_t>(id));
  return true;
}

void Engine::DrainTombstones() {
  size_t done = 0;
  while (done < pending_tombstones_.size() &&
         TryWriteTombstone(pending_tombstones_[done].key, pending_tombstones_[done].wseq)) {
    ++done;
  }
  pending_tombstones_.erase(pending_tombstones_.begin(),
                            pending_tombstones_.begin() + static_cast<std::ptrdiff_t>(done));
}

void Engine::FlushAll() {
  index_->Clear();
  for (SlabInfo& s : table_) s.live = 0;
  gauges_.curr_items = 0;
  gauges_.bytes = 0;
  pending_tombstones_.clear();
  // Open memory slabs hold only flushed records now: recycle them unwritten, so that every record
  // written from here on lands in a slab whose seq is >= flush_seq_.
  for (int64_t& id : open_) {
    if (id < 0) continue;
    SlabInfo& s = table_[id];
    buffers_.Free(s.mem);
    KillSlab(s, false);
    id = -1;
  }
  DiscardProbation();
  durable_.set_flush_seq(table_.next_seq());
  FlushSmall();
  durable_.WriteSuperblock();
  if (memory_listener_) memory_listener_();
}

void Engine::Housekeeping() {
  durable_.Retry();
  // A checkpoint waiting for the tier: sets a failed write left void are rewritten.
  if (small_ != nullptr && small_checkpoint_wseq_ != 0) small_->RetryVoidSets();
  DrainTombstones();  // those a failed write gave back, when no request came since
  // A full pass over the index about once a minute at one call per second.
  SweepSome(index_->num_buckets() / 60 + 1);
}

uint32_t Engine::disk_slabs_used() const { return static_cast<uint32_t>(table_.disks_in_use()); }

void Engine::ResetStats() {
  if (journal_) journal_->ResetStats();
  reads_.ResetLatency();
  write_latency_.Reset();
  stats_ = EngineStats{};
  // The tier's counters run since start (its stat rows say so); read_errors() and evictions()
  // add their share since this reset.
  small_at_reset_ = small_ != nullptr ? small_->stats() : SmallTierStats{};
  class_counters_.assign(classes_.count(), ClassCounters{});
}

}  // namespace ssdcache::storage
