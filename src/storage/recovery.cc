#include "storage/recovery.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "storage/snapshot.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

constexpr uint32_t kNoExtent = UINT32_MAX;

// User + system time of the calling thread (the scan's CPU cost, apart from other threads').
double ThreadCpuSeconds() {
  rusage u{};
  if (::getrusage(RUSAGE_THREAD, &u) != 0) return 0;
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

}  // namespace

Recovery::Recovery(const RecoveryParts& parts) : p_(parts) {}

std::optional<RecoveryResult> Recovery::Run(const RecoveryParts& parts, bool format,
                                            std::string& error) {
  Recovery r(parts);
  r.start_ = r.last_log_ = std::chrono::steady_clock::now();
  r.cpu_start_ = ThreadCpuSeconds();
  switch (r.ReadSuperblock(format, error)) {
    case Start::kFailed:
      return std::nullopt;
    case Start::kFormatted:
      return RecoveryResult{.stats = r.stats_, .formatted = true, .next_seal = 1, .orphans = {}};
    case Start::kWarm:
      break;
  }
  if (!r.LoadJournal(error)) return std::nullopt;
  if (parts.rebuild_small && !parts.rebuild_small(r, error)) return std::nullopt;
  // A clean stop left a snapshot of what the scan would rebuild: loaded instead when it matches.
  if (std::optional<RecoveryResult> loaded = r.LoadSnapshot()) return loaded;
  if (!r.ScanHeaders(error) || !r.IndexPieces(error)) return std::nullopt;
  r.DropDead();
  if (!r.Finish(error)) return std::nullopt;
  return RecoveryResult{.stats = r.stats_,
                        .formatted = false,
                        .next_seal = r.max_seal_ + 1,
                        .orphans = r.TakeOrphans()};
}

bool Recovery::IndexPieces(std::string& error) {
  // Pass 2: index every record. Slabs of different classes fill at the same time, so slab order
  // says nothing about which record of a key is newer: the record's wseq decides. Tombstones and
  // expired records take part (they supersede older records) and are dropped at the end.
  uint64_t records = 0;
  for (const Piece& p : pieces_) records += Void(p) ? 0 : p.used;
  seen_buf_ = util::HugeBuffer(records * sizeof(Seen));
  if (records > 0 && seen_buf_.empty()) {
    error = "cannot allocate " + std::to_string(records * sizeof(Seen)) + " bytes for the scan";
    return false;
  }
  seen_ = reinterpret_cast<Seen*>(seen_buf_.data());  // zeroed
  seen_base_.assign(p_.table.size(), 0);
  batch_.reserve(kBatch);
  p_.policy.Reset(p_.durable.frontier());
  max_seq_ = p_.durable.flush_seq();
  max_seal_ = p_.durable.frontier() - 1;
  const std::vector<ScanReader::Range> extents = Extents();
  ScanReader reader(p_.io, kScanDepth, std::max(kScanReadBytes, p_.slab_size),
                    p_.device.block_size());
  reader.set_idle([this] { return PopulateIndex(); });
  reader.Start(extents);
  bool ok = true;
  for (size_t k = 0; k < pieces_.size() && ok; ++k) {
    max_seq_ = std::max(max_seq_, pieces_[k].seq);
    max_seal_ = std::max(max_seal_, pieces_[k].seal);
    ok = RebuildPiece(k, reader, error);
    LogProgress(k + 1);
  }
  view_ = {};  // the reader's buffers go with it
  stats_.wait_seconds += reader.stats().blocked_seconds;
  stats_.idle_seconds += reader.stats().idle_seconds;
  return ok;
}

