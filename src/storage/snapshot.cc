#include "storage/snapshot.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <span>
#include <vector>

#include "storage/engine_options.h"
#include "util/aligned_buffer.h"
#include "util/hash.h"

namespace ssdcache::storage {

namespace {

constexpr uint32_t kSnapMagic = 0x53534E50;  // "SSNP"
constexpr uint32_t kPageMagic = 0x53535047;  // "SSPG"
// Bump when a record below changes: an older snapshot is then ignored (the start scans).
constexpr uint32_t kSnapVersion = 1;
constexpr uint32_t kPagesPerWrite = 16;  // 1 MiB per synchronous write
constexpr uint32_t kFetchedBit = 1U << 31;

struct SnapHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t crc;  // CRC32C of this struct with crc = 0
  uint32_t pages;
  // What it was made under: must match the superblock found at start.
  uint64_t epoch;
  uint64_t wseq_ceiling;  // also the snapshot's id, in every page's CRC
  uint64_t flush_seq;
  uint64_t evicted_below;
  // The engine's geometry.
  uint32_t slab_size;
  uint32_t disk_count;
  uint32_t classes;
  uint32_t reserved;
  uint64_t num_buckets;
  // The payload.
  uint64_t slabs;
  uint64_t entries;
  uint64_t access_slots;
  uint64_t next_seq;
  uint64_t next_seal;
  uint64_t write_us;  // what writing the pages took
  uint64_t reserved2;
};
static_assert(sizeof(SnapHeader) == 128, "SnapHeader is part of the on-device format");

struct PageHeader {
  uint32_t magic;
  uint32_t crc;  // CRC32C of the whole page with crc = 0
  uint32_t page;
  uint32_t bytes;  // payload bytes in this page
  uint64_t id;     // the snapshot's (SnapHeader::wseq_ceiling)
  uint64_t zero;
};
static_assert(sizeof(PageHeader) == 32, "PageHeader is part of the on-device format");
constexpr uint32_t kPayload = Snapshot::kPageBytes - sizeof(PageHeader);

struct SnapSlab {
  uint64_t seq;
  uint64_t seal;
  uint32_t disk;
  uint32_t disk_off;
  uint32_t disk_len;
  uint32_t used;
  uint32_t opened_at;
  uint32_t entries;  // its SnapEntry records, next in the entry section
  uint8_t cls;
  uint8_t unindexed;
  uint8_t reserved[6];
};
static_assert(sizeof(SnapSlab) == 48, "SnapSlab is part of the on-device format");

struct SnapEntry {
  uint32_t bucket;  // where it sat: the low bits of its key's hash, or of its alternate bucket
  uint16_t tag;
  uint16_t expiry;  // Index::CoarseExpiry code
  uint32_t chunk;   // | kFetchedBit
};
static_assert(sizeof(SnapEntry) == 12, "SnapEntry is part of the on-device format");

uint32_t SealHeader(SnapHeader& h) {
  h.crc = 0;
  h.crc = util::Crc32c(&h, sizeof(h));
  return h.crc;
}

// Cuts a byte stream into checksummed pages.
class PageWriter {
 public:
  PageWriter(char* pages, uint64_t id) : pages_(pages), id_(id) {}
  void Append(const void* data, size_t len) {
    const char* in = static_cast<const char*>(data);
    while (len > 0) {
      if (fill_ == kPayload) Seal();
      const size_t n = std::min<size_t>(len, kPayload - fill_);
      std::memcpy(Page() + sizeof(PageHeader) + fill_, in, n);
      fill_ += static_cast<uint32_t>(n);
      in += n;
      len -= n;
    }
  }
  // Seals the last page; returns the page count.
  uint32_t Finish() {
    if (fill_ > 0) Seal();
    return page_;
  }

 private:
  char* Page() { return pages_ + uint64_t{page_} * Snapshot::kPageBytes; }
  void Seal() {
    PageHeader h{kPageMagic, 0, page_, fill_, id_, 0};
    std::memcpy(Page(), &h, sizeof(h));
    h.crc = util::Crc32c(Page(), Snapshot::kPageBytes);
    std::memcpy(Page(), &h, sizeof(h));
    ++page_;
    fill_ = 0;
  }

