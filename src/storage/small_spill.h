// The small-object tier's device log (issue 14; Kangaroo's KLog on flash). Not used by the tier
// yet: the first step of the write path docs/design.md "Small-object tier" says is missing (the
// DRAM log alone is too small for a set rewrite to carry more than ~1 record). The tier will hand
// records from its DRAM log (small_log.h) to this log in whole segments, find them again through
// the DRAM index kept here, and move them to their sets only when the ring needs their segment
// back: by then each set has gathered many records, so one 4 KiB set write carries them all.
//
// Owned state: the device range [base, base + segments * segment_bytes), a ring of segments
// written whole in sequence order; the open segment's buffer (records packed by Pack()) and the
// buffers of sealed segments whose write is in flight; per ring position its segment's sequence
// and its count of live index entries; the index: a pool of 16-byte entries, one per live record,
// chained per bucket (set % buckets), newest first.
//
//   device:   | segment 0 | segment 1 | ... |      segment seq s at base + (s % segments) * bytes
//   segment:  | page 0 | page 1 | ... |            pages of 4 KiB; page 0 opens with the header
//   header:   SpillSegmentHeader (64 B): magic | version | crc | records | epoch | seq
//   page:     | record | record | ... | zeros |    a record never crosses a page, so that one
//                                                  4 KiB read finds it; nkey 0 ends the page
//   record:   SpillRecordHeader (64 B: crc | set | hash | segment seq | tomb | SetRecordHeader)
//             | key | value | pad to 8
//
// Invariants:
//  - A record verifies only as written in its segment's lap: its CRC32C (seeded with the device
//    epoch) covers its header, which names the segment's sequence, and its key and value; so a
//    record of an earlier lap, an earlier format or a torn write never parses (Parse, Scan).
//  - An index entry is live only while its segment's bytes are on the device: entries are inserted
//    by the owner once the segment's write completed (OnSpillWritten), and a ring position is
//    sealed over only when no live entry points into it (CanSeal): the owner moves (or kills) the
//    records of the oldest segment first.
//  - A drained segment (every entry killed: its records moved to their sets) stays on the device
//    until its position is sealed over; a scan skips it once a later segment's header names a
//    tail past it. Records drained after the newest seal are still returned: the owner keeps
//    the journal entries that supersede them until a seal names a tail past them.
//  - Per key at most one live entry (the owner kills the older before inserting the newer), as in
//    the DRAM log; ForKey() yields candidates by a 16-bit tag, so a caller verifies the full key.
//  - Host-endian, as every on-device format here (item.h, set_page.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/io_backend.h"
#include "storage/set_page.h"
#include "util/aligned_buffer.h"

namespace ssdcache::storage {

inline constexpr uint32_t kSpillMagic = 0x4c505353;  // "SSPL"
inline constexpr uint16_t kSpillVersion = 1;
inline constexpr uint32_t kSpillPage = 4096;
inline constexpr uint32_t kSpillNil = 0xFFFFFFFFu;

struct SpillSegmentHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t pad;
  uint32_t crc;  // CRC32C of this header with crc = 0
  uint32_t records;
  uint64_t epoch;
  uint64_t seq;  // the segment's sequence: its ring position is seq % segments
  // The ring's tail at the seal: the oldest sequence with a live entry (or this one). A scan
  // skips segments below the newest header's tail: they were drained (their records moved).
  uint64_t tail;
  uint8_t reserved[24];
};
static_assert(sizeof(SpillSegmentHeader) == 64, "part of the on-device format");

struct SpillRecordHeader {
  uint32_t crc;  // CRC32C (seeded by the epoch) of this header with crc = 0, key and value
  uint32_t set;
  uint64_t hash;
  uint64_t segment;  // the sequence of the segment it was written in
  uint8_t tomb;      // a tombstone (no value)
  uint8_t pad[7];
  SetRecordHeader rec;
};
static_assert(sizeof(SpillRecordHeader) == 64, "part of the on-device format");

struct SpillOptions {
  uint64_t base = 0;  // device offset of segment 0, 4 KiB aligned
  uint64_t segments = 0;
  uint32_t segment_bytes = 256 << 10;  // a multiple of 4 KiB, 16 KiB .. 16 MiB
  uint64_t epoch = 0;
  uint32_t max_writes = 2;  // sealed segments in flight at once