std::vector<ScanReader::Range> Recovery::Extents() {
  // In seal order, the order RebuildPiece takes them in: after a wrap-around that is mostly the
  // device's order, so most pieces extend the read before them.
  const uint32_t max_read = std::max(kScanReadBytes, p_.slab_size);
  std::vector<ScanReader::Range> extents;
  extent_of_.assign(pieces_.size(), kNoExtent);
  for (size_t k = 0; k < pieces_.size(); ++k) {
    const Piece& p = pieces_[k];
    if (Void(p)) continue;
    const uint64_t at = DiskOffset(p.disk) + p.off;
    if (!extents.empty() && extents.back().offset + extents.back().len == at &&
        extents.back().len + p.len <= max_read) {
      extents.back().len += p.len;
    } else {
      extents.push_back({at, p.len});
    }
    extent_of_[k] = static_cast<uint32_t>(extents.size() - 1);
  }
  return extents;
}

Recovery::Start Recovery::ReadSuperblock(bool format, std::string& error) {
  const uint32_t bs = p_.device.block_size();
  buf_ = util::AlignedBuffer(p_.slab_size, bs);
  if (!ReadBlock(p_.device.offset(), buf_.data(), bs, error)) return Start::kFailed;
  Superblock found;
  std::memcpy(&found, buf_.data(), sizeof(found));
  bool blank = std::all_of(buf_.data(), buf_.data() + bs, [](char c) { return c == 0; });
  if (format || blank) {
    const bool ok = p_.durable.Format(blank ? "blank, formatted" : "formatted (--format)", error);
    return ok ? Start::kFormatted : Start::kFailed;
  }
  uint32_t crc = found.crc;
  found.crc = 0;
  bool valid = found.magic == kSuperMagic && util::Crc32c(&found, sizeof(found)) == crc;
  found.crc = crc;
  if (!valid) {
    error = "device " + p_.device.path() +
            " holds no valid ssdcache superblock (another format, or corrupt); start with "
            "--format to wipe it";
    return Start::kFailed;
  }
  if (std::string mismatch = Mismatch(found); !mismatch.empty()) {
    error = "device " + p_.device.path() + " was formatted with " + mismatch +
            ", which does not match the flags; start with the same flags, or with --format to "
            "wipe it";
    return Start::kFailed;
  }
  // A process-mode journal lives in the page cache until written back: if the machine went down
  // (another boot) before the last run shut down cleanly, entries may be missing and old values
  // could come back. Misses are allowed, stale values are not: start empty. An unknown boot id
  // (either side 0) counts as another boot.
  if (static_cast<JournalSync>(found.journal_sync) == JournalSync::kProcess && found.clean == 0 &&
      (found.boot_id == 0 || p_.options.boot_id == 0 || found.boot_id != p_.options.boot_id)) {
    spdlog::warn(
        "device {}: unclean shutdown across a reboot with --journal-sync process: journal entries "
        "may be lost; starting empty",
        p_.device.path());
    const bool ok = p_.durable.Format("formatted (unclean shutdown across a reboot)", error);
    return ok ? Start::kFormatted : Start::kFailed;
  }
  // No earlier run handed out a wseq at or above its ceiling: this run starts there (whatever
  // the journal says: an entry above it is corrupt) and reserves the next window before serving.
  p_.durable.Restore(found);
  // Before serving: a crash from here on is judged by this run's boot and journal mode.
  return p_.durable.WriteSuperblockNow(error) ? Start::kWarm : Start::kFailed;
}

std::string Recovery::Mismatch(const Superblock& found) const {
  Superblock expect;
  p_.durable.Fill(expect);
  if (found.version != kFormatVersion) return "format version " + std::to_string(found.version);
  if (found.chunk_block != expect.chunk_block)
    return "chunks laid out for " + std::to_string(found.chunk_block) + "-byte blocks";
  if (found.slab_size != expect.slab_size)
    return "-I/--slab-size " + std::to_string(found.slab_size) + " bytes";
  if (found.device_size != expect.device_size)
    return "a slice of " + std::to_string(found.device_size) + " bytes (--device-size, -s)";
  if (found.classes != expect.classes || found.classes_crc != expect.classes_crc)
    return "another slab class table (-n, -f, -z)";
  if (found.instance != expect.instance || found.instances != expect.instances)
    return "-s " + std::to_string(found.instance) + "/" + std::to_string(found.instances);
  if (found.journal_blocks != expect.journal_blocks)
    return "--journal-size " + std::to_string(uint64_t{found.journal_blocks} * 4) + "K";
  if (found.snapshot_blocks != expect.snapshot_blocks)
    return "--snapshot-size " + std::to_string(uint64_t{found.snapshot_blocks} * 4) +
           "K (which auto keeps)";
  if (found.small_sets != expect.small_sets)
    return std::to_string(found.small_sets) + " small-object sets (--small-max, --small-share)";
  return {};
}

