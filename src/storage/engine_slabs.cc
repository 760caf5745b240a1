// Engine, part two: the memory slab lifecycle. Opening a slab of a class in a memory buffer,
// sealing it, placing it on a disk slab (evicting in the policy's order to free one), writing it,
// what a completed write (or any other completion) does, the per-class view of the slabs
// (`stats slabs` / `stats items`), and the clean stop (the last writes, the snapshot). The request
// paths are in engine.cc.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "storage/engine.h"
#include "storage/snapshot.h"
#include "util/hash.h"

namespace ssdcache::storage {

namespace {
// Marks a slab write's IoOp::user (the rest is the logical id); reads carry their ReadOp there.
constexpr uint64_t kWriteTag = 1ULL << 63;
}  // namespace

int64_t Engine::OpenSlabFor(uint8_t cls) {
  if (open_[cls] >= 0) {
    SlabInfo& s = table_[open_[cls]];
    if (s.used < layouts_[cls].count()) return open_[cls];
    Seal(static_cast<uint32_t>(open_[cls]));
  }
  if (!HasBuffer()) {
    if (flushing_ == 0) {
      // Every buffer is an open, partly filled slab of some class: write out the fullest one so
      // that its buffer comes back.
      int64_t best = -1;
      for (int64_t id : open_) {
        if (id >= 0 && (best < 0 || table_[id].used > table_[best].used)) best = id;
      }
      if (best >= 0) Seal(static_cast<uint32_t>(best));
    }
    if (!HasBuffer()) {
      ++stats_.memory_waits;
      return -1;
    }
  }
  uint32_t id;
  if (!AllocateSlabId(id)) return -1;
  StartSlab(id, cls, /*probation=*/false);
  open_[cls] = id;
  return id;
}

void Engine::StartSlab(uint32_t id, uint8_t cls, bool probation) {
  SlabInfo& s = table_[id];
  s.state = SlabState::kMemory;
  s.cls = cls;
  s.mem = TakeBuffer();
  s.used = 0;
  s.live = 0;
  s.voided = 0;
  s.hits = 0;
  s.opened_at = now_;
  s.probation = probation;
}

uint32_t Engine::TakeBuffer() {
  const MemoryBuffers::Taken t = buffers_.Take();
  if (t.cached_seq != 0) {
    SlabInfo& s = table_[table_.IdOf(t.cached_seq)];
    if (s.seq == t.cached_seq && s.cached) {
      s.cached = false;
      --cached_;
    }
  }
  return t.mem;
}

bool Engine::AllocateSlabId(uint32_t& id) {
  SweepSome(sweep_per_alloc_);
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (table_.TakeId(SweepPasses(), id)) return true;
    // Every free id died too recently: finish sweeping so their stale entries are gone.
    SweepSome(index_->num_buckets());
  }
  spdlog::error("no free logical slab id (slab table of {} entries)", table_.size());
  return false;
}

void Engine::SweepSome(size_t buckets) {
  index_->Sweep(buckets);
  swept_buckets_ += buckets;
}

void Engine::EvictUntilADiskSlabFrees() {
  while (!table_.AnyDiskFreeOrFreeing() && EvictOldest()) {
  }
}

bool Engine::TakeDiskSlab(uint32_t& disk) {
  // A freed disk slab may still have to wait for the frontier: then there is none yet.
  EvictUntilADiskSlabFrees();
  if (!table_.TakeDisk(disk)) return false;
  // Keep the next disk slab freed ahead of need, so that the superblock write that makes it
  // reusable is done before a slab waits for it.
  EvictUntilADiskSlabFrees();
  return true;
}

bool Engine::EvictOldest() {
  while (const std::optional<SlabRef> c = policy_->Candidate()) {
    SlabInfo& s = table_[c->id];
    if (s.seq != c->seq || s.state == SlabState::kFree) {
      // Died otherwise (a failed write): everything sealed up to it is gone now, so the frontier
      // moves past it as past an eviction. Otherwise a failed write at the head of the order
      // would hold the frontier, and with it every freed disk slab, back for good.
      AdvanceFrontier(policy_->Skip());
      continue;
    }
    // Strictly in the policy's order: a younger slab is never evicted while an older one stays,
    // even if the older one is still being written.
    if (s.state != SlabState::kDisk) return false;
    if (options_.disable_evictions && s.live > 0) return false;  // -M: never drop live items
    // Its reinsertion read still in flight: nothing waits for it, its items are dropped.
    if (reinsert_.Late(s.seq)) ++stats_.reinsert_late;
    AdvanceFrontier(policy_->Evicted());
    const uint32_t disk = s.disk;
    KillSlab(s, /*evicted=*/true);
    DiskSlab& d = table_.disk(disk);
    if (d.live_pieces > 0) --d.live_pieces;
    if (d.closed && d.pending == 0) FinishDiskSlab(disk);
    PumpReinsertion();  // the next victim's read gets a slab fill's time to land
    return true;
  }
  return false;
}

