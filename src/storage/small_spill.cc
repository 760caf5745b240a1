#include "storage/small_spill.h"

#include <bit>
#include <cassert>

#include "util/hash.h"

namespace ssdcache::storage {

bool SpillOptions::Validate(std::string& error) const {
  if (base % kSpillPage != 0) {
    error = "small spill: base must be 4 KiB aligned";
  } else if (segment_bytes % kSpillPage != 0 || segment_bytes < (16u << 10) ||
             segment_bytes > (16u << 20)) {
    error = "small spill: segment_bytes must be a multiple of 4 KiB from 16 KiB to 16 MiB";
  } else if (max_writes < 1 || segments <= max_writes) {
    error = "small spill: max_writes >= 1 and more segments than max_writes";
  } else if (segments * (segment_bytes / kSpillPage) > kSpillNil) {
    error = "small spill: at most 2^32 - 1 pages";
  } else {
    return true;
  }
  return false;
}

SmallSpill::SmallSpill(IoBackend& aio, const SpillOptions& options, SpillListener* listener)
    : aio_(aio),
      options_(options),
      listener_(listener),
      pages_per_segment_(options.segment_bytes / kSpillPage),
      seq_(options.segments, UINT64_MAX),
      live_(options.segments, 0) {
  for (uint32_t i = 0; i <= options_.max_writes; ++i) {
    auto w = std::make_unique<Write>();
    w->buf = util::AlignedBuffer(options_.segment_bytes, kSpillPage);
    w->io.handler = this;
    w->io.user = i;
    buffers_.push_back(std::move(w));
  }
  // A bucket per two records of ~170 bytes the ring can hold (a power of two).
  const uint64_t records = options_.segments * options_.segment_bytes / 170;
  const size_t buckets = std::bit_ceil(std::max<uint64_t>(64, records / 2));
  heads_.assign(buckets, kSpillNil);
  mask_ = static_cast<uint32_t>(buckets - 1);
  OpenSegment();
}

uint32_t SmallSpill::Seed() const {
  return static_cast<uint32_t>(options_.epoch ^ (options_.epoch >> 32));
}

void SmallSpill::OpenSegment() {
  open_ = buffers_[open_idx_]->buf.data();
  std::memset(open_, 0, options_.segment_bytes);
  open_page_ = 0;
  open_used_ = sizeof(SpillSegmentHeader);
  open_records_ = 0;
}

bool SmallSpill::Fits(size_t nkey, size_t nvalue) const {
  const uint32_t bytes = RecordBytes(nkey, nvalue);
  if (nkey == 0 || nkey > 255 || bytes > kSpillPage) return false;
  if (open_used_ + bytes <= kSpillPage) return true;
  return open_page_ + 1 < pages_per_segment_;
}

SpillRef SmallSpill::Pack(const SetRecord& r, uint64_t hash, uint32_t set, bool tomb) {
  assert(Fits(r.key.size(), tomb ? 0 : r.value.size()));
  const std::string_view value = tomb ? std::string_view() : r.value;
  const uint32_t bytes = RecordBytes(r.key.size(), value.size());
  if (open_used_ + bytes > kSpillPage) {  // Fits() said the next page takes it
    ++open_page_;
    open_used_ = 0;
  }
  char* at = open_ + size_t{open_page_} * kSpillPage + open_used_;
  SpillRecordHeader h{};
  h.set = set;
  h.hash = hash;
  h.segment = next_seq_;
  h.tomb = tomb ? 1 : 0;
  h.rec.nkey = static_cast<uint8_t>(r.key.size());
  h.rec.marks = r.marks;
  h.rec.nvalue = static_cast<uint16_t>(value.size());
  h.rec.flags = r.flags;
  h.rec.exptime = r.exptime;
  h.rec.stored_at = r.stored_at;
  h.rec.cas = r.cas;
  h.rec.wseq = r.wseq;
  std::memcpy(at + sizeof(h), r.key.data(), r.key.size());
  if (!value.empty()) std::memcpy(at + sizeof(h) + r.key.size(), value.data(), value.size());
  uint32_t crc = util::Crc32c(&h, sizeof(h), Seed());
  h.crc = util::Crc32c(at + sizeof(h), r.key.size() + value.size(), crc);
  std::memcpy(at, &h, sizeof(h));
  const SpillRef ref{static_cast<uint32_t>(Pos(next_seq_) * pages_per_segment_ + open_page_),
                     static_cast<uint16_t>(open_used_ / 8)};
  open_used_ += bytes;
  ++open_records_;
  return ref;
}

bool SmallSpill::CanSeal() const {
  return in_flight_ < options_.max_writes && live_[Pos(next_seq_)] == 0;
}

uint64_t SmallSpill::Tail() const {
  uint64_t tail = next_seq_;
  for (uint64_t pos = 0; pos < options_.segments; ++pos) {
    if (live_[pos] > 0) tail = std::min(tail, seq_[pos]);
  }
  return tail;
}

uint64_t SmallSpill::Seal() {
  assert(CanSeal());
  Write& w = *buffers_[open_idx_];
  SpillSegmentHeader sh{};
  sh.magic = kSpillMagic;
  sh.version = kSpillVersion;
  sh.records = open_records_;
  sh.epoch = options_.epoch;
  sh.seq = next_seq_;
  sh.tail = Tail();
  sh.crc = util::Crc32c(&sh, sizeof(sh));
  std::memcpy(open_, &sh, sizeof(sh));
  w.seq = next_seq_;
  w.busy = true;
  w.io.buf = open_;
  w.io.len = options_.segment_bytes;
  w.io.offset = SegmentOffset(next_seq_);
  seq_[Pos(next_seq_)] = next_seq_;
  ++in_flight_;
  aio_.Write(w.io);
  const uint64_t sealed = next_seq_++;
  for (size_t i = 0; i < buffers_.size(); ++i) {
    if (!buffers_[i]->busy) {
      open_idx_ = i;
      break;
    }
  }
  OpenSegment();
  return sealed;
}

void SmallSpill::OnIoComplete(IoOp& op, int64_t result) {
  Write& w = *buffers_[op.user];
  w.busy = false;
  --in_flight_;
  const bool ok = result == static_cast<int64_t>(options_.segment_bytes);
  if (listener_ != nullptr) listener_->OnSpillWritten(w.seq, ok);
}

uint32_t SmallSpill::Insert(SpillRef ref, uint32_t set, uint64_t hash) {
  uint32_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  SpillEntry& e = entries_[id];
  e.set = set;
  e.page = ref.page;
  e.slot = ref.slot;
  e.tag = Tag(hash);
  e.next = heads_[set & mask_];
  heads_[set & mask_] = id;
  ++live_[ref.page / pages_per_segment_];
  ++live_entries_;
  return id;
}

void SmallSpill::Kill(uint32_t id) {
  SpillEntry& e = entries_[id];
  uint32_t* link = &heads_[e.set & mask_];
  while (*link != id) {
    assert(*link != kSpillNil && "Kill() of an entry that is not live");
    link = &entries_[*link].next;
  }
  *link = e.next;
  --live_[e.page / pages_per_segment_];
  --live_entries_;
  e.next = kSpillNil;
  free_ids_.push_back(id);
}

uint32_t SmallSpill::Find(uint32_t set, SpillRef ref) const {
  for (uint32_t id = heads_[set & mask_]; id != kSpillNil; id = entries_[id].next) {
    const SpillEntry& e = entries_[id];
    if (e.set == set && e.page == ref.page && e.slot == ref.slot) return id;
  }
  return kSpillNil;
}

bool SmallSpill::Parse(const char* page, SpillRef ref, uint64_t seq, SpillRecord& out) const {
  const uint32_t off = uint32_t{ref.slot} * 8;
  if (off + sizeof(SpillRecordHeader) > kSpillPage) return false;
  SpillRecordHeader h;
  std::memcpy(&h, page + off, sizeof(h));
  const size_t payload = size_t{h.rec.nkey} + (h.tomb != 0 ? 0 : h.rec.nvalue);
  if (h.rec.nkey == 0 || h.segment != seq || h.tomb > 1 || (h.tomb != 0 && h.rec.nvalue != 0) ||
      off + sizeof(h) + payload > kSpillPage) {
    return false;
  }
  const uint32_t stored = h.crc;
  h.crc = 0;
  const uint32_t crc =
      util::Crc32c(page + off + sizeof(h), payload, util::Crc32c(&h, sizeof(h), Seed()));
  if (crc != stored) return false;
  const char* key = page + off + sizeof(h);
  out.rec.key = std::string_view(key, h.rec.nkey);
  out.rec.value = std::string_view(key + h.rec.nkey, h.tomb != 0 ? 0 : h.rec.nvalue);
  out.rec.flags = h.rec.flags;
  out.rec.exptime = h.rec.exptime;
  out.rec.stored_at = h.rec.stored_at;
  out.rec.cas = h.rec.cas;
  out.rec.wseq = h.rec.wseq;
  out.rec.marks = h.rec.marks;
  out.hash = h.hash;
  out.set = h.set;
  out.segment = h.segment;
  out.tomb = h.tomb != 0;
  return true;
}

bool SmallSpill::SegmentOk(const char* buf, uint64_t seq) const {
  SpillSegmentHeader sh;
  std::memcpy(&sh, buf, sizeof(sh));
  const uint32_t stored = sh.crc;
  sh.crc = 0;
  return sh.magic == kSpillMagic && sh.version == kSpillVersion && sh.epoch == options_.epoch &&
         sh.seq == seq && util::Crc32c(&sh, sizeof(sh)) == stored;
}

uint64_t SmallSpill::ProbeSeq(uint64_t pos, char* page) {
  const uint64_t offset = options_.base + pos * options_.segment_bytes;
  if (aio_.ReadSync(page, kSpillPage, offset) != static_cast<int64_t>(kSpillPage)) {
    return UINT64_MAX;
  }
  SpillSegmentHeader sh;
  std::memcpy(&sh, page, sizeof(sh));
  if (sh.seq % options_.segments != pos || !SegmentOk(page, sh.seq)) return UINT64_MAX;
  return sh.seq;
}

}  // namespace ssdcache::storage