bool Recovery::LoadJournal(std::string& error) {
  Journal* journal = p_.journal;
  if (journal && !journal->Load(p_.durable.epoch(), journal_, error)) return false;
  const uint64_t ceiling = p_.durable.next_wseq();
  std::erase_if(journal_, [&](const JournalEntry& e) {
    const bool corrupt = e.wseq >= ceiling;
    stats_.journal_rejected += corrupt ? 1 : 0;
    return corrupt;
  });
  if (stats_.journal_rejected > 0) {
    spdlog::warn("device {}: {} journal entries above the write sequence ceiling ignored (corrupt)",
                 p_.device.path(), stats_.journal_rejected);
  }
  stats_.journal_entries = journal_.size();
  stats_.bytes_scanned += uint64_t{journal ? journal->blocks() : 0} * kJournalBlockSize;
  std::sort(journal_.begin(), journal_.end(), [](const JournalEntry& a, const JournalEntry& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.wseq > b.wseq;
  });
  journal_.erase(
      std::unique(journal_.begin(), journal_.end(),
                  [](const JournalEntry& a, const JournalEntry& b) { return a.hash == b.hash; }),
      journal_.end());
  // The directory: 2^bits slots for about as many entries (bits >= 1: a shift by 64 is undefined).
  const unsigned bits = std::max(1u, static_cast<unsigned>(std::bit_width(journal_.size())));
  journal_shift_ = 64 - bits;
  journal_dir_.assign((size_t{1} << bits) + 1, 0);
  size_t at = 0;
  for (size_t slot = 0; slot < journal_dir_.size(); ++slot) {
    while (at < journal_.size() && JournalSlot(journal_[at].hash) < slot) ++at;
    journal_dir_[slot] = static_cast<uint32_t>(at);
  }
  journal_filter_.assign(std::max<size_t>(1, (size_t{1} << (bits + kFilterBits)) / 64), 0);
  for (const JournalEntry& e : journal_) {
    const uint64_t bit = e.hash >> (journal_shift_ - kFilterBits);
    journal_filter_[bit >> 6] |= uint64_t{1} << (bit & 63);
  }
  return true;
}

std::optional<RecoveryResult> Recovery::LoadSnapshot() {
  std::optional<SnapshotLoaded> s = Snapshot::Load(p_, snapshot_why_);
  if (!s) {
    spdlog::info("warm restart: no snapshot ({}): scanning the device", snapshot_why_);
    return std::nullopt;
  }
  stats_.snapshot = true;
  stats_.slabs = s->slabs;
  stats_.items = s->items;
  stats_.skipped = s->expired;
  stats_.index_full = s->index_full;
  stats_.tag_collisions = s->tag_collisions;
  stats_.bytes_scanned += s->bytes;
  stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  spdlog::info(
      "warm restart: {} items (0 tombstones, {} records skipped, 0 superseded by {} journal "
      "entries) from {} slabs; scanned {} MiB in {:.2f} s ({:.2f} GiB/s); snapshot loaded ({} "
      "unindexed), written in {:.3f} s at the last stop",
      stats_.items, stats_.skipped, stats_.journal_entries, stats_.slabs,
      stats_.bytes_scanned >> 20, stats_.seconds,
      stats_.seconds > 0 ? static_cast<double>(stats_.bytes_scanned) / (1 << 30) / stats_.seconds
                         : 0.0,
      s->index_full + s->tag_collisions, s->write_seconds);
  return RecoveryResult{
      .stats = stats_, .formatted = false, .next_seal = s->next_seal, .orphans = {}};
}

