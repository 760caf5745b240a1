#include "storage/recovery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "storage/engine.h"
#include "util/hash.h"

namespace ssdcache::storage {

Recovery::Recovery(Engine& engine) : e_(engine) {}

std::optional<RecoveryStats> Recovery::Run(Engine& engine, bool format, std::string& error) {
  Recovery r(engine);
  r.start_ = r.last_log_ = std::chrono::steady_clock::now();
  switch (r.ReadSuperblock(format, error)) {
    case Start::kFailed:
      return std::nullopt;
    case Start::kFormatted:
      return r.stats_;
    case Start::kWarm:
      break;
  }
  if (!r.LoadJournal(error) || !r.ScanHeaders(error)) return std::nullopt;
  // Pass 2: index every record. Slabs of different classes fill at the same time, so slab order
  // says nothing about which record of a key is newer: the record's wseq decides. Tombstones and
  // expired records take part (they supersede older records) and are dropped at the end.
  r.seen_.resize(engine.table_.size());
  engine.policy_->Reset(engine.durable_.frontier());
  r.max_seq_ = engine.durable_.flush_seq();
  r.max_seal_ = engine.durable_.frontier() - 1;
  size_t done = 0;
  for (const Piece& p : r.pieces_) {
    r.max_seq_ = std::max(r.max_seq_, p.seq);
    r.max_seal_ = std::max(r.max_seal_, p.seal);
    ++done;
    if (!r.RebuildPiece(p, error)) return std::nullopt;
    r.LogProgress(done);
  }
  r.DropDead();
  if (!r.Finish(error)) return std::nullopt;
  return r.stats_;
}

Recovery::Start Recovery::ReadSuperblock(bool format, std::string& error) {
  Engine& e = e_;
  const uint32_t bs = e.device_.block_size();
  buf_ = util::AlignedBuffer(e.slab_size_, bs);
  if (!e.ReadBlock(e.device_.offset(), buf_.data(), bs, error)) return Start::kFailed;
  Superblock found;
  std::memcpy(&found, buf_.data(), sizeof(found));
  bool blank = std::all_of(buf_.data(), buf_.data() + bs, [](char c) { return c == 0; });
  if (format || blank) {
    const bool ok = e.durable_.Format(blank ? "blank, formatted" : "formatted (--format)", error);
    return ok ? Start::kFormatted : Start::kFailed;
  }
  uint32_t crc = found.crc;
  found.crc = 0;
  bool valid = found.magic == kSuperMagic && util::Crc32c(&found, sizeof(found)) == crc;
  found.crc = crc;
  if (!valid) {
    error = "device " + e.device_.path() +
            " holds no valid ssdcache superblock (another format, or corrupt); start with "
            "--format to wipe it";
    return Start::kFailed;
  }
  if (std::string mismatch = Mismatch(found); !mismatch.empty()) {
    error = "device " + e.device_.path() + " was formatted with " + mismatch +
            ", which does not match the flags; start with the same flags, or with --format to "
            "wipe it";
    return Start::kFailed;
  }
  // A process-mode journal lives in the page cache until written back: if the machine went down
  // (another boot) before the last run shut down cleanly, entries may be missing and old values
  // could come back. Misses are allowed, stale values are not: start empty. An unknown boot id
  // (either side 0) counts as another boot.
  if (static_cast<JournalSync>(found.journal_sync) == JournalSync::kProcess && found.clean == 0 &&
      (found.boot_id == 0 || e.options_.boot_id == 0 || found.boot_id != e.options_.boot_id)) {
    spdlog::warn(
        "device {}: unclean shutdown across a reboot with --journal-sync process: journal entries "
        "may be lost; starting empty",
        e.device_.path());
    const bool ok = e.durable_.Format("formatted (unclean shutdown across a reboot)", error);
    return ok ? Start::kFormatted : Start::kFailed;
  }
  // No earlier run handed out a wseq at or above its ceiling: this run starts there (whatever
  // the journal says: an entry above it is corrupt) and reserves the next window before serving.
  e.durable_.Restore(found);
  // Before serving: a crash from here on is judged by this run's boot and journal mode.
  return e.durable_.WriteSuperblockNow(error) ? Start::kWarm : Start::kFailed;
}

std::string Recovery::Mismatch(const Superblock& found) const {
  Superblock expect;
  e_.durable_.Fill(expect);
  if (found.version != kFormatVersion) return "format version " + std::to_string(found.version);
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
  return {};
}

bool Recovery::LoadJournal(std::string& error) {
  Journal* journal = e_.journal_.get();
  if (journal && !journal->Load(e_.durable_.epoch(), journal_, error)) return false;
  const uint64_t ceiling = e_.durable_.next_wseq();
  std::erase_if(journal_, [&](const JournalEntry& e) {
    const bool corrupt = e.wseq >= ceiling;
    stats_.journal_rejected += corrupt ? 1 : 0;
    return corrupt;
  });
  if (stats_.journal_rejected > 0) {
    spdlog::warn("device {}: {} journal entries above the write sequence ceiling ignored (corrupt)",
                 e_.device_.path(), stats_.journal_rejected);
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
  return true;
}

uint64_t Recovery::SupersededBelow(uint64_t hash) const {
  auto it = std::lower_bound(journal_.begin(), journal_.end(), hash,
                             [](const JournalEntry& e, uint64_t h) { return e.hash < h; });
  return it != journal_.end() && it->hash == hash ? it->wseq : 0;
}

uint32_t Recovery::PieceLength(const SlabHeader& header, uint32_t off, uint64_t fill_id) const {
  const uint32_t bs = e_.device_.block_size();
  const uint32_t slab_size = e_.slab_size_;
  SlabHeader h = header;
  uint32_t hcrc = h.crc;
  h.crc = 0;
  if (h.magic != kSlabMagic || util::Crc32c(&h, sizeof(h)) != hcrc || h.version != kFormatVersion ||
      h.device_epoch != e_.durable_.epoch() || h.slab_class >= e_.classes_.count() ||
      h.chunk_size != e_.classes_.chunk_size(h.slab_class) ||
      h.chunks_used > e_.chunks_per_slab_[h.slab_class] || h.seq == 0) {
    return 0;
  }
  if (h.fill_id != fill_id) return 0;  // left over from an earlier use of this disk slab
  uint32_t len =
      h.chunks_used == e_.chunks_per_slab_[h.slab_class]
          ? slab_size
          : static_cast<uint32_t>(std::min<uint64_t>(
                slab_size,
                (kSlabHeaderSize + uint64_t{h.chunks_used} * h.chunk_size + bs - 1) / bs * bs));
  return off + len > slab_size ? 0 : len;
}

bool Recovery::ScanHeaders(std::string& error) {
  const uint32_t bs = e_.device_.block_size();
  for (uint32_t disk = 0; disk < e_.table_.disk_count(); ++disk) {
    // The pieces of a disk slab follow each other: each header gives the next one's offset.
    uint32_t off = 0;
    uint64_t fill_id = 0;
    size_t count = 0;
    while (off + bs <= e_.slab_size_ && count < e_.table_.max_pieces()) {
      if (!e_.ReadBlock(e_.DiskOffset(disk) + off, buf_.data(), bs, error)) return false;
      stats_.bytes_scanned += bs;
      SlabHeader h;
      std::memcpy(&h, buf_.data(), sizeof(h));
      if (off == 0) fill_id = h.fill_id;
      const uint32_t len = PieceLength(h, off, fill_id);
      if (len == 0) break;
      pieces_.push_back({h.seq, h.seal, disk, off, len, h.chunks_used, h.slab_class});
      off += len;
      ++count;
    }
    if (off + bs <= e_.slab_size_ && count < e_.table_.max_pieces() &&
        !ScanGap(disk, off, count == 0 ? 0 : fill_id, count, error)) {
      return false;
    }
  }
  // In seal order, the order they are evicted in.
  std::sort(pieces_.begin(), pieces_.end(),
            [](const Piece& a, const Piece& b) { return a.seal < b.seal; });
  return true;
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
  const uint32_t bs = e_.device_.block_size();
  const uint32_t len = e_.slab_size_ - off;
  if (!e_.ReadBlock(e_.DiskOffset(disk) + off, buf_.data(), len, error)) return false;
  stats_.bytes_scanned += len;
  auto header_at = [&](uint32_t at) {
    SlabHeader h;
    std::memcpy(&h, buf_.data() + (at - off), sizeof(h));
    return h;
  };
  if (fill_id == 0) {
    for (uint32_t at = off; at + bs <= e_.slab_size_; at += bs) {
      const SlabHeader h = header_at(at);
      if (h.fill_id > fill_id && PieceLength(h, at, h.fill_id) != 0) fill_id = h.fill_id;
    }
  }
  for (uint32_t at = off; at + bs <= e_.slab_size_ && count < e_.table_.max_pieces();) {
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

bool Recovery::RebuildPiece(const Piece& p, std::string& error) {
  Engine& e = e_;
  if (p.seq < e.durable_.flush_seq()) return true;  // flush_all came after it
  // Evicted, though its disk slab still holds it: a newer version of one of its keys may have
  // been evicted and overwritten after it.
  if (p.seal < e.durable_.frontier()) return true;
  const uint32_t id = e.table_.IdOf(p.seq);
  if (e.table_[id].state != SlabState::kFree) {
    spdlog::warn("slab seq {} collides with seq {} in the slab table; skipped", p.seq,
                 e.table_[id].seq);
    return true;
  }
  if (!e.ReadBlock(e.DiskOffset(p.disk) + p.off, buf_.data(), p.len, error)) return false;
  stats_.bytes_scanned += p.len;
  ++stats_.slabs;
  SlabInfo& s = e.table_[id];
  s.seq = p.seq;
  s.state = SlabState::kDisk;
  s.cls = p.cls;
  s.disk = p.disk;
  s.disk_off = p.off;
  s.disk_len = p.len;
  s.used = p.used;
  s.live = 0;
  s.opened_at = 0;
  s.seal = p.seal;
  s.placed = true;
  e.policy_->Track({id, p.seq, p.seal});
  DiskSlab& d = e.table_.disk(p.disk);
  if (d.pieces.empty()) d.fill_id = p.seq;
  d.pieces.push_back(id);
  ++d.live_pieces;
  d.fill = std::max(d.fill, p.off + p.len);
  seen_[id].assign(p.used, Seen{0, 0});
  const uint32_t cs = e.classes_.chunk_size(p.cls);
  for (uint32_t c = 0; c < p.used; ++c) {
    ItemView v;
    const char* rec = buf_.data() + ChunkOffset(cs, c);
    if (!VerifyItem(rec, cs, static_cast<uint32_t>(p.seq), v)) {
      ++stats_.skipped;  // torn or never written
      continue;
    }
    if (s.opened_at == 0 || v.stored_at < s.opened_at) s.opened_at = v.stored_at;
    IndexRecord(id, c, v);
  }
  return true;
}

void Recovery::IndexRecord(uint32_t id, uint32_t c, const ItemView& v) {
  Engine& e = e_;
  max_wseq_ = std::max(max_wseq_, std::max(v.wseq, v.cas));
  uint64_t hash = util::HashKey(v.key);
  seen_[id][c] = Seen{v.wseq, hash};
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
  const IndexEntry here{id, c, Index::CoarseExpiry(v.exptime, e.now_)};
  std::optional<IndexEntry> cur = e.index_->Find(hash);
  if (cur && seen_[cur->slab][cur->chunk].wseq > v.wseq) {
    if (seen_[cur->slab][cur->chunk].hash == hash) return;  // a newer one was seen
    e.MarkUnindexed(here);  // the newer of two colliding keys keeps the entry, as when running
    ++e.stats_.tag_collisions;
    ++e.stats_.evictions;
    return;
  }
  if (cur && seen_[cur->slab][cur->chunk].hash != hash) {
    e.MarkUnindexed(*cur);  // replaced below
    ++e.stats_.tag_collisions;
    ++e.stats_.evictions;
  }
  Index::InsertOutcome out = e.index_->Upsert(hash, here, /*may_evict=*/false);
  if (out.result == Index::InsertResult::kFull) {
    e.MarkUnindexed(here);
    ++e.stats_.index_evictions;
    return;
  }
  if (out.result != Index::InsertResult::kInserted) e.DropEntry(out.old);
  ++e.table_[id].live;
  ++e.stats_.curr_items;
  e.stats_.bytes += e.classes_.chunk_size(e.table_[id].cls);
  if (v.tombstone) {
    ++stats_.tombstones;
    dead_.push_back({hash, id, c});
  } else if (v.exptime != 0 && v.exptime <= e.now_) {
    ++stats_.skipped;
    dead_.push_back({hash, id, c});
  }
}

void Recovery::LogProgress(size_t done) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_log_ <= std::chrono::seconds(1)) return;
  last_log_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  spdlog::info("warm restart: {}% of {} slabs, {} items, {:.0f} MiB/s", done * 100 / pieces_.size(),
               pieces_.size(), e_.stats_.curr_items,
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
  std::erase_if(orphans_, [this](const auto& o) { return e_.index_->Find(o.first).has_value(); });
  for (const Dead& d : dead_) {
    std::optional<IndexEntry> cur = e_.index_->Find(d.hash);
    if (cur && cur->slab == d.slab && cur->chunk == d.chunk) {
      e_.DropEntry(*cur);
      e_.index_->EraseIf(d.hash, d.slab, d.chunk);
    }
  }
  stats_.items = e_.stats_.curr_items;
}

bool Recovery::Finish(std::string& error) {
  Engine& e = e_;
  // Disk slabs holding a live slab are in use and closed (the policy tracks their slabs); the
  // others are free.
  e.table_.Recovered();
  e.table_.set_next_seq(max_seq_ + 1);
  e.next_seal_ = max_seal_ + 1;
  // A record (CRC-checked) above the ceiling: not written by a run that kept the ceiling, but
  // ours to stay above.
  if (!e.durable_.RaiseWseqAbove(max_wseq_, error)) return false;
  for (const auto& [hash, key] : orphans_) {
    ++stats_.journal_tombstones;
    if (!e.TryWriteTombstone(key)) e.pending_tombstones_.push_back({key, 0});
  }
  // Until a checkpoint wrote those tombstones, every journal slot may still be needed.
  e.StartCheckpoint();
  stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  spdlog::info(
      "warm restart: {} items ({} tombstones, {} records skipped, {} superseded by {} journal "
      "entries) from {} slabs; scanned {} MiB in {:.2f} s ({:.2f} GiB/s)",
      stats_.items, stats_.tombstones, stats_.skipped, stats_.superseded, stats_.journal_entries,
      stats_.slabs, stats_.bytes_scanned >> 20, stats_.seconds,
      stats_.seconds > 0 ? static_cast<double>(stats_.bytes_scanned) / (1 << 30) / stats_.seconds
                         : 0.0);
  if (stats_.pieces_past_gap > 0) {
    spdlog::warn("warm restart: {} slab pieces found behind a failed write (pieces_past_gap)",
                 stats_.pieces_past_gap);
  }
  return true;
}

}  // namespace ssdcache::storage