  // False and a one-line `error` naming the field when out of range (more segments than
  // max_writes + 1).
  bool Validate(std::string& error) const;
};

// Where a record lies: its page (counted from the region's start) and its byte offset there / 8.
struct SpillRef {
  uint32_t page = 0;
  uint16_t slot = 0;
  bool operator==(const SpillRef&) const = default;
};

// A record as read back (views into the page or segment buffer it was parsed from).
struct SpillRecord {
  SetRecord rec;
  uint64_t hash = 0;
  uint32_t set = 0;
  uint64_t segment = 0;
  bool tomb = false;
};

struct SpillEntry {
  uint32_t next;  // the next (older) entry of the bucket's chain, or kSpillNil
  uint32_t set;
  uint32_t page;
  uint16_t slot;
  uint16_t tag;  // hash >> 48
};
static_assert(sizeof(SpillEntry) == 16, "the index's DRAM per logged record");

// Hears each sealed segment's write complete (from the backend's completions): `ok` false when it
// failed or was short (its records are not on the device: do not index them).
class SpillListener {
 public:
  virtual void OnSpillWritten(uint64_t seq, bool ok) = 0;

 protected:
  ~SpillListener() = default;
};

struct SpillScan {
  uint64_t segments = 0;  // segments that verified (drained ones aside)
  uint64_t drained = 0;   // segments below the newest header's tail: skipped
  uint64_t records = 0;   // records that verified in them
  // Segments whose records did not all verify (the scan of one stops at the first that does
  // not), or fewer than its header counts: a torn write.
  uint64_t torn = 0;
  uint64_t next_seq = 0;  // the sequence the next Seal() takes
};

class SmallSpill final : private IoHandler {
 public:
  // `aio` and `listener` must outlive the log; options must Validate(). Destroy it only when no
  // write is in flight (or after the backend dropped its ops).
  SmallSpill(IoBackend& aio, const SpillOptions& options, SpillListener* listener);
  SmallSpill(const SmallSpill&) = delete;
  SmallSpill& operator=(const SmallSpill&) = delete;

  // Device bytes a record of this key and value takes (its header, padded to 8).
  static uint32_t RecordBytes(size_t nkey, size_t nvalue) {
    return static_cast<uint32_t>((sizeof(SpillRecordHeader) + nkey + nvalue + 7) & ~size_t{7});
  }
  // The largest key + value a record may carry: one alone in a page (not the first: the
  // segment's header is there). Above --small-max's limit (4024).
  static constexpr uint32_t kMaxPayload = kSpillPage - sizeof(SpillRecordHeader);

  // Packing the open segment. Whether a record of this size fits in what is left of it.
  bool Fits(size_t nkey, size_t nvalue) const;
  // Adds `r` (a tombstone when `tomb`: no value) to the open segment, the caller having checked
  // Fits(); its place once the segment is written.
  SpillRef Pack(const SetRecord& r, uint64_t hash, uint32_t set, bool tomb);
  uint32_t open_records() const { return open_records_; }
  // The open segment's sequence (the one Pack() adds to).
  uint64_t open_seq() const { return next_seq_; }
  // Whether the open segment can be written now: a write slot is free and its ring position
  // holds no live entry (the owner drains the oldest segment first: oldest_seq()).
  bool CanSeal() const;
  // Only when CanSeal(): queues the open segment's write (the caller's loop submits) and opens the
  // next; its sequence. The listener hears the completion. An empty segment is written too.
  uint64_t Seal();
  size_t writes_in_flight() const { return in_flight_; }