uint64_t Recovery::SupersededBelow(uint64_t hash) const {
  if (!MayBeJournaled(hash)) return 0;
  const size_t slot = JournalSlot(hash);
  for (uint32_t i = journal_dir_[slot]; i < journal_dir_[slot + 1]; ++i) {
    if (journal_[i].hash == hash) return journal_[i].wseq;
  }
  return 0;
}

uint32_t Recovery::PieceLength(const SlabHeader& header, uint32_t off, uint64_t fill_id) const {
  const uint32_t slab_size = p_.slab_size;
  SlabHeader h = header;
  uint32_t hcrc = h.crc;
  h.crc = 0;
  if (h.magic != kSlabMagic || util::Crc32c(&h, sizeof(h)) != hcrc || h.version != kFormatVersion ||
      h.device_epoch != p_.durable.epoch() || h.slab_class >= p_.classes.count() ||
      h.chunk_size != p_.classes.chunk_size(h.slab_class) ||
      h.chunks_used > p_.layouts[h.slab_class].count() || h.seq == 0) {
    return 0;
  }
  if (h.fill_id != fill_id) return 0;  // left over from an earlier use of this disk slab
  const uint32_t len = p_.layouts[h.slab_class].piece_bytes(h.chunks_used);
  return off + len > slab_size ? 0 : len;
}

bool Recovery::ScanHeaders(std::string& error) {
  const uint32_t bs = p_.device.block_size();
  std::vector<ScanReader::Range> heads(p_.table.disk_count());
  for (uint32_t disk = 0; disk < heads.size(); ++disk) heads[disk] = {DiskOffset(disk), bs};
  ScanReader reader(p_.io, kScanDepth, bs, bs);
  reader.set_idle([this] { return PopulateIndex(); });
  reader.Start(heads);
  for (uint32_t disk = 0; disk < p_.table.disk_count(); ++disk) {
    reader.Next(view_);  // the disk slab's first block
    // The pieces of a disk slab follow each other: each header gives the next one's offset.
    uint32_t off = 0;
    uint64_t fill_id = 0;
    size_t count = 0;
    while (off + bs <= p_.slab_size && count < p_.table.max_pieces()) {
      if (off > 0 && !view_.Covers(DiskOffset(disk) + off, bs)) ReadRest(reader, disk, off);
      const char* block = Fetch(DiskOffset(disk) + off, bs, error);
      if (block == nullptr) return false;
      stats_.bytes_scanned += bs;
      SlabHeader h;
      std::memcpy(&h, block, sizeof(h));
      if (off == 0) fill_id = h.fill_id;
      const uint32_t len = PieceLength(h, off, fill_id);
      if (len == 0) break;
      pieces_.push_back({h.seq, h.seal, disk, off, len, h.chunks_used, h.slab_class});
      off += len;
      ++count;
    }
    if (off + bs <= p_.slab_size && count < p_.table.max_pieces()) {
      if (!view_.Covers(DiskOffset(disk) + off, p_.slab_size - off)) ReadRest(reader, disk, off);
      if (!ScanGap(disk, off, count == 0 ? 0 : fill_id, count, error)) return false;
    }
  }
  view_ = {};  // the reader's buffers go with it
  stats_.wait_seconds += reader.stats().blocked_seconds;
  stats_.idle_seconds += reader.stats().idle_seconds;
  // In seal order, the order they are evicted in.
  std::sort(pieces_.begin(), pieces_.end(),
            [](const Piece& a, const Piece& b) { return a.seal < b.seal; });
  return true;
}

void Recovery::ReadRest(ScanReader& reader, uint32_t disk, uint32_t off) {
  // A chain that goes on (partly filled slabs packed together) or breaks: the rest of the disk
  // slab in one read rather than a block per header. A failed read leaves view_ empty.
  const uint64_t at = DiskOffset(disk) + off;
  const uint32_t len = p_.slab_size - off;
  view_ = {.data = buf_.data(), .offset = at, .len = len, .result = 0};
  view_.result = reader.ReadNow(buf_.data(), len, at);
}

