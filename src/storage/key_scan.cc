#include "storage/key_scan.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {

KeyScan::KeyScan(const ScanParts& parts, std::vector<bool> classes, ScanListener* listener)
    : p_(parts), classes_(std::move(classes)), listener_(listener) {
  hi_ = p_.table.next_seq();
  Snapshot();
}

void KeyScan::Snapshot() {
  // Disk slabs in device order (a sequential read of the device), then the slabs not placed yet.
  struct Target {
    uint64_t where;
    uint32_t id;
  };
  std::vector<Target> found;
  for (uint32_t id = 0; id < p_.table.size(); ++id) {
    const SlabInfo& s = p_.table[id];
    if (s.state == SlabState::kFree || s.seq < lo_ || s.seq >= hi_) continue;
    if (!classes_.empty() && (s.cls >= classes_.size() || !classes_[s.cls])) continue;
    const bool placed =
        s.state == SlabState::kDisk || (s.state == SlabState::kFlushing && s.placed);
    found.push_back(
        {placed ? uint64_t{s.disk} << 32 | s.disk_off : std::numeric_limits<uint64_t>::max(), id});
  }
  std::sort(found.begin(), found.end(),
            [](const Target& a, const Target& b) { return a.where < b.where; });
  targets_.clear();
  targets_.reserve(found.size());
  for (const Target& t : found) targets_.push_back(t.id);
  cursor_ = 0;
  next_chunk_ = 0;
}

bool KeyScan::Still(uint32_t id) const {
  // Seqs are unique and those below hi_ were all handed out when the snapshot was taken: a live
  // slab of this id in [lo_, hi_) is the one the snapshot saw (a reused id has a larger seq).
  const SlabInfo& s = p_.table[id];
  return s.state != SlabState::kFree && s.seq >= lo_ && s.seq < hi_;
}

void KeyScan::Advance() {
  ++cursor_;
  next_chunk_ = 0;
}

KeyScan::Step KeyScan::Pump(ScanSink& sink) {
  size_t budget = kChunksPerPump;
  for (Window& w : windows_) {
    if (w.done && !DrainWindow(w, sink, budget)) return Step::kMore;
  }
  std::erase_if(windows_, [this](Window& w) {
    if (!w.done) return false;
    Release(w);
    return true;
  });
  while (budget > 0) {
    if (phase_ == 2) return PumpTier(sink, budget);
    if (cursor_ == targets_.size()) {
      if (!windows_.empty()) return Step::kWaiting;
      if (phase_ == 1) {
        // The slabs are done: the small-object tier's keys.
        phase_ = 2;
        if (p_.small != nullptr && ListsTierClasses()) {
          SmallTierCursorListener* self = this;
          tier_ = std::make_unique<SmallTierCursor>(*p_.small, self);
        }
        continue;
      }
      // The slabs opened while phase 0 ran: a key overwritten meanwhile is listed from there.
      phase_ = 1;
      lo_ = hi_;
      hi_ = p_.table.next_seq();
      Snapshot();
      continue;
    }
    const uint32_t id = targets_[cursor_];
    if (!Still(id)) {
      Advance();
      continue;
    }
    if (InDram(p_.table[id])) {
      if (!VisitDram(id, sink, budget)) return Step::kMore;
      Advance();
      continue;
    }
    if (windows_.size() >= kMaxReads || (!windows_.empty() && bytes_in_flight_ >= kMaxReadBytes)) {
      return Step::kWaiting;
    }
    if (!StartWindow(id)) Advance();  // no read buffer: the rest of the slab is skipped
  }
  return Step::kMore;
}

bool KeyScan::VisitDram(uint32_t id, ScanSink& sink, size_t& budget) {
  const SlabInfo& s = p_.table[id];
  for (; next_chunk_ < s.used; ++next_chunk_) {
    if (budget == 0) return false;
    --budget;
    ItemView v;
    const char* chunk = p_.buffers.data(s.mem) + p_.layouts[s.cls].offset(next_chunk_);
    if (!DecodeItemTrusted(chunk, v)) continue;  // voided
    if (!Offer(id, next_chunk_, s.cls, v, sink)) return false;
  }
  return true;
}