  char* pages_;
  uint64_t id_;
  uint32_t page_ = 0;
  uint32_t fill_ = 0;
};

// Reads the stream back out of verified pages.
class PageReader {
 public:
  PageReader(char* pages, uint32_t count) : pages_(pages), count_(count) {}
  // Every page: magic, number, snapshot id, length, CRC.
  bool Verify(uint64_t id, std::string& why) const {
    for (uint32_t p = 0; p < count_; ++p) {
      char* page = pages_ + uint64_t{p} * Snapshot::kPageBytes;
      PageHeader h;
      std::memcpy(&h, page, sizeof(h));
      const uint32_t crc = h.crc;
      h.crc = 0;
      std::memcpy(page, &h, sizeof(h));
      const bool ok = h.magic == kPageMagic && h.page == p && h.id == id && h.bytes <= kPayload &&
                      (h.bytes == kPayload || p + 1 == count_) &&
                      util::Crc32c(page, Snapshot::kPageBytes) == crc;
      if (!ok) {
        why = "page " + std::to_string(p) + " of " + std::to_string(count_) +
              " does not verify (torn, corrupt or of another snapshot)";
        return false;
      }
    }
    return true;
  }
  bool Read(void* out, size_t len) {
    char* to = static_cast<char*>(out);
    while (len > 0) {
      if (page_ == count_) return false;
      const char* page = pages_ + uint64_t{page_} * Snapshot::kPageBytes;
      PageHeader h;
      std::memcpy(&h, page, sizeof(h));
      const size_t n = std::min<size_t>(len, h.bytes - off_);
      std::memcpy(to, page + sizeof(PageHeader) + off_, n);
      off_ += static_cast<uint32_t>(n);
      to += n;
      len -= n;
      if (off_ == h.bytes) {
        ++page_;
        off_ = 0;
      }
    }
    return true;
  }