void Engine::AdvanceFrontier(uint64_t frontier) {
  if (frontier <= durable_.frontier()) return;
  durable_.set_frontier(frontier);
  // On the device, so that new versions of its keys need no journal entry and the disk slabs it
  // frees can be reused.
  durable_.WriteSuperblock();
}

bool Engine::WouldNeedEviction() {
  size_t unplaced = awaiting_disk_.size();
  for (int64_t id : open_) unplaced += id >= 0 ? 1 : 0;
  while (unplaced + 1 > table_.disks_free()) {
    if (!EvictOldest()) return true;  // under -M it evicts only slabs without live items
  }
  return false;
}

bool Engine::PlaceOnDisk(uint32_t id, uint32_t len, uint32_t& disk, uint32_t& off) {
  if (table_.Packs(len)) {
    disk = static_cast<uint32_t>(table_.packing());
  } else {
    if (!TakeDiskSlab(disk)) return false;
    const int64_t previous = table_.StartFill(disk, table_[id].seq, len);
    if (previous >= 0) CloseDiskSlab(static_cast<uint32_t>(previous));
  }
  off = table_.AddPiece(disk, id, len);
  return true;
}

void Engine::CloseDiskSlab(uint32_t disk) {
  if (table_.Close(disk)) FinishDiskSlab(disk);
}

void Engine::FinishDiskSlab(uint32_t disk) {
  if (table_.Finish(disk, durable_.frontier()) != SlabTable::Finished::kFreeing) return;
  ++stats_.slab_evictions;
  ReleaseDisks();
}

void Engine::ReleaseDisks() {
  if (table_.Release(durable_.durable_frontier())) durable_.WriteSuperblock();
}

void Engine::KillSlab(SlabInfo& s, bool evicted) {
  if (s.cached) {  // its buffer stays on the clean list, now as a plain free buffer
    s.cached = false;
    --cached_;
  }
  if (evicted && s.live > 0) {
    stats_.evictions += s.live;
    class_counters_[s.cls].evicted += s.live;
    class_counters_[s.cls].evicted_time = now_ - std::min(now_, s.opened_at);
  }
  gauges_.curr_items -= std::min<uint64_t>(gauges_.curr_items, s.live);
  uint64_t held = uint64_t{s.live} * classes_.chunk_size(s.cls);
  gauges_.bytes -= std::min(gauges_.bytes, held);
  s.live = 0;
  if (s.unindexed) {
    s.unindexed = false;
    --unindexed_slabs_;
  }
  s.state = SlabState::kFree;
  s.freed_pass = SweepPasses();
}

void Engine::Seal(uint32_t id) {
  SlabInfo& s = table_[id];
  if (open_[s.cls] == static_cast<int64_t>(id)) open_[s.cls] = -1;
  s.state = SlabState::kFlushing;
  s.placed = false;
  s.seal = next_seal_++;
  ++flushing_;
  policy_->Track({id, s.seq, s.seal});
  // Slabs are placed in seal order, so the oldest sealed slab is always placed first and the
  // eviction that frees a disk slab can never wait on a slab that waits for one.
  if (awaiting_disk_.empty() && StartWrite(id)) return;
  awaiting_disk_.push_back(id);
  PlaceAwaiting();
}

void Engine::PlaceAwaiting() {
  // Disk slabs outnumber memory slabs (checked in Create) and are never retired, so a slab that
  // waits here gets one once the frontier past the oldest slabs is durable.
  while (!awaiting_disk_.empty()) {
    const uint32_t id = awaiting_disk_.front();
    const SlabInfo& s = table_[id];
    if (s.state == SlabState::kFlushing && !s.placed && !StartWrite(id)) return;
    awaiting_disk_.pop_front();
  }
}