const char* Recovery::Fetch(uint64_t offset, uint32_t len, std::string& error) {
  if (view_.Covers(offset, len)) return view_.data + (offset - view_.offset);
  if (view_.data == buf_.data()) view_ = {};  // overwritten below
  return ReadBlock(offset, buf_.data(), len, error) ? buf_.data() : nullptr;
}

bool Recovery::ScanGap(uint32_t disk, uint32_t off, uint64_t fill_id, size_t count,
                       std::string& error) {
  // The chain broke at `off`: the rest of the disk slab is unused, or a write placed there failed
  // (torn, short, or never landed) while later pieces behind it were written fine. Those pieces
  // hold the only copy of their records, often newer versions of records elsewhere, so they must
  // be found: every block-aligned header of the rest is a candidate. Only pieces of the disk
  // slab's current use count (its fill id; when its first piece is the broken one, the largest
  // fill id found, since a use's fill id is the seq of its first slab and seqs only grow). A
  // piece left from an earlier use that slips through is harmless: the disk slab was reused only
  // once the durable frontier passed it, so RebuildPiece skips it.
  const uint32_t bs = p_.device.block_size();
  const uint32_t len = p_.slab_size - off;
  const char* rest = Fetch(DiskOffset(disk) + off, len, error);
  if (rest == nullptr) return false;
  stats_.bytes_scanned += len;
  auto header_at = [&](uint32_t at) {
    SlabHeader h;
    std::memcpy(&h, rest + (at - off), sizeof(h));
    return h;
  };
  if (fill_id == 0) {
    for (uint32_t at = off; at + bs <= p_.slab_size; at += bs) {
      const SlabHeader h = header_at(at);
      if (h.fill_id > fill_id && PieceLength(h, at, h.fill_id) != 0) fill_id = h.fill_id;
    }
  }
  for (uint32_t at = off; at + bs <= p_.slab_size && count < p_.table.max_pieces();) {
    const SlabHeader h = header_at(at);
    const uint32_t piece = fill_id == 0 ? 0 : PieceLength(h, at, fill_id);
    if (piece == 0) {
      at += bs;
      continue;
    }
    pieces_.push_back({h.seq, h.seal, disk, at, piece, h.chunks_used, h.slab_class});
    ++stats_.pieces_past_gap;
    at += piece;  // a header inside a piece's records is data, never a piece
    ++count;
  }
  return true;
}

bool Recovery::RebuildPiece(size_t k, ScanReader& reader, std::string& error) {
  const Piece& p = pieces_[k];
  // Void: flush_all came after it, or evicted, though its disk slab still holds it (a newer
  // version of one of its keys may have been evicted and overwritten after it).
  if (Void(p)) return true;
  // Its read is the reader's next one, or the one it returned last.
  while (extents_read_ <= extent_of_[k] && reader.Next(view_)) ++extents_read_;
  const uint32_t id = p_.table.IdOf(p.seq);
  if (p_.table[id].state != SlabState::kFree) {
    spdlog::warn("slab seq {} collides with seq {} in the slab table; skipped", p.seq,
                 p_.table[id].seq);
    return true;
  }
  const char* data = Fetch(DiskOffset(p.disk) + p.off, p.len, error);
  if (data == nullptr) return false;
  stats_.bytes_scanned += p.len;
  ++stats_.slabs;
  SlabInfo entered;
  entered.seq = p.seq;
  entered.state = SlabState::kDisk;
  entered.cls = p.cls;
  entered.disk = p.disk;
  entered.disk_off = p.off;
  entered.disk_len = p.len;
  entered.used = p.used;
  entered.seal = p.seal;
  entered.placed = true;
  p_.table.EnterRecovered(id, entered);
  p_.policy.Track({id, p.seq, p.seal});
  seen_base_[id] = seen_used_;
  seen_used_ += p.used;
  // In batches, in chunk order: the index buckets and journal entries of a batch are on their way
  // into the cache while its records are verified.
  for (uint32_t c = 0; c < p.used; c += kBatch) {
    VerifyBatch(p, id, data, c, std::min(p.used, c + kBatch));
    for (const Verified& r : batch_) IndexRecord(id, r.chunk, r.hash, r.view);
  }
  return true;
}

