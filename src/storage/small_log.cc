#include "storage/small_log.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace ssdcache::storage {

SmallLog::SmallLog(size_t bytes) : ring_((std::max<size_t>(bytes, 64 << 10) + 7) & ~size_t{7}) {
  const size_t buckets = std::bit_ceil(std::max<size_t>(64, ring_.size() / 256));
  heads_.assign(buckets, kLogNil);
  mask_ = static_cast<uint32_t>(buckets - 1);
}

uint64_t SmallLog::Footprint(uint32_t bytes) const {
  const uint64_t to_end = ring_.size() - Phys(head_);
  return bytes <= to_end ? bytes : to_end + bytes;
}

bool SmallLog::HasRoom(uint32_t record_bytes, size_t keep_free) const {
  return used_bytes() + Footprint(record_bytes) + keep_free <= ring_.size();
}

uint32_t SmallLog::Append(const SetRecord& r, uint64_t hash, uint32_t set, bool tomb,
                          size_t keep_free) {
  const std::string_view value = tomb ? std::string_view() : r.value;
  const uint32_t bytes = RecordBytes(r.key.size(), value.size());
  if (!HasRoom(bytes, keep_free)) {
    Reclaim();
    if (!HasRoom(bytes, keep_free)) return kLogNil;
  }
  const uint64_t to_end = ring_.size() - Phys(head_);
  if (bytes > to_end) {
    // The record would wrap: a pad (when a header fits) fills the end of the ring.
    if (to_end >= sizeof(LogRecordHeader)) {
      LogRecordHeader pad{};
      pad.state = kLogPad;
      std::memcpy(ring_.data() + Phys(head_), &pad, sizeof(pad));
    }
    head_ += to_end;
  }
  const uint32_t at = Phys(head_);
  LogRecordHeader h{};
  h.hash = hash;
  h.wseq = r.wseq;
  h.cas = r.cas;
  h.set = set;
  h.flags = r.flags;
  h.exptime = r.exptime;
  h.stored_at = r.stored_at;
  h.nvalue = static_cast<uint16_t>(value.size());
  h.nkey = static_cast<uint8_t>(r.key.size());
  h.marks = r.marks;
  h.state = static_cast<uint8_t>(kLogLive | (tomb ? kLogTomb : 0));
  h.next = heads_[set & mask_];
  std::memcpy(ring_.data() + at, &h, sizeof(h));
  std::memcpy(ring_.data() + at + sizeof(h), r.key.data(), r.key.size());
  if (!value.empty())
    std::memcpy(ring_.data() + at + sizeof(h) + r.key.size(), value.data(), value.size());
  heads_[set & mask_] = at;
  head_ += bytes;
  live_bytes_ += bytes;
  ++live_records_;
  Count(h, 1);
  return at;
}

bool SmallLog::Matches(uint32_t at, std::string_view key, uint64_t hash) const {
  const LogRecordHeader& h = header(at);
  return h.hash == hash && h.nkey == key.size() &&
         std::memcmp(ring_.data() + at + sizeof(h), key.data(), key.size()) == 0;
}

uint32_t SmallLog::Find(std::string_view key, uint64_t hash, uint32_t set) const {
  for (uint32_t at = heads_[set & mask_]; at != kLogNil; at = header(at).next) {
    if (header(at).set == set && Matches(at, key, hash)) return at;
  }
  return kLogNil;
}

SetRecord SmallLog::View(uint32_t at) const {
  const LogRecordHeader& h = header(at);
  SetRecord r;
  r.key = std::string_view(ring_.data() + at + sizeof(h), h.nkey);
  r.value = std::string_view(ring_.data() + at + sizeof(h) + h.nkey, h.nvalue);
  r.flags = h.flags;
  r.exptime = h.exptime;
  r.stored_at = h.stored_at;
  r.cas = h.cas;
  r.wseq = h.wseq;
  r.marks = h.marks;
  return r;
}

void SmallLog::Unlink(uint32_t at) {
  uint32_t* link = &heads_[header(at).set & mask_];
  while (*link != at) link = &mut(*link).next;
  *link = header(at).next;
}

void SmallLog::Kill(uint32_t at) {
  LogRecordHeader& h = mut(at);
  if ((h.state & kLogLive) == 0) return;
  Unlink(at);
  h.state &= static_cast<uint8_t>(~kLogLive);
  live_bytes_ -= RecordBytes(h.nkey, h.nvalue);
  --live_records_;
  Count(h, -1);
  Reclaim();
}

