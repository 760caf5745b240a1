// Engine, part eight: the glue of the small-object tier (small_tier.h; docs/design.md
// "Small-object tier"). An item whose key + value take at most --small-max bytes is stored in the
// tier, any other in a slab, and a key has a live version in at most one of them:
//  - a store in the tier retires the key's slab version as a delete does (index entry dropped,
//    tombstone, journal entry when the record is on the device);
//  - a store in a slab, or a delete, hides the tier's version behind the new wseq (the tier's
//    tombstone, journaled when the tier says an older version may be on the device);
//  - a lookup tries the index first, then the tier.
//
// Invariants:
//  - The slab tombstone that retires a key's slab version takes a wseq below the tier version's:
//    its journal entry must not supersede the tier's version at a warm restart.
//  - A delete the tier refused for room (its log full of records being moved) is parked in
//    small_erases_ with its journal entry already appended; until the tier takes it, lookups of
//    the key miss in the tier. It is retried after each turn of IO.
//  - A checkpoint started at wseq w frees journal blocks only once the tier settled every record
//    below w (UnsettledFloor() >= w): it counts as one more slab write until then.
//  - With a tier, journal entries commit in process mode only (Create refuses device mode): no
//    journal block fails, so no tier change is ever undone, and tickets complete in order.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {

static_assert(kMaxSmallPayload == kSetMaxPayload, "--small-max's bound is one record in a set");

namespace {

// A tier record's meta marks as the lookup's location reports them.
void NoteMarks(const SetRecord& r, IndexEntry* where) {
  if (where == nullptr) return;
  where->fetched = (r.marks & kMarkFetched) != 0;
  where->token_sent = (r.marks & kMarkTokenSent) != 0;
}

// ORs `marks` into the tier's version `r`, as answered with `version` (updated to the version
// after it). Best effort, as the slab tier's index bits: a key changed since keeps its own.
void Remark(SmallTier& tier, const SetRecord& r, uint64_t hash, uint8_t marks,
            SmallTierVersion& version) {
  if ((r.marks & marks) == marks) return;
  tier.Remark(r, hash, marks, version);
}

uint8_t RecordMarks(const ItemMarks& m) {
  return static_cast<uint8_t>((m.stale ? kMarkStale : 0) | (m.fetched ? kMarkFetched : 0) |
                              (m.token_sent ? kMarkTokenSent : 0));
}

}  // namespace

uint64_t Engine::SmallSets(const EngineOptions& options, const Device& device) {
  // A formatted device keeps its tier (the superblock check refuses any other count), so that
  // --small-max 0 on it still finds the items stored there.
  if (device.superblock()) return device.superblock()->small_sets;
  if (options.small_max == 0) return 0;
  return device.size() / 100 * options.small_share / kSetBytes;
}

void Engine::MakeSmallTier() {
  if (options_.small_sets == 0) return;
  small_ = std::make_unique<SmallTier>(
      aio_, SmallOptions(options_, SnapshotOffset() + options_.snapshot_size, durable_.epoch()));
  small_->set_now(now_);
  // Every wseq of an earlier run is below the superblock's ceiling, where this run starts.
  small_->set_marks_floor(durable_.next_wseq());
}

std::function<bool(const SupersedeTest&, std::string&)> Engine::RebuildSmallHook() {
  if (options_.small_sets == 0) return {};
  return [this](const SupersedeTest& superseded, std::string& error) {
    return RebuildSmall(superseded, error);
  };
}

bool Engine::RebuildSmall(const SupersedeTest& superseded, std::string& error) {
  MakeSmallTier();
  SmallTierRebuild r;
  std::string why;
  if (LoadSmallImage(r, why)) {
    // flush_all's floor after the load: the loaded filters would bring its records back.
    small_->FlushBelow(durable_.small_flush_wseq());
    spdlog::info("warm restart: small-object tier: {} items in {} sets, its image loaded", r.items,
                 options_.small_sets);
    return true;
  }
  small_->FlushBelow(durable_.small_flush_wseq());  // before Rebuild: it leaves those out
  r = small_->Rebuild(&superseded);
  if (!r.ok) {
    error = "small-object tier: " + r.error;
    return false;
  }
  spdlog::info(
      "warm restart: small-object tier: no image ({}): {} items in {} sets read ({} never "
      "written, {} corrupt), {} superseded by the journal ({} sets rewritten), {} expired",
      why, r.items, options_.small_sets, r.blank, r.corrupt, r.superseded, r.rewritten, r.expired);
  return true;
}