 private:
  char* pages_;
  uint32_t count_;
  uint32_t page_ = 0;
  uint32_t off_ = 0;
};

template <typename T>
bool ReadAll(PageReader& in, std::vector<T>& out, uint64_t count) {
  out.resize(count);
  return in.Read(out.data(), count * sizeof(T));
}

// The slabs a restart keeps (on the device, not voided by flush_all or the frontier), in seal
// order: what a scan would enter. Empty with `why` when the state cannot be captured.
std::vector<uint32_t> SlabsToKeep(const SnapshotSource& src, std::string& why) {
  std::vector<uint32_t> ids;
  for (uint32_t id = 0; id < src.table.size(); ++id) {
    const SlabInfo& s = src.table[id];
    if ((s.state == SlabState::kMemory && s.used > 0) || s.state == SlabState::kFlushing) {
      why = "a memory slab still holds records";
      return {};
    }
    if (s.state == SlabState::kDisk && s.seq >= src.durable.flush_seq() &&
        s.seal >= src.durable.frontier()) {
      ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end(),
            [&](uint32_t a, uint32_t b) { return src.table[a].seal < src.table[b].seal; });
  return ids;
}

// The index's live entries of the kept slabs, grouped by slab in `ids` order; counts per slab.
std::vector<SnapEntry> EntriesOf(const SnapshotSource& src, const std::vector<uint32_t>& ids,
                                 std::vector<uint32_t>& counts) {
  std::vector<uint32_t> ordinal(src.table.size(), UINT32_MAX);
  for (uint32_t k = 0; k < ids.size(); ++k) ordinal[ids[k]] = k;
  // Two walks over the index, a stretch of buckets at a time (a copy of every live slot would
  // cost 32 bytes per item, and its page faults most of a large stop's time): one counts the
  // entries per slab, the other places them.
  constexpr size_t kStretch = 1 << 16;
  std::vector<Index::Slot> slots;
  slots.reserve(kStretch * Index::kSlotsPerBucket);
  counts.assign(ids.size() + 1, 0);
  for (size_t b = 0; b < src.index.num_buckets(); b += kStretch) {
    slots.clear();
    src.index.LiveSlots(slots, b, kStretch);
    for (const Index::Slot& s : slots) {
      if (ordinal[s.entry.slab] != UINT32_MAX) ++counts[ordinal[s.entry.slab] + 1];
    }
  }
  std::vector<uint64_t> next(ids.size() + 1, 0);
  for (size_t k = 1; k <= ids.size(); ++k) next[k] = next[k - 1] + counts[k];
  std::vector<SnapEntry> out(next[ids.size()]);
  for (size_t b = 0; b < src.index.num_buckets(); b += kStretch) {
    slots.clear();
    src.index.LiveSlots(slots, b, kStretch);
    for (const Index::Slot& s : slots) {
      const uint32_t k = ordinal[s.entry.slab];
      if (k == UINT32_MAX) continue;
      out[next[k]++] = SnapEntry{static_cast<uint32_t>(s.bucket), s.tag, s.entry.expiry,
                                 s.entry.chunk | (s.entry.fetched ? kFetchedBit : 0)};
    }
  }
  counts.erase(counts.begin());
  return out;
}

}  // namespace

uint64_t Snapshot::RegionBytes(uint64_t option, uint32_t block) {
  return block == 0 || kHeaderBytes % block != 0 ? 0 : option;
}

uint64_t Snapshot::BytesFor(uint64_t slabs, uint64_t entries) {
  const uint64_t stream = slabs * sizeof(SnapSlab) + entries * sizeof(SnapEntry) +
                          AccessTable::kEntries * sizeof(uint64_t);
  return kHeaderBytes + (stream + kPayload - 1) / kPayload * kPageBytes;
}

uint64_t Snapshot::AutoBytes(const Bounds& b) {
  if (RegionBytes(kMinSnapshotSize, b.block) == 0) return 0;
  const uint64_t cap = std::min({b.slice / kAutoShare, b.room, kMaxSnapshotSize});
  const uint64_t fits =
      cap > kHeaderBytes ? kHeaderBytes + (cap - kHeaderBytes) / kPageBytes * kPageBytes : 0;
  return std::max(kMinSnapshotSize, std::min(BytesFor(b.slabs, b.entries), fits));
}

SnapshotWritten Snapshot::Write(const SnapshotSource& src) {
  const auto start = std::chrono::steady_clock::now();
  SnapshotWritten out;
  if (src.bytes < kHeaderBytes + kPageBytes) {
    out.why = "no snapshot region (--snapshot-size 0)";
    return out;
  }
  if (src.index.num_buckets() > (uint64_t{1} << 32)) {
    out.why = "the index has more than 2^32 buckets";
    return out;
  }
  std::vector<uint32_t> ids = SlabsToKeep(src, out.why);
  if (!out.why.empty()) return out;
  std::vector<uint32_t> counts;
  const std::vector<SnapEntry> entries = EntriesOf(src, ids, counts);
  const std::span<const uint64_t> access = src.access.slots();
  out.bytes = BytesFor(ids.size(), entries.size());
  if (out.bytes > src.bytes) {
    out.why = "the snapshot needs " + std::to_string((out.bytes + (1 << 20) - 1) >> 20) +
              " MiB, more than --snapshot-size (" + std::to_string(src.bytes >> 20) + " MiB)";
    return out;
  }
  const uint64_t pages = (out.bytes - kHeaderBytes) / kPageBytes;
  SnapHeader h{};
  h.magic = kSnapMagic;
  h.version = kSnapVersion;
  h.pages = static_cast<uint32_t>(pages);
  h.epoch = src.durable.epoch();
  h.wseq_ceiling = src.durable.wseq_ceiling();
  h.flush_seq = src.durable.flush_seq();
  h.evicted_below = src.durable.frontier();
  h.slab_size = src.slab_size;
  h.disk_count = static_cast<uint32_t>(src.table.disk_count());
  h.classes = src.classes;
  h.num_buckets = src.index.num_buckets();
  h.slabs = ids.size();
  h.entries = entries.size();
  h.access_slots = access.size();
  h.next_seq = src.table.next_seq();
  h.next_seal = src.next_seal;

  util::AlignedBuffer buf(pages * kPageBytes, src.device.block_size());
  PageWriter writer(buf.data(), h.wseq_ceiling);
  for (size_t k = 0; k < ids.size(); ++k) {
    const SlabInfo& s = src.table[ids[k]];
    SnapSlab r{s.seq,  s.seal,      s.disk,    s.disk_off, s.disk_len,
               s.used, s.opened_at, counts[k], s.cls,      s.unindexed ? uint8_t{1} : uint8_t{0},
               {}};
    writer.Append(&r, sizeof(r));
  }
  writer.Append(entries.data(), entries.size() * sizeof(SnapEntry));
  writer.Append(access.data(), access.size_bytes());
  writer.Finish();
  // The pages first, the header that makes them a snapshot last, then one flush.
  for (uint64_t p = 0; p < pages; p += kPagesPerWrite) {
    const uint64_t len = std::min<uint64_t>(kPagesPerWrite, pages - p) * kPageBytes;
    const uint64_t at = src.offset + kHeaderBytes + p * kPageBytes;
    if (src.io.WriteSync(buf.data() + p * kPageBytes, len, at) != static_cast<int64_t>(len)) {
      out.why = "a snapshot write failed";
      return out;
    }
  }
  h.write_us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - start)
                                         .count());
  SealHeader(h);
  util::AlignedBuffer head(kHeaderBytes, src.device.block_size());
  std::memcpy(head.data(), &h, sizeof(h));
  if (src.io.WriteSync(head.data(), kHeaderBytes, src.offset) != kHeaderBytes ||
      src.io.Flush() != 0) {
    out.why = "a snapshot write failed";
    return out;
  }
  out.ok = true;
  out.slabs = ids.size();
  out.entries = entries.size();
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

