// SmallTier's set side: the merge of a move (newest wseq wins, tombstones and expired records go,
// eviction to fit), its completion, the void sets of failed writes, and the rebuild at a restart.
#include <algorithm>

#include "storage/item.h"
#include "storage/small_tier.h"
#include "storage/small_tier_cursor.h"
#include "util/hash.h"

namespace ssdcache::storage {

namespace {

constexpr uint32_t kSetCapacity = kSetBytes - sizeof(SetHeader);
constexpr uint32_t kNoSlot = UINT32_MAX;  // a record from the log: it has no hit bit yet
constexpr uint64_t kRebuildSets = 256;    // sets per synchronous read (1 MiB)

}  // namespace

void SmallTier::Merge(Move& m) {
  // The log's versions (tombstones too), oldest first. A record killed since the move started has
  // a newer version in the log, which stays there.
  const std::vector<SetRecord>& old = m.old;
  std::vector<uint32_t>& fresh = m.fresh;
  std::vector<SetRecord>& recs = m.recs;
  std::vector<uint64_t>& hashes = m.hashes;
  std::vector<uint32_t>& slots = m.slots;
  fresh.clear();
  recs.clear();
  hashes.clear();
  slots.clear();
  for (const uint32_t at : m.refs) {
    if ((log_.header(at).state & kLogLive) != 0) fresh.push_back(at);
  }
  for (size_t i = 0; i < old.size(); ++i) {
    const SetRecord& o = old[i];
    const bool superseded = std::any_of(fresh.begin(), fresh.end(), [&](uint32_t at) {
      return log_.header(at).wseq >= o.wseq && log_.View(at).key == o.key;
    });
    if (o.wseq < flushed_below_) ++stats_.flush_drops;  // flush_all
    if (superseded || Expired(o.exptime) || o.wseq < flushed_below_) continue;
    recs.push_back(o);
    // A fetch since the set's last write set the slot's hit bit, its fetched mark: the rewrite
    // clears the bits, so the mark goes into the record.
    if (i < options_.hit_bits && Bit(hits_, m.set * options_.hit_bits + i)) {
      recs.back().marks |= kMarkFetched;
    }
    hashes.push_back(util::HashKey(o.key));
    slots.push_back(static_cast<uint32_t>(i));
  }
  for (const uint32_t at : fresh) {
    const LogRecordHeader& h = log_.header(at);
    const SetRecord f = log_.View(at);
    const bool older = std::any_of(old.begin(), old.end(), [&](const SetRecord& o) {
      return o.wseq > f.wseq && o.key == f.key;
    });
    if ((h.state & kLogTomb) != 0 || older || Expired(f.exptime)) continue;
    recs.push_back(f);
    // A marks copy (the same version as the set's record) keeps that record's hit bit too.
    for (size_t i = 0; i < old.size() && i < options_.hit_bits; ++i) {
      if (old[i].wseq == f.wseq && old[i].key == f.key &&
          Bit(hits_, m.set * options_.hit_bits + i)) {
        recs.back().marks |= kMarkFetched;
      }
    }
    hashes.push_back(h.hash);
    slots.push_back(kNoSlot);
  }
  Evict(m.set, recs, hashes, slots);
  // Bytes stored: the log's records that are new to the set. A marks copy (Remark) of the
  // version the set holds is a rewrite for its marks, not a store (write amplification counts it
  // in the set writes only).
  m.new_bytes = 0;
  for (size_t i = 0; i < recs.size(); ++i) {
    if (slots[i] != kNoSlot) continue;
    const SetRecord& r = recs[i];
    const bool copy = std::any_of(old.begin(), old.end(), [&](const SetRecord& o) {
      return o.wseq == r.wseq && o.key == r.key;
    });
    if (!copy) m.new_bytes += r.key.size() + r.value.size();
  }
}

void SmallTier::Evict(uint64_t set, std::vector<SetRecord>& recs, std::vector<uint64_t>& hashes,
                      std::vector<uint32_t>& slots) {
  uint32_t bytes = 0;
  for (const SetRecord& r : recs) bytes += SetRecordBytes(r.key.size(), r.value.size());
  while (bytes > kSetCapacity) {
    // FIFO: the oldest record (old ones first, in set order, then the log's). Second chance: an
    // old record read since its set was written survives this rewrite if another can go.
    size_t victim = 0;
    if (options_.hit_bits > 0) {
      for (size_t i = 0; i < recs.size() && slots[i] != kNoSlot; ++i) {
        const bool hit =
            slots[i] < options_.hit_bits && Bit(hits_, set * options_.hit_bits + slots[i]);
        if (!hit) {
          victim = i;
          break;
        }
      }
    }
    bytes -= SetRecordBytes(recs[victim].key.size(), recs[victim].value.size());
    recs.erase(recs.begin() + static_cast<std::ptrdiff_t>(victim));
    hashes.erase(hashes.begin() + static_cast<std::ptrdiff_t>(victim));
    slots.erase(slots.begin() + static_cast<std::ptrdiff_t>(victim));
    ++stats_.evictions;
  }
}

void SmallTier::OnMoveWritten(Move& m, int64_t result) {
  const uint64_t lost = std::min(items_, m.old_count);
  items_ -= lost;
  CountSet(m.old, -1);
  if (result == kSetBytes) {
    filters_.Rebuild(m.set, m.hashes);
    ClearHits(m.set);
    if (Bit(void_, m.set)) {
      SetBit(void_, m.set, false);
      // Its floor goes with it: what its failed writes dropped can no longer come back.
      void_list_.erase(std::find_if(void_list_.begin(), void_list_.end(),
                                    [&](const VoidSet& v) { return v.set == m.set; }));
    }
    items_ += m.new_count;
    CountSet(m.recs, 1);
    ++stats_.set_writes;
    stats_.set_write_bytes += kSetBytes;
    stats_.stored_bytes += m.new_bytes;
  } else {
    // What the set holds now is unknown (old, torn, or new): it is void until rewritten, and
    // the records it carried (the log's and the set's) are lost. Their journal entries must
    // outlive the void set.
    ++stats_.write_errors;
    stats_.write_drops += m.new_count;
    MakeVoid(m.set, m.min_wseq);
  }
  if (!m.retry) void_credit_ = std::min(void_credit_ + 1, kVoidRetryMoves);
  FinishMove(m);
}

void SmallTier::FinishMove(Move& m) {
  BumpGen(m.set);  // the set's content changed (or is unknown: void)
  for (const uint32_t at : m.refs) log_.Release(at);
  m.refs.clear();
  m.busy = false;
  // Lookup reads of this set that were in flight may have read it before this write.
  for (Read* r : active_reads_) {
    if (r->set == m.set) r->stale = true;
  }
  for (SmallTierCursor* c : cursors_) c->OnSetWritten(m.set);
  Pump();
}

void SmallTier::MakeVoid(uint64_t set, uint64_t floor) {
  if (!Bit(void_, set)) {
    SetBit(void_, set, true);
    void_list_.push_back(VoidSet{static_cast<uint32_t>(set), 0, UINT64_MAX});
  }
  filters_.Clear(set);
  ClearHits(set);
  VoidSet& v = *std::find_if(void_list_.begin(), void_list_.end(),
                             [&](const VoidSet& e) { return e.set == set; });
  // A rewrite that carried no records (floor UINT64_MAX) keeps the floor of the writes before.
  v.floor = std::min(v.floor, floor);
  // A clean stop writes the set again (a bounded number of times): stopping with it void would
  // leave its older versions for a restart that has no journal.
  if (forced_ && ++v.fails < kForcedWrites) void_retry_.push_back(v.set);
}

bool SmallTier::SettledBelow(uint64_t wseq) const {
  for (const VoidSet& v : void_list_) {
    if (v.floor < wseq) return false;
  }
  return !log_.AnyUnsettledBelow(wseq);
}

uint64_t SmallTier::UnsettledFloor() const {
  uint64_t floor = log_.OldestWseq();
  for (const VoidSet& v : void_list_) floor = std::min(floor, v.floor);
  return floor;
}

SmallTierRebuild SmallTier::Rebuild(const SupersedeTest* superseded) {
  SmallTierRebuild out;
  std::fill(set_by_step_.begin(), set_by_step_.end(), 0);
  util::AlignedBuffer buf(kRebuildSets * kSetBytes, kSetBytes);
  for (uint64_t first = 0; first < options_.sets && out.ok; first += kRebuildSets) {
    const uint64_t n = std::min(kRebuildSets, options_.sets - first);
    const int64_t got = aio_.ReadSync(buf.data(), n * kSetBytes, options_.base + first * kSetBytes);
    if (got != static_cast<int64_t>(n * kSetBytes)) {
      out.ok = false;
      out.error = "small tier: cannot read sets at offset " +
                  std::to_string(options_.base + first * kSetBytes) +
                  (got < 0 ? " (errno " + std::to_string(-got) + ")" : " (device too small)");
      break;
    }
    for (uint64_t i = 0; i < n && out.ok; ++i) {
      RebuildSet(buf.data() + i * kSetBytes, first + i, superseded, out);
    }
  }
  if (out.ok && out.rewritten > 0 && aio_.Flush() != 0) {
    out.ok = false;
    out.error = "small tier: flushing rewritten sets failed";
  }
  items_ = out.items;
  newest_wseq_ = std::max(newest_wseq_, out.max_wseq);  // FlushBelow() compares with it
  return out;
}

bool SmallTier::RebuildSet(char* page, uint64_t set, const SupersedeTest* superseded,
                           SmallTierRebuild& out) {
  std::vector<SetRecord> recs;
  ClearHits(set);
  SetBit(void_, set, false);
  const SetCheck check = ReadSetPage(page, set, options_.epoch, recs);
  if (check != SetCheck::kOk) {
    ++(check == SetCheck::kBlank ? out.blank : out.corrupt);
    filters_.Clear(set);
    return true;
  }
  std::vector<SetRecord> keep;
  std::vector<uint64_t> hashes;
  for (const SetRecord& r : recs) {
    const uint64_t hash = util::HashKey(r.key);
    out.max_wseq = std::max(out.max_wseq, r.wseq);
    if (superseded != nullptr && superseded->Superseded(hash, r.wseq)) {
      ++out.superseded;
      continue;
    }
    keep.push_back(r);
    if (r.wseq < flushed_below_) {
      ++out.flushed;  // as an expired one: left in the set, out of the filter
    } else if (Expired(r.exptime)) {
      ++out.expired;  // left in the set (the next rewrite drops it), out of the filter
    } else {
      hashes.push_back(hash);
    }
  }
  // Expired records stay in the set until its next write, whose merge counts them out of items_.
  out.items += keep.size();
  CountSet(keep, 1);
  filters_.Rebuild(set, hashes);
  if (keep.size() == recs.size()) return true;
  // A newer version of a dropped record died with the log: the set is rewritten without it before
  // serving, so that the journal entry that superseded it may be reclaimed.
  util::AlignedBuffer scratch(kSetBytes, kSetBytes);
  SetPageWriter w(scratch.data(), set, options_.epoch);
  uint64_t wseq = 1;
  for (const SetRecord& r : keep) {
    w.Add(r);
    wseq = std::max(wseq, r.wseq);
  }
  w.Seal(wseq);
  if (aio_.WriteSync(scratch.data(), kSetBytes, options_.base + set * kSetBytes) != kSetBytes) {
    out.ok = false;
    out.error = "small tier: rewriting set " + std::to_string(set) + " failed";
    return false;
  }
  ++out.rewritten;
  return true;
}

SmallTierStats SmallTier::stats() const {
  SmallTierStats s = stats_;
  s.items = items_;
  s.sets = options_.sets;
  s.filter_bytes = filters_.bytes();
  s.log_bytes = log_.used_bytes();
  s.log_items = log_.live_records();
  s.log_tombstones = log_.live_tombstones();
  s.write_amplification =
      s.stored_bytes == 0 ? 0.0 : static_cast<double>(s.set_write_bytes) / s.stored_bytes;
  return s;
}

SmallTierDram SmallTier::Dram() const {
  SmallTierDram d;
  d.filters = filters_.bytes();
  d.hit_bits = hits_.size() * sizeof(uint64_t);
  d.void_bits = void_.size() * sizeof(uint64_t) + void_list_.capacity() * sizeof(VoidSet) +
                void_retry_.capacity() * sizeof(uint32_t);
  d.log = log_.capacity();
  d.log_index = log_.index_bytes();
  d.io =
      moves_.size() * (sizeof(Move) + 2 * kSetBytes) + reads_.size() * (sizeof(Read) + kSetBytes);
  // The moves' scratch, as large as the largest merge so far.
  for (const auto& m : moves_) {
    d.io += (m->old.capacity() + m->recs.capacity()) * sizeof(SetRecord) +
            (m->refs.capacity() + m->fresh.capacity() + m->slots.capacity()) * sizeof(uint32_t) +
            m->hashes.capacity() * sizeof(uint64_t);
  }
  d.io += lookup_recs_.capacity() * sizeof(SetRecord);
  d.rewrite_gens = gens_.size() * sizeof(uint16_t);
  d.size_counts = (set_by_step_.size() + log_.live_by_step().size()) * sizeof(uint64_t);
  return d;
}

void SmallTier::CountSet(const std::vector<SetRecord>& recs, int delta) {
  for (const SetRecord& r : recs) {
    uint64_t& n = set_by_step_[SizeStep(r.key.size() + r.value.size())];
    n = delta > 0 ? n + 1 : n - std::min<uint64_t>(n, 1);
  }
}

}  // namespace ssdcache::storage