bool KeyScan::StartWindow(uint32_t id) {
  const SlabInfo& s = p_.table[id];
  const uint32_t per_window = std::max<uint32_t>(1, kWindowBytes / p_.classes.chunk_size(s.cls));
  const uint32_t c0 = next_chunk_;
  const uint32_t c1 = std::min(s.used, c0 + per_window);
  if (c0 >= c1) return false;  // nothing (left) in it
  const DiskPlacement::Range range = p_.placement.ChunkRange(s, p_.layouts[s.cls], c0, c1);
  ReadOp* r = p_.reads.Start(range.start, range.end, range.skip, static_cast<uint32_t>(s.seq),
                             IndexEntry{id, c0}, {}, 0);
  if (r == nullptr) {
    ++read_errors_;
    return false;
  }
  r->kind = ReadOp::Kind::kScan;
  r->scan = this;
  windows_.push_back({r, id, s.seq, c0, c1, c0, 0, false});
  bytes_in_flight_ += r->io.len;
  next_chunk_ = c1;
  if (next_chunk_ >= s.used) Advance();
  return true;
}

void KeyScan::OnRead(ReadOp* r, int64_t result) {
  auto it =
      std::find_if(windows_.begin(), windows_.end(), [r](const Window& w) { return w.op == r; });
  if (it == windows_.end()) return;  // not ours: cannot happen
  it->done = true;
  it->result = result;
  bytes_in_flight_ -= std::min(bytes_in_flight_, r->io.len);
  if (closed_) {
    Release(*it);
    windows_.erase(it);
    return;
  }
  if (listener_ != nullptr) listener_->OnScanReady();
}

bool KeyScan::DrainWindow(Window& w, ScanSink& sink, size_t& budget) {
  const SlabInfo& s = p_.table[w.id];
  const ReadOp& r = *w.op;
  if (w.result < 0 || static_cast<uint64_t>(w.result) != r.io.len) {
    if (w.next == w.c0) ++read_errors_;
    w.next = w.c1;
    return true;
  }
  // Evicted since (its disk slab may be rewritten already): none of its records is current.
  if (s.state == SlabState::kFree || s.seq != w.seq) {
    w.next = w.c1;
    return true;
  }
  const ChunkLayout& layout = p_.layouts[s.cls];
  const size_t avail = r.io.len - r.skip;
  for (; w.next < w.c1; ++w.next) {
    const uint64_t at = layout.offset(w.next) - layout.offset(w.c0);
    if (at >= avail) break;
    if (budget == 0) return false;
    --budget;
    ItemView v;
    if (!VerifyItem(r.buf + r.skip + at, avail - at, static_cast<uint32_t>(w.seq), v)) continue;
    if (!Offer(w.id, w.next, s.cls, v, sink)) return false;
  }
  w.next = w.c1;
  return true;
}

bool KeyScan::Offer(uint32_t id, uint32_t chunk, uint8_t cls, const ItemView& v, ScanSink& sink) {
  if (v.tombstone || (v.exptime != 0 && v.exptime <= p_.now)) return true;
  const uint64_t hash = util::HashKey(v.key);
  const std::optional<IndexEntry> at = p_.index.FindAt(hash, id, chunk);
  if (!at) return true;  // an older version, or deleted
  ScanRecord rec;
  rec.key = v.key;
  rec.exptime = v.exptime;
  const uint32_t accessed = p_.access.Get(hash);
  rec.last_access = accessed != 0 ? accessed : v.stored_at;
  rec.cas = v.cas;
  rec.nvalue = static_cast<uint32_t>(v.value.size());
  rec.size = ItemSize(v.key.size(), v.value.size());
  rec.cls = cls;
  rec.fetched = at->fetched;
  return sink.Take(rec);
}