bool Engine::ForSmallTier(size_t nkey, size_t nvalue) const {
  return small_ != nullptr && nkey + nvalue <= options_.small_max && SmallTier::Fits(nkey, nvalue);
}

StoreOutcome Engine::StoreSmall(const StoreRequest& req, bool& room) {
  room = true;
  std::string_view value = req.value_a;
  if (!req.value_b.empty()) {
    small_value_.assign(req.value_a);
    small_value_.append(req.value_b);
    value = small_value_;
  }
  // A slab version of the key (or a record of it the index dropped, still on the device) is
  // retired with a tombstone; its wseq, taken first, stays below the tier version's.
  const bool retire = index_->Find(req.hash).has_value() || OlderRecordMayLinger(req.hash);
  const uint64_t tomb_wseq = retire ? TakeWseq() : 0;
  const uint64_t wseq = TakeWseq();
  const ItemMarks& marks = req.marks;
  const uint32_t accessed = marks.last_access != 0 ? marks.last_access : now_;
  SetRecord r;
  r.key = req.key;
  r.value = value;
  r.flags = req.flags;
  r.exptime = req.exptime;
  r.stored_at = accessed;
  r.cas = options_.disable_cas ? 0 : req.keep_cas != 0 ? req.keep_cas : wseq;
  r.wseq = wseq;
  r.marks = RecordMarks(marks);
  const bool seen = req.check_expected && req.expected && req.expected->small;
  const SmallTierWrite w = seen ? small_->InsertIf(r, req.hash, req.expected->small_version)
                                : small_->Insert(r, req.hash);
  if (w.status == SmallTierStatus::kConflict) return {StoreResult::kConflict};
  if (w.status == SmallTierStatus::kNoRoom) {
    room = false;
    small_room_wanted_ = true;
    return {StoreResult::kNoMemory};
  }
  if (w.status != SmallTierStatus::kOk) return {StoreResult::kTooLarge};
  uint64_t ticket = 0;
  if (retire) {
    // A location read in the tier that met another key's entry knows that entry is not ours.
    const bool other = seen && req.expected->slab != kSmallTierSlab;
    ticket = RetireSlab(req.key, req.hash, tomb_wseq, other).ticket;
  }
  if (w.journal) ticket = std::max(ticket, JournalSmall(req.hash, wseq));
  access_.Touch(req.hash, accessed);
  ++stats_.total_items;
  return {StoreResult::kStored, r.cas, ticket};
}

uint64_t Engine::HideSmall(std::string_view key, uint64_t hash, uint64_t wseq,
                           const SmallTierVersion* seen) {
  const SmallTierWrite w =
      seen != nullptr ? small_->EraseIf(key, hash, wseq, *seen) : small_->Erase(key, hash, wseq);
  if (w.status == SmallTierStatus::kConflict) return kSmallConflict;
  if (w.status == SmallTierStatus::kNoRoom) {
    // Nothing changed there: whatever the tier holds may be on the device.
    small_erases_.push_back({std::string(key), wseq});
    small_room_wanted_ = true;
    return JournalSmall(hash, wseq);
  }
  // Taken: an older parked delete of the key must not be retried over it.
  std::erase_if(small_erases_, [&](const PendingTombstone& p) { return p.key == key; });
  return w.journal ? JournalSmall(hash, wseq) : 0;
}