void Recovery::VerifyBatch(const Piece& p, uint32_t id, const char* data, uint32_t from,
                           uint32_t to) {
  batch_.clear();
  SlabInfo& s = p_.table[id];
  const uint32_t cs = p_.classes.chunk_size(p.cls);
  for (uint32_t c = from; c < to; ++c) {
    ItemView v;
    const char* rec = data + p_.layouts[p.cls].offset(c);
    if (!VerifyItem(rec, cs, static_cast<uint32_t>(p.seq), v)) {
      ++stats_.skipped;  // torn or never written
      continue;
    }
    if (s.opened_at == 0 || v.stored_at < s.opened_at) s.opened_at = v.stored_at;
    const uint64_t hash = util::HashKey(v.key);
    p_.index.Prefetch(hash);
    if (MayBeJournaled(hash)) __builtin_prefetch(&journal_dir_[JournalSlot(hash)]);
    batch_.push_back({c, hash, v});
  }
  for (const Verified& r : batch_) {
    if (MayBeJournaled(r.hash))
      __builtin_prefetch(journal_.data() + journal_dir_[JournalSlot(r.hash)]);
  }
}

void Recovery::IndexRecord(uint32_t id, uint32_t c, uint64_t hash, const ItemView& v) {
  max_wseq_ = std::max(max_wseq_, std::max(v.wseq, v.cas));
  SeenAt(id, c) = Seen{v.wseq, hash};
  if (!journal_.empty() && v.wseq < SupersededBelow(hash)) {
    ++stats_.superseded;
    if (orphans_.empty() || orphans_.back().first != hash) orphans_.emplace_back(hash, v.key);
    return;
  }
  // Never evict while rebuilding: the dropped entry could be this scan's newest record of its
  // key, and an older record of that key met later would then be indexed in its place. A
  // record that finds no room, or whose tag and bucket pair another key holds, stays
  // unindexed instead (a miss, counted; its slab is marked so that a new version of its key
  // is journaled).
  const IndexEntry here{id, c, Index::CoarseExpiry(v.exptime, p_.now)};
  std::optional<IndexEntry> cur = p_.index.Find(hash);
  if (cur && SeenAt(cur->slab, cur->chunk).wseq > v.wseq) {
    if (SeenAt(cur->slab, cur->chunk).hash == hash) return;  // a newer one was seen
    MarkUnindexed(here);  // the newer of two colliding keys keeps the entry, as when running
    ++stats_.tag_collisions;
    return;
  }
  if (cur && SeenAt(cur->slab, cur->chunk).hash != hash) {
    MarkUnindexed(*cur);  // replaced below
    ++stats_.tag_collisions;
  }
  Index::InsertOutcome out = p_.index.Upsert(hash, here, /*may_evict=*/false);
  if (out.result == Index::InsertResult::kFull) {
    MarkUnindexed(here);
    ++stats_.index_full;
    return;
  }
  if (out.result != Index::InsertResult::kInserted) DropEntry(out.old);
  ++p_.table[id].live;
  ++indexed_;
  if (v.tombstone) {
    ++stats_.tombstones;
    dead_.push_back({hash, id, c});
  } else if (v.exptime != 0 && v.exptime <= p_.now) {
    ++stats_.skipped;
    dead_.push_back({hash, id, c});
  }
}

std::vector<std::string> Recovery::TakeOrphans() {
  std::vector<std::string> keys;
  keys.reserve(orphans_.size());
  for (auto& [hash, key] : orphans_) keys.push_back(std::move(key));
  return keys;
}