  // The ring. A sequence's position holds, until that sequence is sealed, the segment one lap
  // older: lap_seq(s) is its sequence (UINT64_MAX: never written), live_at(s) its live entries.
  // The owner drains lap_seq(open_seq()) (and a few after it, ahead of need) so Seal() can go on.
  uint64_t lap_seq(uint64_t seq) const { return seq_[Pos(seq)]; }
  uint32_t live_at(uint64_t seq) const { return live_[Pos(seq)]; }
  uint64_t segments() const { return options_.segments; }
  // The device range of a segment, and of the page a ref names.
  uint64_t SegmentOffset(uint64_t seq) const {
    return options_.base + Pos(seq) * options_.segment_bytes;
  }
  uint64_t PageOffset(uint32_t page) const { return options_.base + uint64_t{page} * kSpillPage; }
  // The sequence of the segment a ref's page is in now (its ring position's latest).
  uint64_t SeqOf(SpillRef ref) const { return seq_[ref.page / pages_per_segment_]; }

  // The index. Inserts a live entry for a record of `set` and `hash` written at `ref`; its id.
  uint32_t Insert(SpillRef ref, uint32_t set, uint64_t hash);
  void Kill(uint32_t id);
  const SpillEntry& entry(uint32_t id) const { return entries_[id]; }
  static SpillRef RefOf(const SpillEntry& e) { return SpillRef{e.page, e.slot}; }
  // Calls f(id) for each live entry of `set` whose tag matches `hash`, newest first, until f
  // returns false. Candidates only: the full key is in the record.
  template <typename F>
  void ForKey(uint32_t set, uint64_t hash, F&& f) const {
    const uint16_t tag = Tag(hash);
    for (uint32_t id = heads_[set & mask_]; id != kSpillNil; id = entries_[id].next) {
      if (entries_[id].set == set && entries_[id].tag == tag && !f(id)) return;
    }
  }
  // Calls f(id) for each live entry of `set`, newest first.
  template <typename F>
  void ForSet(uint32_t set, F&& f) const {
    for (uint32_t id = heads_[set & mask_]; id != kSpillNil; id = entries_[id].next) {
      if (entries_[id].set == set) f(id);
    }
  }
  // The live entry at `ref` among those of `set`, or kSpillNil.
  uint32_t Find(uint32_t set, SpillRef ref) const;
  uint64_t live_entries() const { return live_entries_; }

  // Reading. Parses the record at `ref` from `page` (the 4 KiB page PageOffset(ref.page) holds),
  // verified as written in segment `seq` under this epoch; false when it does not verify. A
  // reader takes `seq` = SeqOf(ref) when its read starts: if the ring position is sealed over
  // before the read completes, the record fails to parse rather than answer another's bytes.
  bool Parse(const char* page, SpillRef ref, uint64_t seq, SpillRecord& out) const;
  // Warm restart, on a new log before any Pack: reads every segment (ReadSync) and calls
  // f(ref, record) for each record that verifies, oldest segment first, records in write order,
  // and makes the next Seal() continue the ring after the newest segment found. Inserts nothing:
  // the owner decides which records are current (newest per key, not superseded) and Insert()s
  // them.
  template <typename F>
  SpillScan Scan(F&& f);

  // DRAM: the index (pool and bucket heads) and the segment buffers.
  size_t IndexBytes() const {
    return entries_.capacity() * sizeof(SpillEntry) + heads_.size() * sizeof(uint32_t);
  }
  size_t BufferBytes() const { return buffers_.size() * options_.segment_bytes; }
  const SpillOptions& options() const { return options_; }

 private:
  struct Write {
    IoOp io;
    util::AlignedBuffer buf;
    uint64_t seq = 0;
    bool busy = false;
  };

  void OnIoComplete(IoOp& op, int64_t result) override;
  static uint16_t Tag(uint64_t hash) { return static_cast<uint16_t>(hash >> 48); }
  uint64_t Pos(uint64_t seq) const { return seq % options_.segments; }
  uint32_t Seed() const;
  void OpenSegment();
  // Verifies the segment header at the start of `buf` as segment `seq`'s.
  bool SegmentOk(const char* buf, uint64_t seq) const;
  static uint64_t TailOf(const char* buf) {
    SpillSegmentHeader sh;
    std::memcpy(&sh, buf, sizeof(sh));
    return sh.tail;
  }
  // The oldest sequence with a live entry, or the open one.
  uint64_t Tail() const;
  // Parses the records of a segment image in write order; how many verified (false at the first
  // that does not: a torn write).
  template <typename F>
  bool ParseSegment(const char* buf, uint64_t seq, F&& f, uint64_t& records) const;
  // Reads the header of the segment at ring position `pos`: its sequence, or UINT64_MAX.
  uint64_t ProbeSeq(uint64_t pos, char* page);