bool Engine::StartWrite(uint32_t id) {
  SlabInfo& s = table_[id];
  const uint32_t len = layouts_[s.cls].piece_bytes(s.used);
  uint32_t disk, off;
  if (!PlaceOnDisk(id, len, disk, off)) return false;
  s.placed = true;
  s.disk = disk;
  s.disk_off = off;
  s.disk_len = len;
  SlabHeader h{};
  h.magic = kSlabMagic;
  h.version = kFormatVersion;
  h.slab_class = s.cls;
  h.seq = s.seq;
  h.chunk_size = classes_.chunk_size(s.cls);
  h.chunks_used = s.used;
  h.device_epoch = durable_.epoch();
  h.fill_id = table_.disk(disk).fill_id;
  h.seal = s.seal;
  h.crc = util::Crc32c(&h, sizeof(h));
  std::memcpy(MemSlab(s.mem), &h, sizeof(h));
  IoOp& op = write_ops_[s.mem];
  op = IoOp{};
  op.handler = this;
  op.buf = MemSlab(s.mem);
  op.len = len;
  op.offset = DiskOffset(disk) + off;
  op.write = true;
  op.user = kWriteTag | id;
  write_start_ns_[s.mem] = util::NowNs();
  aio_.Write(op);
  return true;
}

std::vector<ClassStats> Engine::class_stats() const {
  std::vector<ClassStats> out(classes_.count());
  for (size_t c = 0; c < out.size(); ++c) {
    out[c].chunk_size = classes_.chunk_size(c);
    out[c].chunks_per_slab = layouts_[c].count();
    out[c].counters = class_counters_[c];
    if (open_[c] >= 0 && table_[open_[c]].state == SlabState::kMemory) {
      out[c].open_chunks_free = layouts_[c].count() - table_[open_[c]].used;
    }
  }
  auto older = [](uint32_t& oldest, uint32_t t) {
    if (oldest == 0 || t < oldest) oldest = t;
  };
  for (const SlabInfo& s : table_) {
    if (s.state == SlabState::kFree) continue;
    ClassStats& cs = out[s.cls];
    const bool on_device = s.state == SlabState::kDisk;
    ++(on_device ? cs.disk_slabs : cs.memory_slabs);
    cs.items += s.live;
    if (s.live == 0) continue;
    older(cs.oldest_opened, s.opened_at);
    if (on_device) continue;
    cs.memory_items += s.live;
    older(cs.oldest_memory_opened, s.opened_at);
  }
  return out;
}

void Engine::OnIoComplete(IoOp& op, int64_t result) {
  if (durable_.IsSuperblockOp(op)) {
    if (!durable_.SuperblockWritten(result)) {
      ++stats_.write_errors;
      return;
    }
    ReleaseDisks();
    PlaceAwaiting();
    return;
  }
  if ((op.user & kWriteTag) == 0) {
    CompleteRead(reinterpret_cast<ReadOp*>(op.user), result);
    return;
  }
  uint32_t id = static_cast<uint32_t>(op.user & ~kWriteTag);
  SlabInfo& s = table_[id];
  --flushing_;
  const uint64_t written_seq = s.seq;
  write_latency_.Record(util::NowNs() - write_start_ns_[s.mem]);
  DiskSlab& d = table_.disk(s.disk);
  --d.pending;
  const bool written_ok = result == static_cast<int64_t>(op.len);
  if (written_ok) {
    ++stats_.slab_writes;
    d.written = true;
    s.state = SlabState::kDisk;
    s.cached = true;
    ++cached_;
    buffers_.KeepClean(s.mem, s.seq);
  } else {
    buffers_.Free(s.mem);
    // The items it was meant to hold are gone (counted as evictions). The disk slab takes no
    // more pieces, and is reused like any other once its other slabs are gone: retiring it for
    // good would, after enough failures, leave no disk slab to write to.
    ++stats_.write_errors;
    spdlog::error("write of slab {} to disk slab {} failed ({}); {} items dropped", s.seq, s.disk,
                  result, s.live);
    // The write may still have reached the device in part, and a warm restart would then find
    // records older than the tombstones lost with it: write those tombstones again, with their
    // own wseq. (The buffer is on the free list but untouched until DrainTombstones() below.)
    for (uint32_t c = 0; c < s.used; ++c) {
      ItemView v;
      if (!DecodeItemTrusted(ChunkInMemory(s, c), v)) continue;  // voided records fail too
      const uint64_t hash = util::HashKey(v.key);
      if (v.tombstone) {
        pending_tombstones_.push_back({std::string(v.key), v.wseq});
        JournalLost(hash, v.wseq);
        continue;
      }
      if (journal_ == nullptr) continue;
      if (!index_->FindAt(hash, id, c)) continue;
      // A live item lost with the slab: its key becomes a miss, but older versions of it may be
      // on the device, and the entry that superseded them may be in a block the running
      // checkpoint frees (it counts this write as done). A tombstone newer than the lost record
      // (its wseq reserved now, so a later set stays newer) and an entry in a fresh block keep
      // them superseded until that tombstone is on the device.
      const uint64_t wseq = TakeWseq();
      pending_tombstones_.push_back({std::string(v.key), wseq});
      JournalLost(hash, wseq);
    }
    KillSlab(s, /*evicted=*/true);
    if (d.live_pieces > 0) --d.live_pieces;
    // Closed here without CloseDiskSlab(), which would finish it too when this was its last
    // write: the line below finishes it exactly once.
    table_.Fail(s.disk);
  }
  if (d.closed && d.pending == 0) FinishDiskSlab(s.disk);
  CheckpointWriteDone(written_seq);
  // The oldest slab may have become evictable, or a disk slab free.
  PlaceAwaiting();
  // Not after a failure: the tombstones it gave back would be written at once, fail again on a
  // failing device, and so on without end inside one drain of the IO. The next request, round
  // of housekeeping or shutdown writes them.
  if (written_ok) DrainTombstones();
  PumpReinsertion();  // the next victim may have become a slab on the device
  if (memory_listener_) memory_listener_();
}