void SmallLog::Count(const LogRecordHeader& h, int delta) {
  if ((h.state & kLogSettled) != 0) return;  // a copy of its set's record, counted there
  uint64_t& n =
      (h.state & kLogTomb) != 0 ? live_tombs_ : live_by_step_[SizeStep(h.nkey + h.nvalue)];
  n += static_cast<uint64_t>(static_cast<int64_t>(delta));
}

void SmallLog::SetMoving(uint32_t at) {
  LogRecordHeader& h = mut(at);
  h.state |= kLogMoving;
  moving_bytes_ += RecordBytes(h.nkey, h.nvalue);
}

void SmallLog::Release(uint32_t at) {
  Kill(at);
  LogRecordHeader& h = mut(at);
  h.state &= static_cast<uint8_t>(~kLogMoving);
  moving_bytes_ -= RecordBytes(h.nkey, h.nvalue);
  Reclaim();
}

uint64_t SmallLog::KillBelow(uint64_t wseq) {
  uint64_t killed = 0;
  for (uint32_t& head : heads_) {
    for (uint32_t* link = &head; *link != kLogNil;) {
      LogRecordHeader& h = mut(*link);
      if (h.wseq >= wseq) {
        link = &h.next;
        continue;
      }
      *link = h.next;  // unlinked as Kill() does, without walking the chain again
      h.state &= static_cast<uint8_t>(~kLogLive);
      live_bytes_ -= RecordBytes(h.nkey, h.nvalue);
      --live_records_;
      Count(h, -1);
      ++killed;
    }
  }
  Reclaim();
  return killed;
}

uint64_t SmallLog::Next(uint64_t pos) const {
  const uint64_t to_end = ring_.size() - Phys(pos);
  if (to_end < sizeof(LogRecordHeader)) return pos + to_end;
  const LogRecordHeader& h = header(Phys(pos));
  if (h.state == kLogPad) return pos + to_end;
  return pos + RecordBytes(h.nkey, h.nvalue);
}

// A position is a record's start unless it is a short end of the ring or a pad.
void SmallLog::Reclaim() {
  while (tail_ < head_) {
    const uint64_t to_end = ring_.size() - Phys(tail_);
    if (to_end >= sizeof(LogRecordHeader)) {
      const uint8_t state = header(Phys(tail_)).state;
      if (state != kLogPad && (state & (kLogLive | kLogMoving)) != 0) break;
    }
    tail_ = Next(tail_);
  }
  if (tail_ == head_) {
    // Empty: start over at the beginning of the ring, so the next appends need no pad.
    head_ = tail_ = cursor_ = 0;
  }
}

uint32_t SmallLog::OldestUnmoved() {
  Reclaim();
  uint64_t pos = std::max(cursor_, tail_);
  for (; pos < head_; pos = Next(pos)) {
    const uint64_t to_end = ring_.size() - Phys(pos);
    if (to_end < sizeof(LogRecordHeader)) continue;
    const uint8_t state = header(Phys(pos)).state;
    if (state != kLogPad && (state & (kLogLive | kLogMoving)) == kLogLive) break;
  }
  cursor_ = pos;
  return pos < head_ ? Phys(pos) : kLogNil;
}

bool SmallLog::Unsettled(uint64_t pos) const {
  if (ring_.size() - Phys(pos) < sizeof(LogRecordHeader)) return false;  // a short end
  const LogRecordHeader& h = header(Phys(pos));
  return h.state != kLogPad && (h.state & (kLogLive | kLogMoving)) != 0 &&
         (h.state & kLogSettled) == 0;
}

uint64_t SmallLog::OldestWseq() const {
  uint64_t oldest = UINT64_MAX;
  for (uint64_t pos = tail_; pos < head_; pos = Next(pos)) {
    if (Unsettled(pos)) oldest = std::min(oldest, header(Phys(pos)).wseq);
  }
  return oldest;
}

bool SmallLog::AnyUnsettledBelow(uint64_t wseq) const {
  for (uint64_t pos = tail_; pos < head_; pos = Next(pos)) {
    if (Unsettled(pos) && header(Phys(pos)).wseq < wseq) return true;
  }
  return false;
}

}  // namespace ssdcache::storage