bool Recovery::ReadBlock(uint64_t offset, char* buf, size_t len, std::string& error) {
  const int64_t n = p_.io.ReadSync(buf, len, offset);
  if (n != static_cast<int64_t>(len)) {
    error = "device " + p_.device.path() + ": read at " +
            std::to_string(offset + std::max<int64_t>(n, 0)) +
            " failed: " + (n < 0 ? std::strerror(static_cast<int>(-n)) : "end of device");
    return false;
  }
  return true;
}

void Recovery::DropEntry(const IndexEntry& e) {
  SlabInfo& s = p_.table[e.slab];
  if (s.state == SlabState::kFree) return;
  if (s.live > 0) --s.live;
  if (indexed_ > 0) --indexed_;
}

bool Recovery::PopulateIndex() {
  // A huge page at a time (the index asks for them): short enough not to leave the device idle.
  if (populated_ >= p_.index.bytes()) return false;
  populated_ = p_.index.Populate(populated_, util::HugeBuffer::kHugePage);
  return true;
}

void Recovery::LogProgress(size_t done) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_log_ <= std::chrono::seconds(1)) return;
  last_log_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  spdlog::info("warm restart: {}% of {} slabs, {} items, {:.0f} MiB/s", done * 100 / pieces_.size(),
               pieces_.size(), indexed_,
               static_cast<double>(stats_.bytes_scanned) / (1 << 20) / secs);
}

void Recovery::DropDead() {
  // Orphans: superseded keys without any newer record on the device. Decided before the dead
  // entries go, so that a key whose newest record is a tombstone (or expired) is not one: it needs
  // no second tombstone at every restart while its journal entry stays readable in the ring.
  std::sort(orphans_.begin(), orphans_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  orphans_.erase(std::unique(orphans_.begin(), orphans_.end(),
                             [](const auto& a, const auto& b) { return a.first == b.first; }),
                 orphans_.end());
  std::erase_if(orphans_, [this](const auto& o) { return p_.index.Find(o.first).has_value(); });
  for (const Dead& d : dead_) {
    std::optional<IndexEntry> cur = p_.index.Find(d.hash);
    if (cur && cur->slab == d.slab && cur->chunk == d.chunk) {
      DropEntry(*cur);
      p_.index.EraseIf(d.hash, d.slab, d.chunk);
    }
  }
  stats_.items = indexed_;
}

bool Recovery::Finish(std::string& error) {
  // Disk slabs holding a live slab are in use and closed (the policy tracks their slabs); the
  // others are free.
  p_.table.Recovered();
  p_.table.set_next_seq(max_seq_ + 1);
  // A record (CRC-checked) above the ceiling: not written by a run that kept the ceiling, but
  // ours to stay above.
  if (!p_.durable.RaiseWseqAbove(max_wseq_, error)) return false;
  stats_.journal_tombstones = orphans_.size();  // the engine writes them (Engine::Recover)
  stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  stats_.cpu_seconds = ThreadCpuSeconds() - cpu_start_;
  spdlog::info(
      "warm restart: {} items ({} tombstones, {} records skipped, {} superseded by {} journal "
      "entries) from {} slabs; scanned {} MiB in {:.2f} s ({:.2f} GiB/s; cpu {:.2f} s, {:.2f} s "
      "of it backing the index while reads were out; waited {:.2f} s for the device); no "
      "snapshot: {}",
      stats_.items, stats_.tombstones, stats_.skipped, stats_.superseded, stats_.journal_entries,
      stats_.slabs, stats_.bytes_scanned >> 20, stats_.seconds,
      stats_.seconds > 0 ? static_cast<double>(stats_.bytes_scanned) / (1 << 30) / stats_.seconds
                         : 0.0,
      stats_.cpu_seconds, stats_.idle_seconds, stats_.wait_seconds, snapshot_why_);
  if (stats_.pieces_past_gap > 0) {
    spdlog::warn("warm restart: {} slab pieces found behind a failed write (pieces_past_gap)",
                 stats_.pieces_past_gap);
  }
  return true;
}

}  // namespace ssdcache::storage
