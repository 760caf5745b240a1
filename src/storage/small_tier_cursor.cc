#include "storage/small_tier_cursor.h"

#include <algorithm>
#include <utility>

namespace ssdcache::storage {

SmallTierCursor::SmallTierCursor(SmallTier& tier, SmallTierCursorListener* listener)
    : tier_(tier), listener_(listener) {
  for (size_t i = 0; i < kMaxReads; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    slots_.back()->io.handler = this;
    slots_.back()->io.user = i;
  }
  tier_.cursors_.push_back(this);
}

SmallTierCursor::~SmallTierCursor() { std::erase(tier_.cursors_, this); }

bool SmallTierCursor::idle() const {
  return std::none_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->reading; });
}

void SmallTierCursor::Close() {
  closed_ = true;
  listener_ = nullptr;
  order_.clear();
  for (const auto& s : slots_) {
    s->listed.clear();
    s->ready = false;
  }
}

void SmallTierCursor::OnSetWritten(uint64_t set) {
  for (Slot* s : order_) {
    if (s->set != set || s->ready) continue;
    if (s->reading) {
      s->stale = true;  // it may have read the set before this write: read it again
    } else {
      Start(*s, set);  // it waited for this write (a torn read)
      if (s->ready && listener_ != nullptr) listener_->OnSmallCursorReady();
    }
  }
}

void SmallTierCursor::Start(Slot& s, uint64_t set) {
  s.set = set;
  s.stale = false;
  s.ready = false;
  if (NeedsNoRead(set)) {
    recs_.clear();
    List(s, recs_);
    return;
  }
  s.tries = 0;
  Read(s);
}

bool SmallTierCursor::NeedsNoRead(uint64_t set) const {
  // A void set's content is unknown and an empty filter's set holds no live key: the log's
  // records are all there is (a move in flight keeps its records in the log until its write
  // completed).
  return tier_.Bit(tier_.void_, set) || tier_.filters_.Empty(set);
}

void SmallTierCursor::Read(Slot& s) {
  ++sets_read_;
  s.reading = true;
  s.io.buf = s.page.data();
  s.io.len = kSetBytes;
  s.io.offset = tier_.options_.base + s.set * kSetBytes;
  tier_.aio_.Read(s.io);
}

void SmallTierCursor::OnIoComplete(IoOp& op, int64_t result) {
  Slot& s = *slots_[op.user];
  s.reading = false;
  if (closed_) return;
  if (s.stale) {
    Start(s, s.set);  // a write of the set completed meanwhile: what was read may be older
  } else if (result != kSetBytes) {
    ++read_errors_;
    if (++s.tries < kReadTries) {
      Read(s);
    } else {
      recs_.clear();  // the set is skipped: its log records alone
      List(s, recs_);
    }
  } else {
    recs_.clear();
    const SetCheck check = ReadSetPage(s.page.data(), s.set, tier_.options_.epoch, recs_);
    if (check == SetCheck::kCorrupt && tier_.SetBusy(s.set)) {
      return;  // torn by a write in flight: OnSetWritten() starts it again
    }
    if (check == SetCheck::kCorrupt) ++corrupt_sets_;  // read as empty, as lookups do
    List(s, recs_);
  }
  if (s.ready && listener_ != nullptr) listener_->OnSmallCursorReady();
}

SmallTierListed& SmallTierCursor::Add(Slot& s, const SetRecord& r) {
  SmallTierListed& l = s.listed.emplace_back();
  l.key.assign(r.key);
  l.nvalue = static_cast<uint32_t>(r.value.size());
  l.flags = r.flags;
  l.exptime = r.exptime;
  l.stored_at = r.stored_at;
  l.cas = r.cas;
  l.wseq = r.wseq;
  l.marks = r.marks;
  return l;
}

void SmallTierCursor::List(Slot& s, const std::vector<SetRecord>& recs) {
  const SmallLog& log = tier_.log_;
  const uint32_t hit_bits = tier_.options_.hit_bits;
  const bool busy = tier_.SetBusy(s.set);
  s.listed.clear();
  s.taken = 0;
  auto newer_in_set = [&](std::string_view key, uint64_t wseq, size_t self) {
    for (size_t j = 0; j < recs.size(); ++j) {
      if (j != self && recs[j].wseq > wseq && recs[j].key == key) return true;
    }
    return false;
  };
  for (size_t i = 0; i < recs.size(); ++i) {
    const SetRecord& r = recs[i];
    // Below flush_all's floor, a record is gone (as for lookups).
    if (r.wseq < tier_.flushed_below_ || tier_.Expired(r.exptime) || newer_in_set(r.key, r.wseq, i))
      continue;
    // The log's version (a tombstone too) of the key, if as new, hides it.
    bool hidden = false;
    log.ForSet(static_cast<uint32_t>(s.set), [&](uint32_t at) {
      hidden = hidden || (log.header(at).wseq >= r.wseq && log.View(at).key == r.key);
    });
    if (hidden) continue;
    SmallTierListed& l = Add(s, r);
    // The hit bits describe the set as its last completed write left it: with a move of it in
    // flight, the page read may already be the move's (its slots another order), so none.
    l.fetched = i < hit_bits && !busy && tier_.Bit(tier_.hits_, s.set * hit_bits + i);
  }
  log.ForSet(static_cast<uint32_t>(s.set), [&](uint32_t at) {
    const LogRecordHeader& h = log.header(at);
    const SetRecord r = log.View(at);
    if ((h.state & kLogTomb) != 0 || r.wseq < tier_.flushed_below_ || tier_.Expired(r.exptime))
      return;
    if (newer_in_set(r.key, r.wseq, recs.size())) return;  // the set's is newer
    Add(s, r).in_log = true;
  });
  s.ready = true;
}

SmallTierCursor::Step SmallTierCursor::Next(std::vector<SmallTierListed>& out, size_t max) {
  if (closed_) return Step::kDone;
  size_t given = 0;
  size_t visited = 0;
  while (true) {
    while (!order_.empty() && order_.front()->ready) {
      Slot& s = *order_.front();
      for (; s.taken < s.listed.size(); ++s.taken) {
        if (given == max) return Step::kMore;
        out.push_back(std::move(s.listed[s.taken]));
        ++given;
      }
      s.ready = false;
      order_.erase(order_.begin());
    }
    if (next_set_ == tier_.options_.sets) break;
    if (visited == kSetsPerCall) return Step::kMore;
    auto free = std::find_if(slots_.begin(), slots_.end(), [this](const auto& s) {
      return !s->reading && std::find(order_.begin(), order_.end(), s.get()) == order_.end();
    });
    if (free == slots_.end()) break;
    ++visited;
    order_.push_back(free->get());
    Start(**free, next_set_++);
  }
  return order_.empty() ? Step::kDone : Step::kWaiting;
}

}  // namespace ssdcache::storage