bool Engine::ShutdownFlush() {
  reinsert_.Stop();  // what it would copy now could not be written before the stop
  SealProbation();   // what probation holds is written too, and no store goes there any more
  durable_.Retry();  // each shutdown round tries a failed superblock write again
  DrainTombstones();
  for (int64_t id : open_) {
    if (id >= 0 && table_[id].used > 0) Seal(static_cast<uint32_t>(id));
  }
  return !pending_tombstones_.empty() || durable_.superblock_dirty() || !awaiting_disk_.empty() ||
         !StopSmall();
}

bool Engine::ShutdownWritten() const {
  for (int64_t id : open_) {
    if (id >= 0 && table_[id].used > 0) return false;
  }
  return pending_tombstones_.empty() && !durable_.superblock_dirty() && awaiting_disk_.empty() &&
         admit_.slabs() == 0 && (small_ == nullptr || (small_->idle() && small_erases_.empty()));
}

bool Engine::FinishShutdown(std::string& error) {
  // The snapshot must be what a scan would rebuild. Tombstones still to write (a slab write that
  // failed in the last round puts them back), an undo read out or journal entries not yet on the
  // device are the scan's orphans: a snapshot would lose them, and the first checkpoint after
  // loading it would free their journal entries. The next start scans instead (this run's
  // superblock already made every older snapshot stale).
  const char* unfinished = !pending_tombstones_.empty() ? "tombstones still to write"
                           : undo_reads_ > 0            ? "undo reads in flight"
                           : journal_ != nullptr && !journal_->idle()
                               ? "journal entries not on the device"
                               : nullptr;
  SaveSmallImage();  // the tier settled in ShutdownFlush; its image binds to this stop alone
  if (unfinished != nullptr) {
    spdlog::warn("clean stop: no snapshot ({}): the next start scans the device", unfinished);
    return durable_.FinishShutdown(error);
  }
  // The device is idle and every memory slab written: what a restart would rebuild is final.
  const SnapshotWritten snap = Snapshot::Write({.device = device_,
                                                .io = aio_,
                                                .offset = SnapshotOffset(),
                                                .bytes = options_.snapshot_size,
                                                .index = *index_,
                                                .table = table_,
                                                .access = access_,
                                                .durable = durable_,
                                                .slab_size = slab_size_,
                                                .classes = static_cast<uint32_t>(classes_.count()),
                                                .next_seal = next_seal_});
  if (snap.ok) {
    spdlog::info("clean stop: snapshot of {} items in {} slabs ({} KiB) written in {:.3f} s",
                 snap.entries, snap.slabs, snap.bytes >> 10, snap.seconds);
  } else {
    spdlog::warn("clean stop: no snapshot ({}): the next start scans the device", snap.why);
  }
  return durable_.FinishShutdown(error);
}

}  // namespace ssdcache::storage
