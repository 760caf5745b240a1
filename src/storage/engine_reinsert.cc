// Engine, part four: reinsertion at eviction (the policy and budget are the Reinsertion part,
// reinsertion.h). The next slab to be evicted is read in one asynchronous read as soon as the
// slab before it is evicted; when the read lands, every record the index still points at (the
// version a client would be served), unexpired and read since it was placed there (the entry's
// hit bit), is copied into a memory slab within the budget, keeping its wseq, cas, flags,
// exptime, store time and stale mark (docs/design.md, "Reinsertion").
#include <optional>

#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {

void Engine::PumpReinsertion() {
  // Only once the next disk slab will have to come from an eviction: not while the device
  // still has room (the copy would be made long before it is needed).
  if (!reinsert_.enabled() || reinsert_.reading() || table_.disks_free() > 2) return;
  const std::optional<SlabRef> c = policy_->Candidate();
  if (!c || !reinsert_.Want(*c)) return;
  const SlabInfo& s = table_[c->id];
  // Still being written (a completion pumps again), died, or nothing read there to save (a
  // write stream reads nothing back).
  if (s.seq != c->seq || s.state != SlabState::kDisk || s.live == 0 || s.used == 0 || s.hits == 0) {
    return;
  }
  const DiskPlacement::Range range = placement_.ChunkRange(s, layouts_[s.cls], 0, s.used);
  ReadOp* r = reads_.Start(range.start, range.end, range.skip, static_cast<uint32_t>(s.seq),
                           IndexEntry{c->id, 0, 0}, {}, 0);
  if (r == nullptr) return;
  r->kind = ReadOp::Kind::kReinsert;
  r->token = s.seq;
  reinsert_.Reading(*c);
  ++stats_.reinsert_reads;
}

void Engine::FinishReinsertRead(ReadOp* r, int64_t result) {
  const uint32_t id = r->where.slab;
  const uint64_t seq = r->token;
  const bool victim = reinsert_.Landed(seq);
  const SlabInfo& s = table_[id];
  if (victim && reinsert_.enabled() && s.seq == seq && s.state == SlabState::kDisk) {
    if (result == static_cast<int64_t>(r->io.len)) {
      CopyForward(id, *r);
    } else {
      ++stats_.read_errors;  // its items are dropped with the slab, as without reinsertion
    }
  }
  reads_.Put(r);
  PumpReinsertion();
}

void Engine::CopyForward(uint32_t id, const ReadOp& r) {
  const SlabInfo& s = table_[id];
  const uint64_t seq = s.seq;
  const ChunkLayout& layout = layouts_[s.cls];
  const uint32_t chunk_size = classes_.chunk_size(s.cls);
  const uint64_t base = layout.offset(0);
  for (uint32_t c = 0; c < s.used; ++c) {
    // A copy that filled a memory slab may have evicted the victim: what is left is dropped.
    if (s.seq != seq || s.state != SlabState::kDisk) return;
    const uint64_t at = r.skip + layout.offset(c) - base;
    ItemView v;
    if (at >= r.io.len || !VerifyItem(r.buf + at, r.io.len - at, r.seq32, v) || v.tombstone) {
      continue;
    }
    if (v.exptime != 0 && v.exptime <= now_) continue;
    const uint64_t hash = util::HashKey(v.key);
    // Only the version the index points at: a delete or overwrite that came while the read was
    // in flight moved or removed the entry, and wins.
    const std::optional<IndexEntry> cur = index_->FindAt(hash, id, c);
    if (!cur) continue;
    // A change still waiting for its journal commit may be undone, and the undo finds it by its
    // location: it is not moved.
    if (journal_ != nullptr && journal_->Uncommitted(hash)) continue;
    const Reinsertion::Verdict verdict = reinsert_.Judge(cur->hit, chunk_size);
    if (verdict == Reinsertion::Verdict::kCold) continue;
    if (verdict == Reinsertion::Verdict::kBudget) {
      ++stats_.reinsert_skipped_budget;
      continue;
    }
    // Marked, since its original may still be found on the device (see Supersede).
    if (!CopyRecord(hash, *cur, v, kMarkReinserted)) {
      ++stats_.reinsert_skipped_memory;
      return;  // no memory slab to copy into: the rest goes with the victim
    }
    ++stats_.reinserted_items;
    stats_.reinserted_bytes += chunk_size;
    last_reinserted_hash_ = hash;
  }
}

bool Engine::CopyRecord(uint64_t hash, const IndexEntry& at, const ItemView& v, uint8_t marks) {
  const int cls = classes_.ClassFor(ItemSize(v.key.size(), v.value.size()));
  // A copy never makes a store wait: only an open slab with room or a free buffer takes it.
  const int64_t open = open_[cls];
  if ((open < 0 || table_[open].used == layouts_[cls].count()) && !HasBuffer()) return false;
  const uint64_t victim_seq = table_[at.slab].seq;
  const int64_t id = OpenSlabFor(static_cast<uint8_t>(cls));
  if (id < 0) return false;
  // Opening it may have sealed a full slab, and placing that one evicted the victim.
  if (!table_.IsLive(at.slab) || table_[at.slab].seq != victim_seq) return false;
  SlabInfo& s = table_[id];
  const uint32_t chunk = s.used++;
  marks |= v.stale ? kMarkStale : 0;
  // The same version: its wseq and cas, so every later version or delete (a larger wseq, or a
  // journal entry naming one) supersedes the copy and the original alike.
  WriteItem(ChunkInMemory(s, chunk), v.key, v.value, {}, v.flags, v.exptime, v.cas,
            static_cast<uint32_t>(s.seq), v.wseq, kKindItem, v.stored_at, marks);
  IndexEntry e{static_cast<uint32_t>(id), chunk, Index::CoarseExpiry(v.exptime, now_)};
  e.fetched = at.fetched;
  e.token_sent = at.token_sent;
  index_->Upsert(hash, e);  // replaces `at`: same tag and bucket pair
  DropEntry(at);
  ++s.live;
  ++gauges_.curr_items;
  gauges_.bytes += classes_.chunk_size(s.cls);
  if (s.used == layouts_[s.cls].count()) SlabFilled(static_cast<uint32_t>(id));
  return true;
}

std::optional<uint32_t> Engine::reinsert_victim() const {
  if (!reinsert_.reading()) return std::nullopt;
  return table_.IdOf(reinsert_.victim_seq());
}

bool Engine::IsReinsertedCopy(const SlabInfo& s, uint32_t chunk) {
  ItemView v;
  return DecodeItemTrusted(ChunkInMemory(s, chunk), v) && v.reinserted;
}

}  // namespace ssdcache::storage