EraseOutcome Engine::RetireSlab(std::string_view key, uint64_t hash, uint64_t wseq,
                                bool known_other) {
  if (!known_other) {
    const EraseOutcome out = EraseSlab(key, hash, nullptr, wseq);
    if (out.erased) return out;
  }
  // No entry of this key, but the index may have dropped an older record of it that is still on
  // the device (OlderRecordMayLinger): a scan would index it and lookups would find it before
  // the tier. A tombstone retires it, journaled until its slab is written (a checkpoint waits
  // for pending tombstones and for the slabs sealed before it).
  if (!OlderRecordMayLinger(hash)) return {};
  if (!TryWriteTombstone(key, wseq)) pending_tombstones_.push_back({std::string(key), wseq});
  return {false, JournalSmall(hash, wseq)};
}

uint64_t Engine::JournalSmall(uint64_t hash, uint64_t wseq) {
  if (journal_ == nullptr) return 0;
  const uint64_t ticket = journal_->Append(hash, wseq);
  if (ticket != 0) durable_.Hold(ticket, hash, std::nullopt);  // nothing to undo (process mode)
  return ticket;
}

IndexEntry Engine::SmallWhere(const IndexEntry* other) {
  IndexEntry at{.slab = kSmallTierSlab, .small = true};
  if (other != nullptr) {
    at.slab = other->slab;
    at.chunk = other->chunk;
  }
  return at;
}

LookupOutcome Engine::LookupSmall(std::string_view key, uint64_t hash, ItemView& out,
                                  LookupWaiter* waiter, uint64_t token, IndexEntry* where,
                                  bool bump, const IndexEntry* other) {
  if (where != nullptr) *where = SmallWhere(other);
  if (SmallErasePending(key)) return {LookupResult::kMiss};
  uint32_t slot;
  if (!small_free_waits_.empty()) {
    slot = small_free_waits_.back();
    small_free_waits_.pop_back();
  } else {
    slot = static_cast<uint32_t>(small_waits_.size());
    small_waits_.emplace_back();
  }
  const SmallTierLookupResult r = small_->Lookup(key, hash, this, slot, bump);
  if (r.kind != SmallTierLookup::kReading) {
    small_free_waits_.push_back(slot);
    if (where != nullptr) where->small_version = r.version;
    if (r.kind == SmallTierLookup::kMiss) return {LookupResult::kMiss};
    ++stats_.reads_memory;
    out = ViewOf(r.item);
    NoteMarks(r.item, where);  // as they were before this read
    if (bump) {
      SmallTierVersion version = r.version;
      Remark(*small_, r.item, hash, kMarkFetched, version);
      if (where != nullptr) where->small_version = version;
    }
    const uint32_t seen = bump ? access_.Exchange(hash, now_) : access_.Get(hash);
    if (seen != 0) out.last_access = seen;
    return {LookupResult::kHit};
  }
  small_waits_[slot] = {waiter, token, bump, SmallWhere(other)};
  ++stats_.reads_device;
  return {LookupResult::kPending, kSetBytes};
}

bool Engine::FallThroughToSmall(ReadOp* r) {
  ItemView v;
  const std::string_view key(r->key, r->nkey);
  IndexEntry where;
  const LookupOutcome o =
      LookupSmall(key, r->hash, v, r->waiter, r->token, &where, r->bump, &r->where);
  if (o.kind == LookupResult::kPending) {
    reads_.Put(r);  // the tier answers the waiter
    return true;
  }
  if (o.kind == LookupResult::kHit) {
    LookupWaiter* waiter = r->waiter;
    const uint64_t token = r->token;
    reads_.Put(r);
    if (waiter != nullptr) waiter->OnLookupDone(token, &v, where);
    return true;
  }
  return false;  // a miss: the caller answers it
}

void Engine::OnSmallLookupDone(uint64_t token, const SetRecord* item) {
  const SmallWait w = small_waits_[token];
  small_waits_[token] = {};
  small_free_waits_.push_back(static_cast<uint32_t>(token));
  IndexEntry where = w.where;
  where.small_version = small_->answer_version();  // before anything calls into the tier
  if (item == nullptr) {
    if (w.waiter != nullptr) w.waiter->OnLookupDone(w.token, nullptr, where);
    return;
  }
  ItemView v = ViewOf(*item);
  const uint64_t hash = util::HashKey(v.key);
  NoteMarks(*item, &where);  // as they were before this read
  // A set's answer keeps its fetched mark in the slot's hit bit, which the read set: no copy.
  if (w.bump && !where.small_version.hit_bit) {
    Remark(*small_, *item, hash, kMarkFetched, where.small_version);
  }
  const uint32_t seen = w.bump ? access_.Exchange(hash, now_) : access_.Get(hash);
  if (seen != 0) v.last_access = seen;
  if (w.waiter != nullptr) w.waiter->OnLookupDone(w.token, &v, where);
}