KeyScan::Step KeyScan::PumpTier(ScanSink& sink, size_t& budget) {
  if (tier_ == nullptr) return Step::kDone;
  while (budget > 0) {
    if (tier_next_ == tier_batch_.size()) {
      tier_batch_.clear();
      tier_next_ = 0;
      const SmallTierCursor::Step step = tier_->Next(tier_batch_, kTierBatch);
      // A call may visit up to kSetsPerCall sets (those needing no read): 8 calls per Pump().
      budget -= std::min(budget, kChunksPerPump / 8);
      if (tier_batch_.empty()) {
        if (step == SmallTierCursor::Step::kDone) return Step::kDone;
        if (step == SmallTierCursor::Step::kWaiting) return Step::kWaiting;
        continue;
      }
    }
    for (; tier_next_ < tier_batch_.size(); ++tier_next_) {
      if (budget == 0) return Step::kMore;
      --budget;
      if (!OfferTier(tier_batch_[tier_next_], sink)) return Step::kMore;
    }
  }
  return Step::kMore;
}

bool KeyScan::ListsTierClasses() const {
  // Tier items take the classes up to that of the largest record a set holds.
  const int last = p_.classes.ClassFor(ItemSize(0, kSetMaxPayload));
  if (classes_.empty() || last < 0) return true;
  for (size_t c = 0; c <= static_cast<size_t>(last) && c < classes_.size(); ++c) {
    if (classes_[c]) return true;
  }
  return false;
}

bool KeyScan::OfferTier(const SmallTierListed& l, ScanSink& sink) {
  // The cursor hid tombstones, older versions, expired and flushed records.
  const uint32_t size = ItemSize(l.key.size(), l.nvalue);
  const int cls = p_.classes.ClassFor(size);
  if (cls < 0) return true;  // larger than any class: --small-max keeps tier items far below
  if (!classes_.empty() && (static_cast<size_t>(cls) >= classes_.size() || !classes_[cls])) {
    return true;
  }
  if (p_.small_hidden && p_.small_hidden(l.key)) return true;
  ScanRecord rec;
  rec.key = l.key;
  rec.exptime = l.exptime;
  const uint32_t accessed = p_.access.Get(util::HashKey(l.key));
  rec.last_access = accessed != 0 ? accessed : l.stored_at;
  rec.cas = l.cas;
  rec.nvalue = l.nvalue;
  rec.size = size;
  rec.cls = static_cast<uint8_t>(cls);
  rec.fetched = l.fetched || (l.marks & kMarkFetched) != 0;  // its hit bit, or the mark
  return sink.Take(rec);
}

void KeyScan::OnSmallCursorReady() {
  if (listener_ != nullptr) listener_->OnScanReady();
}

void KeyScan::Release(Window& w) {
  p_.reads.Put(w.op);
  w.op = nullptr;
}

void KeyScan::Close() {
  closed_ = true;
  listener_ = nullptr;
  std::erase_if(windows_, [this](Window& w) {
    if (!w.done) return false;
    Release(w);
    return true;
  });
  targets_ = {};
  if (tier_ != nullptr) tier_->Close();  // its reads in flight complete into it: idle() waits
  tier_batch_ = {};
  tier_next_ = 0;
}

// The engine's side: it owns the scans and frees a closed one once its reads completed.
KeyScan* Engine::OpenScan(std::vector<bool> classes, ScanListener* listener) {
  ReapScans();
  if (scans_open() >= kMaxScans) return nullptr;
  const ScanParts parts{.table = table_,
                        .classes = classes_,
                        .layouts = layouts_,
                        .buffers = buffers_,
                        .index = *index_,
                        .access = access_,
                        .placement = placement_,
                        .now = now_,
                        .reads = reads_,
                        .small = small_.get(),
                        .small_hidden = [this](std::string_view key) {
                          return std::any_of(
                              small_erases_.begin(), small_erases_.end(),
                              [key](const PendingTombstone& p) { return p.key == key; });
                        }};
  scans_.push_back(std::make_unique<KeyScan>(parts, std::move(classes), listener));
  return scans_.back().get();
}

void Engine::CloseScan(KeyScan* scan) {
  scan->Close();
  ReapScans();
}

size_t Engine::scans_open() const {
  return static_cast<size_t>(
      std::count_if(scans_.begin(), scans_.end(), [](const auto& s) { return !s->closed(); }));
}

void Engine::ReapScans() {
  std::erase_if(scans_, [](const auto& s) { return s->closed() && s->idle(); });
}

}  // namespace ssdcache::storage