namespace {

struct Decoded {
  SnapHeader h{};
  std::vector<SnapSlab> slabs;
  std::vector<SnapEntry> entries;
  std::vector<uint64_t> access;
};

bool ReadRegion(const RecoveryParts& p, uint64_t at, char* buf, uint64_t len, std::string& why) {
  if (p.io.ReadSync(buf, len, at) == static_cast<int64_t>(len)) return true;
  why = "the snapshot region cannot be read";
  return false;
}

// The header is intact and was made under the superblock this start found, for this geometry.
bool CheckHeader(const RecoveryParts& p, const SnapHeader& h, std::string& why) {
  SnapHeader copy = h;
  if (h.magic != kSnapMagic || h.version != kSnapVersion || SealHeader(copy) != h.crc) {
    why = "no valid snapshot header";
  } else if (h.epoch != p.durable.epoch() || h.wseq_ceiling != p.durable.next_wseq() ||
             h.flush_seq != p.durable.flush_seq() || h.evicted_below != p.durable.frontier()) {
    why = "the snapshot is stale (another run's)";
  } else if (h.slab_size != p.slab_size || h.disk_count != p.table.disk_count() ||
             h.classes != p.classes.count()) {
    why = "the snapshot was made for another geometry";
  } else if (h.num_buckets < p.index.num_buckets() || !std::has_single_bit(h.num_buckets)) {
    why = "the index grew (-i) since the snapshot: its entries cannot be placed";
  } else {
    const uint64_t stream = h.slabs * sizeof(SnapSlab) + h.entries * sizeof(SnapEntry) +
                            h.access_slots * sizeof(uint64_t);
    const uint64_t pages = (stream + kPayload - 1) / kPayload;
    if (pages == h.pages &&
        Snapshot::kHeaderBytes + pages * Snapshot::kPageBytes <= p.snapshot_bytes) {
      return true;
    }
    why = "the snapshot header's sizes do not add up";
  }
  return false;
}

bool ValidSlab(const RecoveryParts& p, const SnapHeader& h, const SnapSlab& s) {
  return s.seq >= h.flush_seq && s.seq < h.next_seq && s.seal >= h.evicted_below &&
         s.seal < h.next_seal && s.disk < h.disk_count && s.cls < p.classes.count() &&
         s.disk_len > 0 && s.disk_off % p.device.block_size() == 0 &&
         uint64_t{s.disk_off} + s.disk_len <= p.slab_size && s.used <= p.layouts[s.cls].count() &&
         s.entries <= s.used;
}

// Every record is within bounds, in seal order, and its slab's id is free in this table.
bool Validate(const RecoveryParts& p, const Decoded& d, std::string& why) {
  std::vector<bool> taken(p.table.size(), false);
  uint64_t seal = 0;
  size_t e = 0;
  for (const SnapSlab& s : d.slabs) {
    const uint32_t id = p.table.IdOf(s.seq);
    if (!ValidSlab(p, d.h, s) || s.seal <= seal || taken[id] || e + s.entries > d.entries.size()) {
      why = "slab seq " + std::to_string(s.seq) + " of the snapshot is invalid or collides";
      return false;
    }
    taken[id] = true;
    seal = s.seal;
    for (const size_t end = e + s.entries; e < end; ++e) {
      if ((d.entries[e].chunk & ~kFetchedBit) >= s.used || d.entries[e].bucket >= d.h.num_buckets) {
        why = "an entry of slab seq " + std::to_string(s.seq) + " of the snapshot is invalid";
        return false;
      }
    }
  }
  if (e != d.entries.size() || (!d.access.empty() && d.access.size() != AccessTable::kEntries)) {
    why = "the snapshot's sections do not add up";
    return false;
  }
  return true;
}

// As the scan enters a slab it found (Recovery::RebuildPiece), in seal order.
void EnterSlab(const RecoveryParts& p, uint32_t id, const SnapSlab& r) {
  SlabInfo s;
  s.seq = r.seq;
  s.state = SlabState::kDisk;
  s.cls = r.cls;
  s.disk = r.disk;
  s.disk_off = r.disk_off;
  s.disk_len = r.disk_len;
  s.used = r.used;
  s.opened_at = r.opened_at;
  s.seal = r.seal;
  s.placed = true;
  s.unindexed = r.unindexed != 0;
  p.table.EnterRecovered(id, s);
  p.policy.Track({id, r.seq, r.seal});
}

// Back into the bucket it sat in (the same -i), else into the pair its hash picks in this
// smaller index: never evicting, as the scan (a loser's slab is marked unindexed).
void PlaceEntry(const RecoveryParts& p, uint32_t id, const SnapEntry& e, bool same,
                SnapshotLoaded& out) {
  if (Index::DefinitelyExpired(e.expiry, p.now)) {
    ++out.expired;
    return;
  }
  const IndexEntry here{id, e.chunk & ~kFetchedBit, e.expiry, (e.chunk & kFetchedBit) != 0, false};
  if (!same || !p.index.PlaceInBucket(e.bucket, e.tag, here)) {
    const uint64_t hash = uint64_t{e.tag} << 48 | (e.bucket & (p.index.num_buckets() - 1));
    const Index::InsertOutcome r = p.index.Upsert(hash, here, /*may_evict=*/false);
    if (r.result == Index::InsertResult::kFull) {
      p.table[id].unindexed = true;
      ++out.index_full;
      return;
    }
    if (r.result == Index::InsertResult::kReplaced) {
      SlabInfo& loser = p.table[r.old.slab];
      loser.live -= std::min<uint32_t>(loser.live, 1);
      loser.unindexed = true;
      --out.items;
      ++out.tag_collisions;
    }
  }
  ++p.table[id].live;
  ++out.items;
}

SnapshotLoaded Apply(const RecoveryParts& p, const Decoded& d) {
  SnapshotLoaded out;
  out.slabs = d.slabs.size();
  out.next_seal = d.h.next_seal;
  out.write_seconds = static_cast<double>(d.h.write_us) / 1e6;
  p.policy.Reset(p.durable.frontier());
  const bool same = d.h.num_buckets == p.index.num_buckets();
  size_t e = 0;
  for (const SnapSlab& r : d.slabs) {
    const uint32_t id = p.table.IdOf(r.seq);
    EnterSlab(p, id, r);
    for (uint32_t j = 0; j < r.entries; ++j) PlaceEntry(p, id, d.entries[e++], same, out);
  }
  p.table.Recovered();
  p.table.set_next_seq(d.h.next_seq);
  p.access.Load(d.access);
  return out;
}

}  // namespace