bool Engine::MarkTokenSent(uint64_t hash, IndexEntry& where, const ItemView& item) {
  if (!where.small) return index_->MarkTokenSent(hash, where.slab, where.chunk);
  if (small_ == nullptr) return false;
  SetRecord r;
  r.key = item.key;
  r.value = item.value;
  r.flags = item.flags;
  r.exptime = item.exptime;
  r.stored_at = item.stored_at;
  r.cas = item.cas;
  r.wseq = item.wseq;
  r.marks = RecordMarks(ItemMarks{item.stale, where.token_sent, where.fetched});
  // Not the Remark() wrapper: a bit set already must answer false, not be skipped.
  const SmallTierWrite w = small_->Remark(r, hash, kMarkTokenSent, where.small_version);
  // kConflict cannot tell a new version from the read one having moved to its set (with another
  // reader's bit, maybe): no W then either, the safe side of a herd guard.
  return w.status == SmallTierStatus::kOk && !w.unchanged;
}

ItemView Engine::ViewOf(const SetRecord& r) {
  ItemView v;
  v.key = r.key;
  v.value = r.value;
  v.flags = r.flags;
  v.exptime = r.exptime;
  v.cas = r.cas;
  v.wseq = r.wseq;
  v.stored_at = r.stored_at;
  v.last_access = r.stored_at;
  v.stale = (r.marks & kMarkStale) != 0;
  return v;
}

void Engine::FlushSmall() {
  if (small_ == nullptr) return;
  small_erases_.clear();  // the flush hides what they would
  const uint64_t wseq = TakeWseq();
  // Recorded with the superblock write FlushAll starts, and given to the tier after a restart.
  durable_.set_small_flush_wseq(wseq);
  small_->FlushBelow(wseq);
}

bool Engine::StopSmall() {
  if (small_ == nullptr) return true;
  AfterSmallIo();  // parked deletes first: the flush carries them
  if (!small_erases_.empty()) return false;
  if (!small_stopping_) {
    small_stopping_ = true;
    small_->Flush(/*force=*/true);
  }
  return small_->idle();
}

bool Engine::SmallErasePending(std::string_view key) const {
  for (const PendingTombstone& p : small_erases_) {
    if (p.key == key) return true;
  }
  return false;
}

bool Engine::SmallSettledBelow(uint64_t wseq) const {
  // A parked delete's journal entry is needed until the tier took its tombstone.
  for (const PendingTombstone& p : small_erases_) {
    if (p.wseq < wseq) return false;
  }
  return small_->SettledBelow(wseq);
}

void Engine::AfterSmallIo() {
  if (small_ == nullptr) return;
  small_->set_now(now_);
  // Parked deletes, oldest first, while the tier takes them.
  size_t done = 0;
  while (done < small_erases_.size()) {
    const PendingTombstone& p = small_erases_[done];
    const SmallTierWrite w = small_->Erase(p.key, util::HashKey(p.key), p.wseq);
    if (w.status == SmallTierStatus::kNoRoom) break;
    ++done;  // its journal entry was appended when it was parked
  }
  small_erases_.erase(small_erases_.begin(),
                      small_erases_.begin() + static_cast<std::ptrdiff_t>(done));
  if (small_checkpoint_wseq_ != 0 && SmallSettledBelow(small_checkpoint_wseq_)) {
    small_checkpoint_wseq_ = 0;
    CheckpointWriteDone(0);  // the tier's share of the checkpoint
  }
  if (small_room_wanted_ && small_erases_.empty()) {
    small_room_wanted_ = false;
    if (memory_listener_) memory_listener_();
  }
}

}  // namespace ssdcache::storage