  IoBackend& aio_;
  SpillOptions options_;
  SpillListener* listener_;
  uint32_t pages_per_segment_ = 0;
  // max_writes + 1 segment buffers: the open one (buffers_[open_idx_]), the others written or free.
  std::vector<std::unique_ptr<Write>> buffers_;
  size_t open_idx_ = 0;
  char* open_ = nullptr;    // the open segment's buffer
  uint32_t open_page_ = 0;  // the page Pack() fills, and its fill
  uint32_t open_used_ = 0;
  uint32_t open_records_ = 0;
  uint64_t next_seq_ = 0;  // the open segment's sequence
  size_t in_flight_ = 0;
  std::vector<uint64_t> seq_;   // per ring position: the sequence last sealed there (or MAX)
  std::vector<uint32_t> live_;  // per ring position: live entries pointing into it
  std::vector<SpillEntry> entries_;
  std::vector<uint32_t> free_ids_;
  std::vector<uint32_t> heads_;
  uint32_t mask_ = 0;
  uint64_t live_entries_ = 0;
};

template <typename F>
bool SmallSpill::ParseSegment(const char* buf, uint64_t seq, F&& f, uint64_t& records) const {
  const uint32_t segment_page = static_cast<uint32_t>(Pos(seq) * pages_per_segment_);
  for (uint32_t p = 0; p < pages_per_segment_; ++p) {
    uint32_t off = p == 0 ? sizeof(SpillSegmentHeader) : 0;
    const char* page = buf + size_t{p} * kSpillPage;
    while (off + sizeof(SpillRecordHeader) <= kSpillPage) {
      const SpillRef ref{segment_page + p, static_cast<uint16_t>(off / 8)};
      SpillRecordHeader h;
      std::memcpy(&h, page + off, sizeof(h));
      if (h.rec.nkey == 0) break;  // the page's end
      SpillRecord r;
      if (!Parse(page, ref, seq, r)) return false;
      ++records;
      f(ref, r);
      off += RecordBytes(r.rec.key.size(), r.rec.value.size());
    }
  }
  return true;
}

template <typename F>
SpillScan SmallSpill::Scan(F&& f) {
  SpillScan out;
  util::AlignedBuffer page(kSpillPage, kSpillPage);
  // Ring positions by the sequence their header names: the newest lap of each.
  std::vector<std::pair<uint64_t, uint64_t>> found;  // (seq, pos)
  // The newest header's tail: what is below it was drained before that seal.
  uint64_t tail = 0;
  uint64_t newest = 0;
  for (uint64_t pos = 0; pos < options_.segments; ++pos) {
    const uint64_t seq = ProbeSeq(pos, page.data());
    if (seq == UINT64_MAX) continue;
    if (found.empty() || seq > newest) {
      newest = seq;
      tail = std::min(TailOf(page.data()), seq);  // the header ProbeSeq() left in `page`
    }
    found.emplace_back(seq, pos);
  }
  std::sort(found.begin(), found.end());
  util::AlignedBuffer seg(options_.segment_bytes, kSpillPage);
  for (const auto& [seq, pos] : found) {
    seq_[pos] = seq;
    out.next_seq = seq + 1;
    if (seq < tail) {
      ++out.drained;
      continue;
    }
    if (aio_.ReadSync(seg.data(), options_.segment_bytes, SegmentOffset(seq)) !=
            static_cast<int64_t>(options_.segment_bytes) ||
        !SegmentOk(seg.data(), seq)) {
      continue;
    }
    ++out.segments;
    uint64_t records = 0;
    SpillSegmentHeader sh;
    std::memcpy(&sh, seg.data(), sizeof(sh));
    if (!ParseSegment(seg.data(), seq, f, records) || records != sh.records) ++out.torn;
    out.records += records;
  }
  next_seq_ = std::max(next_seq_, out.next_seq);
  OpenSegment();
  return out;
}

}  // namespace ssdcache::storage