std::optional<SnapshotLoaded> Snapshot::Load(const RecoveryParts& p, std::string& why) {
  if (p.snapshot_bytes == 0) {
    why = "none (--snapshot-size 0)";
    return std::nullopt;
  }
  if (!p.durable.last_run_clean()) {
    why = "the last run did not stop cleanly";
    return std::nullopt;
  }
  const uint32_t bs = p.device.block_size();
  util::AlignedBuffer head(kHeaderBytes, bs);
  if (!ReadRegion(p, p.snapshot_offset, head.data(), kHeaderBytes, why)) return std::nullopt;
  Decoded d;
  std::memcpy(&d.h, head.data(), sizeof(d.h));
  if (!CheckHeader(p, d.h, why)) return std::nullopt;
  const uint64_t len = uint64_t{d.h.pages} * kPageBytes;
  util::AlignedBuffer pages(len, bs);
  if (!ReadRegion(p, p.snapshot_offset + kHeaderBytes, pages.data(), len, why)) return std::nullopt;
  PageReader in(pages.data(), d.h.pages);
  if (!in.Verify(d.h.wseq_ceiling, why)) return std::nullopt;
  if (!ReadAll(in, d.slabs, d.h.slabs) || !ReadAll(in, d.entries, d.h.entries) ||
      !ReadAll(in, d.access, d.h.access_slots)) {
    why = "the snapshot is shorter than its header says";
    return std::nullopt;
  }
  if (!Validate(p, d, why)) return std::nullopt;
  SnapshotLoaded out = Apply(p, d);
  out.bytes = kHeaderBytes + len;
  return out;
}

}  // namespace ssdcache::storage
